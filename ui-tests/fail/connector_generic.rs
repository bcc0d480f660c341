//! A generic connector struct.
use pdk::prelude::*;

#[connector(name = "x")]
pub struct Generic<T> {
    value: T,
}

fn main() {}
