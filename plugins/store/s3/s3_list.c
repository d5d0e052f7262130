/*
 * plugins/store/s3/s3_list.c: listing (ListObjectsV2 with the delimiter
 * '/': objects and common prefixes), stat (HEAD, else "has children") and
 * remove (DeleteObject; recursive: list + DeleteObjects in batches of 1000).
 *
 * Page tokens: the name of the last child given, relative to the listed
 * directory, with a trailing '/' for a directory. The next page asks S3 to
 * start after it, and every entry at or before it is dropped. That makes
 * paging exact whatever the server counts against max-keys (S3 counts
 * prefixes, some emulators do not) and drops a prefix that a server repeats
 * across its own pages.
 */
#include "s3_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define S3_LIST_BODY_MAX (16 << 20)

typedef struct s3_page_item {
	const char *raw; /* inner XML of Key or Prefix, still escaped */
	size_t raw_len;
	int64_t size, mtime_ms;
	bool is_dir;
} s3_page_item;

/* One ListObjectsV2 request. */
static int s3_list_page(cairn_store *s, const char *prefix, bool delimit, const char *start_after,
                        const char *cont, int max_keys, s3_buf *out, cairn_error *err)
{
	char mk[16];
	snprintf(mk, sizeof mk, "%d", max_keys);
	s3_param q[6];
	size_t n = 0;
	q[n++] = (s3_param){"list-type", "2"};
	q[n++] = (s3_param){"prefix", prefix};
	q[n++] = (s3_param){"max-keys", mk};
	if (delimit)
		q[n++] = (s3_param){"delimiter", "/"};
	if (cont && cont[0])
		q[n++] = (s3_param){"continuation-token", cont};
	else if (start_after && start_after[0])
		q[n++] = (s3_param){"start-after", start_after};
	out->max = S3_LIST_BODY_MAX;
	s3_resp resp;
	s3_req r = {.method = "GET", .key = NULL, .query = q, .nquery = n, .out = out};
	return s3_call(s, &r, &resp, err);
}

/* Decodes the raw text of an element into out. */
static bool s3_decode(const char *raw, size_t len, char *out, size_t cap)
{
	/* Wrap it as an element so that s3_xml_text can decode it. */
	s3_buf b = {0};
	s3_buf_str(&b, "<v>");
	s3_buf_add(&b, raw, len);
	s3_buf_str(&b, "</v>");
	bool ok = !b.oom && s3_xml_text(b.p, b.len, "v", out, cap);
	s3_buf_free(&b);
	return ok;
}

/* The next item of a page in key order: *ci into Contents, *pi into
 * CommonPrefixes (S3 lists each sorted; the page interleaves them). */
typedef struct s3_page {
	const char *doc;
	size_t len;
	size_t cpos, ppos;
	bool c_have, p_have;
	s3_page_item c, p;
	char ckey[2 * CAIRN_PATH_MAX + 8], pkey[2 * CAIRN_PATH_MAX + 8];
} s3_page;

static void s3_page_next_content(s3_page *pg)
{
	const char *in;
	size_t n;
	pg->c_have = false;
	while (s3_xml_next(pg->doc, pg->len, &pg->cpos, "Contents", &in, &n)) {
		size_t kp = 0, sp = 0, mp = 0;
		const char *k, *v;
		size_t kn, vn;
		if (!s3_xml_next(in, n, &kp, "Key", &k, &kn) ||
		    !s3_decode(k, kn, pg->ckey, sizeof pg->ckey))
			continue;
		char num[32] = "", lm[64] = "";
		if (s3_xml_next(in, n, &sp, "Size", &v, &vn) && vn < sizeof num)
			memcpy(num, v, vn), num[vn] = '\0';
		if (s3_xml_next(in, n, &mp, "LastModified", &v, &vn) && vn < sizeof lm)
			memcpy(lm, v, vn), lm[vn] = '\0';
		pg->c.size = strtoll(num, NULL, 10);
		pg->c.mtime_ms = 0;
		if (lm[0])
			s3_iso8601_ms(lm, &pg->c.mtime_ms);
		pg->c.is_dir = false;
		pg->c_have = true;
		return;
	}
}

