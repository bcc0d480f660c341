//! Every error found in one macro input, reported together (as serde's
//! `Ctxt` and PyO3's `combine_errors` do): an author fixes them in one
//! round instead of one per build.

/// The errors found so far.
#[derive(Default)]
pub struct Errors(Option<syn::Error>);

impl Errors {
    /// Records `error`.
    pub fn push(&mut self, error: syn::Error) {
        match &mut self.0 {
            Some(all) => all.combine(error),
            None => self.0 = Some(error),
        }
    }

    /// The value of `result`, or `None` with its error recorded.
    pub fn take<T>(&mut self, result: syn::Result<T>) -> Option<T> {
        result.map_err(|error| self.push(error)).ok()
    }

    /// Whether nothing was recorded.
    pub fn is_empty(&self) -> bool {
        self.0.is_none()
    }

    /// `Ok` if nothing was recorded, else every error at once.
    pub fn finish(self) -> syn::Result<()> {
        self.0.map_or(Ok(()), Err)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proc_macro2::Span;

    #[test]
    fn every_error_is_kept_in_order() {
        let mut errors = Errors::default();
        assert_eq!(errors.take(Ok::<u8, syn::Error>(1)), Some(1));
        errors.push(syn::Error::new(Span::call_site(), "first"));
        assert_eq!(
            errors.take(Err::<u8, _>(syn::Error::new(Span::call_site(), "second"))),
            None
        );
        let all = errors.finish().unwrap_err();
        let messages: Vec<String> = all.into_iter().map(|e| e.to_string()).collect();
        assert_eq!(messages, ["first", "second"]);
    }

    #[test]
    fn no_error_is_ok() {
        assert!(Errors::default().finish().is_ok());
    }
}
