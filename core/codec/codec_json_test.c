/* core/codec/codec_json_test.c: JSON decode/encode, success and every error class. */
#include "core/codec/codec_test_util.h"
#include "schemas/cairn_schema.h"

#define HINT " See the API docs for more information about request parameters."
static const cn_schema *S = &cn_schema_cairn;

CN_TEST(create_experiment_round_trip)
{
	TU_RT(S, CN_TABLE_CreateExperiment,
	      "{\"name\":\"exp\",\"artifact_location\":\"s3://b/p\",\"tags\":[{\"key\":\"a\","
	      "\"value\":\"1\"},{\"key\":\"b\",\"value\":\"\"}]}",
	      "{\"name\":\"exp\",\"artifact_location\":\"s3://b/p\",\"tags\":[{\"key\":\"a\","
	      "\"value\":\"1\"},{\"key\":\"b\",\"value\":\"\"}]}");
	/* field order in the input does not matter; output is in id order */
	TU_RT(S, CN_TABLE_CreateExperiment,
	      "{\"tags\":[],\"artifact_location\":null,\"name\":\"x\"}", "{\"name\":\"x\"}");
	/* a required string given as "" is present */
	TU_RT(S, CN_TABLE_CreateExperiment, "{\"name\":\"\"}", "{\"name\":\"\"}");
	/* escapes and non-ASCII survive */
	TU_RT(S, CN_TABLE_CreateExperiment,
	      "{\"name\":\"a\\\"b\\\\c\\n\\u00e9\\u0000z\\ud83d\\ude00\"}",
	      "{\"name\":\"a\\\"b\\\\c\\n\xc3\xa9\\u0000z\xf0\x9f\x98\x80\"}");
}

CN_TEST(create_experiment_typed_readers)
{
	const char *json = "{\"name\":\"exp\",\"tags\":[{\"key\":\"k\",\"value\":\"v\"}]}";
	cn_fb_builder *b = cn_fb_builder_new(0);
	cn_fb_ref root;
	cn_err err;
	CN_CHECK_EQ_INT(cn_json_decode(S, CN_TABLE_CreateExperiment, json, strlen(json), NULL, 0, b,
	                               &root, &err),
	                CN_OK);
	const uint8_t *buf;
	size_t len;
	CN_CHECK(cn_fb_finish(b, root, &buf, &len));
	cn_fb_table t = cn_fb_root(buf);
	CN_CHECK(cn_fb_str_eq(cn_CreateExperiment_name(t), "exp"));
	CN_CHECK(!cn_CreateExperiment_has_artifact_location(t));
	cn_fb_vec tags = cn_CreateExperiment_tags(t);
	CN_CHECK_EQ_INT(tags.n, 1);
	CN_CHECK(cn_fb_str_eq(cn_ExperimentTag_value(cn_fb_vec_table(tags, 0)), "v"));
	cn_fb_builder_free(b);
}

CN_TEST(search_experiments_round_trip)
{
	TU_RT(S, CN_TABLE_SearchExperiments,
	      "{\"max_results\":10,\"page_token\":\"tok\",\"filter\":\"name LIKE "
	      "'a%'\",\"order_by\":"
	      "[\"name ASC\",\"creation_time DESC\"],\"view_type\":\"ALL\"}",
	      "{\"max_results\":10,\"page_token\":\"tok\",\"filter\":\"name LIKE "
	      "'a%'\",\"order_by\":"
	      "[\"name ASC\",\"creation_time DESC\"],\"view_type\":\"ALL\"}");
	/* ints from strings and integral floats, enums by number */
	TU_RT(S, CN_TABLE_SearchExperiments, "{\"max_results\":\"123\",\"view_type\":2}",
	      "{\"max_results\":123,\"view_type\":\"DELETED_ONLY\"}");
	TU_RT(S, CN_TABLE_SearchExperiments, "{\"max_results\":5.0}", "{\"max_results\":5}");
	TU_RT(S, CN_TABLE_SearchExperiments, "{\"max_results\":-9223372036854775808}",
	      "{\"max_results\":-9223372036854775808}");
	TU_RT(S, CN_TABLE_SearchExperiments, "{\"max_results\":0}", "{\"max_results\":0}");
	TU_RT(S, CN_TABLE_SearchExperiments, "", "{}");
	TU_RT(S, CN_TABLE_SearchExperiments, "null", "{}");
	TU_RT(S, CN_TABLE_SearchExperiments, "  {}  ", "{}");
	/* old clients double-encode the body as a JSON string */
	TU_RT(S, CN_TABLE_SearchExperiments, "\"{\\\"max_results\\\":3}\"", "{\"max_results\":3}");
}

