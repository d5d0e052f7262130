/*
 * core/search/search.h: MLflow's search filter language, order_by clauses and
 * page tokens, for every service that searches (experiments, runs, registered
 * models, model versions, logged models, traces).
 *
 * A filter is AND-joined comparisons `key comparator value`:
 *
 *   metrics.acc >= 0.9 AND params.model = 'LR' AND tags.`my tag` LIKE 'a%'
 *   attributes.run_id IN ('a1', 'b2') AND tags.owner IS NOT NULL
 *
 * What keys, comparators and values are valid, and the error texts, come from
 * a dialect (cn_search_dialect): plain data, one per searched object, so a new
 * service adds a table, not parser code. Errors are CN_INVALID_PARAMETER_VALUE
 * with MLflow's messages (mlflow/utils/search_utils.py) wherever MLflow has one.
 *
 * Deliberate choices where MLflow is loose or backend-dependent:
 *  - clauses must be separated by exactly one AND (MLflow also accepts a
 *    missing or doubled AND);
 *  - scalar string values are the text between the quotes, verbatim (as
 *    MLflow's _strip_quotes: 'L''Hosp' stays L''Hosp); list items follow Python
 *    literal syntax, as MLflow's ast.literal_eval does (escapes processed);
 *  - LIKE is case-sensitive, ILIKE folds ASCII case; `\` escapes %, _ and `\`
 *    in patterns (PostgreSQL's and MySQL's default);
 *  - a field that is missing never matches, whatever the comparator (SQL join
 *    semantics, as MLflow's stores), except IS NULL.
 *
 * Everything here is reentrant; a parsed filter is immutable and may be shared
 * between threads.
 */
#ifndef CN_SEARCH_H
#define CN_SEARCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/error.h"

/* Bounds on untrusted input; past them parsing fails with a clear message. */
#define CN_SEARCH_FILTER_MAX_LEN 65536 /* bytes of filter text */
#define CN_SEARCH_MAX_CLAUSES    1000  /* AND-joined comparisons */
#define CN_SEARCH_MAX_LIST       10000 /* values in one IN (...) list */
#define CN_SEARCH_ORDER_MAX_LEN  4096  /* bytes of one order_by clause */

/* ---- Vocabulary ------------------------------------------------------- */

/* What a clause addresses. Dialects give each a name and prefixes. */
typedef enum cn_search_entity {
	CN_SEARCH_ATTRIBUTE,   /* a fixed field of the object: name, start_time */
	CN_SEARCH_METRIC,      /* metrics.<key> */
	CN_SEARCH_PARAM,       /* params.<key> */
	CN_SEARCH_TAG,         /* tags.<key> */
	CN_SEARCH_DATASET,     /* datasets.<field> of a run's inputs */
	CN_SEARCH_METADATA,    /* traces: metadata.<key> */
	CN_SEARCH_SPAN,        /* traces: span.<field> */
	CN_SEARCH_FEEDBACK,    /* traces: feedback.<name> */
	CN_SEARCH_EXPECTATION, /* traces: expectation.<name> */
	CN_SEARCH_ENTITY_COUNT
} cn_search_entity;

typedef enum cn_search_op {
	CN_SEARCH_EQ,
	CN_SEARCH_NE,
	CN_SEARCH_LT,
	CN_SEARCH_LE,
	CN_SEARCH_GT,
	CN_SEARCH_GE,
	CN_SEARCH_LIKE,
	CN_SEARCH_ILIKE,
	CN_SEARCH_RLIKE, /* POSIX extended regex, matches anywhere in the value */
	CN_SEARCH_IN,
	CN_SEARCH_NOT_IN,
	CN_SEARCH_IS_NULL,
	CN_SEARCH_IS_NOT_NULL,
	CN_SEARCH_OP_COUNT
} cn_search_op;

/* Sets of comparators, as bit masks of (1u << op). */
#define CN_SEARCH_OPBIT(op) (1u << (op))
#define CN_SEARCH_OPS_NUMERIC                                            \
	(CN_SEARCH_OPBIT(CN_SEARCH_EQ) | CN_SEARCH_OPBIT(CN_SEARCH_NE) | \
	 CN_SEARCH_OPBIT(CN_SEARCH_LT) | CN_SEARCH_OPBIT(CN_SEARCH_LE) | \
	 CN_SEARCH_OPBIT(CN_SEARCH_GT) | CN_SEARCH_OPBIT(CN_SEARCH_GE))
