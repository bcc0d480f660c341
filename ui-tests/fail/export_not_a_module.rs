//! `#[pdk_export]` on a struct.
use pdk::prelude::*;

#[pdk_export]
pub struct Plugin;

fn main() {}
