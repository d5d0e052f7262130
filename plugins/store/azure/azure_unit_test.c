/*
 * plugins/store/azure/azure_unit_test.c: the Azure store's signing, SAS,
 * URI, connection-string, date and XML code against known values.
 *
 * Expected signatures were computed independently of this code with the
 * OpenSSL command line, e.g. for the first string to sign below:
 *   KEY=$(printf %s "$DEVKEY" | base64 -d | xxd -p | tr -d '\n')
 *   printf 'GET\n\n...restype:container' |
 *     openssl dgst -sha256 -mac HMAC -macopt hexkey:$KEY -binary | base64
 * and the strings to sign follow the layout of Microsoft's "Authorize with
 * Shared Key" and "Create a service SAS" pages, written out by hand.
 */
#include <stdlib.h>
#include <string.h>

#include "azure_int.h"
#include "cn_test.h"
#include "core/plugin/loader.h"

/* The storage emulator's well-known account key (public). */
#define DEV_KEY \
	"Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="

static size_t dev_key(uint8_t out[96])
{
	size_t n = 0;
	CN_CHECK_EQ_INT(
	        cn_plugin_host_api()->base64_decode(DEV_KEY, strlen(DEV_KEY), out, 96, &n, 0),
	        CAIRN_OK);
	return n;
}

CN_TEST(azure_string_to_sign_list)
{
	az_kv h[] = {{"x-ms-version", "2024-08-04"},
	             {"x-ms-date", "Wed, 25 Nov 2026 11:06:09 GMT"}};
	az_kv q[] = {
	        {"restype", "container"}, {"comp", "list"}, {"prefix", "a b/"}, {"delimiter", "/"}};
	az_sign_input in = {.method = "GET",
	                    .content_length = 0,
	                    .headers = h,
	                    .nheaders = 2,
	                    .account = "devstoreaccount1",
	                    .path = "/devstoreaccount1/cairn",
	                    .query = q,
	                    .nquery = 4};
	char *sts = az_string_to_sign(&in);
	CN_CHECK_STR(sts, "GET\n\n\n\n\n\n\n\n\n\n\n\n"
	                  "x-ms-date:Wed, 25 Nov 2026 11:06:09 GMT\n"
	                  "x-ms-version:2024-08-04\n"
	                  "/devstoreaccount1/devstoreaccount1/cairn\n"
	                  "comp:list\ndelimiter:/\nprefix:a b/\nrestype:container");
	uint8_t key[96];
	size_t klen = dev_key(key);
	char auth[160];
	CN_CHECK_EQ_INT(az_shared_key_header(cn_plugin_host_api(), "devstoreaccount1", key, klen,
	                                     sts ? sts : "", auth, sizeof auth),
	                CAIRN_OK);
	CN_CHECK_STR(auth,
	             "SharedKey devstoreaccount1:W/RXDhSPa3M7bDEz/T3zQj2nY9au8SBbIU5q5LLx6fw=");
	free(sts);
	/* Too small a buffer is refused, not cut. */
	CN_CHECK_EQ_INT(az_shared_key_header(cn_plugin_host_api(), "devstoreaccount1", key, klen,
	                                     "x", auth, 20),
	                CAIRN_ERR_NO_MEMORY);
}

CN_TEST(azure_string_to_sign_put)
{
	az_kv h[] = {{"x-ms-date", "Wed, 25 Nov 2026 11:06:09 GMT"},
	             {"x-ms-version", "2024-08-04"},
	             {"x-ms-blob-type", "BlockBlob"}};
	az_sign_input in = {.method = "PUT",
	                    .content_length = 11,
	                    .content_type = "application/octet-stream",
	                    .if_match = "\"0x8D\"",
	                    .headers = h,
	                    .nheaders = 3,
	                    .account = "myaccount",
	                    .path = "/c1/dir/a%20b.txt"};
	char *sts = az_string_to_sign(&in);
	CN_CHECK_STR(sts, "PUT\n\n\n11\n\napplication/octet-stream\n\n\n\"0x8D\"\n\n\n\n"
	                  "x-ms-blob-type:BlockBlob\n"
	                  "x-ms-date:Wed, 25 Nov 2026 11:06:09 GMT\n"
	                  "x-ms-version:2024-08-04\n"
	                  "/myaccount/c1/dir/a%20b.txt");
	uint8_t key[96];
	size_t klen = dev_key(key);
	char auth[160];
	CN_CHECK_EQ_INT(az_shared_key_header(cn_plugin_host_api(), "myaccount", key, klen,
	                                     sts ? sts : "", auth, sizeof auth),
	                CAIRN_OK);
	CN_CHECK_STR(auth, "SharedKey myaccount:94shL6ab5ODx9vnQfBiP7C+qssknbe7bv/SzE1HBK8A=");
	free(sts);
}

