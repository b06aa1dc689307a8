//! `bgpctl`: control and inspect a running `bgpd` through its control socket, with
//! OpenBGPD's verbs.
//!
//! Exit codes: 0 success, 1 the daemon answered with an error, 2 usage error, 3 the daemon
//! cannot be reached.

use std::io::{self, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use std::time::Duration;

use bgpd::control::client::{self, ClientError, DEFAULT_SOCKET};
use bgpd::control::drain::{self, DrainError, DrainOptions};
use bgpd::control::format;
use bgpd::control::protocol::{Request, Response, RibView};
use clap::{Args, CommandFactory, Parser, Subcommand};
use ipnet::IpNet;

const EXAMPLES: &str = "\
Examples:
  bgpctl show summary
  bgpctl show neighbor vbr
  bgpctl show rib 10.100.0.0/16 --longer
  bgpctl show rib --neighbor vbr --out
  bgpctl show nodes
  bgpctl show calico conflicts
  bgpctl --json show summary | jq '.[] | select(.state != \"established\")'
  bgpctl neighbor vbr down --message \"maintenance until 14:00\"
  bgpctl neighbor vbr up
  bgpctl neighbor vbr drain            # RFC 8326: move the traffic away, then down
  bgpctl drain                         # the whole router, then shutdown
  bgpctl reload --dry-run
  bgpctl dump rib /var/lib/bgpd/rib.mrt

Environment:
  BGPCTL_SOCKET   control socket path, when --socket is not given

Exit status:
  0  success
  1  bgpd answered with an error
  2  usage error
  3  bgpd cannot be reached (not running, or permission denied)";

/// Control and inspect a running bgpd.
///
/// bgpctl talks to bgpd over its control socket (mode 0660: root and members of the
/// daemon's group may use it). The verbs are OpenBGPD's: `show` reads state, `neighbor`
/// acts on one session, `reload` re-reads the configuration like SIGHUP, and `shutdown`
/// withdraws everything deliberately (Cease to every peer) and stops the daemon.
///
/// Output is an aligned table for humans by default; with --json, the answer's payload as
/// JSON with stable keys, for scripts.
#[derive(Debug, Parser)]
#[command(name = "bgpctl", version, about, long_about, after_help = EXAMPLES)]
struct Cli {
    /// Control socket of the daemon [default: $BGPCTL_SOCKET, else /run/bgpd/bgpd.sock].
    #[arg(long, short = 's', global = true, value_name = "PATH")]
    socket: Option<PathBuf>,

    /// Print the answer as JSON (stable keys) instead of a table.
    #[arg(long, short = 'j', global = true)]
    json: bool,

    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Show sessions, neighbor details or routes.
    #[command(subcommand)]
    Show(Show),

    /// Act on one neighbor: down, up, clear, refresh.
    #[command(
        after_help = "Examples:\n  bgpctl neighbor vbr down --message \"maintenance\"\n  \
                            bgpctl neighbor 10.10.0.1 refresh"
    )]
    Neighbor {
        /// Neighbor name or address.
        neighbor: String,
        #[command(subcommand)]
        action: NeighborAction,
    },

    /// Write tables to a file.
    #[command(subcommand)]
    Dump(Dump),

    /// Reload the configuration (same as SIGHUP); untouched sessions stay up.
    Reload {
        /// Show what would change and which sessions would reset; apply nothing.
        #[arg(long, short = 'n')]
        dry_run: bool,
    },

    /// Graceful shutdown for maintenance (RFC 8326): re-advertise our routes to every
    /// peer with the GRACEFUL_SHUTDOWN community (and LOCAL_PREF 0 on iBGP) so that they
    /// move their traffic to other paths, wait until every session has been sent them, let
    /// the peers settle, then shut down as `bgpctl shutdown` does. Sessions that come up
    /// meanwhile are drained too.
    #[command(
        after_help = "Examples:\n  bgpctl drain\n  bgpctl drain --settle 10 --no-shutdown\n  \
                            bgpctl undrain"
    )]
    Drain(DrainArgs),

    /// Stop draining (after `drain --no-shutdown`): advertise our routes normally again.
    Undrain,

    /// Send Cease (administrative shutdown) to every peer, withdrawing our routes, then
    /// stop bgpd. To restart without withdrawing, stop the service instead (SIGTERM).
    Shutdown {
        /// Shutdown communication sent to every peer (RFC 8203).
        #[arg(long, short = 'm')]
        message: Option<String>,
    },

    /// Print a shell completion script.
    #[command(hide = true)]
    Completions {
        /// bash, zsh, fish, elvish or powershell.
        shell: clap_complete::Shell,
    },

    /// Print the manual page bgpctl(8) (roff); the packaging installs it.
    #[command(hide = true)]
    GenerateMan,
}

