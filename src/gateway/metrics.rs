//! Prometheus metrics (text exposition at `/metrics`): requests by dialect, operation and status; latency
//! histograms; translation losses by kind; idempotent replays.

use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    dialect: &'static str,
    operation: &'static str,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct LatencyLabels {
    dialect: &'static str,
    operation: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct LossLabels {
    dialect: &'static str,
    kind: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct DialectLabels {
    dialect: &'static str,
}

type LatencyFamily = Family<LatencyLabels, Histogram, fn() -> Histogram>;

fn latency_histogram() -> Histogram {
    // 0.5 ms .. ~4 s.
    Histogram::new(prometheus_client::metrics::histogram::exponential_buckets(
        0.0005, 2.0, 14,
    ))
}

/// The gateway's metrics; cheap to clone (shared counters).
#[derive(Clone)]
pub struct Metrics {
    registry: std::sync::Arc<Registry>,
    requests: Family<RequestLabels, Counter>,
    latency: LatencyFamily,
    losses: Family<LossLabels, Counter>,
    replays: Family<DialectLabels, Counter>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Metrics")
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("ordermux");
        let requests = Family::<RequestLabels, Counter>::default();
        let latency = LatencyFamily::new_with_constructor(latency_histogram);
        let losses = Family::<LossLabels, Counter>::default();
        let replays = Family::<DialectLabels, Counter>::default();
        registry.register(
            "requests",
            "HTTP requests by dialect, operation and status",
            requests.clone(),
        );
        registry.register(
            "request_duration_seconds",
            "Time from request head to response head",
            latency.clone(),
        );
        registry.register(
            "translation_losses",
            "What replies could not carry, by kind (see dialects::LossKind)",
            losses.clone(),
        );
        registry.register(
            "idempotent_replays",
            "Creates answered from a stored response for a repeated Idempotency-Key",
            replays.clone(),
        );
        Metrics {
            registry: std::sync::Arc::new(registry),
            requests,
            latency,
            losses,
            replays,
        }
    }

    pub fn request(
        &self,
        dialect: &'static str,
        operation: &'static str,
        status: u16,
        elapsed: Duration,
    ) {
        self.requests
            .get_or_create(&RequestLabels {
                dialect,
                operation,
                status,
            })
            .inc();
        #[allow(clippy::disallowed_types)] // a latency in seconds, never money
        let seconds: f64 = elapsed.as_secs_f64();
        self.latency
            .get_or_create(&LatencyLabels { dialect, operation })
            .observe(seconds);
    }

    pub fn loss(&self, dialect: &'static str, kind: &'static str) {
        self.losses
            .get_or_create(&LossLabels { dialect, kind })
            .inc();
    }

    pub fn replay(&self, dialect: &'static str) {
        self.replays.get_or_create(&DialectLabels { dialect }).inc();
    }

    /// The Prometheus text exposition.
    pub fn render(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters_and_histograms() {
        let m = Metrics::new();
        m.request("bigcommerce", "orders.get", 200, Duration::from_millis(3));
        m.loss("fluentcart", "status_collapsed");
        m.replay("commercelayer");
        let text = m.render();
        assert!(text.contains(
            "ordermux_requests_total{dialect=\"bigcommerce\",operation=\"orders.get\",status=\"200\"} 1"
        ), "{text}");
        assert!(text.contains("ordermux_request_duration_seconds_bucket"));
        assert!(text.contains(
            "ordermux_translation_losses_total{dialect=\"fluentcart\",kind=\"status_collapsed\"} 1"
        ));
        assert!(text.contains("ordermux_idempotent_replays_total{dialect=\"commercelayer\"} 1"));
    }
}
