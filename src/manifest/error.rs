//! Typed manifest errors and warnings, rendered by miette with source spans.
//!
//! Every problem is a [`ProblemKind`] (what is wrong, as data a caller can match on) placed at a
//! span of a particular file ([`ManifestProblem`]). Loading collects all problems of all files
//! into one [`ManifestError::Invalid`] so users fix everything in one round trip.

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;

use miette::{Diagnostic, LabeledSpan, NamedSource};
use thiserror::Error;

use super::spans::Span;

/// A help line: the closest valid spelling, or else the valid choices.
///
/// Typos are the most common manifest error; naming the intended word turns a lookup into a
/// one-character fix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hint {
    /// The closest valid choice, if one is close enough to be a plausible typo.
    pub did_you_mean: Option<String>,
    /// All valid choices (shown when nothing is close).
    pub valid: Vec<String>,
}

impl fmt::Display for Hint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(best) = &self.did_you_mean {
            return write!(f, "did you mean `{best}`?");
        }
        if self.valid.is_empty() {
            return write!(f, "nothing valid is declared here");
        }
        write!(f, "expected one of: ")?;
        for (i, v) in self.valid.iter().enumerate() {
            if i > 0 {
                write!(f, ", ")?;
            }
            write!(f, "`{v}`")?;
        }
        Ok(())
    }
}

/// Renders a node path for messages: the root is "the top level", anything else is quoted.
struct Where<'a>(&'a str);

impl fmt::Display for Where<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            write!(f, "the top level")
        } else {
            write!(f, "`{}`", self.0)
        }
    }
}

/// The kinds of named things a manifest declares, for messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Named {
    /// The manifest's own `name`.
    Manifest,
    /// A `resourceGroups` entry.
    ResourceGroup,
    /// An `accounts` entry.
    Account,
    /// A deployment of an account.
    Deployment,
    /// A `managedIdentities` entry.
    ManagedIdentity,
}

impl fmt::Display for Named {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Named::Manifest => "manifest",
            Named::ResourceGroup => "resource group",
            Named::Account => "account",
            Named::Deployment => "deployment",
            Named::ManagedIdentity => "managed identity",
        })
    }
}

/// What a dangling reference was supposed to point at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefTarget {
    /// `resourceGroups[*].name`
    ResourceGroup,
    /// `accounts[*].name`
    Account,
    /// `managedIdentities[*].vm`
    ManagedIdentity,
    /// `accounts[*].deployments[*].name`
    Deployment,
}

impl fmt::Display for RefTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            RefTarget::ResourceGroup => "a resource group declared in `resourceGroups`",
            RefTarget::Account => "an account declared in `accounts`",
            RefTarget::ManagedIdentity => "a vm declared in `managedIdentities`",
            RefTarget::Deployment => "a deployment declared under `accounts[*].deployments`",
        })
    }
}

/// Which customSubdomain rule was broken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SubdomainRule {
    /// Shorter than 2 or longer than 64 characters.
    Length,
    /// A character other than ASCII letters, digits and `-`.
    Character,
    /// Starts with `-`.
    LeadingHyphen,
    /// Ends with `-`.
    TrailingHyphen,
}

impl fmt::Display for SubdomainRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SubdomainRule::Length => "it must be 2 to 64 characters long",
            SubdomainRule::Character => "only ASCII letters, digits and '-' are allowed",
            SubdomainRule::LeadingHyphen => "it must not start with '-'",
            SubdomainRule::TrailingHyphen => "it must not end with '-'",
        })
    }
}

