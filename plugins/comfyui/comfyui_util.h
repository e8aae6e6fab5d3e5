/*
 * comfyui_util - small pure helpers with no library dependencies: base64, URL encoding, random
 * client ids, the monotonic clock, MIME types by file extension and the private-address test
 * used for input URLs. Owns no state.
 */
#ifndef COMFYUI_UTIL_H
#define COMFYUI_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "ebuf.h"

/* Milliseconds on CLOCK_MONOTONIC. */
int64_t cfy_now_ms(void);
/* Milliseconds since the epoch (CLOCK_REALTIME), for timings reported in results. */
int64_t cfy_wall_ms(void);

/* Fill out with 2*nbytes lowercase hex digits + NUL (out must hold 2*nbytes+1). 0 or -1. */
int cfy_random_hex(char *out, size_t nbytes);

/* Append s with every byte outside [A-Za-z0-9-._~] percent-encoded (URL query values and path
 * segments); NULL appends nothing. A refused append is left in b (check ebuf_ok once). */
void cfy_urlencode(ebuf_t *b, const char *s);

/* Append the base64 encoding of in[0..n) to b. */
void cfy_base64_encode(ebuf_t *b, const unsigned char *in, size_t n);
/* Decode base64 (standard or URL alphabet, padding optional, whitespace ignored).
 * Returns 0 with a malloc'ed *out (caller frees), -1 when malformed, -2 when the decoded size
 * would exceed max_out. */
int cfy_base64_decode(const char *in, size_t n, unsigned char **out, size_t *out_len,
                      size_t max_out);

/* MIME type for a file name by extension ("application/octet-stream" when unknown). Static. */
const char *cfy_mime_for_name(const char *filename);

/* 1 when the address is loopback, private (RFC 1918, ULA), link-local, CGNAT, unspecified,
 * multicast or otherwise not a public unicast address; 0 when public. */
int cfy_addr_is_private(const struct sockaddr *sa);

#endif
