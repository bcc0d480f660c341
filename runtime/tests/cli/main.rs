//! Integration tests: the real `pdk-runtime` binary (and its library) on
//! the real bundled plugins, which these tests build themselves.

mod bad_files;
mod batching;
mod blocked_threads;
mod capabilities;
mod common;
mod connectors;
mod conventions;
mod ecosystem;
mod examples;
mod flow_errors;
mod full_disk;
mod host_services;
mod hostile_files;
mod isolation;
mod kafka;
mod limits;
mod linked;
mod nats;
mod network;
mod observe;
mod outages;
mod plugin_hygiene;
mod plugins_list;
mod reference;
mod reload;
mod run_flow;
mod serve;
mod supervision;
mod tutorial;
mod variables;
