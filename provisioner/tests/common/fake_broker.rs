//! A fake Kafka broker for the readiness wait: it answers every request
//! with the `kafka-probe` crate's ApiVersions v0 answer (error 0,
//! ApiVersions 0-3), the same code `skiff` checks answers with.

use std::io::{Read, Write};
use std::net::TcpListener;

pub struct FakeBroker {
    pub addr: String,
}

impl FakeBroker {
    pub fn start() -> FakeBroker {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap().to_string();
        std::thread::spawn(move || {
            for conn in l.incoming() {
                let Ok(mut c) = conn else { continue };
                std::thread::spawn(move || {
                    let mut len = [0u8; 4];
                    while c.read_exact(&mut len).is_ok() {
                        // A request is a few dozen bytes; anything else is
                        // not a probe.
                        let len = i32::from_be_bytes(len);
                        if !(8..=1024).contains(&len) {
                            return;
                        }
                        let mut req = vec![0u8; len as usize];
                        if c.read_exact(&mut req).is_err() {
                            return;
                        }
                        let Some((_, _, correlation)) = kafka_probe::request_header(&req) else {
                            return;
                        };
                        let answer = kafka_probe::answer(
                            correlation,
                            0,
                            &[(kafka_probe::API_VERSIONS, 0, 3)],
                        );
                        if c.write_all(&answer).is_err() {
                            return;
                        }
                    }
                });
            }
        });
        FakeBroker { addr }
    }
}
