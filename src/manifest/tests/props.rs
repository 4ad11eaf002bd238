//! Property tests: the loader never panics, and every diagnostic points inside the source.

use proptest::prelude::*;

use super::{render, test_env};
use crate::manifest::{load_str, ManifestError};

const VALID: &str = include_str!("../../../tests/manifests/good/full.yaml");
const VALID_2: &str = include_str!("../../../tests/manifests/good/multi-account.yaml");

/// Asserts the invariants that hold for any input.
fn check(text: &str) -> Result<(), TestCaseError> {
    match load_str("prop.yaml", text, &test_env()) {
        Ok(loaded) => {
            for path in loaded.spans.paths() {
                let s = loaded.spans.get(path).expect("listed path");
                for span in [Some(s.full), Some(s.label), s.key].into_iter().flatten() {
                    prop_assert!(span.end <= text.len(), "{path}: {span:?} out of bounds");
                    prop_assert!(
                        text.is_char_boundary(span.start) && text.is_char_boundary(span.end)
                    );
                }
            }
            for w in &loaded.warnings {
                prop_assert!(w.span.end <= text.len());
                let _ = render(w);
            }
        }
        Err(e @ ManifestError::Invalid { .. }) => {
            prop_assert!(!e.problems().is_empty());
            for p in e.problems() {
                let labels = p.label_spans();
                prop_assert!(!labels.is_empty(), "{:?} has no label", p.kind);
                for l in labels {
                    let end = l.offset() + l.len();
                    prop_assert!(
                        end <= text.len(),
                        "{:?}: label {}..{} beyond {}",
                        p.kind,
                        l.offset(),
                        end,
                        text.len()
                    );
                    prop_assert!(text.is_char_boundary(l.offset()) && text.is_char_boundary(end));
                }
            }
            let _ = render(&e);
        }
        Err(other) => prop_assert!(false, "load_str returned {other:?}"),
    }
    Ok(())
}

/// One edit applied to a valid manifest.
#[derive(Debug, Clone)]
enum Mutation {
    Delete { at: usize, len: usize },
    Insert { at: usize, text: String },
    DuplicateLine { line: usize },
    SwapLines { a: usize, b: usize },
}

fn snippet() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(": ".to_owned()),
        Just("- ".to_owned()),
        Just("\n".to_owned()),
        Just("  ".to_owned()),
        Just("{".to_owned()),
        Just("}".to_owned()),
        Just("[".to_owned()),
        Just("\"".to_owned()),
        Just("'".to_owned()),
        Just("&a ".to_owned()),
        Just("*a".to_owned()),
        Just("${".to_owned()),
        Just("${AZURE_SUBSCRIPTION_ID}".to_owned()),
        Just("$${X}".to_owned()),
        Just("~".to_owned()),
        Just("é".to_owned()),
        Just("---\n".to_owned()),
        Just("name: x\n".to_owned()),
        Just("self".to_owned()),
        Just("\t".to_owned()),
        "\\PC{1,6}",
    ]
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<usize>(), 1usize..40).prop_map(|(at, len)| Mutation::Delete { at, len }),
        (any::<usize>(), snippet()).prop_map(|(at, text)| Mutation::Insert { at, text }),
        any::<usize>().prop_map(|line| Mutation::DuplicateLine { line }),
        (any::<usize>(), any::<usize>()).prop_map(|(a, b)| Mutation::SwapLines { a, b }),
    ]
}

fn floor_boundary(s: &str, mut i: usize) -> usize {
    i = i.min(s.len());
    while !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

fn apply(text: &str, m: &Mutation) -> String {
    match m {
        Mutation::Delete { at, len } => {
            let start = floor_boundary(text, at % (text.len() + 1));
            let end = floor_boundary(text, start + len);
            format!("{}{}", &text[..start], &text[end..])
        }
        Mutation::Insert { at, text: ins } => {
            let at = floor_boundary(text, at % (text.len() + 1));
            format!("{}{ins}{}", &text[..at], &text[at..])
        }
        Mutation::DuplicateLine { line } => {
            let mut lines: Vec<&str> = text.lines().collect();
            if !lines.is_empty() {
                let i = line % lines.len();
                lines.insert(i, lines[i]);
            }
            lines.join("\n")
        }
        Mutation::SwapLines { a, b } => {
            let mut lines: Vec<&str> = text.lines().collect();
            if !lines.is_empty() {
                let (a, b) = (a % lines.len(), b % lines.len());
                lines.swap(a, b);
            }
            lines.join("\n")
        }
    }
}

proptest! {
    #[test]
    fn arbitrary_text_never_panics(text in "\\PC{0,200}") {
        check(&text)?;
    }

    #[test]
    fn yaml_shaped_noise_never_panics(parts in prop::collection::vec(snippet(), 0..40)) {
        check(&parts.concat())?;
    }

    #[test]
    fn mutated_valid_manifests_never_panic(
        second in any::<bool>(),
        mutations in prop::collection::vec(mutation(), 1..4),
    ) {
        let mut text = if second { VALID_2 } else { VALID }.to_owned();
        for m in &mutations {
            text = apply(&text, m);
        }
        check(&text)?;
    }
}