CN_TEST(azure_service_sas)
{
	uint8_t key[96];
	size_t klen = dev_key(key);
	char sas[512];
	CN_CHECK_EQ_INT(az_service_sas(cn_plugin_host_api(), "devstoreaccount1", key, klen, "cairn",
	                               "p/a b.txt", "r", "2026-11-25T12:00:00Z", sas, sizeof sas),
	                CAIRN_OK);
	CN_CHECK_STR(sas, "sv=2024-08-04&se=2026-11-25T12%3A00%3A00Z&sr=b&sp=r&"
	                  "sig=g8jd3g%2B0PotPP46zCMKiY30pLymzVaCA33VlLEJ2ahY%3D");
	CN_CHECK_EQ_INT(az_service_sas(cn_plugin_host_api(), "devstoreaccount1", key, klen, "cairn",
	                               "x", "r", "2026-11-25T12:00:00Z", sas, 40),
	                CAIRN_ERR_NO_MEMORY);
}

CN_TEST(azure_block_ids)
{
	char id[AZ_BLOCK_ID_B64_CAP + 8];
	az_block_id("0123456789abcdef0123456789abcdef", 7, 3, id, sizeof id, cn_plugin_host_api());
	/* printf '0123456789abcdef0123456789abcdef-00007-00003' | base64 */
	CN_CHECK_STR(id, "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWYtMDAwMDctMDAwMDM=");
	/* Every id has one length, as the service requires. */
	char other[AZ_BLOCK_ID_B64_CAP + 8];
	az_block_id("ffffffffffffffffffffffffffffffff", 10000, 49999, other, sizeof other,
	            cn_plugin_host_api());
	CN_CHECK_EQ_INT(strlen(other), strlen(id));
}

CN_TEST(azure_url_encode_and_dates)
{
	char out[64];
	CN_CHECK_EQ_INT(az_url_encode("a b/c+d=é~", strlen("a b/c+d=é~"), true, out, sizeof out),
	                strlen("a%20b/c%2Bd%3D%C3%A9~"));
	CN_CHECK_STR(out, "a%20b/c%2Bd%3D%C3%A9~");
	az_url_encode("a/b", 3, false, out, sizeof out);
	CN_CHECK_STR(out, "a%2Fb");
	/* Asking for the size writes nothing past cap. */
	char tiny[4] = "zzz";
	CN_CHECK_EQ_INT(az_url_encode("a b", 3, false, tiny, sizeof tiny), 5);
	CN_CHECK(strlen(tiny) < sizeof tiny);

	char d[32], iso[24];
	az_http_date(1795604769000ll, d); /* date -u -d @1795604769 */
	CN_CHECK_STR(d, "Wed, 25 Nov 2026 11:06:09 GMT");
	az_iso8601(1795604769000ll, iso);
	CN_CHECK_STR(iso, "2026-11-25T11:06:09Z");
	CN_CHECK_EQ_INT(az_parse_http_date(d, strlen(d)), 1795604769000ll);
	CN_CHECK_EQ_INT(az_parse_http_date("Thu, 01 Jan 1970 00:00:00 GMT", 29), 0);
	CN_CHECK_EQ_INT(az_parse_http_date("garbage", 7), -1);
	CN_CHECK_EQ_INT(az_parse_http_date("Wed, 25 Foo 2026 11:06:09 GMT", 29), -1);
	CN_CHECK_EQ_INT(az_parse_http_date("", 0), -1);
}

