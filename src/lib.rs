//! ordermux: a multi-dialect commerce order gateway.
//!
//! Orders arrive in one of three dialects (FluentCart REST v2, Commerce Layer JSON:API, BigCommerce v2), are
//! decoded into one canonical order model, and are rendered back out in any dialect, with every loss reported.
//!
//! Code map (see ARCHITECTURE.md):
//! - [`canonical`]: the order model, money, status axes and `Problem`; knows no wire format.
//! - [`dialects`]: one codec per platform, both directions, plus the vocabulary tables from `dialects/`.
//! - [`config`]: `gateway.toml` loading and validation.
//! - [`cli`]: the `ordermux` command line.

#![forbid(unsafe_code)]

pub mod api;
pub mod backends;
pub mod canonical;
pub mod cli;
pub mod coarse_timer;
pub mod config;
pub mod dialects;
pub mod gateway;
pub mod hex;
pub mod replay;
pub mod service;
pub mod store;
pub mod telemetry;
