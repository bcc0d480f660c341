//! `#[connector]` on a function.
use pdk::prelude::*;

#[connector(name = "x")]
pub fn not_a_struct() {}

fn main() {}
