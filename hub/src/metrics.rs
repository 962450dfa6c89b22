//! Prometheus metrics, served as text at `/metrics`.

use prometheus::{Encoder, HistogramOpts, HistogramVec, IntCounterVec, IntGaugeVec, Opts, Registry, TextEncoder};

/// Every metric the hub exports.
#[derive(Clone, Debug)]
pub struct Metrics {
    registry: Registry,
    pub http_requests: IntCounterVec,
    pub http_duration: HistogramVec,
    pub websockets: IntGaugeVec,
    pub messages: IntCounterVec,
    pub store_write: HistogramVec,
    /// Bot turns (understanding, search, decision), by outcome.
    pub bot_turns: HistogramVec,
    /// Routing decisions carried out, by kind.
    pub routing: IntCounterVec,
    /// Time the routing engine takes to decide on one input (in memory, before anything is
    /// stored).
    pub routing_engine: prometheus::Histogram,
    /// Replies sent through platforms, by channel and outcome.
    pub outbound: IntCounterVec,
    /// Mails taken from IMAP mailboxes, and failed polls, by mailbox and outcome.
    pub imap_mails: IntCounterVec,
    /// Records the retention job deleted or anonymised, by data kind.
    pub retention_purged: IntCounterVec,
    /// Runs of the retention job, by outcome (`ok`, `failed`).
    pub retention_runs: IntCounterVec,
    /// Calls to the billing system (retries included), by BSS, method and outcome.
    pub bss_calls: HistogramVec,
    /// The billing system's circuit breaker: 0 closed, 1 half-open, 2 open.
    pub bss_breaker: IntGaugeVec,
    /// The care workflows' submissions reaching each state, by workflow and state.
    pub care_requests: IntCounterVec,
    /// Alertmanager alerts received, by what they did (`opened`, `updated`, `resolved`,
    /// `ignored`).
    pub alerts: IntCounterVec,
    /// Incident notices posted in customers' conversations, by phase (`opened`, `resolved`).
    pub outage_notices: IntCounterVec,
    /// Satisfaction surveys sent, by the channel the question went through.
    pub csat_sent: IntCounterVec,
    /// Satisfaction surveys answered, by channel and score.
    pub csat_answers: IntCounterVec,
    /// Resolutions not surveyed, by reason (`opted_out`, `no_contact`).
    pub csat_skipped: IntCounterVec,
    /// SLA targets missed, recorded as they happen, by target and queue.
    pub sla_breaches: IntCounterVec,
    /// SLA warnings given, by target and queue.
    pub sla_warnings: IntCounterVec,
    /// Churn-risk scores computed, by band (`low`, `medium`, `high`).
    pub churn_scores: IntCounterVec,
    /// The Redis event bus, by outcome (`published`, `lost`, `received`, `gap`, `reconnect`).
    pub bus_events: IntCounterVec,
    /// Whether this node holds each lease (1) or not (0), by lease (`jobs`).
    pub leader: IntGaugeVec,
}

/// Registering a metric only fails on a duplicate name, which is a programming error caught by
/// every test run.
fn register<T: prometheus::core::Collector + Clone + 'static>(registry: &Registry, metric: T) -> T {
    if let Err(e) = registry.register(Box::new(metric.clone())) {
        tracing::error!(error = %e, "metric registration failed");
    }
    metric
}

