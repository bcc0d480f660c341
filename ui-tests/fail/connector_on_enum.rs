//! `#[connector]` on an enum.
use pdk::prelude::*;

#[connector(name = "x")]
pub enum NotAStruct {
    A,
}

fn main() {}
