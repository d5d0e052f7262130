/*
 * plugins/store/azure/azure_xml.c: just enough XML for the Blob service's
 * answers (Error, EnumerationResults), read from a bounded buffer. Not a
 * general parser: no namespaces, no CDATA, elements found by name inside a
 * span the caller already narrowed. Every scan stays inside [p, end).
 */
#include "azure_int.h"

#include <stdlib.h>
#include <string.h>

/* The first "<tag" followed by '>', '/' or whitespace in [p, end). */
static const char *az_xml_open(const char *p, const char *end, const char *tag, size_t tlen)
{
	while (p < end) {
		const char *lt = memchr(p, '<', (size_t)(end - p));
		if (!lt || (size_t)(end - lt) < tlen + 2)
			return NULL;
		char after = lt[1 + tlen];
		if (memcmp(lt + 1, tag, tlen) == 0 &&
		    (after == '>' || after == '/' || after == ' ' || after == '\t' ||
		     after == '\r' || after == '\n'))
			return lt;
		p = lt + 1;
	}
	return NULL;
}

bool az_xml_elem(const char *p, const char *end, const char *tag, const char **v, size_t *vlen,
                 const char **next)
{
	size_t tlen = strlen(tag);
	if (!p || p >= end || tlen == 0 || tlen > 64)
		return false;
	const char *open = az_xml_open(p, end, tag, tlen);
	if (!open)
		return false;
	const char *gt = memchr(open, '>', (size_t)(end - open));
	if (!gt)
		return false;
	if (gt[-1] == '/') { /* <tag/> or <tag attr="x"/> */
		*v = gt + 1;
		*vlen = 0;
		*next = gt + 1;
		return true;
	}
	char close[72];
	close[0] = '<';
	close[1] = '/';
	memcpy(close + 2, tag, tlen);
	close[2 + tlen] = '>';
	size_t clen = tlen + 3;
	const char *body = gt + 1;
	for (const char *q = body; q + clen <= end; q++) {
		q = memchr(q, '<', (size_t)(end - q));
		if (!q || q + clen > end)
			return false;
		if (memcmp(q, close, clen) == 0) {
			*v = body;
			*vlen = (size_t)(q - body);
			*next = q + clen;
			return true;
		}
	}
	return false;
}

