/*
 * plugins/store/s3/s3_list.c: listing (ListObjectsV2 with the delimiter
 * '/': objects and common prefixes), stat (HEAD, else "has children") and
 * remove (DeleteObject; recursive: list + DeleteObjects in batches of 1000).
 *
 * Paging is exact whatever a server counts against max-keys (S3 counts
 * prefixes, some emulators do not), and a prefix that a server repeats
 * across its own pages is given once: see "Order" below.
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

/*
 * Order. S3 returns keys and common prefixes in byte order of the key, where
 * a directory "b" is "b/"; the ABI wants byte order of the path, where it is
 * "b", before "b-c" and "b.txt" (bytes below '/'). Entries therefore wait in
 * a sorted buffer until nothing S3 can still return sorts before them: after
 * S3 key k, a later directory can only be a prefix of k that is followed in
 * k by a byte below '/' (the shortest such prefix is the threshold), or sort
 * after k. When many entries wait on one such candidate ("x.1" .. "x.9999"
 * waiting on a directory "x"), one probe (is there a key under "x/"?)
 * settles it. Page tokens are the last path name given; a page starts after
 * it (start-after), and drops every entry at or before it.
 */
#define S3_LIST_WAIT_MAX 1000

typedef struct s3_ent {
	char *name; /* child name, no trailing '/' */
	bool is_dir;
	int64_t size, mtime_ms;
} s3_ent;

typedef struct s3_lister {
	cairn_store *s;
	const char *dir;    /* the listed artifact dir */
	const char *prefix; /* the key prefix of dir's children */
	size_t plen;
	char last[2 * CAIRN_PATH_MAX + 8]; /* last name given, or the page token */
	size_t max, given;
	bool more;
	cairn_list_fn cb;
	void *cb_arg;
	bool stopped;
	s3_ent *wait; /* sorted by name, directories first on a tie */
	size_t nwait, capwait;
	char **settled; /* candidate directories already probed or given */
	size_t nsettled;
	bool oom;
} s3_lister;

static int s3_ent_cmp(const char *an, bool ad, const char *bn, bool bd)
{
	int c = strcmp(an, bn);
	return c ? c : (int)bd - (int)ad;
}

static void s3_lister_free(s3_lister *l)
{
	for (size_t i = 0; i < l->nwait; i++)
		free(l->wait[i].name);
	free(l->wait);
	for (size_t i = 0; i < l->nsettled; i++)
		free(l->settled[i]);
	free(l->settled);
}

/* Adds a waiting entry unless it is given already or waits already. */
static void s3_lister_add(s3_lister *l, const char *name, size_t nlen, bool is_dir, int64_t size,
                          int64_t mtime_ms)
{
	char *n = strndup(name, nlen);
	if (!n) {
		l->oom = true;
		return;
	}
	if (l->last[0] && strcmp(n, l->last) <= 0) {
		free(n);
		return;
	}
	size_t lo = 0, hi = l->nwait;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		if (s3_ent_cmp(l->wait[mid].name, l->wait[mid].is_dir, n, is_dir) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo < l->nwait && !strcmp(l->wait[lo].name, n) && l->wait[lo].is_dir == is_dir) {
		free(n);
		return;
	}
	if (l->nwait == l->capwait) {
		size_t cap = l->capwait ? l->capwait * 2 : 64;
		s3_ent *w = realloc(l->wait, cap * sizeof *w);
		if (!w) {
			free(n);
			l->oom = true;
			return;
		}
		l->wait = w;
		l->capwait = cap;
	}
	memmove(l->wait + lo + 1, l->wait + lo, (l->nwait - lo) * sizeof *l->wait);
	l->wait[lo] = (s3_ent){.name = n, .is_dir = is_dir, .size = size, .mtime_ms = mtime_ms};
	l->nwait++;
}

/* Gives waiting entries whose name is below bound (at or below, with
 * inclusive; everything when bound is NULL). False once the page is full
 * or the callback stopped. */
static bool s3_lister_emit(s3_lister *l, const char *bound, bool inclusive)
{
	size_t i = 0;
	bool go = true;
	for (; i < l->nwait; i++) {
		s3_ent *e = &l->wait[i];
		if (bound) {
			int c = strcmp(e->name, bound);
			if (c > 0 || (c == 0 && !inclusive))
				break;
		}
		if (l->max && l->given == l->max) {
			l->more = true;
			go = false;
			break;
		}
		char path[CAIRN_PATH_MAX + 2];
		size_t dlen = strlen(l->dir), nlen = strlen(e->name);
		snprintf(l->last, sizeof l->last, "%s", e->name);
		if (dlen + 1 + nlen > CAIRN_PATH_MAX) /* not addressable as an artifact path */
			continue;
		snprintf(path, sizeof path, "%s%s%s", l->dir, dlen ? "/" : "", e->name);
		cairn_list_entry ce = {.path = path,
		                       .is_dir = e->is_dir,
		                       .size = e->is_dir ? 0 : e->size,
		                       .mtime_ms = e->mtime_ms};
		l->given++;
		if (l->cb(l->cb_arg, &ce) != 0) {
			l->stopped = true;
			i++;
			go = false;
			break;
		}
	}
	for (size_t j = 0; j < i; j++)
		free(l->wait[j].name);
	if (i) {
		memmove(l->wait, l->wait + i, (l->nwait - i) * sizeof *l->wait);
		l->nwait -= i;
	}
	return go;
}

static bool s3_lister_settled(const s3_lister *l, const char *cand, size_t len)
{
	if (l->last[0] && (strncmp(cand, l->last, len) < 0 ||
	                   (strncmp(cand, l->last, len) == 0 && strlen(l->last) >= len)))
		return true; /* at or before what was given: settled already */
	for (size_t i = 0; i < l->nsettled; i++)
		if (strlen(l->settled[i]) == len && !strncmp(l->settled[i], cand, len))
			return true;
	return false;
}

