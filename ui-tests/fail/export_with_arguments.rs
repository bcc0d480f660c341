//! `#[pdk_export]` takes no arguments.
use pdk::prelude::*;

#[pdk_export(Metronome)]
mod plugin {}

fn main() {}
