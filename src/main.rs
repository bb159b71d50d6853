//! The `ordermux` binary: parse the command line and run it.

#![forbid(unsafe_code)]

use std::process::ExitCode;

use clap::Parser;

// The gateway allocates small, short-lived buffers on every request (headers, bodies, JSON trees) from every
// worker thread; mimalloc's per-thread free lists serve those without glibc malloc's arena locking and
// consolidation, which showed as a tenth of pass-through CPU in `perf` (bench/proxy.sh).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = ordermux::cli::Cli::parse();
    ordermux::cli::run(cli)
}
