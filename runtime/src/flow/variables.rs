//! Variables in flow files: `${NAME}` and `${NAME:-default}` from the
//! environment, `${file:PATH}` for a secret kept in a file, in every
//! string of the file; `$${` is a literal `${`.
//!
//! One flow file then runs in several processes with what differs between
//! them (a consumer name, a port) in their environments, and a secret
//! stays out of the flow file.

use std::path::Path;

/// Where the values of variables come from.
pub trait Source {
    /// The value of environment variable `name`, if it is set.
    fn var(&self, name: &str) -> Option<String>;
}

/// The process's environment.
#[derive(Debug, Clone, Copy)]
pub struct Environment;

impl Source for Environment {
    fn var(&self, name: &str) -> Option<String> {
        std::env::var(name).ok()
    }
}

/// Why a string's variables could not be substituted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unresolved {
    /// What is wrong, naming the variable.
    pub problem: String,
    /// How to fix it.
    pub fix: String,
}

impl Unresolved {
    fn new(problem: impl Into<String>, fix: impl Into<String>) -> Self {
        Self {
            problem: problem.into(),
            fix: fix.into(),
        }
    }
}

/// Substitutes every variable of every string in `value` (table keys
/// stay as written), reading `${file:PATH}` relative to `dir`; on the
/// first that cannot be, returns the path of its string (`connector[0].config.url`)
/// and why.
pub fn substitute(
    value: &mut toml::Value,
    path: &mut String,
    dir: &Path,
    source: &impl Source,
) -> Result<(), (String, Unresolved)> {
    match value {
        toml::Value::String(text) => {
            if let Some(substituted) =
                expand(text, dir, source).map_err(|why| (path.clone(), why))?
            {
                *text = substituted;
            }
        }
        toml::Value::Array(items) => {
            for (i, item) in items.iter_mut().enumerate() {
                let len = path.len();
                path.push_str(&format!("[{i}]"));
                substitute(item, path, dir, source)?;
                path.truncate(len);
            }
        }
        toml::Value::Table(table) => {
            for (key, item) in table.iter_mut() {
                let len = path.len();
                // Arrays of tables read as `connector[0]`, like the other
                // messages about a flow file.
                if !path.is_empty() {
                    path.push('.');
                }
                path.push_str(key);
                substitute(item, path, dir, source)?;
                path.truncate(len);
            }
        }
        _ => {}
    }
    Ok(())
}