CN_TEST(experiment_with_tags_round_trip)
{
	const char *e =
	        "{\"experiments\":[{\"experiment_id\":\"1\",\"name\":\"Default\",\"artifact_"
	        "location\":\"file:///tmp/mlruns/1\",\"lifecycle_stage\":\"active\",\"last_"
	        "update_time\":1700000000123,\"creation_time\":1700000000000,\"tags\":[{"
	        "\"key\":\"mlflow.note.content\",\"value\":\"hi\"}]},{\"experiment_id\":\"2\"}]"
	        ",\"next_page_token\":\"abc\"}";
	TU_RT(S, CN_TABLE_SearchExperimentsResponse, e, e);
	TU_RT(S, CN_TABLE_GetExperimentResponse, "{\"experiment\":{}}", "{\"experiment\":{}}");
}

CN_TEST(missing_required)
{
	TU_ERR(S, CN_TABLE_CreateExperiment, "{}", CN_INVALID_PARAMETER_VALUE,
	       "Missing value for required parameter 'name'." HINT);
	TU_ERR(S, CN_TABLE_CreateExperiment, "", CN_INVALID_PARAMETER_VALUE,
	       "Missing value for required parameter 'name'." HINT);
	TU_ERR(S, CN_TABLE_CreateExperiment, "{\"name\":null}", CN_INVALID_PARAMETER_VALUE,
	       "Missing value for required parameter 'name'." HINT);
	TU_ERR(S, CN_TABLE_SetExperimentTag, "{\"experiment_id\":\"1\",\"key\":\"k\"}",
	       CN_INVALID_PARAMETER_VALUE, "Missing value for required parameter 'value'." HINT);
}

CN_TEST(unknown_and_duplicate_fields)
{
	TU_ERR(S, CN_TABLE_CreateExperiment, "{\"name\":\"x\",\"foo\":1}",
	       CN_INVALID_PARAMETER_VALUE,
	       "Invalid parameter 'foo': this field is not part of CreateExperiment.");
	TU_ERR(S, CN_TABLE_CreateExperiment,
	       "{\"name\":\"x\",\"tags\":[{\"key\":\"a\",\"bad\":1}]}", CN_INVALID_PARAMETER_VALUE,
	       "Invalid parameter 'tags[0].bad': this field is not part of ExperimentTag.");
	/* a key with an embedded NUL is not the field before the NUL */
	TU_ERR(S, CN_TABLE_CreateExperiment, "{\"name\\u0000x\":\"x\"}", CN_MALFORMED_REQUEST,
	       "Malformed JSON in request body: NUL byte in object key not supported*");
	TU_ERR(S, CN_TABLE_CreateExperiment, "{\"name\":\"a\",\"name\":\"b\"}",
	       CN_INVALID_PARAMETER_VALUE,
	       "Invalid parameter 'name': given more than once in the request body (line 1, column "
	       "18).");
}

