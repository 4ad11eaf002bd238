//! `${VAR}` / `${VAR:-default}` interpolation of scalar values.
//!
//! Interpolation runs on the span-carrying tree, one scalar at a time, *before* typed parsing:
//! the substituted value is what gets parsed (`version: ${V}` is an integer if `V=1`), while
//! every span still refers to the original file, so errors point at what the user wrote.
//! Keys are never interpolated. `$${` is a literal `${`.

use std::collections::{BTreeMap, HashMap};
use std::hash::BuildHasher;

use super::error::{Finding, ProblemKind};
use super::spans::Span;
use super::tree::{Node, NodeKind};

/// Where `${VAR}` values come from.
///
/// Injectable so tests (and callers that layer `.env` files or CI variables) never have to
/// mutate the process environment.
pub trait EnvLookup {
    /// The value of `name`, or `None` if it is not set.
    fn var(&self, name: &str) -> Option<String>;
}

/// Reads variables from the process environment (`std::env::var`).
#[derive(Debug, Clone, Copy, Default)]
pub struct ProcessEnv;

impl EnvLookup for ProcessEnv {
    fn var(&self, name: &str) -> Option<String> {
        std::env::var(name).ok()
    }
}

impl<S: BuildHasher> EnvLookup for HashMap<String, String, S> {
    fn var(&self, name: &str) -> Option<String> {
        self.get(name).cloned()
    }
}

impl EnvLookup for BTreeMap<String, String> {
    fn var(&self, name: &str) -> Option<String> {
        self.get(name).cloned()
    }
}

impl<F: Fn(&str) -> Option<String>> EnvLookup for F {
    fn var(&self, name: &str) -> Option<String> {
        self(name)
    }
}

/// A problem inside one scalar, located by byte offsets into the scalar's *value*.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ScalarError {
    pub kind: ProblemKind,
    /// The exact text of the offending `${…}` (used to find it in the source).
    pub token: String,
    /// Byte offset of the token in the value.
    pub offset: usize,
}

fn is_var_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Interpolates one value. Returns `Ok(None)` if the value contains nothing to interpolate.
///
/// Semantics follow the shell: `${VAR:-default}` uses the default when `VAR` is unset *or
/// empty*; the default is literal text up to the first `}`.
pub(crate) fn interpolate_value(
    value: &str,
    env: &dyn EnvLookup,
) -> Result<Option<String>, Vec<ScalarError>> {
    if !value.contains('$') {
        return Ok(None);
    }
    let mut out = String::with_capacity(value.len());
    let mut errors = Vec::new();
    let mut changed = false;
    let mut rest = value;
    let mut offset = 0;
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        let at = &rest[i..];
        if let Some(after) = at.strip_prefix("$${") {
            out.push_str("${");
            changed = true;
            rest = after;
            offset += i + 3;
            continue;
        }
        if !at.starts_with("${") {
            out.push('$');
            rest = &at[1..];
            offset += i + 1;
            continue;
        }
        let Some(close) = at.find('}') else {
            errors.push(ScalarError {
                kind: ProblemKind::UnterminatedInterpolation,
                token: at.to_owned(),
                offset: offset + i,
            });
            rest = "";
            break;
        };
        let token = &at[..=close];
        let inner = &at[2..close];
        let (name, default) = match inner.find(":-") {
            Some(d) => (&inner[..d], Some(&inner[d + 2..])),
            None => (inner, None),
        };
        changed = true;
        if !is_var_name(name) {
            errors.push(ScalarError {
                kind: ProblemKind::InvalidEnvVarName {
                    name: name.to_owned(),
                },
                token: token.to_owned(),
                offset: offset + i,
            });
        } else {
            match (env.var(name).filter(|v| !v.is_empty()), default) {
                (Some(v), _) => out.push_str(&v),
                (None, Some(d)) => out.push_str(d),
                (None, None) => match env.var(name) {
                    // Set but empty, no default: the empty value is what the user asked for.
                    Some(empty) => out.push_str(&empty),
                    None => errors.push(ScalarError {
                        kind: ProblemKind::MissingEnvVar {
                            name: name.to_owned(),
                        },
                        token: token.to_owned(),
                        offset: offset + i,
                    }),
                },
            }
        }
        rest = &at[close + 1..];
        offset += i + close + 1;
    }
    out.push_str(rest);
    if errors.is_empty() {
        Ok(changed.then_some(out))
    } else {
        Err(errors)
    }
}

/// Interpolates every value scalar of the tree in place; returns a finding per problem, located
/// at the `${…}` in the original text when it can be found there (else at the whole scalar).
pub(crate) fn interpolate_tree(root: &mut Node, text: &str, env: &dyn EnvLookup) -> Vec<Finding> {
    let mut findings = Vec::new();
    walk(root, text, env, &mut findings);
    findings
}

