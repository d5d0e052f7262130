/*
 * plugins/store/s3/s3_sigv4_test.c: the S3 plugin's signing against AWS's
 * published examples, its XML scanner, error mapping and the shared
 * credentials file. Expected values are AWS's: the Signature Version 4 test
 * suite (credentials AKIDEXAMPLE, 20150830T123600Z, us-east-1, service
 * "service"), and the Amazon S3 API reference's worked examples
 * (AKIAIOSFODNN7EXAMPLE, 20130524T000000Z, examplebucket): "GET Object"
 * with a Range header, and the presigned URL of "Authenticating Requests:
 * Using Query Parameters".
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cn_test.h"
#include "core/plugin/loader.h"
#include "s3_int.h"

#define SUITE_KEY    "AKIDEXAMPLE"
#define SUITE_SECRET "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
#define S3_KEY       "AKIAIOSFODNN7EXAMPLE"
#define S3_SECRET    "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
#define EMPTY_SHA256 "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

static void suite_case(const char *method, const char *uri, const s3_param *q, size_t nq,
                       const char *payload, const char *want)
{
	const cairn_host_api *h = cn_plugin_host_api();
	cairn_http_header hdr[] = {{"Host", "example.amazonaws.com"},
	                           {"X-Amz-Date", "20150830T123600Z"}};
	s3_buf query = {0}, path = {0};
	s3_query_build(&query, q, nq);
	s3_buf_uri_encode(&path, uri, strlen(uri), true);
	uint8_t d[32];
	char hash[65], authz[1024];
	h->sha256(payload, strlen(payload), d);
	s3_hex(d, 32, hash);
	s3_sign_in in = {
	        .method = method,
	        .canonical_uri = s3_buf_cstr(&path),
	        .canonical_query = s3_buf_cstr(&query),
	        .headers = hdr,
	        .nheaders = 2,
	        .payload_hash = hash,
	        .amz_date = "20150830T123600Z",
	        .region = "us-east-1",
	        .service = "service",
	        .access_key = SUITE_KEY,
	        .secret_key = SUITE_SECRET,
	};
	CN_CHECK(s3_sign_authorization(h, &in, authz, sizeof authz));
	CN_CHECK_STR(authz, want);
	s3_buf_free(&query);
	s3_buf_free(&path);
}

CN_TEST(sigv4_suite_get_vanilla)
{
	suite_case(
	        "GET", "/", NULL, 0, "",
	        "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, "
	        "SignedHeaders=host;x-amz-date, "
	        "Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31");
}

CN_TEST(sigv4_suite_query_order_key_case)
{
	s3_param q[] = {{"Param2", "value2"}, {"Param1", "value1"}};
	suite_case(
	        "GET", "/", q, 2, "",
	        "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, "
	        "SignedHeaders=host;x-amz-date, "
	        "Signature=b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500");
}

CN_TEST(sigv4_suite_post_vanilla)
{
	suite_case(
	        "POST", "/", NULL, 0, "",
	        "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, "
	        "SignedHeaders=host;x-amz-date, "
	        "Signature=5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b");
}

CN_TEST(sigv4_suite_get_utf8)
{
	suite_case(
	        "GET", "/\xe1\x88\xb4", NULL, 0, "",
	        "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, "
	        "SignedHeaders=host;x-amz-date, "
	        "Signature=8318018e0b0f223aa2bbf98705b62bb787dc9c0e678f255a891fd03141be5d85");
}

/* Amazon S3 API reference, "Example: GET Object" (first 10 bytes of test.txt). */
CN_TEST(sigv4_s3_get_object_example)
{
	const cairn_host_api *h = cn_plugin_host_api();
	/* Header names in mixed case and a value with spaces around it: both
	 * are canonicalised. */
	cairn_http_header hdr[] = {
	        {"x-amz-date", "20130524T000000Z"},
	        {"Range", " bytes=0-9 "},
	        {"Host", "examplebucket.s3.amazonaws.com"},
	        {"x-amz-content-sha256", EMPTY_SHA256},
	};
	s3_sign_in in = {
	        .method = "GET",
	        .canonical_uri = "/test.txt",
	        .canonical_query = "",
	        .headers = hdr,
	        .nheaders = 4,
	        .payload_hash = EMPTY_SHA256,
	        .amz_date = "20130524T000000Z",
	        .region = "us-east-1",
	        .service = "s3",
	        .access_key = S3_KEY,
	        .secret_key = S3_SECRET,
	};
	char authz[1024];
	CN_CHECK(s3_sign_authorization(h, &in, authz, sizeof authz));
	CN_CHECK_STR(authz,
	             "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/"
	             "aws4_request, SignedHeaders=host;range;x-amz-content-sha256;x-amz-date, "
	             "Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41");
}