CN_TEST(type_mismatches)
{
	TU_ERR(S, CN_TABLE_CreateExperiment, "{\"name\":123}", CN_INVALID_PARAMETER_VALUE,
	       "Invalid value 123 for parameter 'name' supplied: Hint: Value was of type "
	       "'int'." HINT);
	TU_ERR(S, CN_TABLE_CreateExperiment, "{\"name\":true}", CN_INVALID_PARAMETER_VALUE,
	       "Invalid value True for parameter 'name' supplied: Hint: Value was of type "
	       "'bool'." HINT);
	TU_ERR(S, CN_TABLE_CreateExperiment, "{\"name\":[\"a\"]}", CN_INVALID_PARAMETER_VALUE,
	       "Invalid value [\"a\"] for parameter 'name' supplied: Hint: Value was of type "
	       "'list'." HINT);
	TU_ERR(S, CN_TABLE_CreateExperiment, "{\"name\":{\"a\":1}}", CN_INVALID_PARAMETER_VALUE,
	       "Invalid value {\"a\":1} for parameter 'name' supplied: Hint: Value was of type "
	       "'dict'." HINT);
	TU_ERR(S, CN_TABLE_CreateExperiment, "{\"name\":1.5}", CN_INVALID_PARAMETER_VALUE,
	       "Invalid value 1.5 for parameter 'name' supplied: Hint: Value was of type "
	       "'float'." HINT);
	TU_ERR(S, CN_TABLE_CreateExperiment, "{\"name\":\"x\",\"tags\":{}}",
	       CN_INVALID_PARAMETER_VALUE,
	       "Invalid value {} for parameter 'tags' supplied: Hint: Value was of type "
	       "'dict'." HINT);
	TU_ERR(S, CN_TABLE_CreateExperiment, "{\"name\":\"x\",\"tags\":[\"k\"]}",
	       CN_INVALID_PARAMETER_VALUE,
	       "Invalid value k for parameter 'tags[0]' supplied: Hint: Value was of type "
	       "'str'." HINT);
	TU_ERR(S, CN_TABLE_CreateExperiment, "{\"name\":\"x\",\"tags\":[{\"key\":5}]}",
	       CN_INVALID_PARAMETER_VALUE,
	       "Invalid value 5 for parameter 'tags[0].key' supplied: Hint: Value was of type "
	       "'int'." HINT);
	TU_ERR(S, CN_TABLE_SearchExperiments, "{\"order_by\":\"name\"}", CN_INVALID_PARAMETER_VALUE,
	       "Invalid value name for parameter 'order_by' supplied: Hint: Value was of type "
	       "'str'." HINT);
	TU_ERR(S, CN_TABLE_SearchExperiments, "{\"order_by\":[\"a\",null]}",
	       CN_INVALID_PARAMETER_VALUE,
	       "Invalid value None for parameter 'order_by[1]' supplied: Hint: Value was of type "
	       "'NoneType'." HINT);
	TU_ERR(S, CN_TABLE_SearchExperiments, "{\"max_results\":\"abc\"}",
	       CN_INVALID_PARAMETER_VALUE,
	       "Invalid value abc for parameter 'max_results' supplied: expected an integer." HINT);
	TU_ERR(S, CN_TABLE_SearchExperiments, "{\"max_results\":1.5}", CN_INVALID_PARAMETER_VALUE,
	       "Invalid value 1.5 for parameter 'max_results' supplied: expected an integer." HINT);
	TU_ERR(S, CN_TABLE_SearchExperiments, "{\"max_results\":\"12 \"}",
	       CN_INVALID_PARAMETER_VALUE,
	       "Invalid value 12  for parameter 'max_results' supplied: expected an integer." HINT);
	TU_ERR(S, CN_TABLE_SearchExperiments, "{\"max_results\":true}", CN_INVALID_PARAMETER_VALUE,
	       "Invalid value True for parameter 'max_results' supplied: Hint: Value was of type "
	       "'bool'." HINT);
	TU_ERR(S, CN_TABLE_SearchExperiments, "{\"max_results\":\"9223372036854775808\"}",
	       CN_INVALID_PARAMETER_VALUE,
	       "Invalid value 9223372036854775808 for parameter 'max_results' supplied: out of "
	       "range "
	       "for int64." HINT);
	TU_ERR(S, CN_TABLE_SearchExperiments, "{\"max_results\":1e30}", CN_INVALID_PARAMETER_VALUE,
	       "Invalid value 1e+30 for parameter 'max_results' supplied: out of "
	       "range." HINT);
	TU_ERR(S, CN_TABLE_SearchExperiments, "{\"max_results\":99999999999999999999}",
	       CN_INVALID_PARAMETER_VALUE, "Invalid value in request body: too big integer*");
}

