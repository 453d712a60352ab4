//! What a binary tells systemd, for the `Type=notify` units in
//! `deploy/systemd/`: `READY=1` once its listeners are bound, `STOPPING=1`
//! when a graceful stop begins, and `WATCHDOG=1` keep-alive pings while it
//! runs.
//!
//! Outside systemd (`NOTIFY_SOCKET` unset: a terminal, Docker, the tests)
//! every function here is a no-op. None of them ever fails the process: a
//! notification that cannot be sent is a warning in the log, because a
//! service that works but cannot say so is better than one that exits over
//! it (systemd then times the start out, which is the visible failure).
//!
//! Off Unix (`sd-notify`, the crate that speaks the protocol, is a
//! Unix-only dependency) these are no-ops as well.

/// Tells systemd that startup is complete: call it once the listeners are
/// bound. With `Type=notify`, systemd holds back the units ordered after
/// this one until then, so that they never start against a port that
/// refuses connections, and `systemctl start` returns only then (or fails
/// when startup does).
pub fn notify_ready() {
    #[cfg(unix)]
    imp::send(&[sd_notify::NotifyState::Ready], "READY=1");
}

/// Tells systemd that the process is stopping (a SIGTERM began the graceful
/// shutdown), so that the unit shows "deactivating" while in-flight requests
/// finish rather than "active".
pub fn notify_stopping() {
    #[cfg(unix)]
    imp::send(&[sd_notify::NotifyState::Stopping], "STOPPING=1");
}

/// When the service manager asked for keep-alive pings (`WatchdogSec=` sets
/// `WATCHDOG_USEC`; `WATCHDOG_PID`, when set, must be this process, which
/// `sd_notify::watchdog_enabled` checks), spawns a tokio task that sends
/// `WATCHDOG=1` every half of the interval, so that one late tick does not
/// cost a restart. Does nothing otherwise. Must run inside a tokio runtime.
///
/// The pings come from a task on the runtime that serves requests, not from
/// a thread of their own, on purpose: the watchdog is meant to prove that
/// the runtime still makes progress. A thread would keep pinging while every
/// worker is wedged (a deadlock, a blocking call holding the workers, a
/// timer driver that stopped); a task stops pinging exactly then, and
/// systemd aborts and restarts the process.
///
/// Call it after [`notify_ready`]: systemd starts watching at `READY=1`.
pub fn spawn_watchdog() {
    #[cfg(unix)]
    imp::spawn_watchdog();
}

#[cfg(unix)]
mod imp {
    use std::time::Duration;

    use sd_notify::NotifyState;

    /// The variable systemd sets to the socket notifications go to.
    const NOTIFY_SOCKET: &str = "NOTIFY_SOCKET";

    pub(super) fn spawn_watchdog() {
        if std::env::var_os(NOTIFY_SOCKET).is_none() {
            return;
        }
        let Some(timeout) = sd_notify::watchdog_enabled() else {
            return;
        };
        if timeout.is_zero() {
            return;
        }
        let period = (timeout / 2).max(Duration::from_millis(1));
        tracing::info!(
            timeout_ms = timeout.as_millis() as u64,
            period_ms = period.as_millis() as u64,
            "systemd watchdog: pinging"
        );
        tokio::spawn(async move {
            let mut ticks = tokio::time::interval(period);
            // After a stall, ping once and resume the cadence from then,
            // rather than sending the missed pings in a burst.
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            let mut failing = false;
            loop {
                ticks.tick().await;
                match sd_notify::notify(&[NotifyState::Watchdog]) {
                    Ok(()) => failing = false,
                    // Once per run of failures, not at every tick.
                    Err(e) if !failing => {
                        failing = true;
                        tracing::warn!(
                            error = %e,
                            "cannot send WATCHDOG=1 to the service manager"
                        );
                    }
                    Err(_) => {}
                }
            }
        });
    }

    /// Sends one notification; a failure is a warning, never an error.
    pub(super) fn send(state: &[NotifyState<'_>], what: &str) {
        match sd_notify::notify(state) {
            Ok(()) => {
                if std::env::var_os(NOTIFY_SOCKET).is_some() {
                    tracing::debug!(notification = what, "notified the service manager");
                }
            }
            Err(e) => {
                tracing::warn!(
                    error = %e,
                    notification = what,
                    "cannot notify the service manager"
                );
            }
        }
    }
}
