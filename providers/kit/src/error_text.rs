//! Error text for the one-line messages providers give: an SDK error and its causes.

use std::error::Error as StdError;

/// The causes of `e`, outermost first, joined with `": "`. A cause whose text an earlier one
/// already holds is left out: SDK errors often repeat their source in their own text.
#[must_use]
pub fn chain(e: &dyn StdError) -> String {
    let mut parts: Vec<String> = vec![e.to_string()];
    let mut source = e.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        source = s.source();
    }
    parts.join(": ")
}

#[cfg(test)]
mod tests {
    use super::chain;

    #[derive(Debug)]
    struct E(&'static str, Option<Box<E>>);

    impl std::fmt::Display for E {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str(self.0)
        }
    }

    impl std::error::Error for E {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            self.1.as_deref().map(|e| e as _)
        }
    }

    #[test]
    fn causes_outermost_first_each_once() {
        let e = E("request failed", Some(Box::new(E("connect: refused", Some(Box::new(E("refused", None)))))));
        assert_eq!(chain(&e), "request failed: connect: refused");
        assert_eq!(chain(&E("alone", None)), "alone");
    }
}
