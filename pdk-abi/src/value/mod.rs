//! `PdkValue`, the C-ABI twin of `pdk::Value` (which converts to and from
//! it, moving heap buffers instead of copying them).

mod access;

use std::fmt;

use abi_stable::std_types::{RString, RVec};
use abi_stable::StableAbi;
use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::ser::{Serialize, SerializeMap, Serializer};

pub use access::{PdkArray, PdkObject};

/// The C-ABI form of `pdk::Value`; exists only at the plugin boundary.
#[repr(C)]
#[derive(Debug, Clone, PartialEq, StableAbi)]
pub enum PdkValue {
    /// `null`, booleans and numbers.
    Static(PdkScalar),
    /// A UTF-8 string.
    String(RString),
    /// An ordered list of values.
    Array(RVec<PdkValue>),
    /// A map, as its entries in iteration order.
    Object(RVec<PdkEntry>),
    /// Raw bytes.
    Bytes(RVec<u8>),
}

/// `null`, a boolean or a number, as it crosses the boundary. PDK's own
/// type: value-trait's `StaticNode` changes its shape with that crate's
/// features (`128bit`), which any crate of a plugin may turn on.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, StableAbi)]
pub enum PdkScalar {
    /// `null`.
    Null,
    /// `true` or `false`.
    Bool(bool),
    /// A signed integer.
    I64(i64),
    /// An unsigned integer.
    U64(u64),
    /// A floating-point number.
    F64(f64),
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

impl Serialize for PdkValue {
    /// Serializes exactly as the `pdk::Value` it stands for would.
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Self::Static(PdkScalar::Null) => serializer.serialize_unit(),
            Self::Static(PdkScalar::Bool(b)) => serializer.serialize_bool(*b),
            Self::Static(PdkScalar::I64(n)) => serializer.serialize_i64(*n),
            Self::Static(PdkScalar::U64(n)) => serializer.serialize_u64(*n),
            Self::Static(PdkScalar::F64(n)) => serializer.serialize_f64(*n),
            Self::String(s) => serializer.serialize_str(s),
            Self::Bytes(b) => serializer.collect_seq(b.iter()),
            Self::Array(a) => serializer.collect_seq(a.iter()),
            Self::Object(entries) => {
                let mut map = serializer.serialize_map(Some(entries.len()))?;
                for PdkEntry { key, value } in entries.iter() {
                    map.serialize_entry(key.as_str(), value)?;
                }
                map.end()
            }
        }
    }
}

impl<'de> Deserialize<'de> for PdkValue {
    /// Decodes straight into the C-ABI form, for payloads that go to a
    /// plugin: no `pdk::Value` is built on the way.
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(PdkValueVisitor)
    }
}

/// Builds a [`PdkValue`] from any self-describing serde format.
struct PdkValueVisitor;

impl<'de> Visitor<'de> for PdkValueVisitor {
    type Value = PdkValue;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON-like value")
    }

    fn visit_unit<E: de::Error>(self) -> Result<PdkValue, E> {
        Ok(PdkValue::Static(PdkScalar::Null))
    }

    fn visit_none<E: de::Error>(self) -> Result<PdkValue, E> {
        self.visit_unit()
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<PdkValue, D::Error> {
        PdkValue::deserialize(d)
    }

    fn visit_bool<E: de::Error>(self, b: bool) -> Result<PdkValue, E> {
        Ok(PdkValue::Static(PdkScalar::Bool(b)))
    }

    fn visit_i64<E: de::Error>(self, n: i64) -> Result<PdkValue, E> {
        Ok(PdkValue::Static(PdkScalar::I64(n)))
    }

    fn visit_u64<E: de::Error>(self, n: u64) -> Result<PdkValue, E> {
        Ok(PdkValue::Static(PdkScalar::U64(n)))
    }

    fn visit_f64<E: de::Error>(self, n: f64) -> Result<PdkValue, E> {
        Ok(PdkValue::Static(PdkScalar::F64(n)))
    }

    fn visit_str<E: de::Error>(self, s: &str) -> Result<PdkValue, E> {
        Ok(PdkValue::String(RString::from(s)))
    }

    fn visit_string<E: de::Error>(self, s: String) -> Result<PdkValue, E> {
        Ok(PdkValue::String(RString::from(s)))
    }

    fn visit_bytes<E: de::Error>(self, b: &[u8]) -> Result<PdkValue, E> {
        Ok(PdkValue::Bytes(RVec::from(b)))
    }

    fn visit_byte_buf<E: de::Error>(self, b: Vec<u8>) -> Result<PdkValue, E> {
        Ok(PdkValue::Bytes(RVec::from(b)))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<PdkValue, A::Error> {
        let mut array = Vec::with_capacity(seq.size_hint().unwrap_or(0));
        while let Some(element) = seq.next_element()? {
            array.push(element);
        }
        Ok(PdkValue::Array(RVec::from(array)))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<PdkValue, A::Error> {
        let mut entries = Vec::with_capacity(map.size_hint().unwrap_or(0));
        while let Some((key, value)) = map.next_entry::<String, PdkValue>()? {
            entries.push(PdkEntry {
                key: RString::from(key),
                value,
            });
        }
        Ok(PdkValue::Object(RVec::from(entries)))
    }
}
