//! `bgpd`: the BGP speaker and route reflector.
//!
//! ```text
//! bgpd --config FILE                 run in the foreground (systemd Type=notify)
//! bgpd --check-config --config FILE  validate, print FILE:LINE:COLUMN: message, exit 0/1
//! bgpd --diff NEW --config FILE      what a reload to NEW would change and reset
//! ```

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, ValueEnum};
use config::{Config, Diagnostic};

/// BGP speaker and route reflector for hybrid Kubernetes edge routers.
///
/// Runs in the foreground and logs to stderr. SIGHUP reloads the configuration, resetting
/// only the sessions whose settings require it. SIGTERM stops so that a restart is
/// hitless: peers that negotiated graceful restart see the connection close without a
/// NOTIFICATION and keep our routes; others get Cease / Administrative Shutdown.
#[derive(Debug, Parser)]
#[command(version, about, long_about)]
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
