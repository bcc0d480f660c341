//! Several mistakes in one `#[connector]`: every one is reported in the
//! same build.
use pdk::prelude::*;

#[connector(nmae = "x", name = "Bad Name", crate = 5)]
pub struct X<T>(T);

fn main() {}
