/* bus/bus_tls_test.c: tls+tcp:// with certificates made by the openssl CLI for this run. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bus/bus.h"
#include "bus/bus_testutil.h"
#include "cn_test.h"
#include "core/log.h"

/* Certificates of this run: one CA signing a server and a client
 * certificate, and an unrelated CA that must not be trusted. */
static char tls_dir[64];
static char ca[128], other_ca[128], srv_cert[128], srv_key[128], cli_cert[128], cli_key[128];

static int tls_make_certs(void)
{
	if (tls_dir[0])
		return 0;
	tu_tmpdir(tls_dir, sizeof tls_dir);
	if (!tls_dir[0])
		return -1;
	snprintf(ca, sizeof ca, "%s/ca.pem", tls_dir);
	snprintf(other_ca, sizeof other_ca, "%s/other-ca.pem", tls_dir);
	snprintf(srv_cert, sizeof srv_cert, "%s/server.pem", tls_dir);
	snprintf(srv_key, sizeof srv_key, "%s/server.key", tls_dir);
	snprintf(cli_cert, sizeof cli_cert, "%s/client.pem", tls_dir);
	snprintf(cli_key, sizeof cli_key, "%s/client.key", tls_dir);
	char cmd[4096];
	snprintf(
	        cmd, sizeof cmd,
	        "set -e; cd '%s'; "
	        "printf '[req]\\ndistinguished_name=dn\\nprompt=no\\n[dn]\\nCN=Cairn Test CA\\n"
	        "[v3_ca]\\nbasicConstraints=critical,CA:TRUE\\n"
	        "keyUsage=critical,keyCertSign,cRLSign\\nsubjectKeyIdentifier=hash\\n' > ca.cnf; "
	        "printf 'subjectAltName=DNS:localhost,DNS:127.0.0.1,IP:127.0.0.1\\n"
	        "basicConstraints=CA:FALSE\\nextendedKeyUsage=serverAuth,clientAuth\\n' > "
	        "leaf.cnf; "
	        "EC='-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes'; "
	        "openssl req -x509 -config ca.cnf -extensions v3_ca $EC -keyout ca.key -out ca.pem "
	        "-days 2; "
	        "openssl req -x509 -config ca.cnf -extensions v3_ca $EC -keyout other-ca.key "
	        "-out other-ca.pem -days 2; "
	        "for who in server client; do "
	        "openssl req -new $EC -keyout $who.key -out $who.csr -subj /CN=127.0.0.1; "
	        "openssl x509 -req -in $who.csr -CA ca.pem -CAkey ca.key -CAcreateserial "
	        "-out $who.pem -days 2 -extfile leaf.cnf; done",
	        tls_dir);
	/* Quiet unless it fails: openssl is chatty on stderr. */
	char full[4200];
	snprintf(full, sizeof full, "( %s ) > '%s/openssl.log' 2>&1", cmd, tls_dir);
	if (system(full) != 0) {
		fprintf(stderr, "openssl failed; see %s/openssl.log\n", tls_dir);
		return -1;
	}
	return 0;
}

static void tls_addr(char *out, size_t cap)
{
	snprintf(out, cap, "tls+tcp://127.0.0.1:%d", tu_free_port());
}

/* One Echo call with the given client TLS settings; returns the call's code. */
static cn_code tls_echo(const char *addr, const cn_bus_tls *tls, int64_t timeout_ms, cn_err *err)
{
	cn_bus_client *c;
	cn_code rc = cn_bus_client_open(&c, "secure", addr, tls, err);
	if (rc != CN_OK)
		return rc;
	cn_bus_reply r;
	char text[32];
	rc = tu_call(c, "Echo", "over tls", 0, timeout_ms, &r, err);
	if (rc == CN_OK) {
		CN_CHECK_EQ_INT(r.code, CN_OK);
		CN_CHECK_STR(tu_payload_text(r.payload, r.payload_len, text, sizeof text),
		             "over tls");
		cn_bus_reply_free(&r);
	}
	cn_bus_client_close(c);
	return rc;
}

CN_TEST(tls_round_trip_and_server_verification)
{
	CN_CHECK_EQ_INT(tls_make_certs(), 0);
	char addr[64];
	tls_addr(addr, sizeof addr);
	cn_err err;
	cn_bus_host *h;
	cn_bus_tls server = {.cert_file = srv_cert, .key_file = srv_key};
	CN_CHECK_EQ_INT(tu_host(&h, addr, &server, 2, &err), CN_OK);

	/* Verified against our CA, server name from the address. */
	cn_bus_tls client = {.ca_file = ca};
	CN_CHECK_EQ_INT(tls_echo(addr, &client, 10000, &err), CN_OK);
	/* Explicit server name from the certificate. */
	client.server_name = "localhost";
	CN_CHECK_EQ_INT(tls_echo(addr, &client, 10000, &err), CN_OK);
	/* No CA: encrypted but unverified, as the header documents. */
	cn_bus_tls unverified = {0};
	CN_CHECK_EQ_INT(tls_echo(addr, &unverified, 10000, &err), CN_OK);
	CN_CHECK_EQ_INT(tls_echo(addr, NULL, 10000, &err), CN_OK);

	/* A name the certificate does not carry, or a CA that did not sign it:
	 * no connection, so the call fails at its deadline. */
	client.server_name = "wrong.example";
	CN_CHECK_EQ_INT(tls_echo(addr, &client, 500, &err), CN_TEMPORARILY_UNAVAILABLE);
	cn_bus_tls stranger = {.ca_file = other_ca};
	CN_CHECK_EQ_INT(tls_echo(addr, &stranger, 500, &err), CN_TEMPORARILY_UNAVAILABLE);
	CN_CHECK(tu_has(err.msg, "not connected"));

	/* Plain TCP to a TLS port gets nowhere either. */
	char plain[64];
	snprintf(plain, sizeof plain, "tcp://%s", addr + strlen("tls+tcp://"));
	CN_CHECK_EQ_INT(tls_echo(plain, NULL, 500, &err), CN_TEMPORARILY_UNAVAILABLE);
	cn_bus_host_stop(h);
}

