/*
 * core/tracking/search_common.c: what experiment and run searches share --
 * the request's sort, the max_results rule, and the fingerprint a page token
 * is bound to.
 */
#include <inttypes.h>

#include "core/tracking/tracking_int.h"

cn_code trk_search_orders(const cn_search_dialect *d, cn_fb_vec ob, trk_sort *s, cn_err *err)
{
	const char *clauses[TRK_MAX_ORDER];
	if (ob.n > TRK_MAX_ORDER)
		return cn_err_set(err, CN_INVALID_PARAMETER_VALUE,
		                  "At most %d order_by clauses are supported", TRK_MAX_ORDER);
	for (uint32_t i = 0; i < ob.n; i++)
		clauses[i] = cn_fb_vec_str(ob, i).ptr;
	return cn_search_orders_build(d, clauses, ob.n, s->orders, TRK_MAX_ORDER, &s->norders, err);
}

cn_code trk_check_max_results(int64_t max, cn_err *err)
{
	if (max < 1)
		return cn_err_set(err, CN_INVALID_PARAMETER_VALUE,
		                  "Invalid value for request parameter max_results. It must be a "
		                  "positive integer, but got %" PRId64,
		                  max);
	if (max > TRK_SEARCH_MAX)
		return cn_err_set(err, CN_INVALID_PARAMETER_VALUE,
		                  "Invalid value for request parameter max_results. It must be at "
		                  "most %d, but got value %" PRId64,
		                  TRK_SEARCH_MAX, max);
	return CN_OK;
}

void trk_fp_str(cn_buf *fp, cn_fb_str s)
{
	/* Length-prefixed, so "a|b" in one field never reads as two fields. */
	cn_buf_printf(fp, "|%u:", (unsigned)s.len);
	if (s.ptr)
		cn_buf_append(fp, s.ptr, s.len);
}
