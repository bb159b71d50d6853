//! `gateway.toml` (and the catalog file) as written, before validation.

use std::collections::BTreeMap;

use serde::Deserialize;

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawConfig {
    #[serde(default)]
    pub defaults: RawDefaults,
    #[serde(default)]
    pub server: RawServer,
    #[serde(default)]
    pub store: RawStore,
    #[serde(default)]
    pub catalog: RawCatalogRef,
    #[serde(default)]
    pub idempotency: RawIdempotency,
    #[serde(default)]
    pub markets: Vec<RawMarket>,
    #[serde(default)]
    pub clients: Vec<RawClient>,
    #[serde(default)]
    pub backends: Vec<RawBackend>,
    #[serde(default)]
    pub routes: Vec<RawRoute>,
    #[serde(default)]
    pub proxy: RawProxy,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawBackend {
    pub name: Option<String>,
    #[serde(rename = "type")]
    pub kind: Option<String>,
    pub base_url: Option<String>,
    pub connect_timeout_ms: Option<u64>,
    pub timeout_ms: Option<u64>,
    pub total_timeout_ms: Option<u64>,
    pub max_response_bytes: Option<u64>,
    pub breaker_failures: Option<u32>,
    pub breaker_cooldown_ms: Option<u64>,
    pub max_pending: Option<u64>,
    pub settle_ms: Option<u64>,
    pub orphan_drafts_after_ms: Option<u64>,
    pub allow_private_addresses: Option<bool>,
    /// BigCommerce: the upstream store's hash (`/stores/{hash}/v2/...`).
    pub store_hash: Option<String>,
    /// Commerce Layer: currency code → market id used for orders created there.
    #[serde(default)]
    pub markets: std::collections::BTreeMap<String, String>,
    /// Commerce Layer: the payment method id orders placed through ordermux pay with.
    pub payment_method: Option<String>,
    /// Commerce Layer: the shipping method id for shipments whose order names none the market offers.
    pub shipping_method: Option<String>,
    #[serde(default)]
    pub credentials: RawCredentials,
}

/// Where each upstream credential comes from: an environment variable (`*_env`) or a file (`*_file`). Values are
/// never written in the configuration file itself.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawCredentials {
    pub token_env: Option<String>,
    pub token_file: Option<String>,
    pub client_id_env: Option<String>,
    pub client_id_file: Option<String>,
    pub client_secret_env: Option<String>,
    pub client_secret_file: Option<String>,
    pub username_env: Option<String>,
    pub username_file: Option<String>,
    pub password_env: Option<String>,
    pub password_file: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRoute {
    pub dialect: Option<String>,
    pub store_hash: Option<String>,
    pub backend: Option<String>,
    /// Same-platform routes: "pass-through" (default) or "translate" (decode, validate and normalise).
    pub mode: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawProxy {
    pub fallback_backend: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawDefaults {
    pub currency: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawServer {
    pub listen: Option<String>,
    pub data_dir: Option<String>,
    pub request_timeout_secs: Option<u64>,
    pub header_read_timeout_secs: Option<u64>,
    pub max_body_bytes: Option<u64>,
    pub shutdown_grace_secs: Option<u64>,
    pub max_connections: Option<u64>,
    pub workers: Option<u64>,
    pub log_format: Option<String>,
    pub token_ttl_secs: Option<u64>,
    pub rate_limit_quota: Option<u64>,
    pub rate_limit_window_secs: Option<u64>,
    pub auth_failure_limit: Option<u64>,
    pub auth_failure_window_secs: Option<u64>,
    pub forwarded_for: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawStore {
    pub synchronous: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawCatalogRef {
    pub file: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawIdempotency {
    pub retention_hours: Option<u64>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawMarket {
    pub id: Option<String>,
    pub number: Option<u64>,
    pub code: Option<String>,
    pub name: Option<String>,
    pub currency: Option<String>,
}

#[derive(Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawClient {
    pub id: Option<String>,
    pub secret: Option<String>,
    pub secret_env: Option<String>,
    pub bigcommerce_store_hash: Option<String>,
}

impl std::fmt::Debug for RawClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RawClient")
            .field("id", &self.id)
            .field("secret", &self.secret.as_ref().map(|_| "[redacted]"))
            .field("secret_env", &self.secret_env)
            .field("bigcommerce_store_hash", &self.bigcommerce_store_hash)
            .finish()
    }
}

/// The product catalog file.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawCatalog {
    #[serde(default)]
    pub products: Vec<RawProduct>,
    #[serde(default)]
    pub customers: Vec<RawCustomer>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawProduct {
    pub sku: Option<String>,
    pub name: Option<String>,
    /// Currency code → decimal price string (`"25.00"`), parsed exactly.
    #[serde(default)]
    pub prices: BTreeMap<String, String>,
    pub fluentcart_post_id: Option<u64>,
    pub fluentcart_object_id: Option<u64>,
    pub bigcommerce_product_id: Option<u64>,
    pub bigcommerce_variant_id: Option<u64>,
    pub fulfillment_type: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawCustomer {
    pub email: Option<String>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub address: Option<RawAddress>,
}

/// A seeded customer's default address.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawAddress {
    #[serde(default)]
    pub line1: String,
    pub line2: Option<String>,
    #[serde(default)]
    pub city: String,
    pub region: Option<String>,
    pub postal_code: Option<String>,
    #[serde(default)]
    pub country_code: String,
    pub phone: Option<String>,
    pub company: Option<String>,
}
