//! The control interface: `bgpctl` talks to the daemon over a Unix socket.
//!
//! - [`protocol`]: the versioned JSON-lines request/response types.
//! - [`server`]: the socket server; hands each request to the daemon over a channel.
//! - [`client`]: the blocking client `bgpctl` uses; [`drain`]: `bgpctl drain`'s steps.
//! - [`format`]: `bgpctl`'s human tables and `--json` payloads.
//!
//! The daemon side, in short:
//!
//! ```no_run
//! # async fn run() -> std::io::Result<()> {
//! use bgpd::control::{protocol::Response, server};
//! let (tx, mut rx) = tokio::sync::mpsc::channel(16);
//! let server = server::serve("/run/bgpd/bgpd.sock".as_ref(), tx).await?;
//! while let Some((request, reply)) = rx.recv().await {
//!     let _ = reply.send(Response::error(format!("{request:?}: not implemented")));
//! }
//! server.shutdown().await;
//! # Ok(())
//! # }
//! ```

pub mod calico;
pub mod client;
pub mod drain;
pub mod format;
pub mod protocol;
pub mod server;

pub use protocol::{Request, Response};
pub use server::{serve, ControlCommand, ControlServer};
