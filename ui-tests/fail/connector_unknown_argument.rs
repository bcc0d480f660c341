//! A misspelt argument gets a "did you mean" hint.
use pdk::prelude::*;

#[connector(nmae = "x")]
pub struct Misspelt;

fn main() {}
