//! The single integration test binary (see Cargo.toml `autotests = false`).

mod oracle;
mod support;

#[allow(dead_code)]
mod fakes;

mod http;

mod cli;
mod golden;
mod invariants;
mod lossless;
mod properties;
mod replay;
mod schema;
mod serve_cli;
