//! [`Event`]: what a sink receives. Its payload stays in the form it
//! crossed the boundary in: a sink reads fields from that form
//! ([`Event::payload`]), and a [`Value`] is built only when the sink asks
//! for one ([`Event::data`]), so a sink that never looks at the payload (a
//! counter, a router on the id) or only reads some fields never pays for a
//! conversion. An `Event` is `Send` and `Sync`: a `&Event` may be held
//! across an `.await` and shared with other tasks.

use std::fmt;
use std::sync::{Mutex, OnceLock, PoisonError};

use crate::abi::connector::EventId;
use crate::abi::value::PdkValue;
use crate::Value;

/// One event delivered to a sink.
///
/// # Examples
///
/// ```
/// use pdk::prelude::*;
///
/// # fn main() -> pdk::Result<()> {
/// let id = EventId { source: 0, stream: 0, pull_id: 7 };
/// let payload = Value::from_json_str(r#"{"name":"Ada","born":1815}"#)?;
/// let mut event = Event::new(id, 0, payload);
///
/// // Read in place, with the prelude's access traits ...
/// assert_eq!(event.payload().get_str("name"), Some("Ada"));
/// // ... or as a `Value`, which can be changed.
/// assert_eq!(event.data().get("born").and_then(Value::as_u64), Some(1815));
/// event.data_mut().insert("known", true);
/// assert_eq!(event.data().get("known").and_then(Value::as_bool), Some(true));
/// assert_eq!(event.id.pull_id, 7);
/// # Ok(()) }
/// ```
pub struct Event {
    /// Where the event came from.
    pub id: EventId,
    /// When the runtime received it from the source, in nanoseconds since
    /// the Unix epoch.
    pub ingest_ns: u64,
    /// The payload as it crossed the boundary, until it is first read in
    /// either form: no reference into it is ever handed out, so
    /// [`Event::data`] can move it into a [`Value`] instead of copying.
    unread: Mutex<Option<PdkValue>>,
    /// The payload in the C-ABI form, once read in place.
    raw: OnceLock<PdkValue>,
    /// The payload as a [`Value`], once asked for (or given as one).
    value: OnceLock<Value>,
}

impl Event {
    /// An event with a payload that is already a [`Value`].
    #[must_use]
    pub fn new(id: EventId, ingest_ns: u64, data: Value) -> Self {
        Self {
            id,
            ingest_ns,
            unread: Mutex::new(None),
            raw: OnceLock::new(),
            value: OnceLock::from(data),
        }
    }

    /// An event with a payload in the C-ABI form, as the runtime delivers
    /// it.
    #[must_use]
    pub fn with_payload(id: EventId, ingest_ns: u64, payload: PdkValue) -> Self {
        Self {
            id,
            ingest_ns,
            unread: Mutex::new(Some(payload)),
            raw: OnceLock::new(),
            value: OnceLock::new(),
        }
    }

    /// The payload, to read in place with the access traits `pdk::prelude`
    /// brings into scope (`payload.get_str("host")`,
    /// `payload.get_u64("port")`, `payload.as_object()` ...): no [`Value`]
    /// is built.
    ///
    /// ```
    /// use pdk::prelude::*;
    ///
    /// # fn main() -> pdk::Result<()> {
    /// let id = EventId { source: 0, stream: 0, pull_id: 0 };
    /// let event = Event::new(id, 0, Value::from_json_str(r#"{"user":{"id":7}}"#)?);
    /// let user = event.payload().get("user").and_then(|user| user.get_u64("id"));
    /// assert_eq!(user, Some(7));
    /// # Ok(()) }
    /// ```
    pub fn payload(&self) -> &PdkValue {
        self.raw.get_or_init(|| {
            // Not taken yet, or taken by `data` (on another thread, which
            // this waits for): converted from the value then.
            self.take_unread()
                .unwrap_or_else(|| PdkValue::from(self.data().clone()))
        })
    }

    /// The payload as it crossed the boundary, if neither form has taken
    /// it yet.
    fn take_unread(&self) -> Option<PdkValue> {
        self.unread
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
    }

