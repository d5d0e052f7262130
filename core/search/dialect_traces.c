/*
 * core/search/dialect_traces.c: MLflow's search_traces filter language
 * (SearchTraceUtils in mlflow/utils/search_utils.py and the SQL store's
 * _get_filter_clauses_for_search_traces), as a dialect of core/search.
 *
 *   attributes (trace. / attribute(s). / bare): request_id, timestamp(_ms),
 *     execution_time(_ms), end_time(_ms), status, client_request_id, name
 *     (the mlflow.traceName tag), run_id (the mlflow.sourceRun metadata),
 *     text (any span's content); Cairn also reads trace_id as request_id
 *     and state as status, the names of MLflow 3's TraceInfoV3 fields;
 *   tags.<key>, metadata.<key> (request_metadata.<key>);
 *   span.name / span.type / span.status / span.attributes.<key>, and
 *     span.content (LIKE / ILIKE only): a trace matches when any span does;
 *   feedback.<name>, expectation.<name>: assessments, compared as quoted
 *     strings (= != LIKE ILIKE RLIKE) or numbers (< <= > >=), or IS [NOT] NULL.
 *
 * What the tables cannot say (span keys and their comparators, which kind of
 * value an assessment comparator takes) is checked by traces_check_clause,
 * with MLflow's messages. Matching a trace is search_traces.h's job.
 */
#include "core/search/search.h"

#include <string.h>

#define OPS_EQ (CN_SEARCH_OPBIT(CN_SEARCH_EQ) | CN_SEARCH_OPBIT(CN_SEARCH_NE))
#define OPS_PATTERN                                                           \
	(CN_SEARCH_OPBIT(CN_SEARCH_LIKE) | CN_SEARCH_OPBIT(CN_SEARCH_ILIKE) | \
	 CN_SEARCH_OPBIT(CN_SEARCH_RLIKE))
#define OPS_ORDERED                                                      \
	(CN_SEARCH_OPBIT(CN_SEARCH_LT) | CN_SEARCH_OPBIT(CN_SEARCH_LE) | \
	 CN_SEARCH_OPBIT(CN_SEARCH_GT) | CN_SEARCH_OPBIT(CN_SEARCH_GE))
#define OPS_TEXT (OPS_EQ | OPS_PATTERN | CN_SEARCH_OPS_LIST)
/* Span and assessment clauses pass every comparator to the parser so that
 * traces_check_clause can refuse the wrong ones with MLflow's wording. */
#define OPS_ANY (OPS_EQ | OPS_PATTERN | OPS_ORDERED | CN_SEARCH_OPS_LIST)
#define KEY_F   CN_SEARCH_KEY_FILTER
#define KEY_FO  (CN_SEARCH_KEY_FILTER | CN_SEARCH_KEY_ORDER)
#define KEY_FL  (CN_SEARCH_KEY_FILTER | CN_SEARCH_KEY_LIST)
#define KEY_FOL (CN_SEARCH_KEY_FILTER | CN_SEARCH_KEY_ORDER | CN_SEARCH_KEY_LIST)

