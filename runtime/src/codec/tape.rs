//! Values built from simd-json's tape: every container is allocated once,
//! at its final size, and nesting is bounded, so a hostile document
//! cannot exhaust the stack.

use abi_stable::std_types::{RString, RVec};
use pdk::abi::value::{PdkEntry, PdkScalar, PdkValue};
use simd_json::Node;

use super::JsonProblem;

/// How deeply a decoded document may nest arrays and objects.
pub const MAX_DEPTH: usize = 1024;

/// Reads one value at a time from a tape.
pub struct Cursor<'tape, 'input> {
    nodes: &'tape [Node<'input>],
    at: usize,
}

impl<'tape, 'input> Cursor<'tape, 'input> {
    /// A cursor at the start of `nodes`.
    pub fn new(nodes: &'tape [Node<'input>]) -> Self {
        Self { nodes, at: 0 }
    }

    fn next(&mut self) -> Result<Node<'input>, JsonProblem> {
        let node = self
            .nodes
            .get(self.at)
            .copied()
            .ok_or(JsonProblem::EndsEarly)?;
        self.at += 1;
        Ok(node)
    }

    fn key(&mut self) -> Result<&'input str, JsonProblem> {
        match self.next()? {
            Node::String(key) => Ok(key),
            _ => Err(JsonProblem::KeyNotString),
        }
    }

    /// The next value, in the C-ABI form.
    ///
    /// # Errors
    /// The document nests deeper than [`MAX_DEPTH`], or the tape is cut short.
    pub fn ffi(&mut self, depth: usize) -> Result<PdkValue, JsonProblem> {
        Ok(match self.next()? {
            Node::Static(node) => PdkValue::Static(scalar(node)),
            Node::String(text) => PdkValue::String(RString::from(text)),
            Node::Array { len, .. } => {
                check_depth(depth)?;
                let mut items = Vec::with_capacity(len);
                for _ in 0..len {
                    items.push(self.ffi(depth + 1)?);
                }
                PdkValue::Array(RVec::from(items))
            }
            Node::Object { len, .. } => {
                check_depth(depth)?;
                let mut entries = Vec::with_capacity(len);
                for _ in 0..len {
                    let key = RString::from(self.key()?);
                    let value = self.ffi(depth + 1)?;
                    entries.push(PdkEntry { key, value });
                }
                PdkValue::Object(RVec::from(entries))
            }
        })
    }
}

fn check_depth(depth: usize) -> Result<(), JsonProblem> {
    if depth < MAX_DEPTH {
        Ok(())
    } else {
        Err(JsonProblem::TooDeep)
    }
}

/// simd-json's scalar as PDK's (the two come from different versions of
/// value-trait).
fn scalar(node: simd_json::StaticNode) -> PdkScalar {
    match node {
        simd_json::StaticNode::I64(n) => PdkScalar::I64(n),
        simd_json::StaticNode::U64(n) => PdkScalar::U64(n),
        simd_json::StaticNode::F64(n) => PdkScalar::F64(n),
        simd_json::StaticNode::Bool(b) => PdkScalar::Bool(b),
        simd_json::StaticNode::Null => PdkScalar::Null,
    }
}
