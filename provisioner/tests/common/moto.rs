//! A private `moto_server` on 127.0.0.1 for one test: started with its
//! request recorder on, reset, read back (its whole state, or the AWS
//! calls recorded since the last clear) and killed when dropped.

use super::{free_port, json::prune};
use base64::Engine;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A minimal HTTP/1.0 request to 127.0.0.1:port; returns the body.
pub fn http(port: u16, method: &str, path: &str) -> String {
    try_http(port, method, path).expect("HTTP request to moto")
}

/// [`http`] that reports I/O errors (moto may reset connections while it
/// is still starting).
pub fn try_http(port: u16, method: &str, path: &str) -> std::io::Result<String> {
    let mut s = TcpStream::connect(("127.0.0.1", port))?;
    s.set_read_timeout(Some(Duration::from_secs(30)))?;
    write!(
        s,
        "{method} {path} HTTP/1.0\r\nHost: 127.0.0.1:{port}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    )?;
    let mut buf = Vec::new();
    s.read_to_end(&mut buf)?;
    let text = String::from_utf8_lossy(&buf).into_owned();
    Ok(match text.split_once("\r\n\r\n") {
        Some((_, body)) => body.to_string(),
        None => text,
    })
}

pub struct Moto {
    pub port: u16,
    child: Child,
    /// Holds the recording and the log; removed when moto is dropped.
    _dir: tempfile::TempDir,
    recording: PathBuf,
}

impl Moto {
    pub fn start() -> Moto {
        let bin = std::env::var("MOTO_SERVER_BIN").unwrap_or_else(|_| "moto_server".into());
        let dir = tempfile::tempdir().unwrap();
        let recording = dir.path().join("recording.jsonl");
        let log_path = dir.path().join("moto.log");
        let log = std::fs::File::create(&log_path).unwrap();
        let port = free_port();
        let child = Command::new(&bin)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .env("MOTO_ENABLE_RECORDING", "true")
            .env("MOTO_RECORDER_FILEPATH", &recording)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| {
                panic!("cannot start {bin}: {e} (set MOTO_SERVER_BIN or put moto_server on PATH)")
            });
        let mut moto = Moto {
            port,
            child,
            _dir: dir,
            recording,
        };
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(60) {
            if let Ok(Some(status)) = moto.child.try_wait() {
                panic!(
                    "moto_server exited ({status}):\n{}",
                    std::fs::read_to_string(&log_path).unwrap_or_default()
                );
            }
            // Listening is not always serving yet: the first requests of a
            // starting moto can be reset. Ready once a reset succeeds.
            if try_http(port, "POST", "/moto-api/reset").is_ok_and(|b| b.contains("ok")) {
                moto.reset();
                return moto;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("moto_server did not listen on port {port} within 60 s");
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Forgets every resource (and the recorded requests).
    pub fn reset(&self) {
        let body = http(self.port, "POST", "/moto-api/reset");
        assert!(body.contains("ok"), "reset failed: {body}");
        self.clear_recording();
    }

    /// moto's dump of all its state: a full resource listing.
    pub fn state(&self) -> serde_json::Value {
        let body = http(self.port, "GET", "/moto-api/data.json");
        serde_json::from_str(&body).expect("data.json")
    }

    /// [`Moto::state`] without what moto loads lazily on first read (AWS's
    /// public SSM parameters, the IAM account summary): every resource an
    /// account owns, and nothing that a read-only call can add.
    pub fn resources(&self) -> serde_json::Value {
        let mut state = self.state();
        if let Some(o) = state.as_object_mut() {
            // Global, lazily filled with AWS's fixed grantees and summaries.
            o.remove("iam");
            o.remove("s3");
        }
        if let Some(params) = state
            .pointer_mut("/ssm/Parameter")
            .and_then(|p| p.as_array_mut())
        {
            params.retain(|p| {
                !p["name"]
                    .as_str()
                    .unwrap_or("")
                    .starts_with("/aws/service/")
            });
        }
        prune(&mut state);
        state
    }

    pub fn clear_recording(&self) {
        let _ = std::fs::write(&self.recording, "");
    }

    /// The AWS calls recorded since the last clear: (action, decoded body).
    pub fn calls(&self) -> Vec<(String, String)> {
        let text = std::fs::read_to_string(&self.recording).unwrap_or_default();
        text.lines()
            .filter(|l| !l.trim().is_empty())
            .filter_map(|l| {
                let v: serde_json::Value = serde_json::from_str(l).ok()?;
                let url = v["url"].as_str().unwrap_or("");
                if url.contains("/moto-api/") {
                    return None;
                }
                let body = v["body"].as_str().unwrap_or("");
                let body = if v["body_encoded"].as_bool() == Some(true) {
                    String::from_utf8_lossy(
                        &base64::engine::general_purpose::STANDARD
                            .decode(body)
                            .unwrap_or_default(),
                    )
                    .into_owned()
                } else {
                    body.to_string()
                };
                let headers = &v["headers"];
                let target = headers
                    .as_object()
                    .and_then(|h| {
                        h.iter()
                            .find(|(k, _)| k.eq_ignore_ascii_case("x-amz-target"))
                            .and_then(|(_, v)| v.as_str())
                    })
                    .map(|t| t.rsplit('.').next().unwrap_or(t).to_string());
                let body = percent_decode(&body);
                let action = target.or_else(|| {
                    body.split('&')
                        .find_map(|kv| kv.strip_prefix("Action="))
                        .map(str::to_string)
                })?;
                Some((action, body))
            })
            .collect()
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The calls that are not Describe*/Get*/List* (read-only) calls.
pub fn mutating(calls: Vec<(String, String)>) -> Vec<String> {
    calls
        .into_iter()
        .map(|(a, _)| a)
        .filter(|a| !a.starts_with("Describe") && !a.starts_with("Get") && !a.starts_with("List"))
        .collect()
}

pub fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' if i + 2 < b.len() => {
                let hex = std::str::from_utf8(&b[i + 1..i + 3]).unwrap_or("zz");
                match u8::from_str_radix(hex, 16) {
                    Ok(v) => {
                        out.push(v);
                        i += 3;
                    }
                    Err(_) => {
                        out.push(b'%');
                        i += 1;
                    }
                }
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}
