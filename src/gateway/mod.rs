//! The HTTP gateway: the hyper server, routing a request to its dialect's API, and the middleware every request
//! passes (request id, limits, authentication, rate limit, idempotency, timeout, panic rescue, metrics, tracing).
//! It knows no wire field names: bodies are the API modules' business, and errors are rendered by the dialects.

mod auth;
mod idempotency;
mod metrics;
mod pipeline;
mod rate;
mod server;

use std::sync::atomic::AtomicBool;
use std::sync::Arc;

pub use auth::{Grant, TokenIssuer};
pub use metrics::Metrics;
pub use server::{bind, serve, ServeError};

use crate::api::ApiContext;
use crate::config::Config;
use crate::dialects::DecodeOptions;
use crate::service::Shop;
use crate::store::{Store, StoreError};

/// Everything a request needs, shared by all connections.
#[derive(Debug, Clone)]
pub struct Gateway {
    pub(crate) api: ApiContext,
    pub(crate) metrics: Metrics,
    pub(crate) rate: Arc<rate::RateLimiter>,
    /// Upstream shops requests are passed through to.
    pub(crate) upstreams: Arc<crate::backends::Upstreams>,
    /// False once shutdown has begun (`/readyz` answers 503 then).
    pub(crate) ready: Arc<AtomicBool>,
}

impl Gateway {
    /// Opens the embedded store in the configured data directory, loads the catalog and seeds customers.
    pub async fn open(config: Config) -> Result<Gateway, StoreError> {
        let store = Store::open_sqlite(&config.server.data_dir, config.store.durability).await?;
        Gateway::with_store(config, store).await
    }

    pub async fn with_store(config: Config, store: Store) -> Result<Gateway, StoreError> {
        store.load_catalog(&config.catalog.products).await?;
        for client in &config.clients {
            for customer in &config.catalog.customers {
                store.ensure_customer(&client.id, customer).await?;
            }
        }
        let tokens = TokenIssuer::new(store.signing_key().await?, config.server.token_ttl);
        let rate = rate::RateLimiter::new(
            config.server.rate_limit_quota,
            config.server.rate_limit_window,
        );
        let upstreams = Arc::new(crate::backends::Upstreams::from_config(&config));
        let config = Arc::new(config);
        Ok(Gateway {
            api: ApiContext {
                shop: Shop::new(store, config.markets.clone()),
                decode_options: DecodeOptions {
                    default_currency: Some(config.defaults.currency),
                },
                config,
                tokens,
            },
            metrics: Metrics::new(),
            rate: Arc::new(rate),
            upstreams,
            ready: Arc::new(AtomicBool::new(true)),
        })
    }

    pub fn config(&self) -> &Config {
        &self.api.config
    }
}
