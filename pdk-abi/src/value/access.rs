//! Reading a [`PdkValue`] in place, through value-trait's access traits
//! (the ones `pdk::prelude` brings into scope): a sink reads fields from
//! the form the event crossed the boundary in, and no `pdk::Value` is
//! built.
//!
//! ```
//! use pdk_abi::value::PdkValue;
//! use value_trait::prelude::*;
//!
//! let payload: PdkValue = serde_json::from_str(r#"{"host":"a","port":80}"#).unwrap();
//! assert_eq!(payload.get_str("host"), Some("a"));
//! assert_eq!(payload.get_u64("port"), Some(80));
//! ```

use std::borrow::Borrow;
use std::hash::Hash;

use abi_stable::std_types::RVec;
use ref_cast::RefCast;
use value_trait::base::{TypedValue, ValueAsArray, ValueAsObject, ValueAsScalar};
use value_trait::{ExtendedValueType, ValueType};

use super::{PdkEntry, PdkScalar, PdkValue};

/// The elements of [`PdkValue::Array`], seen through value-trait's
/// array trait.
#[derive(Debug, RefCast)]
#[repr(transparent)]
pub struct PdkArray(RVec<PdkValue>);

/// The entries of [`PdkValue::Object`], seen through value-trait's
/// object trait. Looking a key up scans the entries in
/// order: events carry a few dozen fields, where a scan beats hashing.
#[derive(Debug, RefCast)]
#[repr(transparent)]
pub struct PdkObject(RVec<PdkEntry>);

impl PdkArray {
    /// The elements, in order (without the boxing of the trait's `iter`).
    pub fn iter(&self) -> impl ExactSizeIterator<Item = &PdkValue> {
        self.0.iter()
    }
}

impl PdkObject {
    /// The keys and values, in order (without the boxing of the trait's
    /// `iter`).
    pub fn iter(&self) -> impl ExactSizeIterator<Item = (&str, &PdkValue)> {
        self.0
            .iter()
            .map(|entry| (entry.key.as_str(), &entry.value))
    }
}

impl PdkValue {
    /// The raw bytes, if this is [`PdkValue::Bytes`].
    #[must_use]
    pub fn as_bytes(&self) -> Option<&[u8]> {
        match self {
            Self::Bytes(bytes) => Some(bytes.as_slice()),
            _ => None,
        }
    }

    fn as_scalar(&self) -> Option<PdkScalar> {
        match self {
            Self::Static(scalar) => Some(*scalar),
            _ => None,
        }
    }
}

impl TypedValue for PdkValue {
    /// The value's type; raw bytes, which JSON lacks, are
    /// `ValueType::Extended(ExtendedValueType::None)`.
    fn value_type(&self) -> ValueType {
        match self {
            Self::Static(PdkScalar::Null) => ValueType::Null,
            Self::Static(PdkScalar::Bool(_)) => ValueType::Bool,
            Self::Static(PdkScalar::I64(_)) => ValueType::I64,
            Self::Static(PdkScalar::U64(_)) => ValueType::U64,
            Self::Static(PdkScalar::F64(_)) => ValueType::F64,
            Self::String(_) => ValueType::String,
            Self::Array(_) => ValueType::Array,
            Self::Object(_) => ValueType::Object,
            Self::Bytes(_) => ValueType::Extended(ExtendedValueType::None),
        }
    }
}

impl ValueAsScalar for PdkValue {
    fn as_null(&self) -> Option<()> {
        matches!(self.as_scalar()?, PdkScalar::Null).then_some(())
    }

    fn as_bool(&self) -> Option<bool> {
        match self.as_scalar()? {
            PdkScalar::Bool(b) => Some(b),
            _ => None,
        }
    }

    fn as_i64(&self) -> Option<i64> {
        match self.as_scalar()? {
            PdkScalar::I64(n) => Some(n),
            PdkScalar::U64(n) => i64::try_from(n).ok(),
            _ => None,
        }
    }

    fn as_u64(&self) -> Option<u64> {
        match self.as_scalar()? {
            PdkScalar::U64(n) => Some(n),
            PdkScalar::I64(n) => u64::try_from(n).ok(),
            _ => None,
        }
    }

    fn as_f64(&self) -> Option<f64> {
        match self.as_scalar()? {
            PdkScalar::F64(n) => Some(n),
            _ => None,
        }
    }

    #[allow(clippy::cast_precision_loss)] // what `cast_f64` is for
    fn cast_f64(&self) -> Option<f64> {
        match self.as_scalar()? {
            PdkScalar::F64(n) => Some(n),
            PdkScalar::I64(n) => Some(n as f64),
            PdkScalar::U64(n) => Some(n as f64),
            _ => None,
        }
    }

    fn as_str(&self) -> Option<&str> {
        match self {
            Self::String(text) => Some(text.as_str()),
            _ => None,
        }
    }
}

