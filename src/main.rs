//! `pstn-bridge [--config FILE] [check-config | policy ...]`

use std::process::ExitCode;

use clap::Parser;
use pstn_bridge::cli::{Cli, Command};
use pstn_bridge::config::{self, Config};
use pstn_bridge::driver::{self, Stop};

fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("PSTN_BRIDGE_LOG")
                .unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let cfg = match config::load(cli.config.as_deref()) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("configuration error: {e}");
            return ExitCode::from(2);
        }
    };
    match cli.command {
        Some(Command::CheckConfig) => {
            print!("{}", pstn_bridge::cli::summary(&cfg));
            ExitCode::SUCCESS
        }
        Some(Command::Policy(cmd)) => pstn_bridge::cli::policy::run(&cfg, cmd),
        Some(Command::Dial(args)) => pstn_bridge::cli::dial::run(cfg, args),
        Some(Command::Token(args)) => pstn_bridge::cli::token::run(&cfg, args),
        None => serve(cfg),
    }
}

fn serve(cfg: Config) -> ExitCode {
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("cannot start runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    rt.block_on(async move {
        use tokio::signal::unix::{SignalKind, signal};
        // Handlers go in before the sockets open: a signal that arrives once the daemon
        // answers must drain or stop it, never kill it with the default action.
        let (Ok(mut term), Ok(mut int)) = (
            signal(SignalKind::terminate()),
            signal(SignalKind::interrupt()),
        ) else {
            eprintln!("cannot install signal handlers");
            return ExitCode::FAILURE;
        };
        let (stop_tx, stop_rx) = driver::shutdown_channel();
        let running = match driver::start(cfg, stop_rx).await {
            Ok(r) => r,
            Err(e) => {
                tracing::error!(error = %e, "start-up failed");
                return ExitCode::FAILURE;
            }
        };
        tokio::spawn(async move {
            tokio::select! {
                _ = term.recv() => {
                    tracing::info!("SIGTERM: draining");
                    let _ = stop_tx.send(Stop::Drain);
                    tokio::select! {
                        _ = term.recv() => {}
                        _ = int.recv() => {}
                    }
                    tracing::info!("second signal: stopping now");
                    let _ = stop_tx.send(Stop::Immediate);
                }
                _ = int.recv() => {
                    tracing::info!("SIGINT: stopping now");
                    let _ = stop_tx.send(Stop::Immediate);
                }
            }
        });
        let _ = running.done.await;
        tracing::info!("stopped");
        ExitCode::SUCCESS
    })
}