CN_TEST(azure_uri_parse)
{
	az_config c;
	cairn_error e = {0};
	memset(&c, 0, sizeof c);
	CN_CHECK_EQ_INT(
	        az_uri_parse("wasbs://models@acct01.blob.core.windows.net/mlruns/1/", &c, &e),
	        CAIRN_OK);
	CN_CHECK_STR(c.account, "acct01");
	CN_CHECK_STR(c.container, "models");
	CN_CHECK_STR(c.prefix, "mlruns/1/");
	CN_CHECK_STR(c.endpoint, "https://acct01.blob.core.windows.net");
	CN_CHECK_EQ_INT(c.endpoint_path, strlen(c.endpoint));

	memset(&c, 0, sizeof c);
	CN_CHECK_EQ_INT(az_uri_parse("abfss://data@acct02.dfs.core.chinacloudapi.cn", &c, &e),
	                CAIRN_OK);
	CN_CHECK_STR(c.endpoint, "https://acct02.blob.core.chinacloudapi.cn");
	CN_CHECK_STR(c.prefix, "");
	CN_CHECK_STR(c.container, "data");

	memset(&c, 0, sizeof c);
	CN_CHECK_EQ_INT(az_uri_parse("wasbs://$root@acct03/x", &c, &e), CAIRN_OK);
	CN_CHECK_STR(c.endpoint, "https://acct03.blob.core.windows.net");
	CN_CHECK_STR(c.prefix, "x/");

	static const char *const bad[] = {
	        "s3://bucket/x",
	        "wasbs://acct.blob.core.windows.net/x", /* no container */
	        "wasbs://UPPER@acct.blob.core.windows.net",
	        "wasbs://ab@acct.blob.core.windows.net",
	        "wasbs://a--b@acct.blob.core.windows.net",
	        "wasbs://c1c@Ac.blob.core.windows.net",
	        "wasbs://c1c@acct.blob.core.windows.net/a/../b",
	        "wasbs://c1c@acct.blob.core.windows.net/a//b",
	        "wasbs://c1c@acct.blob.core.windows.net/a\nb",
	        "wasbs://c1c@acct.blob.core.windows.net/a?sig=x",
	        "wasbs://c1c@acct_x.blob.core.windows.net",
	        "wasbs://c1c@acct.blob.core.windows.net:443",
	        "wasbs://c1c/x@acct.blob.core.windows.net",
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		memset(&c, 0, sizeof c);
		e.code = 0;
		CN_CHECK_EQ_INT(az_uri_parse(bad[i], &c, &e), CAIRN_ERR_INVALID);
		CN_CHECK_EQ_INT(e.code, CAIRN_ERR_INVALID);
	}
}

CN_TEST(azure_connection_string)
{
	char cs[] =
	        "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;"
	        "AccountKey=" DEV_KEY ";BlobEndpoint=http://127.0.0.1:10000/devstoreaccount1;"
	        "SharedAccessSignature=sv=2024-08-04&sig=a%2Bb=;EndpointSuffix=core.windows.net;";
	az_conn k;
	CN_CHECK(az_conn_parse(cs, &k));
	CN_CHECK_STR(k.account, "devstoreaccount1");
	CN_CHECK_STR(k.key, DEV_KEY); /* '=' inside a value stays */
	CN_CHECK_STR(k.blob_endpoint, "http://127.0.0.1:10000/devstoreaccount1");
	CN_CHECK_STR(k.sas, "sv=2024-08-04&sig=a%2Bb=");
	CN_CHECK_STR(k.protocol, "http");
	CN_CHECK_STR(k.suffix, "core.windows.net");
	CN_CHECK(!k.dev_storage);
	char dev[] = "UseDevelopmentStorage=true";
	CN_CHECK(az_conn_parse(dev, &k));
	CN_CHECK(k.dev_storage);
	char bad[] = "AccountName=x;garbage";
	CN_CHECK(!az_conn_parse(bad, &k));
}