CN_TEST(tls_client_certificates)
{
	CN_CHECK_EQ_INT(tls_make_certs(), 0);
	char addr[64];
	tls_addr(addr, sizeof addr);
	cn_err err;
	cn_bus_host *h;
	cn_bus_tls server = {.cert_file = srv_cert, .key_file = srv_key, .ca_file = ca};
	CN_CHECK_EQ_INT(tu_host(&h, addr, &server, 2, &err), CN_OK);
	cn_bus_tls anonymous = {.ca_file = ca};
	CN_CHECK_EQ_INT(tls_echo(addr, &anonymous, 500, &err), CN_TEMPORARILY_UNAVAILABLE);
	cn_bus_tls known = {.cert_file = cli_cert, .key_file = cli_key, .ca_file = ca};
	CN_CHECK_EQ_INT(tls_echo(addr, &known, 10000, &err), CN_OK);
	cn_bus_host_stop(h);
}

CN_TEST(tls_configuration_errors)
{
	CN_CHECK_EQ_INT(tls_make_certs(), 0);
	char addr[64];
	tls_addr(addr, sizeof addr);
	cn_err err;
	cn_bus_host *h = NULL;
	CN_CHECK_EQ_INT(cn_bus_host_start(&h, addr, NULL, 1, tu_handler, NULL, &err),
	                CN_INVALID_PARAMETER_VALUE);
	CN_CHECK(tu_has(err.msg, "certificate"));
	CN_CHECK(tu_has(err.msg, addr));
	cn_bus_tls half = {.cert_file = srv_cert};
	CN_CHECK_EQ_INT(cn_bus_host_start(&h, addr, &half, 1, tu_handler, NULL, &err),
	                CN_INVALID_PARAMETER_VALUE);
	char missing[160];
	snprintf(missing, sizeof missing, "%s/missing.pem", tls_dir);
	cn_bus_tls gone = {.cert_file = missing, .key_file = srv_key};
	CN_CHECK_EQ_INT(cn_bus_host_start(&h, addr, &gone, 1, tu_handler, NULL, &err),
	                CN_INVALID_PARAMETER_VALUE);
	CN_CHECK(tu_has(err.msg, missing));
	/* A "key" file that holds a certificate. */
	cn_bus_tls not_a_key = {.cert_file = srv_cert, .key_file = ca};
	CN_CHECK_EQ_INT(cn_bus_host_start(&h, addr, &not_a_key, 1, tu_handler, NULL, &err),
	                CN_INVALID_PARAMETER_VALUE);
	CN_CHECK(tu_has(err.msg, "rejected"));
	/* Not PEM at all. */
	cn_bus_tls junk_ca = {.cert_file = srv_cert, .key_file = srv_key, .ca_file = srv_key};
	CN_CHECK_EQ_INT(cn_bus_host_start(&h, addr, &junk_ca, 1, tu_handler, NULL, &err),
	                CN_INVALID_PARAMETER_VALUE);
	CN_CHECK(h == NULL);

	cn_bus_client *c = NULL;
	cn_bus_tls client_half = {.key_file = cli_key, .ca_file = ca};
	CN_CHECK_EQ_INT(cn_bus_client_open(&c, "secure", addr, &client_half, &err),
	                CN_INVALID_PARAMETER_VALUE);
	CN_CHECK(c == NULL);

	/* TLS settings are ignored on a plain address. */
	char plain[64];
	snprintf(plain, sizeof plain, "tcp://127.0.0.1:%d", tu_free_port());
	CN_CHECK_EQ_INT(tu_host(&h, plain, &gone, 1, &err), CN_OK);
	CN_CHECK_EQ_INT(tls_echo(plain, &gone, 10000, &err), CN_OK);
	cn_bus_host_stop(h);
}

static void tls_setup(void) __attribute__((constructor));
static void tls_setup(void)
{
	const char *lvl = getenv("CN_TEST_LOG");
	cn_log_init(lvl ? cn_log_level_from_name(lvl) : CN_LOG_OFF, 0);
}

int main(void)
{
	int rc = cn_test_main();
	if (tls_dir[0])
		tu_rmtree(tls_dir);
	return rc;
}
