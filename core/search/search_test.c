/* core/search/search_test.c: parsing filters and order_by clauses, against
 * MLflow's behaviour (tests/utils/test_search_utils.py and its messages). */
#include "core/search/search.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cn_test.h"

static const cn_search_dialect *const X = &cn_search_dialect_experiments;
static const cn_search_dialect *const R = &cn_search_dialect_runs;

/* ---- helpers ------------------------------------------------------------ */

static void fail_case(int line, const char *what, const char *input, const char *got,
                      const char *want)
{
	char m[2048];
	snprintf(m, sizeof m, "%s [%s]: got \"%s\", want \"%s\"", what, input, got, want);
	cn_test_fail(__FILE__, line, m);
}

/* err.msg against a message, reported with the caller's line. */
static void check_msg(const char *got, const char *want, int line)
{
	if (strcmp(got, want) != 0)
		fail_case(line, "message", "", got, want);
}
#define CHECK_MSG(got, want) check_msg(got, want, __LINE__)

static cn_search_filter *parse_ok(const cn_search_dialect *d, const char *s, int line)
{
	cn_search_filter *f = NULL;
	cn_err err;
	if (cn_search_filter_parse(d, s, strlen(s), &f, &err) != CN_OK)
		fail_case(line, "parse failed", s, err.msg, "success");
	return f;
}

static void expect_err(const cn_search_dialect *d, const char *s, const char *msg, int line)
{
	cn_search_filter *f = (cn_search_filter *)1;
	cn_err err;
	cn_code rc = cn_search_filter_parse(d, s, strlen(s), &f, &err);
	if (rc != CN_INVALID_PARAMETER_VALUE || err.code != rc)
		fail_case(line, "expected INVALID_PARAMETER_VALUE", s, rc == CN_OK ? "OK" : err.msg,
		          msg);
	else if (strcmp(err.msg, msg) != 0)
		fail_case(line, "message", s, err.msg, msg);
	if (f) {
		fail_case(line, "out not NULL on error", s, "non-NULL", "NULL");
		if (rc == CN_OK)
			cn_search_filter_free(f);
	}
}

/* Renders a clause as "entity|key|op|value" for table comparison; lists as
 * [a,b], strings as 'x', numbers as their text. */
static void render(const cn_search_clause *c, char *out, size_t n)
{
	static const char *const ents[] = {"attribute", "metric",   "param",
	                                   "tag",       "dataset",  "metadata",
	                                   "span",      "feedback", "expectation"};
	int k = snprintf(out, n, "%s|%s|%s|", ents[c->entity], c->key, cn_search_op_name(c->op));
	size_t o = (size_t)k;
	switch (c->value.type) {
	case CN_SEARCH_V_NONE: snprintf(out + o, n - o, "-"); break;
	case CN_SEARCH_V_STRING: snprintf(out + o, n - o, "'%s'", c->value.str); break;
	case CN_SEARCH_V_NUMBER: snprintf(out + o, n - o, "%s", c->value.str); break;
	case CN_SEARCH_V_LIST:
		o += (size_t)snprintf(out + o, n - o, "[");
		for (size_t i = 0; i < c->value.count && o < n; i++)
			o += (size_t)snprintf(out + o, n - o, "%s%s", i ? "," : "",
			                      c->value.items[i]);
		if (o < n)
			snprintf(out + o, n - o, "]");
		break;
	}
}

/* want: clauses rendered as above, joined by " ; ". */
static void expect_ast(const cn_search_dialect *d, const char *s, const char *want, int line)
{
	cn_search_filter *f = parse_ok(d, s, line);
	if (!f)
		return;
	char got[4096] = "", one[1024];
	size_t o = 0;
	for (size_t i = 0; i < cn_search_filter_count(f); i++) {
		render(cn_search_filter_clause(f, i), one, sizeof one);
		o += (size_t)snprintf(got + o, sizeof got - o, "%s%s", i ? " ; " : "", one);
	}
	if (strcmp(got, want) != 0)
		fail_case(line, "AST", s, got, want);
	cn_search_filter_free(f);
}

#define AST(d, s, w) expect_ast(d, s, w, __LINE__)
#define ERR(d, s, m) expect_err(d, s, m, __LINE__)

/* ---- valid filters ------------------------------------------------------ */

