//! Codecs: how the raw bytes a source produces become an event's value,
//! chosen per connector in the flow file (`codec = "json"` by default).

mod tape;

use std::cell::RefCell;

use pdk::abi::value::PdkValue;
use serde::{Deserialize, Serialize};
use simd_json::{Node, Tape};

use tape::Cursor;
pub use tape::Malformed;

/// Why a payload is not valid for its codec.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    /// Not a JSON document (`codec = "json"`).
    #[error("not valid JSON: {0}")]
    Json(#[from] JsonProblem),
    /// Not UTF-8 text (`codec = "string"`).
    #[error("not valid UTF-8: {0}")]
    Utf8(std::str::Utf8Error),
}

/// What is wrong with a JSON document.
#[derive(Debug, thiserror::Error)]
pub enum JsonProblem {
    /// simd-json rejected it.
    #[error("{0}")]
    Syntax(Box<simd_json::Error>),
    /// simd-json accepted it, but its values cannot be read.
    #[error(transparent)]
    Malformed(#[from] Malformed),
}

/// A codec name from the flow file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Codec {
    /// One JSON document per payload (parsed with simd-json).
    #[default]
    Json,
    /// The payload as a UTF-8 string.
    String,
    /// The payload as bytes, untouched.
    Binary,
}

impl Codec {
    /// A decoder for this codec, which keeps its buffers from one payload
    /// to the next.
    #[must_use]
    pub fn decoder(self) -> Decoder {
        Decoder {
            codec: self,
            buffers: simd_json::Buffers::default(),
            nodes: Vec::new(),
        }
    }

    /// Decodes one payload into the C-ABI form every sink reads.
    ///
    /// # Errors
    /// Why the payload is not valid for this codec.
    pub fn decode(self, data: Vec<u8>) -> Result<PdkValue, DecodeError> {
        self.decoder().decode(data)
    }

    /// Decodes bytes a plugin hands over through its runtime handle, the
    /// error in the form the plugin reads.
    #[must_use]
    pub fn decode_for_plugin(
        self,
        data: abi_stable::std_types::RVec<u8>,
    ) -> abi_stable::std_types::RResult<PdkValue, pdk::abi::error::PdkError> {
        let data = pdk::abi::allocator::take_vec(data);
        let decoded = match self {
            Self::Json => PLUGIN_JSON.with_borrow_mut(|decoder| {
                let large = data.len() > REUSED_UP_TO;
                let decoded = decoder.decode(data);
                if large {
                    // Buffers never shrink: a thread does not keep a
                    // large payload's for good.
                    *decoder = Self::Json.decoder();
                }
                decoded
            }),
            other => other.decode(data),
        };
        decoded
            .map_err(|problem| {
                pdk::abi::error::PdkError::from(pdk::Error::msg(problem.to_string()))
            })
            .into()
    }
}

/// Payloads up to this size leave their buffers to the next payload a
/// plugin decodes on the same thread.
const REUSED_UP_TO: usize = 64 * 1024;

thread_local! {
    /// The JSON decoder for the payloads plugins hand over through their
    /// runtime handle on this thread, so that its buffers are reused as a
    /// source's own decoder's are (a fresh one allocates them for every
    /// payload).
    static PLUGIN_JSON: RefCell<Decoder> = RefCell::new(Codec::Json.decoder());
}

/// Decodes payloads with one codec, reusing simd-json's buffers and tape
/// from one payload to the next.
pub struct Decoder {
    codec: Codec,
    buffers: simd_json::Buffers,
    /// The tape's storage, empty between payloads.
    nodes: Vec<Node<'static>>,
}

impl Decoder {
    /// Decodes one payload into the C-ABI form every sink reads: no
    /// [`pdk::Value`] is built on the way.
    ///
    /// # Errors
    /// Why the payload is not valid for this codec.
    pub fn decode(&mut self, mut data: Vec<u8>) -> Result<PdkValue, DecodeError> {
        match self.codec {
            Codec::Json => Ok(self.json(&mut data)?),
            Codec::String => String::from_utf8(data)
                .map(|s| PdkValue::String(s.into()))
                .map_err(|e| DecodeError::Utf8(e.utf8_error())),
            Codec::Binary => Ok(PdkValue::Bytes(data.into())),
        }
    }

