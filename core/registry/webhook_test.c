/*
 * core/registry/webhook_test.c: the pure parts of webhook delivery against
 * values computed independently (Python's json.dumps, hmac and
 * datetime.isoformat produced the expected strings): the payload envelope,
 * the signature, the retry schedule, Retry-After, subscription checks with
 * MLflow's messages, prompt entities, and the source path checks.
 */
#include <string.h>

#include "cn_test.h"
#include "core/registry/registry_int.h"

static cn_fb_str S(const char *s)
{
	return (cn_fb_str){s, (uint32_t)strlen(s)};
}

CN_TEST(payload_is_json_dumps_of_the_envelope)
{
	json_t *d = json_pack("{s:s,s:s,s:s,s:s}", "name", "m", "version", "1", "key", "k", "value",
	                      "\xc3\xa9");
	char *p = reg_wh_payload("MODEL_VERSION_TAG", "SET", d, 1700000000000042LL);
	CN_CHECK_STR(p, "{\"entity\": \"model_version_tag\", \"action\": \"set\", \"timestamp\": "
	                "\"2023-11-14T22:13:20.000042+00:00\", \"data\": {\"name\": \"m\", "
	                "\"version\": \"1\", \"key\": \"k\", \"value\": \"\\u00e9\"}}");
	char sig[REG_WH_SIG_MAX];
	CN_CHECK(reg_wh_sign("whsec-42", "0f8fad5b-d9cb-469f-a165-70867728950e", "1700000000", p,
	                     sig));
	CN_CHECK_STR(sig, "v1,RQMZWlYgjjX1+8zqLJRCMcTFkRift2MQcVvRoyw9Y08=");
	free(p);
	json_decref(d);
	char ts[40];
	reg_wh_isotime(1700000000000000LL, ts);
	CN_CHECK_STR(ts, "2023-11-14T22:13:20+00:00");
}

CN_TEST(retry_schedule_is_urllib3s)
{
	CN_CHECK_EQ_INT(reg_wh_backoff_ms(1, 0.9), 0);
	CN_CHECK_EQ_INT(reg_wh_backoff_ms(2, 0.0), 2000);
	CN_CHECK_EQ_INT(reg_wh_backoff_ms(2, 0.5), 2500);
	CN_CHECK_EQ_INT(reg_wh_backoff_ms(3, 0.0), 4000);
	CN_CHECK_EQ_INT(reg_wh_backoff_ms(7, 0.0), 60000);
	CN_CHECK_EQ_INT(reg_wh_backoff_ms(40, 0.99), 60000);
	int retry[] = {0, 429, 500, 502, 503, 504}, no[] = {200, 204, 301, 400, 404, 413, 501, 505};
	for (size_t i = 0; i < sizeof retry / sizeof *retry; i++)
		CN_CHECK(reg_wh_retryable(retry[i]));
	for (size_t i = 0; i < sizeof no / sizeof *no; i++)
		CN_CHECK(!reg_wh_retryable(no[i]));
	CN_CHECK(reg_wh_honours_retry_after(429) && reg_wh_honours_retry_after(503) &&
	         reg_wh_honours_retry_after(413) && !reg_wh_honours_retry_after(500));
	int64_t now = 1700000000000LL;
	CN_CHECK_EQ_INT(reg_wh_retry_after_ms(" 3 ", 3, now), 3000);
	const char *date = "Tue, 14 Nov 2023 22:13:30 GMT";
	CN_CHECK_EQ_INT(reg_wh_retry_after_ms(date, strlen(date), now), 10000);
	CN_CHECK_EQ_INT(reg_wh_retry_after_ms(date, strlen(date), now + 60000), 0);
	CN_CHECK_EQ_INT(reg_wh_retry_after_ms("soon", 4, now), -1);
	CN_CHECK_EQ_INT(reg_wh_retry_after_ms("", 0, now), -1);
}