static const cn_search_key dialect_trace_keys[] = {
        {.name = "request_id", .kind = CN_SEARCH_STRING, .ops = OPS_TEXT, .flags = KEY_FOL},
        {.name = "trace_id",
         .canonical = "request_id",
         .kind = CN_SEARCH_STRING,
         .ops = OPS_TEXT,
         .flags = KEY_FOL},
        {.name = "client_request_id", .kind = CN_SEARCH_STRING, .ops = OPS_TEXT, .flags = KEY_FL},
        {.name = "status",
         .kind = CN_SEARCH_STRING,
         .ops = OPS_EQ | CN_SEARCH_OPS_LIST,
         .flags = KEY_FOL},
        {.name = "state",
         .canonical = "status",
         .kind = CN_SEARCH_STRING,
         .ops = OPS_EQ | CN_SEARCH_OPS_LIST,
         .flags = KEY_FOL},
        /* The mlflow.traceName tag and the mlflow.sourceRun metadata. */
        {.name = "name", .kind = CN_SEARCH_STRING, .ops = OPS_TEXT, .flags = KEY_FOL},
        {.name = "run_id",
         .kind = CN_SEARCH_STRING,
         .ops = OPS_EQ | CN_SEARCH_OPS_LIST,
         .flags = KEY_FOL},
        /* Full-text search over every span: span.content. */
        {.name = "text",
         .kind = CN_SEARCH_STRING,
         .ops = CN_SEARCH_OPBIT(CN_SEARCH_LIKE) | CN_SEARCH_OPBIT(CN_SEARCH_ILIKE),
         .flags = KEY_F},
        {.name = "timestamp_ms", .kind = CN_SEARCH_NUMERIC, .flags = KEY_FO},
        {.name = "timestamp",
         .canonical = "timestamp_ms",
         .kind = CN_SEARCH_NUMERIC,
         .flags = KEY_FO},
        {.name = "execution_time_ms", .kind = CN_SEARCH_NUMERIC, .flags = KEY_FO},
        {.name = "execution_time",
         .canonical = "execution_time_ms",
         .kind = CN_SEARCH_NUMERIC,
         .flags = KEY_FO},
        {.name = "end_time_ms", .kind = CN_SEARCH_NUMERIC, .flags = KEY_FO},
        {.name = "end_time",
         .canonical = "end_time_ms",
         .kind = CN_SEARCH_NUMERIC,
         .flags = KEY_FO},
        /* Order only; numeric because ids order as numbers ("9" < "10"). */
        {.name = "experiment_id", .kind = CN_SEARCH_NUMERIC, .flags = CN_SEARCH_KEY_ORDER},
        {0},
};

static const char traces_span_ops_text[] = "{'!=', '=', 'ILIKE', 'IN', 'LIKE', 'NOT IN', 'RLIKE'}";
static const char traces_content_ops_text[] = "{'ILIKE', 'LIKE'}";

static bool traces_has_prefix(const char *s, const char *prefix)
{
	return strncmp(s, prefix, strlen(prefix)) == 0;
}

/* MLflow's is_span: which span fields exist and what each compares with. */
static cn_code traces_check_span(const cn_search_clause *c, cn_err *err)
{
	unsigned field_ops = OPS_EQ | OPS_PATTERN | CN_SEARCH_OPS_LIST;
	const char *ops_text = traces_span_ops_text;
	const char *k = c->key;
	if (traces_has_prefix(k, "attributes.")) {
		if (!k[strlen("attributes.")])
			return cn_err_set(
			        err, CN_INVALID_PARAMETER_VALUE,
			        "Span attribute name cannot be empty after 'attributes.'");
	} else if (strcmp(k, "content") == 0) {
		field_ops = CN_SEARCH_OPBIT(CN_SEARCH_LIKE) | CN_SEARCH_OPBIT(CN_SEARCH_ILIKE);
		ops_text = traces_content_ops_text;
	} else if (strcmp(k, "name") != 0 && strcmp(k, "type") != 0 && strcmp(k, "status") != 0) {
		return cn_err_set(
		        err, CN_INVALID_PARAMETER_VALUE,
		        "Invalid span attribute '%s'. Supported attributes: name, status, "
		        "type, attributes.<attribute_name>.",
		        k);
	}
	if (field_ops & CN_SEARCH_OPBIT(c->op))
		return CN_OK;
	return cn_err_set(err, CN_INVALID_PARAMETER_VALUE,
	                  "span.%s comparator '%s' not one of '%s'", k, cn_search_op_name(c->op),
	                  ops_text);
}

/* MLflow's _validate_assessment_comparison_value: < <= > >= take numbers,
 * every other comparator a quoted string. */
static cn_code traces_check_assessment(const cn_search_clause *c, const char *what, cn_err *err)
{
	if (c->op == CN_SEARCH_IS_NULL || c->op == CN_SEARCH_IS_NOT_NULL)
		return CN_OK;
	bool numeric_op = (OPS_ORDERED & CN_SEARCH_OPBIT(c->op)) != 0;
	bool number = c->value.type == CN_SEARCH_V_NUMBER;
	if (numeric_op && !number)
		return cn_err_set(err, CN_INVALID_PARAMETER_VALUE,
		                  "Expected a numeric value for %s when using comparator '%s'. Got "
		                  "value '%s'",
		                  what, cn_search_op_name(c->op), c->value.str ? c->value.str : "");
	if (!numeric_op && (number || c->value.type == CN_SEARCH_V_LIST))
		return cn_err_set(
		        err, CN_INVALID_PARAMETER_VALUE,
		        "Expected a quoted string value for %s (e.g. 'my-value'). Got value "
		        "%s",
		        what, number && c->value.str ? c->value.str : "(...)");
	return CN_OK;
}