CN_TEST(runs_valid_filters)
{
	AST(R, "", "");
	AST(R, "  \t\n ", "");
	AST(R, "metric.acc >= 0.94", "metric|acc|>=|0.94");
	AST(R, "metric.acc>=100", "metric|acc|>=|100");
	AST(R, "params.m!='tf'", "param|m|!=|'tf'");
	AST(R, "params.\"m\"!=\"tf\"", "param|m|!=|'tf'");
	AST(R, "metric.\"legit name\" >= 0.243", "metric|legit name|>=|0.243");
	AST(R, "metrics.XYZ = 3", "metric|XYZ|=|3");
	AST(R, "params.\"cat dog\" = \"pets\"", "param|cat dog|=|'pets'");
	AST(R, "metrics.\"X-Y-Z\" = 3", "metric|X-Y-Z|=|3");
	AST(R, "metrics.\"X//Y#$$@&Z\" = 3", "metric|X//Y#$$@&Z|=|3");
	AST(R, "params.model = 'LinearRegression'", "param|model|=|'LinearRegression'");
	AST(R, "metrics.rmse < 1 and params.model_class = 'LR'",
	    "metric|rmse|<|1 ; param|model_class|=|'LR'");
	AST(R, "`metric`.a >= 0.1", "metric|a|>=|0.1");
	AST(R, "tags.version = 'commit-hash'", "tag|version|=|'commit-hash'");
	AST(R, "`tags`.source_name = 'a notebook'", "tag|source_name|=|'a notebook'");
	AST(R, "metrics.\"accuracy.2.0\" > 5", "metric|accuracy.2.0|>|5");
	AST(R, "metrics.`spacey name` > 5", "metric|spacey name|>|5");
	AST(R, "params.\"p.a.r.a.m\" != \"a\"", "param|p.a.r.a.m|!=|'a'");
	AST(R, "tags.\"t.a.g\" = \"a\"", "tag|t.a.g|=|'a'");
	AST(R, "tags.'quoted key' = 'v'", "tag|quoted key|=|'v'");
	AST(R, "metrics.a.b > 1", "metric|a.b|>|1");
	AST(R, "attribute.artifact_uri = '1/23/4'", "attribute|artifact_uri|=|'1/23/4'");
	AST(R, "attribute.start_time >= 1234", "attribute|start_time|>=|1234");
	AST(R, "run.status = 'RUNNING'", "attribute|status|=|'RUNNING'");
	AST(R, "attr.user_id like 'a%' AND status ILIKE '%fail%'",
	    "attribute|user_id|LIKE|'a%' ; attribute|status|ILIKE|'%fail%'");
	AST(R, "dataset.name = 'my_dataset'", "dataset|name|=|'my_dataset'");
	AST(R, "datasets.context IN ('train', \"eval\")", "dataset|context|IN|[train,eval]");
	AST(R, "params.m = \"L'Hosp\"", "param|m|=|'L'Hosp'");
	/* Scalar strings are verbatim between the quotes, as MLflow's. */
	AST(R, "params.m = 'L''Hosp'", "param|m|=|'L''Hosp'");
	AST(R, "params.p = 'C:\\dir\\'", "param|p|=|'C:\\dir\\'");
	AST(R, "tags.version IS NULL", "tag|version|IS NULL|-");
	AST(R, "tags.version is not null", "tag|version|IS NOT NULL|-");
	AST(R, "params.lr IS NULL", "param|lr|IS NULL|-");
	AST(R, "tags.a IS NULL AND params.b = 'val'", "tag|a|IS NULL|- ; param|b|=|'val'");
	AST(R, "attributes.run_id IN ('a1', \"b2\",)", "attribute|run_id|IN|[a1,b2]");
	AST(R, "run_id not in ('x')", "attribute|run_id|NOT IN|[x]");
	/* List items are Python literals: escapes and concatenation apply. */
	AST(R, "run_id IN ('a\\'b' 'c', '\\x41\\u00e9\\101')",
	    "attribute|run_id|IN|[a'bc,A\xc3\xa9\x41]");
	AST(R, "created > 5", "attribute|start_time|>|5");
	AST(R, "attributes.Created < 5", "attribute|start_time|<|5");
	AST(R, "`Run name` = 'r'", "attribute|run_name|=|'r'");
	AST(R, "attributes.\"run name\" = 'r'", "attribute|run_name|=|'r'");
	AST(R, "metrics.loss < -1.5e-3 AND metrics.n > .5 AND metrics.m = -2",
	    "metric|loss|<|-1.5e-3 ; metric|n|>|.5 ; metric|m|=|-2");
	AST(R, "tags.`mlflow.runName` = 'x'", "tag|mlflow.runName|=|'x'");
	AST(R, "tags.\xc3\xa9t\xc3\xa9 = '\xe2\x9c\x93'", "tag|\xc3\xa9t\xc3\xa9|=|'\xe2\x9c\x93'");
}

CN_TEST(experiments_valid_filters)
{
	AST(X, "name = 'a'", "attribute|name|=|'a'");
	AST(X, "\"name\" = \"exp\"", "attribute|name|=|'exp'");
	AST(X, "name LIKE 'x%' AND tags.owner = 'me'",
	    "attribute|name|LIKE|'x%' ; tag|owner|=|'me'");
	AST(X, "creation_time > 100 AND attribute.last_update_time <= 5",
	    "attribute|creation_time|>|100 ; attribute|last_update_time|<=|5");
	AST(X, "tag.`a b` ILIKE 'x' and tags.k IS NOT NULL",
	    "tag|a b|ILIKE|'x' ; tag|k|IS NOT NULL|-");
	AST(X, "name != ''", "attribute|name|!=|''");
}

