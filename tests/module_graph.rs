//! Modules reach only downward: no import cycles in keyless (`src/`) or in the emulator
//! (`emulator/src/`).
//!
//! Why a test and not a tool: it needs nothing installed, runs in `cargo test --workspace` and in
//! `.ci/run`, and its rule is written down here rather than in a tool's defaults.
//!
//! The rule. Every file is a module (`src/plan/mod.rs` is `plan`, `src/plan/render.rs` is
//! `plan::render`). A file *names* a module when it says `use crate::…`, `super::…`, `self::…`,
//! a child module's name in a `use`, or an inline `crate::…`/`super::…` path. For each module
//! and each pair of its direct children A and B there is an edge A → B when any file in A's
//! subtree names anything in B's subtree. A child naming its parent's own file (`use super::X`
//! in `plan/render.rs`) and a parent naming its children are not edges: that is how Rust
//! modules are built. The graph among the children of every module must be acyclic — a cycle
//! means two modules can only be understood, tested and changed together.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// A module path, `["plan", "render"]`; the crate root is `[]`.
type ModPath = Vec<String>;

/// One module's source.
struct ModFile {
    path: ModPath,
    text: String,
}

fn collect(root: &Path) -> Vec<ModFile> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let mut entries: Vec<PathBuf> = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .map(|e| e.expect("dir entry").path())
            .collect();
        entries.sort();
        for p in entries {
            if p.is_dir() {
                stack.push(p);
                continue;
            }
            if p.extension().and_then(|e| e.to_str()) != Some("rs") {
                continue;
            }
            let rel = p.strip_prefix(root).expect("under root");
            let mut segs: Vec<String> = rel
                .iter()
                .map(|s| s.to_string_lossy().trim_end_matches(".rs").to_string())
                .collect();
            match segs.last().map(String::as_str) {
                // The binary is another crate that uses the library from outside.
                Some("main") if segs.len() == 1 => continue,
                Some("lib") if segs.len() == 1 => segs.clear(),
                Some("mod") => {
                    segs.pop();
                }
                _ => {}
            }
            out.push(ModFile {
                path: segs,
                text: std::fs::read_to_string(&p).expect("read"),
            });
        }
    }
    out
}

/// Removes comments and the contents of string and char literals, so that prose mentioning
/// `crate::x` is not read as a reference.
fn strip_comments_and_strings(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = String::with_capacity(s.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'/' && b.get(i + 1) == Some(&b'/') {
            while i < b.len() && b[i] != b'\n' {
                i += 1;
            }
        } else if b[i] == b'/' && b.get(i + 1) == Some(&b'*') {
            i += 2;
            while i + 1 < b.len() && !(b[i] == b'*' && b[i + 1] == b'/') {
                i += 1;
            }
            i += 2;
        } else if b[i] == b'r'
            && (b.get(i + 1) == Some(&b'"') || b.get(i + 1) == Some(&b'#'))
            && (i == 0 || !(b[i - 1].is_ascii_alphanumeric() || b[i - 1] == b'_'))
        {
            // raw string r"…" / r#"…"#
            let mut j = i + 1;
            let mut hashes = 0;
            while b.get(j) == Some(&b'#') {
                hashes += 1;
                j += 1;
            }
            if b.get(j) != Some(&b'"') {
                out.push(b[i] as char);
                i += 1;
                continue;
            }
            j += 1;
            let close: Vec<u8> = std::iter::once(b'"')
                .chain(std::iter::repeat_n(b'#', hashes))
                .collect();
            while j < b.len() && !b[j..].starts_with(&close) {
                j += 1;
            }
            out.push_str("\"\"");
            i = j + close.len();
        } else if b[i] == b'"' {
            i += 1;
            while i < b.len() && b[i] != b'"' {
                if b[i] == b'\\' {
                    i += 1;
                }
                i += 1;
            }
            i += 1;
            out.push_str("\"\"");
        } else if b[i] == b'\'' {
            // a char literal ('x', '\n', '\u{..}') — but not a lifetime ('a)
            let end = if b.get(i + 1) == Some(&b'\\') {
                b[i + 2..]
                    .iter()
                    .position(|&c| c == b'\'')
                    .map(|p| i + 2 + p)
            } else if b.get(i + 2) == Some(&b'\'') {
                Some(i + 2)
            } else {
                None
            };
            match end {
                Some(e) => {
                    out.push_str("' '");
                    i = e + 1;
                }
                None => {
                    out.push('\'');
                    i += 1;
                }
            }
        } else {
            // keep multi-byte characters intact
            let ch = s[i..].chars().next().expect("char");
            out.push(ch);
            i += ch.len_utf8();
        }
    }
    out
}

