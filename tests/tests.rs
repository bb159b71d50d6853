//! The single integration test binary (see Cargo.toml `autotests = false`).

mod support;

mod cli;
mod golden;
mod invariants;
mod lossless;
mod properties;
mod schema;