CN_TEST(subscriptions_checked_with_mlflows_messages)
{
	cn_err err;
	CN_CHECK_EQ_INT(reg_wh_check_event(S("PROMPT_VERSION_TAG"), S("SET"), &err), CN_OK);
	CN_CHECK_EQ_INT(reg_wh_check_event(S("MODEL_VERSION_ALIAS"), S("DELETED"), &err), CN_OK);
	CN_CHECK_EQ_INT(reg_wh_check_event(S("REGISTERED_MODEL"), S("DELETED"), &err),
	                CN_INVALID_PARAMETER_VALUE);
	CN_CHECK_STR(err.msg, "Invalid action 'deleted' for entity 'registered_model'. Valid "
	                      "actions are: ['created']");
	CN_CHECK_EQ_INT(reg_wh_check_event(S("PROMPT_TAG"), S("CREATED"), &err),
	                CN_INVALID_PARAMETER_VALUE);
	CN_CHECK_STR(err.msg, "Invalid action 'created' for entity 'prompt_tag'. Valid actions "
	                      "are: ['deleted', 'set']");
	CN_CHECK_EQ_INT(reg_wh_check_event(S("RUN"), S("CREATED"), &err),
	                CN_INVALID_PARAMETER_VALUE);
	CN_CHECK_EQ_INT(reg_wh_check_event(S("PROMPT"), S("RENAMED"), &err),
	                CN_INVALID_PARAMETER_VALUE);
}

CN_TEST(prompt_entities_and_payload_data)
{
	const char *e, *a;
	CN_CHECK(!reg_wh_event_of(REG_WH_MODEL_TAG_SET, false, &e, &a));
	CN_CHECK(reg_wh_event_of(REG_WH_MODEL_TAG_SET, true, &e, &a));
	CN_CHECK_STR(e, "PROMPT_TAG");
	CN_CHECK_STR(a, "SET");
	CN_CHECK(reg_wh_event_of(REG_WH_ALIAS_CREATED, false, &e, &a));
	CN_CHECK_STR(e, "MODEL_VERSION_ALIAS");
	CN_CHECK(reg_wh_event_of(REG_WH_VERSION_CREATED, true, &e, &a));
	CN_CHECK_STR(e, "PROMPT_VERSION");
	json_t *v = json_pack("{s:s,s:s,s:s,s:[{s:s,s:s}]}", "name", "p", "version", "2", "source",
	                      "x", "tags", "key", REG_PROMPT_TEXT_TAG, "value", "Hi {{who}}");
	json_t *d = reg_wh_data_version(v, true);
	CN_CHECK_STR(json_string_value(json_object_get(d, "template")), "Hi {{who}}");
	CN_CHECK(json_object_get(d, "source") == NULL);
	CN_CHECK(json_is_null(json_object_get(d, "description")));
	json_decref(d);
	d = reg_wh_data_version(v, false);
	CN_CHECK_STR(json_string_value(json_object_get(d, "source")), "x");
	CN_CHECK(json_is_null(json_object_get(d, "run_id")));
	CN_CHECK_STR(
	        json_string_value(json_object_get(json_object_get(d, "tags"), REG_PROMPT_TEXT_TAG)),
	        "Hi {{who}}");
	json_decref(d);
	json_decref(v);
	d = reg_wh_example("PROMPT_ALIAS", "DELETED");
	char *js = json_dumps(d, JSON_COMPACT | JSON_SORT_KEYS);
	CN_CHECK_STR(js, "{\"alias\":\"example_alias\",\"name\":\"example_prompt\"}");
	free(js);
	json_decref(d);
	char id[37];
	reg_wh_uuid4(id);
	CN_CHECK(strlen(id) == 36 && id[8] == '-' && id[14] == '4' && strchr("89ab", id[19]));
}

CN_TEST(local_sources_are_normalized_before_the_containment_check)
{
	char p[256];
	CN_CHECK(reg_src_local_path("file:///srv/a/b/../c/./d", p, sizeof p));
	CN_CHECK_STR(p, "/srv/a/c/d");
	CN_CHECK(reg_src_local_path("file://localhost/srv/%2e%2e/etc", p, sizeof p));
	CN_CHECK_STR(p, "/etc");
	CN_CHECK(reg_src_local_path("/srv//x/", p, sizeof p));
	CN_CHECK_STR(p, "/srv/x");
	CN_CHECK(reg_src_within("/srv/x", "/srv/x"));
	CN_CHECK(reg_src_within("/srv/x", "/srv/x/model"));
	CN_CHECK(!reg_src_within("/srv/x", "/srv/xy"));
	CN_CHECK(!reg_src_within("/srv/x/model", "/srv/x"));
}

CN_TEST_MAIN()
