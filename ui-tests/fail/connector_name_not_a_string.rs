//! A connector name that is not a string literal.
use pdk::prelude::*;

#[connector(name = tcp)]
pub struct NotAString;

fn main() {}
