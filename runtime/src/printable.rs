//! Text from outside the runtime (file names, connector ids, messages of
//! plugins) made safe for the runtime's one-line messages: a control
//! character, such as a newline in a file name, is written as its escape
//! (`\n`), so that it cannot break a line or a terminal.

use std::borrow::Cow;
use std::path::Path;

/// `text` with its control characters escaped.
#[must_use]
pub fn printable(text: &str) -> Cow<'_, str> {
    if !text.chars().any(char::is_control) {
        return Cow::Borrowed(text);
    }
    let mut escaped = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if c.is_control() {
            escaped.extend(c.escape_default());
        } else {
            escaped.push(c);
        }
    }
    Cow::Owned(escaped)
}

/// `path` as a message shows it: lossy UTF-8, control characters escaped.
#[must_use]
pub fn printable_path(path: &Path) -> String {
    printable(&path.to_string_lossy()).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_are_escaped_and_other_text_is_kept() {
        assert_eq!(printable("plain `id` é"), "plain `id` é");
        assert_eq!(
            printable("two\nlines\tand\u{1b}[31m"),
            "two\\nlines\\tand\\u{1b}[31m"
        );
        assert_eq!(
            printable_path(Path::new("/tmp/evil\nname.so")),
            "/tmp/evil\\nname.so"
        );
    }
}
