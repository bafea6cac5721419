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

/// How a change touches the running broker, for the plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Impact {
    /// Nothing changes.
    None,
    /// Something new is made (`+`).
    Create,
    /// Changed while the broker runs (`~`).
    InPlace,
    /// Something goes away (`-`).
    Delete,
    /// The instance stops or starts: the broker is down meanwhile.
    Restart,
    /// A new instance takes over (`-/+`): the broker is down while the
    /// data volume and the address move.
    Replace,
}

impl Impact {
    /// The plan's symbol.
    pub fn symbol(self) -> &'static str {
        match self {
            Impact::None => " ",
            Impact::Create => "+",
            Impact::InPlace => "~",
            Impact::Delete => "-",
            Impact::Restart => "~",
            Impact::Replace => "-/+",
        }
    }
}

/// What a step found or did.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    pub text: String,
    pub changed: bool,
    pub impact: Impact,
}

impl Outcome {
    /// Nothing had to change.
    pub fn found(text: impl Into<String>) -> Outcome {
        Outcome {
            text: text.into(),
            changed: false,
            impact: Impact::None,
        }
    }

    /// Something was (or, in a dry run, would be) changed while the broker
    /// runs.
    pub fn changed(text: impl Into<String>) -> Outcome {
        Outcome::with(Impact::InPlace, text)
    }

    /// A change of the given impact.
    pub fn with(impact: Impact, text: impl Into<String>) -> Outcome {
        Outcome {
            text: text.into(),
            changed: impact != Impact::None,
            impact,
        }
    }
}

/// One finished step, as the plan lists it.
#[derive(Debug, Clone, PartialEq)]
pub struct Done {
    pub label: String,
    pub outcome: Outcome,
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
    silent: bool,
    changed: bool,
    done_steps: Vec<Done>,
}

/// A started step: its number, label and spinner.
pub struct Step {
    prefix: String,
    label: String,
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
            silent: false,
            changed: false,
            done_steps: Vec::new(),
        }
    }

    /// Prints nothing: the outcomes are only collected (a plan computed
    /// before it is shown), and the stop hook does not apply.
    pub fn silent(mut self) -> Runner<'a> {
        self.silent = true;
        self
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
            progress: if self.silent {
                self.printer.hidden_progress()
            } else {
                self.printer.progress(prefix.clone())
            },
            prefix,
            label: label.to_string(),
        }
    }

    /// Ends a step with its result line; stops the command here if the
    /// test hook says so.
    pub fn finish(&mut self, step: Step, outcome: Outcome) -> Result<(), Stopped> {
        self.done += 1;
        self.changed |= outcome.changed;
        step.progress.clear();
        let line = format!("{} {}", step.prefix, outcome.text);
        self.done_steps.push(Done {
            label: step.label,
            outcome,
        });
        if self.silent {
            return Ok(());
        }
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

    /// The finished steps, in order.
    pub fn steps(&self) -> &[Done] {
        &self.done_steps
    }

    /// The largest impact of any finished step.
    pub fn impact(&self) -> Impact {
        self.done_steps
            .iter()
            .map(|d| d.outcome.impact)
            .max()
            .unwrap_or(Impact::None)
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
    fn silent_collects_outcomes_and_ignores_the_stop_hook() {
        let p = Printer::capture(Format::Text, Verbosity::Normal);
        let mut r = Runner::new(&p, 2, "skiff up").stop_after(Some(1)).silent();
        let s = r.start("one");
        r.finish(s, Outcome::with(Impact::Replace, "would replace"))
            .unwrap();
        let s = r.start("two");
        r.finish(s, Outcome::with(Impact::Create, "would create"))
            .unwrap();
        assert_eq!(p.captured().stdout, "");
        assert_eq!(r.impact(), Impact::Replace);
        assert_eq!(r.steps()[1].label, "two");
        assert_eq!(Impact::Replace.symbol(), "-/+");
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
