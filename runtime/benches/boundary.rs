//! The costs of the plugin boundary, one by one:
//! - converting one ~1 KB event to its C-ABI form and back;
//! - one async call through a plugin's C-ABI, through the same C-ABI
//!   object of the connector built in (no library loaded), and on a
//!   native Rust trait object returning a boxed future (the baseline);
//! - one increment of a plugin counter, through the handle a plugin
//!   counts with, and of a bare prometheus-client counter (the limit);
//! - loading and checking one plugin file.
//!
//! `cargo bench -p pdk-runtime --bench boundary` (`PDK_BENCH_QUICK=1`: a
//! short measurement that only checks it runs)

mod quiet_context;
mod records;
mod setup;

use std::path::PathBuf;
use std::time::Duration;

use abi_stable::std_types::RStr;
use criterion::{criterion_group, criterion_main, BatchSize, Criterion};
use futures::executor::block_on;
use futures::future::BoxFuture;
use pdk::abi::connector::LifecycleHook;
use pdk::abi::metric::{MetricDefinition, MetricKind};
use pdk::abi::value::PdkValue;
use pdk::Value;
use quiet_context::context as ctx;

/// The release build of plugin library `name` (see
/// [`setup::release_plugins`]).
fn release_plugin(name: &str) -> PathBuf {
    let dir = setup::workspace().join("target/bench-boundary");
    setup::release_plugins(&[name], &dir);
    dir.join(setup::library_file(name))
}

/// Criterion's settings: its defaults, or a short measurement in the
/// quick mode CI runs.
fn settings() -> Criterion {
    if setup::quick() {
        Criterion::default()
            .sample_size(10)
            .warm_up_time(Duration::from_millis(50))
            .measurement_time(Duration::from_millis(200))
    } else {
        Criterion::default()
    }
}

fn value_conversion(c: &mut Criterion) {
    let event = Value::from_json_str(&records::record(7)).unwrap();
    c.bench_function("value: one ~1 KB event to C-ABI and back", |b| {
        b.iter_batched(
            || event.clone(),
            |event| Value::from(PdkValue::from(event)),
            BatchSize::SmallInput,
        );
    });
    c.bench_function("value: clone of the same event (reference)", |b| {
        b.iter(|| event.clone());
    });
}

/// The baseline: an async method on a native trait object.
trait Native {
    fn on_pause(&mut self) -> BoxFuture<'_, Result<(), String>>;
}

/// Does nothing, as the blackhole's `on_pause`.
struct Idle;

impl Native for Idle {
    fn on_pause(&mut self) -> BoxFuture<'_, Result<(), String>> {
        Box::pin(async { Ok(()) })
    }
}

fn one_async_call(c: &mut Criterion) {
    let plugin =
        pdk_runtime::load(&release_plugin("blackhole"), None).expect("the blackhole plugin loads");
    let create = plugin.module.create_connector();
    let mut through_ffi = create(
        RStr::from_str("blackhole"),
        ctx(),
        PdkValue::from(Value::NULL),
    )
    .into_result()
    .expect("a blackhole is created");
    let entry = pdk::linked::LinkedEntry::of::<blackhole::Blackhole>();
    let mut built_in = (entry.create)(ctx(), PdkValue::from(Value::NULL))
        .into_result()
        .expect("a built-in blackhole is created");
    let mut native: Box<dyn Native> = Box::new(Idle);
    let tokio_plugin =
        pdk_runtime::load(&release_plugin("ecosystem"), None).expect("the ecosystem plugin loads");
    let mut config = Value::object();
    config.insert("interval_ms", 1_000u64);
    config.insert("count", 1u64);
    let mut uses_tokio = (tokio_plugin.module.create_connector())(
        RStr::from_str("tokio_ticker"),
        ctx(),
        PdkValue::from(config),
    )
    .into_result()
    .expect("a tokio_ticker is created");
    c.bench_function("call: on_pause through the plugin C-ABI", |b| {
        b.iter(|| block_on(through_ffi.lifecycle(LifecycleHook::PAUSE)));
    });
    c.bench_function(
        "call: on_pause through the C-ABI of a connector that uses tokio",
        |b| b.iter(|| block_on(uses_tokio.lifecycle(LifecycleHook::PAUSE))),
    );
    c.bench_function(
        "call: on_pause through the C-ABI of the built-in blackhole",
        |b| {
            b.iter(|| block_on(built_in.lifecycle(LifecycleHook::PAUSE)));
        },
    );
    c.bench_function("call: on_pause on a native trait object", |b| {
        b.iter(|| block_on(native.on_pause()));
    });
}

fn metric_increment(c: &mut Criterion) {
    let families =
        pdk_runtime::Observer::default().plugin_metrics_for("bench", "sink", "probe_sink", "probe");
    let counter = families
        .register(&MetricDefinition {
            kind: MetricKind::COUNTER,
            name: "rows".into(),
            help: "Rows".into(),
            buckets: (&[][..]).into(),
            extensions: pdk::abi::Extensions::new(),
        })
        .unwrap();
    let bare = prometheus_client::metrics::counter::Counter::<u64>::default();
    c.bench_function(
        "metric: a plugin counter's increment through its handle",
        |b| {
            b.iter(|| counter.increment(std::hint::black_box(1)));
        },
    );
    c.bench_function(
        "metric: a bare prometheus-client counter's increment",
        |b| {
            b.iter(|| bare.inc_by(std::hint::black_box(1)));
        },
    );
}

fn load_and_check(c: &mut Criterion) {
    let built = release_plugin("metronome");
    let dir = std::env::temp_dir().join(format!("pdk-bench-load-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut copies = 0_u64;
    let mut group = c.benchmark_group("load");
    group.sample_size(20);
    group.bench_function("load and check one plugin (fresh copy each time)", |b| {
        b.iter_batched(
            || {
                copies += 1;
                let path = dir.join(format!("libmetronome-{copies}.so"));
                std::fs::copy(&built, &path).unwrap();
                path
            },
            |path| pdk_runtime::load(&path, None).expect("the plugin loads"),
            BatchSize::PerIteration,
        );
    });
    group.finish();
    let _ = std::fs::remove_dir_all(dir);
}

criterion_group! {
    name = benches;
    config = settings();
    targets = value_conversion, one_async_call, metric_increment, load_and_check
}
criterion_main!(benches);
