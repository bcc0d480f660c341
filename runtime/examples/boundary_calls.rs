//! Makes N no-op async calls (`on_pause`) on one connector, through a
//! plugin's C-ABI or on the `blackhole` linked in (`linked` instead of a
//! file), and nothing else: run it under `valgrind --tool=callgrind`
//! twice, with two values of N, and divide the difference of the
//! instruction counts by the difference of N to get the instructions of
//! one call (see the book's performance chapter).
//!
//! `boundary_calls (PLUGIN_FILE|linked) N [CONNECTOR_TYPE [CONFIG_JSON]]`

#[path = "../benches/quiet_context.rs"]
mod quiet_context;

use abi_stable::std_types::RStr;
use pdk::abi::connector::LifecycleHook;
use pdk::abi::value::PdkValue;
use pdk::Value;

fn main() -> Result<(), String> {
    let usage = "usage: boundary_calls (PLUGIN_FILE|linked) N [CONNECTOR_TYPE [CONFIG_JSON]]";
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (Some(file), Some(count)) = (args.first(), args.get(1)) else {
        return Err(usage.into());
    };
    let count: u64 = count.parse().map_err(|_| usage.to_owned())?;
    let kind = args.get(2).map_or("blackhole", String::as_str);
    let config = Value::from_json_str(args.get(3).map_or("null", String::as_str))
        .map_err(|e| format!("CONFIG_JSON: {e}"))?;
    let ctx = quiet_context::context();
    if file == "linked" {
        let entry = pdk::linked::LinkedEntry::of::<blackhole::Blackhole>();
        let mut connector = (entry.create)(ctx, config).map_err(|e| e.to_string())?;
        for _ in 0..count {
            futures::executor::block_on(connector.lifecycle(LifecycleHook::Pause))
                .map_err(|e| e.to_string())?;
        }
        return Ok(());
    }
    let plugin = pdk_runtime::loader::load(std::path::Path::new(file), None)?;
    let create = plugin.module.create_connector();
    let mut connector = create(RStr::from_str(kind), ctx, PdkValue::from(config))
        .into_result()
        .map_err(|e| e.message.to_string())?;
    for _ in 0..count {
        futures::executor::block_on(connector.lifecycle(LifecycleHook::Pause))
            .into_result()
            .map_err(|e| e.message.to_string())?;
    }
    Ok(())
}
