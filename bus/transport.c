/*
 * bus/transport.c: dialers and listeners for every bus address, with TLS.
 *
 * Dialers and listeners are created, configured, then started (rather than
 * nng_dial/nng_listen) because a TLS configuration must be set before the
 * endpoint starts. Certificates and keys are read here, not by nng, so that
 * a missing or unreadable file is reported with its path and errno.
 */
#include "bus/bus_int.h"

#include <errno.h>
#include <nng/supplemental/tls/tls.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Reconnect back-off: a restarted service is found within ~1 s, while a
 * service that stays down costs one attempt per second per client. */
#define TRANSPORT_RECONN_MIN_MS 50
#define TRANSPORT_RECONN_MAX_MS 1000

/* PEM files are small; refuse anything absurd rather than read it whole. */
#define TRANSPORT_PEM_MAX ((long)1 << 20)

static int transport_is_tls(const char *addr)
{
	return strncmp(addr, "tls+tcp", 7) == 0;
}

cn_code cn_bus_tr_code(int rv)
{
	switch (rv) {
	case NNG_EADDRINVAL:
	case NNG_ENOTSUP:
	case NNG_EINVAL: return CN_INVALID_PARAMETER_VALUE;
	default: return CN_INTERNAL_ERROR;
	}
}

const char *cn_bus_tr_nng_addr(const char *addr)
{
	/* inproc:// is the bus's direct path (inproc.c), so nng's own inproc
	 * transport is reached under another scheme. */
	static const char nng_inproc[] = "nng+inproc://";
	if (strncmp(addr, nng_inproc, sizeof nng_inproc - 1) == 0)
		return addr + 4;
	return addr;
}

cn_code cn_bus_tr_socket_setup(nng_socket sock, cn_err *err)
{
	int rv = nng_socket_set_size(sock, NNG_OPT_RECVMAXSZ, CN_BUS_MAX_MSG);
	if (rv != 0)
		return cn_err_set(err, CN_INTERNAL_ERROR, "cannot set bus receive limit: %s",
		                  nng_strerror(rv));
	return CN_OK;
}

/* Read a whole PEM file into a NUL-terminated heap string (caller frees). */
static cn_code transport_read_pem(const char *path, const char *what, char **out, cn_err *err)
{
	*out = NULL;
	FILE *f = fopen(path, "rb");
	if (!f)
		return cn_err_set(err, CN_INVALID_PARAMETER_VALUE, "cannot open TLS %s file %s: %s",
		                  what, path, strerror(errno));
	char *p = NULL;
	long n = -1;
	if (fseek(f, 0, SEEK_END) == 0)
		n = ftell(f);
	if (n < 0 || n > TRANSPORT_PEM_MAX || fseek(f, 0, SEEK_SET) != 0) {
		fclose(f);
		return cn_err_set(err, CN_INVALID_PARAMETER_VALUE,
		                  "TLS %s file %s is unreadable or larger than %ld bytes", what,
		                  path, TRANSPORT_PEM_MAX);
	}
	p = malloc((size_t)n + 1);
	if (!p) {
		fclose(f);
		return cn_err_set(err, CN_INTERNAL_ERROR, "out of memory reading %s", path);
	}
	size_t got = fread(p, 1, (size_t)n, f);
	fclose(f);
	if (got != (size_t)n) {
		free(p);
		return cn_err_set(err, CN_INVALID_PARAMETER_VALUE, "short read of TLS %s file %s",
		                  what, path);
	}
	p[n] = '\0';
	*out = p;
	return CN_OK;
}

/* Own certificate and key (both or neither). */
static cn_code transport_own_cert(nng_tls_config *cfg, const cn_bus_tls *tls, cn_err *err)
{
	char *cert = NULL, *key = NULL;
	cn_code rc = transport_read_pem(tls->cert_file, "certificate", &cert, err);
	if (rc == CN_OK)
		rc = transport_read_pem(tls->key_file, "key", &key, err);
	if (rc == CN_OK) {
		int rv = nng_tls_config_own_cert(cfg, cert, key, NULL);
		if (rv != 0)
			rc = cn_err_set(err, CN_INVALID_PARAMETER_VALUE,
			                "TLS certificate %s with key %s rejected: %s",
			                tls->cert_file, tls->key_file, nng_strerror(rv));
	}
	free(cert);
	free(key);
	return rc;
}

static cn_code transport_ca(nng_tls_config *cfg, const char *ca_file, cn_err *err)
{
	char *ca = NULL;
	cn_code rc = transport_read_pem(ca_file, "CA", &ca, err);
	if (rc != CN_OK)
		return rc;
	int rv = nng_tls_config_ca_chain(cfg, ca, NULL);
	free(ca);
	if (rv == 0)
		rv = nng_tls_config_auth_mode(cfg, NNG_TLS_AUTH_MODE_REQUIRED);
	if (rv != 0)
		return cn_err_set(err, CN_INVALID_PARAMETER_VALUE, "TLS CA file %s rejected: %s",
		                  ca_file, nng_strerror(rv));
	return CN_OK;
}

/* Host part of "tls+tcp://host:port" or "tls+tcp://[v6]:port" into out. */
static void transport_host_of(const char *addr, char *out, size_t cap)
{
	const char *h = strstr(addr, "://");
	h = h ? h + 3 : addr;
	size_t n;
	if (*h == '[') {
		h++;
		const char *e = strchr(h, ']');
		n = e ? (size_t)(e - h) : strlen(h);
	} else {
		const char *e = strrchr(h, ':');
		n = e ? (size_t)(e - h) : strlen(h);
	}
	if (n >= cap)
		n = cap - 1;
	memcpy(out, h, n);
	out[n] = '\0';
}

