//! Field types for a connector's `Config` that check what people write in
//! flow files: a duration as `"5s"` or `"250ms"`, a server as
//! `"HOST:PORT"`. A bad value stops the flow before it starts, with one
//! line that names the field and the form to use.
//!
//! ```
//! use pdk::config::{Duration, SocketAddress};
//! use pdk::prelude::*;
//!
//! #[derive(Deserialize)]
//! struct Config {
//!     url: SocketAddress,
//!     timeout: Duration,
//! }
//!
//! #[connector(name = "probe")]
//! struct Probe;
//!
//! impl Connector for Probe {
//!     type Config = Config;
//!
//!     fn new(config: Config, _ctx: &ConnectorContext) -> Result<Self> {
//!         assert_eq!(config.url.as_str(), "127.0.0.1:4242");
//!         assert_eq!(*config.timeout, std::time::Duration::from_millis(5_250));
//!         Ok(Self)
//!     }
//! }
//!
//! # impl Sink for Probe {
//! #     async fn on_event(&mut self, _e: Event, _c: &ConnectorContext) -> Result<SinkReply> {
//! #         Ok(SinkReply::Ack)
//! #     }
//! # }
//! use pdk::testing::Harness;
//!
//! fn main() {
//!     let good =
//!         Harness::<Probe>::from_json(r#"{"url": "127.0.0.1:4242", "timeout": "5s 250ms"}"#);
//!     assert!(good.is_ok());
//!     let bad = Harness::<Probe>::from_json(r#"{"url": "tcp://127.0.0.1:x", "timeout": "5s"}"#);
//!     assert_eq!(
//!         bad.unwrap_err().message(),
//!         "field `url`: `tcp://127.0.0.1:x` is not a server address; write HOST:PORT, \
//!          e.g. \"127.0.0.1:4242\""
//!     );
//! }
//! ```

use std::fmt;
use std::ops::Deref;

use serde::de::{self, Deserialize, Deserializer, Visitor};

/// A duration written as text: `"5s"`, `"250ms"`, `"1m 30s"`, `"2h"`
/// (units `ns`, `us`, `ms`, `s`, `m`, `h`, `d`, as `humantime` reads
/// them). Dereferences to [`std::time::Duration`].
///
/// # Examples
///
/// ```
/// use pdk::prelude::*;
///
/// #[derive(Debug, Deserialize)]
/// pub struct Config {
///     timeout: pdk::config::Duration,
/// }
///
/// # fn main() {
/// let config: Config = serde_json::from_str(r#"{"timeout": "1m 30s"}"#).unwrap();
/// assert_eq!(*config.timeout, std::time::Duration::from_secs(90));
///
/// let wrong = serde_json::from_str::<Config>(r#"{"timeout": "soon"}"#).unwrap_err();
/// assert!(wrong.to_string().contains("`soon` is not a duration"), "{wrong}");
/// # }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Duration(pub std::time::Duration);

impl Deref for Duration {
    type Target = std::time::Duration;

    fn deref(&self) -> &std::time::Duration {
        &self.0
    }
}

impl From<Duration> for std::time::Duration {
    fn from(duration: Duration) -> Self {
        duration.0
    }
}

impl<'de> Deserialize<'de> for Duration {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Text;

        impl Visitor<'_> for Text {
            type Value = Duration;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a duration such as \"5s\" or \"250ms\"")
            }

            fn visit_str<E: de::Error>(self, text: &str) -> Result<Duration, E> {
                humantime::parse_duration(text.trim())
                    .map(Duration)
                    .map_err(|e| {
                        E::custom(format!(
                            "`{text}` is not a duration ({e}); write a number and a unit, \
                             e.g. \"5s\", \"250ms\" or \"1m 30s\""
                        ))
                    })
            }
        }

        deserializer.deserialize_str(Text)
    }
}

/// A server's address, `HOST:PORT` (`"127.0.0.1:4242"`,
/// `"broker.example:9092"`, `"[::1]:80"`); the host is resolved when the
/// connector connects.
///
/// # Examples
///
/// ```
/// use pdk::config::SocketAddress;
/// use pdk::prelude::*;
///
/// #[derive(Deserialize)]
/// pub struct Config {
///     server: SocketAddress,
/// }
///
/// # fn main() {
/// let config: Config = serde_json::from_str(r#"{"server": "broker.example:9092"}"#).unwrap();
/// assert_eq!(config.server.host(), "broker.example");
/// assert_eq!(config.server.port(), 9092);
/// # }
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SocketAddress(String);

impl SocketAddress {
    /// The address as written.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The host part.
    #[must_use]
    pub fn host(&self) -> &str {
        self.0.rsplit_once(':').map_or("", |(host, _)| host)
    }

    /// The port.
    #[must_use]
    pub fn port(&self) -> u16 {
        self.0
            .rsplit_once(':')
            .and_then(|(_, port)| port.parse().ok())
            .unwrap_or_default()
    }
}

impl fmt::Display for SocketAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::str::FromStr for SocketAddress {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let valid = text.rsplit_once(':').is_some_and(|(host, port)| {
            !host.is_empty() && !host.contains('/') && port.parse::<u16>().is_ok()
        });
        if valid {
            Ok(Self(text.to_owned()))
        } else {
            Err(format!(
                "`{text}` is not a server address; write HOST:PORT, e.g. \"127.0.0.1:4242\""
            ))
        }
    }
}

impl<'de> Deserialize<'de> for SocketAddress {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn duration(text: &str) -> Result<Duration, String> {
        serde_json::from_value(serde_json::Value::from(text)).map_err(|e| e.to_string())
    }

    #[test]
    fn durations_read_as_people_write_them() {
        assert_eq!(*duration("5s").unwrap(), std::time::Duration::from_secs(5));
        assert_eq!(
            *duration("250ms").unwrap(),
            std::time::Duration::from_millis(250)
        );
        assert_eq!(
            *duration(" 1m 30s ").unwrap(),
            std::time::Duration::from_secs(90)
        );
        let error = duration("5 parsecs").unwrap_err();
        assert!(
            error.starts_with("`5 parsecs` is not a duration"),
            "{error}"
        );
        let number: Result<Duration, _> = serde_json::from_value(serde_json::Value::from(5));
        assert!(number
            .unwrap_err()
            .to_string()
            .contains("expected a duration such as \"5s\""));
    }

    #[test]
    fn a_socket_address_is_host_and_port() {
        let address: SocketAddress = "broker.example:9092".parse().unwrap();
        assert_eq!((address.host(), address.port()), ("broker.example", 9092));
        let v6: SocketAddress = "[::1]:80".parse().unwrap();
        assert_eq!((v6.host(), v6.port()), ("[::1]", 80));
        for bad in [
            "tcp://127.0.0.1:4242",
            "127.0.0.1",
            ":80",
            "host:99999",
            "host:x",
        ] {
            assert!(bad.parse::<SocketAddress>().is_err(), "{bad}");
        }
    }
}