CN_TEST(enum_errors)
{
	TU_ERR(S, CN_TABLE_SearchExperiments, "{\"view_type\":\"BOGUS\"}",
	       CN_INVALID_PARAMETER_VALUE,
	       "Invalid value BOGUS for parameter 'view_type' supplied: expected one of "
	       "ACTIVE_ONLY, "
	       "DELETED_ONLY, ALL." HINT);
	TU_ERR(S, CN_TABLE_SearchExperiments, "{\"view_type\":7}", CN_INVALID_PARAMETER_VALUE,
	       "Invalid value 7 for parameter 'view_type' supplied: not a value of the "
	       "enumeration." HINT);
	TU_ERR(S, CN_TABLE_SearchExperiments, "{\"view_type\":\"active_only\"}",
	       CN_INVALID_PARAMETER_VALUE, "Invalid value active_only for parameter 'view_type'*");
	TU_ERR(S, CN_TABLE_SearchExperiments, "{\"view_type\":1.0}", CN_INVALID_PARAMETER_VALUE,
	       "Invalid value 1.0 for parameter 'view_type' supplied: Hint: Value was of type "
	       "'float'." HINT);
	TU_RT(S, CN_TABLE_SearchExperiments, "{\"view_type\":\"3\"}", "{\"view_type\":\"ALL\"}");
}

CN_TEST(malformed_json)
{
	TU_ERR(S, CN_TABLE_CreateExperiment, "{\"name\":", CN_MALFORMED_REQUEST,
	       "Malformed JSON in request body: unexpected token near end of file (line 1, column "
	       "8)");
	TU_ERR(S, CN_TABLE_CreateExperiment, "{\"name\":\"\xff\"}", CN_MALFORMED_REQUEST,
	       "Malformed JSON in request body: unable to decode byte 0xff*");
	TU_ERR(S, CN_TABLE_CreateExperiment, "{\"name\":\"\xc0\xaf\"}", CN_MALFORMED_REQUEST,
	       "Malformed JSON in request body: *");
	TU_ERR(S, CN_TABLE_CreateExperiment, "{\"name\":\"x\"} junk", CN_MALFORMED_REQUEST,
	       "Malformed JSON in request body: end of file expected*");
	TU_ERR(S, CN_TABLE_CreateExperiment, "   ", CN_MALFORMED_REQUEST,
	       "Malformed JSON in request body: *");
	TU_ERR(S, CN_TABLE_CreateExperiment, "[1,2]", CN_MALFORMED_REQUEST,
	       "Malformed JSON in request body: expected a JSON object, got 'list'");
	TU_ERR(S, CN_TABLE_CreateExperiment, "42", CN_MALFORMED_REQUEST,
	       "Malformed JSON in request body: expected a JSON object, got 'int'");
	TU_ERR(S, CN_TABLE_CreateExperiment, "\"not json\"", CN_MALFORMED_REQUEST,
	       "Malformed JSON in request body: *");
}

CN_TEST(extra_overrides_body)
{
	cn_codec_kv kv[] = {{"experiment_id", "42"}};
	cn_err err;
	char *out = NULL;
	CN_CHECK_EQ_INT(tu_round_trip(S, CN_TABLE_GetExperiment, "{\"experiment_id\":\"1\"}", kv, 1,
	                              false, &out, &err),
	                CN_OK);
	TU_STR(out, "{\"experiment_id\":\"42\"}");
	free(out);
	/* a path parameter satisfies a required field */
	CN_CHECK_EQ_INT(tu_round_trip(S, CN_TABLE_GetExperiment, "", kv, 1, false, &out, &err),
	                CN_OK);
	TU_STR(out, "{\"experiment_id\":\"42\"}");
	free(out);
	cn_codec_kv typed[] = {
	        {"max_results", "7"}, {"view_type", "ACTIVE_ONLY"}, {"order_by", "name"}};
	CN_CHECK_EQ_INT(tu_round_trip(S, CN_TABLE_SearchExperiments, "{\"max_results\":1}", typed,
	                              3, false, &out, &err),
	                CN_OK);
	TU_STR(out, "{\"max_results\":7,\"order_by\":[\"name\"],\"view_type\":\"ACTIVE_ONLY\"}");
	free(out);
	cn_codec_kv bad[] = {{"nope", "1"}};
	CN_CHECK_EQ_INT(tu_round_trip(S, CN_TABLE_GetExperiment, "{}", bad, 1, false, &out, &err),
	                CN_INVALID_PARAMETER_VALUE);
	TU_STR(err.msg, "Invalid parameter 'nope': this field is not part of GetExperiment.");
	cn_codec_kv badval[] = {{"max_results", "x"}};
	CN_CHECK_EQ_INT(
	        tu_round_trip(S, CN_TABLE_SearchExperiments, "{}", badval, 1, false, &out, &err),
	        CN_INVALID_PARAMETER_VALUE);
	TU_STR(err.msg, "Invalid value x for parameter 'max_results' supplied: expected an "
	                "integer." HINT);
	cn_codec_kv badutf[] = {{"experiment_id", "\xff"}};
	CN_CHECK_EQ_INT(
	        tu_round_trip(S, CN_TABLE_GetExperiment, "{}", badutf, 1, false, &out, &err),
	        CN_INVALID_PARAMETER_VALUE);
	TU_STR(err.msg, "Invalid value ? for parameter 'experiment_id' supplied: not valid "
	                "UTF-8." HINT);
}

