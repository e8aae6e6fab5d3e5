/* notify.c - sd_notify wrappers (see notify.h). */
#define _GNU_SOURCE
#include "notify.h"

#include <stdint.h>

#ifdef EMP_HAVE_SYSTEMD
#include <systemd/sd-daemon.h>

void emp_notify_ready(void) { sd_notify(0, "READY=1\nSTATUS=idle"); }
void emp_notify_status(const char *status) { sd_notifyf(0, "STATUS=%s", status); }
void emp_notify_stopping(void) { sd_notify(0, "STOPPING=1\nSTATUS=stopping"); }
void emp_notify_watchdog(void) { sd_notify(0, "WATCHDOG=1"); }

long long emp_notify_watchdog_interval_ms(void)
{
    uint64_t usec = 0;
    if (sd_watchdog_enabled(0, &usec) <= 0 || usec == 0)
        return 0;
    return (long long)(usec / 2000);
}
#else
void emp_notify_ready(void) {}
void emp_notify_status(const char *status) { (void)status; }
void emp_notify_stopping(void) {}
void emp_notify_watchdog(void) {}
long long emp_notify_watchdog_interval_ms(void) { return 0; }
#endif
