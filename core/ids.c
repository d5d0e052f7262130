/* core/ids.c: random 128-bit identifiers as 32 hex digits. */
#include "core/ids.h"

#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

/* Mixes a 64-bit value (splitmix64's finaliser): only for the fallback. */
static uint64_t ids_mix(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ULL;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
	return x ^ (x >> 31);
}

static bool ids_read_urandom(uint8_t *p, size_t n)
{
	int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	size_t got = 0;
	while (got < n) {
		ssize_t r = read(fd, p + got, n - got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		got += (size_t)r;
	}
	close(fd);
	return got == n;
}

static void ids_random16(uint8_t p[16])
{
	/* getrandom of <= 256 bytes from an initialised pool returns all bytes
	 * at once; the loop covers EINTR before initialisation. */
	for (;;) {
		ssize_t r = getrandom(p, 16, 0);
		if (r == 16)
			return;
		if (r < 0 && errno == EINTR)
			continue;
		break;
	}
	if (ids_read_urandom(p, 16))
		return;
	/* No kernel randomness at all (seccomp sandbox without getrandom and
	 * without /dev): ids must still be unique within this process, so mix
	 * clocks, pid and a process-wide counter. Not unpredictable, but never
	 * a crash and never a repeated id. */
	static atomic_uint_fast64_t ids_counter; /* owned by this fallback alone */
	struct timespec rt, mt;
	clock_gettime(CLOCK_REALTIME, &rt);
	clock_gettime(CLOCK_MONOTONIC, &mt);
	uint64_t n = atomic_fetch_add(&ids_counter, 1);
	uint64_t a = ids_mix(((uint64_t)rt.tv_sec * 1000000000u + (uint64_t)rt.tv_nsec) ^ n);
	uint64_t b = ids_mix(((uint64_t)getpid() << 32) ^ (uint64_t)mt.tv_nsec ^ ids_mix(n));
	memcpy(p, &a, 8);
	memcpy(p + 8, &b, 8);
}

void cn_id_hex32(char out[33])
{
	static const char hex[] = "0123456789abcdef";
	uint8_t r[16];
	ids_random16(r);
	for (int i = 0; i < 16; i++) {
		out[2 * i] = hex[r[i] >> 4];
		out[2 * i + 1] = hex[r[i] & 15];
	}
	out[32] = '\0';
}

void cn_id_request(char out[33])
{
	cn_id_hex32(out);
}

bool cn_id_is_hex32(const char *s, size_t len)
{
	if (!s || len != CN_ID_HEX32_LEN)
		return false;
	for (size_t i = 0; i < len; i++) {
		char c = s[i];
		if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
			return false;
	}
	return true;
}
