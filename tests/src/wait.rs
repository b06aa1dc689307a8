//! Bounded waiting: polling a condition until it holds or a time limit passes.

use std::io;
use std::time::{Duration, Instant};

use crate::err;

/// Polls `cond` every 100 ms until it returns `Ok(true)`, for at most `limit`. On timeout the
/// error names `what` and the last error `cond` returned.
pub fn wait_until(
    limit: Duration,
    what: &str,
    mut cond: impl FnMut() -> io::Result<bool>,
) -> io::Result<()> {
    let start = Instant::now();
    let mut last = String::new();
    loop {
        match cond() {
            Ok(true) => return Ok(()),
            Ok(false) => {}
            Err(e) => last = e.to_string(),
        }
        if start.elapsed() > limit {
            return Err(err(format!(
                "timed out after {limit:?} waiting for {what}{}",
                if last.is_empty() {
                    String::new()
                } else {
                    format!(" (last error: {last})")
                }
            )));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Waits (at most `limit`) until `unmet` says nothing is missing (`None`), logging on stderr
/// how long lab `lab` took; on timeout the error says what was missing last.
pub fn wait_converged(
    lab: &str,
    what: &str,
    limit: Duration,
    mut unmet: impl FnMut() -> io::Result<Option<String>>,
) -> io::Result<()> {
    let start = Instant::now();
    let mut last = String::new();
    let res = wait_until(limit, what, || match unmet()? {
        None => Ok(true),
        Some(why) => {
            last = why;
            Ok(false)
        }
    });
    let outcome = if res.is_ok() {
        "converged"
    } else {
        "not converged"
    };
    eprintln!("lab {lab}: {outcome} after {:.1?}", start.elapsed());
    res.map_err(|e| err(format!("{e}: {last}")))
}
