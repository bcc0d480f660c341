//! Codecs: how the raw bytes a source produces become an event's value,
//! chosen per connector in the flow file (`codec = "json"` by default).

use pdk::abi::value::PdkValue;
use pdk::Value;
use serde::Deserialize;

/// A codec name from the flow file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
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
    /// Decodes one payload into a value.
    ///
    /// # Errors
    /// A message saying why the payload is not valid for this codec.
    pub fn decode(self, mut data: Vec<u8>) -> Result<Value, String> {
        match self {
            Self::Json => simd_json::serde::from_slice::<Value>(&mut data)
                .map_err(|e| format!("not valid JSON: {e}")),
            Self::String => String::from_utf8(data)
                .map(Value::from)
                .map_err(|e| format!("not valid UTF-8: {e}")),
            Self::Binary => Ok(Value::from(data)),
        }
    }

    /// Decodes one payload straight into the C-ABI form, for events that
    /// go only to plugins: no [`Value`] is built on the way.
    ///
    /// # Errors
    /// A message saying why the payload is not valid for this codec.
    pub fn decode_ffi(self, mut data: Vec<u8>) -> Result<PdkValue, String> {
        match self {
            Self::Json => simd_json::serde::from_slice::<PdkValue>(&mut data)
                .map_err(|e| format!("not valid JSON: {e}")),
            Self::String => String::from_utf8(data)
                .map(|s| PdkValue::String(s.into()))
                .map_err(|e| format!("not valid UTF-8: {e}")),
            Self::Binary => Ok(PdkValue::Bytes(data.into())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_decodes_documents() {
        let value = Codec::Json.decode(br#"{"a":[1,"x"]}"#.to_vec()).unwrap();
        assert_eq!(value.to_json_string(), r#"{"a":[1,"x"]}"#);
    }

    #[test]
    fn both_forms_decode_the_same_payload() {
        for (codec, payload) in [
            (Codec::Json, br#"{"a":[1,{"b":null}]}"#.to_vec()),
            (Codec::String, b"text".to_vec()),
            (Codec::Binary, vec![0, 255]),
        ] {
            let value = codec.decode(payload.clone()).unwrap();
            let ffi = codec.decode_ffi(payload).unwrap();
            assert_eq!(PdkValue::from(value), ffi, "{codec:?}");
        }
    }

    #[test]
    fn json_rejects_garbage() {
        assert!(Codec::Json
            .decode(b"{nope".to_vec())
            .unwrap_err()
            .starts_with("not valid JSON"));
    }

    #[test]
    fn string_and_binary_keep_the_payload() {
        assert_eq!(
            Codec::String.decode(b"hi".to_vec()).unwrap(),
            Value::from("hi")
        );
        assert_eq!(
            Codec::Binary.decode(vec![0, 255]).unwrap(),
            Value::from(vec![0u8, 255])
        );
        assert!(Codec::String.decode(vec![0xff]).is_err());
    }
}
