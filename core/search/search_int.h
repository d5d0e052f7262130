/*
 * core/search/search_int.h: what the files of core/search share and nobody
 * else uses: the tokenizer and identifier resolution.
 */
#ifndef CN_SEARCH_INT_H
#define CN_SEARCH_INT_H

#include "core/search/search.h"

#include <regex.h>

typedef enum cn_search_tt {
	CN_TT_END,
	CN_TT_IDENT,  /* a.b."c d".`e`: bare, "double" or `backtick` parts */
	CN_TT_STRING, /* 'single quoted' */
	CN_TT_NUMBER, /* -12, 3.5, .5, 1e-3 */
	CN_TT_CMP,    /* a run of <>=~! (op, or op < 0 when not a comparator) */
	CN_TT_AND,
	CN_TT_OR,
	CN_TT_NOT,
	CN_TT_IN,
	CN_TT_LIKE, /* LIKE, ILIKE or RLIKE: op says which */
	CN_TT_IS,
	CN_TT_NULL,
	CN_TT_BOOL, /* TRUE, FALSE */
	CN_TT_ASC,
	CN_TT_DESC,
	CN_TT_LIST, /* ( ... ) up to the matching parenthesis */
	CN_TT_SEMI,
	CN_TT_BAD, /* anything else, or an unterminated quote or list */
} cn_search_tt;

typedef struct cn_search_tok {
	cn_search_tt type;
	size_t start, end; /* raw text span in the input */
	int op;            /* CN_TT_CMP, CN_TT_LIKE: a cn_search_op, or -1 */
	/* CN_TT_IDENT: number of dot-separated parts, end of the first part and
	 * start of the second (the key's raw text runs from there to end). */
	unsigned nparts;
	size_t first_end, rest_start;
	bool is_int; /* CN_TT_NUMBER without fraction or exponent */
} cn_search_tok;

typedef struct cn_search_lex {
	const char *s;
	size_t len;
	size_t pos;
} cn_search_lex;

/* Next token; never fails (bad input becomes CN_TT_BAD). */
cn_search_tok cn_search_lex_next(cn_search_lex *lx);

/* A view of input text. */
typedef struct cn_search_span {
	const char *p;
	size_t len;
} cn_search_span;

/* MLflow's _strip_quotes: the inside of a span that starts and ends with the
 * same ' or " (and is at least 2 long); *quoted says whether it did. */
cn_search_span cn_search_strip_quotes(cn_search_span s, bool *quoted);
/* MLflow's _trim_backticks. */
cn_search_span cn_search_trim_backticks(cn_search_span s);

/* The entity and key an identifier token names. key is a view of the input,
 * or of the dialect's canonical name for fixed keys. */
typedef struct cn_search_ident {
	cn_search_entity entity;
	const cn_search_entity_rule *rule;
	const cn_search_key *attr;
	cn_search_kind kind;
	cn_search_span key;  /* canonical */
	cn_search_span name; /* as written, quotes removed */
} cn_search_ident;

/* Resolves an identifier token under d; key_flag is CN_SEARCH_KEY_FILTER or
 * CN_SEARCH_KEY_ORDER and selects which fixed keys are valid. Returns CN_OK
 * or CN_INVALID_PARAMETER_VALUE with MLflow's message. */
cn_code cn_search_resolve_ident(const cn_search_dialect *d, const char *s, const cn_search_tok *t,
                                unsigned key_flag, cn_search_ident *out, cn_err *err);

/* A compiled RLIKE pattern, owned by its filter. */
struct cn_search_regex {
	regex_t re;
};

/* Appends Python's repr of a set of strings, as MLflow's messages print them:
 * {'a', 'b'}. */
void cn_search_put_set(cn_buf *b, const char *const *items, size_t n);

#endif
