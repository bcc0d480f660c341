//! `#[connector]` without `name`.
use pdk::prelude::*;

#[connector]
pub struct Unnamed;

fn main() {}