CN_TEST(all_scalar_types)
{
	TU_RT(&tu_schema, TU_ALL,
	      "{\"b\":true,\"i8\":-128,\"u8\":255,\"i16\":-32768,\"u16\":65535,\"i32\":-2147483648,"
	      "\"u32\":4294967295,\"i64\":9223372036854775807,\"u64\":\"18446744073709551615\","
	      "\"f32\":0.1,\"f64\":0.1,\"s\":\"x\",\"color\":\"BLUE\",\"colors\":[\"RED\",2],"
	      "\"nums\":[1,-2,\"3\"],\"flags\":[true,false],\"old\":5,\"reals\":[1,2.5,\"NaN\","
	      "\"Infinity\",\"-Infinity\",1e300,-0.0,1e-7],\"strs\":[\"\"],\"req\":\"r\"}",
	      "{\"b\":true,\"i8\":-128,\"u8\":255,\"i16\":-32768,\"u16\":65535,\"i32\":-2147483648,"
	      "\"u32\":4294967295,\"i64\":9223372036854775807,\"u64\":18446744073709551615,"
	      "\"f32\":0.1,\"f64\":0.1,\"s\":\"x\",\"color\":\"BLUE\",\"colors\":[\"RED\","
	      "\"GREEN\"],"
	      "\"nums\":[1,-2,3],\"flags\":[true,false],\"reals\":[1.0,2.5,\"NaN\",\"Infinity\","
	      "\"-Infinity\",1e+300,-0.0,1e-07],\"strs\":[\"\"],\"req\":\"r\"}");
	TU_RT(&tu_schema, TU_ALL, "{\"f64\":0.30000000000000004,\"f32\":16777216,\"req\":\"\"}",
	      "{\"f32\":16777216.0,\"f64\":0.30000000000000004,\"req\":\"\"}");
	TU_RT(&tu_schema, TU_ALL, "{\"f64\":\"-2.5e-3\",\"f32\":\"NaN\",\"req\":\"\"}",
	      "{\"f32\":\"NaN\",\"f64\":-0.0025,\"req\":\"\"}");
	TU_RT(&tu_schema, TU_ALL, "{\"b\":false,\"i8\":0,\"req\":\"\"}",
	      "{\"b\":false,\"i8\":0,\"req\":\"\"}");
}

