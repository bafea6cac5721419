//! Test harness: a private `moto_server` per test on 127.0.0.1 (with its
//! request recorder on, so tests can see exactly which AWS calls `skiff`
//! made), the real `skiff` binary run with a clean environment pointed at
//! it, a fake Kafka broker that answers ApiVersions, and SDK clients to
//! read resources back.
//!
//! Nothing here may reach the internet: every `skiff` run gets
//! `AWS_ENDPOINT_URL` (moto), `AWS_EC2_METADATA_DISABLED` (no IMDS), and a
//! check-ip URL on a closed local port.
#![allow(dead_code)]

use base64::Engine;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

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
    pub dir: tempfile::TempDir,
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
            dir,
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

/// A fake Kafka broker: answers every request with the `kafka-probe`
/// crate's ApiVersions v0 answer (error 0, ApiVersions 0-3), the same code
/// `skiff` checks answers with.
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

/// A `skiff` invocation with a clean, offline environment.
pub struct Skiff {
    cmd: Command,
}

pub fn skiff_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_skiff"))
}

impl Skiff {
    /// `skiff` with no AWS settings at all (HOME = `home`, cwd = `home`).
    pub fn bare(home: &Path) -> Skiff {
        let mut cmd = Command::new(skiff_bin());
        cmd.env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("HOME", home)
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env(
                "SKIFF_CHECKIP_URL",
                format!("http://127.0.0.1:{}/", closed_port()),
            )
            .current_dir(home)
            .stdin(Stdio::null());
        Skiff { cmd }
    }

    /// `skiff` pointed at `moto` with dummy credentials.
    pub fn new(moto: &Moto, home: &Path) -> Skiff {
        let mut s = Skiff::bare(home);
        s.cmd
            .env("AWS_ENDPOINT_URL", moto.url())
            .env("AWS_ACCESS_KEY_ID", "testing")
            .env("AWS_SECRET_ACCESS_KEY", "testing")
            .env("AWS_REGION", "us-east-1");
        s
    }

    pub fn env(mut self, k: &str, v: impl AsRef<std::ffi::OsStr>) -> Skiff {
        self.cmd.env(k, v);
        self
    }

    /// Starts `skiff args` with stdout piped (for `--watch`).
    pub fn spawn(mut self, args: &[&str]) -> Child {
        self.cmd
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn skiff")
    }

    pub fn run(mut self, args: &[&str]) -> Run {
        let start = Instant::now();
        let out = self.cmd.args(args).output().expect("run skiff");
        let run = Run::from(out);
        eprintln!(
            "$ skiff {} ({:.1}s, {})\n{}{}",
            args.join(" "),
            start.elapsed().as_secs_f64(),
            run.code,
            run.stdout,
            run.stderr
        );
        run
    }
}

/// A port nothing listens on.
pub fn closed_port() -> u16 {
    free_port()
}

pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl From<Output> for Run {
    fn from(o: Output) -> Run {
        Run {
            code: o.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        }
    }
}

impl Run {
    pub fn ok(self) -> Run {
        assert_eq!(
            self.code, 0,
            "skiff failed:\n{}\n{}",
            self.stdout, self.stderr
        );
        self
    }
    pub fn fails(self) -> Run {
        assert_ne!(self.code, 0, "skiff should have failed:\n{}", self.stdout);
        self
    }
}

/// The SDK config for moto.
pub async fn sdk(moto: &Moto) -> aws_config::SdkConfig {
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .endpoint_url(moto.url())
        .region(aws_config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_ec2::config::Credentials::new(
            "testing", "testing", None, None, "tests",
        ))
        .load()
        .await
}

/// A CloudWatch client on moto.
pub async fn cloudwatch(moto: &Moto) -> aws_sdk_cloudwatch::Client {
    aws_sdk_cloudwatch::Client::new(&sdk(moto).await)
}

/// An SNS client on moto.
pub async fn sns(moto: &Moto) -> aws_sdk_sns::Client {
    aws_sdk_sns::Client::new(&sdk(moto).await)
}

/// The id of the one Skiff instance that is not terminated.
pub async fn instance_id(ec2: &aws_sdk_ec2::Client) -> String {
    ec2.describe_instances()
        .filters(tag_filter())
        .send()
        .await
        .unwrap()
        .reservations()
        .iter()
        .flat_map(|r| r.instances())
        .find(|i| {
            i.state().and_then(|s| s.name())
                != Some(&aws_sdk_ec2::types::InstanceStateName::Terminated)
        })
        .and_then(|i| i.instance_id())
        .expect("a skiff instance")
        .to_string()
}

/// The calls that are not Describe*/Get*/List* (read-only) calls.
pub fn mutating(calls: Vec<(String, String)>) -> Vec<String> {
    calls
        .into_iter()
        .map(|(a, _)| a)
        .filter(|a| !a.starts_with("Describe") && !a.starts_with("Get") && !a.starts_with("List"))
        .collect()
}

