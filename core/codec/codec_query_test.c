/* core/codec/codec_query_test.c: URL query strings -> FlatBuffers. */
#include "core/codec/codec_test_util.h"
#include "schemas/cairn_schema.h"

#define HINT " See the API docs for more information about request parameters."
static const cn_schema *S = &cn_schema_cairn;

/* Expect query string qs (as ti) to re-encode as the JSON want. */
static void q_rt(const cn_schema *s, int ti, const char *qs, const char *want, int line)
{
	cn_err err;
	char *out = NULL;
	cn_code rc = tu_round_trip(s, ti, qs, NULL, 0, true, &out, &err);
	if (rc != CN_OK)
		tu_check_str(__FILE__, line, err.msg, "(no error)");
	else
		tu_check_str(__FILE__, line, out, want);
	free(out);
}
#define Q_RT(s, ti, qs, want) q_rt(s, ti, qs, want, __LINE__)

CN_TEST(search_experiments_query)
{
	Q_RT(S, CN_TABLE_SearchExperiments,
	     "max_results=10&order_by=name+ASC&order_by=creation_time%20DESC&view_type=ALL"
	     "&filter=name%20LIKE%20%27a%25%27&page_token=",
	     "{\"max_results\":10,\"page_token\":\"\",\"filter\":\"name LIKE 'a%'\",\"order_by\":"
	     "[\"name ASC\",\"creation_time DESC\"],\"view_type\":\"ALL\"}");
	Q_RT(S, CN_TABLE_SearchExperiments, "", "{}");
	Q_RT(S, CN_TABLE_SearchExperiments, "&&max_results=-3&", "{\"max_results\":-3}");
	Q_RT(S, CN_TABLE_SearchExperiments, "view_type=2", "{\"view_type\":\"DELETED_ONLY\"}");
	/* a key without '=' has an empty value */
	Q_RT(S, CN_TABLE_SearchExperiments, "filter", "{\"filter\":\"\"}");
	/* '=' inside a value, '+' and UTF-8 escapes */
	Q_RT(S, CN_TABLE_GetExperimentByName, "experiment_name=a%3Db=c+d%C3%A9",
	     "{\"experiment_name\":\"a=b=c d\xc3\xa9\"}");
	/* an escaped NUL is kept */
	Q_RT(S, CN_TABLE_GetExperiment, "experiment_id=1%002", "{\"experiment_id\":\"1\\u00002\"}");
	/* a repeated key keeps every value, in order, with other keys between */
	Q_RT(S, CN_TABLE_SearchExperiments, "order_by=a&max_results=1&order_by=b&order_by=",
	     "{\"max_results\":1,\"order_by\":[\"a\",\"b\",\"\"]}");
}

CN_TEST(query_errors)
{
	TU_QERR(S, CN_TABLE_SearchExperiments, "max_results=1&max_results=2",
	        CN_INVALID_PARAMETER_VALUE,
	        "Invalid parameter 'max_results': given 2 times, but it takes one value.");
	TU_QERR(S, CN_TABLE_SearchExperiments, "max_results=ten", CN_INVALID_PARAMETER_VALUE,
	        "Invalid value ten for parameter 'max_results' supplied: expected an "
	        "integer." HINT);
	TU_QERR(S, CN_TABLE_SearchExperiments, "max_results=", CN_INVALID_PARAMETER_VALUE,
	        "Invalid value  for parameter 'max_results' supplied: expected an integer." HINT);
	TU_QERR(S, CN_TABLE_SearchExperiments, "max_results=1.5", CN_INVALID_PARAMETER_VALUE,
	        "Invalid value 1.5 for parameter 'max_results' supplied: expected an "
	        "integer." HINT);
	TU_QERR(S, CN_TABLE_SearchExperiments, "max_results=99999999999999999999",
	        CN_INVALID_PARAMETER_VALUE,
	        "Invalid value 99999999999999999999 for parameter 'max_results' supplied: out of "
	        "range for int64." HINT);
	TU_QERR(S, CN_TABLE_SearchExperiments, "view_type=SOME", CN_INVALID_PARAMETER_VALUE,
	        "Invalid value SOME for parameter 'view_type' supplied: expected one of "
	        "ACTIVE_ONLY, "
	        "DELETED_ONLY, ALL." HINT);
	TU_QERR(S, CN_TABLE_SearchExperiments, "view_type=9", CN_INVALID_PARAMETER_VALUE,
	        "Invalid value 9 for parameter 'view_type' supplied: expected one of ACTIVE_ONLY, "
	        "DELETED_ONLY, ALL." HINT);
	TU_QERR(S, CN_TABLE_SearchExperiments, "bogus=1", CN_INVALID_PARAMETER_VALUE,
	        "Invalid parameter 'bogus': this field is not part of SearchExperiments.");
	TU_QERR(S, CN_TABLE_SearchExperiments, "=1", CN_INVALID_PARAMETER_VALUE,
	        "Invalid parameter '': this field is not part of SearchExperiments.");
	TU_QERR(S, CN_TABLE_SearchExperiments, "filter=%zz", CN_INVALID_PARAMETER_VALUE,
	        "Invalid parameter 'filter' in the query string: bad percent-escape in the value.");
	TU_QERR(S, CN_TABLE_SearchExperiments, "filter=abc%4", CN_INVALID_PARAMETER_VALUE,
	        "Invalid parameter 'filter' in the query string: bad percent-escape in the value.");
	TU_QERR(S, CN_TABLE_SearchExperiments, "fil%ter=1", CN_INVALID_PARAMETER_VALUE,
	        "Invalid parameter 'fil%ter' in the query string: bad percent-escape in the name.");
	TU_QERR(S, CN_TABLE_SearchExperiments, "filter=%ff", CN_INVALID_PARAMETER_VALUE,
	        "Invalid parameter 'filter' in the query string: the value is not valid UTF-8.");
	TU_QERR(S, CN_TABLE_SearchExperiments, "%ff=1", CN_INVALID_PARAMETER_VALUE,
	        "Invalid parameter '%ff' in the query string: the name is not valid UTF-8.");
	TU_QERR(S, CN_TABLE_SearchExperiments, "filter=%ED%A0%80", CN_INVALID_PARAMETER_VALUE,
	        "Invalid parameter 'filter' in the query string: the value is not valid UTF-8.");
	TU_QERR(S, CN_TABLE_GetExperiment, "", CN_INVALID_PARAMETER_VALUE,
	        "Missing value for required parameter 'experiment_id'." HINT);
	TU_QERR(S, CN_TABLE_GetExperimentResponse, "experiment=x", CN_INVALID_PARAMETER_VALUE,
	        "Invalid parameter 'experiment': a structured field of GetExperimentResponse "
	        "cannot "
	        "be set from the URL; send it in a JSON body.");
	TU_QERR(S, CN_TABLE_CreateExperiment, "name=x&tags=y", CN_INVALID_PARAMETER_VALUE,
	        "Invalid parameter 'tags': a structured field of CreateExperiment cannot be set "
	        "from "
	        "the URL; send it in a JSON body.");
}