/* Appends code point cp as UTF-8; returns the bytes written or 0. */
static size_t az_utf8(unsigned long cp, char *out, size_t room)
{
	if (cp == 0 || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
		return 0;
	size_t n = cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4;
	if (n > room)
		return 0;
	if (n == 1) {
		out[0] = (char)cp;
	} else {
		for (size_t i = n - 1; i > 0; i--) {
			out[i] = (char)(0x80 | (cp & 0x3F));
			cp >>= 6;
		}
		out[0] = (char)((n == 2 ? 0xC0 : n == 3 ? 0xE0 : 0xF0) | cp);
	}
	return n;
}

size_t az_xml_unescape(const char *in, size_t len, char *out, size_t cap)
{
	static const struct {
		const char *name;
		char c;
	} ents[] = {{"amp;", '&'}, {"lt;", '<'}, {"gt;", '>'}, {"quot;", '"'}, {"apos;", '\''}};
	size_t n = 0;
	if (cap == 0)
		return (size_t)-1;
	for (size_t i = 0; i < len;) {
		if (n + 1 >= cap)
			return (size_t)-1;
		if (in[i] != '&') {
			out[n++] = in[i++];
			continue;
		}
		const char *semi = memchr(in + i, ';', len - i < 12 ? len - i : 12);
		if (!semi)
			return (size_t)-1;
		size_t elen = (size_t)(semi - (in + i)) + 1; /* "&...;" */
		bool done = false;
		for (size_t k = 0; k < sizeof ents / sizeof ents[0] && !done; k++)
			if (elen - 1 == strlen(ents[k].name) &&
			    memcmp(in + i + 1, ents[k].name, elen - 1) == 0) {
				out[n++] = ents[k].c;
				done = true;
			}
		if (!done && elen > 3 && in[i + 1] == '#') {
			unsigned long cp = 0;
			bool hexa = in[i + 2] == 'x' || in[i + 2] == 'X';
			size_t j = i + (hexa ? 3 : 2);
			if (j == i + elen - 1)
				return (size_t)-1;
			for (; j < i + elen - 1; j++) {
				char ch = in[j];
				int d = ch >= '0' && ch <= '9'           ? ch - '0'
				        : hexa && ch >= 'a' && ch <= 'f' ? ch - 'a' + 10
				        : hexa && ch >= 'A' && ch <= 'F' ? ch - 'A' + 10
				                                         : -1;
				if (d < 0)
					return (size_t)-1;
				cp = cp * (hexa ? 16 : 10) + (unsigned long)d;
				if (cp > 0x10FFFF)
					return (size_t)-1;
			}
			size_t w = az_utf8(cp, out + n, cap - 1 - n);
			if (w == 0)
				return (size_t)-1;
			n += w;
			done = true;
		}
		if (!done)
			return (size_t)-1;
		i += elen;
	}
	out[n] = '\0';
	return n;
}

void az_xml_error(const char *body, size_t len, char *code, size_t code_cap, char *msg,
                  size_t msg_cap)
{
	const char *v, *next, *end = body + len;
	size_t vlen;
	code[0] = msg[0] = '\0';
	if (!body || len == 0)
		return;
	if (az_xml_elem(body, end, "Code", &v, &vlen, &next) &&
	    az_xml_unescape(v, vlen, code, code_cap) == (size_t)-1)
		code[0] = '\0';
	if (az_xml_elem(body, end, "Message", &v, &vlen, &next)) {
		/* Azure's message ends with "\nRequestId:...\nTime:..."; keep the
		 * first line, cut to fit. */
		const char *nl = memchr(v, '\n', vlen);
		if (nl)
			vlen = (size_t)(nl - v);
		while (vlen > 0 && (v[vlen - 1] == '\r' || v[vlen - 1] == ' '))
			vlen--;
		if (vlen >= msg_cap)
			vlen = msg_cap - 1;
		/* A cut entity would not decode: then keep the raw text. */
		if (az_xml_unescape(v, vlen, msg, msg_cap) == (size_t)-1) {
			memcpy(msg, v, vlen);
			msg[vlen] = '\0';
		}
	}
	for (char *q = msg; *q; q++)
		if ((unsigned char)*q < 0x20)
			*q = ' ';
}

/* ------------------------------------------------------------------------ */
/* List Blobs */

void az_entries_free(az_entries *a)
{
	for (size_t i = 0; i < a->n; i++)
		free(a->v[i].path);
	free(a->v);
	a->v = NULL;
	a->n = a->cap = 0;
}

static bool az_entries_add(az_entries *a, const char *path, size_t len, int is_dir, int64_t size,
                           int64_t mtime)
{
	if (a->n == a->cap) {
		size_t cap = a->cap ? a->cap * 2 : 64;
		az_entry *v = realloc(a->v, cap * sizeof *v);
		if (!v)
			return false;
		a->v = v;
		a->cap = cap;
	}
	char *p = malloc(len + 1);
	if (!p)
		return false;
	memcpy(p, path, len);
	p[len] = '\0';
	a->v[a->n++] = (az_entry){p, is_dir, size, mtime};
	return true;
}

static int az_entry_cmp(const void *a, const void *b)
{
	return strcmp(((const az_entry *)a)->path, ((const az_entry *)b)->path);
}

/* Blobs and BlobPrefixes come interleaved in name order; each kind is
 * searched once from where its last match ended, so the scan stays linear. */
int az_parse_list(const char *body, size_t len, const char *root_prefix, const char *list_prefix,
                  bool flat, az_entries *out, cairn_error *err)
{
	const char *end = body + len, *blobs, *after;
	size_t blen;
	if (!body || !az_xml_elem(body, end, "Blobs", &blobs, &blen, &after))
		return CAIRN_OK; /* no entries */
	const char *bend = blobs + blen;
	size_t root_len = strlen(root_prefix), lp_len = strlen(list_prefix);
	if (lp_len < root_len || strncmp(list_prefix, root_prefix, root_len) != 0)
		return cairn_error_set(err, CAIRN_ERR_INVALID, "listing prefix outside the root");
	char name[CAIRN_PATH_MAX * 2 + 4];
	const char *p[2] = {blobs, blobs}, *v[2] = {NULL, NULL}, *nx[2] = {NULL, NULL};
	size_t vl[2] = {0, 0};
	bool more[2] = {true, true};
	static const char *const tags[2] = {"Blob", "BlobPrefix"};
	for (;;) {
		for (int k = 0; k < 2; k++)
			if (more[k] && !v[k] &&
			    !az_xml_elem(p[k], bend, tags[k], &v[k], &vl[k], &nx[k]))
				more[k] = false;
		int k = v[0] && v[1] ? (v[0] < v[1] ? 0 : 1) : v[0] ? 0 : v[1] ? 1 : -1;
		if (k < 0)
			break;
		const char *ev = v[k], *eend = v[k] + vl[k], *nv, *na;
		size_t nvl;
		p[k] = nx[k];
		v[k] = NULL;
		if (!az_xml_elem(ev, eend, "Name", &nv, &nvl, &na))
			continue;
		/* <Name Encoded="true">: a name XML cannot carry, percent-encoded. */
		if (memmem(ev, (size_t)(nv - ev), "Encoded=\"true\"", 14))
			continue;
		size_t n = az_xml_unescape(nv, nvl, name, sizeof name);
		if (n == (size_t)-1 || n <= lp_len || strncmp(name, list_prefix, lp_len) != 0)
			continue; /* overlong, encoded or foreign names are not artifacts */
		int is_dir = k == 1;
		if (is_dir && name[n - 1] == '/')
			name[--n] = '\0';
		int64_t size = 0, mtime = 0;
		if (!is_dir) {
			const char *pv, *pa;
			size_t pvl;
			if (az_xml_elem(ev, eend, "Content-Length", &pv, &pvl, &pa) && pvl < 24) {
				char num[24];
				memcpy(num, pv, pvl);
				num[pvl] = '\0';
				size = strtoll(num, NULL, 10);
			}
			if (az_xml_elem(ev, eend, "Last-Modified", &pv, &pvl, &pa))
				mtime = az_parse_http_date(pv, pvl);
			if (az_xml_elem(ev, eend, "hdi_isfolder", &pv, &pvl, &pa) && pvl == 4 &&
			    memcmp(pv, "true", 4) == 0) {
				is_dir = 1;
				size = 0;
			}
		}
		if (n == root_len || (!flat && name[n - 1] == '/'))
			continue; /* "dir/" marker blobs */
		/* A listing shows only names usable as artifact paths ("a//b" and
		 * the like, written by other tools, are not); a flat listing for
		 * removal keeps every name under the prefix. */
		if (!flat && !az_path_ok(name + root_len, false))
			continue;
		if (!az_entries_add(out, name + root_len, n - root_len, is_dir, size,
		                    mtime < 0 ? 0 : mtime))
			return cairn_error_set(err, CAIRN_ERR_NO_MEMORY, "out of memory");
	}
	/* Byte order of paths ("b" before "b.txt", which Azure's "b/" is not),
	 * and an ADLS folder blob and its prefix as one directory. */
	if (out->n > 1)
		qsort(out->v, out->n, sizeof *out->v, az_entry_cmp);
	size_t w = 0;
	for (size_t i = 0; i < out->n; i++) {
		if (w > 0 && strcmp(out->v[w - 1].path, out->v[i].path) == 0) {
			out->v[w - 1].is_dir |= out->v[i].is_dir;
			free(out->v[i].path);
			continue;
		}
		out->v[w++] = out->v[i];
	}
	out->n = w;
	return CAIRN_OK;
}
