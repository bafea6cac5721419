//! What the security layer costs the broker, in CPU time of the thread doing
//! the work: a SCRAM exchange (server side only), a PLAIN password check,
//! making a verifier, a TLS handshake, and TLS record throughput in both
//! directions (server decrypting produced data, encrypting fetched data).
//!
//!     cargo run --release -p skiff-broker --example security_bench
//!
//! Prints figures; asserts nothing (timing goals are read, not tested).

use std::io::{Read, Write};
use std::sync::Arc;
use std::time::Instant;

use rcgen::{CertificateParams, KeyPair};
use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{ClientConnection, ServerConnection};
use skiff_broker::security::scram::{Mechanism, ScramClient, ScramCredential, ScramServer};
use skiff_broker::security::tls;

/// CPU time of the calling thread, in seconds.
fn thread_cpu() -> f64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes into the timespec we own.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    ts.tv_sec as f64 + ts.tv_nsec as f64 * 1e-9
}

/// Runs `f` and adds its CPU time to `total`.
fn timed<T>(total: &mut f64, f: impl FnOnce() -> T) -> T {
    let t = thread_cpu();
    let out = f();
    *total += thread_cpu() - t;
    out
}

fn scram(m: Mechanism, iterations: u32, rounds: u32) {
    let cred = ScramCredential::generate(m, b"bench-password", iterations).unwrap();
    let (mut server, mut client) = (0.0, 0.0);
    for _ in 0..rounds {
        let mut c = ScramClient::new(m, "bench", b"bench-password").unwrap();
        let first = c.client_first();
        let (server_first, state) = timed(&mut server, || {
            ScramServer::start(m, &first, |_| Some(cred.clone())).unwrap()
        });
        let fin = timed(&mut client, || c.client_final(&server_first).unwrap());
        let done = timed(&mut server, || state.finish(&fin).unwrap());
        c.verify_server_final(&done.server_final).unwrap();
    }
    println!(
        "{m} i={iterations}: server {:.1} us per exchange (client {:.2} ms)",
        server / rounds as f64 * 1e6,
        client / rounds as f64 * 1e3
    );
}

fn plain_and_verifiers(m: Mechanism, iterations: u32, rounds: u32) {
    let cred = ScramCredential::generate(m, b"bench-password", iterations).unwrap();
    let mut check = 0.0;
    for _ in 0..rounds {
        assert!(timed(&mut check, || cred.verify_password(m, b"bench-password")));
    }
    let mut make = 0.0;
    for _ in 0..rounds {
        timed(&mut make, || {
            ScramCredential::generate(m, b"bench-password", iterations).unwrap()
        });
    }
    println!(
        "{m} i={iterations}: PLAIN check {:.2} ms, new verifier {:.2} ms",
        check / rounds as f64 * 1e3,
        make / rounds as f64 * 1e3
    );
}

/// Collects the TLS records a connection has to send.
macro_rules! send {
    ($from:expr, $buf:expr) => {{
        $buf.clear();
        while $from.wants_write() {
            $from.write_tls(&mut $buf).unwrap();
        }
    }};
}

/// Feeds TLS records to a connection and processes them.
macro_rules! recv {
    ($to:expr, $buf:expr) => {{
        let mut slice = &$buf[..];
        while !slice.is_empty() {
            let n = $to.read_tls(&mut slice).unwrap();
            assert!(n > 0, "TLS input stalled");
            $to.process_new_packets().unwrap();
        }
    }};
}

