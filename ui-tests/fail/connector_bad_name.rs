//! A connector name that cannot be typed in a flow file.
use pdk::prelude::*;

#[connector(name = "Tcp Server")]
pub struct BadName;

fn main() {}
