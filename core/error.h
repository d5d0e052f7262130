/*
 * core/error.h: the one error enum of Cairn.
 *
 * Every failure a client can see is one of these codes. Each carries the
 * MLflow (databricks.proto) error-code name it is reported as and the HTTP
 * status MLflow's server uses for it (mlflow/exceptions.py), so the gateway
 * needs no per-endpoint mapping. The table is an X-macro: names, statuses
 * and the enum are generated from this one list and cannot drift apart.
 */
#ifndef CN_ERROR_H
#define CN_ERROR_H

#include <stdarg.h>
#include <stddef.h>

/*        enum suffix              MLflow name                 HTTP */
#define CN_ERROR_TABLE(X)                                          \
	X(OK, "OK", 200)                                           \
	X(INTERNAL_ERROR, "INTERNAL_ERROR", 500)                   \
	X(INVALID_STATE, "INVALID_STATE", 500)                     \
	X(DATA_LOSS, "DATA_LOSS", 500)                             \
	X(NOT_IMPLEMENTED, "NOT_IMPLEMENTED", 501)                 \
	X(TEMPORARILY_UNAVAILABLE, "TEMPORARILY_UNAVAILABLE", 503) \
	X(DEADLINE_EXCEEDED, "DEADLINE_EXCEEDED", 504)             \
	X(REQUEST_LIMIT_EXCEEDED, "REQUEST_LIMIT_EXCEEDED", 429)   \
	X(RESOURCE_EXHAUSTED, "RESOURCE_EXHAUSTED", 429)           \
	X(CANCELLED, "CANCELLED", 499)                             \
	X(ABORTED, "ABORTED", 409)                                 \
	X(RESOURCE_CONFLICT, "RESOURCE_CONFLICT", 409)             \
	X(ALREADY_EXISTS, "ALREADY_EXISTS", 409)                   \
	X(NOT_FOUND, "NOT_FOUND", 404)                             \
	X(ENDPOINT_NOT_FOUND, "ENDPOINT_NOT_FOUND", 404)           \
	X(RESOURCE_DOES_NOT_EXIST, "RESOURCE_DOES_NOT_EXIST", 404) \
	X(PERMISSION_DENIED, "PERMISSION_DENIED", 403)             \
	X(CUSTOMER_UNAUTHORIZED, "CUSTOMER_UNAUTHORIZED", 401)     \
	X(UNAUTHENTICATED, "UNAUTHENTICATED", 401)                 \
	X(BAD_REQUEST, "BAD_REQUEST", 400)                         \
	X(MALFORMED_REQUEST, "MALFORMED_REQUEST", 400)             \
	X(RESOURCE_ALREADY_EXISTS, "RESOURCE_ALREADY_EXISTS", 400) \
	X(INVALID_PARAMETER_VALUE, "INVALID_PARAMETER_VALUE", 400)

typedef enum cn_code {
#define CN_ERROR_ENUM_(suffix, name, http) CN_##suffix,
	CN_ERROR_TABLE(CN_ERROR_ENUM_)
#undef CN_ERROR_ENUM_
	        CN_CODE_COUNT_
} cn_code;

/* An error with its message. Fixed-size so that it can live on the stack of
 * any thread and never needs freeing. Messages longer than this are cut. */
#define CN_ERR_MSG_MAX 1024
typedef struct cn_err {
	cn_code code;
	char msg[CN_ERR_MSG_MAX];
} cn_err;

/* MLflow name of a code ("RESOURCE_DOES_NOT_EXIST"); "INTERNAL_ERROR" if out of range. */
const char *cn_code_name(cn_code code);
/* HTTP status MLflow uses for a code; 500 if out of range. */
int cn_code_http_status(cn_code code);
/* Code for an MLflow name; CN_INTERNAL_ERROR if unknown. */
cn_code cn_code_from_name(const char *name, size_t len);

/* Sets code and formatted message; returns code so callers can write
 * `return cn_err_set(err, CN_INVALID_PARAMETER_VALUE, "...")`. err may be NULL. */
cn_code cn_err_set(cn_err *err, cn_code code, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));
cn_code cn_err_vset(cn_err *err, cn_code code, const char *fmt, va_list ap)
        __attribute__((format(printf, 3, 0)));
void cn_err_clear(cn_err *err);

#endif