/* The presigned-URL example, through the plugin's own presign path with a
 * host table whose clock reads 2013-05-24T00:00:00Z. */
static int64_t example_now(void)
{
	return 1369353600000ll;
}

CN_TEST(sigv4_s3_presigned_url_example)
{
	cairn_host_api h = *cn_plugin_host_api();
	h.now_ms = example_now;
	setenv("AWS_ACCESS_KEY_ID", S3_KEY, 1);
	setenv("AWS_SECRET_ACCESS_KEY", S3_SECRET, 1);
	unsetenv("AWS_SESSION_TOKEN");
	cairn_store *s = calloc(1, sizeof *s);
	s->host = &h;
	snprintf(s->scheme, sizeof s->scheme, "https");
	snprintf(s->host_hdr, sizeof s->host_hdr, "examplebucket.s3.amazonaws.com");
	snprintf(s->region, sizeof s->region, "us-east-1");
	s3_creds_init(&s->creds, &h);
	char url[2048];
	cairn_error err = {0};
	CN_CHECK_EQ_INT(s3_presign_url(s, "GET", "test.txt", NULL, 0, 86400, url, sizeof url, &err),
	                CAIRN_OK);
	CN_CHECK_STR(url,
	             "https://examplebucket.s3.amazonaws.com/test.txt"
	             "?X-Amz-Algorithm=AWS4-HMAC-SHA256"
	             "&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-1%2Fs3%2Faws4_"
	             "request&X-Amz-Date=20130524T000000Z&X-Amz-Expires=86400"
	             "&X-Amz-SignedHeaders=host"
	             "&X-Amz-Signature="
	             "aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404");
	/* Too small a buffer is NO_MEMORY, with nothing secret in the message. */
	CN_CHECK_EQ_INT(s3_presign_url(s, "GET", "test.txt", NULL, 0, 86400, url, 40, &err),
	                CAIRN_ERR_NO_MEMORY);
	CN_CHECK(strstr(err.message, S3_SECRET) == NULL);
	s3_creds_fini(&s->creds);
	free(s);
	unsetenv("AWS_ACCESS_KEY_ID");
	unsetenv("AWS_SECRET_ACCESS_KEY");
}

CN_TEST(sigv4_uri_encoding)
{
	s3_buf b = {0};
	const char *key = "dir/a b+c~d_e.f-g%h&i=j\xc3\xa9";
	s3_buf_uri_encode(&b, key, strlen(key), true);
	CN_CHECK_STR(s3_buf_cstr(&b), "dir/a%20b%2Bc~d_e.f-g%25h%26i%3Dj%C3%A9");
	s3_buf_free(&b);
	s3_buf_uri_encode(&b, "a/b", 3, false);
	CN_CHECK_STR(s3_buf_cstr(&b), "a%2Fb");
	s3_buf_free(&b);
	/* Sorted by encoded name, then value; empty values keep their '='. */
	s3_param q[] = {{"uploads", ""}, {"b", "2"}, {"a", "x y"}, {"b", "1"}};
	s3_query_build(&b, q, 4);
	CN_CHECK_STR(s3_buf_cstr(&b), "a=x%20y&b=1&b=2&uploads=");
	s3_buf_free(&b);
}

/* RFC 1321's test suite, and lengths around the padding boundaries. */
CN_TEST(md5_rfc1321)
{
	static const struct {
		const char *in, *want;
	} cases[] = {
	        {"", "d41d8cd98f00b204e9800998ecf8427e"},
	        {"a", "0cc175b9c0f1b6a831c399e269772661"},
	        {"abc", "900150983cd24fb0d6963f7d28e17f72"},
	        {"message digest", "f96b697d7cb7938d525a2f31aaf161d0"},
	        {"abcdefghijklmnopqrstuvwxyz", "c3fcd3d76192e4007dfb496cca67e13b"},
	        {"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789",
	         "d174ab98d277d9f5a5611c2c9f419d9f"},
	        {"1234567890123456789012345678901234567890123456789012345678901234567890123456789"
	         "0",
	         "57edf4a22be3c955ac49da2e2107b67a"},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		uint8_t d[16];
		char hex[33];
		s3_md5(cases[i].in, strlen(cases[i].in), d);
		s3_hex(d, 16, hex);
		CN_CHECK_STR(hex, cases[i].want);
	}
	/* Lengths at the padding boundaries (values from Python's hashlib). */
	static const struct {
		size_t n;
		const char *want;
	} edges[] = {{55, "04364420e25c512fd958a70738aa8f72"},
	             {56, "668a72d5ba17f08e62dabcafad6db14b"},
	             {63, "7dc2ca208106a2f703567bdff99d8981"},
	             {64, "c1bb4f81d892b2d57947682aeb252456"},
	             {119, "ab347a5f68c8a443cfcddc633f12c24f"},
	             {120, "fb98667f98096de92620b64f46e1c5b5"}};
	char buf[130];
	memset(buf, 'x', sizeof buf);
	for (size_t i = 0; i < sizeof edges / sizeof edges[0]; i++) {
		uint8_t d[16];
		char hex[33];
		s3_md5(buf, edges[i].n, d);
		s3_hex(d, 16, hex);
		CN_CHECK_STR(hex, edges[i].want);
	}
}

