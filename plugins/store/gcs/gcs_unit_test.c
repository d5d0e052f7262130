/*
 * plugins/store/gcs/gcs_unit_test.c: the gcs plugin's signing pieces against
 * values derived independently: the JWT assertion's header and claims as
 * Google's OAuth2 service-account flow specifies them, the V4 canonical
 * request as Google's signing documentation lays it out, and both
 * signatures checked with the openssl command and the public key.
 */
#include <stdlib.h>
#include <string.h>

#include "cn_test.h"
#include "core/plugin/loader.h"
#include "gcs.h"
#include "gcs_test_env.h"

static bool gcs_unit_load_creds(const gcs_test_env *env, gcs_creds *c, const char *token_uri)
{
	memset(c, 0, sizeof *c);
	c->kind = GCS_AUTH_KEY;
	c->client_email = strdup(GCS_TEST_EMAIL);
	c->private_key = gcs_test_read_file(env->key, NULL);
	c->private_key_id = strdup("0123456789abcdef");
	c->token_uri = strdup(token_uri);
	return c->client_email && c->private_key && c->private_key_id && c->token_uri;
}

static void gcs_unit_free_creds(gcs_creds *c)
{
	free(c->client_email);
	free(c->private_key);
	free(c->private_key_id);
	free(c->token_uri);
}

/* base64url text -> NUL-terminated bytes in out. */
static size_t gcs_unit_unb64(const char *in, size_t len, char *out, size_t cap)
{
	size_t n = 0;
	const cairn_host_api *host = cn_plugin_host_api();
	if (host->base64_decode(in, len, out, cap - 1, &n, CAIRN_BASE64_URL) != CAIRN_OK)
		return 0;
	out[n] = '\0';
	return n;
}

CN_TEST(gcs_jwt_assertion_is_rs256_with_googles_claims)
{
	gcs_test_env env;
	CN_CHECK(gcs_test_env_start(&env, false, 0));
	gcs_creds c;
	CN_CHECK(gcs_unit_load_creds(&env, &c, "https://oauth2.googleapis.com/token"));
	gcs_buf jwt = {0};
	cairn_error e = {0};
	CN_CHECK_EQ_INT(gcs_jwt_assertion(cn_plugin_host_api(), &c, 1700000000, &jwt, &e),
	                CAIRN_OK);
	const char *s = gcs_buf_str(&jwt);
	const char *dot1 = strchr(s, '.');
	const char *dot2 = dot1 ? strchr(dot1 + 1, '.') : NULL;
	CN_CHECK(dot1 && dot2 && !strchr(dot2 + 1, '.'));
	if (dot1 && dot2) {
		char part[1024];
		CN_CHECK(gcs_unit_unb64(s, (size_t)(dot1 - s), part, sizeof part) > 0);
		CN_CHECK_STR(part,
		             "{\"alg\":\"RS256\",\"typ\":\"JWT\",\"kid\":\"0123456789abcdef\"}");
		CN_CHECK(gcs_unit_unb64(dot1 + 1, (size_t)(dot2 - dot1 - 1), part, sizeof part) >
		         0);
		CN_CHECK_STR(part,
		             "{\"iss\":\"" GCS_TEST_EMAIL "\","
		             "\"scope\":\"https://www.googleapis.com/auth/devstorage.read_write\","
		             "\"aud\":\"https://oauth2.googleapis.com/token\","
		             "\"iat\":1700000000,\"exp\":1700003600}");
		/* No padding, URL alphabet only. */
		CN_CHECK(strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-"
		                   "_.") == strlen(s));
		uint8_t sig[600];
		size_t n = 0;
		const cairn_host_api *host = cn_plugin_host_api();
		CN_CHECK_EQ_INT(host->base64_decode(dot2 + 1, strlen(dot2 + 1), sig, sizeof sig, &n,
		                                    CAIRN_BASE64_URL),
		                CAIRN_OK);
		CN_CHECK_EQ_INT(n, 256); /* a 2048-bit key */
		/* The signature covers "<header>.<claims>", checked by openssl. */
		CN_CHECK(gcs_test_openssl_verify(&env, s, (size_t)(dot2 - s), sig, n));
		/* ... and nothing else. */
		CN_CHECK(!gcs_test_openssl_verify(&env, s, (size_t)(dot2 - s) - 1, sig, n));
	}
	gcs_buf_free(&jwt);

	/* A key that is not an RSA PEM is refused with INVALID and no secret. */
	free(c.private_key);
	c.private_key =
	        strdup("-----BEGIN PRIVATE KEY-----\nnot a key\n-----END PRIVATE KEY-----\n");
	memset(&e, 0, sizeof e);
	CN_CHECK_EQ_INT(gcs_jwt_assertion(cn_plugin_host_api(), &c, 1700000000, &jwt, &e),
	                CAIRN_ERR_INVALID);
	CN_CHECK(strstr(e.message, "not a key") == NULL);
	gcs_buf_free(&jwt);
	gcs_unit_free_creds(&c);
	gcs_test_env_stop(&env);
}

