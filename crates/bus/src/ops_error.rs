//! The error of the operations tools on the streams (dead letters, audit, replay): split like
//! [`crate::PublishError`] into "the bus is unavailable, try again" and the rest.

use std::fmt::Display;

/// Why a stream operation failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OpsError {
    /// No connection, or no answer in time: nothing is lost, retry later.
    #[error("event bus unavailable: {0}")]
    Unavailable(String),
    /// No message with this sequence (never existed, aged out, or already removed).
    #[error("no message {seq} in {stream}")]
    NotFound { stream: &'static str, seq: u64 },
    /// The message exists but is not what this operation works on.
    #[error("invalid message: {0}")]
    Invalid(String),
    #[error("{0}")]
    Failed(String),
}

impl OpsError {
    /// Classifies an async-nats error by whether the connection is up.
    pub(crate) fn from_nats(connected: bool, e: impl Display) -> Self {
        if connected {
            OpsError::Failed(e.to_string())
        } else {
            OpsError::Unavailable(e.to_string())
        }
    }
}
