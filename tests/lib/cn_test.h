/*
 * tests/lib/cn_test.h: the tiny unit-test harness every C test uses.
 *
 *   CN_TEST(name) { CN_CHECK(x == 1); CN_CHECK_EQ_INT(a, b); CN_CHECK_STR(s, "x"); }
 *   int main(void) { return cn_test_main(); }   // or CN_TEST_MAIN()
 *
 * Each failed check prints file:line and the expression and marks the test
 * failed; the run ends with "N passed, M failed" and exits non-zero on any
 * failure, as ctest expects.
 */
#ifndef CN_TEST_H
#define CN_TEST_H

#include <stdio.h>
#include <string.h>

typedef void (*cn_test_fn)(void);
void cn_test_register(const char *name, cn_test_fn fn);
void cn_test_fail(const char *file, int line, const char *expr);
int cn_test_main(void);

#define CN_TEST(name)                                                   \
	static void name(void);                                         \
	__attribute__((constructor)) static void name##_register_(void) \
	{                                                               \
		cn_test_register(#name, name);                          \
	}                                                               \
	static void name(void)

#define CN_CHECK(expr)                                           \
	do {                                                     \
		if (!(expr))                                     \
			cn_test_fail(__FILE__, __LINE__, #expr); \
	} while (0)

#define CN_CHECK_EQ_INT(a, b)                                                               \
	do {                                                                                \
		long long a_ = (long long)(a), b_ = (long long)(b);                         \
		if (a_ != b_) {                                                             \
			char m_[256];                                                       \
			snprintf(m_, sizeof m_, "%s == %s (%lld != %lld)", #a, #b, a_, b_); \
			cn_test_fail(__FILE__, __LINE__, m_);                               \
		}                                                                           \
	} while (0)

#define CN_CHECK_STR(a, b)                                                                         \
	do {                                                                                       \
		const char *a_ = (a), *b_ = (b);                                                   \
		if (!a_ || !b_ || strcmp(a_, b_) != 0) {                                           \
			char m_[1024];                                                             \
			snprintf(m_, sizeof m_, "%.100s == %.100s (\"%.300s\" != \"%.300s\")", #a, \
			         #b, a_ ? a_ : "(null)", b_ ? b_ : "(null)");                      \
			cn_test_fail(__FILE__, __LINE__, m_);                                      \
		}                                                                                  \
	} while (0)

#define CN_TEST_MAIN()                 \
	int main(void)                 \
	{                              \
		return cn_test_main(); \
	}

#endif
