//! What the runtime and an isolated connector's process say to each other
//! over their socket: frames of a 4-byte little-endian length and a
//! MessagePack body. The runtime calls one connector method at a time
//! ([`ToChild::Call`], answered by [`ToParent::Answer`] with the same
//! number, or given up with [`ToChild::Cancel`]); the connector reports
//! through its runtime handle at any time ([`ToParent::ConnectionLost`],
//! [`ToParent::Reply`], [`ToParent::Circuit`]). The runtime checks every
//! frame it reads: one that is too long or does not decode is a crash of
//! that connector, never of the runtime.

use std::io::{Read, Write};

use pdk::abi::connector::EventId;
use pdk::abi::value::{PdkEntry, PdkScalar, PdkValue};

use crate::codec::Codec;
use serde::de::DeserializeOwned;
use serde::de::{self, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The longest frame either side accepts: an event of a few MiB fits,
/// a corrupted length does not make the reader allocate gigabytes.
pub const MAX_FRAME: usize = 64 << 20;

/// A connector method call.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Call {
    /// `connect`.
    Connect {
        /// Attempts so far.
        overall: u64,
        /// Attempts since the last success.
        since_success: u64,
    },
    /// A lifecycle hook, by its code.
    Lifecycle(u8),
    /// `pull_data`.
    PullData(u64),
    /// `ack`.
    Ack {
        /// The stream.
        stream: u64,
        /// The pull id.
        pull_id: u64,
    },
    /// `fail`.
    Fail {
        /// The stream.
        stream: u64,
        /// The pull id.
        pull_id: u64,
    },
    /// `on_event`.
    OnEvent {
        /// The event's id.
        id: Id,
        /// Its ingest time.
        ingest_ns: u64,
        /// Its payload.
        data: Wire,
    },
    /// `on_upstream_finished`.
    UpstreamFinished,
}

impl Call {
    /// The connector method it calls, for people.
    #[must_use]
    pub fn method(&self) -> &'static str {
        match self {
            Self::Connect { .. } => "connect",
            Self::Lifecycle(hook) => pdk::abi::connector::LifecycleHook(*hook).method_name(),
            Self::PullData(_) => "pull_data",
            Self::Ack { .. } => "ack",
            Self::Fail { .. } => "fail",
            Self::OnEvent { .. } => "on_event",
            Self::UpstreamFinished => "on_upstream_finished",
        }
    }
}

/// What the runtime tells the connector's process.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum ToChild {
    /// Create the connector: the first message, once.
    Create {
        /// Its connector type.
        kind: String,
        /// Its id in the flow.
        alias: String,
        /// Its config.
        config: Wire,
        /// The flow's codec for it.
        codec: Codec,
        /// Whether its source side is linked.
        source_linked: bool,
    },
    /// Call a method; answered with the same `seq`.
    Call {
        /// The call's number.
        seq: u64,
        /// The call.
        call: Call,
    },
    /// The answer to [`ToParent::RegisterMetric`]: the metric's number,
    /// or why the runtime refused it.
    MetricRegistered(Result<u64, WireError>),
    /// Pull ahead: `credit` more `pull_data` calls may be made before the
    /// runtime takes their replies, each sent as [`ToParent::Pulled`].
    Pull {
        /// How many more.
        credit: u64,
    },
    /// Give up call `seq` (drop its future); answered with
    /// [`ToParent::Cancelled`], or with its answer if it had returned.
    Cancel {
        /// The call's number.
        seq: u64,
    },
}

/// An error crossing the socket: the C-ABI error's kind code and message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WireError {
    /// `PdkErrorKind`'s code.
    pub kind: u8,
    /// The message.
    pub message: String,
}

/// A method's result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Answer {
    /// A method without a value returned.
    Done,
    /// `connect` returned.
    Connected(bool),
    /// `on_event` returned this `PdkSinkReply` code.
    Sink(u8),
    /// `pull_data` returned.
    Pulled(Pulled),
}

/// `pull_data`'s reply.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Pulled {
    /// A value.
    Data {
        /// The value.
        data: Wire,
        /// Its stream.
        stream: u64,
    },
    /// Raw bytes.
    Bytes {
        /// The bytes.
        #[serde(with = "serde_bytes_vec")]
        data: Vec<u8>,
        /// Their stream.
        stream: u64,
    },
    /// A stream started.
    StreamStarted(u64),
    /// A stream ended.
    StreamEnded(u64),
    /// Nothing now; ask again after this many milliseconds.
    Empty(u64),
    /// No more, ever.
    Finished,
    /// A reply of a later interface.
    Other {
        /// Its code.
        kind: u32,
        /// Its stream.
        stream: u64,
        /// Its value.
        data: Wire,
    },
}

