//! The HTTP gateway: the hyper server, routing a request to its dialect's API, and the middleware every request
//! passes (request id, limits, authentication, rate limit, idempotency, timeout, panic rescue, metrics, tracing).
//! It knows no wire field names: bodies are the API modules' business, and errors are rendered by the dialects.

mod auth;
mod idempotency;
mod lockout;
mod metrics;
mod pipeline;
mod rate;
mod server;

use std::sync::atomic::AtomicBool;
use std::sync::Arc;

pub use auth::{basic_credentials, Grant, TokenIssuer};
pub use metrics::Metrics;
pub use server::{bind, serve, serve_workers, ServeError};

use crate::api::ApiContext;
use crate::config::Config;
use crate::dialects::DecodeOptions;
use crate::service::Shop;
use crate::store::{Store, StoreError};

/// Why the gateway could not start.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("backend: {0}")]
    Backend(String),
}

/// Everything a request needs, shared by all connections.
#[derive(Debug, Clone)]
pub struct Gateway {
    pub(crate) api: ApiContext,
    pub(crate) metrics: Metrics,
    pub(crate) rate: Arc<rate::RateLimiter>,
    /// Addresses locked out after failed authentications.
    pub(crate) lockout: Arc<lockout::AuthLockout>,
    /// Upstream shops requests are passed through or translated to.
    pub(crate) upstreams: Arc<crate::backends::Upstreams>,
    /// The API context for each translating upstream backend, by name.
    pub(crate) translated: Arc<std::collections::HashMap<String, ApiContext>>,
    /// False once shutdown has begun (`/readyz` answers 503 then).
    pub(crate) ready: Arc<AtomicBool>,
}

impl Gateway {
    /// Opens the embedded store in the configured data directory, loads the catalog and seeds customers.
    pub async fn open(config: Config) -> Result<Gateway, OpenError> {
        let store = Store::open_sqlite(&config.server.data_dir, config.store.durability).await?;
        Gateway::with_store(config, store).await
    }

    pub async fn with_store(config: Config, store: Store) -> Result<Gateway, OpenError> {
        store.load_catalog(&config.catalog.products).await?;
        for client in &config.clients {
            for customer in &config.catalog.customers {
                store.ensure_customer(&client.id, customer).await?;
            }
        }
        let tokens = TokenIssuer::new(store.signing_key().await?, config.server.token_ttl);
        let lockout = lockout::AuthLockout::new(
            config.server.auth_failure_limit,
            config.server.auth_failure_window,
        );
        let rate = rate::RateLimiter::new(
            config.server.rate_limit_quota,
            config.server.rate_limit_window,
        );
        let upstreams =
            crate::backends::Upstreams::from_config(&config, &store).map_err(OpenError::Backend)?;
        let config = Arc::new(config);
        let api = ApiContext {
            shop: Shop::new(store, config.markets.clone()),
            decode_options: DecodeOptions {
                default_currency: Some(config.defaults.currency),
            },
            config,
            tokens,
        };
        let translated = upstreams
            .translating()
            .map(|(name, shop)| {
                let ctx = ApiContext {
                    shop: api.shop.with_upstream(shop.clone()),
                    ..api.clone()
                };
                (name.to_owned(), ctx)
            })
            .collect();
        Ok(Gateway {
            api,
            translated: Arc::new(translated),
            upstreams: Arc::new(upstreams),
            metrics: Metrics::new(),
            rate: Arc::new(rate),
            lockout: Arc::new(lockout),
            ready: Arc::new(AtomicBool::new(true)),
        })
    }

    pub fn config(&self) -> &Config {
        &self.api.config
    }
}
