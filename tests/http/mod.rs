//! Integration tests over real HTTP: the gateway runs in-process on an ephemeral 127.0.0.1 port with its own
//! temporary data directory, and is called with reqwest exactly as a client would.

pub mod harness;

pub mod bigcommerce;
mod commercelayer;
mod core;
mod cross;
mod fluentcart;
mod idempotency_model;
mod idempotency_model_flows;
mod passthrough;
pub mod spec_replies;
mod upstream_bigcommerce;
mod upstream_commercelayer;
mod upstream_fluentcart;
mod upstream_gateway;
mod upstream_left_out;
mod upstream_mutations;
mod upstream_queries;
pub mod upstream_shapes;
pub mod upstream_staged;