impl Metrics {
    /// Creates and registers the metrics.
    ///
    /// # Errors
    /// A malformed metric definition.
    pub fn new() -> Result<Self, prometheus::Error> {
        let registry = Registry::new_custom(Some("switchboard".into()), None)?;
        let latency_buckets = vec![0.0005, 0.001, 0.0025, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5];
        Ok(Self {
            http_requests: register(
                &registry,
                IntCounterVec::new(
                    Opts::new("http_requests_total", "HTTP requests answered"),
                    &["method", "route", "status"],
                )?,
            ),
            http_duration: register(
                &registry,
                HistogramVec::new(
                    HistogramOpts::new("http_request_duration_seconds", "Time to answer an HTTP request")
                        .buckets(latency_buckets.clone()),
                    &["route"],
                )?,
            ),
            websockets: register(
                &registry,
                IntGaugeVec::new(Opts::new("websockets_open", "Open websockets"), &["kind"])?,
            ),
            messages: register(
                &registry,
                IntCounterVec::new(Opts::new("messages_stored_total", "Messages stored"), &["channel", "author"])?,
            ),
            bot_turns: register(
                &registry,
                HistogramVec::new(
                    HistogramOpts::new("bot_turn_seconds", "Time for the bot to decide a turn")
                        .buckets(latency_buckets.clone()),
                    &["outcome"],
                )?,
            ),
            store_write: register(
                &registry,
                HistogramVec::new(
                    HistogramOpts::new("store_write_seconds", "Time to durably store a write")
                        .buckets(latency_buckets.clone()),
                    &["op"],
                )?,
            ),
            routing: register(
                &registry,
                IntCounterVec::new(Opts::new("routing_decisions_total", "Routing decisions carried out"), &["kind"])?,
            ),
            routing_engine: register(
                &registry,
                prometheus::Histogram::with_opts(
                    HistogramOpts::new(
                        "routing_engine_seconds",
                        "Time the routing engine takes to decide on one input, in memory, before storing",
                    )
                    .buckets(vec![5e-6, 1e-5, 2.5e-5, 5e-5, 1e-4, 2.5e-4, 1e-3, 1e-2]),
                )?,
            ),
            outbound: register(
                &registry,
                IntCounterVec::new(
                    Opts::new("outbound_attempts_total", "Replies sent through platforms, by outcome"),
                    &["channel", "status"],
                )?,
            ),
            imap_mails: register(
                &registry,
                IntCounterVec::new(
                    Opts::new("imap_mails_total", "Mails taken from IMAP mailboxes, and failed polls, by outcome"),
                    &["mailbox", "outcome"],
                )?,
            ),
            retention_purged: register(
                &registry,
                IntCounterVec::new(
                    Opts::new("retention_purged_total", "Records the retention job deleted or anonymised, by kind"),
                    &["kind"],
                )?,
            ),
            retention_runs: register(
                &registry,
                IntCounterVec::new(
                    Opts::new("retention_runs_total", "Runs of the retention job, by outcome"),
                    &["outcome"],
                )?,
            ),
            care_requests: register(
                &registry,
                IntCounterVec::new(
                    Opts::new("care_requests_total", "Care workflow submissions reaching a state, by workflow"),
                    &["kind", "state"],
                )?,
            ),
            bss_calls: register(
                &registry,
                HistogramVec::new(
                    HistogramOpts::new(
                        "bss_call_duration_seconds",
                        "Time of a call to the billing system, retries included, by outcome (`cached`: from the cache)",
                    )
                    .buckets(latency_buckets.clone()),
                    &["bss", "method", "outcome"],
                )?,
            ),
            bss_breaker: register(
                &registry,
                IntGaugeVec::new(
                    Opts::new(
                        "bss_breaker_state",
                        "The billing system's circuit breaker: 0 closed, 1 half-open, 2 open",
                    ),
                    &["bss"],
                )?,
            ),
            alerts: register(
                &registry,
                IntCounterVec::new(
                    Opts::new("alertmanager_alerts_total", "Alertmanager alerts received, by what they did"),
                    &["outcome"],
                )?,
            ),
            outage_notices: register(
                &registry,
                IntCounterVec::new(
                    Opts::new("outage_notices_total", "Incident notices posted in customers' conversations, by phase"),
                    &["phase"],
                )?,
            ),
            csat_sent: register(
                &registry,
                IntCounterVec::new(
                    Opts::new("csat_surveys_sent_total", "Satisfaction surveys sent, by channel"),
                    &["via"],
                )?,
            ),
            csat_answers: register(
                &registry,
                IntCounterVec::new(
                    Opts::new("csat_answers_total", "Satisfaction surveys answered, by channel and score"),
                    &["via", "score"],
                )?,
            ),
            csat_skipped: register(
                &registry,
                IntCounterVec::new(
                    Opts::new("csat_surveys_skipped_total", "Resolutions not surveyed, by reason"),
                    &["reason"],
                )?,
            ),
            sla_breaches: register(
                &registry,
                IntCounterVec::new(
                    Opts::new("sla_breaches_total", "SLA targets missed, recorded when they happen"),
                    &["target", "queue"],
                )?,
            ),
            sla_warnings: register(
                &registry,
                IntCounterVec::new(
                    Opts::new("sla_warnings_total", "SLA warnings given before a breach"),
                    &["target", "queue"],
                )?,
            ),
            churn_scores: register(
                &registry,
                IntCounterVec::new(Opts::new("churn_scores_total", "Churn-risk scores computed, by band"), &["band"])?,
            ),
            bus_events: register(
                &registry,
                IntCounterVec::new(
                    Opts::new("bus_events_total", "Events through the Redis bus, and its gaps and reconnections"),
                    &["outcome"],
                )?,
            ),
            leader: register(
                &registry,
                IntGaugeVec::new(Opts::new("leader", "Whether this node holds the lease (1) or not (0)"), &["lease"])?,
            ),
            registry,
        })
    }

    /// The metrics in Prometheus text format.
    #[must_use]
    pub fn render(&self) -> String {
        let mut buf = Vec::new();
        if let Err(e) = TextEncoder::new().encode(&self.registry.gather(), &mut buf) {
            tracing::error!(error = %e, "metrics encoding failed");
        }
        String::from_utf8(buf).unwrap_or_default()
    }
}

/// Feeds the BSS metrics from the resilience layer.
impl bss::Observer for Metrics {
    fn call(&self, bss: &'static str, method: &'static str, outcome: bss::Outcome, elapsed: std::time::Duration) {
        self.bss_calls.with_label_values(&[bss, method, outcome.as_str()]).observe(elapsed.as_secs_f64());
    }

    fn breaker(&self, bss: &'static str, state: bss::BreakerState) {
        self.bss_breaker.with_label_values(&[bss]).set(state.as_number());
    }
}
