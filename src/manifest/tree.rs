//! A small YAML tree that remembers where every node came from.
//!
//! serde needs a value tree; diagnostics need byte spans. yaml-rust2's event parser gives us both:
//! we build [`Node`]s from its marked events, detect duplicate keys on the way (serde would
//! silently keep the last one), and later deserialize the typed model straight from this tree
//! (see `de.rs`), so every typed error still knows its span.

use std::collections::HashMap;

use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser, Tag};
use yaml_rust2::scanner::{Marker, TScalarStyle};

use super::error::{Finding, ProblemKind};
use super::spans::{child_index, child_key, CharToByte, NodeSpans, Span, SpanIndex};

/// Upper bound on nodes (alias expansions included), so a "billion laughs" file cannot exhaust
/// memory. Real manifests have a few hundred.
const MAX_NODES: usize = 100_000;

/// One YAML node with its source spans.
#[derive(Debug, Clone)]
pub(crate) struct Node {
    pub kind: NodeKind,
    /// The whole node in the original text.
    pub span: Span,
    /// Where diagnostics about this node point (see [`NodeSpans::label`]).
    pub head: Span,
    /// Set when `${VAR}` interpolation changed this scalar, so an interpolated empty string is
    /// not mistaken for YAML `null`.
    pub interpolated: bool,
}

/// The shape of a [`Node`].
#[derive(Debug, Clone)]
pub(crate) enum NodeKind {
    /// A scalar; `plain` is false for quoted, block and `!!str`-tagged scalars, which are always
    /// strings.
    Scalar {
        value: String,
        plain: bool,
    },
    Seq(Vec<Node>),
    Map(Vec<Entry>),
}

/// One `key: value` pair of a mapping. Keys are always strings in a manifest.
#[derive(Debug, Clone)]
pub(crate) struct Entry {
    pub key: String,
    pub key_span: Span,
    pub value: Node,
}

impl Node {
    /// The scalar text if this is a scalar.
    pub(crate) fn scalar(&self) -> Option<&str> {
        match &self.kind {
            NodeKind::Scalar { value, .. } => Some(value),
            _ => None,
        }
    }

    /// Looks up a mapping entry by key.
    pub(crate) fn get(&self, key: &str) -> Option<&Entry> {
        match &self.kind {
            NodeKind::Map(entries) => entries.iter().find(|e| e.key == key),
            _ => None,
        }
    }

    /// Whether this is YAML `null` (`~`, `null`, or nothing) and was not produced by
    /// interpolation.
    pub(crate) fn is_null(&self) -> bool {
        match &self.kind {
            NodeKind::Scalar { value, plain } => {
                *plain
                    && !self.interpolated
                    && matches!(value.as_str(), "" | "~" | "null" | "Null" | "NULL")
            }
            _ => false,
        }
    }

    fn count(&self) -> usize {
        1 + match &self.kind {
            NodeKind::Scalar { .. } => 0,
            NodeKind::Seq(items) => items.iter().map(Node::count).sum(),
            NodeKind::Map(entries) => entries.iter().map(|e| 1 + e.value.count()).sum(),
        }
    }

    /// Records this node and all descendants in `index` under `path`.
    pub(crate) fn index_into(&self, path: &str, key: Option<Span>, index: &mut SpanIndex) {
        index.insert(
            path.to_owned(),
            NodeSpans {
                full: self.span,
                label: self.head,
                key,
            },
        );
        match &self.kind {
            NodeKind::Scalar { .. } => {}
            NodeKind::Seq(items) => {
                for (i, item) in items.iter().enumerate() {
                    item.index_into(&child_index(path, i), None, index);
                }
            }
            NodeKind::Map(entries) => {
                for e in entries {
                    e.value
                        .index_into(&child_key(path, &e.key), Some(e.key_span), index);
                }
            }
        }
    }
}

/// The result of reading a file's YAML structure.
pub(crate) struct Parsed {
    /// The document's root, if the text parsed and was not empty.
    pub root: Option<Node>,
    /// Structural problems: syntax errors, duplicate keys, several documents, …
    pub findings: Vec<Finding>,
}