CN_TEST(xml_scanner)
{
	const char *doc = "<?xml version=\"1.0\"?>\n<!-- <Key>no</Key> -->"
	                  "<ListBucketResult xmlns=\"x\"><Contents><Key>a &amp; b&#x2F;&#233;&lt;"
	                  "</Key><Size>12</Size></Contents><Contents><Key>second</Key><Size/>"
	                  "</Contents><IsTruncated>false</IsTruncated></ListBucketResult>";
	char out[64];
	CN_CHECK(s3_xml_text(doc, strlen(doc), "Key", out, sizeof out));
	CN_CHECK_STR(out, "a & b/\xc3\xa9<");
	size_t pos = 0, n = 0;
	const char *in = NULL;
	int count = 0;
	while (s3_xml_next(doc, strlen(doc), &pos, "Contents", &in, &n))
		count++;
	CN_CHECK_EQ_INT(count, 2);
	CN_CHECK(s3_xml_text(doc, strlen(doc), "IsTruncated", out, sizeof out));
	CN_CHECK_STR(out, "false");
	/* Absent, cut off, badly escaped, too long: all "not there". */
	CN_CHECK(!s3_xml_text(doc, strlen(doc), "Missing", out, sizeof out));
	CN_CHECK(!s3_xml_text(doc, 60, "Key", out, sizeof out));
	CN_CHECK(!s3_xml_text("<Key>a&bogus;</Key>", 19, "Key", out, sizeof out));
	CN_CHECK(!s3_xml_text("<Key>&#0;</Key>", 15, "Key", out, sizeof out));
	CN_CHECK(!s3_xml_text("<Key>abcdef</Key>", 17, "Key", out, 4));
	CN_CHECK(!s3_xml_text("<Key", 4, "Key", out, sizeof out));
	CN_CHECK(!s3_xml_text("<", 1, "Key", out, sizeof out));
	/* A name that only starts like the one asked for is another element. */
	CN_CHECK(s3_xml_text("<KeyCount>3</KeyCount><Key>k</Key>", 34, "Key", out, sizeof out));
	CN_CHECK_STR(out, "k");
}

CN_TEST(errors_map_to_statuses)
{
	CN_CHECK_EQ_INT(s3_status_of(404, "NoSuchKey"), CAIRN_ERR_NOT_FOUND);
	CN_CHECK_EQ_INT(s3_status_of(404, "NoSuchUpload"), CAIRN_ERR_NOT_FOUND);
	CN_CHECK_EQ_INT(s3_status_of(403, "AccessDenied"), CAIRN_ERR_PERMISSION);
	CN_CHECK_EQ_INT(s3_status_of(403, "SignatureDoesNotMatch"), CAIRN_ERR_PERMISSION);
	CN_CHECK_EQ_INT(s3_status_of(403, "InvalidAccessKeyId"), CAIRN_ERR_PERMISSION);
	CN_CHECK_EQ_INT(s3_status_of(416, "InvalidRange"), CAIRN_ERR_INVALID);
	CN_CHECK_EQ_INT(s3_status_of(400, "EntityTooSmall"), CAIRN_ERR_INVALID);
	CN_CHECK_EQ_INT(s3_status_of(404, NULL), CAIRN_ERR_NOT_FOUND); /* HEAD: no body */
	CN_CHECK_EQ_INT(s3_status_of(403, NULL), CAIRN_ERR_PERMISSION);
	CN_CHECK_EQ_INT(s3_status_of(503, "SlowDown"), CAIRN_ERR_IO);
}

