/*
 * notify.h - service-manager notifications (systemd sd_notify: READY, STATUS, STOPPING,
 * WATCHDOG). No-ops when libsystemd is absent at build time or NOTIFY_SOCKET is unset.
 */
#ifndef EMP_NOTIFY_H
#define EMP_NOTIFY_H

void emp_notify_ready(void);
void emp_notify_status(const char *status);
void emp_notify_stopping(void);
void emp_notify_watchdog(void);
/* Half the watchdog interval systemd asked for, in ms; 0 when there is no watchdog. */
long long emp_notify_watchdog_interval_ms(void);

#endif