/* Settings and environment through the real host table. */
CN_TEST(azure_config_precedence)
{
	const cairn_host_api *host = cn_plugin_host_api();
	cn_err cerr;
	cairn_error e = {0};
	az_config c;
	setenv("AZURE_STORAGE_CONNECTION_STRING",
	       "AccountName=devstoreaccount1;AccountKey=" DEV_KEY
	       ";BlobEndpoint=http://127.0.0.1:10000/devstoreaccount1/",
	       1);
	unsetenv("AZURE_STORAGE_ACCESS_KEY");
	CN_CHECK_EQ_INT(az_config_load(host,
	                               "wasbs://cairn@devstoreaccount1.blob.core.windows.net/p", &c,
	                               &e),
	                CAIRN_OK);
	CN_CHECK_STR(c.endpoint, "http://127.0.0.1:10000/devstoreaccount1");
	CN_CHECK_STR(c.endpoint + c.endpoint_path, "/devstoreaccount1");
	CN_CHECK_EQ_INT(c.key_len, 64);
	CN_CHECK(c.sas == NULL);
	CN_CHECK_EQ_INT(c.block_size, 8 << 20);
	az_config_free(&c);

	/* Another account's connection string is ignored. */
	CN_CHECK_EQ_INT(az_config_load(host, "wasbs://cairn@other01.blob.core.windows.net", &c, &e),
	                CAIRN_OK);
	CN_CHECK_STR(c.endpoint, "https://other01.blob.core.windows.net");
	CN_CHECK_EQ_INT(c.key_len, 0);
	az_config_free(&c);

	/* Explicit settings win; a SAS with a leading '?' is accepted. */
	CN_CHECK_EQ_INT(
	        cn_plugin_host_config_set("store.azure.endpoint", "http://localhost:9/acct", &cerr),
	        CN_OK);
	CN_CHECK_EQ_INT(cn_plugin_host_config_set("store.azure.sas_token", "?sv=1&sig=abc", &cerr),
	                CN_OK);
	CN_CHECK_EQ_INT(cn_plugin_host_config_set("store.azure.block_size", "1048576", &cerr),
	                CN_OK);
	CN_CHECK_EQ_INT(az_config_load(host,
	                               "wasbs://cairn@devstoreaccount1.blob.core.windows.net/p", &c,
	                               &e),
	                CAIRN_OK);
	CN_CHECK_STR(c.endpoint, "http://localhost:9/acct");
	CN_CHECK_STR(c.sas, "sv=1&sig=abc");
	CN_CHECK_EQ_INT(c.block_size, 1 << 20);
	az_config_free(&c);

	/* A bad key is refused without echoing it. */
	CN_CHECK_EQ_INT(cn_plugin_host_config_set("store.azure.account_key", "not*base64", &cerr),
	                CN_OK);
	CN_CHECK_EQ_INT(az_config_load(host,
	                               "wasbs://cairn@devstoreaccount1.blob.core.windows.net/p", &c,
	                               &e),
	                CAIRN_ERR_INVALID);
	CN_CHECK(strstr(e.message, "not*base64") == NULL);
	CN_CHECK_EQ_INT(cn_plugin_host_config_set("store.azure.endpoint", "ftp://x", &cerr), CN_OK);
	CN_CHECK_EQ_INT(cn_plugin_host_config_set("store.azure.account_key", "", &cerr), CN_OK);
	CN_CHECK_EQ_INT(az_config_load(host,
	                               "wasbs://cairn@devstoreaccount1.blob.core.windows.net/p", &c,
	                               &e),
	                CAIRN_ERR_INVALID);
	cn_plugin_host_config_reset();
	unsetenv("AZURE_STORAGE_CONNECTION_STRING");

	/* AZURE_STORAGE_ACCESS_KEY alone. */
	setenv("AZURE_STORAGE_ACCESS_KEY", DEV_KEY, 1);
	CN_CHECK_EQ_INT(
	        az_config_load(host, "abfss://cairn@devstoreaccount1.dfs.core.windows.net", &c, &e),
	        CAIRN_OK);
	CN_CHECK_EQ_INT(c.key_len, 64);
	CN_CHECK_STR(c.endpoint, "https://devstoreaccount1.blob.core.windows.net");
	az_config_free(&c);
	unsetenv("AZURE_STORAGE_ACCESS_KEY");
}

