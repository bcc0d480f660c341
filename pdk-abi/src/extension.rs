//! Room in every struct passed by value for what later versions of the
//! interface add: named values that a newer side may set and an older
//! side ignores. Empty, they cost nothing (no allocation).

use abi_stable::std_types::{RString, RVec};
use abi_stable::StableAbi;

use crate::value::PdkValue;

/// One named value of [`Extensions`].
#[repr(C)]
#[derive(Debug, Clone, PartialEq, StableAbi)]
pub struct Extension {
    /// Its name, chosen by the interface version that added it.
    pub name: RString,
    /// Its value.
    pub value: PdkValue,
}

/// Named values a struct carries beyond its fields; a side ignores the
/// names it does not know.
#[repr(C)]
#[derive(Debug, Clone, Default, PartialEq, StableAbi)]
pub struct Extensions(RVec<Extension>);

impl Extensions {
    /// None.
    #[must_use]
    pub const fn new() -> Self {
        Self(RVec::new())
    }

    /// The value named `name`, if there is one.
    #[must_use]
    pub fn get(&self, name: &str) -> Option<&PdkValue> {
        self.0
            .iter()
            .find(|extension| extension.name.as_str() == name)
            .map(|extension| &extension.value)
    }

    /// Sets the value named `name`.
    pub fn insert(&mut self, name: &str, value: PdkValue) {
        match self.0.iter_mut().find(|e| e.name.as_str() == name) {
            Some(extension) => extension.value = value,
            None => self.0.push(Extension {
                name: name.into(),
                value,
            }),
        }
    }

    /// Whether there are none.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_value_is_found_by_its_name_and_replaced() {
        let mut extensions = Extensions::new();
        assert!(extensions.is_empty());
        extensions.insert("origin", PdkValue::String("a".into()));
        extensions.insert("origin", PdkValue::String("b".into()));
        assert_eq!(
            extensions.get("origin"),
            Some(&PdkValue::String("b".into()))
        );
        assert_eq!(extensions.get("unknown"), None);
    }
}
