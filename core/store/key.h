/*
 * core/store/key.h: order-preserving composite keys.
 *
 * A key is a byte string whose memcmp order equals the order of its parts:
 * unsigned integers big-endian; signed integers big-endian with the sign bit
 * flipped; strings escaped (0x00 -> 0x00 0xFF) and terminated by 0x00 0x01
 * so that "a" < "a\0" < "ab" and a string never runs into the next part.
 * A key lives in a fixed buffer on the stack; overflow is sticky.
 */
#ifndef CN_KEY_H
#define CN_KEY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CN_KEY_MAX 1024

typedef struct cn_key {
	uint8_t b[CN_KEY_MAX];
	size_t len;
	bool overflow;
} cn_key;

static inline void cn_key_init(cn_key *k)
{
	k->len = 0;
	k->overflow = false;
}
void cn_key_u8(cn_key *k, uint8_t v);
void cn_key_u32(cn_key *k, uint32_t v);
void cn_key_u64(cn_key *k, uint64_t v);
void cn_key_i64(cn_key *k, int64_t v);
void cn_key_str(cn_key *k, const char *s, size_t len);
/* Raw bytes with no terminator: only as the last part. */
void cn_key_raw(cn_key *k, const void *p, size_t len);

/* Decoding, for keys read back from iterators. Each returns false on a
 * malformed key; *pos advances past the part. */
bool cn_key_get_u8(const uint8_t *k, size_t len, size_t *pos, uint8_t *v);
bool cn_key_get_u32(const uint8_t *k, size_t len, size_t *pos, uint32_t *v);
bool cn_key_get_u64(const uint8_t *k, size_t len, size_t *pos, uint64_t *v);
bool cn_key_get_i64(const uint8_t *k, size_t len, size_t *pos, int64_t *v);
/* Unescapes into out (capacity cap, NUL-terminated); false if it does not fit.
 * out may be NULL (cap 0) to skip the part. On false *pos is unchanged;
 * outlen may be NULL. */
bool cn_key_get_str(const uint8_t *k, size_t len, size_t *pos, char *out, size_t cap,
                    size_t *outlen);

#endif