CN_TEST(azure_xml)
{
	const char *err = "\xEF\xBB\xBF<?xml version=\"1.0\" encoding=\"utf-8\"?><Error>"
	                  "<Code>AuthenticationFailed</Code><Message>Server failed &amp; "
	                  "&lt;x&gt;.\nRequestId:1\nTime:2</Message>"
	                  "<AuthenticationErrorDetail>d</AuthenticationErrorDetail></Error>";
	char code[64], msg[128];
	az_xml_error(err, strlen(err), code, sizeof code, msg, sizeof msg);
	CN_CHECK_STR(code, "AuthenticationFailed");
	CN_CHECK_STR(msg, "Server failed & <x>.");
	az_xml_error("", 0, code, sizeof code, msg, sizeof msg);
	CN_CHECK_STR(code, "");
	az_xml_error("<Error><Code>X", 14, code, sizeof code, msg, sizeof msg); /* truncated */
	CN_CHECK_STR(code, "");

	const char *list = "<EnumerationResults><Blobs><Blob><Name>a&#x20;&#233;</Name></Blob>"
	                   "<BlobPrefix><Name>d/</Name></BlobPrefix><Blobs2/></Blobs>"
	                   "<NextMarker /></EnumerationResults>";
	const char *end = list + strlen(list), *v, *next;
	size_t vl;
	CN_CHECK(az_xml_elem(list, end, "Blobs", &v, &vl, &next));
	CN_CHECK(az_xml_elem(v, v + vl, "Blob", &v, &vl, &next));
	CN_CHECK(az_xml_elem(v, v + vl, "Name", &v, &vl, &next));
	char name[32];
	CN_CHECK_EQ_INT(az_xml_unescape(v, vl, name, sizeof name), 4);
	CN_CHECK_STR(name, "a \xC3\xA9");
	CN_CHECK(az_xml_elem(list, end, "NextMarker", &v, &vl, &next));
	CN_CHECK_EQ_INT(vl, 0);
	CN_CHECK(!az_xml_elem(list, end, "Missing", &v, &vl, &next));
	CN_CHECK(az_xml_elem(list, end, "BlobPrefix", &v, &vl, &next));
	CN_CHECK(!az_xml_elem(list, list + 30, "Blob", &v, &vl, &next)); /* cut short */
	static const char *const bad[] = {"&bogus;", "&#0;", "&#xD800;", "&#x110000;", "&", "&#;"};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		CN_CHECK_EQ_INT(az_xml_unescape(bad[i], strlen(bad[i]), name, sizeof name),
		                (size_t)-1);
	CN_CHECK_EQ_INT(az_xml_unescape("abcdef", 6, name, 4), (size_t)-1);
}

/* A List Blobs answer as the service shapes it (names in name order, "b/"
 * after "b.txt"), with an ADLS folder blob, a "dir/" marker blob, an
 * encoded name and a name outside the prefix. */