    /// Parses `data` into the reused tape and builds its value.
    fn json(&mut self, data: &mut [u8]) -> Result<PdkValue, JsonProblem> {
        let mut tape = Tape(std::mem::take(&mut self.nodes)).reset();
        let built = match simd_json::fill_tape(data, &mut self.buffers, &mut tape) {
            Ok(()) => Cursor::new(&tape.0).value().map_err(JsonProblem::from),
            Err(error) => Err(JsonProblem::Syntax(Box::new(error))),
        };
        self.nodes = tape.reset().0;
        built
    }
}

#[cfg(test)]
mod tests {
    use pdk::Value;

    use super::*;

    /// What `payload` decodes to through serde, the reference.
    fn through_serde(payload: &str) -> Option<PdkValue> {
        simd_json::serde::from_slice::<Value>(&mut payload.as_bytes().to_vec())
            .ok()
            .map(PdkValue::from)
    }

    #[test]
    fn json_decodes_documents() {
        let text = r#"{"a":[1,"x",-2,1.5,null,true],"b":{"c":{}}}"#;
        let value = Codec::Json.decode(text.as_bytes().to_vec()).unwrap();
        assert_eq!(Some(value), through_serde(text));
    }

    #[test]
    fn one_decoder_decodes_many_payloads_of_any_size() {
        let mut decoder = Codec::Json.decoder();
        for payload in [
            r#"{"small":1}"#.to_owned(),
            format!(r#"{{"big":"{}","list":[1,2,3]}}"#, "x".repeat(10_000)),
            "[]".to_owned(),
            r#"{"nope"#.to_owned(),
            r#""after an error""#.to_owned(),
        ] {
            let decoded = decoder.decode(payload.clone().into_bytes()).ok();
            assert_eq!(decoded, through_serde(&payload), "{payload:.40}");
        }
    }

    #[test]
    fn payloads_plugins_hand_over_decode_alike_on_one_thread_and_on_many() {
        let payloads = [
            r#"{"small":1}"#.to_owned(),
            format!(r#"{{"large":"{}"}}"#, "x".repeat(2 * REUSED_UP_TO)),
            r#"{"nope"#.to_owned(),
            r#"[1,"after a large one and an error"]"#.to_owned(),
        ];
        let decode_all = || {
            payloads
                .iter()
                .map(|payload| {
                    Codec::Json
                        .decode_for_plugin(payload.clone().into_bytes().into())
                        .into_result()
                        .ok()
                })
                .collect::<Vec<_>>()
        };
        let expected: Vec<_> = payloads.iter().map(|p| through_serde(p)).collect();
        assert_eq!(decode_all(), expected);
        assert_eq!(decode_all(), expected, "again, with the reused buffers");
        let elsewhere = std::thread::scope(|scope| scope.spawn(decode_all).join().unwrap());
        assert_eq!(elsewhere, expected);
        let text = Codec::String.decode_for_plugin(b"plain".to_vec().into());
        assert_eq!(
            text.into_result().ok(),
            Some(PdkValue::from(Value::from("plain")))
        );
    }

    #[test]
    fn a_document_nested_too_deeply_is_an_error_not_a_stack_overflow() {
        let depth = 200_000;
        let deep = format!("{}{}", "[".repeat(depth), "]".repeat(depth));
        let problem = Codec::Json.decode(deep.into_bytes()).unwrap_err();
        assert!(
            matches!(
                problem,
                DecodeError::Json(JsonProblem::Malformed(Malformed::TooDeep))
            ),
            "{problem}"
        );
        assert_eq!(
            problem.to_string(),
            "not valid JSON: arrays and objects nest deeper than 1024 levels"
        );
        let nested = format!("{}1{}", r#"{"a":"#.repeat(1000), "}".repeat(1000));
        assert!(Codec::Json.decode(nested.into_bytes()).is_ok());
    }

    #[test]
    fn json_rejects_garbage() {
        let problem = Codec::Json.decode(b"{nope".to_vec()).unwrap_err();
        assert!(
            matches!(problem, DecodeError::Json(JsonProblem::Syntax(_))),
            "{problem}"
        );
        assert!(
            problem.to_string().starts_with("not valid JSON: "),
            "{problem}"
        );
    }

    #[test]
    fn string_and_binary_keep_the_payload() {
        assert_eq!(
            Codec::String.decode(b"hi".to_vec()).unwrap(),
            PdkValue::from(Value::from("hi"))
        );
        assert_eq!(
            Codec::Binary.decode(vec![0, 255]).unwrap(),
            PdkValue::from(Value::from(vec![0u8, 255]))
        );
        assert!(Codec::String.decode(vec![0xff]).is_err());
    }
}
