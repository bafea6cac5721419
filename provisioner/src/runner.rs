//! One way to run a command's steps: `up`, `resize` and `down` are each an
//! ordered list of steps, and this runner numbers them (`[3/7] Elastic IP`),
//! shows a spinner while one works, prints its one result line, remembers
//! whether anything changed, and stops after step N when the test hook asks
//! (`SKIFF_STOP_AFTER_STEP`, see `crate::hooks`), as if the command had
//! been interrupted there.
//!
//! A step is any code between [`Runner::start`] and [`Runner::finish`]: it
//! takes only what it reads (the clients, `&Config`, `dry_run`, the ids of
//! earlier steps) and the step's [`Progress`] for its spinner and warnings,
//! and returns an [`Outcome`]. Adding a step to a flow is adding those
//! three lines and raising the flow's step count.

use crate::hooks::STOP_AFTER_STEP_ENV;
use crate::printer::{Printer, Progress};

/// What a step found or did.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    pub text: String,
    pub changed: bool,
}

impl Outcome {
    /// Nothing had to change.
    pub fn found(text: impl Into<String>) -> Outcome {
        Outcome {
            text: text.into(),
            changed: false,
        }
    }

    /// Something was (or, in a dry run, would be) changed.
    pub fn changed(text: impl Into<String>) -> Outcome {
        Outcome {
            text: text.into(),
            changed: true,
        }
    }
}

/// The command stopped on purpose after a step (test hook).
#[derive(Debug, thiserror::Error)]
#[error(
    "stopped after step {step} because {STOP_AFTER_STEP_ENV} is set; run `{resume}` again to resume"
)]
pub struct Stopped {
    pub step: usize,
    pub resume: String,
}

/// Runs the numbered steps of one command.
pub struct Runner<'a> {
    printer: &'a Printer,
    total: usize,
    done: usize,
    stop_after: Option<usize>,
    resume: String,
    plan: bool,
    changed: bool,
}

/// A started step: its number, label and spinner.
pub struct Step {
    prefix: String,
    progress: Progress,
}

impl Step {
    /// The spinner and warning channel the step's code gets.
    pub fn progress(&self) -> &Progress {
        &self.progress
    }
}

impl<'a> Runner<'a> {
    /// A runner for `total` steps; `resume` is the command that resumes
    /// the flow (named in the stop message).
    pub fn new(printer: &'a Printer, total: usize, resume: impl Into<String>) -> Runner<'a> {
        Runner {
            printer,
            total,
            done: 0,
            stop_after: None,
            resume: resume.into(),
            plan: false,
            changed: false,
        }
    }

    /// Stop after step `n` (the test hook), if given.
    pub fn stop_after(mut self, n: Option<usize>) -> Runner<'a> {
        self.stop_after = n;
        self
    }

    /// A dry run: the step lines are the plan, so they are results and are
    /// printed when quiet too.
    pub fn plan(mut self, dry_run: bool) -> Runner<'a> {
        self.plan = dry_run;
        self
    }

    /// Starts the next step.
    pub fn start(&mut self, label: &str) -> Step {
        let n = self.done + 1;
        debug_assert!(n <= self.total, "step {n} `{label}` of {}", self.total);
        let prefix = format!("[{n}/{}] {label:<20}", self.total);
        Step {
            progress: self.printer.progress(prefix.clone()),
            prefix,
        }
    }

    /// Ends a step with its result line; stops the command here if the
    /// test hook says so.
    pub fn finish(&mut self, step: Step, outcome: Outcome) -> Result<(), Stopped> {
        self.done += 1;
        self.changed |= outcome.changed;
        step.progress.clear();
        let line = format!("{} {}", step.prefix, outcome.text);
        if self.plan {
            self.printer.out(line);
        } else {
            self.printer.info(line);
        }
        if self.stop_after == Some(self.done) {
            return Err(Stopped {
                step: self.done,
                resume: self.resume.clone(),
            });
        }
        Ok(())
    }

    /// Whether any finished step changed something.
    pub fn changed(&self) -> bool {
        self.changed
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::printer::{Format, Verbosity};

    #[test]
    fn numbers_steps_and_tracks_changes() {
        let p = Printer::capture(Format::Text, Verbosity::Normal);
        let mut r = Runner::new(&p, 2, "skiff up");
        let s = r.start("first");
        r.finish(s, Outcome::found("was there")).unwrap();
        assert!(!r.changed());
        let s = r.start("second");
        r.finish(s, Outcome::changed("made it")).unwrap();
        assert!(r.changed());
        let out = p.captured().stdout;
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines.len(), 2, "{out}");
        assert!(lines[0].starts_with("[1/2] first ") && lines[0].ends_with(" was there"));
        assert!(lines[1].starts_with("[2/2] second ") && lines[1].ends_with(" made it"));
    }

    #[test]
    fn stops_after_the_hooked_step_naming_how_to_resume() {
        let p = Printer::capture(Format::Text, Verbosity::Normal);
        let mut r = Runner::new(&p, 3, "skiff resize t3.small").stop_after(Some(2));
        let s = r.start("one");
        r.finish(s, Outcome::found("a")).unwrap();
        let s = r.start("two");
        let e = r.finish(s, Outcome::changed("b")).unwrap_err();
        assert_eq!(e.step, 2);
        let msg = e.to_string();
        assert!(msg.contains("stopped after step 2"), "{msg}");
        assert!(msg.contains("SKIFF_STOP_AFTER_STEP"), "{msg}");
        assert!(msg.contains("`skiff resize t3.small`"), "{msg}");
        // The step's own line was printed before the stop.
        assert!(p.captured().stdout.contains("[2/3] two"));
    }

    #[test]
    fn quiet_hides_step_lines_except_a_plan() {
        let p = Printer::capture(Format::Text, Verbosity::Quiet);
        let mut r = Runner::new(&p, 1, "skiff up");
        let s = r.start("step");
        r.finish(s, Outcome::changed("done")).unwrap();
        assert_eq!(p.captured().stdout, "");

        let mut r = Runner::new(&p, 1, "skiff up").plan(true);
        let s = r.start("step");
        r.finish(s, Outcome::changed("would do")).unwrap();
        assert!(p.captured().stdout.contains("[1/1] step"));
    }
}
