//! Only `use` items belong in the export module.
use pdk::prelude::*;

#[pdk_export]
mod plugin {
    pub fn helper() {}
}

fn main() {}
