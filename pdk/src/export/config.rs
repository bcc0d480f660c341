//! Turning the flow file's `config` table into the author's config type.

use serde::de::DeserializeOwned;

use crate::{Error, Result, Value};

/// Deserializes `config` into `C`. A missing `config` table counts as an
/// empty one, so that the error names the first missing field. The error
/// names the offending field by its path (`tls.port`, `hosts[2]`).
pub(crate) fn decode<C: DeserializeOwned>(value: &Value) -> Result<C> {
    let json = if value.is_null() {
        serde_json::Value::Object(serde_json::Map::new())
    } else {
        serde_json::to_value(value).map_err(Error::config)?
    };
    serde_path_to_error::deserialize(json).map_err(|error| {
        let mut path = error.path().to_string();
        let inner = error.into_inner().to_string();
        if inner.starts_with("unknown field") {
            // The message names the field already; say where it is.
            path.truncate(path.rfind('.').unwrap_or(0));
        }
        if path.is_empty() || path == "." {
            Error::config(inner)
        } else {
            Error::config(format!("field `{path}`: {inner}"))
        }
    })
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;

    use super::*;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)] // only the errors are under test
    struct Config {
        interval_ms: u64,
        count: Option<u64>,
        tls: Option<Tls>,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)] // only the errors are under test
    struct Tls {
        port: u16,
    }

    fn config_of(json: &str) -> Value {
        Value::from_json_str(json).unwrap()
    }

    #[test]
    fn a_missing_table_reports_the_first_missing_field() {
        let error = decode::<Config>(&Value::NULL).unwrap_err();
        assert_eq!(error.message(), "missing field `interval_ms`");
    }

    #[test]
    fn a_wrong_type_names_the_field() {
        let error = decode::<Config>(&config_of(r#"{"interval_ms": "fast"}"#)).unwrap_err();
        assert_eq!(
            error.message(),
            "field `interval_ms`: invalid type: string \"fast\", expected u64"
        );
    }

    #[test]
    fn an_unknown_field_is_named() {
        let error = decode::<Config>(&config_of(r#"{"interval_ms": 1, "cuont": 2}"#)).unwrap_err();
        assert_eq!(
            error.message(),
            "unknown field `cuont`, expected one of `interval_ms`, `count`, `tls`"
        );
    }

    #[test]
    fn nested_errors_name_the_whole_path() {
        let error =
            decode::<Config>(&config_of(r#"{"interval_ms": 1, "tls": {"port": -1}}"#)).unwrap_err();
        assert_eq!(
            error.message(),
            "field `tls.port`: invalid value: integer `-1`, expected u16"
        );
        let error = decode::<Config>(&config_of(
            r#"{"interval_ms": 1, "tls": {"port": 1, "x": 1}}"#,
        ))
        .unwrap_err();
        assert_eq!(
            error.message(),
            "field `tls`: unknown field `x`, expected `port`"
        );
    }
}