CN_TEST(clause_fields)
{
	cn_search_filter *f =
	        parse_ok(R, "metrics.m >= 3 AND created < 1.5 AND run_id IN ('a')", __LINE__);
	CN_CHECK(f != NULL);
	if (!f)
		return;
	const cn_search_clause *c = cn_search_filter_clause(f, 0);
	CN_CHECK_EQ_INT(c->entity, CN_SEARCH_METRIC);
	CN_CHECK_EQ_INT(c->kind, CN_SEARCH_NUMERIC);
	CN_CHECK(c->attr == NULL);
	CN_CHECK(c->value.is_int && c->value.i == 3 && c->value.num == 3.0);
	c = cn_search_filter_clause(f, 1);
	CN_CHECK(c->attr != NULL && strcmp(c->attr->name, "created") == 0);
	CN_CHECK_STR(c->key, "start_time");
	CN_CHECK(!c->value.is_int && c->value.num == 1.5);
	c = cn_search_filter_clause(f, 2);
	CN_CHECK_EQ_INT(c->value.type, CN_SEARCH_V_LIST);
	CN_CHECK_EQ_INT(c->value.count, 1);
	CN_CHECK_EQ_INT(c->value.item_lens[0], 1);
	CN_CHECK(cn_search_filter_clause(f, 3) == NULL);
	cn_search_filter_free(f);
	cn_search_filter_free(NULL);
	CN_CHECK_EQ_INT(cn_search_filter_count(NULL), 0);

	/* NULL text is the empty filter; err may be NULL. */
	f = NULL;
	CN_CHECK_EQ_INT(cn_search_filter_parse(R, NULL, 5, &f, NULL), CN_OK);
	CN_CHECK(f != NULL && cn_search_filter_count(f) == 0);
	cn_search_filter_free(f);
	CN_CHECK_EQ_INT(cn_search_filter_parse(R, "x", 1, &f, NULL), CN_INVALID_PARAMETER_VALUE);
	CN_CHECK(f == NULL);
	/* Length-delimited: bytes past len are not read. */
	CN_CHECK_EQ_INT(cn_search_filter_parse(R, "metrics.a > 1 garbage", 13, &f, NULL), CN_OK);
	CN_CHECK_EQ_INT(cn_search_filter_count(f), 1);
	cn_search_filter_free(f);
}

/* ---- invalid filters ---------------------------------------------------- */

#define RUN_KEYS                                                                                 \
	"{'run_id', 'run_name', 'user_id', 'status', 'artifact_uri', 'start_time', 'end_time', " \
	"'created', 'Created', 'run name', 'Run name', 'Run Name'}"
#define ENTITY_R "Valid values are ['metric', 'parameter', 'tag', 'attribute', 'dataset']"
#define OPS_NUM  "{'=', '!=', '<', '<=', '>', '>='}"
#define OPS_STR  "{'=', '!=', 'LIKE', 'ILIKE'}"
#define RUN_LIST \
	"Only the 'run_id' attribute supports comparison with a list of quoted string values."
#define ILL                                                                                       \
	"While parsing a list in the query, expected a non-empty list of string values, but got " \
	"ill-formed list."

