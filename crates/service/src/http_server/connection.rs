//! One connection: what it is doing ([`Activity`], fed by its socket and by its requests), and
//! the task that drives hyper's HTTP/1 connection and closes it when a bound is passed.

use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::Router;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::Request;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::sync::{watch, Notify};
use tower::ServiceExt;

use super::registry::Slot;
use super::Limits;
use crate::runtime::metrics;

/// The instant connection times are measured from (milliseconds, so they fit atomics and compare
/// across connections).
pub fn epoch() -> Instant {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    *EPOCH.get_or_init(Instant::now)
}

/// Milliseconds since [`epoch`].
pub fn now_ms() -> u64 {
    u64::try_from(epoch().elapsed().as_millis()).unwrap_or(u64::MAX)
}

/// Why a connection was closed by us.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expiry {
    /// A request head was not complete in time.
    HeaderRead,
    /// No request and no byte for too long.
    Idle,
}

impl Expiry {
    pub fn label(self) -> &'static str {
        match self {
            Expiry::HeaderRead => "header_read",
            Expiry::Idle => "idle",
        }
    }
}

/// What one connection is doing, shared by its socket wrapper, its requests, its driving task
/// and the registry (which picks the longest-idle connection to close at the cap).
#[derive(Debug)]
pub struct Activity {
    in_flight: AtomicUsize,
    /// When the head now being read started ([`now_ms`] + 1; 0: no head being read).
    head_started: AtomicU64,
    /// The last byte read or written, or the end of the last request ([`now_ms`]).
    last_active: AtomicU64,
    evicted: AtomicBool,
    evict: Notify,
}

impl Activity {
    /// A new connection: the header-read timeout runs from now (a connection that sends nothing
    /// is closed as soon as one that sends half a request line).
    pub fn new() -> Activity {
        let now = now_ms();
        Activity {
            in_flight: AtomicUsize::new(0),
            head_started: AtomicU64::new(now + 1),
            last_active: AtomicU64::new(now),
            evicted: AtomicBool::new(false),
            evict: Notify::new(),
        }
    }

    pub fn in_flight(&self) -> usize {
        self.in_flight.load(Ordering::Acquire)
    }

    pub fn last_active(&self) -> u64 {
        self.last_active.load(Ordering::Relaxed)
    }

    /// Tells the driving task to close the connection (the registry has already let its slot go).
    pub fn evict(&self) {
        self.evicted.store(true, Ordering::Release);
        self.evict.notify_one();
    }

    fn read_some(&self) {
        let now = now_ms();
        self.last_active.store(now, Ordering::Relaxed);
        if self.in_flight() == 0 {
            // The first byte of a new head starts its timeout (no-op if one is running).
            let _ =
                self.head_started
                    .compare_exchange(0, now + 1, Ordering::AcqRel, Ordering::Relaxed);
        }
    }

    fn wrote_some(&self) {
        self.last_active.store(now_ms(), Ordering::Relaxed);
    }

    /// A request reached the router (its head is complete).
    fn begin(self: &Arc<Self>) -> InFlight {
        self.in_flight.fetch_add(1, Ordering::AcqRel);
        self.head_started.store(0, Ordering::Release);
        InFlight(self.clone())
    }

    /// When the connection passes a bound unless something happens first (`None`: a request is
    /// in flight, bounded by the request timeout instead).
    fn deadline(&self, limits: &Limits) -> Option<(u64, Expiry)> {
        if self.in_flight() > 0 {
            return None;
        }
        match self.head_started.load(Ordering::Acquire) {
            0 => Some((
                self.last_active() + millis(limits.idle_timeout),
                Expiry::Idle,
            )),
            started => Some((
                started - 1 + millis(limits.header_read_timeout),
                Expiry::HeaderRead,
            )),
        }
    }
}

impl Default for Activity {
    fn default() -> Self {
        Activity::new()
    }
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// A request in flight on a connection; dropped when its response is ready (or it is cancelled).
struct InFlight(Arc<Activity>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.last_active.store(now_ms(), Ordering::Relaxed);
        self.0.in_flight.fetch_sub(1, Ordering::AcqRel);
    }
}

/// The socket, reporting reads and writes to its [`Activity`].
struct Tracked {
    inner: TcpStream,
    activity: Arc<Activity>,
}

impl AsyncRead for Tracked {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        if matches!(polled, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.activity.read_some();
        }
        polled
    }
}

impl AsyncWrite for Tracked {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write(cx, buf);
        if matches!(polled, Poll::Ready(Ok(n)) if n > 0) {
            self.activity.wrote_some();
        }
        polled
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        if matches!(polled, Poll::Ready(Ok(n)) if n > 0) {
            self.activity.wrote_some();
        }
        polled
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// Serves one connection until the client closes it, a bound passes, the registry evicts it, or
/// shutdown (then a request in flight still gets its answer).
pub(crate) async fn drive(
    stream: TcpStream,
    slot: Slot,
    router: Router,
    builder: Arc<http1::Builder>,
    limits: Limits,
    mut stop: watch::Receiver<bool>,
) {
    let activity = slot.activity().clone();
    let io = TokioIo::new(Tracked {
        inner: stream,
        activity: activity.clone(),
    });
    let service = {
        let activity = activity.clone();
        service_fn(move |request: Request<Incoming>| {
            let in_flight = activity.begin();
            let answer = router.clone().oneshot(request.map(Body::new));
            async move {
                let answer = answer.await;
                drop(in_flight);
                answer
            }
        })
    };
    let conn = builder.serve_connection(io, service);
    tokio::pin!(conn);
    // One timer for the connection's life, never armed further than a header-read timeout ahead
    // (see `wake_at`), so nothing needs to wake this task when a deadline moves: a request's end
    // (the common case under load) moves it later, a new head's first byte at most a
    // header-read timeout from now, and the timer is re-checked by then.
    let timer = tokio::time::sleep_until(wake_at(activity.deadline(&limits), &limits).into());
    tokio::pin!(timer);
    let mut stopping = false;
    loop {
        tokio::select! {
            result = conn.as_mut() => {
                if let Err(e) = result {
                    tracing::debug!(listener = slot.listener(), error = %e, "connection ended");
                }
                break;
            }
            () = timer.as_mut() => {
                let deadline = activity.deadline(&limits);
                if let Some((at, why)) = deadline {
                    if now_ms() >= at {
                        metrics::http_connection_timed_out(slot.listener(), why.label());
                        tracing::debug!(listener = slot.listener(), reason = why.label(), "connection closed");
                        break;
                    }
                }
                timer.as_mut().reset(wake_at(deadline, &limits).into());
            }
            () = activity.evict.notified() => {
                if activity.evicted.load(Ordering::Acquire) {
                    break;
                }
            }
            changed = stop.changed(), if !stopping => {
                stopping = true;
                if changed.is_err() || activity.in_flight() == 0 {
                    break;
                }
                conn.as_mut().graceful_shutdown();
            }
        }
    }
}

/// When to look at a connection's deadline next: at its deadline, but no later than the shorter
/// of the header-read and idle timeouts from now. A deadline only moves earlier when a head
/// starts, and a head's deadline is a header-read timeout after its first byte, so a timer never
/// armed further ahead than that is never late, and no read or request end has to re-arm it.
/// (While a request is in flight there is no deadline: the request timeout bounds it.)
fn wake_at(deadline: Option<(u64, Expiry)>, limits: &Limits) -> Instant {
    let latest = Instant::now() + limits.header_read_timeout.min(limits.idle_timeout);
    match deadline {
        Some((at, _)) => latest.min(epoch() + Duration::from_millis(at)),
        None => latest,
    }
}