    /// The payload as a [`Value`], built on first call: the payload's
    /// buffers are moved into it, or copied if the payload was read in
    /// place before ([`Event::payload`]). To read fields, `payload` is
    /// cheaper.
    #[must_use]
    pub fn data(&self) -> &Value {
        self.value.get_or_init(|| {
            // Not taken yet, or taken by `payload` (on another thread,
            // which this waits for): copied from the payload then.
            self.take_unread()
                .map_or_else(|| Value::from(self.payload()), Value::from)
        })
    }

    /// The payload as one line of JSON (bytes as arrays of numbers),
    /// written straight from the form it crossed the boundary in: a sink
    /// that only serializes events never builds a [`Value`].
    #[must_use]
    pub fn to_json_string(&self) -> String {
        if let Some(value) = self.value.get() {
            return value.to_json_string();
        }
        self.with_raw(|raw| {
            raw.map_or_else(
                || Value::NULL.to_json_string(),
                |raw| serde_json::to_string(raw).unwrap_or_else(|_| String::from("null")),
            )
        })
    }

    /// What a line-oriented sink writes for this event: bytes as they are,
    /// a string as its text, anything else as one line of JSON; like
    /// [`Event::to_json_string`], without building a [`Value`].
    #[must_use]
    pub fn to_payload(&self) -> Vec<u8> {
        self.to_payload_with_room(0)
    }

    /// [`Event::to_payload`] followed by a newline, in one allocation: what
    /// a newline-delimited sink writes.
    #[must_use]
    pub fn to_line(&self) -> Vec<u8> {
        let mut line = self.to_payload_with_room(1);
        line.push(b'\n');
        line
    }

    /// [`Event::to_payload`] in a buffer with room for `extra` more bytes.
    fn to_payload_with_room(&self, extra: usize) -> Vec<u8> {
        let copy = |bytes: &[u8]| {
            let mut copy = Vec::with_capacity(bytes.len() + extra);
            copy.extend_from_slice(bytes);
            copy
        };
        let mut payload = match self.value.get() {
            Some(Value::Bytes(bytes)) => return copy(bytes),
            Some(Value::String(text)) => return copy(text.as_bytes()),
            Some(value) => value.to_payload(),
            None => {
                let raw = self.with_raw(|raw| match raw {
                    Some(PdkValue::Bytes(bytes)) => Some(copy(bytes)),
                    Some(PdkValue::String(text)) => Some(copy(text.as_bytes())),
                    _ => None,
                });
                match raw {
                    Some(raw) => return raw,
                    None => self.to_json_string().into_bytes(),
                }
            }
        };
        payload.reserve(extra);
        payload
    }

    /// Calls `read` with the payload in the C-ABI form, if it is in that
    /// form.
    fn with_raw<T>(&self, read: impl FnOnce(Option<&PdkValue>) -> T) -> T {
        match self.raw.get() {
            Some(raw) => read(Some(raw)),
            None => read(
                self.unread
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .as_ref(),
            ),
        }
    }

    /// The payload, to change it in place (moved into a [`Value`], not
    /// copied).
    pub fn data_mut(&mut self) -> &mut Value {
        let raw = self
            .unread
            .get_mut()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
            .or_else(|| self.raw.take());
        self.value
            .get_or_init(|| raw.map(Value::from).unwrap_or_default());
        // What is read in place from now on is the changed value.
        self.raw.take();
        self.value
            .get_mut()
            .unwrap_or_else(|| unreachable!("initialized just above"))
    }

    /// The payload in the C-ABI form, owned (moved, not copied, unless
    /// only a [`Value`] of it exists).
    pub(crate) fn into_payload(self) -> PdkValue {
        self.unread
            .into_inner()
            .unwrap_or_else(PoisonError::into_inner)
            .or_else(|| self.raw.into_inner())
            .unwrap_or_else(|| PdkValue::from(self.value.into_inner().unwrap_or_default()))
    }

    /// The payload, owned (moved into a [`Value`], not copied).
    #[must_use]
    pub fn into_data(self) -> Value {
        self.value
            .into_inner()
            .or_else(|| {
                self.unread
                    .into_inner()
                    .unwrap_or_else(PoisonError::into_inner)
                    .or_else(|| self.raw.into_inner())
                    .map(Value::from)
            })
            .unwrap_or_default()
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
        let event = Event::with_payload(id(), 9, PdkValue::from(value.clone()));
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
        let event = Event::with_payload(id(), 0, PdkValue::from(value.clone()));
        assert_eq!(event.to_json_string(), value.to_json_string());
        assert_eq!(event.to_payload(), value.to_payload());
        assert!(event.value.get().is_none(), "serializing converted nothing");
        let text = Event::with_payload(id(), 0, PdkValue::from(Value::from("line")));
        assert_eq!(text.to_payload(), b"line");
    }

