/*
 * core/ids.h: identifiers.
 *
 * Run ids, trace request ids and bus request ids are 128 random bits written
 * as 32 lowercase hex digits, the same shape as MLflow's uuid4().hex, so ids
 * made by Cairn and by MLflow clients look alike and never collide in
 * practice. Randomness comes from the kernel (getrandom(2)).
 *
 * Thread-safe; never blocks once the kernel's pool is initialised (always
 * true after early boot); never fails (see ids.c for the fallback).
 */
#ifndef CN_IDS_H
#define CN_IDS_H

#include <stdbool.h>
#include <stddef.h>

#define CN_ID_HEX32_LEN 32

/* Writes 32 lowercase hex digits and a NUL. */
void cn_id_hex32(char out[33]);
/* A request id for logs and the bus envelope; same format as cn_id_hex32. */
void cn_id_request(char out[33]);
/* True if s[0..len) is exactly 32 lowercase hex digits (validates ids from clients). */
bool cn_id_is_hex32(const char *s, size_t len);

#endif
