//! Running the real `skiff` binary (with `assert_cmd`) in a clean, offline
//! environment: no AWS settings unless pointed at moto, HOME and the
//! working directory in a temporary directory, stdin not a terminal.

use super::{closed_port, moto::Moto};
use assert_cmd::assert::Assert;
use predicates::prelude::*;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Instant;

/// The usual `up` arguments in tests.
pub const ALLOW: &str = "203.0.113.7/32";

pub fn skiff_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_skiff"))
}

/// A `skiff` invocation with a clean, offline environment.
pub struct Skiff {
    cmd: Command,
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
            .env("AWS_ACCESS_KEY_ID", super::SKIFF_ACCESS_KEY)
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

    /// Runs `skiff args` to the end.
    pub fn run(self, args: &[&str]) -> Run {
        let start = Instant::now();
        let assert = assert_cmd::Command::from_std(self.cmd).args(args).assert();
        let out = assert.get_output();
        let run = Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
            assert,
        };
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

/// A finished `skiff` run.
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
    assert: Assert,
}

impl Run {
    /// Asserts exit 0.
    pub fn ok(self) -> Run {
        Run {
            assert: self.assert.success(),
            ..self
        }
    }

    /// Asserts a non-zero exit.
    pub fn fails(self) -> Run {
        Run {
            assert: self.assert.failure(),
            ..self
        }
    }

    /// Asserts that stdout contains each of `wants`.
    pub fn stdout_has<S: AsRef<str>>(self, wants: &[S]) -> Run {
        let mut assert = self.assert;
        for w in wants {
            assert = assert.stdout(predicate::str::contains(w.as_ref()));
        }
        Run { assert, ..self }
    }

    /// Asserts that stderr contains each of `wants`.
    pub fn stderr_has<S: AsRef<str>>(self, wants: &[S]) -> Run {
        let mut assert = self.assert;
        for w in wants {
            assert = assert.stderr(predicate::str::contains(w.as_ref()));
        }
        Run { assert, ..self }
    }
}
