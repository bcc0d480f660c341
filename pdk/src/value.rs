//! The rich value that connectors and the runtime exchange.
//!
//! [`Value`] is JSON-like plus raw bytes. Strings and byte buffers are
//! [`beef`] copy-on-write buffers, so `'static` literals cost nothing;
//! objects are [`halfbrown`] maps, which stay a flat vector while they are
//! small. The C-ABI twin used at the plugin boundary lives in
//! [`crate::abi::value`]; authors never see it.

use std::fmt;

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::ser::{Serialize, SerializeMap, SerializeSeq, Serializer};
pub use value_trait::StaticNode;

use abi_stable::std_types::{RString, RVec};

use crate::abi::allocator::{take_string, take_vec};
use crate::abi::value::{PdkEntry, PdkScalar, PdkValue};

/// A string owned by a [`Value`], or borrowed from a `'static` literal.
///
/// # Examples
///
/// ```
/// let borrowed: pdk::Str = "a literal".into();
/// let owned: pdk::Str = String::from("made at run time").into();
/// assert_eq!(borrowed.len() + owned.len(), 25);
/// ```
pub type Str = beef::Cow<'static, str>;

/// A byte buffer owned by a [`Value`], or borrowed from a `'static` literal.
///
/// # Examples
///
/// ```
/// use pdk::Value;
///
/// let bytes: pdk::Bytes = vec![0xde, 0xad].into();
/// assert_eq!(Value::Bytes(bytes).as_bytes(), Some(&[0xde, 0xad][..]));
/// ```
pub type Bytes = beef::Cow<'static, [u8]>;

/// The map type of [`Value::Object`].
///
/// # Examples
///
/// ```
/// use pdk::{Object, Value};
///
/// let mut object = Object::new();
/// object.insert("n".into(), Value::from(1u64));
/// assert_eq!(Value::from(object).get("n").and_then(Value::as_u64), Some(1));
/// ```
pub type Object = halfbrown::HashMap<Str, Value>;

/// A JSON-like value plus raw bytes.
///
/// # Examples
///
/// ```
/// use pdk::Value;
///
/// # fn main() -> Result<(), serde_json::Error> {
/// let mut user = Value::object();
/// user.insert("name", "Ada");
/// user.insert("born", 1815u64);
/// user.insert("languages", vec![Value::from("Analytical Engine")]);
/// assert_eq!(user.get("name").and_then(Value::as_str), Some("Ada"));
/// assert_eq!(user.get("born").and_then(Value::as_u64), Some(1815));
///
/// // JSON in and out:
/// let parsed = Value::from_json_str(&user.to_json_string())?;
/// assert_eq!(parsed, user);
/// assert!(Value::from(()).is_null());
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// `null`, booleans and numbers.
    Static(StaticNode),
    /// A UTF-8 string.
    String(Str),
    /// An ordered list of values.
    Array(Vec<Value>),
    /// A map from string keys to values.
    Object(Box<Object>),
    /// Raw bytes (for example a payload no codec has decoded).
    Bytes(Bytes),
}

impl Default for Value {
    fn default() -> Self {
        Self::NULL
    }
}

impl Value {
    /// The `null` value.
    pub const NULL: Self = Self::Static(StaticNode::Null);

    /// An empty object, ready to be filled with [`Value::insert`].
    #[must_use]
    pub fn object() -> Self {
        Self::Object(Box::default())
    }

    /// Inserts `value` under `key` if `self` is an object; returns the value
    /// previously stored under that key. Does nothing on other variants.
    pub fn insert(&mut self, key: impl Into<Str>, value: impl Into<Value>) -> Option<Value> {
        match self {
            Self::Object(map) => map.insert(key.into(), value.into()),
            _ => None,
        }
    }