static void s3_page_next_prefix(s3_page *pg)
{
	const char *in, *k;
	size_t n, kn;
	pg->p_have = false;
	while (s3_xml_next(pg->doc, pg->len, &pg->ppos, "CommonPrefixes", &in, &n)) {
		size_t kp = 0;
		if (!s3_xml_next(in, n, &kp, "Prefix", &k, &kn) ||
		    !s3_decode(k, kn, pg->pkey, sizeof pg->pkey))
			continue;
		pg->p = (s3_page_item){.is_dir = true};
		pg->p_have = true;
		return;
	}
}

typedef struct s3_lister {
	const char *dir;                   /* the listed artifact dir */
	size_t plen;                       /* length of the key prefix of dir's children */
	char last[2 * CAIRN_PATH_MAX + 8]; /* last child name given or skipped past */
	size_t max, given;
	bool more;
	cairn_list_fn cb;
	void *cb_arg;
	bool stopped;
} s3_lister;

/* Offers one child (key relative name); returns false to stop the page. */
static bool s3_lister_offer(s3_lister *l, const char *key, const s3_page_item *it)
{
	const char *name = key + l->plen;
	if (!name[0] || !strcmp(name, "/"))
		return true; /* the directory's own marker object, or an empty name */
	if (l->last[0] && strcmp(name, l->last) <= 0)
		return true; /* given already (or before the page token) */
	if (l->max && l->given == l->max) {
		l->more = true;
		return false;
	}
	char path[CAIRN_PATH_MAX + 2];
	size_t nlen = strlen(name) - (it->is_dir ? 1 : 0), dlen = strlen(l->dir);
	snprintf(l->last, sizeof l->last, "%s", name);
	if (dlen + 1 + nlen > CAIRN_PATH_MAX)
		return true; /* not addressable as an artifact path */
	if (dlen)
		snprintf(path, sizeof path, "%s/%.*s", l->dir, (int)nlen, name);
	else
		snprintf(path, sizeof path, "%.*s", (int)nlen, name);
	cairn_list_entry e = {.path = path,
	                      .is_dir = it->is_dir,
	                      .size = it->is_dir ? 0 : it->size,
	                      .mtime_ms = it->mtime_ms};
	l->given++;
	if (l->cb(l->cb_arg, &e) != 0) {
		l->stopped = true;
		return false;
	}
	return true;
}

/* The key prefix of dir's children: "<prefix>/<dir>/", "<prefix>/", or "". */
static bool s3_dir_prefix(const cairn_store *s, const char *dir, char *out, size_t cap)
{
	if (!s3_key_of(s, dir, out, cap))
		return false;
	size_t n = strlen(out);
	if (n && n + 1 < cap) {
		out[n] = '/';
		out[n + 1] = '\0';
	}
	return n == 0 || n + 1 < cap;
}

int s3_list(cairn_store *s, const char *dir, const char *page_token, size_t max_entries,
            cairn_list_fn cb, void *cb_arg, char *next_token, size_t next_token_cap,
            cairn_error *err)
{
	if (!s3_path_ok(dir, true))
		return cairn_error_set(err, CAIRN_ERR_INVALID, "unsafe artifact path '%.300s'",
		                       dir ? dir : "(null)");
	if (next_token_cap)
		next_token[0] = '\0';
	char prefix[2 * CAIRN_PATH_MAX + 4], start[3 * CAIRN_PATH_MAX + 8] = "";
	if (!s3_dir_prefix(s, dir, prefix, sizeof prefix))
		return cairn_error_set(err, CAIRN_ERR_INVALID, "path too long");
	s3_lister l = {
	        .dir = dir, .plen = strlen(prefix), .max = max_entries, .cb = cb, .cb_arg = cb_arg};
	if (page_token && page_token[0]) {
		snprintf(l.last, sizeof l.last, "%s", page_token);
		snprintf(start, sizeof start, "%s%s", prefix, page_token);
	}
	s3_buf out = {0};
	char cont[2048] = "";
	int rc = CAIRN_OK;
	for (int guard = 0; guard < 1000000; guard++) {
		size_t want = max_entries ? max_entries - l.given + 1 : 1000;
		rc = s3_list_page(s, prefix, true, start, cont, want > 1000 ? 1000 : (int)want,
		                  &out, err);
		if (rc != CAIRN_OK)
			break;
		s3_page pg = {.doc = out.p ? out.p : "", .len = out.len};
		s3_page_next_content(&pg);
		s3_page_next_prefix(&pg);
		bool go = true;
		while (go && (pg.c_have || pg.p_have)) {
			bool take_c = pg.c_have && (!pg.p_have || strcmp(pg.ckey, pg.pkey) < 0);
			if (take_c) {
				go = s3_lister_offer(&l, pg.ckey, &pg.c);
				s3_page_next_content(&pg);
			} else {
				go = s3_lister_offer(&l, pg.pkey, &pg.p);
				s3_page_next_prefix(&pg);
			}
		}
		if (!go)
			break;
		char trunc[16] = "";
		s3_xml_text(pg.doc, pg.len, "IsTruncated", trunc, sizeof trunc);
		if (strcmp(trunc, "true") != 0 ||
		    !s3_xml_text(pg.doc, pg.len, "NextContinuationToken", cont, sizeof cont) ||
		    !cont[0])
			break;
	}
	s3_buf_free(&out);
	if (rc != CAIRN_OK)
		return rc;
	if (l.stopped)
		return cairn_error_set(err, CAIRN_ERR_CANCELLED, "listing stopped by callback");
	if (l.more) {
		if (strlen(l.last) >= next_token_cap)
			return cairn_error_set(err, CAIRN_ERR_NO_MEMORY,
			                       "page token buffer too small");
		memcpy(next_token, l.last, strlen(l.last) + 1);
	}
	return CAIRN_OK;
}