impl ValueAsArray for PdkValue {
    type Array = PdkArray;

    fn as_array(&self) -> Option<&PdkArray> {
        match self {
            Self::Array(items) => Some(PdkArray::ref_cast(items)),
            _ => None,
        }
    }
}

impl ValueAsObject for PdkValue {
    type Object = PdkObject;

    fn as_object(&self) -> Option<&PdkObject> {
        match self {
            Self::Object(entries) => Some(PdkObject::ref_cast(entries)),
            _ => None,
        }
    }
}

impl value_trait::prelude::ArrayTrait for PdkArray {
    type Element = PdkValue;

    fn iter(&self) -> Box<dyn Iterator<Item = &PdkValue> + '_> {
        Box::new(PdkArray::iter(self))
    }

    fn len(&self) -> usize {
        self.0.len()
    }
}

impl value_trait::prelude::Indexed<usize> for PdkArray {
    type Element = PdkValue;

    fn get(&self, index: usize) -> Option<&PdkValue> {
        self.0.get(index)
    }
}

impl value_trait::prelude::ObjectTrait for PdkObject {
    type Key = str;
    type Element = PdkValue;

    fn get<Q>(&self, key: &Q) -> Option<&PdkValue>
    where
        str: Borrow<Q>,
        Q: ?Sized + Hash + Eq + Ord,
    {
        self.0
            .iter()
            .find(|entry| entry.key.as_str().borrow() == key)
            .map(|entry| &entry.value)
    }

    fn iter(&self) -> Box<dyn Iterator<Item = (&str, &PdkValue)> + '_> {
        Box::new(PdkObject::iter(self))
    }

    fn keys(&self) -> Box<dyn Iterator<Item = &str> + '_> {
        Box::new(self.0.iter().map(|entry| entry.key.as_str()))
    }

    fn values(&self) -> Box<dyn Iterator<Item = &PdkValue> + '_> {
        Box::new(self.0.iter().map(|entry| &entry.value))
    }

    fn len(&self) -> usize {
        self.0.len()
    }
}

#[cfg(test)]
mod tests {
    use value_trait::prelude::*;

    use abi_stable::std_types::RVec;

    use super::PdkValue;

    fn payload(json: &str) -> PdkValue {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn scalars_read_as_the_value_would() {
        let value = payload(r#"{"s":"text","u":7,"i":-7,"f":1.5,"b":true,"n":null}"#);
        assert_eq!(value.get_str("s"), Some("text"));
        assert_eq!(value.get_u64("u"), Some(7));
        assert_eq!(value.get_i64("i"), Some(-7));
        assert_eq!(value.get_f64("f"), Some(1.5));
        assert_eq!(value.get("u").and_then(ValueAsScalar::cast_f64), Some(7.0));
        assert_eq!(value.get_bool("b"), Some(true));
        assert!(value.get("n").is_some_and(TypedScalarValue::is_null));
        assert_eq!(value.get_str("u"), None, "a number is not a string");
        assert_eq!(value.get("missing"), None);
    }

    #[test]
    fn arrays_and_objects_nest() {
        let value = payload(r#"{"tags":["a","b"],"inner":{"deep":{"x":1}}}"#);
        let tags = value.get_array("tags").unwrap();
        assert_eq!(tags.len(), 2);
        let texts: Vec<&str> = tags.iter().filter_map(ValueAsScalar::as_str).collect();
        assert_eq!(texts, ["a", "b"]);
        assert_eq!(
            value
                .get("tags")
                .and_then(|t| t.get_idx(1))
                .and_then(ValueAsScalar::as_str),
            Some("b")
        );
        let deep = value
            .get_object("inner")
            .and_then(|inner| inner.get("deep"))
            .unwrap();
        assert_eq!(deep.get_u64("x"), Some(1));
        let object = value.as_object().unwrap();
        assert_eq!(object.keys().collect::<Vec<_>>(), ["tags", "inner"]);
        assert_eq!(object.len(), 2);
        assert_eq!(object.values().count(), 2);
    }

    #[test]
    fn types_are_reported() {
        let value = payload(r#"{"a":[],"o":{},"s":"","n":null,"f":0.5}"#);
        let types: Vec<ValueType> = value
            .as_object()
            .unwrap()
            .values()
            .map(TypedValue::value_type)
            .collect();
        assert_eq!(
            types,
            [
                ValueType::Array,
                ValueType::Object,
                ValueType::String,
                ValueType::Null,
                ValueType::F64
            ]
        );
        let bytes = PdkValue::Bytes(RVec::from(vec![1u8, 2]));
        assert_eq!(bytes.as_bytes(), Some(&[1u8, 2][..]));
        assert_eq!(
            bytes.as_array().map(|a| a.len()),
            None,
            "bytes are not an array here"
        );
    }
}