CN_TEST(azure_parse_list)
{
	const char *xml =
	        "<?xml version=\"1.0\" encoding=\"utf-8\"?><EnumerationResults "
	        "ServiceEndpoint=\"http://x/\" ContainerName=\"c\"><Prefix>root/d/</Prefix>"
	        "<Delimiter>/</Delimiter><Blobs>"
	        "<Blob><Name>root/d/a&amp;b.txt</Name><Properties>"
	        "<Last-Modified>Wed, 25 Nov 2026 11:06:09 GMT</Last-Modified>"
	        "<Content-Length>12</Content-Length></Properties></Blob>"
	        "<Blob><Name>root/d/b.txt</Name><Properties><Content-Length>3</Content-Length>"
	        "</Properties></Blob>"
	        "<BlobPrefix><Name>root/d/b/</Name></BlobPrefix>"
	        "<Blob><Name>root/d/folder</Name><Properties><Content-Length>0</Content-Length>"
	        "</Properties><Metadata><hdi_isfolder>true</hdi_isfolder></Metadata></Blob>"
	        "<BlobPrefix><Name>root/d/folder/</Name></BlobPrefix>"
	        "<Blob><Name>root/d/marker/</Name><Properties/></Blob>"
	        "<Blob><Name Encoded=\"true\">root%2Fd%2F%01</Name></Blob>"
	        "<Blob><Name>other/x</Name></Blob>"
	        "</Blobs><NextMarker>2!76!abc</NextMarker></EnumerationResults>";
	az_entries a = {0};
	cairn_error e = {0};
	CN_CHECK_EQ_INT(az_parse_list(xml, strlen(xml), "root/", "root/d/", false, &a, &e),
	                CAIRN_OK);
	CN_CHECK_EQ_INT(a.n, 4);
	if (a.n == 4) {
		CN_CHECK_STR(a.v[0].path, "d/a&b.txt");
		CN_CHECK_EQ_INT(a.v[0].size, 12);
		CN_CHECK_EQ_INT(a.v[0].mtime_ms, 1795604769000ll);
		CN_CHECK_STR(a.v[1].path, "d/b"); /* byte order: "d/b" < "d/b.txt" */
		CN_CHECK(a.v[1].is_dir);
		CN_CHECK_STR(a.v[2].path, "d/b.txt");
		CN_CHECK(!a.v[2].is_dir && a.v[2].size == 3);
		CN_CHECK_STR(a.v[3].path, "d/folder"); /* folder blob + prefix: one dir */
		CN_CHECK(a.v[3].is_dir && a.v[3].size == 0);
	}
	az_entries_free(&a);
	/* No <Blobs>, an empty one, and truncated input: no entries, no error. */
	CN_CHECK_EQ_INT(az_parse_list("<EnumerationResults/>", 21, "", "", false, &a, &e),
	                CAIRN_OK);
	CN_CHECK_EQ_INT(a.n, 0);
	CN_CHECK_EQ_INT(az_parse_list("<Blobs />", 9, "", "", false, &a, &e), CAIRN_OK);
	CN_CHECK_EQ_INT(a.n, 0);
	CN_CHECK_EQ_INT(az_parse_list(xml, 300, "root/", "root/d/", false, &a, &e), CAIRN_OK);
	CN_CHECK_EQ_INT(a.n, 0);
	az_entries_free(&a);
	CN_CHECK_EQ_INT(az_parse_list(xml, strlen(xml), "root/", "other/", false, &a, &e),
	                CAIRN_ERR_INVALID);
}

/* Azure's errors as statuses, with the service's code and first message line. */
CN_TEST(azure_error_mapping)
{
	static const struct {
		int http;
		const char *body;
		int want;
		const char *in_msg;
	} cases[] = {
	        {404,
	         "<Error><Code>BlobNotFound</Code><Message>The specified blob does not "
	         "exist.\nRequestId:x</Message></Error>",
	         CAIRN_ERR_NOT_FOUND, "BlobNotFound: The specified blob does not exist."},
	        {404, "<Error><Code>ContainerNotFound</Code><Message>m</Message></Error>",
	         CAIRN_ERR_NOT_FOUND, "the container does not exist"},
	        {403,
	         "<Error><Code>AuthenticationFailed</Code><Message>Server failed to "
	         "authenticate</Message></Error>",
	         CAIRN_ERR_PERMISSION, "permission denied (HTTP 403 AuthenticationFailed: Server"},
	        {403, "<Error><Code>AuthorizationFailure</Code><Message>no</Message></Error>",
	         CAIRN_ERR_PERMISSION, "AuthorizationFailure"},
	        {409, "<Error><Code>BlobAlreadyExists</Code></Error>", CAIRN_ERR_EXISTS,
	         "BlobAlreadyExists"},
	        {409, "<Error><Code>LeaseIdMissing</Code></Error>", CAIRN_ERR_IO, "LeaseIdMissing"},
	        {416, "<Error><Code>InvalidRange</Code></Error>", CAIRN_ERR_INVALID,
	         "InvalidRange"},
	        {503, "<Error><Code>ServerBusy</Code></Error>", CAIRN_ERR_IO,
	         "HTTP 503 ServerBusy"},
	        {500, "not xml at all", CAIRN_ERR_IO, "HTTP 500"},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		az_call c = {.status = cases[i].http};
		c.err_len = strlen(cases[i].body);
		memcpy(c.err_body, cases[i].body, c.err_len + 1);
		cairn_error e = {0};
		CN_CHECK_EQ_INT(az_fail(&c, "get", "a/b", &e), cases[i].want);
		CN_CHECK_EQ_INT(e.code, cases[i].want);
		CN_CHECK(strstr(e.message, "get 'a/b'") == e.message);
		if (!strstr(e.message, cases[i].in_msg))
			fprintf(stderr, "  message: %s\n", e.message);
		CN_CHECK(strstr(e.message, cases[i].in_msg) != NULL);
	}
}

CN_TEST_MAIN()