/* Whether any key starts with prefix (a directory in S3's sense). */
static int s3_has_keys(cairn_store *s, const char *prefix, bool *any, cairn_error *err)
{
	s3_buf out = {0};
	int rc = s3_list_page(s, prefix, false, NULL, NULL, 1, &out, err);
	const char *in;
	size_t n, pos = 0;
	*any = rc == CAIRN_OK && out.p && s3_xml_next(out.p, out.len, &pos, "Contents", &in, &n);
	s3_buf_free(&out);
	return rc;
}

int s3_stat(cairn_store *s, const char *path, cairn_object_info *info, cairn_error *err)
{
	if (!s3_path_ok(path, true))
		return cairn_error_set(err, CAIRN_ERR_INVALID, "unsafe artifact path '%.300s'",
		                       path ? path : "(null)");
	if (!path[0]) {
		info->is_dir = 1;
		return CAIRN_OK;
	}
	char key[2 * CAIRN_PATH_MAX + 4];
	if (!s3_key_of(s, path, key, sizeof key))
		return cairn_error_set(err, CAIRN_ERR_INVALID, "path too long");
	s3_resp resp;
	int rc = s3_head(s, key, &resp, err);
	if (rc == CAIRN_OK) {
		info->size = resp.content_length < 0 ? 0 : resp.content_length;
		info->mtime_ms = resp.mtime_ms;
		info->is_dir = 0;
		return CAIRN_OK;
	}
	if (rc != CAIRN_ERR_NOT_FOUND)
		return rc;
	bool any = false;
	char prefix[2 * CAIRN_PATH_MAX + 4];
	s3_dir_prefix(s, path, prefix, sizeof prefix);
	rc = s3_has_keys(s, prefix, &any, err);
	if (rc != CAIRN_OK)
		return rc;
	if (!any)
		return cairn_error_set(err, CAIRN_ERR_NOT_FOUND, "no artifact at '%.300s'", path);
	info->is_dir = 1;
	return CAIRN_OK;
}

