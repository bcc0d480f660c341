//! `#[pdk_export]` naming no connector.
use pdk::prelude::*;

#[pdk_export]
mod plugin {}

fn main() {}
