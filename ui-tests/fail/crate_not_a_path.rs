//! `crate = "..."` names a path.
use pdk::prelude::*;

#[connector(name = "x", crate = "not a path")]
pub struct X;

fn main() {}