/// What the connector's process tells the runtime.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum ToParent {
    /// The connector was created, or why not.
    Created(Result<(), WireError>),
    /// Call `seq` returned.
    Answer {
        /// The call's number.
        seq: u64,
        /// What it returned.
        result: Result<Answer, WireError>,
    },
    /// A pull made ahead returned, under the process's own pull id.
    Pulled {
        /// The pull id the source was called with.
        pull_id: u64,
        /// What it returned.
        result: Result<Pulled, WireError>,
    },
    /// Call `seq` was given up before it returned (its future dropped).
    Cancelled {
        /// The call's number.
        seq: u64,
    },
    /// The connector has blocked the process's thread in `method` for
    /// `ms` milliseconds; with `ending`, the process ends itself now.
    Blocked {
        /// The method.
        method: String,
        /// For how long.
        ms: u64,
        /// Whether the process ends itself.
        ending: bool,
    },
    /// The connector registers a metric of its own; answered with
    /// [`ToChild::MetricRegistered`].
    RegisterMetric {
        /// `MetricKind`'s code.
        kind: u8,
        /// Its name.
        name: String,
        /// Its help text.
        help: String,
        /// A histogram's buckets.
        buckets: Vec<f64>,
    },
    /// The connector changed metric number `id`.
    Metric {
        /// The metric's number.
        id: u64,
        /// How.
        change: MetricChange,
    },
    /// The connector lost its connection (or a task of its failed).
    ConnectionLost,
    /// The answer to a deferred event.
    Reply {
        /// The event.
        id: Id,
        /// Handled or failed.
        ok: bool,
    },
    /// The circuit breaker.
    Circuit {
        /// Open or closed.
        open: bool,
    },
}

/// A change of a plugin's metric, as `PdkMetric`'s methods make them.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub enum MetricChange {
    /// A counter counts this many more.
    Increment(u64),
    /// A gauge takes this value.
    Set(f64),
    /// A gauge changes by this much.
    Add(f64),
    /// A histogram observes this value.
    Observe(f64),
}

/// An [`EventId`] on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Id {
    /// The source's number.
    pub source: u64,
    /// The stream.
    pub stream: u64,
    /// The pull id.
    pub pull_id: u64,
}

impl From<EventId> for Id {
    fn from(id: EventId) -> Self {
        Self {
            source: id.source,
            stream: id.stream,
            pull_id: id.pull_id,
        }
    }
}

impl From<Id> for EventId {
    fn from(id: Id) -> Self {
        Self {
            source: id.source,
            stream: id.stream,
            pull_id: id.pull_id,
        }
    }
}

/// A value on the wire, in the C-ABI form both sides hand their
/// connectors, encoded and decoded in one pass (no `pdk::Value` in
/// between): bytes stay bytes (MessagePack `bin`), not an array of
/// numbers.
#[derive(Debug, Clone, PartialEq)]
pub struct Wire(pub PdkValue);

impl Serialize for Wire {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        ValueRef(&self.0).serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for Wire {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(WireVisitor).map(Self)
    }
}

/// Serializes a value as [`Wire`] does, without owning it.
struct ValueRef<'a>(&'a PdkValue);

impl Serialize for ValueRef<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::{SerializeMap, SerializeSeq};
        match self.0 {
            PdkValue::Bytes(bytes) => serializer.serialize_bytes(bytes),
            PdkValue::Array(items) => {
                let mut seq = serializer.serialize_seq(Some(items.len()))?;
                for item in items.iter() {
                    seq.serialize_element(&ValueRef(item))?;
                }
                seq.end()
            }
            PdkValue::Object(entries) => {
                let mut map = serializer.serialize_map(Some(entries.len()))?;
                for PdkEntry { key, value } in entries.iter() {
                    map.serialize_entry(key.as_str(), &ValueRef(value))?;
                }
                map.end()
            }
            other => other.serialize(serializer),
        }
    }
}

/// Builds a [`PdkValue`] from what [`ValueRef`] wrote. Not `PdkValue`'s
/// own `Deserialize`: that one reserves as many elements as a message
/// declares, and a hostile process could make the runtime allocate
/// whatever it claims; this one reserves at most 4096 and grows with what
/// really arrives.
struct WireVisitor;