/// An EC2 client on moto, for reading resources back.
pub async fn ec2(moto: &Moto) -> aws_sdk_ec2::Client {
    let conf = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .endpoint_url(moto.url())
        .region(aws_config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_ec2::config::Credentials::new(
            "testing", "testing", None, None, "tests",
        ))
        .load()
        .await;
    aws_sdk_ec2::Client::new(&conf)
}

pub fn tag_filter() -> aws_sdk_ec2::types::Filter {
    aws_sdk_ec2::types::Filter::builder()
        .name("tag:managed-by")
        .values("skiff")
        .build()
}

/// Counts of Skiff-tagged live resources: (security groups, addresses,
/// non-terminated instances, volumes).
pub async fn tagged_counts(ec2: &aws_sdk_ec2::Client) -> (usize, usize, usize, usize) {
    let sgs = ec2
        .describe_security_groups()
        .filters(tag_filter())
        .send()
        .await
        .unwrap()
        .security_groups()
        .len();
    let addrs = ec2
        .describe_addresses()
        .filters(tag_filter())
        .send()
        .await
        .unwrap()
        .addresses()
        .len();
    let instances = ec2
        .describe_instances()
        .filters(tag_filter())
        .send()
        .await
        .unwrap()
        .reservations()
        .iter()
        .flat_map(|r| r.instances())
        .filter(|i| {
            i.state().and_then(|s| s.name())
                != Some(&aws_sdk_ec2::types::InstanceStateName::Terminated)
        })
        .count();
    let vols = ec2
        .describe_volumes()
        .filters(tag_filter())
        .send()
        .await
        .unwrap()
        .volumes()
        .len();
    (sgs, addrs, instances, vols)
}

/// The usual `up` arguments in tests.
pub const ALLOW: &str = "203.0.113.7/32";

/// The JSON paths where two moto states differ (at most 20).
pub fn json_diff(a: &serde_json::Value, b: &serde_json::Value) -> Vec<String> {
    fn walk(a: &serde_json::Value, b: &serde_json::Value, path: String, out: &mut Vec<String>) {
        use serde_json::Value::*;
        if out.len() >= 20 || a == b {
            return;
        }
        match (a, b) {
            (Object(x), Object(y)) => {
                for k in x.keys().chain(y.keys().filter(|k| !x.contains_key(*k))) {
                    walk(
                        x.get(k).unwrap_or(&Null),
                        y.get(k).unwrap_or(&Null),
                        format!("{path}/{k}"),
                        out,
                    );
                }
            }
            (Array(x), Array(y)) if x.len() == y.len() => {
                for (i, (p, q)) in x.iter().zip(y).enumerate() {
                    walk(p, q, format!("{path}/{i}"), out);
                }
            }
            _ => {
                let short = |v: &serde_json::Value| {
                    let s = v.to_string();
                    s.chars().take(200).collect::<std::string::String>()
                };
                out.push(format!("{path}: {} -> {}", short(a), short(b)));
            }
        }
    }
    let mut out = Vec::new();
    walk(a, b, String::new(), &mut out);
    out
}

/// Asserts that moto's resources did not change.
pub fn assert_unchanged(before: &serde_json::Value, after: &serde_json::Value, what: &str) {
    let d = json_diff(before, after);
    assert!(
        d.is_empty(),
        "{what} changed moto's resources:\n{}",
        d.join("\n")
    );
}

/// Drops empty collections, so a backend moto creates lazily (with nothing
/// in it) does not count as a change.
pub fn prune(v: &mut serde_json::Value) -> bool {
    use serde_json::Value::*;
    match v {
        Object(o) => {
            o.retain(|_, x| !prune(x));
            o.is_empty()
        }
        Array(a) => {
            for x in a.iter_mut() {
                prune(x);
            }
            a.is_empty()
        }
        Null => true,
        _ => false,
    }
}

/// Counts of *all* resources, tagged or not: (security groups, addresses,
/// instances, volumes).
pub async fn all_counts(ec2: &aws_sdk_ec2::Client) -> (usize, usize, usize, usize) {
    let sgs = ec2
        .describe_security_groups()
        .send()
        .await
        .unwrap()
        .security_groups()
        .len();
    let addrs = ec2
        .describe_addresses()
        .send()
        .await
        .unwrap()
        .addresses()
        .len();
    let instances = ec2
        .describe_instances()
        .send()
        .await
        .unwrap()
        .reservations()
        .iter()
        .map(|r| r.instances().len())
        .sum();
    let vols = ec2.describe_volumes().send().await.unwrap().volumes().len();
    (sgs, addrs, instances, vols)
}