fn is_ident(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// Expands a `use` tree (`crate::{a::b, c::{d, e}}`) into its paths.
fn expand_use_tree(tree: &str) -> Vec<String> {
    let tree: String = tree.chars().filter(|c| !c.is_whitespace()).collect();
    fn go(prefix: &str, t: &str, out: &mut Vec<String>) {
        if let Some(open) = t.find('{') {
            let head = &t[..open];
            let inner = &t[open + 1..t.rfind('}').unwrap_or(t.len())];
            let mut depth = 0;
            let mut start = 0;
            let chars: Vec<char> = inner.chars().collect();
            for (i, c) in chars.iter().enumerate() {
                match c {
                    '{' => depth += 1,
                    '}' => depth -= 1,
                    ',' if depth == 0 => {
                        let part: String = chars[start..i].iter().collect();
                        go(&format!("{prefix}{head}"), &part, out);
                        start = i + 1;
                    }
                    _ => {}
                }
            }
            let part: String = chars[start..].iter().collect();
            go(&format!("{prefix}{head}"), &part, out);
        } else if !t.is_empty() {
            let t = t.split(" as ").next().unwrap_or(t);
            out.push(format!("{prefix}{t}"));
        }
    }
    let mut out = Vec::new();
    go("", &tree, &mut out);
    out
}

/// Every path a file names, as written (`crate::a::b`, `super::x`, `child::y`).
fn referenced_paths(text: &str) -> Vec<String> {
    let stripped = strip_comments_and_strings(text);
    let text: &str = &stripped;
    let mut out = Vec::new();
    // `use` statements (possibly `pub use`, possibly multi-line).
    let mut rest = text;
    while let Some(pos) = find_word(rest, "use") {
        let after = &rest[pos + 3..];
        let Some(end) = after.find(';') else { break };
        if after.starts_with(char::is_whitespace) {
            out.extend(expand_use_tree(after[..end].trim()));
        }
        rest = &after[end.min(after.len())..];
    }
    // Inline paths.
    for start_word in ["crate", "super"] {
        let mut rest = text;
        let mut offset = 0;
        while let Some(pos) = find_word(rest, start_word) {
            let abs = offset + pos;
            let mut end = abs + start_word.len();
            let bytes = text.as_bytes();
            while text[end..].starts_with("::") {
                let seg_start = end + 2;
                let mut e = seg_start;
                while e < bytes.len() && is_ident(bytes[e] as char) {
                    e += 1;
                }
                if e == seg_start {
                    break;
                }
                end = e;
            }
            if end > abs + start_word.len() {
                out.push(text[abs..end].to_string());
            }
            offset = end;
            rest = &text[end..];
        }
    }
    out
}

fn find_word(s: &str, word: &str) -> Option<usize> {
    let mut from = 0;
    while let Some(p) = s[from..].find(word) {
        let at = from + p;
        let before_ok = at == 0 || !is_ident(s[..at].chars().next_back().unwrap_or(' '));
        let after_ok = !s[at + word.len()..].starts_with(is_ident);
        if before_ok && after_ok {
            return Some(at);
        }
        from = at + word.len();
    }
    None
}

/// Resolves a path named in module `from` to the module it lands in, if it is one of ours.
fn resolve(from: &ModPath, path: &str, modules: &BTreeSet<ModPath>) -> Option<ModPath> {
    let segs: Vec<&str> = path.split("::").filter(|s| !s.is_empty()).collect();
    let mut abs: Vec<String>;
    let mut i = 0;
    match segs.first().copied()? {
        "crate" => {
            abs = vec![];
            i = 1;
        }
        "super" => {
            abs = from.clone();
            while segs.get(i) == Some(&"super") {
                abs.pop();
                i += 1;
            }
        }
        "self" => {
            abs = from.clone();
            i = 1;
        }
        first => {
            // A child module named without a prefix (`use render::x` in plan/mod.rs).
            let mut child = from.clone();
            child.push(first.to_string());
            if !modules.contains(&child) {
                return None;
            }
            abs = from.clone();
        }
    }
    abs.extend(segs[i..].iter().map(|s| s.to_string()));
    // The longest prefix that is a module.
    while !abs.is_empty() && !modules.contains(&abs) {
        abs.pop();
    }
    Some(abs)
}

/// The cycles among siblings: for each parent, the strongly connected components (of more than
/// one child) of its children's graph, with an example edge for each member.
fn sibling_cycles(files: &[ModFile]) -> Vec<(ModPath, Vec<String>, Vec<String>)> {
    let modules: BTreeSet<ModPath> = files.iter().map(|f| f.path.clone()).collect();
    // parent → (child → children it names)
    let mut graphs: BTreeMap<ModPath, BTreeMap<String, BTreeSet<String>>> = BTreeMap::new();
    let mut why: BTreeMap<(ModPath, String, String), String> = BTreeMap::new();
    for f in files {
        for p in referenced_paths(&f.text) {
            let Some(to) = resolve(&f.path, &p, &modules) else {
                continue;
            };
            let common = f.path.iter().zip(&to).take_while(|(a, b)| a == b).count();
            if common == f.path.len() || common == to.len() {
                continue; // ancestor or descendant: not a sibling edge
            }
            let parent: ModPath = f.path[..common].to_vec();
            let (a, b) = (f.path[common].clone(), to[common].clone());
            graphs
                .entry(parent.clone())
                .or_default()
                .entry(a.clone())
                .or_default()
                .insert(b.clone());
            why.entry((parent, a, b))
                .or_insert_with(|| format!("{} names `{p}`", f.path.join("::")));
        }
    }
    let mut cycles = Vec::new();
    for (parent, g) in &graphs {
        for scc in tarjan(g) {
            if scc.len() > 1 {
                let members: BTreeSet<&String> = scc.iter().collect();
                let mut reasons = Vec::new();
                for a in &scc {
                    for b in g.get(a).into_iter().flatten() {
                        if members.contains(b) {
                            if let Some(w) = why.get(&(parent.clone(), a.clone(), b.clone())) {
                                reasons.push(format!("{a} → {b}: {w}"));
                            }
                        }
                    }
                }
                cycles.push((parent.clone(), scc, reasons));
            }
        }
    }
    cycles
}

/// Tarjan's strongly connected components.
fn tarjan(g: &BTreeMap<String, BTreeSet<String>>) -> Vec<Vec<String>> {
    struct St<'a> {
        g: &'a BTreeMap<String, BTreeSet<String>>,
        index: BTreeMap<&'a str, usize>,
        low: BTreeMap<&'a str, usize>,
        stack: Vec<&'a str>,
        on: BTreeSet<&'a str>,
        next: usize,
        out: Vec<Vec<String>>,
    }
    fn visit<'a>(st: &mut St<'a>, v: &'a str) {
        st.index.insert(v, st.next);
        st.low.insert(v, st.next);
        st.next += 1;
        st.stack.push(v);
        st.on.insert(v);
        let succ: Vec<&'a str> =
            st.g.get(v)
                .into_iter()
                .flatten()
                .map(String::as_str)
                .collect();
        for w in succ {
            if !st.index.contains_key(w) {
                visit(st, w);
                let lw = st.low[w];
                let lv = st.low.get_mut(v).expect("visited");
                *lv = (*lv).min(lw);
            } else if st.on.contains(w) {
                let iw = st.index[w];
                let lv = st.low.get_mut(v).expect("visited");
                *lv = (*lv).min(iw);
            }
        }
        if st.low[v] == st.index[v] {
            let mut comp = Vec::new();
            while let Some(w) = st.stack.pop() {
                st.on.remove(w);
                comp.push(w.to_string());
                if w == v {
                    break;
                }
            }
            comp.sort();
            st.out.push(comp);
        }
    }
    let mut st = St {
        g,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on: BTreeSet::new(),
        next: 0,
        out: Vec::new(),
    };
    let nodes: BTreeSet<&str> = g
        .iter()
        .flat_map(|(k, v)| std::iter::once(k.as_str()).chain(v.iter().map(String::as_str)))
        .collect();
    for n in nodes {
        if !st.index.contains_key(n) {
            visit(&mut st, n);
        }
    }
    st.out
}

