//! `name` given twice.
use pdk::prelude::*;

#[connector(name = "a", name = "b")]
pub struct Twice;

fn main() {}