CN_TEST(runs_invalid_filters)
{
	ERR(R, "metric.acc >= 0.94; metrics.rmse < 1",
	    "Search filter contained multiple expression 'metric.acc >= 0.94; metrics.rmse < 1'. "
	    "Provide AND-ed expression list.");
	ERR(R, "m.acc >= 0.94", "Invalid entity type 'm'. " ENTITY_R);
	ERR(R, "Metrics.acc >= 0.94", "Invalid entity type 'Metrics'. " ENTITY_R);
	ERR(R, "attri.x != 1", "Invalid entity type 'attri'. " ENTITY_R);
	ERR(R, "acc >= 0.94",
	    "Invalid attribute key 'acc' specified. Valid keys are '" RUN_KEYS "'");
	ERR(R, "attribute.experiment_id != 1",
	    "Invalid attribute key 'experiment_id' specified. Valid keys are '" RUN_KEYS "'");
	ERR(R, "attribute.lifecycle_stage = 'ACTIVE'",
	    "Invalid attribute key 'lifecycle_stage' specified. Valid keys are '" RUN_KEYS "'");
	ERR(R, "dataset.profile = 'num_rows: 10'",
	    "Invalid dataset key 'profile' specified. Valid keys are '{'name', 'digest', "
	    "'context'}'");
	ERR(R, "metrics.A > 0.1 OR params.B = 'LR'", "Invalid clause(s) in filter string: 'OR'");
	ERR(R, "metrics.A > 0.1 NAND params.B = 'LR'",
	    "Invalid clause(s) in filter string: 'NAND'");
	ERR(R, "metrics.A > 0.1 AND (params.B = 'LR')",
	    "Invalid clause(s) in filter string: '(params.B = 'LR')'");
	ERR(R, "`metrics.A > 0.1", "Invalid clause(s) in filter string: '`metrics.A > 0.1'");
	ERR(R, "param`.A > 0.1", "Invalid clause(s) in filter string: 'param`.A > 0.1'");
	ERR(R, "attribute.status = true",
	    "Invalid clause(s) in filter string: 'attribute.status = true'");
	ERR(R, "params.'acc = LR", "Invalid clause(s) in filter string: 'params.'acc = LR'");
	ERR(R, "params.acc = 'LR", "Invalid clause(s) in filter string: 'params.acc = 'LR'");
	ERR(R, "tags.acc = \"LR'", "Invalid clause(s) in filter string: 'tags.acc = \"LR''");
	ERR(R, "tags.acc = = 'LR'", "Invalid clause(s) in filter string: 'tags.acc = ='");
	ERR(R, "attribute.status IS 'RUNNING'",
	    "Invalid clause(s) in filter string: 'attribute.status IS 'RUNNING''");
	ERR(R, "params.acc LR !=", "Invalid clause(s) in filter string: 'params.acc LR'");
	ERR(R, "metric.acc !=", "Invalid clause(s) in filter string: 'metric.acc !='");
	ERR(R, "metrics.a > 1 AND", "Invalid clause(s) in filter string: 'AND'");
	ERR(R, "AND metrics.a > 1", "Invalid clause(s) in filter string: 'AND'");
	ERR(R, "metrics.a > 1 metrics.b < 2", "Invalid clause(s) in filter string: 'metrics.b'");
	ERR(R, "metrics.a > 1;", "Invalid clause(s) in filter string: ';'");
	ERR(R, "metrics. > 1", "Invalid clause(s) in filter string: 'metrics.'");
	ERR(R, "metrics.a > 1abc", "Invalid clause(s) in filter string: 'metrics.a > 1abc'");
	ERR(R, "run_id IN 'a'", "Invalid clause(s) in filter string: 'run_id IN 'a''");
	ERR(R, "metrics.acc IS NULL",
	    "IS NULL / IS NOT NULL is only supported for tags and params, not for metric 'acc'");
	ERR(R, "attribute.status IS NOT NULL",
	    "IS NULL / IS NOT NULL is only supported for tags and params, not for attribute "
	    "'status'");
	ERR(R, "metric.model = 'LR'", "Expected numeric value type for metric. Found 'LR'");
	ERR(R, "metric.model = '5'", "Expected numeric value type for metric. Found '5'");
	ERR(R, "metrics.acc != metrics.acc",
	    "Expected numeric value type for metric. Found metrics.acc");
	ERR(R, "params.acc = 5",
	    "Expected a quoted string value for parameter (e.g. 'my-value'). Got value 5");
	ERR(R, "tags.acc = 5",
	    "Expected a quoted string value for tag (e.g. 'my-value'). Got value 5");
	ERR(R, "tags.a IN ('x')",
	    "Expected a quoted string value for tag (e.g. 'my-value'). Got value ('x')");
	ERR(R, "attribute.status = 1",
	    "Expected a quoted string value for attributes. Got value 1");
	ERR(R, "datasets.name = 40",
	    "Expected a quoted string value for dataset attributes. Got value 40");
	ERR(R, "attributes.start_time = 'now'",
	    "Expected numeric value type for numeric attribute: start_time. Found 'now'");
	ERR(R, "created IN ('1')",
	    "Expected numeric value type for numeric attribute: created. Found ('1')");
	ERR(R, "1.0 > metrics.acc", "Invalid comparison clause. Expected 'Identifier' found '1.0'");
	ERR(R, "1=1", "Invalid comparison clause. Expected 'Identifier' found '1'");
	ERR(R, "1==2", "Invalid comparison clause. Expected 'Identifier' found '1'");
	ERR(R, "'a' LIKE 'b'", "Invalid comparison clause. Expected 'Identifier' found ''a''");
	ERR(R, "params.acc = LR",
	    "Parameter value is either not quoted or unidentified quote types used for string "
	    "value LR. Use either single or double quotes.");
	ERR(R, "params.acc = `LR`",
	    "Parameter value is either not quoted or unidentified quote types used for string "
	    "value `LR`. Use either single or double quotes.");
	ERR(R, "metrics.abc ~ 1", "Invalid comparator '~' not one of '" OPS_NUM "'");
	ERR(R, "metrics.abc ~= 1", "Invalid comparator '~=' not one of '" OPS_NUM "'");
	ERR(R, "metrics.abc <> 1", "Invalid comparator '<>' not one of '" OPS_NUM "'");
	ERR(R, "metrics.abc LIKE 1", "Invalid comparator 'LIKE' not one of '" OPS_NUM "'");
	ERR(R, "params.abc > 'x'", "Invalid comparator '>' not one of '" OPS_STR "'");
	ERR(R, "`params`.model >= 'LR'", "Invalid comparator '>=' not one of '" OPS_STR "'");
	ERR(R, "tags.a not like 'x'", "Invalid comparator 'NOT LIKE' not one of '" OPS_STR "'");
	ERR(R, "tags.a RLIKE 'x'", "Invalid comparator 'RLIKE' not one of '" OPS_STR "'");
	ERR(R, "attributes.status < 'x'",
	    "Invalid comparator '<' not one of '{'=', '!=', 'LIKE', 'ILIKE', 'IN', 'NOT IN'}'");
	ERR(R, "attributes.start_time like 1234",
	    "Invalid comparator 'LIKE' not one of '" OPS_NUM "'");
	ERR(R, "datasets.name >= 'x'",
	    "Invalid comparator '>=' not one of '{'=', '!=', 'LIKE', 'ILIKE', 'IN', 'NOT IN'}'");
	ERR(R, "attributes.run_name IN ('foo','bar')", RUN_LIST);
	ERR(R, "run_id = ('a')", "Invalid comparator '=' for a list of values: use IN or NOT IN");
	ERR(R, "run_id IN ()",
	    "While parsing a list in the query, expected a non-empty list of string values, but "
	    "got empty list");
	ERR(R, "run_id IN (1, 2)",
	    "While parsing a list in the query, expected string value, punctuation, or whitespace, "
	    "but got different type in list: (1, 2)");
	ERR(R, "run_id IN ('a', None)",
	    "While parsing a list in the query, expected string value, punctuation, or whitespace, "
	    "but got different type in list: ('a', None)");
	ERR(R, "run_id IN ('a' 'b' c)", ILL);
	ERR(R, "run_id IN ('a',,)", ILL);
	ERR(R, "run_id IN (,)", ILL);
	ERR(R, "run_id IN ('a' , 'b' 'c' ,'d' x)", ILL);
	ERR(R, "run_id IN ('\\x4')", ILL);
	ERR(R, "run_id IN ('\\ud800')", ILL);
	ERR(R, "run_id IN (('a'))", ILL);
	ERR(R, "run_id IN ('a'", "Invalid clause(s) in filter string: 'run_id IN ('a''");
}