#define CN_SEARCH_OPS_STRING                                             \
	(CN_SEARCH_OPBIT(CN_SEARCH_EQ) | CN_SEARCH_OPBIT(CN_SEARCH_NE) | \
	 CN_SEARCH_OPBIT(CN_SEARCH_LIKE) | CN_SEARCH_OPBIT(CN_SEARCH_ILIKE))
#define CN_SEARCH_OPS_LIST (CN_SEARCH_OPBIT(CN_SEARCH_IN) | CN_SEARCH_OPBIT(CN_SEARCH_NOT_IN))

/* Spelling of a comparator as MLflow prints it ("!=", "LIKE", "NOT IN"). */
const char *cn_search_op_name(cn_search_op op);

typedef enum cn_search_kind { CN_SEARCH_STRING, CN_SEARCH_NUMERIC } cn_search_kind;

typedef enum cn_search_vtype {
	CN_SEARCH_V_NONE,   /* IS NULL / IS NOT NULL carry no value */
	CN_SEARCH_V_STRING, /* str, len */
	CN_SEARCH_V_NUMBER, /* num; is_int and i when integral; str, len = literal text */
	CN_SEARCH_V_LIST,   /* items, count: strings */
} cn_search_vtype;

/* A value: the right-hand side of a clause, or a field of an entity that a
 * getter reports. Strings need not be NUL-terminated (len counts bytes);
 * those in a parsed filter are. */
typedef struct cn_search_value {
	cn_search_vtype type;
	const char *str;
	size_t len;
	double num;
	int64_t i;
	bool is_int;
	const char *const *items;
	const size_t *item_lens;
	size_t count;
} cn_search_value;

static inline cn_search_value cn_search_value_strn(const char *s, size_t len)
{
	cn_search_value v = {.type = CN_SEARCH_V_STRING, .str = s, .len = len};
	return v;
}
cn_search_value cn_search_value_str(const char *s); /* s NUL-terminated */
static inline cn_search_value cn_search_value_int(int64_t i)
{
	cn_search_value v = {.type = CN_SEARCH_V_NUMBER, .num = (double)i, .i = i, .is_int = true};
	return v;
}
static inline cn_search_value cn_search_value_double(double d)
{
	cn_search_value v = {.type = CN_SEARCH_V_NUMBER, .num = d};
	return v;
}

/* ---- Dialects ---------------------------------------------------------- */

struct cn_search_clause;

/* Flags of a fixed key. */
#define CN_SEARCH_KEY_FILTER 0x1u /* may appear in a filter */
#define CN_SEARCH_KEY_ORDER  0x2u /* may appear in an order_by clause */
#define CN_SEARCH_KEY_LIST   0x4u /* accepts IN / NOT IN (...) lists */

/* One key of an entity with a fixed key set (attributes, dataset fields). */
typedef struct cn_search_key {
	const char *name;      /* as users write it: "created"; NULL ends a table */
	const char *canonical; /* what clauses carry: "start_time"; NULL = name */
	cn_search_kind kind;
	unsigned ops;   /* comparators; 0 = the entity's set for this kind */
	unsigned flags; /* CN_SEARCH_KEY_* */
} cn_search_key;

/* How a dialect treats one entity type. A rule with name == NULL means the
 * dialect has no such entity. */
typedef struct cn_search_entity_rule {
	/* MLflow's identifier type, used in messages: "metric", "parameter",
	 * "tag", "attribute", "dataset". */
	const char *name;
	/* Words that select the entity before the dot; NULL-terminated. */
	const char *const *prefixes;
	/* Fixed key set (NULL name ends it), or NULL: any key, of kind `kind`. */
	const cn_search_key *keys;
	cn_search_kind kind;
	unsigned string_ops;  /* comparators for string keys */
	unsigned numeric_ops; /* comparators for numeric keys */
	bool lists;           /* free string keys accept IN lists */
	bool null_checks;     /* IS NULL / IS NOT NULL allowed */
	bool orderable;       /* may appear in order_by */
	/* Fixed-key entities: "Expected a quoted string value for <value_label>". */
	const char *value_label;
	/* Message when a string key without CN_SEARCH_KEY_LIST gets a list; NULL:
	 * the usual "Expected a quoted string value" message. */
	const char *list_error;
	/* When set, a bad comparator reads "Invalid comparator for <label>: <op>"
	 * (MLflow's SQL-store wording) instead of "... not one of '{...}'". */
	const char *op_label_string;
	const char *op_label_numeric;
	/* Free string keys also take numeric values; such a clause is numeric
	 * (traces' feedback.<name> > 0.5 beside feedback.<name> = 'yes'). */
	bool numbers;
} cn_search_entity_rule;

