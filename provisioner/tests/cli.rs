//! The command line without AWS: config errors, missing credentials or
//! region, `init`, `render`. These must fail (or succeed) before any AWS
//! call, so no emulator runs here and the endpoint is never set.

use crate::common::*;
use std::path::Path;

fn up_with_config(home: &Path, yaml: &str) -> Run {
    std::fs::write(home.join("skiff.yaml"), yaml).unwrap();
    Skiff::bare(home)
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        // Any AWS call would fail loudly on this closed port.
        .env(
            "AWS_ENDPOINT_URL",
            format!("http://127.0.0.1:{}", closed_port()),
        )
        .run(&["up", "--allow", ALLOW])
        .fails()
}

#[test]
fn unknown_field_names_it_and_the_accepted_ones() {
    let home = tempfile::tempdir().unwrap();
    let run = up_with_config(home.path(), "name: x\ninstance_typ: t3.micro\n");
    assert!(
        run.stderr.contains("unknown field `instance_typ`"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("expected one of `name`"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("`instance_type`"), "{}", run.stderr);
}

#[test]
fn wrong_type_names_field_and_value() {
    let home = tempfile::tempdir().unwrap();
    let run = up_with_config(home.path(), "volume_size_gb: big\n");
    assert!(
        run.stderr
            .contains("volume_size_gb: invalid type: string \"big\""),
        "{}",
        run.stderr
    );
    let run = up_with_config(home.path(), "keep_data: [1]\n");
    assert!(
        run.stderr.contains("keep_data: invalid type: sequence"),
        "{}",
        run.stderr
    );
}

#[test]
fn bad_cidr_names_field_value_and_accepted() {
    let home = tempfile::tempdir().unwrap();
    let run = up_with_config(
        home.path(),
        "allowed_cidrs: [203.0.113.7/32, 10.1.2.3/33]\n",
    );
    assert!(
        run.stderr
            .contains("field `allowed_cidrs[1]` has value `10.1.2.3/33`; accepted: an IPv4 CIDR"),
        "{}",
        run.stderr
    );
    let run = up_with_config(home.path(), "allowed_cidrs: [0.0.0.0/0]\n");
    assert!(
        run.stderr.contains("needs `skiff up --public`"),
        "{}",
        run.stderr
    );
    // The same check on the flag.
    let run = Skiff::bare(home.path())
        .env("AWS_REGION", "us-east-1")
        .run(&["--config", "/dev/null", "up", "--allow", "not-a-cidr"])
        .fails();
    assert!(run.stderr.contains("`not-a-cidr`"), "{}", run.stderr);
}

#[test]
fn bad_instance_type_names_the_accepted_families() {
    let home = tempfile::tempdir().unwrap();
    let run = up_with_config(home.path(), "instance_type: m5.large\n");
    assert!(
        run.stderr.contains(
            "field `instance_type` has value `m5.large`; accepted: a burstable type t2|t3|t3a|t4g"
        ),
        "{}",
        run.stderr
    );
    let run = up_with_config(home.path(), "credit_mode: turbo\n");
    assert!(
        run.stderr
            .contains("credit_mode: unknown variant `turbo`, expected `standard` or `unlimited`"),
        "{}",
        run.stderr
    );
}

#[test]
fn no_region_is_one_clear_message() {
    let home = tempfile::tempdir().unwrap();
    let run = Skiff::bare(home.path())
        .run(&["up", "--allow", ALLOW])
        .fails();
    assert!(
        run.stderr
            .starts_with("error: no AWS region is configured."),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("AWS_REGION=us-east-1"),
        "{}",
        run.stderr
    );
    assert!(run.stdout.is_empty(), "{}", run.stdout);
}

#[test]
fn missing_credentials_is_one_clear_message_before_any_call() {
    let home = tempfile::tempdir().unwrap();
    for cmd in [
        &["up", "--allow", ALLOW][..],
        &["status"],
        &["down", "--yes"],
        &["logs"],
    ] {
        let run = Skiff::bare(home.path())
            .env("AWS_REGION", "us-east-1")
            .env(
                "AWS_ENDPOINT_URL",
                format!("http://127.0.0.1:{}", closed_port()),
            )
            .run(cmd)
            .fails();
        assert!(
            run.stderr.starts_with("error: no AWS credentials found."),
            "{cmd:?}: {}",
            run.stderr
        );
        assert!(run
            .stderr
            .contains("AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"));
        assert!(run.stderr.contains("aws sso login"));
        assert!(
            !run.stderr.contains("dispatch failure"),
            "an AWS call was attempted"
        );
    }
}

#[test]
fn expired_credentials_are_reported_as_expired() {
    let home = tempfile::tempdir().unwrap();
    let aws = home.path().join(".aws");
    std::fs::create_dir_all(&aws).unwrap();
    // A credential process (as used by SSO helpers) handing out credentials
    // that expired long ago.
    let script = aws.join("creds.sh");
    std::fs::write(
        &script,
        "#!/bin/sh\necho '{\"Version\":1,\"AccessKeyId\":\"AKIDEXAMPLE\",\"SecretAccessKey\":\"secret\",\"SessionToken\":\"token\",\"Expiration\":\"2020-01-01T00:00:00Z\"}'\n",
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::write(
        aws.join("config"),
        format!(
            "[default]\nregion = us-east-1\ncredential_process = {}\n",
            script.display()
        ),
    )
    .unwrap();
    let run = Skiff::bare(home.path())
        .env(
            "AWS_ENDPOINT_URL",
            format!("http://127.0.0.1:{}", closed_port()),
        )
        .run(&["up", "--allow", ALLOW])
        .fails();
    assert!(
        run.stderr.contains("expired") && run.stderr.contains("aws sso login"),
        "{}",
        run.stderr
    );
}

#[test]
fn init_writes_a_commented_default_that_round_trips() {
    let home = tempfile::tempdir().unwrap();
    let run = Skiff::bare(home.path()).run(&["init"]).ok();
    assert!(run.stdout.contains("wrote skiff.yaml"));
    let text = std::fs::read_to_string(home.path().join("skiff.yaml")).unwrap();
    for field in [
        "name:",
        "region:",
        "instance_type: t3.micro",
        "credit_mode: standard",
        "allowed_cidrs:",
        "volume_size_gb:",
        "image:",
        "version:",
        "settings:",
        "alert_email:",
        "keep_data:",
    ] {
        assert!(text.contains(field), "{field} missing from:\n{text}");
    }
    assert!(
        text.lines()
            .filter(|l| l.trim_start().starts_with('#'))
            .count()
            > 10
    );
    // A second init refuses to overwrite; --force does.
    let run = Skiff::bare(home.path()).run(&["init"]).fails();
    assert!(run.stderr.contains("--force"));
    Skiff::bare(home.path()).run(&["init", "--force"]).ok();
    // The written file is accepted as is (render reads it).
    Skiff::bare(home.path())
        .run(&["render", "--out", "out"])
        .ok();
}

#[test]
fn render_writes_what_up_would_send() {
    let home = tempfile::tempdir().unwrap();
    std::fs::write(
        home.path().join("skiff.yaml"),
        "broker:\n  version: \"9.9.9\"\n  settings:\n    RUST_LOG: debug\n    SKIFF_SEGMENT_BYTES: 1048576\n",
    )
    .unwrap();
    let run = Skiff::bare(home.path())
        .run(&[
            "render",
            "--out",
            "out",
            "--advertised-host",
            "198.51.100.7",
        ])
        .ok();
    assert!(run.stdout.contains("user data:"));
    let out = home.path().join("out");
    let env = std::fs::read_to_string(out.join("broker.env")).unwrap();
    assert!(
        env.contains("ADVERTISED_LISTENER_URL=tcp://198.51.100.7:9092\n"),
        "{env}"
    );
    assert!(env.contains("RUST_LOG=debug\n") && env.contains("SKIFF_SEGMENT_BYTES=1048576\n"));
    let compose = std::fs::read_to_string(out.join("compose.yaml")).unwrap();
    assert!(
        compose.contains("ghcr.io/skiff-kafka/skiff-broker:9.9.9"),
        "{compose}"
    );
    let ud = std::fs::read_to_string(out.join("user-data.yaml")).unwrap();
    assert!(ud.starts_with("#cloud-config"));
    assert!(ud.len() < 16 * 1024, "user data is {} bytes", ud.len());
    assert!(ud.contains("ADVERTISED_LISTENER_URL=tcp://198.51.100.7:9092"));
    for f in [
        "install-compose.sh",
        "start-broker.sh",
        "data-volume.sh",
        "skiff-broker.service",
        "skiff-data-grow.service",
        "skiff-data-grow.timer",
    ] {
        assert!(out.join(f).exists(), "{f}");
    }
    let volume = std::fs::read_to_string(out.join("data-volume.sh")).unwrap();
    assert!(volume.contains("\nvol=\"\"\n"), "no data volume by default");

    Skiff::bare(home.path())
        .run(&[
            "render",
            "--out",
            "vol",
            "--data-volume-id",
            "vol-0123456789abcdef0",
        ])
        .ok();
    let volume = std::fs::read_to_string(home.path().join("vol/data-volume.sh")).unwrap();
    assert!(volume.contains("\nvol=\"vol-0123456789abcdef0\"\n"));
    let bad = Skiff::bare(home.path())
        .run(&["render", "--out", "bad", "--data-volume-id", "/dev/sdf"])
        .fails();
    assert!(bad.stderr.contains("--data-volume-id"), "{}", bad.stderr);
    assert!(
        bad.stderr.contains("e.g. vol-0123456789abcdef0"),
        "{}",
        bad.stderr
    );
    assert!(!home.path().join("bad").exists());
}