CN_TEST(experiments_invalid_filters)
{
	const char *keys = "{'name', 'creation_time', 'last_update_time'}";
	char m[512];
	ERR(X, "attributes.name = 'x'",
	    "Invalid entity type 'attributes'. Valid entity types are ('attribute', 'tag', "
	    "'tags')");
	ERR(X, "`tags`.a = 'x'",
	    "Invalid entity type '`tags`'. Valid entity types are ('attribute', 'tag', 'tags')");
	ERR(X, "metrics.a > 1",
	    "Invalid entity type 'metrics'. Valid entity types are ('attribute', 'tag', 'tags')");
	snprintf(m, sizeof m, "Invalid attribute key 'foo' specified. Valid keys are '%s'", keys);
	ERR(X, "foo = 'x'", m);
	snprintf(m, sizeof m,
	         "Invalid attribute key 'experiment_id' specified. Valid keys are '%s'", keys);
	ERR(X, "experiment_id = 1", m);
	ERR(X, "name IN ('a')", RUN_LIST);
	ERR(X, "tags.a IN ('a')",
	    "Expected a quoted string value for tag (e.g. 'my-value'). Got value ('a')");
	ERR(X, "name > 'a'", "Invalid comparator for string attribute: >");
	ERR(X, "creation_time LIKE 5", "Invalid comparator for numeric attribute: LIKE");
	ERR(X, "tags.a > 'x'", "Invalid comparator for tag: >");
	ERR(X, "name IS NULL",
	    "IS NULL / IS NOT NULL is only supported for tags, not for attribute 'name'");
	ERR(X, "name = 'a' OR name = 'b'", "Invalid clause(s) in filter string: OR");
	ERR(X, "creation_time = '5'",
	    "Expected numeric value type for numeric attribute: creation_time. Found '5'");
	ERR(X, "name = 5", "Expected a quoted string value for attributes. Got value 5");
}