typedef struct cn_search_dialect {
	const char *name; /* "experiments", "runs" */
	cn_search_entity_rule entities[CN_SEARCH_ENTITY_COUNT];
	/* Entity of identifiers written without a prefix ("name"), or
	 * CN_SEARCH_ENTITY_COUNT if a prefix is required. */
	cn_search_entity bare;
	/* Whether `metrics`.x means metrics.x (runs: yes; experiments: no). */
	bool trim_prefix_backticks;
	/* Whether "Invalid clause(s)" quotes each clause ('OR') as runs do. */
	bool quote_invalid_clauses;
	/* Tail of "Invalid entity type '<x>'. <entity_error>". */
	const char *entity_error;
	/* Head of the IS NULL error for entities without null_checks. */
	const char *null_check_error;
	/* order_by applied when a request has none, then tie-breakers appended
	 * unless the same field is already ordered; NULL-terminated clauses that
	 * cn_search_order_parse accepts. */
	const char *const *default_order;
	const char *const *tiebreak_order;
	/* Optional: called for each parsed clause before it is kept, to refuse
	 * what the tables cannot express (traces' span.<field> comparators);
	 * returns CN_OK or fills err. c->key is NUL-terminated. */
	cn_code (*check_clause)(const struct cn_search_clause *c, cn_err *err);
} cn_search_dialect;

/* MLflow's search_experiments: name, creation_time, last_update_time, tags. */
extern const cn_search_dialect cn_search_dialect_experiments;
/* MLflow's search_runs: metrics, params, tags, attributes, datasets. */
extern const cn_search_dialect cn_search_dialect_runs;
/* MLflow's search_logged_models: attributes, metrics, params, tags. */
extern const cn_search_dialect cn_search_dialect_logged_models;
/* MLflow's search_registered_models: name, tags; order by name, timestamps. */
extern const cn_search_dialect cn_search_dialect_registered_models;
/* MLflow's search_model_versions: name, version_number, run_id, source_path, tags. */
extern const cn_search_dialect cn_search_dialect_model_versions;
/* MLflow's search_traces: attributes, tags, metadata, span, feedback,
 * expectation (dialect_traces.c; matching in search_traces.h). */
extern const cn_search_dialect cn_search_dialect_traces;

/* ---- Filters ----------------------------------------------------------- */

struct cn_search_regex;

/* One comparison. Strings point into the filter (or the static dialect). */
typedef struct cn_search_clause {
	cn_search_entity entity;
	const char *key;           /* canonical key, NUL-terminated */
	const cn_search_key *attr; /* table entry for fixed-key entities, else NULL */
	cn_search_kind kind;       /* kind of the field addressed */
	cn_search_op op;
	cn_search_value value;            /* V_NONE for IS [NOT] NULL; V_LIST only for [NOT] IN */
	const struct cn_search_regex *re; /* private: compiled RLIKE pattern */
} cn_search_clause;

typedef struct cn_search_filter cn_search_filter;

/*
 * Parses len bytes of filter text (need not be NUL-terminated; NULL or blank
 * text is the empty filter, which matches everything) under dialect d.
 * On success returns CN_OK and stores a new filter in *out, owned by the
 * caller and released with cn_search_filter_free. On failure returns the
 * error code (CN_INVALID_PARAMETER_VALUE for bad input, CN_INTERNAL_ERROR
 * "out of memory"), fills err and sets *out to NULL.
 */
cn_code cn_search_filter_parse(const cn_search_dialect *d, const char *text, size_t len,
                               cn_search_filter **out, cn_err *err);
void cn_search_filter_free(cn_search_filter *f); /* NULL is fine */
size_t cn_search_filter_count(const cn_search_filter *f);
/* i < count; the clause lives as long as f. */
const cn_search_clause *cn_search_filter_clause(const cn_search_filter *f, size_t i);

/* ---- Matching ---------------------------------------------------------- */

/* SQL LIKE: % matches any run of characters, _ one UTF-8 character, `\`
 * escapes the next pattern character. case_insensitive folds ASCII only. */
bool cn_search_like_match(const char *pattern, const char *value, bool case_insensitive);
bool cn_search_like_matchn(const char *pattern, size_t plen, const char *value, size_t vlen,
                           bool case_insensitive);

