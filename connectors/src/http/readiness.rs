//! `GET /ready`: whether this instance holds its partitions and has restored their state, so
//! that it may receive reads and a rolling update may move on. `/health` stays liveness.
//!
//! [`Readiness`] is shared: the Kafka source's rebalance callback moves it to
//! [`Phase::Rebalancing`] and [`Phase::Restoring`], the runtime to [`Phase::Ready`] once the
//! assigned partitions are restored (today: once the assignment is received and the loop
//! has polled again; the changelog restore of issue 5 calls [`Readiness::restored`] when it
//! is done) and to [`Phase::ShuttingDown`] on SIGTERM, which no later event undoes.

use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::Serialize;

/// Where an instance is in its life as a consumer-group member.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    /// Started, no partition assignment received yet.
    Starting,
    /// A rebalance is in progress: partitions are being revoked or handed over.
    Rebalancing,
    /// Partitions are assigned; their state is being restored.
    Restoring,
    /// Assigned partitions restored; processing.
    Ready,
    /// Stopping after SIGTERM/SIGINT: finishing, committing, leaving the group.
    ShuttingDown,
}

#[derive(Debug, Clone, Serialize)]
struct Current {
    phase: Phase,
    /// Input partitions currently assigned to this instance.
    partitions: usize,
}

/// The readiness of one instance (see the module doc). Cheap to read; shared with `Arc`.
#[derive(Debug)]
pub struct Readiness {
    state: Mutex<Current>,
    /// Set once shutdown begins; every later transition is ignored.
    stopping: AtomicBool,
}

impl Default for Readiness {
    fn default() -> Self {
        Self::new()
    }
}

impl Readiness {
    /// Not ready: waiting for the first partition assignment.
    pub fn new() -> Self {
        Readiness {
            state: Mutex::new(Current {
                phase: Phase::Starting,
                partitions: 0,
            }),
            stopping: AtomicBool::new(false),
        }
    }

    /// Ready at once, with no partitions (modes that are not consumer-group members).
    pub fn ready_now() -> Self {
        let r = Self::new();
        r.restored();
        r
    }

    fn set(&self, phase: Phase, partitions: Option<usize>) {
        let mut s = self.state.lock().expect("readiness lock");
        if self.stopping.load(Ordering::Acquire) {
            return;
        }
        s.phase = phase;
        if let Some(n) = partitions {
            s.partitions = n;
        }
    }

    /// A rebalance started (partitions are being revoked).
    pub fn rebalancing(&self) {
        self.set(Phase::Rebalancing, None);
    }

    /// An assignment was received; `partitions` are now held and must be restored.
    pub fn assigned(&self, partitions: usize) {
        self.set(Phase::Restoring, Some(partitions));
    }

    /// The assigned partitions' state is restored: ready for reads.
    pub fn restored(&self) {
        self.set(Phase::Ready, None);
    }

    /// Shutdown began: not ready, for good.
    pub fn shutting_down(&self) {
        let mut s = self.state.lock().expect("readiness lock");
        self.stopping.store(true, Ordering::Release);
        s.phase = Phase::ShuttingDown;
    }

    /// The current phase.
    pub fn phase(&self) -> Phase {
        self.state.lock().expect("readiness lock").phase
    }

    /// Whether `/ready` answers 200.
    pub fn is_ready(&self) -> bool {
        self.phase() == Phase::Ready
    }

    /// The body `/ready` answers with: `ready`, `phase`, `partitions` and, when not ready,
    /// a `reason` a person can act on.
    pub fn report(&self) -> serde_json::Value {
        let s = self.state.lock().expect("readiness lock").clone();
        let reason = match s.phase {
            Phase::Starting => Some("waiting for a partition assignment from the consumer group"),
            Phase::Rebalancing => Some("a consumer-group rebalance is in progress"),
            Phase::Restoring => Some("restoring the state of the assigned partitions"),
            Phase::Ready => None,
            Phase::ShuttingDown => Some("shutting down: finishing, committing, leaving the group"),
        };
        let mut body = serde_json::json!({
            "ready": s.phase == Phase::Ready,
            "phase": s.phase,
            "partitions": s.partitions,
        });
        if let Some(reason) = reason {
            body["reason"] = reason.into();
        }
        body
    }
}

/// `GET /ready` over `readiness`: 200 when [`Phase::Ready`], 503 otherwise, with the
/// [`report`](Readiness::report) as JSON.
pub fn readiness_router(readiness: Arc<Readiness>) -> Router {
    Router::new()
        .route("/ready", get(ready))
        .with_state(readiness)
}

async fn ready(State(readiness): State<Arc<Readiness>>) -> Response {
    let body = readiness.report();
    let status = if body["ready"] == true {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(body)).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Applies `steps` to a fresh readiness and compares the phase and `ready` flag.
    fn check(steps: &[fn(&Readiness)], phase: Phase) {
        let r = Readiness::new();
        for step in steps {
            step(&r);
        }
        assert_eq!(r.phase(), phase);
        assert_eq!(r.report()["ready"], phase == Phase::Ready);
        assert_eq!(r.report().get("reason").is_none(), phase == Phase::Ready);
    }

    #[test]
    fn phases_follow_the_group_and_shutdown_is_final() {
        check(&[], Phase::Starting);
        check(&[|r| r.assigned(3)], Phase::Restoring);
        check(&[|r| r.assigned(3), |r| r.restored()], Phase::Ready);
        check(
            &[|r| r.assigned(3), |r| r.restored(), |r| r.rebalancing()],
            Phase::Rebalancing,
        );
        check(
            &[|r| r.restored(), |r| r.rebalancing(), |r| r.assigned(1)],
            Phase::Restoring,
        );
        check(
            &[|r| r.shutting_down(), |r| r.restored()],
            Phase::ShuttingDown,
        );
        check(
            &[|r| r.restored(), |r| r.shutting_down()],
            Phase::ShuttingDown,
        );
        check(
            &[|r| r.shutting_down(), |r| r.assigned(2)],
            Phase::ShuttingDown,
        );
    }

    #[test]
    fn report_counts_partitions_and_says_why() {
        let r = Readiness::new();
        r.assigned(4);
        let body = r.report();
        assert_eq!(body["partitions"], 4);
        assert_eq!(body["phase"], "restoring");
        assert!(body["reason"].as_str().unwrap().contains("restoring"));
        r.rebalancing();
        assert_eq!(
            r.report()["partitions"],
            4,
            "kept until the next assignment"
        );
        assert_eq!(Readiness::ready_now().report()["ready"], true);
    }
}