CN_TEST(filter_limits)
{
	size_t n = CN_SEARCH_FILTER_MAX_LEN + 1;
	char *big = malloc(n + 1);
	CN_CHECK(big != NULL);
	if (!big)
		return;
	memset(big, ' ', n);
	big[n] = '\0';
	cn_search_filter *f = NULL;
	cn_err err;
	CN_CHECK_EQ_INT(cn_search_filter_parse(R, big, n, &f, &err), CN_INVALID_PARAMETER_VALUE);
	CN_CHECK(strstr(err.msg, "longer than the limit of 65536 bytes") != NULL);

	/* 1001 clauses, each 14 bytes: under the length limit, over the count. */
	size_t o = 0;
	for (int i = 0; i <= CN_SEARCH_MAX_CLAUSES; i++)
		o += (size_t)snprintf(big + o, n + 1 - o, "%stags.a = 'x'", i ? " AND " : "");
	CN_CHECK_EQ_INT(cn_search_filter_parse(R, big, o, &f, &err), CN_INVALID_PARAMETER_VALUE);
	CHECK_MSG(err.msg, "Too many clauses in the filter string: at most 1000 are allowed.");
	/* Exactly the limit parses. */
	o -= strlen(" AND tags.a = 'x'");
	CN_CHECK_EQ_INT(cn_search_filter_parse(R, big, o, &f, &err), CN_OK);
	CN_CHECK_EQ_INT(cn_search_filter_count(f), CN_SEARCH_MAX_CLAUSES);
	cn_search_filter_free(f);

	o = (size_t)snprintf(big, n + 1, "run_id IN (");
	for (int i = 0; i <= CN_SEARCH_MAX_LIST; i++)
		o += (size_t)snprintf(big + o, n + 1 - o, "'a',");
	o += (size_t)snprintf(big + o, n + 1 - o, ")");
	CN_CHECK_EQ_INT(cn_search_filter_parse(R, big, o, &f, &err), CN_INVALID_PARAMETER_VALUE);
	CHECK_MSG(err.msg,
	          "Too many values in a list in the filter string: at most 10000 are allowed.");

	/* An embedded NUL cannot be part of a filter. */
	CN_CHECK_EQ_INT(cn_search_filter_parse(R, "name\0x", 6, &f, &err),
	                CN_INVALID_PARAMETER_VALUE);
	CHECK_MSG(err.msg, "Invalid filter 'name'. Could not be parsed.");
	free(big);
}

/* ---- order_by ----------------------------------------------------------- */

static void expect_order(const cn_search_dialect *d, const char *s, cn_search_entity e,
                         const char *key, bool asc, int line)
{
	cn_search_order o;
	cn_err err;
	if (cn_search_order_parse(d, s, &o, &err) != CN_OK) {
		fail_case(line, "order_by failed", s, err.msg, key);
		return;
	}
	if (o.entity != e || strcmp(o.key, key) != 0 || o.ascending != asc)
		fail_case(line, "order_by", s, o.key, key);
}

static void expect_order_err(const cn_search_dialect *d, const char *s, const char *msg, int line)
{
	cn_search_order o;
	cn_err err;
	if (cn_search_order_parse(d, s, &o, &err) != CN_INVALID_PARAMETER_VALUE)
		fail_case(line, "order_by should fail", s, "OK", msg);
	else if (strcmp(err.msg, msg) != 0)
		fail_case(line, "order_by message", s, err.msg, msg);
}

#define ORD(d, s, e, k, a) expect_order(d, s, e, k, a, __LINE__)
#define ORDERR(d, s, m)    expect_order_err(d, s, m, __LINE__)