/// Everything that can be wrong with a manifest. Callers can match on this; the message and help
/// shown to users come from it.
#[derive(Debug, Clone, PartialEq, Eq, Error, Diagnostic)]
#[non_exhaustive]
pub enum ProblemKind {
    /// The text is not valid YAML.
    #[error("invalid YAML: {message}")]
    #[diagnostic(
        code(keyless::manifest::syntax),
        help("fix the YAML syntax at the marked position")
    )]
    Syntax {
        /// The YAML parser's description.
        message: String,
    },

    /// The file holds no YAML document (only comments or whitespace).
    #[error("the manifest is empty")]
    #[diagnostic(
        code(keyless::manifest::empty),
        help("a manifest needs at least `version: 1`, `name` and `subscription`")
    )]
    Empty,

    /// A second YAML document (`---`) in one file.
    #[error("a manifest file holds exactly one YAML document")]
    #[diagnostic(
        code(keyless::manifest::multiple_documents),
        help("put each manifest in its own file (a directory of manifests can be loaded at once)")
    )]
    MultipleDocuments,

    /// A mapping key that is a list or a map.
    #[error("mapping keys must be plain strings")]
    #[diagnostic(code(keyless::manifest::non_string_key))]
    NonStringKey,

    /// The same key twice in one mapping.
    #[error("duplicate key `{key}`")]
    #[diagnostic(
        code(keyless::manifest::duplicate_key),
        help("remove one of them: YAML would silently keep only one value")
    )]
    DuplicateKey {
        /// The repeated key.
        key: String,
    },

    /// Alias expansion made the document unreasonably large.
    #[error("the manifest expands to more than {max} YAML nodes")]
    #[diagnostic(
        code(keyless::manifest::too_large),
        help("check for aliases (`*name`) that expand recursively")
    )]
    TooLarge {
        /// The node limit.
        max: usize,
    },

    /// `${NAME}` without a default, and `NAME` is not set.
    #[error("environment variable `{name}` is not set")]
    #[diagnostic(
        code(keyless::manifest::missing_env_var),
        help("set `{name}` in the environment, or give a default: `${{{name}:-value}}`")
    )]
    MissingEnvVar {
        /// The variable's name.
        name: String,
    },

    /// `${` without a closing `}`.
    #[error("unterminated `${{` in value")]
    #[diagnostic(
        code(keyless::manifest::unterminated_interpolation),
        help("close it with `}}`, or write `$${{` for a literal `${{`")
    )]
    UnterminatedInterpolation,

    /// `${…}` whose name is not a valid variable name.
    #[error("`{name}` is not a valid environment variable name")]
    #[diagnostic(
        code(keyless::manifest::invalid_env_var_name),
        help("use `${{NAME}}` or `${{NAME:-default}}` with NAME made of letters, digits and `_`; write `$${{` for a literal `${{`")
    )]
    InvalidEnvVarName {
        /// What was written between `${` and `}` (or `:-`).
        name: String,
    },

    /// A key the schema does not know at this place.
    #[error("unknown key `{key}` in {}", Where(.object))]
    #[diagnostic(code(keyless::manifest::unknown_key))]
    UnknownKey {
        /// The key as written.
        key: String,
        /// Path of the object holding it (`""` is the top level).
        object: String,
        /// Closest valid key, or the valid keys.
        #[help]
        hint: Hint,
    },

    /// A value outside a fixed set (an enum such as `kind` or `onSoftDeleted`).
    #[error("unknown value `{value}`")]
    #[diagnostic(code(keyless::manifest::unknown_value))]
    UnknownValue {
        /// The value as written.
        value: String,
        /// Closest valid value, or the valid values.
        #[help]
        hint: Hint,
    },

    /// A required key is absent.
    #[error("missing required key `{key}` in {}", Where(.object))]
    #[diagnostic(code(keyless::manifest::missing_key), help("add `{key}: …` here"))]
    MissingKey {
        /// The missing key.
        key: String,
        /// Path of the object that should hold it.
        object: String,
    },

    /// A value of the wrong YAML type (a list where a string belongs, …).
    #[error("expected {expected}, found {found}")]
    #[diagnostic(code(keyless::manifest::wrong_type))]
    WrongType {
        /// What was found (`a list`, `string "x"`, …).
        found: String,
        /// What the schema wants here.
        expected: String,
    },

    /// A value of the right type that is not acceptable (a malformed duration, …).
    #[error("invalid value {found}: expected {expected}")]
    #[diagnostic(code(keyless::manifest::invalid_value))]
    InvalidValue {
        /// The value.
        found: String,
        /// What an acceptable value looks like.
        expected: String,
    },

    /// A map that must have exactly one key (`scope`) has several or none.
    #[error("expected exactly one key here, found {count}")]
    #[diagnostic(code(keyless::manifest::not_single_key))]
    NotSingleKey {
        /// How many keys were found.
        count: usize,
        /// The valid keys.
        #[help]
        hint: Hint,
    },

    /// Any other shape error reported while reading the typed model.
    #[error("{message}")]
    #[diagnostic(code(keyless::manifest::invalid))]
    Invalid {
        /// What is wrong.
        message: String,
    },

    /// `version` is not 1.
    #[error("unsupported manifest version {found}")]
    #[diagnostic(
        code(keyless::manifest::unsupported_version),
        help("this keyless understands `version: 1` only")
    )]
    UnsupportedVersion {
        /// The version as written.
        found: String,
    },

    /// A name that breaks Azure's (or keyless's) naming rules.
    #[error("invalid {what} name `{value}`: {rule}")]
    #[diagnostic(code(keyless::manifest::invalid_name))]
    InvalidName {
        /// What is being named.
        what: Named,
        /// The name.
        value: String,
        /// The rule that was broken.
        rule: &'static str,
    },

    /// A value that must be a GUID is not one.
    #[error("`{value}` is not a GUID")]
    #[diagnostic(
        code(keyless::manifest::invalid_guid),
        help("`{field}` must be a GUID such as 00000000-0000-0000-0000-000000000000")
    )]
    InvalidGuid {
        /// The field (`subscription`, `servicePrincipal`, …).
        field: &'static str,
        /// The value.
        value: String,
    },

    /// A customSubdomain that Azure would reject.
    #[error("invalid customSubdomain `{value}`: {rule}")]
    #[diagnostic(
        code(keyless::manifest::invalid_subdomain),
        help("a custom subdomain becomes https://<subdomain>.openai.azure.com: 2-64 letters, digits and '-', not starting or ending with '-'")
    )]
    InvalidSubdomain {
        /// The subdomain.
        value: String,
        /// The rule that was broken.
        rule: SubdomainRule,
    },

    /// Two entries of one list share a name.
    #[error("duplicate {what} `{name}`")]
    #[diagnostic(
        code(keyless::manifest::duplicate_name),
        help("names must be unique (Azure compares them case-insensitively)")
    )]
    DuplicateName {
        /// What kind of entry.
        what: Named,
        /// The shared name.
        name: String,
    },

    /// Two accounts claim the same customSubdomain.
    #[error("customSubdomain `{subdomain}` is already used by account `{first_account}`")]
    #[diagnostic(
        code(keyless::manifest::duplicate_subdomain),
        help("custom subdomains are globally unique DNS names: give each account its own")
    )]
    DuplicateSubdomain {
        /// The shared subdomain.
        subdomain: String,
        /// The account that declared it first.
        first_account: String,
    },

    /// A reference to something the manifest does not declare.
    #[error("`{name}` is not {target}")]
    #[diagnostic(code(keyless::manifest::unknown_reference))]
    UnknownReference {
        /// What the reference should point at.
        target: RefTarget,
        /// The reference as written.
        name: String,
        /// Closest declared name, or the declared names.
        #[help]
        hint: Hint,
    },

    /// `vm: name` matches managed identities in several resource groups.
    #[error("vm `{name}` is declared in several resource groups ({})", .resource_groups.join(", "))]
    #[diagnostic(
        code(keyless::manifest::ambiguous_vm),
        help("say which one with the map form: `{{ vm: {name}, resourceGroup: <rg> }}`")
    )]
    AmbiguousVm {
        /// The vm name.
        name: String,
        /// Resource groups declaring a vm of that name.
        resource_groups: Vec<String>,
    },

    /// A resource group or account has no location and there is no top-level default.
    #[error("{what} `{name}` has no location")]
    #[diagnostic(
        code(keyless::manifest::missing_location),
        help("set `location` on it, or a top-level `location` used as the default")
    )]
    MissingLocation {
        /// What lacks a location.
        what: Named,
        /// Its name.
        name: String,
    },

    /// A tag key reserved for keyless's ownership marker.
    #[error("tag `{key}` is reserved")]
    #[diagnostic(
        code(keyless::manifest::reserved_tag),
        help("keyless sets this tag itself to mark the resources this manifest owns")
    )]
    ReservedTag {
        /// The tag key.
        key: String,
    },

    /// A tag Azure would reject.
    #[error("invalid tag `{key}`: {rule}")]
    #[diagnostic(code(keyless::manifest::invalid_tag))]
    InvalidTag {
        /// The tag key.
        key: String,
        /// The rule that was broken.
        rule: &'static str,
    },

    /// A principal reference that cannot identify anything.
    #[error("invalid {kind} principal `{value}`: {rule}")]
    #[diagnostic(code(keyless::manifest::invalid_principal))]
    InvalidPrincipal {
        /// `user`, `group`, `servicePrincipal` or `vm`.
        kind: &'static str,
        /// The value.
        value: String,
        /// What it must look like.
        rule: &'static str,
    },

    /// A list that must not be empty is.
    #[error("`{field}` must list at least one entry")]
    #[diagnostic(code(keyless::manifest::empty_list))]
    EmptyList {
        /// The field.
        field: &'static str,
    },

    /// A string that must not be empty is.
    #[error("`{field}` must not be empty")]
    #[diagnostic(code(keyless::manifest::empty_value))]
    EmptyValue {
        /// The field.
        field: &'static str,
    },

    /// A role name that is almost, but not quite, a built-in role.
    #[error("`{role}` is not a built-in role")]
    #[diagnostic(
        code(keyless::manifest::role_typo),
        help("did you mean `{suggestion}`?")
    )]
    RoleTypo {
        /// The role as written.
        role: String,
        /// The built-in role it resembles.
        suggestion: String,
    },

    /// A role that looks like a GUID or a role definition id but is malformed.
    #[error("`{value}` is not a valid role definition id")]
    #[diagnostic(
        code(keyless::manifest::invalid_role_id),
        help("use a role name, a role definition GUID, or /providers/Microsoft.Authorization/roleDefinitions/<guid>")
    )]
    InvalidRoleId {
        /// The value.
        value: String,
    },

    /// The same (role, scope, principal) is declared twice.
    #[error("role `{role}` is assigned to {principal} on {scope} more than once")]
    #[diagnostic(
        code(keyless::manifest::duplicate_role_assignment),
        help("remove the repeated principal; one assignment per role, scope and principal")
    )]
    DuplicateRoleAssignment {
        /// The role: its built-in name when known, else as written.
        role: String,
        /// The scope, as `account x` / `resource group y`.
        scope: String,
        /// The principal, as written.
        principal: String,
    },

    /// A deployment with `capacity: 0`.
    #[error("capacity must be at least 1")]
    #[diagnostic(
        code(keyless::manifest::invalid_capacity),
        help("capacity is in units of the SKU (thousands of tokens per minute for Standard)")
    )]
    InvalidCapacity,

    /// A zero duration where waiting is required.
    #[error("`{field}` must be longer than zero")]
    #[diagnostic(code(keyless::manifest::zero_duration), help("for example `15m`"))]
    ZeroDuration {
        /// The field.
        field: &'static str,
    },

    /// An API version that is not `YYYY-MM-DD[-preview]`.
    #[error("`{value}` is not an API version")]
    #[diagnostic(
        code(keyless::manifest::invalid_api_version),
        help("API versions look like `2024-10-21` or `2024-12-01-preview`")
    )]
    InvalidApiVersion {
        /// The value.
        value: String,
    },

    /// Two loaded manifests share a `name`.
    #[error("manifest name `{name}` is also used by `{other}`")]
    #[diagnostic(
        code(keyless::manifest::duplicate_manifest_name),
        help("manifest names must be unique: the name marks which Azure resources each manifest owns")
    )]
    DuplicateManifestName {
        /// The shared name.
        name: String,
        /// The other file.
        other: String,
    },
}