fn report(root: &str) -> (usize, String) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join(root);
    let cycles = sibling_cycles(&collect(&dir));
    let mut text = String::new();
    let mut modules = 0;
    for (parent, scc, reasons) in &cycles {
        modules += scc.len();
        let at = if parent.is_empty() {
            "crate".to_string()
        } else {
            parent.join("::")
        };
        text.push_str(&format!("cycle under `{at}`: {}\n", scc.join(", ")));
        for r in reasons {
            text.push_str(&format!("    {r}\n"));
        }
    }
    println!("{root}: {} cycles, {modules} modules in them", cycles.len());
    (cycles.len(), text)
}

#[test]
fn keyless_modules_reach_only_downward() {
    let (n, text) = report("src");
    assert_eq!(n, 0, "import cycles in src/:\n{text}");
}

#[test]
fn emulator_modules_reach_only_downward() {
    let (n, text) = report("emulator/src");
    assert_eq!(n, 0, "import cycles in emulator/src/:\n{text}");
}

#[test]
fn the_checker_sees_a_cycle_and_ignores_parent_child_references() {
    let files = vec![
        ModFile {
            path: vec![],
            text: "mod a; mod b; mod c;".into(),
        },
        ModFile {
            path: vec!["a".into()],
            text: "use crate::b::X; // crate::c::Y in a comment\n".into(),
        },
        ModFile {
            path: vec!["b".into()],
            text: "use crate::{c::{Z, W}};".into(),
        },
        ModFile {
            path: vec!["c".into()],
            text: "fn f() { super::a::g(); let s = \"crate::b\"; }".into(),
        },
        ModFile {
            path: vec!["c".into(), "d".into()],
            text: "use super::Z; use crate::c::Q;".into(),
        },
        ModFile {
            path: vec!["b".into(), "e".into()],
            text: "use self::x; use crate::b::X;".into(),
        },
    ];
    let cycles = sibling_cycles(&files);
    assert_eq!(cycles.len(), 1, "{cycles:?}");
    assert_eq!(cycles[0].1, vec!["a", "b", "c"]);
    // Without c → a, there is no cycle; comments and strings are not references.
    let mut acyclic = files;
    acyclic[3].text = "fn f() { let s = \"super::a::g\"; }".into();
    let left = sibling_cycles(&acyclic);
    assert!(left.is_empty(), "{left:?}");
}