fn tls_bench() {
    let provider = tls::provider();
    let key = KeyPair::generate().unwrap(); // ECDSA P-256, as the deployment makes
    let cert = CertificateParams::new(vec!["localhost".to_string()])
        .unwrap()
        .self_signed(&key)
        .unwrap();
    // Skiff's own configuration, loaded from PEM files.
    let dir = tempfile::tempdir().unwrap();
    let files = tls::TlsFiles {
        cert: dir.path().join("cert.pem"),
        key: dir.path().join("key.pem"),
    };
    std::fs::write(&files.cert, cert.pem()).unwrap();
    std::fs::write(&files.key, key.serialize_pem()).unwrap();
    let server_config =
        tls::server_config(tls::ReloadableCert::load(files, provider.clone()).unwrap()).unwrap();
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(CertificateDer::from(cert.der().to_vec()))
        .unwrap();
    let client_config = Arc::new(
        rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth(),
    );
    let connect = |server_cpu: &mut f64| {
        let mut server = ServerConnection::new(server_config.clone()).unwrap();
        let mut client = ClientConnection::new(
            client_config.clone(),
            ServerName::try_from("localhost").unwrap(),
        )
        .unwrap();
        let mut buf = Vec::new();
        // Only the server's side is timed: reading the client's flights
        // (key exchange), writing its own (signature, encryption).
        while client.is_handshaking() || server.is_handshaking() {
            send!(client, buf);
            timed(server_cpu, || {
                recv!(server, buf);
                send!(server, buf);
            });
            recv!(client, buf);
        }
        (server, client)
    };
    let rounds = 200;
    let mut hs = 0.0;
    for _ in 0..rounds {
        connect(&mut hs);
    }
    println!(
        "TLS 1.3 handshake (ECDSA P-256, X25519): server {:.2} ms",
        hs / rounds as f64 * 1e3
    );

    let (mut server, mut client) = connect(&mut 0.0);
    let suite = server.negotiated_cipher_suite().unwrap().suite();
    let total: usize = 256 << 20;
    let chunk = vec![0x5au8; 16 << 10];
    let mut out = vec![0u8; 64 << 10];
    let mut buf = Vec::new();
    // Produce direction: the client encrypts, the server decrypts.
    let (mut cpu, wall) = (0.0, Instant::now());
    let mut sent = 0;
    while sent < total {
        client.writer().write_all(&chunk).unwrap();
        sent += chunk.len();
        buf.clear();
        while client.wants_write() {
            client.write_tls(&mut buf).unwrap();
        }
        timed(&mut cpu, || {
            let mut slice = &buf[..];
            while !slice.is_empty() {
                server.read_tls(&mut slice).unwrap();
                server.process_new_packets().unwrap();
                while let Ok(n @ 1..) = server.reader().read(&mut out) {
                    std::hint::black_box(&out[..n]);
                }
            }
        });
    }
    let mb = total as f64 / 1e6;
    println!(
        "{suite:?} server decrypt: {:.0} MB/s of one core, {:.4} CPU-s/MB ({:.2}s wall incl. client)",
        mb / cpu,
        cpu / mb,
        wall.elapsed().as_secs_f64()
    );
    // Consume direction: the server encrypts, the client decrypts.
    let mut cpu = 0.0;
    let mut sent = 0;
    while sent < total {
        timed(&mut cpu, || {
            server.writer().write_all(&chunk).unwrap();
            buf.clear();
            while server.wants_write() {
                server.write_tls(&mut buf).unwrap();
            }
        });
        sent += chunk.len();
        let mut slice = &buf[..];
        while !slice.is_empty() {
            client.read_tls(&mut slice).unwrap();
            client.process_new_packets().unwrap();
            while let Ok(n @ 1..) = client.reader().read(&mut out) {
                std::hint::black_box(&out[..n]);
            }
        }
    }
    println!(
        "{suite:?} server encrypt: {:.0} MB/s of one core, {:.4} CPU-s/MB",
        mb / cpu,
        cpu / mb
    );
}

fn main() {
    println!("security_bench ({})", std::env::consts::ARCH);
    for m in Mechanism::ALL {
        scram(m, 4096, 200);
    }
    for m in Mechanism::ALL {
        plain_and_verifiers(m, 4096, 100);
    }
    tls_bench();
}
