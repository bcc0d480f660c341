//! Building an event's payload in the C-ABI form every sink reads
//! ([`PdkValue`]), for a source that replies
//! [`SourceReply::Payload`](crate::SourceReply::Payload) around pieces
//! already in that form, such as a body from
//! [`ConnectorContext::decode_payload`](crate::ConnectorContext::decode_payload):
//! nothing is converted, where a [`Value`](crate::Value) event would be
//! converted once more as it leaves the plugin.
//!
//! ```
//! use pdk::payload::{self, NULL};
//!
//! let event = payload::object([
//!     ("status", payload::unsigned(200)),
//!     ("headers", payload::headers([("accept", &b"a"[..]), ("accept", b"b"), ("host", b"h")])),
//!     ("body", NULL),
//! ]);
//! let value = pdk::Value::from(event);
//! assert_eq!(value.get("status").and_then(pdk::Value::as_u64), Some(200));
//! assert_eq!(value.get("headers").and_then(|h| h.get("host")).and_then(pdk::Value::as_str), Some("h"));
//! ```

pub use pdk_abi::value::{PdkEntry, PdkScalar, PdkValue};

/// `null`.
pub const NULL: PdkValue = PdkValue::Static(PdkScalar::Null);

/// A string.
#[must_use]
pub fn text(text: &str) -> PdkValue {
    PdkValue::String(text.into())
}

/// An unsigned integer.
#[must_use]
pub fn unsigned(number: u64) -> PdkValue {
    PdkValue::Static(PdkScalar::U64(number))
}

/// An object of `entries`, in their order.
#[must_use]
pub fn object<'a>(entries: impl IntoIterator<Item = (&'a str, PdkValue)>) -> PdkValue {
    PdkValue::Object(
        entries
            .into_iter()
            .map(|(key, value)| PdkEntry {
                key: key.into(),
                value,
            })
            .collect(),
    )
}

/// Headers (HTTP's, or any named values where a name may repeat) as an
/// object from each name to its value as text, or to the list of its
/// values when the name repeats; the values of a name come one after the
/// other (as `http::HeaderMap::iter` yields them). Bytes that are not
/// UTF-8 are replaced.
#[must_use]
pub fn headers<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a [u8])>) -> PdkValue {
    let mut entries: Vec<PdkEntry> = Vec::new();
    for (name, value) in pairs {
        let value = PdkValue::String(match std::str::from_utf8(value) {
            Ok(text) => text.into(),
            Err(_) => String::from_utf8_lossy(value).into_owned().into(),
        });
        match entries.last_mut() {
            Some(last) if last.key.as_str() == name => match &mut last.value {
                PdkValue::Array(values) => values.push(value),
                first => {
                    let first = std::mem::replace(first, NULL);
                    last.value = PdkValue::Array(vec![first, value].into());
                }
            },
            _ => entries.push(PdkEntry {
                key: name.into(),
                value,
            }),
        }
    }
    PdkValue::Object(entries.into())
}

#[cfg(test)]
mod tests {
    use super::{headers, object, text, unsigned, NULL};
    use crate::Value;

    #[test]
    fn a_payload_built_in_the_c_abi_form_reads_as_the_same_value() {
        let built = Value::from(object([
            ("n", unsigned(7)),
            ("s", text("é")),
            ("none", NULL),
            (
                "headers",
                headers([
                    ("accept", &b"a"[..]),
                    ("accept", b"b"),
                    ("accept", b"c"),
                    ("host", b"h"),
                    ("x-raw", b"caf\xe9"),
                ]),
            ),
        ]));
        let mut headers = Value::object();
        headers.insert(
            "accept",
            vec![Value::from("a"), Value::from("b"), Value::from("c")],
        );
        headers.insert("host", "h");
        headers.insert("x-raw", "caf\u{fffd}");
        let mut want = Value::object();
        want.insert("n", 7u64);
        want.insert("s", "é");
        want.insert("none", Value::NULL);
        want.insert("headers", headers);
        assert_eq!(built, want);
    }
}
