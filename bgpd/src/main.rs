//! `bgpd`: the BGP speaker and route reflector.
//!
//! ```text
//! bgpd --config FILE                 run in the foreground (systemd Type=notify)
//! bgpd --check-config --config FILE  validate, print FILE:LINE:COLUMN: message, exit 0/1
//! bgpd --diff NEW --config FILE      what a reload to NEW would change and reset
//! bgpd --generate-man                 (hidden) print bgpd(8), for the packaging
//! ```

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{CommandFactory, Parser, ValueEnum};
use config::{Config, Diagnostic};

const AFTER_HELP: &str = "\
Files:
  /etc/bgpd/bgpd.toml  the configuration (bgpd.toml(5))
  /run/bgpd/bgpd.sock  the control socket bgpctl talks to ([control] socket)
  /var/lib/bgpd        the peers a restart waits for, restart.json ([global] state_dir)

Environment:
  RUST_LOG       log level and filters (default: info)
  NOTIFY_SOCKET  set by systemd (Type=notify): readiness, and watchdog pings when WATCHDOG_USEC is set

Exit status:
  0  stopped by SIGTERM or bgpctl shutdown; or the configuration checked has no error
  1  the configuration has errors, or the daemon failed
  2  usage error";

/// BGP speaker and route reflector for hybrid Kubernetes edge routers.
///
/// Runs in the foreground and logs to stderr. SIGHUP reloads the configuration, resetting
/// only the sessions whose settings require it. SIGTERM stops so that a restart is
/// hitless: peers that negotiated graceful restart see the connection close without a
/// NOTIFICATION and keep our routes; others get Cease / Administrative Shutdown.
#[derive(Debug, Parser)]
#[command(version, about, long_about, after_long_help = AFTER_HELP)]
struct Cli {
    /// Configuration file (TOML).
    #[arg(long, short = 'c', default_value = "/etc/bgpd/bgpd.toml")]
    config: PathBuf,

    /// Validate the configuration, print every problem as FILE:LINE:COLUMN: message, and
    /// exit 0 (valid) or 1. Never starts a session.
    #[arg(long, conflicts_with = "diff")]
    check_config: bool,

    /// Show what reloading to NEW would change, and which sessions it would reset.
    #[arg(long, value_name = "NEW")]
    diff: Option<PathBuf>,

    /// Log format on stderr; the level comes from RUST_LOG (default: info).
    #[arg(long, value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,

    /// Print the manual page bgpd(8) (roff) and exit; the packaging installs it.
    #[arg(long, hide = true)]
    generate_man: bool,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

fn print_diagnostics(diags: &[Diagnostic]) {
    for d in diags {
        eprintln!("{d}");
    }
}

/// Loads a configuration, printing its diagnostics; `None` when it has errors.
fn load(path: &PathBuf) -> Option<Config> {
    match Config::load(path) {
        Ok((config, warnings)) => {
            print_diagnostics(&warnings);
            Some(config)
        }
        Err(diags) => {
            print_diagnostics(&diags);
            None
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if cli.generate_man {
        let page = bgpd::manpage::render(Cli::command(), &["bgpctl(8)", "bgpd.toml(5)"]);
        return match page.and_then(|p| std::io::stdout().lock().write_all(&p)) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("bgpd: cannot write the manual page: {e}");
                ExitCode::FAILURE
            }
        };
    }
    if cli.check_config {
        return match load(&cli.config) {
            Some(_) => ExitCode::SUCCESS,
            None => ExitCode::FAILURE,
        };
    }
    if let Some(new) = &cli.diff {
        let (Some(old), Some(new)) = (load(&cli.config), load(new)) else {
            return ExitCode::FAILURE;
        };
        let diff = config::diff(&old, &new);
        if diff.is_empty() {
            println!("no changes");
        } else {
            print!("{diff}");
        }
        return ExitCode::SUCCESS;
    }
    init_logs(cli.log_format);
    match bgpd::transport::raise_descriptor_limit() {
        Ok(limit) => tracing::info!(limit, "open descriptor limit"),
        Err(e) => tracing::warn!(error = %e, "cannot raise the open descriptor limit"),
    }
    let Some(config) = load(&cli.config) else {
        return ExitCode::FAILURE;
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("bgpd: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        let daemon = bgpd::daemon::Daemon::start(config, cli.config.clone()).await?;
        daemon.run().await
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = %e, "bgpd stopped");
            eprintln!("bgpd: {e}");
            ExitCode::FAILURE
        }
    }
}

fn init_logs(format: LogFormat) {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}