#[derive(Debug, Subcommand)]
enum Show {
    /// One line per neighbor: address, AS, state, uptime, prefixes received / accepted /
    /// advertised.
    Summary,
    /// Details of one neighbor (or all): capabilities, timers, counters, last error.
    Neighbor {
        /// Neighbor name or address; all neighbors when left out.
        neighbor: Option<String>,
    },
    /// Routes: the Loc-RIB (best marked), or one neighbor's Adj-RIB-In (--in) or what was
    /// advertised to it (--out). Non-best paths say why they lost.
    Rib(RibArgs),
    /// BFD sessions: state, intervals, detection time, discriminators, flaps, diagnostic.
    Bfd,
    /// Calico nodes (sessions of a range with `calico`): state, graceful restart, blocks,
    /// borrowed addresses, routes the pool guard refuses. One line per node, by address.
    Nodes,
    /// The Calico view by block.
    #[command(subcommand)]
    Calico(CalicoShow),
}

#[derive(Debug, Subcommand)]
enum CalicoShow {
    /// Blocks announced by more than one node (IPAM conflicts), with the nodes.
    Conflicts,
}

#[derive(Debug, Subcommand)]
enum Dump {
    /// Write the Loc-RIB (or, with --neighbor, that neighbor's routes) as an MRT
    /// TABLE_DUMP_V2 file (RFC 6396), for bgpdump and other MRT readers. The daemon writes
    /// FILE (replacing it atomically), so it must be able to write there: under the shipped
    /// systemd unit only /var/lib/bgpd is writable, and /tmp is the daemon's private one.
    #[command(
        after_help = "Examples:\n  bgpctl dump rib /var/lib/bgpd/rib.mrt && bgpdump -m \
                      /var/lib/bgpd/rib.mrt\n  \
                      bgpctl dump rib /var/lib/bgpd/vbr-in.mrt --neighbor vbr"
    )]
    Rib {
        /// The file to write; relative to bgpctl's working directory.
        file: PathBuf,
        /// Only this neighbor's routes (its Adj-RIB-In as bgpd keeps it).
        #[arg(long, value_name = "NAME-OR-ADDRESS")]
        neighbor: Option<String>,
    },
}

#[derive(Debug, Clone, Args)]
struct DrainArgs {
    /// Longest wait, in seconds, for the drained routes to be sent to every session.
    #[arg(long, default_value_t = 30, value_name = "SECONDS")]
    timeout: u64,
    /// Then wait this long, in seconds, for the peers to move their traffic.
    #[arg(long, default_value_t = 5, value_name = "SECONDS")]
    settle: u64,
    /// Stay up drained instead of shutting down (`undrain` ends it).
    #[arg(long)]
    no_shutdown: bool,
    /// Shutdown communication sent with the Cease (RFC 8203).
    #[arg(long, short = 'm', default_value = "graceful shutdown (RFC 8326)")]
    message: String,
}

#[derive(Debug, Args)]
struct RibArgs {
    /// Only this prefix (exact match, or with --longer also more specifics).
    prefix: Option<IpNet>,
    /// Include prefixes more specific than PREFIX.
    #[arg(long, requires = "prefix")]
    longer: bool,
    /// Only paths from (or, with --out, to) this neighbor.
    #[arg(long, value_name = "NAME-OR-ADDRESS")]
    neighbor: Option<String>,
    /// The neighbor's routes as import policy accepted them (bgpd keeps no copy from
    /// before import policy; `show neighbor` counts what was received).
    #[arg(long = "in", conflicts_with = "adj_out")]
    adj_in: bool,
    /// The neighbor's Adj-RIB-Out: what we advertised to it.
    #[arg(long = "out")]
    adj_out: bool,
}

#[derive(Debug, Subcommand)]
enum NeighborAction {
    /// Administrative shutdown: Cease with an optional message (RFC 8203); stays down
    /// until `up`.
    Down {
        /// Shutdown communication sent to the peer.
        #[arg(long, short = 'm')]
        message: Option<String>,
    },
    /// Start a neighbor that was taken down.
    Up,
    /// Reset the session (Cease / Administrative Reset); it reconnects.
    Clear,
    /// Soft refresh: ask the peer to resend (ROUTE-REFRESH) and re-advertise ours.
    Refresh,
    /// Graceful shutdown of this session for maintenance (RFC 8326): our routes with
    /// GRACEFUL_SHUTDOWN (LOCAL_PREF 0 on iBGP), wait, settle, then `down`.
    Drain(DrainArgs),
    /// Stop draining this neighbor (`up` does too).
    Undrain,
}

/// What bgpctl does: one request, or the steps of a drain.
enum Action {
    Request(Request),
    Drain(Option<String>, DrainArgs),
    Completions(clap_complete::Shell),
    ManPage,
}

