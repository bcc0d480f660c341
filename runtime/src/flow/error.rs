//! The errors of a flow file that cannot run: one line each.

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
    /// Where in it (``connector `tick`.type``, `link[0].to`, `line 3,
    /// column 7`, ...).
    pub field: String,
    /// What is wrong.
    pub problem: String,
    /// How to fix it.
    pub fix: String,
    /// For a syntax error: the line of the file, and a caret under the
    /// column.
    pub excerpt: Option<String>,
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
            excerpt: None,
        }
    }

    /// The same error, shown with line `line` (numbered `number`) of the
    /// file and a caret under `column` (from 1).
    #[must_use]
    pub fn with_excerpt(mut self, number: usize, line: &str, column: usize) -> Self {
        let gutter = number.to_string().len();
        let shown = printable(line);
        // The caret stands under the character, escaped as the line is.
        let before: String = line.chars().take(column.saturating_sub(1)).collect();
        let indent = printable(&before).chars().count();
        self.excerpt = Some(format!(
            "{number} | {shown}\n{:gutter$} | {:indent$}^",
            "", ""
        ));
        self
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

/// Every mistake found in a flow file, in the order of the file: never
/// empty.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlowErrors(Vec<FlowError>);

impl FlowErrors {
    /// The mistakes `errors`, or `None` when there is none.
    #[must_use]
    pub fn of(errors: Vec<FlowError>) -> Option<Self> {
        (!errors.is_empty()).then_some(Self(errors))
    }

    /// The mistakes, in file order.
    #[must_use]
    pub fn errors(&self) -> &[FlowError] {
        &self.0
    }

    /// What the command line prints: `error: ` and each mistake on a line
    /// of its own, a syntax error followed by its excerpt.
    #[must_use]
    pub fn report(&self) -> String {
        let mut report = String::new();
        for error in &self.0 {
            report.push_str(&format!("error: {error}\n"));
            if let Some(excerpt) = &error.excerpt {
                report.push_str(excerpt);
                report.push('\n');
            }
        }
        report
    }
}

impl From<FlowError> for FlowErrors {
    fn from(error: FlowError) -> Self {
        Self(vec![error])
    }
}

impl fmt::Display for FlowErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let lines: Vec<String> = self.0.iter().map(ToString::to_string).collect();
        f.write_str(&lines.join("\n"))
    }
}

impl std::error::Error for FlowErrors {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_caret_stands_under_the_column_of_the_line() {
        let error = FlowError::new(Path::new("f.toml"), "line 12, column 6", "bad", "fix it")
            .with_excerpt(12, "id = tick", 6);
        assert_eq!(
            error.excerpt.as_deref(),
            Some("12 | id = tick\n   |      ^")
        );
    }

    #[test]
    fn every_mistake_is_reported_on_a_line_of_its_own() {
        let errors = FlowErrors::of(vec![
            FlowError::new(Path::new("f.toml"), "a", "one", "x"),
            FlowError::new(Path::new("f.toml"), "b", "two", "y"),
        ]);
        assert_eq!(
            errors.map(|e| e.report()).as_deref(),
            Some("error: f.toml: a: one; fix: x\nerror: f.toml: b: two; fix: y\n")
        );
        assert!(FlowErrors::of(Vec::new()).is_none());
    }
}
