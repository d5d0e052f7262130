/* core/error.c: names and HTTP statuses of the error enum, from its X-macro table. */
#include "core/error.h"

#include <stdio.h>
#include <string.h>

static const char *const error_names[] = {
#define ERROR_NAME_(suffix, name, http) name,
        CN_ERROR_TABLE(ERROR_NAME_)
#undef ERROR_NAME_
};

static const int error_http[] = {
#define ERROR_HTTP_(suffix, name, http) http,
        CN_ERROR_TABLE(ERROR_HTTP_)
#undef ERROR_HTTP_
};

const char *cn_code_name(cn_code code)
{
	if ((unsigned)code >= CN_CODE_COUNT_)
		return "INTERNAL_ERROR";
	return error_names[code];
}

int cn_code_http_status(cn_code code)
{
	if ((unsigned)code >= CN_CODE_COUNT_)
		return 500;
	return error_http[code];
}

cn_code cn_code_from_name(const char *name, size_t len)
{
	for (unsigned i = 0; i < CN_CODE_COUNT_; i++)
		if (strlen(error_names[i]) == len && memcmp(error_names[i], name, len) == 0)
			return (cn_code)i;
	return CN_INTERNAL_ERROR;
}

cn_code cn_err_vset(cn_err *err, cn_code code, const char *fmt, va_list ap)
{
	if (err) {
		err->code = code;
		vsnprintf(err->msg, sizeof err->msg, fmt, ap);
	}
	return code;
}

cn_code cn_err_set(cn_err *err, cn_code code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	cn_err_vset(err, code, fmt, ap);
	va_end(ap);
	return code;
}

void cn_err_clear(cn_err *err)
{
	if (err) {
		err->code = CN_OK;
		err->msg[0] = '\0';
	}
}
