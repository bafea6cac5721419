//! `skiff topics` against the real `skiff-broker` on 127.0.0.1 with
//! `--bootstrap` (in an environment without any AWS settings, so an AWS
//! call would fail), against the deployment's address found through moto,
//! and the refusals: bad arguments before any connection, an unreachable
//! broker, a peer that is not a Kafka broker.

use crate::common::*;

fn json(run: &Run) -> serde_json::Value {
    serde_json::from_str(run.stdout.trim()).unwrap_or_else(|e| panic!("{e}: {}", run.stdout))
}

#[test]
fn create_list_describe_alter_delete_on_a_real_broker() {
    let Some(broker) = RealBroker::start() else {
        return;
    };
    let home = tempfile::tempdir().unwrap();
    let skiff = |args: &[&str]| {
        let mut all = args.to_vec();
        all.extend(["--bootstrap", &broker.addr]);
        Skiff::bare(home.path()).run(&all)
    };
    skiff(&["topics", "list"])
        .ok()
        .stdout_has(&[format!("no topics on {}", broker.addr)]);
    skiff(&[
        "topics",
        "create",
        "orders",
        "--partitions",
        "3",
        "--topic-config",
        "retention.ms=3600000",
        "-c",
        "max.message.bytes=500000",
    ])
    .ok()
    .stdout_has(&[
        "created topic 'orders' (3 partitions, retention.ms=3600000, max.message.bytes=500000)",
    ]);
    skiff(&["topics", "create", "payments"]).ok();
    let run = skiff(&["topics", "list"]).ok();
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert_eq!(lines.len(), 3, "{}", run.stdout);
    assert!(
        lines[1].starts_with("orders") && lines[1].ends_with(" 3"),
        "{}",
        run.stdout
    );
    assert!(
        lines[2].starts_with("payments") && lines[2].ends_with(" 1"),
        "{}",
        run.stdout
    );
    let v = json(&skiff(&["topics", "list", "--json"]).ok());
    assert_eq!(v["topics"][0]["name"], "orders");
    assert_eq!(v["topics"][0]["partitions"], 3);
    assert_eq!(v["topics"].as_array().unwrap().len(), 2);

    // Records for describe's offsets.
    skiff(&[
        "perf",
        "produce",
        "--topic",
        "orders",
        "--records",
        "90",
        "--size",
        "100",
        "--batch-bytes",
        "1024",
    ])
    .ok();
    let run = skiff(&["topics", "describe", "orders"]).ok().stdout_has(&[
        "topic:       orders",
        "partitions:  3",
        "records:     90",
        "* retention.ms                     3600000",
        "* max.message.bytes                500000",
        "  cleanup.policy                   delete",
    ]);
    // Batches go to the partitions in turn: all three have records.
    let v = json(&skiff(&["topics", "describe", "orders", "--json"]).ok());
    let parts = v["partitions"].as_array().unwrap();
    assert_eq!(parts.len(), 3, "{}", run.stdout);
    assert_eq!(
        parts
            .iter()
            .map(|p| p["records"].as_i64().unwrap())
            .sum::<i64>(),
        90
    );
    assert!(
        parts.iter().all(|p| p["records"].as_i64().unwrap() > 0),
        "{v}"
    );
    let retention = v["configs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "retention.ms")
        .unwrap();
    assert_eq!(retention["value"], "3600000");
    assert_eq!(retention["set_on_topic"], true);

    skiff(&[
        "topics",
        "alter",
        "orders",
        "-c",
        "retention.ms=60000",
        "--delete-topic-config",
        "max.message.bytes",
        "--partitions",
        "5",
    ])
    .ok()
    .stdout_has(&[
        "topic 'orders': set retention.ms=60000; removed max.message.bytes (default again); partitions 3 -> 5",
    ]);
    skiff(&["topics", "describe", "orders"]).ok().stdout_has(&[
        "partitions:  5",
        "* retention.ms                     60000",
        "  max.message.bytes                1048588",
    ]);

    // The broker's refusals, named, with the fix.
    skiff(&["topics", "create", "orders"]).fails().stderr_has(&[
        "create topic 'orders': TOPIC_ALREADY_EXISTS",
        "fix: `skiff topics describe NAME` shows it",
    ]);
    skiff(&["topics", "alter", "orders", "-c", "retention.ms=soon"])
        .fails()
        .stderr_has(&["INVALID_CONFIG", "retention.ms", "fix:"]);
    skiff(&[
        "topics",
        "create",
        "compacted",
        "-c",
        "cleanup.policy=compact",
    ])
    .fails()
    .stderr_has(&["INVALID_CONFIG"]);
    skiff(&["topics", "alter", "orders", "--partitions", "2"])
        .fails()
        .stderr_has(&["'orders' has 5 partitions and a partition count can only grow"]);
    for cmd in [
        vec!["topics", "describe", "missing"],
        vec!["topics", "delete", "missing", "--yes"],
        vec!["topics", "alter", "missing", "-c", "retention.ms=1"],
    ] {
        skiff(&cmd).fails().stderr_has(&[
            "topic 'missing': UNKNOWN_TOPIC_OR_PARTITION",
            "`skiff topics create NAME` makes one",
        ]);
    }

    // Delete asks first; without a terminal it needs --yes.
    skiff(&["topics", "delete", "orders"])
        .fails()
        .stderr_has(&["pass --yes"]);
    skiff(&["topics", "describe", "orders"]).ok();
    skiff(&["topics", "delete", "orders", "--yes"])
        .ok()
        .stdout_has(&["deleted topic 'orders'"]);
    let v = json(&skiff(&["topics", "list", "--json"]).ok());
    assert_eq!(v["topics"].as_array().unwrap().len(), 1, "{v}");
    assert_eq!(v["topics"][0]["name"], "payments");
}

#[test]
fn bad_arguments_are_refused_before_connecting() {
    // Nothing listens on this port: every refusal below comes first.
    let home = tempfile::tempdir().unwrap();
    let addr = format!("127.0.0.1:{}", closed_port());
    let cases: &[(&[&str], &str)] = &[
        (
            &["topics", "create", "t", "--partitions", "0"],
            "--partitions",
        ),
        (
            &["topics", "create", "t", "--partitions", "1001"],
            "1..=1000",
        ),
        (&["topics", "create", "a/b"], "only ASCII letters, digits"),
        (&["topics", "create", ".."], "`.` or `..`"),
        (
            &["topics", "create", "t", "-c", "retention.ms"],
            "KEY=VALUE",
        ),
        (
            &["topics", "create", "t", "-c", "bad key=1"],
            "not a config name",
        ),
        (
            &["topics", "create", "t", "-c", "a=1", "-c", "a=2"],
            "a is given twice",
        ),
        (&["topics", "alter", "t"], "nothing to change for 't'"),
        (&["perf", "produce", "--records", "0"], "--records"),
        (&["perf", "produce", "--records", "100000001"], "--records"),
        (&["perf", "produce", "--size", "1000001"], "--size"),
        (&["perf", "produce", "--rate", "0"], "--rate"),
        (&["perf", "produce", "--acks", "2"], "expected all, 1 or 0"),
        (&["perf", "produce", "--inflight", "65"], "--inflight"),
        (&["perf", "produce", "--batch-bytes", "10"], "--batch-bytes"),
        (
            &["perf", "produce", "--metrics-wait", "2h"],
            "--metrics-wait",
        ),
        (&["perf", "consume", "--fetch-bytes", "1"], "--fetch-bytes"),
        (
            &["perf", "consume", "--idle-timeout", "0"],
            "--idle-timeout",
        ),
        (&["perf", "consume", "--topic", ""], "1 to 249 characters"),
    ];
    for (args, want) in cases {
        let mut all = args.to_vec();
        all.extend(["--bootstrap", &addr]);
        let run = Skiff::bare(home.path()).run(&all).fails();
        assert!(run.stderr.contains(want), "{args:?}: {}", run.stderr);
        assert!(
            !run.stderr.contains("cannot connect"),
            "{args:?}: {}",
            run.stderr
        );
    }
    let many: Vec<String> = (0..65).map(|i| format!("k{i}=v")).collect();
    let mut args = vec!["topics", "create", "t"];
    for m in &many {
        args.extend(["-c", m]);
    }
    args.extend(["--bootstrap", &addr]);
    Skiff::bare(home.path())
        .run(&args)
        .fails()
        .stderr_has(&["at most 64"]);
    for bad in ["127.0.0.1", "host:0", "::1:9092"] {
        Skiff::bare(home.path())
            .run(&["topics", "list", "--bootstrap", bad])
            .fails()
            .stderr_has(&["HOST:PORT"]);
    }
}

#[test]
fn an_unreachable_broker_and_a_hostile_peer_are_clean_errors() {
    let home = tempfile::tempdir().unwrap();
    let addr = format!("127.0.0.1:{}", closed_port());
    Skiff::bare(home.path())
        .run(&["topics", "list", "--bootstrap", &addr])
        .fails()
        .stderr_has(&[
            format!("error: cannot connect to {addr}"),
            "fix: is a Skiff broker listening there?".to_string(),
        ]);

    // Answers every request with a frame length of 2^31-1, then garbage;
    // another one with an ApiVersions answer claiming 2^31-1 APIs.
    use std::io::{Read, Write};
    fn serve(reply: &'static [u8]) -> String {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap().to_string();
        std::thread::spawn(move || {
            for mut c in l.incoming().flatten() {
                let mut buf = [0u8; 512];
                let _ = c.read(&mut buf);
                let mut r = reply.to_vec();
                // Echo the correlation id where the reply has one.
                if r.len() >= 8 && r[..4] != [0x7f, 0xff, 0xff, 0xff] {
                    r[4..8].copy_from_slice(&buf[8..12]);
                }
                let _ = c.write_all(&r);
            }
        });
        addr
    }
    let huge = serve(&[0x7f, 0xff, 0xff, 0xff, 1, 2, 3, 4]);
    let run = Skiff::bare(home.path())
        .run(&["topics", "list", "--bootstrap", &huge])
        .fails();
    assert_eq!(run.code, 1, "an error exit, not a crash: {}", run.stderr);
    assert!(
        run.stderr
            .contains("sent a response frame of 2147483647 bytes, where 4 to 65536 are accepted"),
        "{}",
        run.stderr
    );
    // Length 10: correlation id, error 0, then 2^31-1 API entries.
    let counts = serve(&[0, 0, 0, 10, 0, 0, 0, 0, 0, 0, 0x7f, 0xff, 0xff, 0xff]);
    let run = Skiff::bare(home.path())
        .run(&["perf", "produce", "--bootstrap", &counts])
        .fails();
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stderr
            .contains("ApiVersions response this client cannot decode"),
        "{}",
        run.stderr
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn without_bootstrap_topics_use_the_deployments_address() {
    let moto = Moto::start();
    let home = tempfile::tempdir().unwrap();
    Skiff::new(&moto, home.path())
        .run(&["topics", "list"])
        .fails()
        .stderr_has(&[
            "deployment `skiff` has no instance in us-east-1; run `skiff up` first, or pass --bootstrap HOST:PORT",
        ]);
    let Some(broker) = RealBroker::start() else {
        return;
    };
    // This broker listens in plaintext.
    std::fs::write(home.path().join("skiff.yaml"), "security: plaintext\n").unwrap();
    Skiff::new(&moto, home.path())
        .env("SKIFF_PROBE_ADDR", &broker.addr)
        .run(&["up", "--allow", ALLOW])
        .ok();
    Skiff::new(&moto, home.path())
        .env("SKIFF_PROBE_ADDR", &broker.addr)
        .run(&["topics", "create", "deployed"])
        .ok();
    moto.clear_recording();
    Skiff::new(&moto, home.path())
        .env("SKIFF_PROBE_ADDR", &broker.addr)
        .run(&["topics", "list"])
        .ok()
        .stdout_has(&["deployed"]);
    // Finding the address is read-only.
    assert!(mutating(moto.calls()).is_empty());
}