CN_TEST(scalar_range_errors)
{
	static const struct {
		const char *json, *msg;
	} cases[] = {
	        {"{\"i8\":128}",
	         "Invalid value 128 for parameter 'i8' supplied: out of range." HINT},
	        {"{\"i8\":-129}",
	         "Invalid value -129 for parameter 'i8' supplied: out of range." HINT},
	        {"{\"u8\":-1}", "Invalid value -1 for parameter 'u8' supplied: out of range." HINT},
	        {"{\"u8\":\"256\"}",
	         "Invalid value 256 for parameter 'u8' supplied: out of range for uint8." HINT},
	        {"{\"i16\":32768}",
	         "Invalid value 32768 for parameter 'i16' supplied: out of range." HINT},
	        {"{\"u16\":65536}",
	         "Invalid value 65536 for parameter 'u16' supplied: out of range." HINT},
	        {"{\"i32\":2147483648}",
	         "Invalid value 2147483648 for parameter 'i32' supplied: out of range." HINT},
	        {"{\"u32\":4294967296}",
	         "Invalid value 4294967296 for parameter 'u32' supplied: out of range." HINT},
	        {"{\"u64\":\"18446744073709551616\"}",
	         "Invalid value 18446744073709551616 for parameter 'u64' supplied: out of range "
	         "for uint64." HINT},
	        {"{\"u64\":\"-1\"}",
	         "Invalid value -1 for parameter 'u64' supplied: out of range for uint64." HINT},
	        {"{\"f32\":1e39}",
	         "Invalid value 1e+39 for parameter 'f32' supplied: out of range for float." HINT},
	        {"{\"f32\":\"1e39\"}",
	         "Invalid value 1e39 for parameter 'f32' supplied: out of range for float." HINT},
	        {"{\"f64\":\"1e999\"}",
	         "Invalid value 1e999 for parameter 'f64' supplied: out of range for double." HINT},
	        {"{\"f64\":\"0x10\"}",
	         "Invalid value 0x10 for parameter 'f64' supplied: expected a number." HINT},
	        {"{\"f64\":\"inf\"}",
	         "Invalid value inf for parameter 'f64' supplied: expected a number." HINT},
	        {"{\"f64\":\"\"}",
	         "Invalid value  for parameter 'f64' supplied: expected a number." HINT},
	        {"{\"f64\":true}", "Invalid value True for parameter 'f64' supplied: Hint: Value "
	                           "was of type 'bool'." HINT},
	        {"{\"b\":\"true\"}", "Invalid value true for parameter 'b' supplied: Hint: Value "
	                             "was of type 'str'." HINT},
	        {"{\"b\":1}",
	         "Invalid value 1 for parameter 'b' supplied: Hint: Value was of type 'int'." HINT},
	        {"{\"color\":\"PINK\"}", "Invalid value PINK for parameter 'color' supplied: "
	                                 "expected one of RED, GREEN, BLUE." HINT},
	        {"{\"colors\":[\"RED\",3]}", "Invalid value 3 for parameter 'colors[1]' supplied: "
	                                     "not a value of the enumeration." HINT},
	        {"{\"nums\":[1,1.5]}",
	         "Invalid value 1.5 for parameter 'nums[1]' supplied: expected an integer." HINT},
	        {"{\"flags\":[true,0]}", "Invalid value 0 for parameter 'flags[1]' supplied: Hint: "
	                                 "Value was of type 'int'." HINT},
	        {"{\"child\":[]}", "Invalid value [] for parameter 'child' supplied: Hint: Value "
	                           "was of type 'list'." HINT},
	        {"{\"child\":{\"v\":\"x\"}}",
	         "Invalid value x for parameter 'child.v' supplied: expected an integer." HINT},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		char json[256];
		/* add the required field so only the case's error remains */
		snprintf(json, sizeof json, "{\"req\":\"\",%s", cases[i].json + 1);
		TU_ERR(&tu_schema, TU_ALL, json, CN_INVALID_PARAMETER_VALUE, cases[i].msg);
	}
	TU_ERR(&tu_schema, TU_ALL, "{\"child\":{}}", CN_INVALID_PARAMETER_VALUE,
	       "Missing value for required parameter 'req'." HINT);
}

/* {"child":{"child":...}} nested n deep */
static char *nested(int n)
{
	char *s = malloc((size_t)n * 12 + 8);
	size_t o = 0;
	for (int i = 0; i < n; i++)
		o += (size_t)sprintf(s + o, "{\"child\":");
	o += (size_t)sprintf(s + o, "{}");
	for (int i = 0; i < n; i++)
		s[o++] = '}';
	s[o] = '\0';
	return s;
}

CN_TEST(depth_limit)
{
	char *ok = nested(63) /* 64 tables */;
	char *deep = nested(64);
	cn_err err;
	char *out = NULL;
	CN_CHECK_EQ_INT(tu_round_trip(&tu_schema, TU_NODE, ok, NULL, 0, false, &out, &err), CN_OK);
	TU_STR(out, ok);
	free(out);
	CN_CHECK_EQ_INT(tu_round_trip(&tu_schema, TU_NODE, deep, NULL, 0, false, &out, &err),
	                CN_INVALID_PARAMETER_VALUE);
	CN_CHECK(strstr(err.msg, "nested deeper than 64 levels") != NULL);
	CN_CHECK(strncmp(err.msg, "Invalid parameter 'child.child.child.", 37) == 0);
	free(ok);
	free(deep);
}