static cn_code traces_check_clause(const cn_search_clause *c, cn_err *err)
{
	switch (c->entity) {
	case CN_SEARCH_SPAN: return traces_check_span(c, err);
	case CN_SEARCH_FEEDBACK: return traces_check_assessment(c, "feedback", err);
	case CN_SEARCH_EXPECTATION: return traces_check_assessment(c, "expectation", err);
	default: return CN_OK;
	}
}

const cn_search_dialect cn_search_dialect_traces = {
        .name = "traces",
        .entities =
                {
                        [CN_SEARCH_ATTRIBUTE] =
                                {
                                        .name = "attribute",
                                        .prefixes = (const char *const[]){"attribute", "attributes",
                                                                          "trace", NULL},
                                        .keys = dialect_trace_keys,
                                        .string_ops = OPS_TEXT,
                                        .numeric_ops = CN_SEARCH_OPS_NUMERIC,
                                        .orderable = true,
                                        .value_label = "attributes",
                                        .list_error = "Only attributes in {'name', 'status', "
                                                      "'request_id', 'run_id', "
                                                      "'client_request_id'} supports comparison "
                                                      "with a list of quoted string values.",
                                },
                        [CN_SEARCH_TAG] =
                                {
                                        .name = "tag",
                                        .prefixes = (const char *const[]){"tag", "tags", NULL},
                                        .kind = CN_SEARCH_STRING,
                                        .string_ops = OPS_TEXT,
                                        .lists = true,
                                        .orderable = true,
                                },
                        [CN_SEARCH_METADATA] =
                                {
                                        .name = "request_metadata",
                                        .prefixes = (const char *const[]){"request_metadata",
                                                                          "metadata", NULL},
                                        .kind = CN_SEARCH_STRING,
                                        .string_ops = OPS_EQ | OPS_PATTERN,
                                        .orderable = true,
                                },
                        [CN_SEARCH_SPAN] =
                                {
                                        .name = "span",
                                        .prefixes = (const char *const[]){"span", NULL},
                                        .kind = CN_SEARCH_STRING,
                                        .string_ops = OPS_ANY,
                                        .lists = true,
                                },
                        [CN_SEARCH_FEEDBACK] =
                                {
                                        .name = "feedback",
                                        .prefixes = (const char *const[]){"feedback", NULL},
                                        .kind = CN_SEARCH_STRING,
                                        .string_ops = OPS_EQ | OPS_PATTERN | OPS_ORDERED,
                                        .null_checks = true,
                                        .numbers = true,
                                },
                        [CN_SEARCH_EXPECTATION] =
                                {
                                        .name = "expectation",
                                        .prefixes = (const char *const[]){"expectation", NULL},
                                        .kind = CN_SEARCH_STRING,
                                        .string_ops = OPS_EQ | OPS_PATTERN | OPS_ORDERED,
                                        .null_checks = true,
                                        .numbers = true,
                                },
                },
        .bare = CN_SEARCH_ATTRIBUTE,
        .trim_prefix_backticks = true,
        .quote_invalid_clauses = true,
        .entity_error = "Valid values are {'tag', 'request_metadata', 'attribute', 'span', "
                        "'feedback', 'expectation', 'tags', 'attributes', 'trace', 'metadata'}",
        .null_check_error = "IS NULL / IS NOT NULL is only supported for feedback and expectation",
        /* Newest first, then trace id, as MLflow's SQL store. */
        .default_order = (const char *const[]){"timestamp_ms DESC", NULL},
        .tiebreak_order = (const char *const[]){"timestamp_ms DESC", "request_id ASC", NULL},
        .check_clause = traces_check_clause,
};
