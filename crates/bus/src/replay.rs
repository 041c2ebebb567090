//! Replay (DESIGN §4, `syncbridge replay`): re-publishes a stretch of a tenant's past events for
//! reprocessing. Harmless by construction of the rules — events are hints and the current state
//! decides — so a replay can be run whenever ops doubt that something was applied.
//!
//! The stretch starts at a time or a sequence and ends at `until` or at the stream's last sequence
//! *at the moment the replay starts*, so the replay never chases its own re-published events. Each
//! copy keeps the original's envelope and raw body, with a fresh dedup id
//! `replay:{run id}:{original seq}` (stable per run, so re-running an interrupted replay with the
//! same run id and the same `until` within the duplicate window publishes nothing twice) and
//! `Sync-Replay-Of`.

use std::time::Duration;

use async_nats::jetstream::consumer::{pull, DeliverPolicy};
use async_nats::HeaderMap;
use futures_util::StreamExt;
use syncbridge_model::{headers, Entity, TenantId, UnixMillis};

use crate::connect::Connection;
use crate::names::EVENTS_STREAM;
use crate::ops_error::OpsError;

/// The header naming the sequence a replayed event copies.
pub const REPLAY_OF: &str = "Sync-Replay-Of";

/// Where a replay starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplayFrom {
    /// The first event received at or after this time.
    Time(UnixMillis),
    /// This stream sequence.
    Seq(u64),
}

/// Where a replay ends (inclusive).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplayUntil {
    Time(UnixMillis),
    /// Give the `last_seq` of an interrupted run to resume exactly its stretch.
    Seq(u64),
}

/// What to replay.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplayRequest {
    pub tenant: TenantId,
    pub from: ReplayFrom,
    /// Where to stop; `None`: at the last event in the stream when the replay starts.
    pub until: Option<ReplayUntil>,
    pub entity: Option<Entity>,
    /// Count only, publish nothing.
    pub dry_run: bool,
    /// Names this run in the dedup ids; re-use it to resume an interrupted replay.
    pub run_id: String,
}

impl ReplayRequest {
    /// Why the stretch is empty by construction (its end before its start), if it is: such a
    /// request is a typing mistake, refused rather than reported as "0 matched".
    pub fn empty_stretch(&self) -> Option<String> {
        match (self.from, self.until) {
            (ReplayFrom::Seq(from), Some(ReplayUntil::Seq(until))) if until < from => Some(format!(
                "the end (sequence {until}) is before the start (sequence {from}): nothing to replay"
            )),
            (ReplayFrom::Time(from), Some(ReplayUntil::Time(until))) if until < from => Some(
                "the end time is before the start time: nothing to replay".to_owned(),
            ),
            _ => None,
        }
    }
}

/// What a replay did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReplayReport {
    /// Events in the stretch (after the entity filter).
    pub matched: u64,
    /// Events published anew (0 on a dry run).
    pub published: u64,
    /// Copies the stream already had from an earlier run with this id.
    pub duplicates: u64,
    /// The last original sequence covered.
    pub last_seq: u64,
}

/// Runs a replay; `progress` is called after each event with the report so far.
pub async fn replay(
    conn: &Connection,
    request: &ReplayRequest,
    timeout: Duration,
    mut progress: impl FnMut(&ReplayReport),
) -> Result<ReplayReport, OpsError> {
    if let Some(reason) = request.empty_stretch() {
        return Err(OpsError::Invalid(reason));
    }
    let fail = |e: &dyn std::fmt::Display| OpsError::from_nats(conn.is_connected(), e);
    let js = conn.jetstream();
    let mut stream = js.get_stream(EVENTS_STREAM).await.map_err(|e| fail(&e))?;
    let end = stream
        .info()
        .await
        .map_err(|e| fail(&e))?
        .state
        .last_sequence;
    let mut report = ReplayReport::default();
    if end == 0 {
        return Ok(report);
    }
    let deliver_policy = match request.from {
        ReplayFrom::Seq(seq) => DeliverPolicy::ByStartSequence {
            start_sequence: seq.max(1),
        },
        ReplayFrom::Time(at) => DeliverPolicy::ByStartTime {
            start_time: to_datetime(at)?,
        },
    };
    let filter_subject = match request.entity {
        Some(e) => format!("sync.events.{}.*.{e}", request.tenant),
        None => format!("sync.events.{}.>", request.tenant),
    };
    let mut consumer = stream
        .create_consumer(pull::OrderedConfig {
            filter_subject,
            deliver_policy,
            ..Default::default()
        })
        .await
        .map_err(|e| fail(&e))?;
    if consumer.info().await.map_err(|e| fail(&e))?.num_pending == 0 {
        return Ok(report);
    }
    let mut messages = consumer.messages().await.map_err(|e| fail(&e))?;
    let (end, until) = match request.until {
        None => (end, None),
        Some(ReplayUntil::Seq(seq)) => (end.min(seq), None),
        Some(ReplayUntil::Time(at)) => (end, Some(to_datetime(at)?)),
    };
    loop {
        // A quiet timeout means nothing more matches the filter before `end`.
        let Ok(Some(msg)) = tokio::time::timeout(timeout, messages.next()).await else {
            break;
        };
        let msg = msg.map_err(|e| fail(&e))?;
        let info = msg.info().map_err(|e| OpsError::Failed(e.to_string()))?;
        let (seq, published_at, more) = (info.stream_sequence, info.published, info.pending > 0);
        if seq > end || until.is_some_and(|u| published_at > u) {
            break;
        }
        report.matched += 1;
        report.last_seq = seq;
        if !request.dry_run {
            let mut h = HeaderMap::new();
            if let Some(original) = &msg.headers {
                for (name, values) in original.iter() {
                    if name.as_ref() as &str == headers::MSG_ID {
                        continue;
                    }
                    for v in values {
                        h.append(name.clone(), v.clone());
                    }
                }
            }
            h.insert(
                headers::MSG_ID,
                format!("replay:{}:{seq}", request.run_id).as_str(),
            );
            h.insert(REPLAY_OF, seq.to_string().as_str());
            let publish = async {
                js.publish_with_headers(msg.subject.clone(), h, msg.payload.clone())
                    .await?
                    .await
            };
            let ack = tokio::time::timeout(timeout, publish)
                .await
                .map_err(|_| OpsError::Unavailable(format!("no ack within {timeout:?}")))?
                .map_err(|e| fail(&e))?;
            if ack.duplicate {
                report.duplicates += 1;
            } else {
                report.published += 1;
            }
        }
        progress(&report);
        // `pending` counts what matched the filter when the message was sent: with none left
        // (copies made since then are beyond `end` anyway) the stretch is done.
        if seq >= end || !more {
            break;
        }
    }
    Ok(report)
}

fn to_datetime(at: UnixMillis) -> Result<time::OffsetDateTime, OpsError> {
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(at) * 1_000_000)
        .map_err(|e| OpsError::Invalid(format!("time {at}: {e}")))
}