fn to_action(command: Command) -> Action {
    let request = match command {
        Command::Drain(args) => return Action::Drain(None, args),
        Command::Completions { shell } => return Action::Completions(shell),
        Command::GenerateMan => return Action::ManPage,
        Command::Show(Show::Summary) => Request::ShowSummary,
        Command::Show(Show::Bfd) => Request::ShowBfd,
        Command::Show(Show::Nodes) => Request::ShowNodes,
        Command::Show(Show::Calico(CalicoShow::Conflicts)) => Request::ShowCalicoConflicts,
        Command::Show(Show::Neighbor { neighbor }) => Request::ShowNeighbor { neighbor },
        Command::Show(Show::Rib(r)) => Request::ShowRib {
            prefix: r.prefix,
            longer: r.longer,
            neighbor: r.neighbor,
            view: match (r.adj_in, r.adj_out) {
                (true, _) => RibView::AdjIn,
                (_, true) => RibView::AdjOut,
                _ => RibView::LocRib,
            },
        },
        Command::Neighbor { neighbor, action } => match action {
            NeighborAction::Drain(args) => return Action::Drain(Some(neighbor), args),
            NeighborAction::Down { message } => Request::NeighborDown { neighbor, message },
            NeighborAction::Up => Request::NeighborUp { neighbor },
            NeighborAction::Clear => Request::NeighborClear { neighbor },
            NeighborAction::Refresh => Request::NeighborRefresh { neighbor },
            NeighborAction::Undrain => Request::Drain {
                neighbor: Some(neighbor),
                undo: true,
            },
        },
        Command::Undrain => Request::Drain {
            neighbor: None,
            undo: true,
        },
        Command::Dump(Dump::Rib { file, neighbor }) => Request::DumpRib {
            // The daemon has its own working directory: send an absolute path.
            file: std::path::absolute(&file)
                .unwrap_or(file)
                .to_string_lossy()
                .into_owned(),
            neighbor,
        },
        Command::Reload { dry_run } => Request::Reload { dry_run },
        Command::Shutdown { message } => Request::Shutdown { message },
    };
    Action::Request(request)
}

/// `bgpctl [neighbor X] drain`: the steps, progress on stderr, the outcome on stdout.
fn run_drain(
    path: &std::path::Path,
    neighbor: Option<String>,
    args: DrainArgs,
    json: bool,
) -> ExitCode {
    let options = DrainOptions {
        neighbor,
        timeout: Duration::from_secs(args.timeout),
        settle: Duration::from_secs(args.settle),
        shutdown: !args.no_shutdown,
        message: args.message,
    };
    match drain::drain(path, &options, |step| eprintln!("bgpctl: {step}")) {
        Ok(outcome) => {
            if json {
                match serde_json::to_string_pretty(&outcome) {
                    Ok(text) => print(&format!("{text}\n")),
                    Err(e) => eprintln!("bgpctl: {e}"),
                }
            } else {
                print(&format!(
                    "drained: {}\nwaiting: {}\n{}\n",
                    outcome.delivered.join(", "),
                    outcome.waiting.join(", "),
                    if outcome.shut_down {
                        "shut down"
                    } else {
                        "still up, drained (`undrain` ends it)"
                    }
                ));
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("bgpctl: {e}");
            match e {
                DrainError::Client(ClientError::Protocol(_)) | DrainError::Refused(_) => {
                    ExitCode::from(1)
                }
                DrainError::Client(_) => ExitCode::from(3),
            }
        }
    }
}

fn socket_path(flag: Option<PathBuf>) -> PathBuf {
    flag.or_else(|| std::env::var_os("BGPCTL_SOCKET").map(PathBuf::from))
        .unwrap_or_else(|| PathBuf::from(DEFAULT_SOCKET))
}

/// Writes to stdout; a closed pipe (`bgpctl ... | head`) is not an error worth a panic.
fn print(text: &str) {
    let _ = io::stdout().lock().write_all(text.as_bytes());
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let path = socket_path(cli.socket);
    let request = match to_action(cli.command) {
        Action::Request(request) => request,
        Action::Drain(neighbor, args) => return run_drain(&path, neighbor, args, cli.json),
        Action::Completions(shell) => {
            clap_complete::generate(shell, &mut Cli::command(), "bgpctl", &mut io::stdout());
            return ExitCode::SUCCESS;
        }
        Action::ManPage => {
            let page = bgpd::manpage::render(Cli::command(), &["bgpd(8)", "bgpd.toml(5)"]);
            return match page.and_then(|p| io::stdout().lock().write_all(&p)) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("bgpctl: cannot write the manual page: {e}");
                    ExitCode::FAILURE
                }
            };
        }
    };
    let response = match client::request(&path, &request) {
        Ok(response) => response,
        Err(e) => {
            eprintln!("bgpctl: {e}");
            return match e {
                ClientError::Protocol(_) => ExitCode::from(1),
                _ => ExitCode::from(3),
            };
        }
    };
    let failed = match &response {
        Response::Error { .. } => true,
        Response::ReloadResult { errors, .. } => !errors.is_empty(),
        _ => false,
    };
    if cli.json {
        match format::json(&response) {
            Ok(text) => print(&text),
            Err(e) => {
                eprintln!("bgpctl: cannot encode the answer as JSON: {e}");
                return ExitCode::from(1);
            }
        }
        if let Response::Error { message } = &response {
            eprintln!("bgpctl: {message}");
        }
    } else if let Response::Error { message } = &response {
        eprintln!("bgpctl: {message}");
    } else {
        print(&format::human(&response));
    }
    if failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}