    #[test]
    fn a_line_is_the_payload_and_a_newline_in_one_buffer_of_its_size() {
        let mut object = Value::object();
        object.insert("k", "v");
        for value in [
            Value::Bytes(vec![0xde, 0xad].into()),
            Value::from("text"),
            object,
        ] {
            let payload = value.to_payload();
            let raw = Event::with_payload(id(), 0, PdkValue::from(value.clone()));
            let read = Event::with_payload(id(), 0, PdkValue::from(value.clone()));
            let _ = read.data();
            for event in [raw, read] {
                let line = event.to_line();
                assert_eq!(line[..line.len() - 1], payload[..], "{value:?}");
                assert_eq!(line.last(), Some(&b'\n'));
                if matches!(value, Value::Bytes(_) | Value::String(_)) {
                    assert_eq!(line.capacity(), line.len(), "one allocation, no growth");
                }
            }
        }
    }

    #[test]
    fn fields_are_read_without_building_a_value() {
        use value_trait::prelude::*;
        let mut value = Value::object();
        value.insert("host", "h1");
        value.insert("port", 80u64);
        let event = Event::with_payload(id(), 0, PdkValue::from(value.clone()));
        assert_eq!(event.payload().get_str("host"), Some("h1"));
        assert_eq!(event.payload().get_u64("port"), Some(80));
        assert!(event.value.get().is_none(), "reading converted nothing");
        assert_eq!(event.data(), &value, "a Value on request, the payload kept");
        assert_eq!(event.payload().get_str("host"), Some("h1"));
    }

    #[test]
    fn a_value_takes_the_payloads_buffers_unless_it_was_read_in_place() {
        use value_trait::prelude::*;
        let text = "a string long enough to be on the heap";
        let moved = Event::with_payload(id(), 0, PdkValue::from(Value::from(text.to_owned())));
        let buffer = moved.with_raw(|raw| raw.and_then(|raw| raw.as_str()).map(str::as_ptr));
        assert_eq!(moved.data().as_str().map(str::as_ptr), buffer, "moved");

        let copied = Event::with_payload(id(), 0, PdkValue::from(Value::from(text.to_owned())));
        let buffer = copied.payload().as_str().map(str::as_ptr);
        assert_ne!(copied.data().as_str().map(str::as_ptr), buffer, "copied");
        assert_eq!(copied.payload().as_str(), Some(text), "the payload stays");
    }

    #[test]
    fn an_event_made_from_a_value_can_be_read_in_either_form() {
        let event = Event::new(id(), 0, Value::from("v"));
        assert_eq!(event.payload(), &PdkValue::from(Value::from("v")));
        assert_eq!(event.data(), &Value::from("v"));
    }

    #[test]
    fn a_changed_payload_is_what_is_read_next() {
        let mut event = Event::with_payload(id(), 0, PdkValue::from(Value::from(1u64)));
        assert_eq!(event.payload(), &PdkValue::from(Value::from(1u64)));
        *event.data_mut() = Value::from(2u64);
        assert_eq!(event.payload(), &PdkValue::from(Value::from(2u64)));
        assert_eq!(event.to_json_string(), "2");
    }

    #[test]
    fn an_event_is_send_and_sync_and_read_from_two_threads_at_once() {
        fn send_and_sync<T: Send + Sync>() {}
        send_and_sync::<Event>();
        for _ in 0..200 {
            let mut value = Value::object();
            value.insert("k", "v");
            let event = Event::with_payload(id(), 0, PdkValue::from(value.clone()));
            std::thread::scope(|scope| {
                let reader = scope.spawn(|| event.payload().clone());
                assert_eq!(event.data(), &value);
                assert_eq!(reader.join().unwrap(), PdkValue::from(value.clone()));
            });
        }
    }

    #[test]
    fn a_payload_can_be_changed_in_place() {
        let mut event = Event::new(id(), 0, Value::from(1u64));
        *event.data_mut() = Value::from(2u64);
        assert_eq!(event.into_data(), Value::from(2u64));
    }
}