CN_TEST(query_scalar_types)
{
	Q_RT(&tu_schema, TU_ALL,
	     "req=&b=true&i8=-5&u16=65535&u64=18446744073709551615&f32=0.5&f64=NaN&color=GREEN"
	     "&colors=RED&colors=7&nums=1&nums=-1&flags=false&flags=true&reals=-Infinity"
	     "&reals=2e3&strs=a&strs=",
	     "{\"b\":true,\"i8\":-5,\"u16\":65535,\"u64\":18446744073709551615,\"f32\":0.5,"
	     "\"f64\":\"NaN\",\"color\":\"GREEN\",\"colors\":[\"RED\",\"BLUE\"],\"nums\":[1,-1],"
	     "\"flags\":[false,true],\"reals\":[\"-Infinity\",2000.0],\"strs\":[\"a\",\"\"],"
	     "\"req\":\"\"}");
	Q_RT(&tu_schema, TU_ALL, "req=x&b=false&old=3", "{\"b\":false,\"req\":\"x\"}");
	TU_QERR(&tu_schema, TU_ALL, "req=&b=1", CN_INVALID_PARAMETER_VALUE,
	        "Invalid value 1 for parameter 'b' supplied: Hint: Value was of type 'str'." HINT);
	TU_QERR(&tu_schema, TU_ALL, "req=&b=True", CN_INVALID_PARAMETER_VALUE,
	        "Invalid value True for parameter 'b' supplied: Hint: Value was of type "
	        "'str'." HINT);
	TU_QERR(&tu_schema, TU_ALL, "req=&i8=128", CN_INVALID_PARAMETER_VALUE,
	        "Invalid value 128 for parameter 'i8' supplied: out of range for int8." HINT);
	TU_QERR(&tu_schema, TU_ALL, "req=&nums=1&nums=x", CN_INVALID_PARAMETER_VALUE,
	        "Invalid value x for parameter 'nums' supplied: expected an integer." HINT);
	TU_QERR(&tu_schema, TU_ALL, "req=&f32=1e40", CN_INVALID_PARAMETER_VALUE,
	        "Invalid value 1e40 for parameter 'f32' supplied: out of range for float." HINT);
	TU_QERR(&tu_schema, TU_ALL, "req=&child=1", CN_INVALID_PARAMETER_VALUE,
	        "Invalid parameter 'child': a structured field of All cannot be set from the URL; "
	        "send it in a JSON body.");
}

CN_TEST(query_extra_overrides)
{
	cn_codec_kv kv[] = {{"experiment_id", "7"}};
	cn_err err;
	char *out = NULL;
	CN_CHECK_EQ_INT(tu_round_trip(S, CN_TABLE_GetExperiment, "experiment_id=1", kv, 1, true,
	                              &out, &err),
	                CN_OK);
	TU_STR(out, "{\"experiment_id\":\"7\"}");
	free(out);
	cn_fb_builder *b = cn_fb_builder_new(0);
	cn_fb_ref root;
	CN_CHECK_EQ_INT(cn_query_decode(S, -1, "", 0, NULL, 0, b, &root, &err), CN_INTERNAL_ERROR);
	CN_CHECK_EQ_INT(cn_query_decode(S, CN_TABLE_Empty, NULL, 0, NULL, 0, b, &root, &err),
	                CN_OK);
	CN_CHECK(root != 0);
	cn_fb_builder_free(b);
}

CN_TEST_MAIN()
