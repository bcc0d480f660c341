//! A connector borrowing data: the runtime owns it for the whole flow.
use pdk::prelude::*;

#[connector(name = "x")]
pub struct Borrowing<'a> {
    name: &'a str,
}

fn main() {}
