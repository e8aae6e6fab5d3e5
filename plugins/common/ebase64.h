/*
 * ebase64.h - the base64 alphabet, shared by the plugins' base64 decoders.
 *
 * Owns only the digit table: each plugin keeps its own decoder, because what they accept
 * differs on purpose (A1111 sends "data:...;base64," prefixes, ComfyUI inputs may carry line
 * breaks and a size cap). Part of emp_plugin_common (plugins/common); no state.
 */
#ifndef EBASE64_H
#define EBASE64_H

/* The value (0..63) of a base64 digit of either alphabet: standard ('+', '/') or URL-safe
 * ('-', '_'). -1 for any other byte, '=' included. */
int ebase64_digit(unsigned char c);

#endif
