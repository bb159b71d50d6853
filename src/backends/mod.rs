//! Where requests go besides the embedded shop: upstream shops. Backends own transport (connections, TLS,
//! timeouts, header hygiene); they never parse a caller's body.
//!
//! Today an upstream serves callers of its own dialect by pass-through (`passthrough.rs`): the request streams to
//! the shop unchanged and the reply streams back. Translating adapters (a caller of one dialect on a shop of
//! another) are the next step and will live beside it.

pub mod adapters;
mod passthrough;
pub mod transport;
pub mod upstream;

use std::collections::HashMap;

use crate::canonical::Platform;
use crate::config::{BackendKind, Config};

pub use passthrough::{ForwardError, Upstream};

/// The configured upstreams and which requests each serves.
#[derive(Debug, Clone, Default)]
pub struct Upstreams {
    by_name: HashMap<String, Upstream>,
    /// (dialect, BigCommerce store hash) → upstream name.
    routes: Vec<(Platform, Option<String>, String)>,
    fallback: Option<String>,
}

impl Upstreams {
    pub fn from_config(config: &Config) -> Upstreams {
        let by_name = config
            .backends
            .iter()
            .filter(|b| matches!(b.kind, BackendKind::Upstream(_)))
            .map(|b| (b.name.clone(), Upstream::new(b)))
            .collect::<HashMap<_, _>>();
        let routes = config
            .routes
            .iter()
            .filter(|r| by_name.contains_key(&r.backend))
            .map(|r| (r.dialect, r.store_hash.clone(), r.backend.clone()))
            .collect();
        Upstreams {
            by_name,
            routes,
            fallback: config.fallback_backend.clone(),
        }
    }

    /// The upstream serving `dialect` (and, for BigCommerce, `store_hash`), if one is routed.
    pub fn for_dialect(&self, dialect: Platform, store_hash: Option<&str>) -> Option<&Upstream> {
        self.routes
            .iter()
            .find(|(d, hash, _)| {
                *d == dialect
                    && hash.as_deref() == store_hash.filter(|_| dialect == Platform::BigCommerce)
            })
            .and_then(|(_, _, name)| self.by_name.get(name))
    }

    /// The upstream for requests that match no ordermux route.
    pub fn fallback(&self) -> Option<&Upstream> {
        self.fallback.as_ref().and_then(|n| self.by_name.get(n))
    }
}
