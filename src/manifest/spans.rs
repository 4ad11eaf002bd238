//! Byte-offset spans into the original manifest text, and an index from value paths
//! (`roleAssignments[0].principals[2]`) to those spans.
//!
//! Diagnostics must point at what the user wrote, so every span here is a byte range into the
//! *original* file text (before `${VAR}` interpolation), ready to hand to miette.

use std::collections::BTreeMap;

use miette::SourceSpan;

/// A half-open byte range `[start, end)` into the original manifest text.
///
/// Kept separate from [`SourceSpan`] so it can be ordered, merged and compared cheaply; convert
/// with `SourceSpan::from(span)` when building a diagnostic.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Span {
    /// Byte offset of the first byte.
    pub start: usize,
    /// Byte offset one past the last byte.
    pub end: usize,
}

impl Span {
    /// Builds a span, normalising a reversed range to an empty one at `start`.
    pub fn new(start: usize, end: usize) -> Self {
        Span {
            start,
            end: end.max(start),
        }
    }

    /// A zero-width span, for positions (end of file, a syntax error's location).
    pub fn point(at: usize) -> Self {
        Span { start: at, end: at }
    }

    /// Length in bytes.
    pub fn len(&self) -> usize {
        self.end - self.start
    }

    /// Whether the span covers no bytes.
    pub fn is_empty(&self) -> bool {
        self.end == self.start
    }

    /// The smallest span covering both `self` and `other`.
    pub fn cover(self, other: Span) -> Span {
        Span::new(self.start.min(other.start), self.end.max(other.end))
    }
}

impl From<Span> for SourceSpan {
    fn from(s: Span) -> Self {
        SourceSpan::new(s.start.into(), s.len())
    }
}

/// Maps yaml-rust2 marker indices (counted in `char`s) to byte offsets.
///
/// yaml-rust2 counts characters; miette wants bytes. Non-ASCII text (names, comments) would
/// otherwise shift every later label.
pub(crate) struct CharToByte {
    offsets: Vec<usize>,
    len: usize,
}

impl CharToByte {
    /// Indexes `text` once; lookups are then O(1).
    pub(crate) fn new(text: &str) -> Self {
        let mut offsets: Vec<usize> = text.char_indices().map(|(b, _)| b).collect();
        offsets.push(text.len());
        CharToByte {
            offsets,
            len: text.len(),
        }
    }

    /// Byte offset of the `char_index`-th character (clamped to the end of the text).
    pub(crate) fn byte(&self, char_index: usize) -> usize {
        self.offsets.get(char_index).copied().unwrap_or(self.len)
    }
}

/// The spans recorded for one node of the manifest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NodeSpans {
    /// The whole value: a scalar's text (with quotes), or a collection from its first to its last
    /// byte.
    pub full: Span,
    /// Where to point a diagnostic about this node: the scalar itself, the key that introduces a
    /// collection (`model:`), or the first line of a list item (`- name: chat`). Never spans many
    /// lines, so labels stay readable.
    pub label: Span,
    /// The mapping key this value belongs to, when it is a mapping value.
    pub key: Option<Span>,
}

/// Index from a node path to its spans.
///
/// Paths use the manifest's own key names: `accounts[0].customSubdomain`,
/// `roleAssignments[1].principals[0]`, `tags.costCenter`; keys that are not plain identifiers
/// are quoted: `tags["cost center"]`. The root is the empty path `""`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SpanIndex {
    entries: BTreeMap<String, NodeSpans>,
}

impl SpanIndex {
    pub(crate) fn insert(&mut self, path: String, spans: NodeSpans) {
        self.entries.entry(path).or_insert(spans);
    }

    /// Spans of the node at `path`, if that node was written in the file.
    pub fn get(&self, path: &str) -> Option<&NodeSpans> {
        self.entries.get(path)
    }

    /// Where to point a diagnostic about `path`; `None` if the node is not in the file (e.g. a
    /// field left to its default).
    pub fn label(&self, path: &str) -> Option<Span> {
        self.entries.get(path).map(|s| s.label)
    }

