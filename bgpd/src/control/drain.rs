//! `bgpctl drain` and `bgpctl neighbor X drain` (RFC 8326), client side: ask the daemon to
//! drain, wait until every drained session has been sent its routes with
//! GRACEFUL_SHUTDOWN (bounded by a timeout), give the peers time to move their traffic,
//! then shut down the daemon or the session. Each step is one short request, so the
//! daemon keeps serving everything else meanwhile.
//!
//! BGP has no acknowledgement that a peer has moved: "delivered" means our UPDATEs were
//! written to the session, and `settle` is the peers' time to choose and install the
//! other path.

use std::path::Path;
use std::time::{Duration, Instant};

use serde::Serialize;

use super::client::{Client, ClientError, DEFAULT_TIMEOUT};
use super::protocol::{Request, Response};

/// How to drain.
#[derive(Debug, Clone)]
pub struct DrainOptions {
    /// One neighbor (name or address); `None` for the whole daemon.
    pub neighbor: Option<String>,
    /// The longest wait for the drained routes to be written.
    pub timeout: Duration,
    /// Then wait this long for the peers to move.
    pub settle: Duration,
    /// Then shut down (the daemon, or the neighbor's session).
    pub shutdown: bool,
    /// The shutdown communication (RFC 8203).
    pub message: String,
}

/// What happened.
#[derive(Debug, Clone, Serialize)]
pub struct DrainOutcome {
    /// Sessions that were sent their drained routes (`name address`).
    pub delivered: Vec<String>,
    /// Sessions still waiting when the timeout ran out.
    pub waiting: Vec<String>,
    /// The wait ended by the timeout.
    pub timed_out: bool,
    /// Seconds until the routes were delivered (or the timeout).
    pub delivered_after_secs: f64,
    /// The daemon or session was shut down afterwards.
    pub shut_down: bool,
}

/// Why a drain stopped.
#[derive(Debug, thiserror::Error)]
pub enum DrainError {
    /// The daemon could not be reached or answered garbage.
    #[error(transparent)]
    Client(#[from] ClientError),
    /// The daemon refused.
    #[error("{0}")]
    Refused(String),
}

fn ask(path: &Path, request: &Request) -> Result<Response, DrainError> {
    match Client::connect(path, DEFAULT_TIMEOUT)?.request(request)? {
        Response::Error { message } => Err(DrainError::Refused(message)),
        r => Ok(r),
    }
}

/// Drains, waits, settles, shuts down. `progress` hears about each step, for humans.
pub fn drain(
    path: &Path,
    options: &DrainOptions,
    mut progress: impl FnMut(&str),
) -> Result<DrainOutcome, DrainError> {
    let neighbor = options.neighbor.clone();
    let start = Instant::now();
    if let Response::Done { message } = ask(
        path,
        &Request::Drain {
            neighbor: neighbor.clone(),
            undo: false,
        },
    )? {
        progress(&message);
    }
    let (mut delivered, mut waiting);
    loop {
        match ask(
            path,
            &Request::DrainStatus {
                neighbor: neighbor.clone(),
            },
        )? {
            Response::Drain {
                delivered: d,
                waiting: w,
            } => (delivered, waiting) = (d, w),
            other => return Err(DrainError::Refused(format!("unexpected answer {other:?}"))),
        }
        if waiting.is_empty() || start.elapsed() >= options.timeout {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let timed_out = !waiting.is_empty();
    let delivered_after_secs = start.elapsed().as_secs_f64();
    if timed_out {
        progress(&format!(
            "timeout after {}s: still not delivered to {}",
            options.timeout.as_secs(),
            waiting.join(", ")
        ));
    } else {
        progress(&format!(
            "drained routes delivered to {} session(s) in {delivered_after_secs:.1}s; \
             letting the peers settle for {}s",
            delivered.len(),
            options.settle.as_secs()
        ));
    }
    std::thread::sleep(options.settle);
    if options.shutdown {
        let request = match &neighbor {
            Some(n) => Request::NeighborDown {
                neighbor: n.clone(),
                message: Some(options.message.clone()),
            },
            None => Request::Shutdown {
                message: Some(options.message.clone()),
            },
        };
        if let Response::Done { message } = ask(path, &request)? {
            progress(&message);
        }
    }
    Ok(DrainOutcome {
        delivered,
        waiting,
        timed_out,
        delivered_after_secs,
        shut_down: options.shutdown,
    })
}
