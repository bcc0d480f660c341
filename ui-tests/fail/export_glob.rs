//! `#[pdk_export]` with a glob import.
use pdk::prelude::*;

#[pdk_export]
mod plugin {
    pub use super::*;
}

fn main() {}