static cn_code transport_tls_config(nng_tls_config **out, int server, const char *addr,
                                    const cn_bus_tls *tls, const char *what, cn_err *err)
{
	*out = NULL;
	int have_cert = tls && tls->cert_file && tls->cert_file[0];
	int have_key = tls && tls->key_file && tls->key_file[0];
	if (server && !(have_cert && have_key))
		return cn_err_set(err, CN_INVALID_PARAMETER_VALUE,
		                  "%s: address %s uses TLS but no certificate and key are "
		                  "configured (set the TLS cert and key files)",
		                  what, addr);
	if (have_cert != have_key)
		return cn_err_set(
		        err, CN_INVALID_PARAMETER_VALUE,
		        "%s: TLS needs both a certificate and a key file, got only the %s", what,
		        have_cert ? "certificate" : "key");
	nng_tls_config *cfg;
	int rv = nng_tls_config_alloc(&cfg, server ? NNG_TLS_MODE_SERVER : NNG_TLS_MODE_CLIENT);
	if (rv != 0)
		return cn_err_set(err, CN_INTERNAL_ERROR, "%s: cannot create TLS configuration: %s",
		                  what, nng_strerror(rv));
	cn_code rc = CN_OK;
	if (have_cert)
		rc = transport_own_cert(cfg, tls, err);
	if (rc == CN_OK && tls && tls->ca_file && tls->ca_file[0])
		rc = transport_ca(cfg, tls->ca_file, err);
	else if (rc == CN_OK) {
		/* No CA: the header's contract is "no verification" on both ends. */
		rv = nng_tls_config_auth_mode(cfg, NNG_TLS_AUTH_MODE_NONE);
		if (rv != 0)
			rc = cn_err_set(err, CN_INTERNAL_ERROR, "%s: TLS auth mode: %s", what,
			                nng_strerror(rv));
	}
	if (rc == CN_OK && !server) {
		char host[256];
		if (tls && tls->server_name && tls->server_name[0])
			snprintf(host, sizeof host, "%s", tls->server_name);
		else
			transport_host_of(addr, host, sizeof host);
		rv = nng_tls_config_server_name(cfg, host);
		if (rv != 0)
			rc = cn_err_set(err, CN_INTERNAL_ERROR, "%s: TLS server name %s: %s", what,
			                host, nng_strerror(rv));
	}
	if (rc != CN_OK) {
		nng_tls_config_free(cfg);
		return rc;
	}
	*out = cfg;
	return CN_OK;
}

cn_code cn_bus_tr_dial(nng_socket sock, const char *addr, const cn_bus_tls *tls, const char *what,
                       cn_err *err)
{
	nng_dialer d;
	int rv = nng_dialer_create(&d, sock, cn_bus_tr_nng_addr(addr));
	if (rv != 0)
		return cn_err_set(err, cn_bus_tr_code(rv), "%s: cannot dial %s: %s", what, addr,
		                  nng_strerror(rv));
	nng_dialer_set_ms(d, NNG_OPT_RECONNMINT, TRANSPORT_RECONN_MIN_MS);
	nng_dialer_set_ms(d, NNG_OPT_RECONNMAXT, TRANSPORT_RECONN_MAX_MS);
	if (transport_is_tls(addr)) {
		nng_tls_config *cfg;
		cn_code rc = transport_tls_config(&cfg, 0, addr, tls, what, err);
		if (rc != CN_OK) {
			nng_dialer_close(d);
			return rc;
		}
		/* The dialer takes its own hold on cfg. */
		rv = nng_dialer_set_ptr(d, NNG_OPT_TLS_CONFIG, cfg);
		nng_tls_config_free(cfg);
		if (rv != 0) {
			nng_dialer_close(d);
			return cn_err_set(err, CN_INTERNAL_ERROR, "%s: cannot use TLS for %s: %s",
			                  what, addr, nng_strerror(rv));
		}
	}
	/* NONBLOCK: a service that is not up yet is not an error; nng keeps trying. */
	rv = nng_dialer_start(d, NNG_FLAG_NONBLOCK);
	if (rv != 0) {
		nng_dialer_close(d);
		return cn_err_set(err, cn_bus_tr_code(rv), "%s: cannot dial %s: %s", what, addr,
		                  nng_strerror(rv));
	}
	return CN_OK;
}

cn_code cn_bus_tr_listen(nng_socket sock, const char *addr, const cn_bus_tls *tls, const char *what,
                         cn_err *err)
{
	nng_listener l;
	int rv = nng_listener_create(&l, sock, cn_bus_tr_nng_addr(addr));
	if (rv != 0)
		return cn_err_set(err, cn_bus_tr_code(rv), "%s: cannot listen on %s: %s", what,
		                  addr, nng_strerror(rv));
	if (transport_is_tls(addr)) {
		nng_tls_config *cfg;
		cn_code rc = transport_tls_config(&cfg, 1, addr, tls, what, err);
		if (rc != CN_OK) {
			nng_listener_close(l);
			return rc;
		}
		rv = nng_listener_set_ptr(l, NNG_OPT_TLS_CONFIG, cfg);
		nng_tls_config_free(cfg);
		if (rv != 0) {
			nng_listener_close(l);
			return cn_err_set(err, CN_INTERNAL_ERROR, "%s: cannot use TLS for %s: %s",
			                  what, addr, nng_strerror(rv));
		}
	}
	rv = nng_listener_start(l, 0);
	if (rv != 0) {
		nng_listener_close(l);
		return cn_err_set(err, cn_bus_tr_code(rv), "%s: cannot listen on %s: %s", what,
		                  addr, nng_strerror(rv));
	}
	return CN_OK;
}