impl ProblemKind {
    /// Short text for the primary label (the message says what is wrong; the label says what the
    /// marked text is).
    fn label(&self) -> &'static str {
        match self {
            ProblemKind::Syntax { .. } => "here",
            ProblemKind::Empty => "empty",
            ProblemKind::MultipleDocuments => "second document starts here",
            ProblemKind::NonStringKey => "not a string",
            ProblemKind::DuplicateKey { .. } => "repeated here",
            ProblemKind::TooLarge { .. } => "expansion limit reached here",
            ProblemKind::MissingEnvVar { .. } => "not set",
            ProblemKind::UnterminatedInterpolation => "no closing `}`",
            ProblemKind::InvalidEnvVarName { .. } => "invalid name",
            ProblemKind::UnknownKey { .. } => "unknown key",
            ProblemKind::UnknownValue { .. } => "unknown value",
            ProblemKind::MissingKey { .. } => "in this object",
            ProblemKind::WrongType { .. } => "wrong type",
            ProblemKind::InvalidValue { .. } => "invalid value",
            ProblemKind::NotSingleKey { .. } => "one key expected",
            ProblemKind::Invalid { .. } => "here",
            ProblemKind::UnsupportedVersion { .. } => "unsupported",
            ProblemKind::InvalidName { .. } => "invalid name",
            ProblemKind::InvalidGuid { .. } => "not a GUID",
            ProblemKind::InvalidSubdomain { .. } => "invalid subdomain",
            ProblemKind::DuplicateName { .. } => "declared again here",
            ProblemKind::DuplicateSubdomain { .. } => "used again here",
            ProblemKind::UnknownReference { .. } => "not declared",
            ProblemKind::AmbiguousVm { .. } => "ambiguous",
            ProblemKind::MissingLocation { .. } => "no location",
            ProblemKind::ReservedTag { .. } => "reserved",
            ProblemKind::InvalidTag { .. } => "invalid tag",
            ProblemKind::InvalidPrincipal { .. } => "invalid principal",
            ProblemKind::EmptyList { .. } => "empty",
            ProblemKind::EmptyValue { .. } => "empty",
            ProblemKind::RoleTypo { .. } => "unknown role",
            ProblemKind::InvalidRoleId { .. } => "invalid role id",
            ProblemKind::DuplicateRoleAssignment { .. } => "assigned again here",
            ProblemKind::InvalidCapacity => "too small",
            ProblemKind::ZeroDuration { .. } => "zero",
            ProblemKind::InvalidApiVersion { .. } => "invalid API version",
            ProblemKind::DuplicateManifestName { .. } => "duplicate manifest name",
        }
    }

    /// Text for the secondary span (the earlier occurrence of a duplicate).
    fn secondary_label(&self) -> &'static str {
        match self {
            ProblemKind::DuplicateRoleAssignment { .. } => "first assigned here",
            _ => "first declared here",
        }
    }
}