fn walk(node: &mut Node, text: &str, env: &dyn EnvLookup, findings: &mut Vec<Finding>) {
    match &mut node.kind {
        NodeKind::Scalar { value, .. } => match interpolate_value(value, env) {
            Ok(None) => {}
            Ok(Some(new)) => {
                *value = new;
                node.interpolated = true;
            }
            Err(errors) => {
                let raw = text.get(node.span.start..node.span.end).unwrap_or("");
                let mut cursor = 0;
                for e in errors {
                    let at = match raw[cursor..].find(&e.token) {
                        Some(i) => {
                            let start = node.span.start + cursor + i;
                            cursor += i + e.token.len();
                            Span::new(start, start + e.token.len())
                        }
                        None => node.head,
                    };
                    findings.push(Finding::new(e.kind, at));
                }
            }
        },
        NodeKind::Seq(items) => {
            for item in items {
                walk(item, text, env, findings);
            }
        }
        NodeKind::Map(entries) => {
            for e in entries {
                walk(&mut e.value, text, env, findings);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::tree;

    fn env() -> HashMap<String, String> {
        HashMap::from([
            ("SUB".to_owned(), "1234".to_owned()),
            ("EMPTY".to_owned(), String::new()),
        ])
    }

    fn interp(v: &str) -> Result<Option<String>, Vec<ScalarError>> {
        interpolate_value(v, &env())
    }

    #[test]
    fn substitutes_set_variables() {
        assert_eq!(interp("id-${SUB}-x").unwrap().as_deref(), Some("id-1234-x"));
        assert_eq!(interp("plain").unwrap(), None);
        assert_eq!(interp("cost $5").unwrap(), None);
    }

    #[test]
    fn defaults_apply_when_unset_or_empty() {
        assert_eq!(
            interp("${NOPE:-eastus}").unwrap().as_deref(),
            Some("eastus")
        );
        assert_eq!(interp("${EMPTY:-d}").unwrap().as_deref(), Some("d"));
        assert_eq!(interp("${SUB:-d}").unwrap().as_deref(), Some("1234"));
        assert_eq!(interp("${NOPE:-}").unwrap().as_deref(), Some(""));
        assert_eq!(interp("${EMPTY}").unwrap().as_deref(), Some(""));
    }

    #[test]
    fn double_dollar_escapes_a_literal_placeholder() {
        assert_eq!(interp("$${SUB}").unwrap().as_deref(), Some("${SUB}"));
        assert_eq!(
            interp("a$${NOPE}b${SUB}").unwrap().as_deref(),
            Some("a${NOPE}b1234")
        );
    }

    #[test]
    fn missing_variable_is_named_with_its_offset() {
        let errs = interp("x-${NOPE}-${SUB}-${ALSO_NOPE}").unwrap_err();
        assert_eq!(errs.len(), 2);
        assert_eq!(
            errs[0].kind,
            ProblemKind::MissingEnvVar {
                name: "NOPE".into()
            }
        );
        assert_eq!(errs[0].offset, 2);
        assert_eq!(errs[0].token, "${NOPE}");
        assert_eq!(
            errs[1].kind,
            ProblemKind::MissingEnvVar {
                name: "ALSO_NOPE".into()
            }
        );
        assert_eq!(errs[1].offset, 17);
    }

    #[test]
    fn malformed_placeholders_are_errors() {
        let errs = interp("${1BAD}").unwrap_err();
        assert_eq!(
            errs[0].kind,
            ProblemKind::InvalidEnvVarName {
                name: "1BAD".into()
            }
        );
        let errs = interp("a ${OPEN").unwrap_err();
        assert_eq!(errs[0].kind, ProblemKind::UnterminatedInterpolation);
        assert_eq!(errs[0].offset, 2);
    }

    #[test]
    fn closures_are_env_lookups() {
        let f = |n: &str| (n == "X").then(|| "y".to_owned());
        assert_eq!(interpolate_value("${X}", &f).unwrap().as_deref(), Some("y"));
    }

    #[test]
    fn tree_errors_point_at_the_placeholder_in_the_original_text() {
        let src = "a: \"pre ${SUB} ${NOPE}\"\nb: ${NOPE:-ok}\nc: ${GONE}\n";
        let mut root = tree::parse(src).root.unwrap();
        let findings = interpolate_tree(&mut root, src, &env());
        assert_eq!(findings.len(), 2);
        assert_eq!(&src[findings[0].at.start..findings[0].at.end], "${NOPE}");
        assert_eq!(&src[findings[1].at.start..findings[1].at.end], "${GONE}");
        assert_eq!(root.get("b").unwrap().value.scalar(), Some("ok"));
    }

    #[test]
    fn keys_are_not_interpolated() {
        let src = "${SUB}: ${SUB}\n";
        let mut root = tree::parse(src).root.unwrap();
        assert!(interpolate_tree(&mut root, src, &env()).is_empty());
        let e = root.get("${SUB}").expect("key kept literally");
        assert_eq!(e.value.scalar(), Some("1234"));
        assert!(e.value.interpolated);
    }
}