impl<'de> Visitor<'de> for WireVisitor {
    type Value = PdkValue;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a value")
    }

    fn visit_unit<E: de::Error>(self) -> Result<PdkValue, E> {
        Ok(PdkValue::Static(PdkScalar::Null))
    }

    fn visit_none<E: de::Error>(self) -> Result<PdkValue, E> {
        Ok(PdkValue::Static(PdkScalar::Null))
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
        Ok(PdkValue::String(s.into()))
    }

    fn visit_string<E: de::Error>(self, s: String) -> Result<PdkValue, E> {
        Ok(PdkValue::String(s.into()))
    }

    fn visit_bytes<E: de::Error>(self, b: &[u8]) -> Result<PdkValue, E> {
        Ok(PdkValue::Bytes(b.to_vec().into()))
    }

    fn visit_byte_buf<E: de::Error>(self, b: Vec<u8>) -> Result<PdkValue, E> {
        Ok(PdkValue::Bytes(b.into()))
    }

    fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<PdkValue, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(4096));
        while let Some(Wire(item)) = seq.next_element()? {
            items.push(item);
        }
        Ok(PdkValue::Array(items.into()))
    }

    fn visit_map<A: de::MapAccess<'de>>(self, mut map: A) -> Result<PdkValue, A::Error> {
        let mut entries = Vec::with_capacity(map.size_hint().unwrap_or(0).min(4096));
        while let Some((key, Wire(value))) = map.next_entry::<String, Wire>()? {
            entries.push(PdkEntry {
                key: key.into(),
                value,
            });
        }
        Ok(PdkValue::Object(entries.into()))
    }
}

/// `Vec<u8>` as MessagePack `bin`.
mod serde_bytes_vec {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(bytes: &[u8], serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_bytes(bytes)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<u8>, D::Error> {
        match pdk::Value::deserialize(deserializer)? {
            pdk::Value::Bytes(bytes) => Ok(bytes.to_vec()),
            _ => Err(serde::de::Error::custom("expected bytes")),
        }
    }
}

/// Why a frame could not be read.
#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    /// The other side closed the socket.
    #[error("the socket was closed")]
    Closed,
    /// Reading failed.
    #[error("reading failed: {0}")]
    Io(#[from] std::io::Error),
    /// The length is beyond [`MAX_FRAME`].
    #[error("a frame of {0} bytes, more than the {MAX_FRAME} allowed")]
    TooLong(usize),
    /// The body does not decode.
    #[error("a frame that does not decode: {0}")]
    Malformed(String),
}

/// Appends `message` to `buffer` as one frame. A message that cannot be
/// encoded (none of the protocol's can fail) appends nothing.
pub fn encode_into<T: Serialize>(buffer: &mut Vec<u8>, message: &T) {
    let start = buffer.len();
    buffer.extend_from_slice(&[0; 4]);
    if rmp_serde::encode::write(buffer, message).is_err() {
        buffer.truncate(start);
        return;
    }
    let length = u32::try_from(buffer.len() - start - 4).unwrap_or(u32::MAX);
    buffer[start..start + 4].copy_from_slice(&length.to_le_bytes());
}

/// The message of a frame's `body`.
///
/// # Errors
/// A body that does not decode.
pub fn decode<T: DeserializeOwned>(body: &[u8]) -> Result<T, FrameError> {
    rmp_serde::from_slice(body).map_err(|e| FrameError::Malformed(e.to_string()))
}

/// The length in a frame's 4-byte `head`, checked.
///
/// # Errors
/// A length beyond [`MAX_FRAME`].
pub fn body_length(head: [u8; 4]) -> Result<usize, FrameError> {
    let length = u32::from_le_bytes(head) as usize;
    if length > MAX_FRAME {
        return Err(FrameError::TooLong(length));
    }
    Ok(length)
}

/// The first message of `buffered` and the bytes its frame takes, when
/// the whole frame is there (then it is decoded in place, without a copy).
///
/// # Errors
/// A bad frame.
pub fn decode_buffered<T: DeserializeOwned>(
    buffered: &[u8],
) -> Option<Result<(T, usize), FrameError>> {
    let (head, rest) = buffered.split_first_chunk::<4>()?;
    let length = match body_length(*head) {
        Ok(length) => length,
        Err(error) => return Some(Err(error)),
    };
    let body = rest.get(..length)?;
    Some(decode(body).map(|message| (message, 4 + length)))
}

/// Reads one message from `reader`, blocking: from its buffer when the
/// whole frame is there.
///
/// # Errors
/// A closed socket, a failed read, or a bad frame.
pub fn read_buffered<T: DeserializeOwned>(
    reader: &mut std::io::BufReader<impl Read>,
) -> Result<T, FrameError> {
    use std::io::BufRead;
    match decode_buffered(reader.buffer()) {
        Some(Ok((message, used))) => {
            reader.consume(used);
            Ok(message)
        }
        Some(Err(error)) => Err(error),
        None => read_blocking(reader),
    }
}

/// Reads one message from `reader`, blocking.
///
/// # Errors
/// A closed socket, a failed read, or a bad frame.
pub fn read_blocking<T: DeserializeOwned>(reader: &mut impl Read) -> Result<T, FrameError> {
    let mut head = [0; 4];
    match reader.read_exact(&mut head) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Err(FrameError::Closed),
        Err(e) => return Err(e.into()),
    }
    let mut body = vec![0; body_length(head)?];
    reader.read_exact(&mut body)?;
    decode(&body)
}