/// A problem found while checking one file, before it is tied to that file's source text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Finding {
    pub kind: ProblemKind,
    pub at: Span,
    /// An earlier occurrence, for duplicates.
    pub also: Option<Span>,
}

impl Finding {
    pub(crate) fn new(kind: ProblemKind, at: Span) -> Self {
        Finding {
            kind,
            at,
            also: None,
        }
    }

    pub(crate) fn also(mut self, span: Span) -> Self {
        self.also = Some(span);
        self
    }

    /// Ties the finding to its file.
    pub(crate) fn into_problem(self, source: &NamedSource<Arc<String>>) -> ManifestProblem {
        let mut labels = vec![LabeledSpan::new_primary_with_span(
            Some(self.kind.label().to_owned()),
            self.at,
        )];
        if let Some(also) = self.also {
            labels.push(LabeledSpan::new_with_span(
                Some(self.kind.secondary_label().to_owned()),
                also,
            ));
        }
        ManifestProblem {
            kind: self.kind,
            span: self.at,
            source_code: source.clone(),
            labels,
        }
    }
}

/// One problem in one manifest file, located by a span of that file.
#[derive(Debug, Clone, Error, Diagnostic)]
#[error("{kind}")]
#[diagnostic(forward(kind))]
pub struct ManifestProblem {
    /// What is wrong.
    pub kind: ProblemKind,
    /// Where (byte range in the original file text).
    pub span: Span,
    #[source_code]
    source_code: NamedSource<Arc<String>>,
    #[label(collection)]
    labels: Vec<LabeledSpan>,
}

