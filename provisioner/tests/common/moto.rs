//! A private `moto_server` on 127.0.0.1 for one test: started with its
//! request recorder on, reset, read back (its whole state, or the AWS
//! calls recorded since the last clear) and killed when dropped.

use super::{free_port, json::prune};
use base64::Engine;
use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, OnceLock};
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
    /// `service:Action` of every call the `skiff` binary made (its access
    /// key is [`SKIFF_ACCESS_KEY`]), kept across clears of the recording.
    skiff_actions: Mutex<BTreeSet<String>>,
}

/// The access key the `skiff` binary uses in tests, so its calls can be
/// told apart from the tests' own (which use `testing`).
pub const SKIFF_ACCESS_KEY: &str = "SKIFFTESTINGKEY";

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
            skiff_actions: Mutex::new(BTreeSet::new()),
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
        self.collect_skiff_actions();
        let _ = std::fs::write(&self.recording, "");
    }

    /// The AWS calls recorded since the last clear: (action, decoded body).
    pub fn calls(&self) -> Vec<(String, String)> {
        self.records()
            .into_iter()
            .map(|r| (r.action, r.body))
            .collect()
    }

    /// Adds the recorded calls of the `skiff` binary to `skiff_actions`.
    fn collect_skiff_actions(&self) {
        let mut seen = self.skiff_actions.lock().unwrap();
        for r in self.records() {
            if r.access_key.as_deref() == Some(SKIFF_ACCESS_KEY) {
                if let Some(svc) = r.service {
                    seen.insert(format!("{svc}:{}", r.action));
                }
            }
        }
    }

    /// Every `service:Action` the `skiff` binary called on this moto.
    pub fn skiff_actions(&self) -> BTreeSet<String> {
        self.collect_skiff_actions();
        self.skiff_actions.lock().unwrap().clone()
    }

    fn records(&self) -> Vec<Record> {
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
                // SigV4: `Credential=KEY/DATE/REGION/SERVICE/aws4_request`.
                let credential = headers
                    .as_object()
                    .and_then(|h| {
                        h.iter()
                            .find(|(k, _)| k.eq_ignore_ascii_case("authorization"))
                            .and_then(|(_, v)| v.as_str())
                    })
                    .and_then(|a| a.split("Credential=").nth(1))
                    .map(|c| c.split([',', ' ']).next().unwrap_or("").to_string());
                let parts: Vec<&str> = credential.as_deref().unwrap_or("").split('/').collect();
                let access_key = parts.first().map(|k| k.to_string());
                // IAM's prefix for the signing name.
                let service = parts.get(3).map(|s| match *s {
                    "monitoring" => "cloudwatch".to_string(),
                    other => other.to_string(),
                });
                Some(Record {
                    action,
                    body,
                    access_key,
                    service,
                })
            })
            .collect()
    }
}

/// One recorded request.
struct Record {
    action: String,
    body: String,
    access_key: Option<String>,
    service: Option<String>,
}

/// The actions `skiff iam-policy` allows.
pub fn policy_actions() -> &'static BTreeSet<String> {
    static ACTIONS: OnceLock<BTreeSet<String>> = OnceLock::new();
    ACTIONS.get_or_init(|| {
        let out = Command::new(super::skiff_bin())
            .arg("iam-policy")
            .env_clear()
            .output()
            .expect("run skiff iam-policy");
        assert!(out.status.success(), "skiff iam-policy failed");
        let doc: serde_json::Value = serde_json::from_slice(&out.stdout).expect("policy JSON");
        doc["Statement"]
            .as_array()
            .expect("statements")
            .iter()
            .flat_map(|s| s["Action"].as_array().cloned().unwrap_or_default())
            .filter_map(|a| a.as_str().map(str::to_string))
            .collect()
    })
}

/// The actions of `seen` that the policy does not allow.
pub fn missing_from_policy(seen: &BTreeSet<String>) -> Vec<String> {
    seen.iter()
        .filter(|a| !policy_actions().contains(*a))
        .cloned()
        .collect()
}

impl Drop for Moto {
    fn drop(&mut self) {
        // Every call `skiff` made in this test must be in its IAM policy.
        let missing = if std::thread::panicking() {
            Vec::new()
        } else {
            missing_from_policy(&self.skiff_actions())
        };
        let _ = self.child.kill();
        let _ = self.child.wait();
        assert!(
            missing.is_empty(),
            "skiff made AWS calls that `skiff iam-policy` does not allow: {missing:?}"
        );
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