CN_TEST(order_by_runs)
{
	ORD(R, "metrics.acc", CN_SEARCH_METRIC, "acc", true);
	ORD(R, "metrics.`Mean Square Error`", CN_SEARCH_METRIC, "Mean Square Error", true);
	ORD(R, "metrics.`Mean Square Error` DESC", CN_SEARCH_METRIC, "Mean Square Error", false);
	ORD(R, "metrics.\"a.b\" desc", CN_SEARCH_METRIC, "a.b", false);
	ORD(R, "  params.p   asc ", CN_SEARCH_PARAM, "p", true);
	ORD(R, "tags.`my tag` desc", CN_SEARCH_TAG, "my tag", false);
	ORD(R, "attributes.start_time DESC", CN_SEARCH_ATTRIBUTE, "start_time", false);
	ORD(R, "created", CN_SEARCH_ATTRIBUTE, "start_time", true);
	ORD(R, "run_id ASC", CN_SEARCH_ATTRIBUTE, "run_id", true);
	ORD(R, "`metrics`.x", CN_SEARCH_METRIC, "x", true);
	ORDERR(R, "", "Invalid order_by clause ''. Could not be parsed.");
	ORDERR(R, "name DESC DESC",
	       "Invalid order_by clause 'name DESC DESC'. Could not be parsed.");
	ORDERR(R, "metrics.acc = 1",
	       "Invalid order_by clause 'metrics.acc = 1'. Could not be parsed.");
	ORDERR(R, "metrics.acc, params.p",
	       "Invalid order_by clause 'metrics.acc, params.p'. Could not be parsed.");
	ORDERR(R, "'metrics.acc'", "Invalid order_by clause ''metrics.acc''. Could not be parsed.");
	ORDERR(R, "metrics.acc sideways",
	       "Invalid ordering key in order_by clause 'metrics.acc sideways'.");
	ORDERR(R, "m.x", "Invalid entity type 'm'. " ENTITY_R);
	ORDERR(R, "datasets.name", "Invalid order_by entity: dataset");
	ORDERR(R, "`Run name`",
	       "Invalid attribute key 'Run name' specified. Valid keys are '{'run_id', 'run_name', "
	       "'user_id', 'status', 'artifact_uri', 'start_time', 'end_time', 'created', "
	       "'Created'}'");
	cn_search_order o;
	CN_CHECK_EQ_INT(cn_search_order_parse(R, NULL, &o, NULL), CN_INVALID_PARAMETER_VALUE);
	char big[CN_SEARCH_ORDER_MAX_LEN + 20];
	memset(big, 'a', sizeof big - 1);
	big[sizeof big - 1] = '\0';
	cn_err err;
	CN_CHECK_EQ_INT(cn_search_order_parse(R, big, &o, &err), CN_INVALID_PARAMETER_VALUE);
	memcpy(big, "tags.", 5);
	big[CN_SEARCH_ORDER_MAX_LEN - 1] = '\0';
	CN_CHECK_EQ_INT(cn_search_order_parse(R, big, &o, &err), CN_INVALID_PARAMETER_VALUE);
	CHECK_MSG(err.msg, "Invalid order_by clause: the key is longer than 1023 bytes.");
}

CN_TEST(order_by_experiments)
{
	ORD(X, "name", CN_SEARCH_ATTRIBUTE, "name", true);
	ORD(X, "name ASC", CN_SEARCH_ATTRIBUTE, "name", true);
	ORD(X, "creation_time desc", CN_SEARCH_ATTRIBUTE, "creation_time", false);
	ORD(X, "attribute.last_update_time", CN_SEARCH_ATTRIBUTE, "last_update_time", true);
	ORD(X, "experiment_id DESC", CN_SEARCH_ATTRIBUTE, "experiment_id", false);
	ORDERR(X, "tags.x", "Invalid order_by entity: tag");
	ORDERR(X, "attributes.creation_time DESC",
	       "Invalid entity type 'attributes'. Valid entity types are ('attribute', 'tag', "
	       "'tags')");
	ORDERR(X, "foo",
	       "Invalid attribute key 'foo' specified. Valid keys are '{'name', 'creation_time', "
	       "'last_update_time', 'experiment_id'}'");
	cn_search_order o;
	CN_CHECK_EQ_INT(cn_search_order_parse(X, "experiment_id", &o, NULL), CN_OK);
	CN_CHECK_EQ_INT(o.kind, CN_SEARCH_NUMERIC);
	CN_CHECK(o.attr != NULL);
}

CN_TEST(dialect_default_orders_parse)
{
	const cn_search_dialect *ds[] = {X, R};
	for (size_t i = 0; i < 2; i++) {
		const char *const *lists[] = {ds[i]->default_order, ds[i]->tiebreak_order};
		for (size_t l = 0; l < 2; l++)
			for (const char *const *c = lists[l]; c && *c; c++) {
				cn_search_order o;
				cn_err err;
				if (cn_search_order_parse(ds[i], *c, &o, &err) != CN_OK)
					fail_case(__LINE__, ds[i]->name, *c, err.msg, "OK");
			}
	}
	cn_search_order a, b, c;
	CN_CHECK_EQ_INT(cn_search_order_parse(R, "created DESC", &a, NULL), CN_OK);
	CN_CHECK_EQ_INT(cn_search_order_parse(R, "attribute.start_time", &b, NULL), CN_OK);
	CN_CHECK_EQ_INT(cn_search_order_parse(R, "tags.start_time", &c, NULL), CN_OK);
	CN_CHECK(cn_search_order_same_field(&a, &b));
	CN_CHECK(!cn_search_order_same_field(&a, &c));
}

/* ---- a dialect written in a test: extension without parser changes ---- */

static const cn_search_key t_span_keys[] = {
        {.name = "name",
         .kind = CN_SEARCH_STRING,
         .ops = CN_SEARCH_OPS_STRING | CN_SEARCH_OPS_LIST | CN_SEARCH_OPBIT(CN_SEARCH_RLIKE),
         .flags = CN_SEARCH_KEY_FILTER | CN_SEARCH_KEY_LIST},
        {0},
};

