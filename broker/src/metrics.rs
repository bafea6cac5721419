//! Broker metrics and the `/metrics` endpoint (Prometheus / OpenMetrics
//! text, encoded by the `prometheus-client` crate).
//!
//! The endpoint is off unless SKIFF_METRICS_LISTENER_URL is set (bind it to
//! localhost, or to a port the security group does not open): metrics are
//! counted either way, costing a few atomic adds per request. The HTTP side
//! is deliberately tiny: one GET per connection, answered and closed.

use std::sync::Arc;
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tracing::{debug, info};

use crate::broker::Broker;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct TopicLabel {
    pub topic: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ApiLabel {
    pub api: String,
}

fn latency_histogram() -> Histogram {
    // 50 µs .. ~13 s
    Histogram::new(exponential_buckets(0.00005, 4.0, 10))
}

/// Every metric the broker keeps.
pub struct Metrics {
    registry: Registry,
    pub bytes_in: Family<TopicLabel, Counter>,
    pub records_in: Family<TopicLabel, Counter>,
    pub bytes_out: Family<TopicLabel, Counter>,
    pub records_out: Family<TopicLabel, Counter>,
    pub requests: Family<ApiLabel, Counter>,
    pub request_seconds: Family<ApiLabel, Histogram, fn() -> Histogram>,
    pub connections: Gauge,
    pub database_bytes: Gauge,
    pub retention_deleted_batches: Counter,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("skiff");
        let m = Metrics {
            bytes_in: Family::default(),
            records_in: Family::default(),
            bytes_out: Family::default(),
            records_out: Family::default(),
            requests: Family::default(),
            request_seconds: Family::new_with_constructor(latency_histogram as fn() -> Histogram),
            connections: Gauge::default(),
            database_bytes: Gauge::default(),
            retention_deleted_batches: Counter::default(),
            registry: Registry::default(),
        };
        registry.register(
            "produced_bytes",
            "Record-batch bytes stored, per topic",
            m.bytes_in.clone(),
        );
        registry.register(
            "produced_records",
            "Records stored, per topic",
            m.records_in.clone(),
        );
        registry.register(
            "fetched_bytes",
            "Record-batch bytes served to consumers, per topic",
            m.bytes_out.clone(),
        );
        registry.register(
            "fetched_records",
            "Records served to consumers, per topic",
            m.records_out.clone(),
        );
        registry.register("requests", "Requests handled, per API", m.requests.clone());
        registry.register(
            "request_duration_seconds",
            "Time from request read to response ready, per API (produce: until committed)",
            m.request_seconds.clone(),
        );
        registry.register(
            "connections",
            "Open client connections",
            m.connections.clone(),
        );
        registry.register(
            "database_bytes",
            "Size of the database file and its WAL",
            m.database_bytes.clone(),
        );
        registry.register(
            "retention_deleted_batches",
            "Record batches removed by retention",
            m.retention_deleted_batches.clone(),
        );
        Metrics { registry, ..m }
    }
}

impl Metrics {
    /// The metrics in text form.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }

    /// Drops a deleted topic's series, so topics that come and go leave
    /// no label behind.
    pub fn remove_topic(&self, topic: &str) {
        let label = TopicLabel {
            topic: topic.to_string(),
        };
        for family in [
            &self.bytes_in,
            &self.records_in,
            &self.bytes_out,
            &self.records_out,
        ] {
            family.remove(&label);
        }
    }

    pub fn observe_request(&self, api: &str, elapsed: Duration) {
        let label = ApiLabel {
            api: api.to_string(),
        };
        self.requests.get_or_create(&label).inc();
        self.request_seconds
            .get_or_create(&label)
            .observe(elapsed.as_secs_f64());
    }
}

fn database_size(broker: &Broker) -> i64 {
    let db = broker.storage.path();
    let mut wal = db.as_os_str().to_owned();
    wal.push("-wal");
    [db.to_path_buf(), wal.into()]
        .iter()
        .filter_map(|p| std::fs::metadata(p).ok())
        .map(|m| m.len() as i64)
        .sum()
}

/// Serves `GET /metrics` on `listener` until the broker shuts down.
pub async fn serve(listener: TcpListener, broker: Arc<Broker>) {
    if let Ok(addr) = listener.local_addr() {
        info!(%addr, "metrics endpoint ready at /metrics");
    }
    loop {
        let (mut stream, _) = tokio::select! {
            _ = broker.shutdown.cancelled() => return,
            a = listener.accept() => match a {
                Ok(a) => a,
                Err(e) => {
                    debug!(error = %e, "metrics accept failed");
                    continue;
                }
            },
        };
        let broker = broker.clone();
        tokio::spawn(async move {
            let mut buf = vec![0u8; 2048];
            let mut read = 0;
            // Read the request head (bounded), then answer and close.
            let head = loop {
                match tokio::time::timeout(Duration::from_secs(5), stream.read(&mut buf[read..]))
                    .await
                {
                    Ok(Ok(0)) | Ok(Err(_)) | Err(_) => return,
                    Ok(Ok(n)) => read += n,
                }
                if buf[..read].windows(4).any(|w| w == b"\r\n\r\n") || read == buf.len() {
                    break String::from_utf8_lossy(&buf[..read]).to_string();
                }
            };
            let response = if head.starts_with("GET /metrics ") || head.starts_with("GET /metrics?")
            {
                broker.metrics.database_bytes.set(database_size(&broker));
                let body = broker.metrics.encode();
                format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: application/openmetrics-text; version=1.0.0; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                )
            } else {
                "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                    .to_string()
            };
            let _ = stream.write_all(response.as_bytes()).await;
            let _ = stream.shutdown().await;
        });
    }
}
