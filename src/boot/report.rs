//! What every boot and shutdown step hands back: a report the shell logs,
//! never a panic and never a reason to stop booting.

use std::fmt;
use std::time::{Duration, Instant};

/// Whether a step did its job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// One-line summary of what was done.
    Ok(String),
    /// Every cause, one readable message each.
    Failed(Vec<String>),
}

/// The result of one step, with how long it took.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StepReport {
    pub name: String,
    pub duration: Duration,
    pub outcome: Outcome,
    /// Warnings and details worth logging that did not fail the step.
    pub notes: Vec<String>,
}

impl StepReport {
    /// True when the outcome is `Ok`.
    pub fn is_ok(&self) -> bool {
        matches!(self.outcome, Outcome::Ok(_))
    }
}

impl fmt::Display for StepReport {
    /// `NAME: ok (12ms): summary` or `NAME: FAILED (12ms): a; b`, the line the shell logs.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ms = self.duration.as_millis();
        match &self.outcome {
            Outcome::Ok(s) => write!(f, "{}: ok ({ms}ms): {s}", self.name)?,
            Outcome::Failed(m) => write!(f, "{}: FAILED ({ms}ms): {}", self.name, m.join("; "))?,
        }
        for n in &self.notes {
            write!(f, "\n  {}: {n}", self.name)?;
        }
        Ok(())
    }
}

/// Collects errors and notes while a step runs, then becomes its report.
#[derive(Debug)]
pub struct StepBuilder {
    name: String,
    start: Instant,
    pub errors: Vec<String>,
    pub notes: Vec<String>,
}

impl StepBuilder {
    /// Starts the step's clock.
    pub fn start(name: &str) -> Self {
        StepBuilder {
            name: name.to_string(),
            start: Instant::now(),
            errors: Vec::new(),
            notes: Vec::new(),
        }
    }

    /// Record a failure cause; the step goes on.
    pub fn error(&mut self, msg: impl Into<String>) {
        self.errors.push(msg.into());
    }

    /// Record a warning or detail.
    pub fn note(&mut self, msg: impl Into<String>) {
        self.notes.push(msg.into());
    }

    /// Failed if any error was recorded, else Ok with `summary`.
    pub fn finish(self, summary: impl Into<String>) -> StepReport {
        let outcome = if self.errors.is_empty() {
            Outcome::Ok(summary.into())
        } else {
            Outcome::Failed(self.errors)
        };
        StepReport {
            name: self.name,
            duration: self.start.elapsed(),
            outcome,
            notes: self.notes,
        }
    }
}