    /// The value stored under `key`, if `self` is an object holding it.
    #[must_use]
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.as_object().and_then(|map| map.get(key))
    }

    /// `true` for `null`.
    #[must_use]
    pub fn is_null(&self) -> bool {
        matches!(self, Self::Static(StaticNode::Null))
    }

    /// The string, if `self` is one.
    #[must_use]
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Self::String(s) => Some(s),
            _ => None,
        }
    }

    /// The boolean, if `self` is one.
    #[must_use]
    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Self::Static(StaticNode::Bool(b)) => Some(*b),
            _ => None,
        }
    }

    /// The number as `u64`, if `self` is an integer that fits.
    #[must_use]
    pub fn as_u64(&self) -> Option<u64> {
        match self {
            Self::Static(StaticNode::U64(n)) => Some(*n),
            Self::Static(StaticNode::I64(n)) => u64::try_from(*n).ok(),
            _ => None,
        }
    }

    /// The number as `i64`, if `self` is an integer that fits.
    #[must_use]
    pub fn as_i64(&self) -> Option<i64> {
        match self {
            Self::Static(StaticNode::I64(n)) => Some(*n),
            Self::Static(StaticNode::U64(n)) => i64::try_from(*n).ok(),
            _ => None,
        }
    }

    /// The number as `f64`, if `self` is a number.
    #[must_use]
    #[allow(clippy::cast_precision_loss)] // JSON numbers are f64 by nature
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Self::Static(StaticNode::F64(n)) => Some(*n),
            Self::Static(StaticNode::I64(n)) => Some(*n as f64),
            Self::Static(StaticNode::U64(n)) => Some(*n as f64),
            _ => None,
        }
    }

    /// The elements, if `self` is an array.
    #[must_use]
    pub fn as_array(&self) -> Option<&Vec<Value>> {
        match self {
            Self::Array(a) => Some(a),
            _ => None,
        }
    }

    /// The map, if `self` is an object.
    #[must_use]
    pub fn as_object(&self) -> Option<&Object> {
        match self {
            Self::Object(o) => Some(o),
            _ => None,
        }
    }

    /// The bytes, if `self` is a byte buffer.
    #[must_use]
    pub fn as_bytes(&self) -> Option<&[u8]> {
        match self {
            Self::Bytes(b) => Some(b),
            _ => None,
        }
    }

    /// Serializes `self` as one line of JSON (bytes become arrays of numbers).
    #[must_use]
    pub fn to_json_string(&self) -> String {
        // Serializing a `Value` cannot fail: every key is a string and every
        // float that JSON cannot hold is written as `null` by serde_json.
        serde_json::to_string(self).unwrap_or_else(|_| String::from("null"))
    }

    /// What a line-oriented sink writes for this value: bytes as they are,
    /// a string as its UTF-8 text, anything else as one line of JSON.
    #[must_use]
    pub fn to_payload(&self) -> Vec<u8> {
        match self {
            Self::Bytes(b) => b.to_vec(),
            Self::String(s) => s.as_bytes().to_vec(),
            other => other.to_json_string().into_bytes(),
        }
    }

    /// Parses one JSON document.
    ///
    /// # Errors
    /// If `text` is not valid JSON.
    pub fn from_json_str(text: &str) -> serde_json::Result<Self> {
        serde_json::from_str(text)
    }
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_json_string())
    }
}

impl From<StaticNode> for Value {
    fn from(node: StaticNode) -> Self {
        Self::Static(node)
    }
}

impl From<bool> for Value {
    fn from(b: bool) -> Self {
        Self::Static(StaticNode::Bool(b))
    }
}

impl From<()> for Value {
    fn from((): ()) -> Self {
        Self::NULL
    }
}

macro_rules! from_number {
    ($($ty:ty => $variant:ident as $as:ty),* $(,)?) => {
        $(impl From<$ty> for Value {
            fn from(n: $ty) -> Self {
                Self::Static(StaticNode::$variant(<$as>::from(n)))
            }
        })*
    };
}

from_number!(
    u8 => U64 as u64, u16 => U64 as u64, u32 => U64 as u64, u64 => U64 as u64,
    i8 => I64 as i64, i16 => I64 as i64, i32 => I64 as i64, i64 => I64 as i64,
    f32 => F64 as f64, f64 => F64 as f64,
);

impl From<&'static str> for Value {
    fn from(s: &'static str) -> Self {
        Self::String(Str::borrowed(s))
    }
}

impl From<String> for Value {
    fn from(s: String) -> Self {
        Self::String(Str::owned(s))
    }
}

impl From<Str> for Value {
    fn from(s: Str) -> Self {
        Self::String(s)
    }
}

impl From<Vec<u8>> for Value {
    fn from(b: Vec<u8>) -> Self {
        Self::Bytes(Bytes::owned(b))
    }
}

impl From<Vec<Value>> for Value {
    fn from(a: Vec<Value>) -> Self {
        Self::Array(a)
    }
}

impl From<Object> for Value {
    fn from(o: Object) -> Self {
        Self::Object(Box::new(o))
    }
}

impl<T: Into<Value>> From<Option<T>> for Value {
    fn from(o: Option<T>) -> Self {
        o.map_or(Self::NULL, Into::into)
    }
}

