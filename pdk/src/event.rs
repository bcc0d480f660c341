//! [`Event`]: what a sink receives. Its payload stays in the form it
//! crossed the boundary in until the sink first reads it, so a sink that
//! never looks at the payload (a counter, a router on the id) never pays
//! for a conversion.

use std::cell::{OnceCell, RefCell};
use std::fmt;

use crate::abi::value::PdkValue;
use crate::{EventId, Value};

/// One event delivered to a sink.
pub struct Event {
    /// Where the event came from.
    pub id: EventId,
    /// When the runtime received it from the source, in nanoseconds since
    /// the Unix epoch.
    pub ingest_ns: u64,
    /// The payload as it crossed the boundary, until first read.
    raw: RefCell<Option<PdkValue>>,
    /// The payload, once read (or given as a value).
    value: OnceCell<Value>,
}

impl Event {
    /// An event with a payload that is already a [`Value`].
    #[must_use]
    pub fn new(id: EventId, ingest_ns: u64, data: Value) -> Self {
        Self {
            id,
            ingest_ns,
            raw: RefCell::new(None),
            value: OnceCell::from(data),
        }
    }

    /// An event whose payload is converted from its C-ABI form on first
    /// read.
    pub(crate) fn from_ffi(id: EventId, ingest_ns: u64, data: PdkValue) -> Self {
        Self {
            id,
            ingest_ns,
            raw: RefCell::new(Some(data)),
            value: OnceCell::new(),
        }
    }

    /// The payload.
    #[must_use]
    pub fn data(&self) -> &Value {
        self.value
            .get_or_init(|| self.raw.take().map(Value::from).unwrap_or_default())
    }

    /// The payload as one line of JSON (bytes as arrays of numbers),
    /// written straight from the form it crossed the boundary in: a sink
    /// that only serializes events never builds a [`Value`].
    #[must_use]
    pub fn to_json_string(&self) -> String {
        if let Some(value) = self.value.get() {
            return value.to_json_string();
        }
        match &*self.raw.borrow() {
            Some(raw) => serde_json::to_string(raw).unwrap_or_else(|_| String::from("null")),
            None => Value::NULL.to_json_string(),
        }
    }

    /// What a line-oriented sink writes for this event: bytes as they are,
    /// a string as its text, anything else as one line of JSON; like
    /// [`Event::to_json_string`], without building a [`Value`].
    #[must_use]
    pub fn to_payload(&self) -> Vec<u8> {
        if let Some(value) = self.value.get() {
            return value.to_payload();
        }
        match &*self.raw.borrow() {
            Some(PdkValue::Bytes(bytes)) => bytes.to_vec(),
            Some(PdkValue::String(text)) => text.as_bytes().to_vec(),
            _ => self.to_json_string().into_bytes(),
        }
    }

    /// The payload, to change it in place.
    pub fn data_mut(&mut self) -> &mut Value {
        let _ = self.data();
        self.value
            .get_mut()
            .unwrap_or_else(|| unreachable!("`data` initialized it"))
    }

    /// The payload, owned.
    #[must_use]
    pub fn into_data(self) -> Value {
        let _ = self.data();
        self.value.into_inner().unwrap_or_default()
    }
}

impl Clone for Event {
    fn clone(&self) -> Self {
        Self::new(self.id, self.ingest_ns, self.data().clone())
    }
}

impl PartialEq for Event {
    fn eq(&self, other: &Self) -> bool {
        self.id == other.id && self.ingest_ns == other.ingest_ns && self.data() == other.data()
    }
}

impl fmt::Debug for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Event")
            .field("id", &self.id)
            .field("ingest_ns", &self.ingest_ns)
            .field("data", self.data())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id() -> EventId {
        EventId {
            source: 1,
            stream: 2,
            pull_id: 3,
        }
    }

    #[test]
    fn the_payload_is_converted_on_first_read_only() {
        let mut value = Value::object();
        value.insert("k", "v");
        let event = Event::from_ffi(id(), 9, PdkValue::from(value.clone()));
        assert!(
            event.value.get().is_none(),
            "nothing converted before a read"
        );
        assert_eq!(event.data(), &value);
        assert_eq!(event.clone().into_data(), value);
    }

    #[test]
    fn serializing_needs_no_conversion_and_matches_the_value() {
        let mut value = Value::object();
        value.insert(
            "list",
            vec![Value::from(1u64), Value::from("two"), Value::NULL],
        );
        value.insert("bytes", vec![7u8]);
        let event = Event::from_ffi(id(), 0, PdkValue::from(value.clone()));
        assert_eq!(event.to_json_string(), value.to_json_string());
        assert_eq!(event.to_payload(), value.to_payload());
        assert!(event.value.get().is_none(), "serializing converted nothing");
        let text = Event::from_ffi(id(), 0, PdkValue::from(Value::from("line")));
        assert_eq!(text.to_payload(), b"line");
    }

    #[test]
    fn a_payload_can_be_changed_in_place() {
        let mut event = Event::new(id(), 0, Value::from(1u64));
        *event.data_mut() = Value::from(2u64);
        assert_eq!(event.into_data(), Value::from(2u64));
    }
}
