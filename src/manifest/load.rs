//! Loading manifests from files, directories or strings: the pipeline that ties parsing,
//! interpolation, typed reading and validation together.
//!
//! Per file: YAML → span tree (syntax, duplicate keys) → `${VAR}` interpolation → version gate →
//! typed model → semantic validation → derived defaults. Problems from every stage that ran are
//! reported together; later stages are skipped once an earlier one fails, because their errors
//! would only be echoes (an unset variable is not also "not a GUID").

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use miette::{NamedSource, SourceSpan};

use super::de;
use super::defaults;
use super::error::{Finding, ManifestError, ManifestProblem, ManifestWarning, ProblemKind};
use super::interpolate::{interpolate_tree, EnvLookup};
use super::model::Manifest;
use super::spans::{Span, SpanIndex};
use super::tree;
use super::validate;

/// One successfully loaded manifest, with everything needed to point at its source later.
#[derive(Debug, Clone)]
pub struct LoadedManifest {
    /// The file it came from (as given, or the name passed to [`load_str`]).
    pub path: PathBuf,
    /// The original file text (before interpolation); spans index into it.
    pub source: Arc<String>,
    /// The typed manifest, with every default applied.
    pub manifest: Manifest,
    /// Spans of every node, by path (`accounts[0].customSubdomain`).
    pub spans: SpanIndex,
    /// Non-fatal findings for this manifest.
    pub warnings: Vec<ManifestWarning>,
}

impl LoadedManifest {
    /// Where `path` (e.g. `accounts[0].customSubdomain`, `roleAssignments[1].principals[0]`) is
    /// in the source, for diagnostics raised later (e.g. by the planner). `None` if that node was
    /// not written in the file (a defaulted field): use its parent's path then.
    pub fn span_of(&self, path: &str) -> Option<SourceSpan> {
        self.spans.label(path).map(SourceSpan::from)
    }

    /// Where principal `principal` of role assignment `assignment` is (the whole list item,
    /// e.g. `- user: alice@contoso.com`), for diagnostics about one principal.
    pub fn principal_span(&self, assignment: usize, principal: usize) -> Option<SourceSpan> {
        self.span_of(&format!(
            "roleAssignments[{assignment}].principals[{principal}]"
        ))
    }

    /// The source as a miette `NamedSource`, for building diagnostics about this manifest.
    pub fn named_source(&self) -> NamedSource<Arc<String>> {
        NamedSource::new(self.path.display().to_string(), Arc::clone(&self.source))
            .with_language("yaml")
    }

    /// `emulator.world` resolved against this manifest's directory.
    pub fn emulator_world_path(&self) -> Option<PathBuf> {
        let world = &self.manifest.emulator.as_ref()?.world;
        let dir = self.path.parent().unwrap_or(Path::new(""));
        Some(dir.join(world))
    }

    /// Path of the account named `name` (`accounts[3]`), to combine with a field for
    /// [`LoadedManifest::span_of`].
    pub fn account_path(&self, name: &str) -> Option<String> {
        self.manifest
            .accounts
            .iter()
            .position(|a| a.name.eq_ignore_ascii_case(name))
            .map(|i| format!("accounts[{i}]"))
    }
}

/// The result of [`load`]: every manifest (in input order) and every warning.
#[derive(Debug, Clone)]
pub struct LoadedManifests {
    /// The manifests, in the order their files were given (directory entries sorted by name).
    pub manifests: Vec<LoadedManifest>,
    /// All warnings of all manifests (also available per manifest).
    pub warnings: Vec<ManifestWarning>,
}

/// Loads manifests from files and/or directories.
///
/// A directory contributes its `*.yaml` / `*.yml` files, sorted by name, non-recursively. Each
/// file is one manifest, validated on its own; manifest names must be unique across all of them.
/// All problems of all files are returned together in [`ManifestError::Invalid`].
pub fn load(paths: &[PathBuf], env: &dyn EnvLookup) -> Result<LoadedManifests, ManifestError> {
    if paths.is_empty() {
        return Err(ManifestError::NoInput);
    }
    let files = expand(paths)?;
    let mut manifests = Vec::new();
    let mut problems = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(&file).map_err(|source| ManifestError::Read {
            path: file.clone(),
            source,
        })?;
        match check(file, text, env) {
            Ok(m) => manifests.push(m),
            Err(mut p) => problems.append(&mut p),
        }
    }
    problems.extend(duplicate_names(&manifests));
    if !problems.is_empty() {
        return Err(ManifestError::Invalid { problems });
    }
    let warnings = manifests
        .iter()
        .flat_map(|m| m.warnings.iter().cloned())
        .collect();
    Ok(LoadedManifests {
        manifests,
        warnings,
    })
}