/* DeleteObjects of up to 1000 keys of one listing page (raw Key texts). */
static int s3_delete_batch(cairn_store *s, const s3_buf *page, size_t *count, char *first,
                           size_t first_cap, cairn_error *err)
{
	s3_buf body = {0}, out = {.max = 4 << 20};
	s3_buf_str(&body, "<Delete><Quiet>true</Quiet>");
	const char *in, *k;
	size_t n, kn, pos = 0;
	*count = 0;
	first[0] = '\0';
	while (page->p && s3_xml_next(page->p, page->len, &pos, "Contents", &in, &n)) {
		size_t kp = 0;
		if (!s3_xml_next(in, n, &kp, "Key", &k, &kn))
			continue;
		if (*count == 0 && kn < first_cap)
			memcpy(first, k, kn), first[kn] = '\0';
		/* The raw text is already XML-escaped: it goes back as it came. */
		s3_buf_str(&body, "<Object><Key>");
		s3_buf_add(&body, k, kn);
		s3_buf_str(&body, "</Key></Object>");
		(*count)++;
	}
	s3_buf_str(&body, "</Delete>");
	int rc = CAIRN_OK;
	if (body.oom)
		rc = cairn_error_set(err, CAIRN_ERR_NO_MEMORY, "out of memory");
	if (rc == CAIRN_OK && *count) {
		uint8_t d[32];
		char b64[64];
		s->host->sha256(body.p, body.len, d);
		s->host->base64_encode(d, 32, b64, sizeof b64, 0);
		cairn_http_header h[] = {{"x-amz-sdk-checksum-algorithm", "SHA256"},
		                         {"x-amz-checksum-sha256", b64}};
		s3_param q[] = {{"delete", ""}};
		s3_resp resp;
		s3_req r = {.method = "POST",
		            .key = NULL,
		            .query = q,
		            .nquery = 1,
		            .headers = h,
		            .nheaders = 2,
		            .body = body.p,
		            .body_len = body.len,
		            .out = &out};
		rc = s3_call(s, &r, &resp, err);
		char code[128], msg[300] = "", key[CAIRN_PATH_MAX + 1] = "";
		size_t ep = 0;
		const char *ein;
		size_t en;
		if (rc == CAIRN_OK && out.p &&
		    s3_xml_next(out.p, out.len, &ep, "Error", &ein, &en) &&
		    s3_xml_text(ein, en, "Code", code, sizeof code)) {
			s3_xml_text(ein, en, "Message", msg, sizeof msg);
			s3_xml_text(ein, en, "Key", key, sizeof key);
			rc = cairn_error_set(err, s3_status_of(500, code), "delete %.300s: %s: %s",
			                     key, code, msg);
		}
	}
	s3_buf_free(&body);
	s3_buf_free(&out);
	return rc;
}

/* Deletes every key under prefix ("" = the whole bucket). */
static int s3_delete_prefix(cairn_store *s, const char *prefix, cairn_error *err)
{
	char prev[2 * CAIRN_PATH_MAX + 8] = "", first[2 * CAIRN_PATH_MAX + 8];
	for (;;) {
		s3_buf page = {0};
		int rc = s3_list_page(s, prefix, false, NULL, NULL, 1000, &page, err);
		size_t count = 0;
		if (rc == CAIRN_OK)
			rc = s3_delete_batch(s, &page, &count, first, sizeof first, err);
		s3_buf_free(&page);
		if (rc != CAIRN_OK || count == 0)
			return rc;
		/* Listing again from the start after each batch needs no token,
		 * but must make progress. */
		if (!strcmp(first, prev))
			return cairn_error_set(err, CAIRN_ERR_IO,
			                       "recursive remove made no progress at %.300s",
			                       first);
		snprintf(prev, sizeof prev, "%s", first);
	}
}

int s3_remove(cairn_store *s, const char *path, int recursive, cairn_error *err)
{
	if (!s3_path_ok(path, recursive != 0))
		return cairn_error_set(err, CAIRN_ERR_INVALID, "unsafe artifact path '%.300s'",
		                       path ? path : "(null)");
	char key[2 * CAIRN_PATH_MAX + 4], prefix[2 * CAIRN_PATH_MAX + 4];
	if (!s3_key_of(s, path, key, sizeof key) || !s3_dir_prefix(s, path, prefix, sizeof prefix))
		return cairn_error_set(err, CAIRN_ERR_INVALID, "path too long");
	s3_resp resp;
	if (recursive) {
		int rc = s3_delete_prefix(s, prefix, err);
		if (rc == CAIRN_OK && path[0]) {
			s3_req r = {.method = "DELETE", .key = key};
			rc = s3_call(s, &r, &resp, err);
			if (rc == CAIRN_ERR_NOT_FOUND) /* some servers say so; S3 does not */
				rc = CAIRN_OK;
		}
		return rc;
	}
	/* S3 deletes a missing key without complaint: look first. */
	int rc = s3_head(s, key, &resp, err);
	if (rc == CAIRN_ERR_NOT_FOUND) {
		bool any = false;
		rc = s3_has_keys(s, prefix, &any, err);
		if (rc != CAIRN_OK)
			return rc;
		if (any)
			return cairn_error_set(err, CAIRN_ERR_INVALID,
			                       "'%.300s' is a directory with contents; remove it "
			                       "recursively",
			                       path);
		return cairn_error_set(err, CAIRN_ERR_NOT_FOUND, "no artifact at '%.300s'", path);
	}
	if (rc != CAIRN_OK)
		return rc;
	s3_req r = {.method = "DELETE", .key = key};
	return s3_call(s, &r, &resp, err);
}
