//! Moving heap buffers across the boundary without copying.
//!
//! abi_stable's `RVec::into_vec` copies a buffer that another library
//! allocated, because that library may use another allocator. Every
//! program and every plugin that links `pdk` allocates with
//! [`std::alloc::System`]: `pdk` declares it as the global allocator (so a
//! crate that declares another one does not compile), and a buffer may
//! simply change hands.

use std::mem::ManuallyDrop;

use abi_stable::std_types::{RString, RVec};

/// The global allocator of every program and plugin that links `pdk`.
#[global_allocator]
static PDK_SYSTEM_ALLOCATOR: std::alloc::System = std::alloc::System;

/// Takes over the buffer of `vec`, wherever it was allocated, without a
/// copy.
#[must_use]
pub fn take_vec<T>(vec: RVec<T>) -> Vec<T> {
    let mut vec = ManuallyDrop::new(vec);
    // SAFETY: every `RVec` in a PDK process is built from a `Vec`, or grown
    // through its vtable by a `Vec` in the library that made it; every such
    // library (the runtime and every plugin) links `pdk`, whose global
    // allocator is `std::alloc::System`, as this library's is. So the
    // pointer comes from the same allocator, with the layout of a `Vec<T>`
    // of this capacity, and `vec` is not dropped: the buffer has exactly
    // one owner.
    unsafe { Vec::from_raw_parts(vec.as_mut_ptr(), vec.len(), vec.capacity()) }
}

/// [`take_vec`] for strings.
#[must_use]
pub fn take_string(string: RString) -> String {
    let bytes = take_vec(string.into_bytes());
    // SAFETY: the bytes of an `RString` are valid UTF-8.
    unsafe { String::from_utf8_unchecked(bytes) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buffers_change_hands_without_copies() {
        let text = String::from("moved, not copied");
        let ptr = text.as_ptr();
        let back = take_string(RString::from(text));
        assert_eq!(back.as_ptr(), ptr);
        assert_eq!(back, "moved, not copied");
        let bytes = vec![1u8, 2, 3];
        let ptr = bytes.as_ptr();
        let back = take_vec(RVec::from(bytes));
        assert_eq!(back.as_ptr(), ptr);
    }
}