/// `text` with its variables substituted, or `None` if it has none.
fn expand(text: &str, dir: &Path, source: &impl Source) -> Result<Option<String>, Unresolved> {
    if !text.contains("${") {
        return Ok(None);
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        if rest[..start].ends_with('$') {
            // `$${` is a literal `${`.
            out.push_str(&rest[..start - 1]);
            out.push_str("${");
            rest = &rest[start + 2..];
            continue;
        }
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let end = after.find('}').ok_or_else(|| {
            Unresolved::new(
                format!("`{}` has no closing `}}`", truncated(&rest[start..])),
                "write `${NAME}`, `${NAME:-default}` or `${file:PATH}` (`$${` for a literal `${`)",
            )
        })?;
        out.push_str(&resolve(&after[..end], dir, source)?);
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(Some(out))
}

/// The value of the variable written `${inner}`.
fn resolve(inner: &str, dir: &Path, source: &impl Source) -> Result<String, Unresolved> {
    if let Some(path) = inner.strip_prefix("file:") {
        return read_secret(path, dir);
    }
    let (name, default) = match inner.split_once(":-") {
        Some((name, default)) => (name, Some(default)),
        None => (inner, None),
    };
    if !is_name(name) {
        return Err(Unresolved::new(
            format!("`${{{inner}}}` is not a variable"),
            "name an environment variable with letters, digits and `_` (`${PORT}`), or a file \
             (`${file:PATH}`)",
        ));
    }
    match (source.var(name).filter(|value| !value.is_empty()), default) {
        (Some(value), _) => Ok(value),
        (None, Some(default)) => Ok(default.to_owned()),
        (None, None) => Err(Unresolved::new(
            format!("environment variable `{name}` is not set"),
            format!("set `{name}`, or give a default: `${{{name}:-VALUE}}`"),
        )),
    }
}

/// The content of the secret file at `path` (relative to `dir`), without
/// its final line break.
fn read_secret(path: &str, dir: &Path) -> Result<String, Unresolved> {
    let full = dir.join(path);
    let text = std::fs::read_to_string(&full).map_err(|e| {
        Unresolved::new(
            format!("`${{file:{path}}}`: {} cannot be read ({e})", full.display()),
            "check the path (relative to the flow file's directory) and that the runtime may read it",
        )
    })?;
    let text = text.strip_suffix('\n').unwrap_or(&text);
    Ok(text.strip_suffix('\r').unwrap_or(text).to_owned())
}

fn is_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// The start of `text`, short enough for a message.
fn truncated(text: &str) -> String {
    match text.char_indices().nth(40) {
        Some((at, _)) => format!("{}...", &text[..at]),
        None => text.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    struct Vars(HashMap<&'static str, &'static str>);

    impl Source for Vars {
        fn var(&self, name: &str) -> Option<String> {
            self.0.get(name).map(|value| (*value).to_owned())
        }
    }

    fn vars() -> Vars {
        Vars(HashMap::from([
            ("PORT", "9000"),
            ("EMPTY", ""),
            ("NAME", "worker-2"),
        ]))
    }

    fn expanded(text: &str) -> Result<String, Unresolved> {
        expand(text, Path::new("/nonexistent"), &vars()).map(|out| out.unwrap_or(text.to_owned()))
    }

    #[test]
    fn variables_defaults_and_escapes() {
        assert_eq!(expanded("127.0.0.1:${PORT}"), Ok("127.0.0.1:9000".into()));
        assert_eq!(expanded("${NAME}-${PORT}"), Ok("worker-2-9000".into()));
        assert_eq!(expanded("${UNSET:-a:-b}"), Ok("a:-b".into()));
        assert_eq!(
            expanded("${EMPTY:-x}"),
            Ok("x".into()),
            "an empty value takes the default"
        );
        assert_eq!(expanded("${PORT:-1}"), Ok("9000".into()));
        assert_eq!(expanded("cost $5, $${PORT}"), Ok("cost $5, ${PORT}".into()));
        assert_eq!(expanded("no variable"), Ok("no variable".into()));
    }

    #[test]
    fn an_unset_variable_a_bad_name_and_an_open_brace_are_named() {
        let unset = expanded("${UNSET}").unwrap_err();
        assert_eq!(unset.problem, "environment variable `UNSET` is not set");
        assert_eq!(
            unset.fix,
            "set `UNSET`, or give a default: `${UNSET:-VALUE}`"
        );
        assert_eq!(
            expanded("${1X}").unwrap_err().problem,
            "`${1X}` is not a variable"
        );
        assert_eq!(
            expanded("url ${PORT").unwrap_err().problem,
            "`${PORT` has no closing `}`"
        );
    }

    #[test]
    fn a_secret_file_is_read_relative_to_the_flow_file_without_its_line_break() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("token"), "s3cr3t\n").unwrap();
        let out = expand("Bearer ${file:token}", dir.path(), &vars()).unwrap();
        assert_eq!(out.as_deref(), Some("Bearer s3cr3t"));
        let missing = expand("${file:nope}", dir.path(), &vars()).unwrap_err();
        assert!(
            missing.problem.starts_with("`${file:nope}`: "),
            "{}",
            missing.problem
        );
        assert!(
            missing.problem.contains("cannot be read"),
            "{}",
            missing.problem
        );
    }

    #[test]
    fn every_string_of_a_table_is_substituted_and_an_error_names_its_path() {
        let mut value: toml::Value = toml::from_str(
            r#"
            api = "${PORT}"
            [[connector]]
            id = "in"
            config = { url = "tcp://h:${PORT}", list = ["${NAME}"] }
            "#,
        )
        .unwrap();
        let dir = Path::new("/nonexistent");
        substitute(&mut value, &mut String::new(), dir, &vars()).unwrap();
        assert_eq!(value["api"].as_str(), Some("9000"));
        assert_eq!(
            value["connector"][0]["config"]["url"].as_str(),
            Some("tcp://h:9000")
        );
        assert_eq!(
            value["connector"][0]["config"]["list"][0].as_str(),
            Some("worker-2")
        );

        let mut bad: toml::Value =
            toml::from_str("[[connector]]\nid = \"a\"\n[[connector]]\nid = \"${NOPE}\"").unwrap();
        let (path, why) = substitute(&mut bad, &mut String::new(), dir, &vars()).unwrap_err();
        assert_eq!(path, "connector[1].id");
        assert_eq!(why.problem, "environment variable `NOPE` is not set");
    }
}