impl Serialize for Value {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Self::Static(StaticNode::Null) => serializer.serialize_unit(),
            Self::Static(StaticNode::Bool(b)) => serializer.serialize_bool(*b),
            Self::Static(StaticNode::I64(n)) => serializer.serialize_i64(*n),
            Self::Static(StaticNode::U64(n)) => serializer.serialize_u64(*n),
            Self::Static(StaticNode::F64(n)) => serializer.serialize_f64(*n),
            Self::String(s) => serializer.serialize_str(s),
            Self::Bytes(b) => {
                let mut seq = serializer.serialize_seq(Some(b.len()))?;
                for byte in b.iter() {
                    seq.serialize_element(byte)?;
                }
                seq.end()
            }
            Self::Array(a) => {
                let mut seq = serializer.serialize_seq(Some(a.len()))?;
                for v in a {
                    seq.serialize_element(v)?;
                }
                seq.end()
            }
            Self::Object(o) => {
                let mut map = serializer.serialize_map(Some(o.len()))?;
                for (k, v) in o.iter() {
                    map.serialize_entry(k.as_ref(), v)?;
                }
                map.end()
            }
        }
    }
}

impl<'de> Deserialize<'de> for Value {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(ValueVisitor)
    }
}

/// Builds a [`Value`] from any self-describing serde format.
struct ValueVisitor;

impl<'de> Visitor<'de> for ValueVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON-like value")
    }

    fn visit_unit<E: de::Error>(self) -> Result<Value, E> {
        Ok(Value::NULL)
    }

    fn visit_none<E: de::Error>(self) -> Result<Value, E> {
        Ok(Value::NULL)
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        Value::deserialize(d)
    }

    fn visit_bool<E: de::Error>(self, b: bool) -> Result<Value, E> {
        Ok(Value::from(b))
    }

    fn visit_i64<E: de::Error>(self, n: i64) -> Result<Value, E> {
        Ok(Value::from(n))
    }

    fn visit_u64<E: de::Error>(self, n: u64) -> Result<Value, E> {
        Ok(Value::from(n))
    }

    fn visit_f64<E: de::Error>(self, n: f64) -> Result<Value, E> {
        Ok(Value::from(n))
    }

    fn visit_str<E: de::Error>(self, s: &str) -> Result<Value, E> {
        Ok(Value::from(s.to_owned()))
    }

    fn visit_string<E: de::Error>(self, s: String) -> Result<Value, E> {
        Ok(Value::from(s))
    }

    fn visit_bytes<E: de::Error>(self, b: &[u8]) -> Result<Value, E> {
        Ok(Value::from(b.to_vec()))
    }

    fn visit_byte_buf<E: de::Error>(self, b: Vec<u8>) -> Result<Value, E> {
        Ok(Value::from(b))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut array = Vec::with_capacity(seq.size_hint().unwrap_or(0));
        while let Some(element) = seq.next_element()? {
            array.push(element);
        }
        Ok(Value::Array(array))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut object = Object::with_capacity(map.size_hint().unwrap_or(0));
        while let Some((key, value)) = map.next_entry::<String, Value>()? {
            object.insert(Str::owned(key), value);
        }
        Ok(Value::from(object))
    }
}

// The conversions to and from the C-ABI form: strings, arrays and byte
// buffers move their heap buffers across instead of copying them; only
// `'static` borrowed literals are copied once.

fn scalar_to_ffi(node: StaticNode) -> PdkScalar {
    use value_trait::base::ValueAsScalar as _;
    // value-trait's `128bit` feature, which any crate of the build may turn
    // on, adds 128-bit variants: they cross as the closest 64-bit number.
    #[allow(unreachable_patterns)]
    match node {
        StaticNode::Null => PdkScalar::Null,
        StaticNode::Bool(b) => PdkScalar::Bool(b),
        StaticNode::I64(n) => PdkScalar::I64(n),
        StaticNode::U64(n) => PdkScalar::U64(n),
        StaticNode::F64(n) => PdkScalar::F64(n),
        other => other
            .as_u64()
            .map(PdkScalar::U64)
            .or_else(|| other.as_i64().map(PdkScalar::I64))
            .unwrap_or_else(|| PdkScalar::F64(other.cast_f64().unwrap_or(f64::NAN))),
    }
}

