//! Moving heap buffers across the boundary without copying.
//!
//! abi_stable's `RVec::into_vec` copies a buffer that another library
//! allocated, because that library may use another allocator. Every PDK
//! plugin allocates with [`std::alloc::System`] (`#[pdk_export]` pins it),
//! so when the runtime promises the same ([`declare_system_allocator`]),
//! a buffer may simply change hands.

use std::mem::ManuallyDrop;
use std::sync::atomic::{AtomicBool, Ordering};

use abi_stable::std_types::{RString, RVec};

/// Set once the program (the runtime, or through the host services a
/// plugin's runtime) has promised to allocate with [`std::alloc::System`].
static SYSTEM_EVERYWHERE: AtomicBool = AtomicBool::new(false);

/// Promises that this program's global allocator is [`std::alloc::System`],
/// like every plugin's, so that buffers may move between the program and
/// its plugins without being copied.
///
/// # Safety
/// The program's `#[global_allocator]` must be `std::alloc::System` (or
/// none: the default). Buffers freed by the other side are otherwise freed
/// with the wrong allocator.
pub unsafe fn declare_system_allocator() {
    SYSTEM_EVERYWHERE.store(true, Ordering::Release);
}

/// Whether [`declare_system_allocator`] was called in this copy of `pdk`
/// (for a plugin: whether its runtime called it).
#[must_use]
pub fn system_allocator_everywhere() -> bool {
    SYSTEM_EVERYWHERE.load(Ordering::Acquire)
}

/// Takes over the buffer of `vec`, wherever it was allocated: without a
/// copy when every side allocates with the system allocator.
#[must_use]
pub fn take_vec<T>(vec: RVec<T>) -> Vec<T> {
    if !system_allocator_everywhere() {
        return vec.into_vec();
    }
    let mut vec = ManuallyDrop::new(vec);
    // SAFETY: every `RVec` in a PDK process is built from a `Vec`, or grown
    // through its vtable by a `Vec` in the library that made it; every such
    // library (the runtime, by its promise, and every plugin, by the
    // `#[global_allocator]` of `#[pdk_export]`) allocates with
    // `std::alloc::System`, as this library does. So the pointer comes from
    // the same allocator, with the layout of a `Vec<T>` of this capacity,
    // and `vec` is not dropped: the buffer has exactly one owner.
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
    fn buffers_change_hands_without_copies_once_declared() {
        // SAFETY: test binaries use the default global allocator, `System`.
        unsafe { declare_system_allocator() };
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
