//! Test harness: a private `moto_server` per test on 127.0.0.1 (with its
//! request recorder on, so tests can see exactly which AWS calls `skiff`
//! made), the real `skiff` binary run with a clean environment pointed at
//! it, a fake Kafka broker that answers ApiVersions, SDK clients to read
//! resources back, and comparisons of moto's state.
//!
//! Nothing here may reach the internet: every `skiff` run gets
//! `AWS_ENDPOINT_URL` (moto), `AWS_EC2_METADATA_DISABLED` (no IMDS), and a
//! check-ip URL on a closed local port.

mod aws;
mod fake_broker;
mod json;
mod moto;
mod real_broker;
mod skiff;

pub use aws::*;
pub use fake_broker::FakeBroker;
pub use json::*;
pub use moto::*;
pub use real_broker::RealBroker;
pub use skiff::*;

use std::net::TcpListener;

/// A port that was free a moment ago.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A port nothing listens on.
pub fn closed_port() -> u16 {
    free_port()
}

/// A one-shot local stand-in for checkip.amazonaws.com.
pub fn checkip_server(answer: &'static str) -> String {
    use std::io::{Read, Write};
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/", l.local_addr().unwrap());
    std::thread::spawn(move || {
        for c in l.incoming() {
            let Ok(mut c) = c else { continue };
            let mut buf = [0u8; 1024];
            let _ = c.read(&mut buf);
            let _ = write!(
                c,
                "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n\r\n{answer}",
                answer.len()
            );
        }
    });
    url
}
