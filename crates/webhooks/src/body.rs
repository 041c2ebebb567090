//! The body size limit. The HTTP layer enforces it while streaming (so an oversize body is never
//! buffered); every verifier checks it again, so a caller that forgot cannot hand a verifier more
//! than the tenant allows.

use crate::rejection::Rejection;

/// The largest body a verifier accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BodyLimit {
    max_bytes: usize,
}

impl BodyLimit {
    /// 1 MiB, the contract's default (DESIGN §4).
    pub const DEFAULT: BodyLimit = BodyLimit {
        max_bytes: 1024 * 1024,
    };

    pub const fn new(max_bytes: usize) -> Self {
        BodyLimit { max_bytes }
    }

    pub const fn max_bytes(self) -> usize {
        self.max_bytes
    }

    /// `TooLarge` when the body is over the limit.
    pub fn check(self, body: &[u8]) -> Result<(), Rejection> {
        self.check_len(body.len())
    }

    /// Same check on a length, for a `Content-Length` seen before the body is read.
    pub fn check_len(self, len: usize) -> Result<(), Rejection> {
        if len > self.max_bytes {
            Err(Rejection::TooLarge)
        } else {
            Ok(())
        }
    }
}

impl Default for BodyLimit {
    fn default() -> Self {
        BodyLimit::DEFAULT
    }
}
