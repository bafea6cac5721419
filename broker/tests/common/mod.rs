//! Test harness: a real skiff-broker served in-process on 127.0.0.1 with a
//! fresh database (started by `skiff_broker::start`, as the binary does), and a minimal Kafka client built on the `kafka-protocol`
//! crate's request encoders and response decoders (an independent
//! implementation of the wire format, so the two check each other).
#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use bytes::{Buf, BufMut, Bytes, BytesMut};
use indexmap::IndexMap;
use kafka_protocol::messages::{ApiKey, RequestHeader, ResponseHeader};
use kafka_protocol::protocol::{Decodable, Encodable, HeaderVersion, StrBytes};
use kafka_protocol::records::{
    Compression, Record, RecordBatchEncoder, RecordEncodeOptions, TimestampType,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use skiff_broker::config::{Durability, Settings};
use skiff_broker::{Broker, Running};

/// A broker started with `skiff_broker::start` (as the binary starts it) on
/// a database in its own temporary directory.
pub struct TestBroker {
    pub addr: SocketAddr,
    pub broker: Arc<Broker>,
    /// The `/metrics` address, when the settings ask for the endpoint.
    pub metrics_addr: Option<SocketAddr>,
    running: Running,
    pub dir: Arc<tempfile::TempDir>,
}

pub fn settings(db: &std::path::Path) -> Settings {
    Settings {
        listener_url: "tcp://127.0.0.1:0".into(),
        advertised_listener_url: None,
        storage_engine: format!("sqlite://{}", db.display()),
        durability: Durability::Normal,
        auto_create_topics: true,
        num_partitions: 1,
        max_partitions: 10_000,
        test_writer_panic_topic: None,
        node_id: 0,
        cluster_id: "test".into(),
        max_request_bytes: 104_857_600,
        max_connections: 1024,
        group_initial_rebalance_delay_ms: 0,
        group_min_session_timeout_ms: 1000,
        group_max_session_timeout_ms: 1_800_000,
        group_max_size: 1000,
        retention_check_interval_ms: 300_000,
        max_db_bytes: 0,
        max_inflight_bytes: 33_554_432,
        metrics_listener_url: None,
        min_free_disk_bytes: 0,
        group_empty_retention_ms: 600_000,
        max_groups: 10_000,
        offsets_retention_ms: 604_800_000,
        producer_id_expiration_ms: 86_400_000,
        max_producer_ids: 100_000,
        transaction_max_timeout_ms: 900_000,
        transactional_id_expiration_ms: 604_800_000,
        max_transactional_ids: 10_000,
        fetch_max_bytes: 57_671_680,
        response_write_timeout_ms: 30_000,
        connections_max_idle_ms: 600_000,
        frame_read_timeout_ms: 30_000,
        max_connections_per_ip: 512,
        max_incremental_fetch_session_cache_slots: 1000,
        security_protocol: "PLAINTEXT".into(),
        tls_cert_file: None,
        tls_key_file: None,
        sasl_enabled_mechanisms: "SCRAM-SHA-256,SCRAM-SHA-512".into(),
        authorizer: "none".into(),
        super_users: String::new(),
        bootstrap_user: None,
    }
}

impl TestBroker {
    pub async fn start() -> TestBroker {
        Self::start_with(|_| {}).await
    }

    pub async fn start_with(tweak: impl FnOnce(&mut Settings)) -> TestBroker {
        let dir = Arc::new(tempfile::tempdir().unwrap());
        Self::start_in(dir, tweak).await
    }

    /// Starts a broker on the database in `dir` (kept across restarts).
    pub async fn start_in(
        dir: Arc<tempfile::TempDir>,
        tweak: impl FnOnce(&mut Settings),
    ) -> TestBroker {
        let mut s = settings(&dir.path().join("skiff.db"));
        tweak(&mut s);
        let running = skiff_broker::start(s.validate().unwrap()).await.unwrap();
        TestBroker {
            addr: running.addr(),
            broker: running.broker().clone(),
            metrics_addr: running.metrics_addr(),
            running,
            dir,
        }
    }

    pub fn db_path(&self) -> PathBuf {
        self.dir.path().join("skiff.db")
    }

    /// Graceful stop: in-flight requests finish, the database is closed.
    pub async fn stop(self) -> Arc<tempfile::TempDir> {
        self.running.stop().await;
        self.dir
    }

    pub async fn client(&self) -> Client {
        Client::connect(self.addr).await
    }
}

pub struct Client {
    pub stream: TcpStream,
    next_correlation: i32,
}

impl Client {
    pub async fn connect(addr: SocketAddr) -> Client {
        Client {
            stream: TcpStream::connect(addr).await.unwrap(),
            next_correlation: 1,
        }
    }

    /// Encodes a request frame the way a client would.
    pub fn frame<R: Encodable + HeaderVersion>(
        api: ApiKey,
        version: i16,
        correlation: i32,
        req: &R,
    ) -> BytesMut {
        let header = RequestHeader::default()
            .with_request_api_key(api as i16)
            .with_request_api_version(version)
            .with_correlation_id(correlation)
            .with_client_id(Some(StrBytes::from_static_str("skiff-test")));
        let mut body = BytesMut::new();
        header
            .encode(&mut body, api.request_header_version(version))
            .unwrap();
        req.encode(&mut body, version).unwrap();
        let mut frame = BytesMut::with_capacity(body.len() + 4);
        frame.put_i32(body.len() as i32);
        frame.put_slice(&body);
        frame
    }

    pub async fn send_raw(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).await.unwrap();
    }

    /// Reads one response frame body (after the size), or None on EOF.
    pub async fn read_frame(&mut self) -> Option<Bytes> {
        let mut size = [0u8; 4];
        self.stream.read_exact(&mut size).await.ok()?;
        let mut body = vec![0u8; i32::from_be_bytes(size) as usize];
        self.stream.read_exact(&mut body).await.ok()?;
        Some(Bytes::from(body))
    }

    pub async fn call<Req, Resp>(&mut self, api: ApiKey, version: i16, req: &Req) -> Resp
    where
        Req: Encodable + HeaderVersion,
        Resp: Decodable,
    {
        let corr = self.next_correlation;
        self.next_correlation += 1;
        let frame = Self::frame(api, version, corr, req);
        self.send_raw(&frame).await;
        let mut body = self.read_frame().await.expect("response");
        let header =
            ResponseHeader::decode(&mut body, api.response_header_version(version)).unwrap();
        assert_eq!(header.correlation_id, corr);
        let resp = Resp::decode(&mut body, version).unwrap();
        assert_eq!(body.remaining(), 0, "response fully consumed");
        resp
    }

    /// True once the broker has closed this connection.
    pub async fn is_closed(&mut self) -> bool {
        let mut buf = [0u8; 1];
        matches!(
            tokio::time::timeout(
                std::time::Duration::from_secs(5),
                self.stream.read(&mut buf)
            )
            .await,
            Ok(Ok(0)) | Ok(Err(_))
        )
    }
}

