/* timeutil.h - clocks and timestamp formats of the protocol (ISO-8601 ms, epoch ms). */
#ifndef EMP_TIMEUTIL_H
#define EMP_TIMEUTIL_H

#include <stddef.h>

long long emp_mono_ms(void);  /* monotonic, for timers */
long long emp_epoch_ms(void); /* wall clock, for the protocol */
/* "2026-11-29T19:06:39.673Z" into buf (>= 25 bytes). Returns buf. */
char *emp_iso_now(char *buf, size_t len);

#endif
