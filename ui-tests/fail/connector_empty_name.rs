//! An empty connector name.
use pdk::prelude::*;

#[connector(name = "")]
pub struct Empty;

fn main() {}
