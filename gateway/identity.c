/*
 * gateway/identity.c: who makes a call and from where, as far as the
 * gateway can tell. The result travels in the bus envelope (caller,
 * client_addr) and is what the audit trail records.
 */
#include "gateway/gw_int.h"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

static void identity_copy(char *out, size_t cap, const char *s)
{
	size_t n = 0;
	/* Control characters would garble logs and JSON renderings: stop there. */
	for (; s && s[n] && n + 1 < cap && (unsigned char)s[n] >= 0x20 && s[n] != 0x7f; n++)
		out[n] = s[n];
	out[n] = '\0';
}

static void identity_addr(const cn_gw_request *r, char *out, size_t cap)
{
	out[0] = '\0';
	const union MHD_ConnectionInfo *ci =
	        MHD_get_connection_info(r->conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	if (!ci || !ci->client_addr)
		return;
	char ip[INET6_ADDRSTRLEN] = "";
	const struct sockaddr *sa = ci->client_addr;
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)(const void *)sa;
		inet_ntop(AF_INET, &in->sin_addr, ip, sizeof ip);
		snprintf(out, cap, "%s:%u", ip, (unsigned)ntohs(in->sin_port));
	} else if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)(const void *)sa;
		inet_ntop(AF_INET6, &in6->sin6_addr, ip, sizeof ip);
		snprintf(out, cap, "[%s]:%u", ip, (unsigned)ntohs(in6->sin6_port));
	}
}

void cn_gw_identity(const cn_gw_request *r, char *caller, size_t ccap, char *addr, size_t acap)
{
	caller[0] = '\0';
	identity_addr(r, addr, acap);
	const char *hdr = r->gw->cfg.user_header;
	const char *v = hdr[0] ? cn_gw_header(r, hdr) : NULL;
	if (v && v[0]) {
		identity_copy(caller, ccap, v);
		return;
	}
	char *user = MHD_basic_auth_get_username_password(r->conn, NULL);
	if (user) {
		identity_copy(caller, ccap, user);
		MHD_free(user);
	}
}
