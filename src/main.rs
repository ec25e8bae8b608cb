//! `quarry`: parse configuration, start logging, serve until SIGINT/SIGTERM.

use std::process::ExitCode;
use std::time::Duration;

use quarry::{Config, Server};
use tracing_subscriber::EnvFilter;

/// mimalloc rather than glibc's malloc: a short statement makes a few hundred
/// small allocations (plans, batches, wire messages), and glibc's malloc and
/// free were a sixth of the server's CPU for a `SELECT 1` round trip.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let config = match Config::load() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("quarry: {e}");
            return ExitCode::from(2);
        }
    };
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_env("QUARRY_LOG").unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(config.threads)
        .thread_name("quarry")
        .thread_stack_size(quarry::complexity::THREAD_STACK)
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("quarry: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    // Everything runs on the runtime's threads, whose stacks are sized for
    // deep statements (`complexity::THREAD_STACK`): start-up plans stored
    // definitions too, so not even it runs on the main thread's stack.
    let serve = runtime.spawn(async move {
        let server = match Server::start(config).await {
            Ok(s) => s,
            Err(e) => {
                tracing::error!("{e}");
                return ExitCode::FAILURE;
            }
        };
        let stop = server.shutdown_token();
        tokio::spawn(async move {
            quarry::server::shutdown_signal().await;
            tracing::info!("signal received");
            stop.cancel();
        });
        match server.serve(Duration::from_secs(10)).await {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                tracing::error!("{e}");
                ExitCode::FAILURE
            }
        }
    });
    let code = runtime.block_on(serve).unwrap_or_else(|e| {
        eprintln!("quarry: {e}");
        ExitCode::FAILURE
    });
    // Running kernels were told to stop and do within a block of rows or a
    // tree; one that has not yet must not keep a stopped server alive.
    runtime.shutdown_timeout(Duration::from_secs(2));
    code
}