/// Loads one manifest from a string; `name` is used as its path in diagnostics. Meant for tests
/// and tools that already hold the text.
pub fn load_str(
    name: &str,
    text: &str,
    env: &dyn EnvLookup,
) -> Result<LoadedManifest, ManifestError> {
    check(PathBuf::from(name), text.to_owned(), env)
        .map_err(|problems| ManifestError::Invalid { problems })
}

/// Expands directories to their manifest files and drops repeated files.
fn expand(paths: &[PathBuf]) -> Result<Vec<PathBuf>, ManifestError> {
    let read_err = |path: &Path| {
        let path = path.to_owned();
        move |source| ManifestError::Read { path, source }
    };
    let mut files = Vec::new();
    for p in paths {
        let meta = std::fs::metadata(p).map_err(read_err(p))?;
        if !meta.is_dir() {
            files.push(p.clone());
            continue;
        }
        let mut found = Vec::new();
        for entry in std::fs::read_dir(p).map_err(read_err(p))? {
            let entry = entry.map_err(read_err(p))?;
            let path = entry.path();
            let is_yaml = path
                .extension()
                .and_then(|e| e.to_str())
                .is_some_and(|e| e == "yaml" || e == "yml");
            if is_yaml && path.is_file() && !is_world_file(&path) {
                found.push(path);
            }
        }
        if found.is_empty() {
            return Err(ManifestError::EmptyDirectory { path: p.clone() });
        }
        found.sort();
        files.extend(found);
    }
    let mut seen = std::collections::HashSet::new();
    files.retain(|f| seen.insert(std::fs::canonicalize(f).unwrap_or_else(|_| f.clone())));
    Ok(files)
}

/// Emulator world files (`world.yaml`, `*.world.yaml`) often live beside the manifests that name
/// them; a directory load skips them (naming one explicitly still loads it as a manifest, so the
/// mistake gets a clear error).
fn is_world_file(path: &Path) -> bool {
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or_default()
        .to_ascii_lowercase();
    let stem = name.trim_end_matches(".yaml").trim_end_matches(".yml");
    stem == "world" || stem.ends_with(".world")
}

/// Reports every manifest whose name an earlier manifest already uses.
fn duplicate_names(manifests: &[LoadedManifest]) -> Vec<ManifestProblem> {
    let mut first: HashMap<&str, &Path> = HashMap::new();
    let mut problems = Vec::new();
    for m in manifests {
        match first.get(m.manifest.name.as_str()) {
            Some(other) => {
                let at = m.spans.label_or_ancestor("name");
                let kind = ProblemKind::DuplicateManifestName {
                    name: m.manifest.name.clone(),
                    other: other.display().to_string(),
                };
                problems.push(Finding::new(kind, at).into_problem(&m.named_source()));
            }
            None => {
                first.insert(&m.manifest.name, &m.path);
            }
        }
    }
    problems
}

/// Runs the whole pipeline on one file's text.
fn check(
    path: PathBuf,
    text: String,
    env: &dyn EnvLookup,
) -> Result<LoadedManifest, Vec<ManifestProblem>> {
    let source = Arc::new(text);
    let named =
        NamedSource::new(path.display().to_string(), Arc::clone(&source)).with_language("yaml");
    let fail = |mut findings: Vec<Finding>| {
        findings.sort_by_key(|f| (f.at.start, f.at.end));
        findings
            .into_iter()
            .map(|f| f.into_problem(&named))
            .collect::<Vec<_>>()
    };

    let parsed = tree::parse(&source);
    let mut findings = parsed.findings;
    let Some(mut root) = parsed.root else {
        return Err(fail(findings));
    };

    let interpolation = interpolate_tree(&mut root, &source, env);
    if !interpolation.is_empty() {
        findings.extend(interpolation);
        return Err(fail(findings));
    }
    if let Some(f) = validate::version_gate(&root) {
        findings.push(f);
        return Err(fail(findings));
    }

    let mut spans = SpanIndex::default();
    root.index_into("", None, &mut spans);

    let mut manifest: Manifest = match de::from_node(&root) {
        Ok(m) => m,
        Err(e) => {
            findings.push(e.into_finding());
            return Err(fail(findings));
        }
    };
    let report = validate::validate(&manifest, &spans, &source);
    findings.extend(report.errors);
    if !findings.is_empty() {
        return Err(fail(findings));
    }
    defaults::apply(&mut manifest);
    let mut warnings = report.warnings;
    warnings.sort_by_key(|(_, at): &(_, Span)| (at.start, at.end));
    let warnings = warnings
        .into_iter()
        .map(|(kind, at)| ManifestWarning::new(kind, at, &named))
        .collect();
    Ok(LoadedManifest {
        path,
        source,
        manifest,
        spans,
        warnings,
    })
}
