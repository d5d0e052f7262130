/* core/search/order_list.c: a request's whole sort from its order_by
 * clauses and the dialect's defaults and tie-breakers (see search.h). */
#include "core/search/search.h"

cn_code cn_search_orders_build(const cn_search_dialect *d, const char *const *clauses, size_t n,
                               cn_search_order *out, size_t max, size_t *nout, cn_err *err)
{
	size_t k = 0;
	if (n > max)
		return cn_err_set(err, CN_INVALID_PARAMETER_VALUE,
		                  "At most %zu order_by clauses are supported", max);
	for (size_t i = 0; i < n; i++) {
		cn_code rc = cn_search_order_parse(d, clauses[i] ? clauses[i] : "", &out[k], err);
		if (rc != CN_OK)
			return rc;
		k++;
	}
	/* Defaults and tie-breakers are the dialect's own text: failing to parse
	 * them is a bug in the dialect, not bad input. */
	for (size_t i = 0; n == 0 && d->default_order && d->default_order[i] && k < max; i++)
		if (cn_search_order_parse(d, d->default_order[i], &out[k++], err) != CN_OK)
			return CN_INTERNAL_ERROR;
	for (size_t i = 0; d->tiebreak_order && d->tiebreak_order[i] && k < max; i++) {
		cn_search_order t;
		if (cn_search_order_parse(d, d->tiebreak_order[i], &t, err) != CN_OK)
			return CN_INTERNAL_ERROR;
		bool have = false;
		for (size_t j = 0; j < k; j++)
			have |= cn_search_order_same_field(&out[j], &t);
		if (!have)
			out[k++] = t;
	}
	*nout = k;
	return CN_OK;
}
