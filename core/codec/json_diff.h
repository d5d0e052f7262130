/*
 * core/codec/json_diff.h: the scanner/jansson agreement check shared by
 * fuzz_json_diff and json_scan_test (test and fuzz code only).
 *
 * Whenever the one-pass scanner accepts a body, the jansson path must
 * accept it too and build the identical FlatBuffer; whenever jansson
 * rejects it, the scanner must have rejected it. (The scanner may decline
 * valid bodies; cn_json_decode then takes the jansson path.)
 */
#ifndef CN_CODEC_JSON_DIFF_H
#define CN_CODEC_JSON_DIFF_H

#include <stdio.h>
#include <string.h>

#include "core/codec/codec_int.h"

typedef enum { JD_AGREE_BOTH_OK, JD_AGREE_SCAN_DECLINED, JD_DIFFER } jd_result;

static inline jd_result jd_compare(const cn_schema *s, int ti, const char *json, size_t len,
                                   const cn_codec_kv *extra, size_t nextra, char *why, size_t cap)
{
	cn_fb_builder *a = cn_fb_builder_new(0), *b = cn_fb_builder_new(0);
	jd_result r = JD_DIFFER;
	snprintf(why, cap, "out of memory");
	if (!a || !b)
		goto out;
	cn_fb_ref ra = 0, rb = 0;
	cn_err err;
	cn_err_clear(&err);
	bool scan_ok = len && codec_json_decode_scan(s, ti, json, len, extra, nextra, a, &ra);
	cn_code dom = codec_json_decode_dom(s, ti, json, len, extra, nextra, b, &rb, &err);
	if (!scan_ok) {
		r = JD_AGREE_SCAN_DECLINED;
		goto out;
	}
	if (dom != CN_OK) {
		snprintf(why, cap, "scanner accepted what jansson rejects: %.200s", err.msg);
		goto out;
	}
	const uint8_t *pa, *pb;
	size_t la, lb;
	if (!cn_fb_finish(a, ra, &pa, &la) || !cn_fb_finish(b, rb, &pb, &lb)) {
		snprintf(why, cap, "finish failed");
		goto out;
	}
	if (la != lb || memcmp(pa, pb, la) != 0) {
		snprintf(why, cap, "buffers differ (%zu vs %zu bytes)", la, lb);
		goto out;
	}
	r = JD_AGREE_BOTH_OK;
out:
	cn_fb_builder_free(a);
	cn_fb_builder_free(b);
	return r;
}

#endif
