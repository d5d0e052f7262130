/*
 * core/otlp/otlp_ingest.c: a parsed request into one IngestSpans. Resource
 * attributes and scope names are written once per resource and scope and
 * shared by their spans' records (FlatBuffers lets tables share strings).
 */
#include "core/otlp/otlp_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "schemas/cairn_schema.h"

cn_code cn_otlp_build(const cn_otlp_req *r, const char *experiment_id, cn_fb_builder *b,
                      cn_fb_ref *root, cn_otlp_result *res, cn_err *err)
{
	memset(res, 0, sizeof *res);
	size_t total = cn_otlp_span_count(r);
	cn_fb_ref *refs = malloc((total ? total : 1) * sizeof *refs);
	if (!refs)
		return cn_err_set(err, CN_INTERNAL_ERROR, "out of memory");
	cn_buf tmp = CN_BUF_INIT, val = CN_BUF_INIT;
	char why[256];
	const otlp_export *m = r->msg;
	for (size_t i = 0; i < m->n_resource_spans; i++) {
		const otlp_rspans *rs = m->resource_spans[i];
		cn_buf_reset(&tmp);
		if (rs->resource)
			otlp_kvs_json(&tmp, rs->resource->attributes, rs->resource->n_attributes);
		else
			cn_buf_puts(&tmp, "{}");
		cn_fb_ref resource = cn_fb_create_string(b, tmp.p, tmp.len);
		for (size_t j = 0; j < rs->n_scope_spans; j++) {
			const otlp_sspans *ss = rs->scope_spans[j];
			cn_fb_ref scope = 0;
			if (ss->scope && ss->scope->name[0]) {
				cn_buf_reset(&tmp);
				otlp_json_str(&tmp, ss->scope->name, strlen(ss->scope->name));
				/* The repaired text without its quotes (escapes aside,
				 * scope names are identifiers). */
				scope = cn_fb_create_string(b, tmp.p + 1, tmp.len - 2);
			}
			for (size_t k = 0; k < ss->n_spans; k++) {
				cn_fb_ref ref = otlp_span_record(b, ss->spans[k], scope, resource,
				                                 &tmp, &val, why, sizeof why);
				if (ref) {
					refs[res->accepted++] = ref;
				} else {
					if (!res->rejected++)
						snprintf(res->error, sizeof res->error, "%s", why);
				}
			}
		}
	}
	bool failed = cn_buf_failed(&tmp) || cn_buf_failed(&val);
	cn_buf_free(&tmp);
	cn_buf_free(&val);
	if (failed) {
		free(refs);
		return cn_err_set(err, CN_INTERNAL_ERROR, "out of memory");
	}
	cn_fb_ref spans = cn_fb_create_vec_refs(b, refs, res->accepted);
	free(refs);
	cn_fb_ref exp = cn_fb_create_cstr(b, experiment_id);
	cn_IngestSpans_start(b);
	cn_IngestSpans_add_experiment_id(b, exp);
	cn_IngestSpans_add_spans(b, spans);
	*root = cn_IngestSpans_end(b);
	return CN_OK;
}