/// Writes one message to `writer`, blocking.
///
/// # Errors
/// A failed write.
pub fn write_blocking<T: Serialize>(writer: &mut impl Write, message: &T) -> std::io::Result<()> {
    let mut frame = Vec::new();
    encode_into(&mut frame, message);
    writer.write_all(&frame)
}

#[cfg(test)]
mod tests {
    use super::*;
    use pdk::Value;

    fn round_trip<T: Serialize + DeserializeOwned>(message: &T) -> T {
        let mut frame = Vec::new();
        encode_into(&mut frame, message);
        read_blocking(&mut frame.as_slice()).unwrap()
    }

    #[test]
    fn every_kind_of_value_crosses_unchanged() {
        let mut nested = Value::object();
        nested.insert("bytes", Value::Bytes(vec![0u8, 255, 7].into()));
        nested.insert(
            "list",
            Value::Array(vec![Value::from(-3i64), Value::from(2.5f64)]),
        );
        nested.insert("text", "héllo");
        nested.insert("big", u64::MAX);
        nested.insert("none", Value::NULL);
        nested.insert("yes", true);
        let call = ToChild::Call {
            seq: 7,
            call: Call::OnEvent {
                id: Id {
                    source: 1,
                    stream: 2,
                    pull_id: 3,
                },
                ingest_ns: 42,
                data: Wire(PdkValue::from(nested)),
            },
        };
        assert_eq!(round_trip(&call), call);
        let pulled = ToParent::Answer {
            seq: 8,
            result: Ok(Answer::Pulled(Pulled::Bytes {
                data: b"{\"n\":1}".to_vec(),
                stream: 1,
            })),
        };
        assert_eq!(round_trip(&pulled), pulled);
    }

    #[test]
    fn a_bad_frame_is_an_error_not_a_panic_or_an_allocation() {
        let too_long = [0xff, 0xff, 0xff, 0x7f, 0];
        assert!(matches!(
            read_blocking::<ToParent>(&mut too_long.as_slice()),
            Err(FrameError::TooLong(_))
        ));
        let garbage = [3, 0, 0, 0, 0xc1, 0xc1, 0xc1];
        assert!(matches!(
            read_blocking::<ToParent>(&mut garbage.as_slice()),
            Err(FrameError::Malformed(_))
        ));
        assert!(matches!(
            read_blocking::<ToParent>(&mut [].as_slice()),
            Err(FrameError::Closed)
        ));
    }

    #[test]
    fn a_frame_is_decoded_from_the_buffer_only_when_all_of_it_is_there() {
        let mut frames = Vec::new();
        encode_into(&mut frames, &ToParent::Cancelled { seq: 4 });
        let one = frames.len();
        encode_into(&mut frames, &ToParent::ConnectionLost);
        let (first, used) = decode_buffered::<ToParent>(&frames).unwrap().unwrap();
        assert_eq!((first, used), (ToParent::Cancelled { seq: 4 }, one));
        assert!(decode_buffered::<ToParent>(&frames[one..frames.len() - 1]).is_none());
        assert!(decode_buffered::<ToParent>(&frames[..3]).is_none());
        assert!(matches!(
            decode_buffered::<ToParent>(&[0xff, 0xff, 0xff, 0x7f]),
            Some(Err(FrameError::TooLong(_)))
        ));
        let mut reader = std::io::BufReader::new(frames.as_slice());
        assert_eq!(
            read_buffered::<ToParent>(&mut reader).unwrap(),
            ToParent::Cancelled { seq: 4 }
        );
        assert_eq!(
            read_buffered::<ToParent>(&mut reader).unwrap(),
            ToParent::ConnectionLost
        );
        assert!(matches!(
            read_buffered::<ToParent>(&mut reader),
            Err(FrameError::Closed)
        ));
    }
}
