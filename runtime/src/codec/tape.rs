//! Values built from simd-json's tape: every container is allocated once,
//! at its final size, and nesting is bounded, so a hostile document
//! cannot exhaust the stack.

use abi_stable::std_types::{RString, RVec};
use pdk::abi::value::{PdkEntry, PdkScalar, PdkValue};
use simd_json::Node;

/// How deeply a decoded document may nest arrays and objects.
pub const MAX_DEPTH: usize = 1024;

/// What is wrong with a tape simd-json accepted. (One byte: every level
/// of the recursive read returns it, so its result stays as small as the
/// value it carries.)
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Malformed {
    /// The tape ends before its last value.
    #[error("the document ends early")]
    EndsEarly,
    /// An object has a key that is not a string.
    #[error("an object key is not a string")]
    KeyNotString,
    /// It nests deeper than [`MAX_DEPTH`].
    #[error("arrays and objects nest deeper than {MAX_DEPTH} levels")]
    TooDeep,
}

/// Reads one value at a time from a tape.
///
/// The first problem found is kept in the cursor rather than returned
/// through every level of the recursive read: a well-formed document,
/// the common case, then pays no `Result` per value. After a problem the
/// read goes on without descending, building `null`s, and the partial
/// value is dropped.
pub struct Cursor<'tape, 'input> {
    nodes: &'tape [Node<'input>],
    at: usize,
    problem: Option<Malformed>,
}

impl<'tape, 'input> Cursor<'tape, 'input> {
    /// A cursor at the start of `nodes`.
    pub fn new(nodes: &'tape [Node<'input>]) -> Self {
        Self {
            nodes,
            at: 0,
            problem: None,
        }
    }

    /// The value the tape holds, in the C-ABI form.
    ///
    /// # Errors
    /// The document nests deeper than [`MAX_DEPTH`], an object key is not
    /// a string, or the tape is cut short.
    pub fn value(mut self) -> Result<PdkValue, Malformed> {
        let value = self.ffi(0);
        match self.problem {
            None => Ok(value),
            Some(problem) => Err(problem),
        }
    }

    fn next(&mut self) -> Option<Node<'input>> {
        let node = self.nodes.get(self.at).copied();
        match node {
            Some(_) => self.at += 1,
            None => self.found(Malformed::EndsEarly),
        }
        node
    }

    #[cold]
    fn found(&mut self, problem: Malformed) {
        self.problem.get_or_insert(problem);
    }

    fn ffi(&mut self, depth: usize) -> PdkValue {
        const NULL: PdkValue = PdkValue::Static(PdkScalar::Null);
        match self.next() {
            None => NULL,
            Some(Node::Static(node)) => PdkValue::Static(scalar(node)),
            Some(Node::String(text)) => PdkValue::String(RString::from(text)),
            Some(Node::Array { .. } | Node::Object { .. }) if depth >= MAX_DEPTH => {
                self.found(Malformed::TooDeep);
                NULL
            }
            Some(Node::Array { len, .. }) => {
                let mut items = Vec::with_capacity(len);
                for _ in 0..len {
                    items.push(self.ffi(depth + 1));
                }
                PdkValue::Array(RVec::from(items))
            }
            Some(Node::Object { len, .. }) => {
                let mut entries = Vec::with_capacity(len);
                for _ in 0..len {
                    let key = match self.next() {
                        Some(Node::String(key)) => RString::from(key),
                        _ => {
                            self.found(Malformed::KeyNotString);
                            RString::new()
                        }
                    };
                    let value = self.ffi(depth + 1);
                    entries.push(PdkEntry { key, value });
                }
                PdkValue::Object(RVec::from(entries))
            }
        }
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

#[cfg(test)]
mod tests {
    use simd_json::StaticNode;

    use super::*;

    fn read(nodes: &[Node<'_>]) -> Result<PdkValue, Malformed> {
        Cursor::new(nodes).value()
    }

    #[test]
    fn a_well_formed_tape_becomes_its_value() {
        let nodes = [
            Node::Object { len: 2, count: 5 },
            Node::String("a"),
            Node::Static(StaticNode::U64(1)),
            Node::String("b"),
            Node::Array { len: 0, count: 0 },
        ];
        let entries = [
            PdkEntry {
                key: "a".into(),
                value: PdkValue::Static(PdkScalar::U64(1)),
            },
            PdkEntry {
                key: "b".into(),
                value: PdkValue::Array(RVec::new()),
            },
        ];
        assert_eq!(
            read(&nodes),
            Ok(PdkValue::Object(entries.into_iter().collect()))
        );
    }

    #[test]
    fn a_cut_tape_is_found_however_deep_it_is_cut() {
        let nodes = [
            Node::Array { len: 2, count: 3 },
            Node::Array { len: 2, count: 1 },
            Node::Static(StaticNode::Null),
        ];
        assert_eq!(read(&nodes), Err(Malformed::EndsEarly));
        assert_eq!(read(&[]), Err(Malformed::EndsEarly));
    }

    #[test]
    fn a_key_that_is_not_a_string_is_found_and_the_first_problem_kept() {
        let nodes = [
            Node::Object { len: 2, count: 3 },
            Node::Static(StaticNode::Null),
            Node::Static(StaticNode::Null),
        ];
        assert_eq!(read(&nodes), Err(Malformed::KeyNotString));
    }
}