impl ManifestProblem {
    /// The name of the file the problem is in (as given to `load`/`load_str`).
    pub fn file(&self) -> &str {
        self.source_code.name()
    }

    /// Every labelled span (primary first), for tools that render problems themselves.
    pub fn label_spans(&self) -> &[LabeledSpan] {
        &self.labels
    }
}

/// Things that are allowed but are probably mistakes.
#[derive(Debug, Clone, PartialEq, Eq, Error, Diagnostic)]
#[non_exhaustive]
pub enum WarningKind {
    /// A role without data actions cannot call the model, which is usually the point of a
    /// keyless manifest.
    #[error("this role grants no data actions, so it cannot call chat/completions")]
    #[diagnostic(
        code(keyless::manifest::no_data_actions),
        severity(Warning),
        help("did you mean `Cognitive Services OpenAI User`?")
    )]
    NoDataActions {
        /// The role as written.
        role: String,
    },

    /// Verification is on but there is nothing to probe.
    #[error("verification is enabled but no account has a deployment to probe")]
    #[diagnostic(
        code(keyless::manifest::nothing_to_verify),
        severity(Warning),
        help("add a deployment, or set `verify: {{ enabled: false }}`")
    )]
    NothingToVerify,
}

impl WarningKind {
    fn label(&self) -> &'static str {
        match self {
            WarningKind::NoDataActions { .. } => "no data actions",
            WarningKind::NothingToVerify => "nothing to verify",
        }
    }
}

