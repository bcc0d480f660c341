//! HTTP requests as events, and events as HTTP responses.

use bytes::Bytes;
use http_body_util::Full;
use hyper::header::{HeaderName, HeaderValue, CONTENT_TYPE};
use hyper::{HeaderMap, Response, StatusCode};
use pdk::payload::{self, PdkValue};
use pdk::prelude::*;

/// A response, as hyper sends it.
pub type HttpResponse = Response<Full<Bytes>>;

/// Headers that describe one connection, not the message: never taken
/// from an event.
const HOP_BY_HOP: &[&str] = &[
    "connection",
    "content-length",
    "keep-alive",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

/// `headers` as a value in the C-ABI form: an object from each
/// (lowercase) name to its value, or to the list of its values when the
/// name is repeated.
pub fn headers_value(headers: &HeaderMap) -> PdkValue {
    payload::headers(
        headers
            .iter()
            .map(|(name, value)| (name.as_str(), value.as_bytes())),
    )
}

/// The event a request becomes, built in the C-ABI form the sinks read:
/// its body, decoded by the runtime in that form, is never converted.
pub fn request_event(
    method: &str,
    path: &str,
    query: Option<&str>,
    headers: PdkValue,
    body: PdkValue,
) -> PdkValue {
    payload::object([
        ("method", payload::text(method)),
        ("path", payload::text(path)),
        ("query", query.map_or(payload::NULL, payload::text)),
        ("headers", headers),
        ("body", body),
    ])
}

/// The response that answers a request with event `data`, read in place
/// (no [`Value`] is built):
/// - an object with a numeric `status` is a response: that status, its
///   `headers` (a table of strings or lists of strings) and its `body`;
/// - another object with a `body` (a request event, as this connector's
///   source side makes them) answers `200` with that body;
/// - anything else answers `200` with the whole event as the body.
///
/// A string body is sent as text, bytes as they are, anything else as
/// JSON, with the matching `content-type` unless the headers set one.
pub fn response_for(data: &PdkValue) -> HttpResponse {
    let status = data
        .get_u64("status")
        .and_then(|status| u16::try_from(status).ok())
        .and_then(|status| StatusCode::from_u16(status).ok());
    let (status, headers, body) = match status {
        Some(status) => (status, data.get("headers"), data.get("body")),
        None if data.get("body").is_some() => (StatusCode::OK, None, data.get("body")),
        None => (StatusCode::OK, None, Some(data)),
    };
    let mut response = Response::new(Full::new(Bytes::new()));
    *response.status_mut() = status;
    if let Some(headers) = headers.and_then(|headers| headers.as_object()) {
        for (name, value) in headers.iter() {
            let Ok(name) = HeaderName::from_bytes(name.as_bytes()) else {
                continue;
            };
            if HOP_BY_HOP.contains(&name.as_str()) {
                continue;
            }
            let values = match value.as_array() {
                Some(values) => values.iter().collect(),
                None => vec![value],
            };
            for value in values.into_iter().filter_map(|value| value.as_str()) {
                if let Ok(value) = HeaderValue::from_str(value) {
                    response.headers_mut().append(name.clone(), value);
                }
            }
        }
    }
    if let Some(body) = body.filter(|body| !body.is_null()) {
        let (content_type, bytes) = if let Some(bytes) = body.as_bytes() {
            ("application/octet-stream", bytes.to_vec())
        } else if let Some(text) = body.as_str() {
            ("text/plain; charset=utf-8", text.as_bytes().to_vec())
        } else {
            // A payload always serializes: its keys are strings.
            (
                "application/json",
                serde_json::to_vec(body).unwrap_or_default(),
            )
        };
        if !response.headers().contains_key(CONTENT_TYPE) {
            response
                .headers_mut()
                .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
        }
        *response.body_mut() = Full::new(Bytes::from(bytes));
    }
    response
}

/// A plain-text response for a problem the connector answers itself.
pub fn plain(status: StatusCode, message: impl Into<String>) -> HttpResponse {
    let mut response = Response::new(Full::new(Bytes::from(message.into() + "\n")));
    *response.status_mut() = status;
    response.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

#[cfg(test)]
mod tests {
    use http_body_util::BodyExt;

    use super::*;
    use pdk::Value;

    fn body_of(response: HttpResponse) -> Vec<u8> {
        let collected = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(response.into_body().collect())
            .unwrap();
        collected.to_bytes().to_vec()
    }

    #[test]
    fn a_request_event_answers_with_its_body() {
        let mut body = Value::object();
        body.insert("a", 1u64);
        let event = request_event(
            "POST",
            "/x",
            None,
            PdkValue::from(Value::object()),
            PdkValue::from(body),
        );
        let response = response_for(&event);
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(response.headers()[CONTENT_TYPE], "application/json");
        assert_eq!(body_of(response), br#"{"a":1}"#);
    }

    #[test]
    fn a_response_event_sets_status_and_headers_but_never_hop_by_hop_ones() {
        let mut headers = Value::object();
        headers.insert("x-one", "1");
        headers.insert("x-two", vec![Value::from("a"), Value::from("b")]);
        headers.insert("content-length", "999");
        let mut event = Value::object();
        event.insert("status", 404u64);
        event.insert("headers", headers);
        event.insert("body", "missing");
        let response = response_for(&PdkValue::from(event));
        assert_eq!(response.status(), StatusCode::NOT_FOUND);
        assert_eq!(response.headers()["x-one"], "1");
        assert_eq!(response.headers().get_all("x-two").iter().count(), 2);
        assert!(response.headers().get("content-length").is_none());
        assert_eq!(
            response.headers()[CONTENT_TYPE],
            "text/plain; charset=utf-8"
        );
        assert_eq!(body_of(response), b"missing");
    }

    #[test]
    fn any_other_event_is_the_body() {
        let response = response_for(&PdkValue::from(Value::from(vec![0u8, 1, 2])));
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(response.headers()[CONTENT_TYPE], "application/octet-stream");
        assert_eq!(body_of(response), [0, 1, 2]);
        let mut odd = Value::object();
        odd.insert("status", 42u64);
        assert_eq!(
            response_for(&PdkValue::from(odd)).status(),
            StatusCode::OK,
            "not a status"
        );
    }

    #[test]
    fn repeated_headers_become_lists() {
        let mut headers = HeaderMap::new();
        headers.append("accept", HeaderValue::from_static("a"));
        headers.append("accept", HeaderValue::from_static("b"));
        headers.insert("host", HeaderValue::from_static("h"));
        let value = Value::from(headers_value(&headers));
        assert_eq!(value.get("host"), Some(&Value::from("h")));
        assert_eq!(
            value.get("accept"),
            Some(&Value::from(vec![Value::from("a"), Value::from("b")]))
        );
    }

    #[test]
    fn header_bytes_that_are_not_utf8_are_replaced_not_dropped() {
        let mut headers = HeaderMap::new();
        headers.insert("x-raw", HeaderValue::from_bytes(b"caf\xe9").unwrap());
        headers.append("x-two", HeaderValue::from_static("a"));
        headers.append("x-two", HeaderValue::from_bytes(b"\xff").unwrap());
        let value = Value::from(headers_value(&headers));
        assert_eq!(value.get("x-raw"), Some(&Value::from("caf\u{fffd}")));
        assert_eq!(
            value.get("x-two"),
            Some(&Value::from(vec![
                Value::from("a"),
                Value::from("\u{fffd}")
            ]))
        );
    }
}
