//! A check that runs right before a task's next write request goes out, once that request's rate
//! budget is granted: how the worker keeps "the PSA always wins" when it writes to a PSA.
//!
//! No PSA offers a conditional update, so before writing to a PSA record the worker reads it again
//! and gives up if a person changed it since the decision's read. What matters is the time between
//! that re-read and the write reaching the vendor: a person's edit landing in it is overwritten.
//! With many events in flight the write may wait seconds for its rate budget (or its shared
//! slot) — if the re-read came before that wait, the window would be that wide. So the re-read is
//! handed to the client as a [`Check`]: [`Http::send`](crate::http::Http::send) runs it for the
//! first write request (any method but GET) made inside [`check_before_write`], after that
//! request's rate budget was granted and just before it takes its concurrency slot and is sent.
//! The window is then the check's answer plus the write's own transit.
//!
//! The check's own read goes through the client as any request does (its own budget and slot), so
//! no slot is held while it runs and none is awaited twice. A check that fails ends the write with
//! its error, before anything is sent. A write retried (a 429, a 5xx) runs the check again before
//! each attempt: a Retry-After is a window of its own.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};

use crate::error::Result;

/// One run of a check: `Ok` lets the write go; an error (e.g. [`crate::Error::ChangedSinceRead`])
/// ends it unsent.
pub type CheckRun = Pin<Box<dyn Future<Output = Result<()>> + Send>>;

/// What runs before each attempt of the write.
pub type Check = Arc<dyn Fn() -> CheckRun + Send + Sync>;

tokio::task_local! {
    static BEFORE_WRITE: Mutex<Option<Check>>;
}

/// Runs `work` so that the first write request it makes runs `check` before each of its attempts
/// (see the module documentation). If `work` makes no write, the check never runs.
pub async fn check_before_write<T>(check: Check, work: impl Future<Output = T>) -> T {
    BEFORE_WRITE.scope(Mutex::new(Some(check)), work).await
}

/// The check waiting for this task's next write request, taken (that request keeps it for its
/// attempts; later requests run none).
pub(crate) fn take() -> Option<Check> {
    BEFORE_WRITE
        .try_with(|slot| slot.lock().unwrap_or_else(|e| e.into_inner()).take())
        .ok()
        .flatten()
}

/// Whether this task has a check waiting (cheap: no request is built unless one is).
pub(crate) fn pending() -> bool {
    BEFORE_WRITE
        .try_with(|slot| slot.lock().unwrap_or_else(|e| e.into_inner()).is_some())
        .unwrap_or(false)
}
