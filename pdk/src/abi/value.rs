//! `PdkValue`, the C-ABI twin of [`Value`], and the conversions both ways.
//!
//! Strings, arrays and byte buffers move their heap buffers across instead
//! of copying them; only `'static` borrowed literals are copied once.

use abi_stable::std_types::{RString, RVec};
use abi_stable::StableAbi;

use crate::value::{Bytes, Object, StaticNode, Str, Value};

/// The C-ABI form of [`Value`]; exists only at the plugin boundary.
#[repr(C)]
#[derive(Debug, Clone, PartialEq, StableAbi)]
pub enum PdkValue {
    /// `null`, booleans and numbers.
    Static(StaticNode),
    /// A UTF-8 string.
    String(RString),
    /// An ordered list of values.
    Array(RVec<PdkValue>),
    /// A map, as its entries in iteration order.
    Object(RVec<PdkEntry>),
    /// Raw bytes.
    Bytes(RVec<u8>),
}

/// One key/value pair of [`PdkValue::Object`].
#[repr(C)]
#[derive(Debug, Clone, PartialEq, StableAbi)]
pub struct PdkEntry {
    /// The key.
    pub key: RString,
    /// The value.
    pub value: PdkValue,
}

fn str_to_ffi(s: Str) -> RString {
    RString::from(s.into_owned())
}

fn bytes_to_ffi(b: Bytes) -> RVec<u8> {
    RVec::from(b.into_owned())
}

impl From<Value> for PdkValue {
    fn from(value: Value) -> Self {
        match value {
            Value::Static(node) => Self::Static(node),
            Value::String(s) => Self::String(str_to_ffi(s)),
            Value::Array(array) => Self::Array(array.into_iter().map(Self::from).collect()),
            Value::Object(object) => Self::Object(
                object
                    .into_iter()
                    .map(|(key, value)| PdkEntry {
                        key: str_to_ffi(key),
                        value: Self::from(value),
                    })
                    .collect(),
            ),
            Value::Bytes(b) => Self::Bytes(bytes_to_ffi(b)),
        }
    }
}

impl From<PdkValue> for Value {
    fn from(value: PdkValue) -> Self {
        match value {
            PdkValue::Static(node) => Self::Static(node),
            PdkValue::String(s) => Self::String(Str::owned(s.into_string())),
            PdkValue::Array(array) => Self::Array(array.into_iter().map(Self::from).collect()),
            PdkValue::Object(entries) => {
                let mut object = Object::with_capacity(entries.len());
                for PdkEntry { key, value } in entries {
                    object.insert(Str::owned(key.into_string()), Self::from(value));
                }
                Self::Object(Box::new(object))
            }
            PdkValue::Bytes(b) => Self::Bytes(Bytes::owned(b.into_vec())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_survives_the_round_trip() {
        let mut inner = Value::object();
        inner.insert("bytes", vec![0u8, 7, 255]);
        inner.insert(
            "list",
            vec![Value::from(1u64), Value::from(-1i64), Value::NULL],
        );
        let mut value = Value::object();
        inner.insert("float", 2.5f64);
        value.insert("inner", inner);
        value.insert("static", "literal");
        value.insert("owned", String::from("owned"));
        value.insert("flag", true);
        let back = Value::from(PdkValue::from(value.clone()));
        assert_eq!(back, value);
    }

    #[test]
    fn owned_strings_move_their_buffer() {
        let s = String::from("no copy");
        let ptr = s.as_ptr();
        let PdkValue::String(ffi) = PdkValue::from(Value::from(s)) else {
            panic!("a string must stay a string");
        };
        assert_eq!(ffi.as_ptr(), ptr);
    }
}
