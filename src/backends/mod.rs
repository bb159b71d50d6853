//! Where requests go besides the embedded shop: upstream shops. Backends own transport (connections, TLS,
//! timeouts, header hygiene); they never parse a caller's body.
//!
//! A caller of the shop's own dialect is served by pass-through (`passthrough.rs`): the request streams to the
//! shop unchanged and the reply streams back. Any other caller (or a same-dialect route in translate mode) is
//! decoded by its API module as usual and served by `UpstreamShop` (`upstream.rs`), which drives the platform's
//! adapter (`adapters/`) over `transport.rs`.

pub mod adapters;
pub mod address;
mod passthrough;
pub mod transport;
pub mod upstream;

use std::collections::HashMap;

use std::sync::Arc;

use crate::canonical::Platform;
use crate::config::{BackendKind, Config, RouteMode};
use crate::dialects::DecodeOptions;
use crate::store::Store;
use adapters::AdapterContext;
use upstream::UpstreamShop;

pub use passthrough::{ForwardError, Links, Upstream};

/// The configured upstreams and which requests each serves.
#[derive(Debug, Clone, Default)]
pub struct Upstreams {
    /// Pass-through clients, one per upstream backend.
    by_name: HashMap<String, Upstream>,
    /// Translating shops, one per upstream backend that some route translates to.
    translating: HashMap<String, Arc<UpstreamShop>>,
    routes: Vec<RouteEntry>,
    fallback: Option<String>,
}

#[derive(Debug, Clone)]
struct RouteEntry {
    dialect: Platform,
    /// BigCommerce routes: the caller's store hash.
    store_hash: Option<String>,
    backend: String,
    pass_through: bool,
}

/// Where one request on a dialect's routes goes.
#[derive(Debug, Clone, Copy)]
pub enum Routed<'a> {
    /// No route: the embedded shop.
    Embedded,
    /// Streams through unchanged to a shop of the caller's platform.
    PassThrough(&'a Upstream),
    /// Decoded and served by an upstream shop (named) through its adapter.
    Translate(&'a str),
}

impl Upstreams {
    /// Clients for every upstream backend, and a translating shop for each one a route translates to. The store
    /// keeps the translating shops' id maps and create journals.
    pub fn from_config(config: &Config, store: &Store) -> Result<Upstreams, String> {
        let by_name = config
            .backends
            .iter()
            .filter(|b| matches!(b.kind, BackendKind::Upstream(_)))
            .map(|b| (b.name.clone(), Upstream::new(b)))
            .collect::<HashMap<_, _>>();
        let mut routes = Vec::new();
        let mut translating = HashMap::new();
        for r in &config.routes {
            let Some(backend) = config.backends.iter().find(|b| b.name == r.backend) else {
                continue;
            };
            let BackendKind::Upstream(platform) = backend.kind else {
                // A route to the embedded shop is the default behaviour.
                continue;
            };
            let pass_through = platform == r.dialect && r.mode == RouteMode::PassThrough;
            if !pass_through && !translating.contains_key(&backend.name) {
                let ctx = AdapterContext {
                    backend: backend.clone(),
                    decode: DecodeOptions {
                        default_currency: Some(config.defaults.currency),
                    },
                };
                translating.insert(backend.name.clone(), UpstreamShop::new(ctx, store.clone())?);
            }
            routes.push(RouteEntry {
                dialect: r.dialect,
                store_hash: r.store_hash.clone(),
                backend: r.backend.clone(),
                pass_through,
            });
        }
        Ok(Upstreams {
            by_name,
            translating,
            routes,
            fallback: config.fallback_backend.clone(),
        })
    }

    /// Where a request in `dialect` (and, for BigCommerce, for `store_hash`) goes.
    pub fn route(&self, dialect: Platform, store_hash: Option<&str>) -> Routed<'_> {
        let Some(entry) = self.routes.iter().find(|r| {
            r.dialect == dialect
                && r.store_hash.as_deref()
                    == store_hash.filter(|_| dialect == Platform::BigCommerce)
        }) else {
            return Routed::Embedded;
        };
        if entry.pass_through {
            match self.by_name.get(&entry.backend) {
                Some(u) => Routed::PassThrough(u),
                None => Routed::Embedded,
            }
        } else {
            Routed::Translate(&entry.backend)
        }
    }

    /// The translating shops, by backend name.
    pub fn translating(&self) -> impl Iterator<Item = (&str, &Arc<UpstreamShop>)> {
        self.translating.iter().map(|(k, v)| (k.as_str(), v))
    }

    /// The upstream for requests that match no ordermux route.
    pub fn fallback(&self) -> Option<&Upstream> {
        self.fallback.as_ref().and_then(|n| self.by_name.get(n))
    }
}
