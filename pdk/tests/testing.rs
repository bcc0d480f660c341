//! `pdk::testing` drives a real `#[connector]` type as the runtime would.

use pdk::prelude::*;
use pdk::testing::{block_on, Harness, LogLine, Report, Setup};
use pdk::ErrorKind;

/// A sink that answers events later from a task, works the circuit
/// breaker, and reports a lost connection, as its payload asks.
#[connector(name = "answers_later")]
pub struct AnswersLater;

impl Connector for AnswersLater {
    type Config = NoConfig;

    fn new(_: NoConfig, ctx: &ConnectorContext) -> Result<Self> {
        pdk::log::debug!("created `{}`", ctx.alias());
        Ok(Self)
    }
}

impl Sink for AnswersLater {
    async fn on_event(&mut self, event: Event, ctx: &ConnectorContext) -> Result<SinkReply> {
        match event.data().as_str() {
            Some("ack later") => {
                let replies = ctx.replies();
                let id = event.id;
                pdk::task::spawn(async move {
                    pdk::log::info!("answering {}", id.pull_id);
                    replies.ack(id);
                });
                Ok(SinkReply::Deferred)
            }
            Some("pause") => {
                ctx.replies().pause_sources();
                ctx.replies().resume_sources();
                Ok(SinkReply::Ack)
            }
            Some("lose") => {
                ctx.notifier().connection_lost();
                Ok(SinkReply::Fail)
            }
            Some("panic") => panic!("asked to panic"),
            _ => Err(Error::msg("unexpected payload")),
        }
    }
}

/// A source that wraps a decoded body in an event it builds in the C-ABI
/// form, as `http_server` does.
#[connector(name = "wraps_in_place")]
pub struct WrapsInPlace;

impl Connector for WrapsInPlace {
    type Config = NoConfig;

    fn new(_: NoConfig, _ctx: &ConnectorContext) -> Result<Self> {
        Ok(Self)
    }
}

impl Source for WrapsInPlace {
    async fn pull_data(&mut self, pull_id: u64, ctx: &ConnectorContext) -> Result<SourceReply> {
        use pdk::abi::value::{PdkEntry, PdkValue};
        let raw = if pull_id == 0 { r#"{"n":1}"# } else { "{" };
        let body = ctx.decode_payload(raw.as_bytes().to_vec())?;
        let entries = vec![PdkEntry {
            key: String::from("body").into(),
            value: body,
        }];
        Ok(SourceReply::Payload {
            data: PdkValue::Object(entries.into()),
            stream: 4,
        })
    }
}

#[pdk_export]
mod plugin {
    pub use super::{AnswersLater, WrapsInPlace};
}

#[test]
fn an_event_built_in_the_c_abi_form_arrives_as_the_same_value() {
    let mut source = Harness::<WrapsInPlace>::new(Value::object()).unwrap();
    block_on(async {
        let mut expected = Value::object();
        expected.insert("body", Value::from_json_str(r#"{"n":1}"#).unwrap());
        assert_eq!(
            source.pull().await,
            Ok(SourceReply::Data {
                data: expected,
                stream: 4
            })
        );
        let error = source.pull().await.unwrap_err();
        assert!(error.message().contains("not valid JSON"), "{error}");
    });
}

#[test]
fn a_deferred_answer_from_a_task_is_reported_with_its_log_record() {
    block_on(async {
        let mut sink = Harness::<AnswersLater>::new(Value::object()).unwrap();
        assert_eq!(
            sink.logs(),
            vec![LogLine {
                level: pdk::log::Level::Debug,
                target: "testing".to_owned(),
                message: "created `test`".to_owned(),
            }]
        );
        assert_eq!(sink.send("ack later").await, Ok(SinkReply::Deferred));
        let id = sink.last_event_id().unwrap();
        assert_eq!(id.pull_id, 0);
        assert_eq!(sink.next_report().await, Some(Report::Ack(id)));
        assert_eq!(sink.logged_after("answering "), Some(String::from("0")));
        assert_eq!(sink.logs(), [], "the records were taken");
    });
}

#[test]
fn circuit_changes_and_lost_connections_are_reported_in_order() {
    block_on(async {
        let mut sink = Harness::<AnswersLater>::new(Value::object()).unwrap();
        assert_eq!(sink.send("pause").await, Ok(SinkReply::Ack));
        assert_eq!(sink.send("lose").await, Ok(SinkReply::Fail));
        assert_eq!(
            sink.reports(),
            [
                Report::SourcesPaused,
                Report::SourcesResumed,
                Report::ConnectionLost
            ]
        );
        assert_eq!(sink.reports(), []);
    });
}

#[test]
fn a_panic_is_an_error_of_the_call_and_the_connector_goes_on() {
    block_on(async {
        let mut sink = Harness::<AnswersLater>::new(Value::object()).unwrap();
        let error = sink.send("panic").await.unwrap_err();
        assert_eq!(error.kind(), ErrorKind::Panic);
        assert!(
            error.message().contains("asked to panic"),
            "{}",
            error.message()
        );
        assert_eq!(sink.send("lose").await, Ok(SinkReply::Fail));
    });
}

#[test]
fn a_method_of_a_side_the_connector_lacks_is_unsupported() {
    block_on(async {
        let mut sink = Harness::<AnswersLater>::with_setup(
            Value::object(),
            Setup {
                alias: "only-a-sink".to_owned(),
                source_linked: false,
            },
        )
        .unwrap();
        let error = sink.pull().await.unwrap_err();
        assert_eq!(error.kind(), ErrorKind::Unsupported);
        assert!(
            error.message().contains("only-a-sink"),
            "{}",
            error.message()
        );
    });
}

#[test]
fn a_config_the_connector_rejects_is_a_config_error() {
    let error = Harness::<AnswersLater>::from_json(r#"{"unexpected": 1}"#).unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Config);
    assert!(
        error.message().contains("unexpected"),
        "{}",
        error.message()
    );
}