/// Parses `text` into a span-carrying tree. Never panics on malformed input; problems are
/// reported as findings with spans inside `text`.
pub(crate) fn parse(text: &str) -> Parsed {
    // yaml-rust2 does not skip a byte-order mark; strip it and shift offsets back.
    let (base, body) = match text.strip_prefix('\u{feff}') {
        Some(rest) => (text.len() - rest.len(), rest),
        None => (0, text),
    };
    let mut b = Builder {
        text,
        base,
        c2b: CharToByte::new(body),
        stack: Vec::new(),
        root: None,
        documents: 0,
        anchors: HashMap::new(),
        nodes: 0,
        findings: Vec::new(),
        stopped: false,
    };
    let result = Parser::new_from_str(body).load(&mut b, true);
    if let Err(e) = result {
        let at = b.byte(e.marker());
        return Parsed {
            root: None,
            findings: vec![Finding::new(
                ProblemKind::Syntax {
                    message: e.info().to_owned(),
                },
                one_char(text, at),
            )],
        };
    }
    let mut findings = b.findings;
    let root = b.root;
    if root.is_none() && findings.is_empty() {
        findings.push(Finding::new(ProblemKind::Empty, Span::point(0)));
    }
    Parsed { root, findings }
}

/// A span covering the character at `at` (or an empty span at the end of the text).
fn one_char(text: &str, at: usize) -> Span {
    let at = floor_char_boundary(text, at);
    let len = text[at..].chars().next().map_or(0, char::len_utf8);
    Span::new(at, at + len)
}

fn floor_char_boundary(text: &str, mut at: usize) -> usize {
    at = at.min(text.len());
    while !text.is_char_boundary(at) {
        at -= 1;
    }
    at
}

enum Pending {
    None,
    Key(String, Span),
    /// A non-string key was reported; swallow its value.
    Skip,
}

enum Frame {
    Seq {
        start: usize,
        flow: bool,
        anchor: usize,
        items: Vec<Node>,
    },
    Map {
        start: Option<usize>,
        flow: bool,
        anchor: usize,
        entries: Vec<Entry>,
        pending: Pending,
        seen: HashMap<String, Span>,
    },
}

struct Builder<'a> {
    text: &'a str,
    base: usize,
    c2b: CharToByte,
    stack: Vec<Frame>,
    root: Option<Node>,
    documents: usize,
    anchors: HashMap<usize, Node>,
    nodes: usize,
    findings: Vec<Finding>,
    stopped: bool,
}

impl Builder<'_> {
    fn byte(&self, m: &Marker) -> usize {
        self.base + self.c2b.byte(m.index())
    }

    fn byte_at(&self, at: usize) -> Option<u8> {
        self.text.as_bytes().get(at).copied()
    }

    fn stop(&mut self, finding: Finding) {
        self.findings.push(finding);
        self.stopped = true;
        self.stack.clear();
    }

    fn charge(&mut self, n: usize, at: Span) -> bool {
        self.nodes += n;
        if self.nodes > MAX_NODES {
            self.stop(Finding::new(ProblemKind::TooLarge { max: MAX_NODES }, at));
            false
        } else {
            true
        }
    }

    fn scalar(
        &mut self,
        value: String,
        style: TScalarStyle,
        tag: Option<Tag>,
        mark: &Marker,
    ) -> Node {
        let start = self.byte(mark);
        let span = scalar_span(self.text, start, &value, style);
        let is_str_tag = tag.is_some_and(|t| {
            (t.handle == "!!" || t.handle == "tag:yaml.org,2002:") && t.suffix == "str"
        });
        Node {
            kind: NodeKind::Scalar {
                value,
                plain: style == TScalarStyle::Plain && !is_str_tag,
            },
            span,
            head: span,
            interpolated: false,
        }
    }

    fn finish(&mut self, node: Node, anchor: usize) {
        if anchor > 0 {
            self.anchors.insert(anchor, node.clone());
        }
        self.attach(node);
    }

    /// Hands a completed node to its parent (or makes it the document root).
    fn attach(&mut self, mut node: Node) {
        let Some(top) = self.stack.last_mut() else {
            if self.root.is_none() {
                self.root = Some(node);
            }
            return;
        };
        match top {
            Frame::Seq { items, .. } => items.push(node),
            Frame::Map {
                start,
                entries,
                pending,
                seen,
                ..
            } => match std::mem::replace(pending, Pending::None) {
                Pending::None => {
                    // This node is a key.
                    if start.is_none() {
                        *start = Some(node.span.start);
                    }
                    match node.kind {
                        NodeKind::Scalar { value, .. } => {
                            if let Some(first) = seen.get(&value) {
                                let finding = Finding::new(
                                    ProblemKind::DuplicateKey { key: value },
                                    node.span,
                                )
                                .also(*first);
                                self.findings.push(finding);
                                *pending = Pending::Skip;
                            } else {
                                seen.insert(value.clone(), node.span);
                                *pending = Pending::Key(value, node.span);
                            }
                        }
                        _ => {
                            *pending = Pending::Skip;
                            self.findings
                                .push(Finding::new(ProblemKind::NonStringKey, node.head));
                        }
                    }
                }
                Pending::Key(key, key_span) => {
                    let is_collection = !matches!(node.kind, NodeKind::Scalar { .. });
                    if is_collection || node.span.is_empty() {
                        node.head = key_span;
                    }
                    entries.push(Entry {
                        key,
                        key_span,
                        value: node,
                    });
                }
                Pending::Skip => {}
            },
        }
    }

    fn first_line(&self, span: Span) -> Span {
        let slice = &self.text[span.start..span.end];
        match slice.find('\n') {
            Some(i) => Span::new(span.start, span.start + slice[..i].trim_end().len()),
            None => span,
        }
    }
}

