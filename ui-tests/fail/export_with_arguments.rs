//! `#[pdk_export]` takes only `crate = "..."`.
use pdk::prelude::*;

#[pdk_export(Metronome)]
mod plugin {}

fn main() {}
