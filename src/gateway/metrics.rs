//! Prometheus metrics (text exposition at `/metrics`): requests by dialect, operation and status; latency
//! histograms; translation losses by kind; idempotent replays; Idempotency-Key claims taken over from a stopped
//! gateway; creates left unfinished upstream and swept.

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

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TakeoverLabels {
    dialect: &'static str,
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct SweepLabels {
    backend: String,
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct BackendLabels {
    backend: String,
}

type LatencyFamily = Family<LatencyLabels, Histogram, fn() -> Histogram>;

fn latency_histogram() -> Histogram {
    // 0.5 ms .. ~4 s.
    Histogram::new(prometheus_client::metrics::histogram::exponential_buckets(
        0.0005, 2.0, 14,
    ))
}

/// The counter and histogram of one connection's previous request, with its labels.
#[derive(Default)]
pub struct LastRequestMetrics(std::sync::Mutex<Option<RequestHandles>>);

struct RequestHandles {
    labels: RequestLabels,
    count: Counter,
    latency: Histogram,
}

/// The gateway's metrics; cheap to clone (shared counters).
#[derive(Clone)]
pub struct Metrics {
    registry: std::sync::Arc<Registry>,
    requests: Family<RequestLabels, Counter>,
    latency: LatencyFamily,
    losses: Family<LossLabels, Counter>,
    replays: Family<DialectLabels, Counter>,
    takeovers: Family<TakeoverLabels, Counter>,
    sweeps: Family<SweepLabels, Counter>,
    drafts_removed: Family<BackendLabels, Counter>,
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
        let takeovers = Family::<TakeoverLabels, Counter>::default();
        let sweeps = Family::<SweepLabels, Counter>::default();
        let drafts_removed = Family::<BackendLabels, Counter>::default();
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
        registry.register(
            "idempotency_takeovers",
            "Idempotency-Key claims left in flight by a stopped gateway and taken over, by outcome: rerun (no \
             order written: an upstream create, which its journal reconciles), resumed (answered with the order \
             written), interrupted (a reply that cannot be rebuilt)",
            takeovers.clone(),
        );
        registry.register(
            "unfinished_creates_swept",
            "Creates that stopped half-way upstream and that no retry came for, by backend and outcome: cleared \
             (what they left upstream removed; a retry creates afresh), left (an order placed though unfinished, \
             or finished after all), failed (the shop could not be asked; tried again later)",
            sweeps.clone(),
        );
        registry.register(
            "unfinished_drafts_removed",
            "Drafts deleted upstream by those sweeps, by backend",
            drafts_removed.clone(),
        );
        Metrics {
            registry: std::sync::Arc::new(registry),
            requests,
            latency,
            losses,
            replays,
            takeovers,
            sweeps,
            drafts_removed,
        }
    }

    /// Counts a served request and its latency. `last` is the connection's: consecutive requests on one
    /// connection are nearly always alike, and reusing the previous request's counter and histogram spares the
    /// two label look-ups (a lock and a hash each) on every request after the first.
    pub fn request(
        &self,
        last: &LastRequestMetrics,
        dialect: &'static str,
        operation: &'static str,
        status: u16,
        elapsed: Duration,
    ) {
        let labels = RequestLabels {
            dialect,
            operation,
            status,
        };
        #[allow(clippy::disallowed_types)] // a latency in seconds, never money
        let seconds: f64 = elapsed.as_secs_f64();
        let mut last = last.0.lock().unwrap_or_else(|p| p.into_inner());
        let handles = match &mut *last {
            Some(h) if h.labels == labels => h,
            slot => slot.insert(RequestHandles {
                count: self.requests.get_or_create(&labels).clone(),
                latency: self
                    .latency
                    .get_or_create(&LatencyLabels { dialect, operation })
                    .clone(),
                labels,
            }),
        };
        handles.count.inc();
        handles.latency.observe(seconds);
    }

    pub fn loss(&self, dialect: &'static str, kind: &'static str) {
        self.losses
            .get_or_create(&LossLabels { dialect, kind })
            .inc();
    }

    pub fn replay(&self, dialect: &'static str) {
        self.replays.get_or_create(&DialectLabels { dialect }).inc();
    }

    /// Counts a claim taken over from a stopped gateway (`outcome`: rerun, resumed or interrupted).
    pub fn takeover(&self, dialect: &'static str, outcome: &'static str) {
        self.takeovers
            .get_or_create(&TakeoverLabels { dialect, outcome })
            .inc();
    }

    /// Counts one sweep of `backend`'s unfinished creates (`UpstreamShop::sweep_unfinished`).
    pub fn sweep(&self, backend: &str, report: &crate::backends::upstream::SweepReport) {
        for (outcome, n) in [
            ("cleared", report.cleared),
            ("left", report.left),
            ("failed", report.failed),
        ] {
            if n > 0 {
                self.sweeps
                    .get_or_create(&SweepLabels {
                        backend: backend.to_owned(),
                        outcome,
                    })
                    .inc_by(n as u64);
            }
        }
        if report.drafts_removed > 0 {
            self.drafts_removed
                .get_or_create(&BackendLabels {
                    backend: backend.to_owned(),
                })
                .inc_by(report.drafts_removed as u64);
        }
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
        m.request(
            &LastRequestMetrics::default(),
            "bigcommerce",
            "orders.get",
            200,
            Duration::from_millis(3),
        );
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

    #[test]
    fn a_connection_reusing_its_last_handles_counts_each_label_set_apart() {
        let m = Metrics::new();
        let last = LastRequestMetrics::default();
        for status in [200, 200, 404, 200] {
            m.request(
                &last,
                "fluentcart",
                "orders.get",
                status,
                Duration::from_millis(1),
            );
        }
        m.request(
            &last,
            "fluentcart",
            "orders.list",
            200,
            Duration::from_millis(1),
        );
        let text = m.render();
        for (labels, n) in [
            ("operation=\"orders.get\",status=\"200\"", 3),
            ("operation=\"orders.get\",status=\"404\"", 1),
            ("operation=\"orders.list\",status=\"200\"", 1),
        ] {
            let line = format!("ordermux_requests_total{{dialect=\"fluentcart\",{labels}}} {n}");
            assert!(text.contains(&line), "{line} in\n{text}");
        }
        assert!(text.contains(
            "ordermux_request_duration_seconds_count{dialect=\"fluentcart\",operation=\"orders.get\"} 4"
        ), "{text}");
    }
}
