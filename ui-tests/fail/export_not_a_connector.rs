//! Exporting a type that has no `#[connector]`.
use pdk::prelude::*;

pub struct Plain;

#[pdk_export]
mod plugin {
    pub use super::Plain;
}

fn main() {}
