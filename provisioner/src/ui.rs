//! Terminal output of long-running steps: a spinner while a step works, then
//! one permanent line saying what it created or found.
//!
//! Spinners draw on stderr and only on a terminal (indicatif hides them
//! otherwise); the result lines go to stdout always, so scripts and tests
//! see the same text a person does, without control characters.

use indicatif::{ProgressBar, ProgressStyle};
use std::time::Duration;

/// One numbered step in progress.
pub struct StepUi {
    bar: ProgressBar,
    prefix: String,
}

impl StepUi {
    /// Starts the spinner for step `n` of `total`.
    pub fn start(n: usize, total: usize, label: &str) -> StepUi {
        let prefix = format!("[{n}/{total}] {label:<20}");
        let bar = ProgressBar::new_spinner();
        bar.set_style(
            ProgressStyle::with_template("{spinner} {prefix} {msg} ({elapsed})")
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        );
        bar.set_prefix(prefix.clone());
        bar.enable_steady_tick(Duration::from_millis(120));
        StepUi { bar, prefix }
    }

    /// Updates the spinner's message.
    pub fn set(&self, msg: impl Into<String>) {
        self.bar.set_message(msg.into());
    }

    /// Ends the step with its result line.
    pub fn finish(self, result: &str) {
        self.bar.finish_and_clear();
        println!("{} {result}", self.prefix);
    }
}

/// A spinner for a task that is not a numbered step.
pub fn spinner(msg: &str) -> ProgressBar {
    let bar = ProgressBar::new_spinner();
    bar.set_message(msg.to_string());
    bar.enable_steady_tick(Duration::from_millis(120));
    bar
}

/// Asks a yes/no question on the terminal; refuses (an error naming
/// `--yes`) when stdin is not a terminal, so scripts never hang.
pub fn confirm(question: &str) -> anyhow::Result<bool> {
    use std::io::{BufRead, IsTerminal, Write};
    if !std::io::stdin().is_terminal() {
        anyhow::bail!(
            "refusing to go on without confirmation: stdin is not a terminal; pass --yes"
        );
    }
    print!("{question} [y/N] ");
    std::io::stdout().flush()?;
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    Ok(matches!(line.trim(), "y" | "Y" | "yes" | "YES" | "Yes"))
}
