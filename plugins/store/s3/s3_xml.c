/*
 * plugins/store/s3/s3_xml.c: just enough XML for S3's responses.
 *
 * Why not libxml2: the plugin needs about ten leaf values (Error/Code,
 * Contents/Key, UploadId, ...) from flat documents that S3 generates; a
 * full parser would be a second library every deployment must install for
 * the plugin alone, with a long record of memory-safety fixes. This scanner
 * is linear in the document, never recurses, never allocates, and reads only
 * inside [doc, doc + len): a cut-off or hostile document yields "absent",
 * never a read past the end. Comments, processing instructions and CDATA are
 * skipped; attributes are ignored; entities are the five predefined ones
 * plus numeric references.
 */
#include "s3_int.h"

#include <string.h>

/* Skips "<!-- ... -->", "<![CDATA[ ... ]]>", "<!...>" and "<?...?>" at i;
 * returns the index after it, or len when it is cut off. */
static size_t s3_xml_skip_special(const char *d, size_t len, size_t i)
{
	const char *end = NULL;
	size_t elen = 1;
	if (len - i >= 4 && memcmp(d + i, "<!--", 4) == 0) {
		end = "-->";
		elen = 3;
	} else if (len - i >= 9 && memcmp(d + i, "<![CDATA[", 9) == 0) {
		end = "]]>";
		elen = 3;
	} else if (d[i + 1] == '?') {
		end = "?>";
		elen = 2;
	} else {
		end = ">";
	}
	for (size_t j = i + 2; j + elen <= len; j++)
		if (memcmp(d + j, end, elen) == 0)
			return j + elen;
	return len;
}

bool s3_xml_next(const char *doc, size_t len, size_t *pos, const char *name, const char **inner,
                 size_t *inner_len)
{
	size_t nlen = strlen(name);
	size_t i = *pos;
	while (i < len) {
		const char *lt = memchr(doc + i, '<', len - i);
		if (!lt)
			return false;
		i = (size_t)(lt - doc);
		if (i + 1 >= len)
			return false;
		if (doc[i + 1] == '!' || doc[i + 1] == '?') {
			i = s3_xml_skip_special(doc, len, i);
			continue;
		}
		size_t after = i + 1 + nlen;
		bool match = after < len && memcmp(doc + i + 1, name, nlen) == 0 &&
		             (doc[after] == '>' || doc[after] == '/' || doc[after] == ' ' ||
		              doc[after] == '\t' || doc[after] == '\r' || doc[after] == '\n');
		/* Find the end of this tag (attribute values cannot hold '>' in
		 * S3's output, and a stray one only ends the tag early). */
		const char *gt = memchr(doc + i, '>', len - i);
		if (!gt)
			return false;
		size_t tag_end = (size_t)(gt - doc);
		if (!match) {
			i = tag_end + 1;
			continue;
		}
		if (tag_end > i && doc[tag_end - 1] == '/') { /* <Name/> */
			*inner = doc + tag_end + 1;
			*inner_len = 0;
			*pos = tag_end + 1;
			return true;
		}
		size_t start = tag_end + 1;
		/* The matching close tag: S3 never nests an element in one of
		 * the same name, so the first "</name>" closes it. */
		for (size_t j = start; j + nlen + 3 <= len; j++) {
			if (doc[j] == '<' && doc[j + 1] == '/' &&
			    memcmp(doc + j + 2, name, nlen) == 0 && doc[j + 2 + nlen] == '>') {
				*inner = doc + start;
				*inner_len = j - start;
				*pos = j + nlen + 3;
				return true;
			}
		}
		return false;
	}
	return false;
}

/* Appends code point cp as UTF-8; false when it is not a valid XML char. */
static bool s3_xml_utf8(char *out, size_t cap, size_t *o, unsigned long cp)
{
	char tmp[4];
	size_t n;
	if (cp == 0 || (cp >= 0xD800 && cp <= 0xDFFF) || cp > 0x10FFFF)
		return false;
	if (cp < 0x80) {
		tmp[0] = (char)cp;
		n = 1;
	} else if (cp < 0x800) {
		tmp[0] = (char)(0xC0 | (cp >> 6));
		tmp[1] = (char)(0x80 | (cp & 0x3F));
		n = 2;
	} else if (cp < 0x10000) {
		tmp[0] = (char)(0xE0 | (cp >> 12));
		tmp[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
		tmp[2] = (char)(0x80 | (cp & 0x3F));
		n = 3;
	} else {
		tmp[0] = (char)(0xF0 | (cp >> 18));
		tmp[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
		tmp[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
		tmp[3] = (char)(0x80 | (cp & 0x3F));
		n = 4;
	}
	if (*o + n >= cap)
		return false;
	memcpy(out + *o, tmp, n);
	*o += n;
	return true;
}

/* Decodes the entity at s[0..len) (s[0] == '&'); *used gets its length. */
static bool s3_xml_entity(const char *s, size_t len, char *out, size_t cap, size_t *o, size_t *used)
{
	static const struct {
		const char *name;
		char c;
	} named[] = {{"lt;", '<'}, {"gt;", '>'}, {"amp;", '&'}, {"quot;", '"'}, {"apos;", '\''}};
	for (size_t k = 0; k < sizeof named / sizeof named[0]; k++) {
		size_t n = strlen(named[k].name);
		if (len - 1 >= n && memcmp(s + 1, named[k].name, n) == 0) {
			if (*o + 1 >= cap)
				return false;
			out[(*o)++] = named[k].c;
			*used = n + 1;
			return true;
		}
	}
	if (len < 4 || s[1] != '#')
		return false;
	bool hex = s[2] == 'x';
	unsigned long cp = 0;
	size_t j = hex ? 3 : 2, digits = 0;
	for (; j < len && s[j] != ';'; j++, digits++) {
		char c = s[j];
		int v = c >= '0' && c <= '9'          ? c - '0'
		        : hex && c >= 'a' && c <= 'f' ? c - 'a' + 10
		        : hex && c >= 'A' && c <= 'F' ? c - 'A' + 10
		                                      : -1;
		if (v < 0 || digits >= 8)
			return false;
		cp = cp * (hex ? 16 : 10) + (unsigned long)v;
	}
	if (j >= len || digits == 0)
		return false;
	*used = j + 1;
	return s3_xml_utf8(out, cap, o, cp);
}

bool s3_xml_text(const char *doc, size_t len, const char *name, char *out, size_t cap)
{
	size_t pos = 0, n = 0, o = 0;
	const char *in = NULL;
	if (cap == 0 || !s3_xml_next(doc, len, &pos, name, &in, &n))
		return false;
	for (size_t i = 0; i < n;) {
		if (in[i] == '&') {
			size_t used = 0;
			if (!s3_xml_entity(in + i, n - i, out, cap, &o, &used))
				return false;
			i += used;
			continue;
		}
		if (in[i] == '<') /* markup inside a leaf: not a value we know */
			return false;
		if (o + 1 >= cap)
			return false;
		out[o++] = in[i++];
	}
	out[o] = '\0';
	return true;
}