fn scalar_from_ffi(scalar: PdkScalar) -> StaticNode {
    match scalar {
        PdkScalar::Null => StaticNode::Null,
        PdkScalar::Bool(b) => StaticNode::Bool(b),
        PdkScalar::I64(n) => StaticNode::I64(n),
        PdkScalar::U64(n) => StaticNode::U64(n),
        PdkScalar::F64(n) => StaticNode::F64(n),
    }
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
            Value::Static(node) => Self::Static(scalar_to_ffi(node)),
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
            PdkValue::Static(scalar) => Self::Static(scalar_from_ffi(scalar)),
            PdkValue::String(s) => Self::String(Str::owned(take_string(s))),
            PdkValue::Array(array) => Self::Array(array.into_iter().map(Self::from).collect()),
            PdkValue::Object(entries) => {
                let mut object = Object::with_capacity(entries.len());
                for PdkEntry { key, value } in entries {
                    object.insert(Str::owned(take_string(key)), Self::from(value));
                }
                Self::Object(Box::new(object))
            }
            PdkValue::Bytes(b) => Self::Bytes(Bytes::owned(take_vec(b))),
        }
    }
}

impl From<&PdkValue> for Value {
    /// A copy of the payload as a [`Value`] (the payload stays).
    fn from(value: &PdkValue) -> Self {
        match value {
            PdkValue::Static(scalar) => Self::Static(scalar_from_ffi(*scalar)),
            PdkValue::String(s) => Self::String(Str::owned(s.as_str().to_owned())),
            PdkValue::Array(array) => Self::Array(array.iter().map(Self::from).collect()),
            PdkValue::Object(entries) => {
                let mut object = Object::with_capacity(entries.len());
                for PdkEntry { key, value } in entries.iter() {
                    object.insert(Str::owned(key.as_str().to_owned()), Self::from(value));
                }
                Self::Object(Box::new(object))
            }
            PdkValue::Bytes(b) => Self::Bytes(Bytes::owned(b.to_vec())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_scalar_crosses_as_pdks_own_and_back() {
        let scalars = [
            Value::NULL,
            Value::from(true),
            Value::from(-3_i64),
            Value::from(u64::MAX),
            Value::from(0.5_f64),
        ];
        let crossed: Vec<PdkValue> = scalars.iter().cloned().map(PdkValue::from).collect();
        assert_eq!(
            crossed,
            [
                PdkValue::Static(PdkScalar::Null),
                PdkValue::Static(PdkScalar::Bool(true)),
                PdkValue::Static(PdkScalar::I64(-3)),
                PdkValue::Static(PdkScalar::U64(u64::MAX)),
                PdkValue::Static(PdkScalar::F64(0.5)),
            ]
        );
        let back: Vec<Value> = crossed.into_iter().map(Value::from).collect();
        assert_eq!(back, scalars);
    }

    #[test]
    fn json_round_trip_keeps_every_kind() {
        let text = r#"{"a":1,"b":-2,"c":1.5,"d":"x","e":[true,null],"f":{"g":[]}}"#;
        let value = Value::from_json_str(text).unwrap();
        assert_eq!(value.get("a").and_then(Value::as_u64), Some(1));
        assert_eq!(value.get("b").and_then(Value::as_i64), Some(-2));
        assert_eq!(value.get("c").and_then(Value::as_f64), Some(1.5));
        assert_eq!(value.get("d").and_then(Value::as_str), Some("x"));
        let again = Value::from_json_str(&value.to_json_string()).unwrap();
        assert_eq!(again, value);
    }

    #[test]
    fn bytes_serialize_as_number_arrays() {
        assert_eq!(Value::from(vec![1u8, 255]).to_json_string(), "[1,255]");
    }

    #[test]
    fn payloads_keep_text_and_bytes_and_encode_the_rest() {
        assert_eq!(Value::from("a b").to_payload(), b"a b");
        assert_eq!(Value::from(vec![0u8, 1]).to_payload(), [0, 1]);
        let mut object = Value::object();
        object.insert("k", "v");
        assert_eq!(object.to_payload(), br#"{"k":"v"}"#);
    }

    #[test]
    fn insert_only_touches_objects() {
        let mut object = Value::object();
        assert_eq!(object.insert("k", 1u64), None);
        assert_eq!(object.insert("k", 2u64), Some(Value::from(1u64)));
        let mut not_object = Value::from(true);
        assert_eq!(not_object.insert("k", 1u64), None);
        assert_eq!(not_object, Value::from(true));
    }
}

#[cfg(test)]
mod conversion_tests {
    use super::Value;
    use crate::abi::value::PdkValue;

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
    fn decoding_into_either_form_gives_the_same_value() {
        let text = r#"{"a":[1,-2,1.5,"s",null,true],"b":{"c":{}}}"#;
        let direct: PdkValue = serde_json::from_str(text).unwrap();
        let through_value = PdkValue::from(Value::from_json_str(text).unwrap());
        assert_eq!(direct, through_value);
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
