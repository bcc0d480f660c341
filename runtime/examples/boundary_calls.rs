//! Makes N no-op async calls (`on_pause`) on one connector, through a
//! plugin's C-ABI, through the same C-ABI object of the `blackhole` built
//! in (`linked` instead of a file), or on a native Rust trait object
//! returning a boxed future (`native`); or N increments of a plugin
//! counter through the handle a plugin counts with (`counter`), or of a
//! bare prometheus-client counter (`bare-counter`); and nothing else: run it under
//! `valgrind --tool=callgrind` twice, with two values of N, and divide the
//! difference of the instruction counts by the difference of N to get the
//! instructions of one call (see the book's performance chapter).
//!
//! `boundary_calls (PLUGIN_FILE|linked|native|counter|bare-counter) N [CONNECTOR_TYPE [CONFIG_JSON]]`

#[path = "../benches/quiet_context.rs"]
mod quiet_context;

use abi_stable::std_types::RStr;
use pdk::abi::connector::LifecycleHook;
use pdk::abi::value::PdkValue;
use pdk::Value;

/// The baseline: an async method on a native trait object.
trait Native {
    fn on_pause(&mut self) -> futures::future::BoxFuture<'_, Result<(), String>>;
}

/// Does nothing, as the blackhole's `on_pause`.
struct Idle;

impl Native for Idle {
    fn on_pause(&mut self) -> futures::future::BoxFuture<'_, Result<(), String>> {
        Box::pin(async { Ok(()) })
    }
}

fn main() -> Result<(), String> {
    let usage =
        "usage: boundary_calls (PLUGIN_FILE|linked|native|counter|bare-counter) N [CONNECTOR_TYPE [CONFIG_JSON]]";
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (Some(file), Some(count)) = (args.first(), args.get(1)) else {
        return Err(usage.into());
    };
    let count: u64 = count.parse().map_err(|_| usage.to_owned())?;
    let kind = args.get(2).map_or("blackhole", String::as_str);
    let config = Value::from_json_str(args.get(3).map_or("null", String::as_str))
        .map_err(|e| format!("CONFIG_JSON: {e}"))?;
    match file.as_str() {
        "counter" => {
            let counter = plugin_counter()?;
            for _ in 0..count {
                counter.increment(std::hint::black_box(1));
            }
            return Ok(());
        }
        "bare-counter" => {
            let counter = prometheus_client::metrics::counter::Counter::<u64>::default();
            for _ in 0..count {
                counter.inc_by(std::hint::black_box(1));
            }
            return Ok(());
        }
        _ => {}
    }
    let ctx = quiet_context::context();
    if file == "native" {
        let mut native: Box<dyn Native> = Box::new(Idle);
        for _ in 0..count {
            futures::executor::block_on(native.on_pause())?;
        }
        return Ok(());
    }
    let created = if file == "linked" {
        let entry = pdk::linked::LinkedEntry::of::<blackhole::Blackhole>();
        (entry.create)(ctx, PdkValue::from(config))
    } else {
        let plugin =
            pdk_runtime::load(std::path::Path::new(file), None).map_err(|e| e.to_string())?;
        // Its library stays loaded for the rest of the process.
        let create = plugin.module.create_connector();
        create(RStr::from_str(kind), ctx, PdkValue::from(config))
    };
    let mut connector = created.into_result().map_err(|e| e.message.to_string())?;
    for _ in 0..count {
        futures::executor::block_on(connector.lifecycle(LifecycleHook::PAUSE))
            .into_result()
            .map_err(|e| e.message.to_string())?;
    }
    Ok(())
}

/// A plugin counter as the runtime registers it for a connector.
fn plugin_counter() -> Result<pdk::abi::metric::BoxedMetric, String> {
    pdk_runtime::Observer::default()
        .plugin_metrics_for("bench", "sink", "probe_sink", "probe")
        .register(&pdk::abi::metric::MetricDefinition {
            kind: pdk::abi::metric::MetricKind::COUNTER,
            name: "rows".into(),
            help: "Rows".into(),
            buckets: (&[][..]).into(),
            extensions: pdk::abi::Extensions::new(),
        })
        .map_err(|e| e.message().to_owned())
}