impl MarkedEventReceiver for Builder<'_> {
    fn on_event(&mut self, ev: Event, mark: Marker) {
        if self.stopped {
            return;
        }
        let at = self.byte(&mark);
        match ev {
            Event::Nothing | Event::StreamStart | Event::StreamEnd | Event::DocumentEnd => {}
            Event::DocumentStart => self.document_start(at),
            Event::Alias(id) => self.alias(id),
            Event::Scalar(value, style, anchor, tag) => {
                let node = self.scalar(value, style, tag, &mark);
                if self.charge(1, node.span) {
                    self.finish(node, anchor);
                }
            }
            Event::SequenceStart(anchor, _) => {
                let flow = self.byte_at(at) == Some(b'[');
                self.stack.push(Frame::Seq {
                    start: at,
                    flow,
                    anchor,
                    items: Vec::new(),
                });
            }
            Event::MappingStart(anchor, _) => {
                let flow = self.byte_at(at) == Some(b'{');
                self.stack.push(Frame::Map {
                    start: flow.then_some(at),
                    flow,
                    anchor,
                    entries: Vec::new(),
                    pending: Pending::None,
                    seen: HashMap::new(),
                });
            }
            Event::SequenceEnd => self.sequence_end(at),
            Event::MappingEnd => self.mapping_end(at),
        }
    }
}

/// One handler per event that needs more than a line (dispatched from `on_event`).
impl Builder<'_> {
    /// A manifest file is one document: a second one stops the parse.
    fn document_start(&mut self, at: usize) {
        self.documents += 1;
        if self.documents > 1 {
            let span = one_char(self.text, at);
            self.stop(Finding::new(ProblemKind::MultipleDocuments, span));
        }
    }

    /// Expands `*id` to a copy of its anchored node, charged node by node against the limit.
    fn alias(&mut self, id: usize) {
        let Some(node) = self.anchors.get(&id).cloned() else {
            return;
        };
        if self.charge(node.count(), node.head) {
            self.attach(node);
        }
    }

    /// Closes the innermost sequence, whose end event is at byte `at`.
    fn sequence_end(&mut self, at: usize) {
        let Some(Frame::Seq {
            start,
            flow,
            anchor,
            items,
        }) = self.stack.pop()
        else {
            return;
        };
        let last_end = items.last().map_or(start + 1, |n| n.span.end);
        let span = self.collection_span(start, flow, at, b']', last_end);
        let head = if flow {
            self.first_line(span)
        } else {
            items.first().map_or(span, |n| n.head)
        };
        self.close(NodeKind::Seq(items), span, head, anchor);
    }

    /// Closes the innermost mapping, whose end event is at byte `at`.
    fn mapping_end(&mut self, at: usize) {
        let Some(Frame::Map {
            start,
            flow,
            anchor,
            entries,
            ..
        }) = self.stack.pop()
        else {
            return;
        };
        let start = start.unwrap_or(at);
        let last_end = entries
            .last()
            .map_or(start + 1, |e| e.value.span.end.max(e.key_span.end));
        let span = self.collection_span(start, flow, at, b'}', last_end);
        let head = self.mapping_head(span, flow, entries.first());
        self.close(NodeKind::Map(entries), span, head, anchor);
    }

    /// The span of a collection from `start`: up to its closing bracket `close` when it is a flow
    /// collection ending at `at`, else up to `last_end`, the end of its last element.
    fn collection_span(
        &self,
        start: usize,
        flow: bool,
        at: usize,
        close: u8,
        last_end: usize,
    ) -> Span {
        let end = if flow && self.byte_at(at) == Some(close) {
            at + 1
        } else {
            last_end
        };
        Span::new(start, end.min(self.text.len()))
    }

    /// Where diagnostics about a mapping point: the whole of a one-line flow mapping, else its
    /// first entry (`key: scalar` on one line, or just the key), else its first line.
    fn mapping_head(&self, span: Span, flow: bool, first: Option<&Entry>) -> Span {
        if flow && !self.text[span.start..span.end].contains('\n') {
            span
        } else if let Some(first) = first {
            let same_line_scalar = matches!(first.value.kind, NodeKind::Scalar { .. })
                && !self.text[first.key_span.start..first.value.span.end.max(first.key_span.end)]
                    .contains('\n');
            // (An aliased value's span is its anchor's, elsewhere in the file.)
            let value_follows_key = first.value.span.start >= first.key_span.end;
            if same_line_scalar && value_follows_key && !first.value.span.is_empty() {
                first.key_span.cover(first.value.span)
            } else {
                first.key_span
            }
        } else {
            self.first_line(span)
        }
    }

    /// Makes a closed collection a node, charges it against the limit and hands it on.
    fn close(&mut self, kind: NodeKind, span: Span, head: Span, anchor: usize) {
        let node = Node {
            kind,
            span,
            head,
            interpolated: false,
        };
        if self.charge(1, head) {
            self.finish(node, anchor);
        }
    }
}

