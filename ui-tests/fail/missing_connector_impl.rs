//! `#[connector]` on a struct that never implements `Connector`.
use pdk::prelude::*;

#[connector(name = "x")]
pub struct X;

fn main() {}