/// One uncompressed (or compressed) v2 batch of records with these values.
pub fn batch(
    values: &[&[u8]],
    compression: Compression,
    producer: Option<(i64, i16, i32)>,
) -> Bytes {
    let (pid, epoch, seq) = producer.unwrap_or((-1, -1, -1));
    let records: Vec<Record> = values
        .iter()
        .enumerate()
        .map(|(i, v)| Record {
            transactional: false,
            control: false,
            delete_horizon: false,
            partition_leader_epoch: -1,
            producer_id: pid,
            producer_epoch: epoch,
            timestamp_type: TimestampType::Creation,
            offset: i as i64,
            // The encoder starts a new batch wherever offset - sequence
            // changes; without a producer the batch's base sequence is the
            // first record's -1, and the records must stay one batch.
            sequence: if seq < 0 {
                i as i32 - 1
            } else {
                seq + i as i32
            },
            timestamp: 1_700_000_000_000 + i as i64,
            key: Some(Bytes::from(format!("k{i}"))),
            value: Some(Bytes::copy_from_slice(v)),
            headers: IndexMap::new(),
        })
        .collect();
    let mut buf = BytesMut::new();
    RecordBatchEncoder::encode(
        &mut buf,
        &records,
        &RecordEncodeOptions {
            version: 2,
            compression,
        },
    )
    .unwrap();
    buf.freeze()
}