/* Whether a field value satisfies c. actual == NULL means the field is
 * missing: only IS NULL matches it. A numeric clause compares a string
 * field as a number if the whole string is one (else no match); a string
 * clause never matches a numeric field. NaN compares unequal to everything. */
bool cn_search_clause_match(const cn_search_clause *c, const cn_search_value *actual);

/* Reports the index-th value of the field c addresses on entity into *out and
 * returns true, or returns false when there is none. Single-valued fields
 * (attributes, tags, ...) have only index 0; multi-valued ones (a run's
 * datasets) list each value, and the clause matches if any value does.
 * Strings in *out must stay valid until the next call. Must not fail. */
typedef bool (*cn_search_getter)(void *entity, const cn_search_clause *c, size_t index,
                                 cn_search_value *out);

/* True when entity satisfies every clause of f (f == NULL matches all). */
bool cn_search_filter_match(const cn_search_filter *f, cn_search_getter get, void *entity);

/* ---- order_by ---------------------------------------------------------- */

#define CN_SEARCH_ORDER_KEY_MAX 1024

typedef struct cn_search_order {
	cn_search_entity entity;
	const cn_search_key *attr; /* fixed-key entities, else NULL */
	cn_search_kind kind;
	bool ascending;
	char key[CN_SEARCH_ORDER_KEY_MAX]; /* canonical key */
} cn_search_order;

/* Parses one order_by clause ("name", "metrics.acc DESC", "tags.`a b` asc")
 * under d; ASC is the default. Returns CN_OK, or CN_INVALID_PARAMETER_VALUE
 * with MLflow's message in err ("Invalid order_by clause '...'. Could not be
 * parsed.", "Invalid attribute key ...", "Invalid order_by entity: tag"). */
cn_code cn_search_order_parse(const cn_search_dialect *d, const char *clause, cn_search_order *out,
                              cn_err *err);
/* The full sort of a search request: the clauses given (or, when n == 0, the
 * dialect's default_order), then each of the dialect's tie-breakers whose
 * field is not already ordered. At most max orders are written to out and
 * their count to *nout. Errors: a bad clause (as cn_search_order_parse) or
 * more than max clauses, CN_INVALID_PARAMETER_VALUE. */
cn_code cn_search_orders_build(const cn_search_dialect *d, const char *const *clauses, size_t n,
                               cn_search_order *out, size_t max, size_t *nout, cn_err *err);
/* Whether two orders address the same field (direction aside). */
bool cn_search_order_same_field(const cn_search_order *a, const cn_search_order *b);
/* Sort comparison of two field values under o: <0, 0, >0. Missing values
 * (NULL) sort after NaN, which sorts after every number, in both directions,
 * as MLflow does; numbers compare numerically, strings bytewise. */
int cn_search_order_compare(const cn_search_order *o, const cn_search_value *a,
                            const cn_search_value *b);

/* ---- Page tokens ------------------------------------------------------- */

#define CN_SEARCH_TOKEN_KEY_MAX 1024
#define CN_SEARCH_TOKEN_MAX_LEN 4096 /* characters of an encoded token */

/* Where the next page starts: an offset, and optionally the sort key of the
 * last item returned, so a service can resume after that item even when
 * items were inserted before it since. */
typedef struct cn_search_token {
	uint64_t offset;
	size_t key_len;
	unsigned char key[CN_SEARCH_TOKEN_KEY_MAX];
} cn_search_token;

/*
 * Appends the token for t to out: URL-safe base64 (no padding) of a small
 * versioned, checksummed payload. query is a fingerprint of the request the
 * token continues (filter, order_by, view type, scope; may be NULL/empty);
 * decoding with another fingerprint fails. Returns CN_OK, or CN_INTERNAL_ERROR
 * if t->key_len is too large or out ran out of memory.
 */
cn_code cn_search_token_encode(const cn_search_token *t, const char *query, size_t query_len,
                               cn_buf *out, cn_err *err);
/*
 * Decodes len bytes of token text into *out. An empty token (NULL or len 0)
 * is the first page: offset 0, no key. Accepts padded or unpadded, URL-safe or
 * standard base64, and MLflow's own {"offset": N} tokens. Errors are
 * CN_INVALID_PARAMETER_VALUE: "Invalid page token, could not base64-decode",
 * or another "Invalid page token, ..." message when the payload is not ours,
 * is damaged, or belongs to another query.
 */
cn_code cn_search_token_decode(const char *text, size_t len, const char *query, size_t query_len,
                               cn_search_token *out, cn_err *err);

#endif