static int s3_has_keys(cairn_store *s, const char *prefix, bool *any, cairn_error *err);

/* After S3 key k (relative, '/' ending a directory): gives what can no
 * longer be preceded, probing a candidate directory when too much waits. */
static int s3_lister_advance(s3_lister *l, const char *k, cairn_error *err)
{
	for (;;) {
		size_t cut = 0;
		bool found = false;
		for (size_t i = 1; k[i]; i++) {
			if ((unsigned char)k[i] < '/' && !s3_lister_settled(l, k, i)) {
				cut = i;
				found = true;
				break;
			}
		}
		char bound[2 * CAIRN_PATH_MAX + 8];
		size_t blen = found ? cut : strlen(k);
		if (!found && blen && k[blen - 1] == '/')
			blen--; /* a directory's own name */
		snprintf(bound, sizeof bound, "%.*s", (int)blen, k);
		if (!s3_lister_emit(l, bound, !found))
			return CAIRN_OK;
		if (!found || l->nwait < S3_LIST_WAIT_MAX)
			return CAIRN_OK;
		/* Too much waits on whether bound is a directory: ask. */
		char probe[3 * CAIRN_PATH_MAX + 8];
		snprintf(probe, sizeof probe, "%s%s/", l->prefix, bound);
		bool any = false;
		int rc = s3_has_keys(l->s, probe, &any, err);
		if (rc != CAIRN_OK)
			return rc;
		char **v = realloc(l->settled, (l->nsettled + 1) * sizeof *v);
		char *copy = strdup(bound);
		if (!v || !copy) {
			free(copy);
			if (v)
				l->settled = v;
			l->oom = true;
			return CAIRN_OK;
		}
		l->settled = v;
		l->settled[l->nsettled++] = copy;
		if (any)
			s3_lister_add(l, bound, strlen(bound), true, 0, 0);
	}
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

/* One S3 item of a page: into the lister. */
static int s3_lister_offer(s3_lister *l, const char *key, const s3_page_item *it, cairn_error *err)
{
	const char *name = key + l->plen;
	size_t nlen = strlen(name);
	if (!nlen || !strcmp(name, "/"))
		return CAIRN_OK; /* the directory's own marker object, or an empty name */
	s3_lister_add(l, name, it->is_dir ? nlen - 1 : nlen, it->is_dir, it->size, it->mtime_ms);
	return s3_lister_advance(l, name, err);
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
	s3_lister l = {.s = s,
	               .dir = dir,
	               .prefix = prefix,
	               .plen = strlen(prefix),
	               .max = max_entries,
	               .cb = cb,
	               .cb_arg = cb_arg};
	if (page_token && page_token[0]) {
		snprintf(l.last, sizeof l.last, "%s", page_token);
		snprintf(start, sizeof start, "%s%s", prefix, page_token);
	}
	s3_buf out = {0};
	char cont[2048] = "";
	int rc = CAIRN_OK;
	bool done = false;
	while (rc == CAIRN_OK && !done && !l.more && !l.stopped && !l.oom) {
		size_t want = max_entries ? max_entries - l.given + l.nwait + 1 : 1000;
		rc = s3_list_page(s, prefix, true, start, cont, want > 1000 ? 1000 : (int)want,
		                  &out, err);
		if (rc != CAIRN_OK)
			break;
		s3_page pg = {.doc = out.p ? out.p : "", .len = out.len};
		s3_page_next_content(&pg);
		s3_page_next_prefix(&pg);
		while (rc == CAIRN_OK && !l.more && !l.stopped && (pg.c_have || pg.p_have)) {
			bool take_c = pg.c_have && (!pg.p_have || strcmp(pg.ckey, pg.pkey) < 0);
			if (take_c) {
				rc = s3_lister_offer(&l, pg.ckey, &pg.c, err);
				s3_page_next_content(&pg);
			} else {
				rc = s3_lister_offer(&l, pg.pkey, &pg.p, err);
				s3_page_next_prefix(&pg);
			}
		}
		char trunc[16] = "", prev[sizeof cont];
		memcpy(prev, cont, sizeof prev);
		s3_xml_text(pg.doc, pg.len, "IsTruncated", trunc, sizeof trunc);
		done = strcmp(trunc, "true") != 0 ||
		       !s3_xml_text(pg.doc, pg.len, "NextContinuationToken", cont, sizeof cont) ||
		       !cont[0];
		if (!done && rc == CAIRN_OK && !strcmp(prev, cont))
			rc = cairn_error_set(
			        err, CAIRN_ERR_IO,
			        "list %.300s: the server repeated its continuation token", dir);
	}
	if (rc == CAIRN_OK && done && !l.more && !l.stopped && !l.oom)
		s3_lister_emit(&l, NULL, true); /* the listing is over: nothing can precede */
	s3_buf_free(&out);
	bool oom = l.oom;
	s3_lister_free(&l);
	if (rc != CAIRN_OK)
		return rc;
	if (oom)
		return cairn_error_set(err, CAIRN_ERR_NO_MEMORY, "out of memory while listing");
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
		uint8_t d[32], md5[16];
		char b64[64], md5_b64[32];
		s->host->sha256(body.p, body.len, d);
		s->host->base64_encode(d, 32, b64, sizeof b64, 0);
		s3_md5(body.p, body.len, md5);
		s->host->base64_encode(md5, 16, md5_b64, sizeof md5_b64, 0);
		cairn_http_header h[] = {{"x-amz-sdk-checksum-algorithm", "SHA256"},
		                         {"x-amz-checksum-sha256", b64},
		                         {"Content-MD5", md5_b64}};
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
