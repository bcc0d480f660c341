//! The one-line error for a flow file that cannot run.

use std::fmt;
use std::path::{Path, PathBuf};

use crate::printable::{printable, printable_path};

/// What is wrong with a flow file: where, what, and how to fix it.
/// Displays as one line: `FILE: FIELD: PROBLEM; fix: FIX`, with control
/// characters escaped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlowError {
    /// The flow file.
    pub file: PathBuf,
    /// Where in it (`connector[1].type`, `link[0].to`, `3:7`, ...).
    pub field: String,
    /// What is wrong.
    pub problem: String,
    /// How to fix it.
    pub fix: String,
}

impl FlowError {
    /// An error at `field` of `file`.
    pub fn new(
        file: &Path,
        field: impl Into<String>,
        problem: impl Into<String>,
        fix: impl Into<String>,
    ) -> Self {
        Self {
            file: file.to_path_buf(),
            field: field.into(),
            problem: problem.into(),
            fix: fix.into(),
        }
    }
}

impl fmt::Display for FlowError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // One line, whatever the file name or the ids in it hold.
        write!(
            f,
            "{}: {}: {}; fix: {}",
            printable_path(&self.file),
            printable(&self.field),
            printable(&self.problem),
            printable(&self.fix)
        )
    }
}

impl std::error::Error for FlowError {}