/// The byte span of a scalar that starts at `start`, as written in `text` (quotes included).
fn scalar_span(text: &str, start: usize, value: &str, style: TScalarStyle) -> Span {
    let start = floor_char_boundary(text, start);
    let rest = &text[start..];
    let bytes = rest.as_bytes();
    let end_of_line = || {
        let line = rest.split('\n').next().unwrap_or("");
        let line = match line.find(" #") {
            Some(i) => &line[..i],
            None => line,
        };
        start + line.trim_end().len()
    };
    let end = match style {
        TScalarStyle::Plain => {
            if rest.starts_with(value) {
                start + value.len()
            } else {
                end_of_line()
            }
        }
        TScalarStyle::SingleQuoted => {
            let mut i = 1;
            loop {
                match bytes.get(i) {
                    None => break start + i.min(bytes.len()),
                    Some(b'\'') if bytes.get(i + 1) == Some(&b'\'') => i += 2,
                    Some(b'\'') => break start + i + 1,
                    Some(_) => i += 1,
                }
            }
        }
        TScalarStyle::DoubleQuoted => {
            let mut i = 1;
            loop {
                match bytes.get(i) {
                    None => break start + i.min(bytes.len()),
                    Some(b'\\') => i += 2,
                    Some(b'"') => break start + i + 1,
                    Some(_) => i += 1,
                }
            }
        }
        TScalarStyle::Literal | TScalarStyle::Folded => end_of_line(),
    };
    Span::new(start, floor_char_boundary(text, end))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text_of(src: &str, s: Span) -> &str {
        &src[s.start..s.end]
    }

    fn root(src: &str) -> Node {
        let p = parse(src);
        assert!(p.findings.is_empty(), "{:?}", p.findings);
        p.root.expect("root")
    }

    #[test]
    fn scalar_spans_cover_exactly_what_was_written() {
        let src = "a: plain\nb: \"dq \\\" x\"  # c\nc: 'it''s'\nd: { e: 42, f: [x, 'y'] }\né: ü\n";
        let r = root(src);
        let get = |k: &str| r.get(k).unwrap();
        assert_eq!(text_of(src, get("a").value.span), "plain");
        assert_eq!(text_of(src, get("b").value.span), "\"dq \\\" x\"");
        assert_eq!(text_of(src, get("c").value.span), "'it''s'");
        assert_eq!(text_of(src, get("d").value.span), "{ e: 42, f: [x, 'y'] }");
        let d = &get("d").value;
        assert_eq!(text_of(src, d.get("e").unwrap().value.span), "42");
        assert_eq!(text_of(src, d.get("f").unwrap().value.span), "[x, 'y']");
        assert_eq!(text_of(src, get("é").key_span), "é");
        assert_eq!(text_of(src, get("é").value.span), "ü");
    }

    #[test]
    fn collection_heads_point_at_their_key_or_first_line() {
        let src = "accounts:\n  - name: one\n    kind: OpenAI\n  - name: two\nmodel:\n  name: x\n";
        let r = root(src);
        let accounts = &r.get("accounts").unwrap().value;
        assert_eq!(text_of(src, accounts.head), "accounts");
        let NodeKind::Seq(items) = &accounts.kind else {
            panic!()
        };
        assert_eq!(text_of(src, items[0].head), "name: one");
        assert_eq!(text_of(src, items[1].head), "name: two");
        assert_eq!(text_of(src, items[0].span), "name: one\n    kind: OpenAI");
        assert_eq!(text_of(src, r.get("model").unwrap().value.head), "model");
    }

    #[test]
    fn duplicate_keys_are_reported_with_both_spans() {
        let src = "a: 1\nb: 2\na: 3\n";
        let p = parse(src);
        assert_eq!(p.findings.len(), 1);
        let f = &p.findings[0];
        assert_eq!(f.kind, ProblemKind::DuplicateKey { key: "a".into() });
        assert_eq!(f.at, Span::new(10, 11));
        assert_eq!(f.also, Some(Span::new(0, 1)));
        // The first value wins.
        assert_eq!(p.root.unwrap().get("a").unwrap().value.scalar(), Some("1"));
    }

    #[test]
    fn syntax_errors_empty_files_and_extra_documents_are_findings() {
        let p = parse("a: [1, 2\n");
        assert!(matches!(p.findings[0].kind, ProblemKind::Syntax { .. }));
        assert!(p.root.is_none());
        let p = parse("# only a comment\n");
        assert_eq!(p.findings[0].kind, ProblemKind::Empty);
        let p = parse("a: 1\n---\nb: 2\n");
        assert_eq!(p.findings[0].kind, ProblemKind::MultipleDocuments);
        assert_eq!(p.findings[0].at, Span::new(5, 6));
    }

    #[test]
    fn aliases_are_expanded_and_bounded() {
        let r = root("a: &x { k: v }\nb: *x\n");
        assert_eq!(
            r.get("b").unwrap().value.get("k").unwrap().value.scalar(),
            Some("v")
        );
        let mut bomb = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 1..8 {
            bomb.push_str(&format!(
                "a{i}: &a{i} [*a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}]\n",
                p = i - 1
            ));
        }
        let p = parse(&bomb);
        assert!(p
            .findings
            .iter()
            .any(|f| matches!(f.kind, ProblemKind::TooLarge { .. })));
    }

    #[test]
    fn crlf_line_endings_keep_spans_exact() {
        let src = "a: plain  \r\nb:\r\n  - name: x\r\n    k: 'q'\r\n";
        let r = root(src);
        assert_eq!(text_of(src, r.get("a").unwrap().value.span), "plain");
        let NodeKind::Seq(items) = &r.get("b").unwrap().value.kind else {
            panic!()
        };
        assert_eq!(text_of(src, items[0].head), "name: x");
        assert_eq!(text_of(src, items[0].get("k").unwrap().value.span), "'q'");
    }

    #[test]
    fn an_aliased_first_value_does_not_stretch_the_head_backwards() {
        let src = "a: &x v\nl:\n  - k: *x\n    j: 1\n";
        let r = root(src);
        let NodeKind::Seq(items) = &r.get("l").unwrap().value.kind else {
            panic!()
        };
        assert_eq!(text_of(src, items[0].head), "k");
        assert_eq!(items[0].get("k").unwrap().value.scalar(), Some("v"));
    }

    #[test]
    fn byte_order_mark_does_not_shift_spans() {
        let src = "\u{feff}name: x\n";
        let r = root(src);
        assert_eq!(text_of(src, r.get("name").unwrap().value.span), "x");
    }

    #[test]
    fn str_tag_and_quotes_make_scalars_non_plain() {
        let r = root("a: !!str 1\nb: '1'\nc: 1\n");
        let plain = |k: &str| match &r.get(k).unwrap().value.kind {
            NodeKind::Scalar { plain, .. } => *plain,
            _ => unreachable!(),
        };
        assert!(!plain("a"));
        assert!(!plain("b"));
        assert!(plain("c"));
    }
}
