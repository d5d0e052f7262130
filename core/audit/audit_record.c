/*
 * core/audit/audit_record.c: what one call's audit record says: whether a
 * method is recorded at all, which entities it touched, and its request
 * rendered as JSON without secrets (see audit.h).
 */
#include "core/audit/audit.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "core/codec/codec.h"
#include "core/fb/schema.h"
#include "schemas/cairn_schema.h"

bool cn_audit_is_mutating(int table)
{
	if (table < 0 || (size_t)table >= cn_schema_cairn.ntables)
		return false;
	const cn_schema_table *t = &cn_schema_cairn.tables[table];
	const char *over = cn_schema_attr_get(t->attrs, t->nattrs, "audit");
	if (over)
		return strcmp(over, "write") == 0;
	const char *n = t->short_name;
	if (strncmp(n, "Search", 6) == 0 || strncmp(n, "Get", 3) == 0 || strncmp(n, "List", 4) == 0)
		return false;
	/* Unrouted tables are bus-only calls between services: recorded as
	 * writes unless named as reads, the safe side for an audit trail. */
	for (size_t i = 0; i < cn_schema_cairn.nroutes; i++) {
		const cn_route *r = &cn_schema_cairn.routes[i];
		if (r->request == table && strcmp(r->method, "GET") != 0 &&
		    strcmp(r->method, "HEAD") != 0)
			return true;
		if (r->request == table)
			return false;
	}
	return true;
}

bool cn_audit_is_secret_name(const char *name)
{
	return strstr(name, "secret") || strstr(name, "password") || strstr(name, "token");
}

/* A tiny JSON walker: copies j to out, replacing the string value of any
 * member whose key is secret-like. The codec's output is well formed, so
 * this only tracks strings and the key/value position. */
cn_code cn_audit_redact(const char *j, size_t n, cn_buf *out)
{
	size_t i = 0;
	bool redact_next = false; /* the last key was secret-like */
	while (i < n) {
		char c = j[i];
		if (c != '"') {
			if (c != ':' && c != ' ')
				redact_next = false; /* the value is not a string */
			cn_buf_putc(out, c);
			i++;
			continue;
		}
		size_t s = i++;
		while (i < n && j[i] != '"')
			i += j[i] == '\\' ? 2 : 1;
		size_t e = i < n ? i + 1 : n; /* one past the closing quote */
		size_t k = e;
		while (k < n && j[k] == ' ')
			k++;
		bool is_key = k < n && j[k] == ':';
		if (is_key) {
			char key[128];
			size_t kl = e - s - 2 < sizeof key - 1 ? e - s - 2 : sizeof key - 1;
			memcpy(key, j + s + 1, kl);
			key[kl] = '\0';
			redact_next = cn_audit_is_secret_name(key);
			cn_buf_append(out, j + s, e - s);
		} else if (redact_next) {
			cn_buf_puts(out, "\"***\"");
			redact_next = false;
		} else {
			cn_buf_append(out, j + s, e - s);
		}
		i = e;
	}
	return cn_buf_failed(out) ? CN_INTERNAL_ERROR : CN_OK;
}

/* Vectors longer than this make the rendering a summary: a log-batch of
 * 1000 metrics would cost more to render in full than to store, and only
 * its first 4 KiB would be kept anyway. */
#define AUDIT_SUMMARY_ITEMS 64

static bool audit_is_bulky(const cn_schema_table *st, cn_fb_table t)
{
	for (uint16_t i = 0; i < st->nfields; i++)
		if (st->fields[i].type == CN_FT_VECTOR &&
		    cn_fb_get_vec(t, st->fields[i].id).n > AUDIT_SUMMARY_ITEMS)
			return true;
	return false;
}

/* The top level of a bulky request: strings, integers and bools as they
 * are, secrets as "***", vectors as "<N items>", sub-tables as "{...}". */
static void audit_summary(const cn_schema_table *st, cn_fb_table t, cn_buf *out)
{
	cn_buf_putc(out, '{');
	bool first = true;
	for (uint16_t i = 0; i < st->nfields; i++) {
		const cn_schema_field *f = &st->fields[i];
		if ((f->flags & CN_FF_DEPRECATED) || !cn_fb_has(t, f->id))
			continue;
		cn_buf_printf(out, "%s\"%s\":", first ? "" : ",", f->name);
		first = false;
		if (f->type == CN_FT_STRING && cn_audit_is_secret_name(f->name)) {
			cn_buf_puts(out, "\"***\"");
		} else if (f->type == CN_FT_STRING) {
			cn_fb_str s = cn_fb_get_str(t, f->id);
			cn_buf_json_str(out, s.ptr, s.len);
		} else if (f->type == CN_FT_VECTOR) {
			cn_buf_printf(out, "\"<%u items>\"", (unsigned)cn_fb_get_vec(t, f->id).n);
		} else if (f->type == CN_FT_TABLE) {
			cn_buf_puts(out, "\"{...}\"");
		} else if (f->type == CN_FT_BOOL) {
			cn_buf_puts(out, cn_fb_get_bool(t, f->id, false) ? "true" : "false");
		} else if (f->type == CN_FT_I64 || f->type == CN_FT_I32) {
			int64_t v = f->type == CN_FT_I64 ? cn_fb_get_i64(t, f->id, 0)
			                                 : cn_fb_get_i32(t, f->id, 0);
			cn_buf_printf(out, "%" PRId64, v);
		} else {
			cn_buf_puts(out, "null"); /* other scalars: not worth a summary */
		}
	}
	cn_buf_putc(out, '}');
}

cn_code cn_audit_render(int table, cn_fb_table t, size_t max, cn_buf *out, bool *truncated)
{
	*truncated = false;
	cn_buf_reset(out);
	if (!cn_fb_present(t) || table < 0)
		return CN_OK;
	const cn_schema_table *st = &cn_schema_cairn.tables[table];
	if (audit_is_bulky(st, t)) {
		audit_summary(st, t, out);
		*truncated = true;
		if (out->len > max) {
			size_t cut = max;
			while (cut > 0 && ((unsigned char)out->p[cut] & 0xC0) == 0x80)
				cut--;
			out->len = cut;
		}
		return cn_buf_failed(out) ? CN_INTERNAL_ERROR : CN_OK;
	}
	cn_buf raw = CN_BUF_INIT;
	cn_code rc = cn_json_encode(&cn_schema_cairn, table, t, &raw);
	if (rc == CN_OK)
		rc = cn_audit_redact(raw.p ? raw.p : "", raw.len, out);
	cn_buf_free(&raw);
	if (rc == CN_OK && out->len > max) {
		/* Cut on a UTF-8 boundary so the stored string stays valid text. */
		size_t cut = max;
		while (cut > 0 && ((unsigned char)out->p[cut] & 0xC0) == 0x80)
			cut--;
		out->len = cut;
		out->p[cut] = '\0';
		*truncated = true;
	}
	return rc;
}