/// A non-fatal finding about a manifest that loaded successfully.
#[derive(Debug, Clone, Error, Diagnostic)]
#[error("{kind}")]
#[diagnostic(forward(kind))]
pub struct ManifestWarning {
    /// What looks wrong.
    pub kind: WarningKind,
    /// Where (byte range in the original file text).
    pub span: Span,
    #[source_code]
    source_code: NamedSource<Arc<String>>,
    #[label(collection)]
    labels: Vec<LabeledSpan>,
}

impl ManifestWarning {
    pub(crate) fn new(kind: WarningKind, at: Span, source: &NamedSource<Arc<String>>) -> Self {
        let labels = vec![LabeledSpan::new_primary_with_span(
            Some(kind.label().to_owned()),
            at,
        )];
        ManifestWarning {
            kind,
            span: at,
            source_code: source.clone(),
            labels,
        }
    }

    /// The name of the file the warning is about.
    pub fn file(&self) -> &str {
        self.source_code.name()
    }
}

/// Summary line for [`ManifestError::Invalid`].
struct Summary<'a>(&'a [ManifestProblem]);

impl fmt::Display for Summary<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut files: Vec<&str> = self.0.iter().map(ManifestProblem::file).collect();
        files.dedup();
        let n = self.0.len();
        let problems = if n == 1 { "problem" } else { "problems" };
        match files.as_slice() {
            [one] => write!(f, "manifest `{one}` is invalid ({n} {problems})"),
            _ => write!(f, "{} manifests are invalid ({n} {problems})", files.len()),
        }
    }
}

/// Why manifests could not be loaded.
#[derive(Debug, Error, Diagnostic)]
#[non_exhaustive]
pub enum ManifestError {
    /// `load` was called with no paths.
    #[error("no manifest paths given")]
    #[diagnostic(
        code(keyless::manifest::no_input),
        help("pass a manifest file, several files, or a directory of *.yaml files")
    )]
    NoInput,

    /// A file or directory could not be read.
    #[error("cannot read `{}`", .path.display())]
    #[diagnostic(code(keyless::manifest::read))]
    Read {
        /// The path.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },

    /// A directory holds no `*.yaml` / `*.yml` files.
    #[error("no manifests (*.yaml, *.yml) in directory `{}`", .path.display())]
    #[diagnostic(code(keyless::manifest::empty_directory))]
    EmptyDirectory {
        /// The directory.
        path: PathBuf,
    },

    /// One or more manifests have problems; each is a related diagnostic with its own spans.
    #[error("{}", Summary(.problems))]
    #[diagnostic(code(keyless::manifest::invalid))]
    Invalid {
        /// Every problem found, in file order then position order.
        #[related]
        problems: Vec<ManifestProblem>,
    },
}

impl ManifestError {
    /// The individual problems (empty for I/O-level errors).
    pub fn problems(&self) -> &[ManifestProblem] {
        match self {
            ManifestError::Invalid { problems } => problems,
            _ => &[],
        }
    }
}