    /// Like [`SpanIndex::label`], but falls back to the nearest ancestor that is in the file, so
    /// a diagnostic about a defaulted field still lands on its object. The root falls back to the
    /// start of the file.
    pub fn label_or_ancestor(&self, path: &str) -> Span {
        let mut p = path;
        loop {
            if let Some(s) = self.label(p) {
                return s;
            }
            match parent_path(p) {
                Some(parent) => p = parent,
                None => return Span::point(0),
            }
        }
    }

    /// Every recorded path, in sorted order (for tools that want to walk the index).
    pub fn paths(&self) -> impl Iterator<Item = &str> {
        self.entries.keys().map(String::as_str)
    }
}

/// Whether `key` can be written bare in a path (`tags.costCenter`) rather than quoted.
fn is_plain_key(key: &str) -> bool {
    !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

/// Path of the child `key` of the mapping at `parent`.
pub fn child_key(parent: &str, key: &str) -> String {
    if is_plain_key(key) {
        if parent.is_empty() {
            key.to_owned()
        } else {
            format!("{parent}.{key}")
        }
    } else {
        let escaped = key.replace('\\', "\\\\").replace('"', "\\\"");
        format!("{parent}[\"{escaped}\"]")
    }
}

/// Path of the `index`-th item of the sequence at `parent`.
pub fn child_index(parent: &str, index: usize) -> String {
    format!("{parent}[{index}]")
}

/// The path of the parent node, or `None` for the root.
pub fn parent_path(path: &str) -> Option<&str> {
    if path.is_empty() {
        return None;
    }
    let bytes = path.as_bytes();
    if path.ends_with("\"]") {
        // Quoted key: find the `["` that opens it, skipping escaped quotes.
        let mut i = path.len() - 2;
        while i > 0 {
            i -= 1;
            if bytes[i] == b'"' && (i == 0 || bytes[i - 1] != b'\\') {
                return Some(&path[..i.saturating_sub(1)]);
            }
        }
        return Some("");
    }
    if path.ends_with(']') {
        return path.rfind('[').map(|i| &path[..i]);
    }
    Some(path.rfind('.').map_or("", |i| &path[..i]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn child_paths_quote_only_when_needed() {
        assert_eq!(child_key("", "accounts"), "accounts");
        assert_eq!(child_key("tags", "costCenter"), "tags.costCenter");
        assert_eq!(child_key("tags", "cost center"), "tags[\"cost center\"]");
        assert_eq!(child_index("accounts", 3), "accounts[3]");
    }

    #[test]
    fn parent_path_walks_up_every_segment_kind() {
        assert_eq!(
            parent_path("roleAssignments[0].principals[2]"),
            Some("roleAssignments[0].principals")
        );
        assert_eq!(
            parent_path("roleAssignments[0].principals"),
            Some("roleAssignments[0]")
        );
        assert_eq!(parent_path("roleAssignments[0]"), Some("roleAssignments"));
        assert_eq!(parent_path("roleAssignments"), Some(""));
        assert_eq!(parent_path(""), None);
        assert_eq!(parent_path("tags[\"a.b\\\"c\"]"), Some("tags"));
    }

    #[test]
    fn label_or_ancestor_falls_back_to_the_nearest_written_node() {
        let mut idx = SpanIndex::default();
        let s = Span::new(3, 7);
        idx.insert(
            "accounts[0]".into(),
            NodeSpans {
                full: s,
                label: s,
                key: None,
            },
        );
        assert_eq!(idx.label_or_ancestor("accounts[0].sku"), s);
        assert_eq!(idx.label_or_ancestor("verify.timeout"), Span::point(0));
    }

    #[test]
    fn char_indices_become_byte_offsets() {
        let c = CharToByte::new("é: ü");
        assert_eq!(c.byte(0), 0);
        assert_eq!(c.byte(1), 2);
        assert_eq!(c.byte(3), 4);
        assert_eq!(c.byte(99), "é: ü".len());
    }
}
