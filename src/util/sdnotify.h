/*
 * sdnotify.h - telling systemd how the daemon is doing (Type=notify).
 *
 * The protocol is one datagram per message to the unix socket named in
 * $NOTIFY_SOCKET ("/path" or "@abstract"): "READY=1" once the listeners
 * are up, "RELOADING=1" and "MONOTONIC_USEC=N" when a reload begins and
 * "READY=1" when it ends, "STOPPING=1" when the daemon stops.  Written
 * here in a few lines rather than linking libsystemd, so that start-up
 * stays light.  Without $NOTIFY_SOCKET (not started by systemd) nothing
 * is sent.
 */
#ifndef OUTPOST_UTIL_SDNOTIFY_H
#define OUTPOST_UTIL_SDNOTIFY_H

/* Send state (e.g. "READY=1"); 0 if sent or there is no socket, -1 if
 * the send failed (nothing else to do: systemd's timeouts apply). */
int sd_notify_state(const char *state);

/* "RELOADING=1\nMONOTONIC_USEC=<now>". */
int sd_notify_reloading(void);

#endif