static const cn_search_dialect t_traces = {
        .name = "traces-test",
        .entities =
                {
                        [CN_SEARCH_SPAN] = {.name = "span",
                                            .prefixes = (const char *const[]){"span", NULL},
                                            .keys = t_span_keys,
                                            .value_label = "span attributes"},
                        [CN_SEARCH_TAG] = {.name = "tag",
                                           .prefixes = (const char *const[]){"tag", "tags", NULL},
                                           .kind = CN_SEARCH_STRING,
                                           .string_ops = CN_SEARCH_OPBIT(CN_SEARCH_EQ) |
                                                         CN_SEARCH_OPBIT(CN_SEARCH_NE) |
                                                         CN_SEARCH_OPS_LIST,
                                           .lists = true},
                },
        .bare = CN_SEARCH_ENTITY_COUNT,
        .entity_error = "Valid values are {'span', 'tag'}",
        .null_check_error = "IS NULL is not supported",
};

CN_TEST(custom_dialect_and_rlike)
{
	AST(&t_traces, "span.name RLIKE '^chat.*model$' AND tags.a IN ('x', 'y')",
	    "span|name|RLIKE|'^chat.*model$' ; tag|a|IN|[x,y]");
	ERR(&t_traces, "name = 'x'",
	    "Invalid identifier 'name'. Columns should be specified as '<entity type>.<key>'.");
	ERR(&t_traces, "tags.a LIKE 'x'",
	    "Invalid comparator 'LIKE' not one of '{'=', '!=', 'IN', 'NOT IN'}'");
	ERR(&t_traces, "span.kind = 'x'",
	    "Invalid span key 'kind' specified. Valid keys are '{'name'}'");
	ERR(&t_traces, "tags.a IS NULL", "IS NULL is not supported, not for tag 'a'");
	ERR(&t_traces, "span.name = 1",
	    "Expected a quoted string value for span attributes. Got value 1");
	cn_search_filter *f = NULL;
	cn_err err;
	const char *bad = "span.name RLIKE '('";
	CN_CHECK_EQ_INT(cn_search_filter_parse(&t_traces, bad, strlen(bad), &f, &err),
	                CN_INVALID_PARAMETER_VALUE);
	CN_CHECK(strncmp(err.msg, "Invalid regular expression '(' for RLIKE", 40) == 0);

	f = parse_ok(&t_traces, "span.name RLIKE 'chat|llm'", __LINE__);
	if (!f)
		return;
	const cn_search_clause *c = cn_search_filter_clause(f, 0);
	cn_search_value v = cn_search_value_str("my-llm-call");
	CN_CHECK(cn_search_clause_match(c, &v)); /* RLIKE finds, it need not span */
	v = cn_search_value_str("retriever");
	CN_CHECK(!cn_search_clause_match(c, &v));
	v = cn_search_value_strn("chatty", 3); /* only "cha" */
	CN_CHECK(!cn_search_clause_match(c, &v));
	cn_search_filter_free(f);
}

/* ---- search_logged_models ------------------------------------------------ */

CN_TEST(logged_models_dialect)
{
	const cn_search_dialect *L = &cn_search_dialect_logged_models;
	AST(L, "name = 'a' AND attributes.model_type LIKE 'L%'",
	    "attribute|name|=|'a' ; attribute|model_type|LIKE|'L%'");
	AST(L, "creation_time > 5 AND last_updated_timestamp <= 9",
	    "attribute|creation_timestamp_ms|>|5 ; attribute|last_updated_timestamp_ms|<=|9");
	AST(L, "metrics.acc >= 0.5 AND params.lr = '0.1' AND tags.`a b` ILIKE 'x'",
	    "metric|acc|>=|0.5 ; param|lr|=|'0.1' ; tag|a b|ILIKE|'x'");
	ERR(L, "metric.acc > 1",
	    "Invalid entity type 'metric'. Expected one of ['attributes', 'metrics', 'params', "
	    "'tags'].");
	ERR(L, "tags.a IS NULL",
	    "IS NULL / IS NOT NULL is supported for no logged model field, not for tag 'a'");
	ERR(L, "metrics.acc = 'x'", "Expected numeric value type for metric. Found 'x'");
	ERR(L, "name = 'a' OR name = 'b'", "Invalid clause(s) in filter string: OR");
	cn_search_order o;
	CN_CHECK_EQ_INT(cn_search_order_parse(L, "creation_timestamp", &o, NULL), CN_OK);
	CN_CHECK(strcmp(o.key, "creation_timestamp_ms") == 0 && o.kind == CN_SEARCH_NUMERIC);
	const char *const *lists[] = {L->default_order, L->tiebreak_order};
	for (size_t l = 0; l < 2; l++)
		for (const char *const *c = lists[l]; *c; c++)
			CN_CHECK_EQ_INT(cn_search_order_parse(L, *c, &o, NULL), CN_OK);
}

CN_TEST_MAIN()
