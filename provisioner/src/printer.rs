//! Where `skiff`'s output goes. `main` decides once, from the flags, how
//! output looks (text or `--json`, `--quiet`, progress or not) and hands
//! the one [`Printer`] to every command and step, which print only through
//! it (the model is uv's `printer.rs`). Tests build a capturing printer and
//! read back what a person would have seen.
//!
//! The streams: results and step lines go to stdout always (so scripts and
//! tests see the same text a person does, without control characters);
//! warnings and errors go to stderr; spinners draw on stderr and only on a
//! terminal (indicatif hides them otherwise), never when quiet.

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::fmt::Display;
use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// How results are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Lines for people (and the tests).
    Text,
    /// One JSON document per result on stdout, nothing else there.
    Json,
}

/// How much is said besides the results.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verbosity {
    /// Results, warnings and errors only: no spinners, no step lines.
    Quiet,
    /// Everything.
    Normal,
}

/// The output policy, cheap to clone.
#[derive(Clone)]
pub struct Printer {
    format: Format,
    verbosity: Verbosity,
    sink: Sink,
}

#[derive(Clone)]
enum Sink {
    /// The process's stdout and stderr.
    Std,
    /// Memory, for tests.
    #[cfg_attr(not(test), allow(dead_code))]
    Memory(Arc<Mutex<Captured>>),
}

/// What a capturing printer was given.
#[derive(Debug, Default, Clone)]
pub struct Captured {
    pub stdout: String,
    pub stderr: String,
}

#[derive(Clone, Copy)]
enum Stream {
    Out,
    Err,
}

impl Printer {
    /// A printer on stdout and stderr.
    pub fn new(format: Format, verbosity: Verbosity) -> Printer {
        Printer {
            format,
            verbosity,
            sink: Sink::Std,
        }
    }

    /// A printer into memory; [`Printer::captured`] reads it back.
    #[cfg(test)]
    pub fn capture(format: Format, verbosity: Verbosity) -> Printer {
        Printer {
            format,
            verbosity,
            sink: Sink::Memory(Arc::default()),
        }
    }

    /// What a capturing printer was given (empty for a real one).
    #[cfg(test)]
    pub fn captured(&self) -> Captured {
        match &self.sink {
            Sink::Std => Captured::default(),
            Sink::Memory(m) => m.lock().expect("capture lock").clone(),
        }
    }

    pub fn is_json(&self) -> bool {
        self.format == Format::Json
    }

    fn write(&self, stream: Stream, text: &str) {
        match &self.sink {
            // A closed pipe (`skiff logs | head`) is not an error worth a
            // panic: the reader has what it wanted.
            Sink::Std => {
                let _ = match stream {
                    Stream::Out => std::io::stdout().lock().write_all(text.as_bytes()),
                    Stream::Err => std::io::stderr().lock().write_all(text.as_bytes()),
                };
            }
            Sink::Memory(m) => {
                let mut c = m.lock().expect("capture lock");
                match stream {
                    Stream::Out => c.stdout.push_str(text),
                    Stream::Err => c.stderr.push_str(text),
                }
            }
        }
    }

    /// A result: what the command is for. Text format only; printed when
    /// quiet too.
    pub fn out(&self, text: impl Display) {
        if self.format == Format::Text {
            self.write(Stream::Out, &format!("{text}\n"));
        }
    }

    /// A line about the work (a finished step, what was assumed): text
    /// format only, not when quiet.
    pub fn info(&self, text: impl Display) {
        if self.verbosity == Verbosity::Normal {
            self.out(text);
        }
    }

    /// One JSON document on one line (JSON format only).
    pub fn json(&self, value: &serde_json::Value) {
        if self.format == Format::Json {
            self.write(Stream::Out, &format!("{value}\n"));
        }
    }

    /// `warning: ...` on stderr, in every mode.
    pub fn warn(&self, msg: impl Display) {
        self.write(Stream::Err, &format!("warning: {msg}\n"));
    }

    /// `error: ...` on stderr with the whole context chain: the one place
    /// a failed command is reported.
    pub fn error(&self, e: &anyhow::Error) {
        self.write(Stream::Err, &format!("error: {e:#}\n"));
    }