CN_TEST(credentials_shared_file_profiles)
{
	char path[] = "/tmp/cn-s3-creds-XXXXXX";
	int fd = mkstemp(path);
	CN_CHECK(fd >= 0);
	const char *ini = "[default]\naws_access_key_id = DEFAULTKEY\n"
	                  "aws_secret_access_key = defaultsecret\n\n"
	                  "# a comment\n[cairn]\n  aws_access_key_id=PROFILEKEY  \n"
	                  "aws_secret_access_key = profile/secret+x\naws_session_token = tok=en\n";
	CN_CHECK_EQ_INT(write(fd, ini, strlen(ini)), (long long)strlen(ini));
	close(fd);
	unsetenv("AWS_ACCESS_KEY_ID");
	unsetenv("AWS_SECRET_ACCESS_KEY");
	unsetenv("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI");
	unsetenv("AWS_CONTAINER_CREDENTIALS_FULL_URI");
	setenv("AWS_EC2_METADATA_DISABLED", "true", 1);
	setenv("AWS_SHARED_CREDENTIALS_FILE", path, 1);
	s3_cred_provider p;
	s3_creds c;
	cairn_error err = {0};
	setenv("AWS_PROFILE", "cairn", 1);
	s3_creds_init(&p, cn_plugin_host_api());
	CN_CHECK_EQ_INT(s3_creds_get(&p, &c, &err), CAIRN_OK);
	CN_CHECK_STR(c.access_key, "PROFILEKEY");
	CN_CHECK_STR(c.secret_key, "profile/secret+x");
	CN_CHECK_STR(c.token, "tok=en");
	CN_CHECK_STR(c.source, "shared file");
	s3_creds_fini(&p);
	unsetenv("AWS_PROFILE");
	s3_creds_init(&p, cn_plugin_host_api());
	CN_CHECK_EQ_INT(s3_creds_get(&p, &c, &err), CAIRN_OK);
	CN_CHECK_STR(c.access_key, "DEFAULTKEY");
	s3_creds_fini(&p);
	/* The environment wins over the file. */
	setenv("AWS_ACCESS_KEY_ID", "ENVKEY", 1);
	setenv("AWS_SECRET_ACCESS_KEY", "envsecret", 1);
	s3_creds_init(&p, cn_plugin_host_api());
	CN_CHECK_EQ_INT(s3_creds_get(&p, &c, &err), CAIRN_OK);
	CN_CHECK_STR(c.access_key, "ENVKEY");
	s3_creds_fini(&p);
	unsetenv("AWS_ACCESS_KEY_ID");
	unsetenv("AWS_SECRET_ACCESS_KEY");
	/* A profile that is not there: no credentials, PERMISSION, no secret shown. */
	setenv("AWS_PROFILE", "absent", 1);
	s3_creds_init(&p, cn_plugin_host_api());
	CN_CHECK_EQ_INT(s3_creds_get(&p, &c, &err), CAIRN_ERR_PERMISSION);
	CN_CHECK(strstr(err.message, "absent") != NULL);
	CN_CHECK(strstr(err.message, "secret") == NULL);
	s3_creds_fini(&p);
	unsetenv("AWS_PROFILE");
	unsetenv("AWS_SHARED_CREDENTIALS_FILE");
	unlink(path);
}

CN_TEST(credentials_json_and_times)
{
	const char *j = "{\"Code\" : \"Success\", \"AccessKeyId\": \"ASIA1\", \"SecretAccessKey\":"
	                "\"s\\/x\", \"Token\": \"t\", \"Expiration\" : \"2026-11-25T12:00:00Z\"}";
	char out[64];
	CN_CHECK(s3_json_string(j, strlen(j), "SecretAccessKey", out, sizeof out));
	CN_CHECK_STR(out, "s/x");
	CN_CHECK(!s3_json_string(j, strlen(j), "Missing", out, sizeof out));
	int64_t ms = 0;
	CN_CHECK(s3_iso8601_ms("2026-11-25T12:00:00Z", &ms));
	CN_CHECK_EQ_INT(ms, 1795608000000ll);
	CN_CHECK(s3_iso8601_ms("2026-11-25T12:00:00.250Z", &ms));
	CN_CHECK_EQ_INT(ms, 1795608000250ll);
	CN_CHECK(s3_iso8601_ms("2026-11-25T13:00:00+01:00", &ms));
	CN_CHECK_EQ_INT(ms, 1795608000000ll);
	CN_CHECK(!s3_iso8601_ms("yesterday", &ms));
}

CN_TEST_MAIN()