CN_TEST(gcs_signed_url_canonical_request_matches_googles_layout)
{
	gcs_test_env env;
	CN_CHECK(gcs_test_env_start(&env, false, 0));
	gcs_creds c;
	CN_CHECK(gcs_unit_load_creds(&env, &c, "https://oauth2.googleapis.com/token"));
	free(c.client_email);
	c.client_email = strdup("example@example-project.iam.gserviceaccount.com");
	cairn_store s = {
	        .host = cn_plugin_host_api(),
	        .creds = &c,
	        .endpoint = "https://storage.googleapis.com",
	        .bucket = "example-bucket",
	        .prefix = "",
	};
	gcs_buf url = {0}, canon = {0};
	cairn_error e = {0};
	/* 2019-03-01T19:08:59Z, 15 minutes, as in Google's V4 walk-through. */
	CN_CHECK_EQ_INT(gcs_sign_url(&s, "GET", "cat-pics/tabby cat.jpeg", 900, 1551467339, &url,
	                             &canon, &e),
	                CAIRN_OK);
	static const char want_canon[] =
	        "GET\n"
	        "/example-bucket/cat-pics/tabby%20cat.jpeg\n"
	        "X-Goog-Algorithm=GOOG4-RSA-SHA256"
	        "&X-Goog-Credential=example%40example-project.iam.gserviceaccount.com"
	        "%2F20190301%2Fauto%2Fstorage%2Fgoog4_request"
	        "&X-Goog-Date=20190301T190859Z&X-Goog-Expires=900&X-Goog-SignedHeaders=host\n"
	        "host:storage.googleapis.com\n"
	        "\n"
	        "host\n"
	        "UNSIGNED-PAYLOAD";
	CN_CHECK_STR(gcs_buf_str(&canon), want_canon);
	static const char want_prefix[] =
	        "https://storage.googleapis.com/example-bucket/cat-pics/tabby%20cat.jpeg?"
	        "X-Goog-Algorithm=GOOG4-RSA-SHA256"
	        "&X-Goog-Credential=example%40example-project.iam.gserviceaccount.com"
	        "%2F20190301%2Fauto%2Fstorage%2Fgoog4_request"
	        "&X-Goog-Date=20190301T190859Z&X-Goog-Expires=900&X-Goog-SignedHeaders=host"
	        "&X-Goog-Signature=";
	const char *u = gcs_buf_str(&url);
	CN_CHECK(strncmp(u, want_prefix, sizeof want_prefix - 1) == 0);
	/* The signature: RSA-SHA256 over the string to sign built from the
	 * expected canonical request (hashed here by the host, not the plugin). */
	const char *hex = strstr(u, "&X-Goog-Signature=");
	if (hex) {
		hex += 18;
		CN_CHECK_EQ_INT(strlen(hex), 512);
		uint8_t sig[256];
		for (size_t i = 0; i < sizeof sig && hex[2 * i]; i++) {
			unsigned v = 0;
			sscanf(hex + 2 * i, "%2x", &v);
			sig[i] = (uint8_t)v;
		}
		uint8_t d[32];
		cn_plugin_host_api()->sha256(want_canon, sizeof want_canon - 1, d);
		char sts[256];
		int n = snprintf(sts, sizeof sts,
		                 "GOOG4-RSA-SHA256\n20190301T190859Z\n"
		                 "20190301/auto/storage/goog4_request\n");
		for (int i = 0; i < 32; i++)
			n += snprintf(sts + n, sizeof sts - (size_t)n, "%02x", d[i]);
		CN_CHECK(gcs_test_openssl_verify(&env, sts, (size_t)n, sig, sizeof sig));
	}
	gcs_buf_free(&url);
	gcs_buf_free(&canon);

	/* Limits: methods and lifetimes. */
	CN_CHECK_EQ_INT(gcs_sign_url(&s, "DELETE", "x", 900, 1551467339, &url, NULL, &e),
	                CAIRN_ERR_INVALID);
	CN_CHECK_EQ_INT(gcs_sign_url(&s, "GET", "x", 604801, 1551467339, &url, NULL, &e),
	                CAIRN_ERR_INVALID);
	c.kind = GCS_AUTH_METADATA;
	CN_CHECK_EQ_INT(gcs_sign_url(&s, "GET", "x", 900, 1551467339, &url, NULL, &e),
	                CAIRN_ERR_UNSUPPORTED);
	gcs_buf_free(&url);
	gcs_unit_free_creds(&c);
	gcs_test_env_stop(&env);
}

CN_TEST(gcs_paths_names_and_dates)
{
	CN_CHECK(gcs_path_ok("a/b.txt", false));
	CN_CHECK(gcs_path_ok("", true));
	CN_CHECK(!gcs_path_ok("", false));
	CN_CHECK(!gcs_path_ok(".cairn-mpu", false));
	CN_CHECK(!gcs_path_ok(".cairn-mpu/x/upload", false));
	CN_CHECK(gcs_path_ok("a/.cairn-mpu", false)); /* only at the top is it ours */
	CN_CHECK(!gcs_path_ok("a/../b", false));
	CN_CHECK(!gcs_path_ok("a//b", false));
	CN_CHECK(!gcs_path_ok("a\\b", false));
	gcs_buf b = {0};
	CN_CHECK(gcs_pct(&b, "a b/c%d~e", false));
	CN_CHECK_STR(gcs_buf_str(&b), "a%20b%2Fc%25d~e");
	gcs_buf_free(&b);
	CN_CHECK_EQ_INT(gcs_parse_time("2019-03-01T19:08:59.123Z"), 1551467339123LL);
	CN_CHECK_EQ_INT(gcs_parse_time("2019-03-01T19:08:59Z"), 1551467339000LL);
	CN_CHECK_EQ_INT(gcs_parse_time("Fri, 01 Mar 2019 19:08:59 GMT"), 1551467339000LL);
	CN_CHECK_EQ_INT(gcs_parse_time("yesterday"), 0);
}

CN_TEST_MAIN()