    /// A spinner with `prefix` before its message; hidden when quiet, when
    /// capturing and (by indicatif) when stderr is not a terminal.
    pub fn progress(&self, prefix: impl Into<String>) -> Progress {
        let visible = matches!(self.sink, Sink::Std) && self.verbosity == Verbosity::Normal;
        let bar = ProgressBar::with_draw_target(
            None,
            if visible {
                ProgressDrawTarget::stderr()
            } else {
                ProgressDrawTarget::hidden()
            },
        );
        bar.set_style(
            ProgressStyle::with_template("{spinner} {prefix} {msg} ({elapsed})")
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        );
        bar.set_prefix(prefix.into());
        if !bar.is_hidden() {
            bar.enable_steady_tick(Duration::from_millis(120));
        }
        Progress {
            bar,
            printer: self.clone(),
            muted: false,
        }
    }

    /// A spinner that never draws and a warning channel that says nothing
    /// (for a silent pass whose steps run again for real).
    pub fn hidden_progress(&self) -> Progress {
        Progress {
            bar: ProgressBar::hidden(),
            printer: self.clone(),
            muted: true,
        }
    }

    /// A progress bar of `total` units (records) with `prefix` before it;
    /// hidden like the spinner, and with `--json`.
    pub fn bar(&self, total: u64, prefix: impl Into<String>) -> Progress {
        let visible = matches!(self.sink, Sink::Std)
            && self.verbosity == Verbosity::Normal
            && self.format == Format::Text;
        let bar = ProgressBar::with_draw_target(
            Some(total),
            if visible {
                ProgressDrawTarget::stderr()
            } else {
                ProgressDrawTarget::hidden()
            },
        );
        bar.set_style(
            ProgressStyle::with_template(
                "{prefix} [{bar:30}] {human_pos}/{human_len} {msg} ({elapsed})",
            )
            .map(|s| s.progress_chars("=> "))
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        bar.set_prefix(prefix.into());
        if !bar.is_hidden() {
            bar.enable_steady_tick(Duration::from_millis(200));
        }
        Progress {
            bar,
            printer: self.clone(),
            muted: false,
        }
    }

    /// Asks a yes/no question on the terminal; refuses (an error naming
    /// `--yes`) when stdin is not a terminal, so scripts never hang.
    pub fn confirm(&self, question: &str) -> anyhow::Result<bool> {
        use std::io::{BufRead, IsTerminal};
        if !std::io::stdin().is_terminal() {
            anyhow::bail!(
                "refusing to go on without confirmation: stdin is not a terminal; pass --yes"
            );
        }
        self.write(Stream::Out, &format!("{question} [y/N] "));
        std::io::stdout().flush()?;
        let mut line = String::new();
        std::io::stdin().lock().read_line(&mut line)?;
        Ok(matches!(line.trim(), "y" | "Y" | "yes" | "YES" | "Yes"))
    }
}

/// A spinner for work in progress, and the way a step reports on the side.
pub struct Progress {
    bar: ProgressBar,
    printer: Printer,
    /// Warnings are dropped (a silent pass that runs again for real).
    muted: bool,
}

impl Progress {
    /// Updates the spinner's message.
    pub fn set(&self, msg: impl Into<String>) {
        self.bar.set_message(msg.into());
    }

    /// Moves a progress bar to `pos`.
    pub fn set_position(&self, pos: u64) {
        self.bar.set_position(pos);
    }

    /// Makes a progress bar's length at least `len`.
    pub fn set_length_at_least(&self, len: u64) {
        if self.bar.length().is_none_or(|l| l < len) {
            self.bar.set_length(len);
        }
    }

    /// A warning, printed without tearing the spinner.
    pub fn warn(&self, msg: impl Display) {
        if !self.muted {
            self.bar.suspend(|| self.printer.warn(msg));
        }
    }

    /// Removes the spinner.
    pub fn clear(self) {
        self.bar.finish_and_clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_decide_what_reaches_each_stream() {
        let p = Printer::capture(Format::Text, Verbosity::Normal);
        p.out("result");
        p.info("step");
        p.json(&serde_json::json!({"a": 1}));
        p.warn("careful");
        p.error(&anyhow::anyhow!("inner").context("outer"));
        let c = p.captured();
        assert_eq!(c.stdout, "result\nstep\n");
        assert_eq!(c.stderr, "warning: careful\nerror: outer: inner\n");

        let p = Printer::capture(Format::Text, Verbosity::Quiet);
        p.out("result");
        p.info("step");
        p.progress("[1/1]").warn("careful");
        let c = p.captured();
        assert_eq!(c.stdout, "result\n");
        assert_eq!(c.stderr, "warning: careful\n");

        let p = Printer::capture(Format::Json, Verbosity::Normal);
        p.out("result");
        p.info("step");
        p.json(&serde_json::json!({"a": 1}));
        assert_eq!(p.captured().stdout, "{\"a\":1}\n");
    }
}