CN_TEST(encode_details)
{
	/* built by hand: deprecated field, unknown enum value, empty vector */
	cn_fb_builder *b = cn_fb_builder_new(0);
	cn_fb_ref empty = cn_fb_create_vec_scalars(b, NULL, 0, 4);
	cn_fb_ref req = cn_fb_create_cstr(b, "");
	cn_fb_table_start(b);
	cn_fb_add_i32(b, 16, 5); /* old: deprecated */
	cn_fb_add_u8(b, 12, 99); /* color: not a value */
	cn_fb_add_ref(b, 14, empty);
	cn_fb_add_f32(b, 9, 1.0f);
	cn_fb_add_f64(b, 10, 1e16);
	cn_fb_add_ref(b, 20, req);
	const uint8_t *buf;
	size_t len;
	CN_CHECK(cn_fb_finish(b, cn_fb_table_end(b), &buf, &len));
	cn_err err;
	CN_CHECK_EQ_INT(cn_fb_verify(&tu_schema, TU_ALL, buf, len, &err), CN_OK);
	cn_buf out = CN_BUF_INIT;
	CN_CHECK_EQ_INT(cn_json_encode(&tu_schema, TU_ALL, cn_fb_root(buf), &out), CN_OK);
	TU_STR(out.p, "{\"f32\":1.0,\"f64\":1e+16,\"color\":99,\"req\":\"\"}");
	/* appends to what is already in the buffer */
	CN_CHECK_EQ_INT(cn_json_encode(&tu_schema, TU_NODE, cn_fb_root(buf), &out), CN_OK);
	CN_CHECK(out.len > 0);
	CN_CHECK_EQ_INT(cn_json_encode(&tu_schema, 9, cn_fb_root(buf), &out), CN_INTERNAL_ERROR);
	cn_buf_free(&out);
	cn_fb_builder_free(b);
}

CN_TEST(bad_arguments)
{
	cn_fb_builder *b = cn_fb_builder_new(0);
	cn_fb_ref root;
	cn_err err;
	CN_CHECK_EQ_INT(cn_json_decode(S, -1, "{}", 2, NULL, 0, b, &root, &err), CN_INTERNAL_ERROR);
	CN_CHECK_EQ_INT(cn_json_decode(S, 9999, "{}", 2, NULL, 0, b, &root, &err),
	                CN_INTERNAL_ERROR);
	CN_CHECK_EQ_INT(cn_json_decode(S, 0, "{}", 2, NULL, 0, NULL, &root, &err),
	                CN_INTERNAL_ERROR);
	CN_CHECK_EQ_INT(cn_json_decode(S, CN_TABLE_Empty, "{}", 2, NULL, 0, b, &root, NULL), CN_OK);
	cn_fb_builder_free(b);
}

CN_TEST_MAIN()

CN_TEST(integer_experiment_ids_are_stringified)
{
	/* As MLflow's server does for old clients; other string fields stay strict. */
	TU_RT(S, CN_TABLE_GetExperiment, "{\"experiment_id\":42}", "{\"experiment_id\":\"42\"}");
	TU_RT(S, CN_TABLE_DeleteExperiment, "{\"experiment_id\":-1}", "{\"experiment_id\":\"-1\"}");
	cn_fb_builder *b = cn_fb_builder_new(0);
	cn_fb_ref root;
	cn_err err;
	const char *json = "{\"name\":42}";
	CN_CHECK_EQ_INT(cn_json_decode(S, CN_TABLE_CreateExperiment, json, strlen(json), NULL, 0, b,
	                               &root, &err),
	                CN_INVALID_PARAMETER_VALUE);
	json = "{\"experiment_id\":1.5}";
	CN_CHECK_EQ_INT(cn_json_decode(S, CN_TABLE_GetExperiment, json, strlen(json), NULL, 0, b,
	                               &root, &err),
	                CN_INVALID_PARAMETER_VALUE);
	cn_fb_builder_free(b);
}
