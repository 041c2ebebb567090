//! The stop signal of a process's loops: a `watch` channel that turns `true` once. Workers,
//! pollers and schedulers wait on it between rounds, so a shutdown never interrupts a round in the
//! middle.

use std::time::Duration;

use tokio::sync::watch;

/// Resolves when `stop` turns true (or its sender is gone).
pub async fn stopped(mut stop: watch::Receiver<bool>) {
    while !*stop.borrow() {
        if stop.changed().await.is_err() {
            return;
        }
    }
}

/// Sleeps `d`, or less if `stop` turns true first; true when it was stopped.
pub async fn sleep_or_stop(d: Duration, stop: &watch::Receiver<bool>) -> bool {
    tokio::select! {
        _ = tokio::time::sleep(d) => false,
        _ = stopped(stop.clone()) => true,
    }
}
