//! A serde `Deserializer` over the span-carrying tree.
//!
//! Deserializing from our own tree (rather than re-parsing interpolated text with serde_yaml)
//! means every typed error — unknown key, wrong type, missing key — is raised while we know the
//! exact node, so it gets that node's span in the *original* text. serde hands us structured
//! data (`unknown_field(field, expected)`), so "did you mean" needs no message parsing.
//!
//! Scalars follow the YAML 1.2 core schema where a type is asked for (`true`, `42`, `~`), but a
//! plain scalar is a string wherever a string is expected (`costCenter: 42` is the tag value
//! `"42"`). Quoted scalars are always strings.

use std::fmt;

use serde::de::{
    self, DeserializeSeed, EnumAccess, Expected, IntoDeserializer, MapAccess, SeqAccess,
    Unexpected, VariantAccess, Visitor,
};

use super::error::{Finding, ProblemKind};
use super::spans::{child_index, child_key, Span};
use super::suggest;
use super::tree::{Entry, Node, NodeKind};

/// What went wrong, as structured data captured from serde's error constructors.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum DeErrorKind {
    UnknownField {
        field: String,
        expected: &'static [&'static str],
    },
    UnknownVariant {
        variant: String,
        expected: &'static [&'static str],
    },
    MissingField(&'static str),
    InvalidType {
        found: String,
        expected: String,
    },
    InvalidValue {
        found: String,
        expected: String,
    },
    NotSingleKey {
        count: usize,
        expected: &'static [&'static str],
    },
    Custom(String),
}

/// A typed-parse error; the span and path are filled in by the innermost node that sees it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct DeError {
    pub kind: DeErrorKind,
    pub span: Option<Span>,
    /// Path of the object the error belongs to (for "in `accounts[0]`").
    pub path: Option<String>,
    /// Raised while reading a mapping key (so an unknown variant is an unknown *key*).
    pub at_key: bool,
}

impl DeError {
    fn new(kind: DeErrorKind) -> Self {
        DeError {
            kind,
            span: None,
            path: None,
            at_key: false,
        }
    }

    fn locate(mut self, span: Span, path: &str) -> Self {
        if self.span.is_none() {
            self.span = Some(span);
            self.path = Some(path.to_owned());
        }
        self
    }

    fn at_key(mut self, span: Span, object: &str) -> Self {
        if self.span.is_none() {
            self.at_key = true;
        }
        self.locate(span, object)
    }

    /// Turns the error into a user-facing finding.
    pub(crate) fn into_finding(self) -> Finding {
        let span = self.span.unwrap_or_default();
        let object = self.path.unwrap_or_default();
        let kind = match self.kind {
            DeErrorKind::UnknownField { field, expected } => ProblemKind::UnknownKey {
                hint: suggest::hint(&field, expected.iter().copied()),
                key: field,
                object,
            },
            DeErrorKind::UnknownVariant { variant, expected } if self.at_key => {
                ProblemKind::UnknownKey {
                    hint: suggest::hint(&variant, expected.iter().copied()),
                    key: variant,
                    object,
                }
            }
            DeErrorKind::UnknownVariant { variant, expected } => ProblemKind::UnknownValue {
                hint: suggest::hint(&variant, expected.iter().copied()),
                value: variant,
            },
            DeErrorKind::MissingField(key) => ProblemKind::MissingKey {
                key: key.to_owned(),
                object,
            },
            DeErrorKind::InvalidType { found, expected } => {
                ProblemKind::WrongType { found, expected }
            }
            DeErrorKind::InvalidValue { found, expected } => {
                ProblemKind::InvalidValue { found, expected }
            }
            DeErrorKind::NotSingleKey { count, expected } => ProblemKind::NotSingleKey {
                count,
                hint: super::error::Hint {
                    did_you_mean: None,
                    valid: expected.iter().map(|s| (*s).to_owned()).collect(),
                },
            },
            DeErrorKind::Custom(message) => ProblemKind::Invalid { message },
        };
        Finding::new(kind, span)
    }
}

impl fmt::Display for DeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.kind)
    }
}

impl std::error::Error for DeError {}

/// Describes an unexpected value the way a YAML user thinks of it.
fn found(unexp: &Unexpected<'_>) -> String {
    match unexp {
        Unexpected::Unit => "null".to_owned(),
        Unexpected::Map => "a mapping".to_owned(),
        Unexpected::Seq => "a list".to_owned(),
        Unexpected::Str(s) => format!("string \"{s}\""),
        other => other.to_string(),
    }
}

/// Rewrites serde's Rust-flavoured expectations ("u32", "struct AccountSpec") in YAML terms.
fn expected(exp: &dyn Expected) -> String {
    let raw = exp.to_string();
    match raw.as_str() {
        "u8" | "u16" | "u32" | "u64" | "u128" | "usize" => "a non-negative integer".to_owned(),
        "i8" | "i16" | "i32" | "i64" | "i128" | "isize" => "an integer".to_owned(),
        "f32" | "f64" => "a number".to_owned(),
        "a map" => "a mapping".to_owned(),
        "a sequence" => "a list".to_owned(),
        "path string" => "a path".to_owned(),
        s if s.starts_with("struct ") => "a mapping".to_owned(),
        _ => raw,
    }
}

impl de::Error for DeError {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        DeError::new(DeErrorKind::Custom(msg.to_string()))
    }

    fn invalid_type(unexp: Unexpected<'_>, exp: &dyn Expected) -> Self {
        DeError::new(DeErrorKind::InvalidType {
            found: found(&unexp),
            expected: expected(exp),
        })
    }

    fn invalid_value(unexp: Unexpected<'_>, exp: &dyn Expected) -> Self {
        DeError::new(DeErrorKind::InvalidValue {
            found: found(&unexp),
            expected: expected(exp),
        })
    }

    fn unknown_variant(variant: &str, expected: &'static [&'static str]) -> Self {
        DeError::new(DeErrorKind::UnknownVariant {
            variant: variant.to_owned(),
            expected,
        })
    }

    fn unknown_field(field: &str, expected: &'static [&'static str]) -> Self {
        DeError::new(DeErrorKind::UnknownField {
            field: field.to_owned(),
            expected,
        })
    }

    fn missing_field(field: &'static str) -> Self {
        DeError::new(DeErrorKind::MissingField(field))
    }
}

/// Deserializes `T` from a tree node.
pub(crate) fn from_node<'de, T: de::Deserialize<'de>>(node: &'de Node) -> Result<T, DeError> {
    T::deserialize(NodeDe {
        node,
        path: String::new(),
    })
}

/// A plain scalar's YAML 1.2 core-schema reading.
enum Resolved {
    Null,
    Bool(bool),
    Int(i64),
    UInt(u64),
    Float(f64),
    Str,
}

fn resolve(value: &str) -> Resolved {
    match value {
        "" | "~" | "null" | "Null" | "NULL" => return Resolved::Null,
        "true" | "True" | "TRUE" => return Resolved::Bool(true),
        "false" | "False" | "FALSE" => return Resolved::Bool(false),
        ".inf" | ".Inf" | ".INF" | "+.inf" | "+.Inf" | "+.INF" => {
            return Resolved::Float(f64::INFINITY)
        }
        "-.inf" | "-.Inf" | "-.INF" => return Resolved::Float(f64::NEG_INFINITY),
        ".nan" | ".NaN" | ".NAN" => return Resolved::Float(f64::NAN),
        _ => {}
    }
    let digits = value.strip_prefix('+').unwrap_or(value);
    let is_int = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if is_int(digits) {
        if let Ok(u) = digits.parse::<u64>() {
            return Resolved::UInt(u);
        }
    }
    if let Some(neg) = value.strip_prefix('-') {
        if is_int(neg) {
            if let Ok(i) = value.parse::<i64>() {
                return Resolved::Int(i);
            }
        }
    }
    if let Some(hex) = value.strip_prefix("0x") {
        if let Ok(u) = u64::from_str_radix(hex, 16) {
            return Resolved::UInt(u);
        }
    }
    if let Some(oct) = value.strip_prefix("0o") {
        if let Ok(u) = u64::from_str_radix(oct, 8) {
            return Resolved::UInt(u);
        }
    }
    let looks_float = value
        .bytes()
        .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'e' | b'E' | b'+' | b'-'))
        && value.bytes().any(|b| b.is_ascii_digit());
    if looks_float {
        if let Ok(f) = value.parse::<f64>() {
            return Resolved::Float(f);
        }
    }
    Resolved::Str
}

struct NodeDe<'de> {
    node: &'de Node,
    path: String,
}

impl<'de> NodeDe<'de> {
    /// Where errors about this node point.
    fn label_span(&self) -> Span {
        self.node.head
    }

    /// Runs `f` and attributes any error without a location to this node.
    fn located<T>(span: Span, path: &str, r: Result<T, DeError>) -> Result<T, DeError> {
        r.map_err(|e| e.locate(span, path))
    }

    fn plain_resolved(&self) -> Option<Resolved> {
        match &self.node.kind {
            NodeKind::Scalar { value, plain: true } => {
                if self.node.interpolated && value.is_empty() {
                    Some(Resolved::Str)
                } else {
                    Some(resolve(value))
                }
            }
            _ => None,
        }
    }

    fn visit_seq<V: Visitor<'de>>(
        self,
        items: &'de [Node],
        visitor: V,
    ) -> Result<V::Value, DeError> {
        let span = self.label_span();
        let r = visitor.visit_seq(Seq {
            items: items.iter().enumerate(),
            path: &self.path,
        });
        Self::located(span, &self.path, r)
    }

    fn visit_map<V: Visitor<'de>>(
        self,
        entries: &'de [Entry],
        visitor: V,
    ) -> Result<V::Value, DeError> {
        let span = self.label_span();
        let r = visitor.visit_map(Map {
            entries: entries.iter(),
            current: None,
            path: &self.path,
        });
        Self::located(span, &self.path, r)
    }
}

impl<'de> de::Deserializer<'de> for NodeDe<'de> {
    type Error = DeError;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        let span = self.label_span();
        let path = self.path.clone();
        let node: &'de Node = self.node;
        let r = match &node.kind {
            NodeKind::Scalar { value, .. } => match self.plain_resolved() {
                Some(Resolved::Null) => visitor.visit_unit(),
                Some(Resolved::Bool(b)) => visitor.visit_bool(b),
                Some(Resolved::Int(i)) => visitor.visit_i64(i),
                Some(Resolved::UInt(u)) => visitor.visit_u64(u),
                Some(Resolved::Float(f)) => visitor.visit_f64(f),
                Some(Resolved::Str) | None => visitor.visit_str(value),
            },
            NodeKind::Seq(items) => return self.visit_seq(items, visitor),
            NodeKind::Map(entries) => return self.visit_map(entries, visitor),
        };
        Self::located(span, &path, r)
    }

    // Scalars resolve themselves (YAML 1.2 core schema) in `deserialize_any`; so does a unit.
    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 bytes byte_buf unit unit_struct
    }

    fn deserialize_char<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        self.deserialize_str(visitor)
    }

    fn deserialize_str<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        let node: &'de Node = self.node;
        match &node.kind {
            NodeKind::Scalar { value, .. } if !node.is_null() => {
                let r = visitor.visit_str(value);
                Self::located(self.label_span(), &self.path, r)
            }
            _ => self.deserialize_any(visitor),
        }
    }

    fn deserialize_string<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        self.deserialize_str(visitor)
    }

    fn deserialize_identifier<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        let node: &'de Node = self.node;
        match &node.kind {
            NodeKind::Scalar { value, .. } => {
                let r = visitor.visit_str(value);
                Self::located(self.label_span(), &self.path, r)
            }
            _ => self.deserialize_any(visitor),
        }
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        if self.node.is_null() {
            let r = visitor.visit_none();
            Self::located(self.label_span(), &self.path, r)
        } else {
            visitor.visit_some(self)
        }
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, DeError> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        // An empty value (`accounts:`) is an empty list.
        if self.node.is_null() {
            return self.visit_seq(&[], visitor);
        }
        self.deserialize_any(visitor)
    }

    fn deserialize_tuple<V: Visitor<'de>>(
        self,
        _len: usize,
        visitor: V,
    ) -> Result<V::Value, DeError> {
        self.deserialize_seq(visitor)
    }

    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _len: usize,
        visitor: V,
    ) -> Result<V::Value, DeError> {
        self.deserialize_seq(visitor)
    }

    fn deserialize_map<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        // An empty value (`tags:`) is an empty mapping.
        if self.node.is_null() {
            return self.visit_map(&[], visitor);
        }
        self.deserialize_any(visitor)
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, DeError> {
        // serde's derive would also accept a list of field values; a manifest object is always a
        // mapping.
        if let NodeKind::Seq(_) = self.node.kind {
            let err = de::Error::invalid_type(Unexpected::Seq, &visitor);
            return Err(DeError::locate(err, self.label_span(), &self.path));
        }
        self.deserialize_any(visitor)
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, DeError> {
        let span = self.label_span();
        let path = self.path.clone();
        let node: &'de Node = self.node;
        let r = match &node.kind {
            NodeKind::Scalar { .. } if !node.is_null() => visitor.visit_enum(UnitEnum(self)),
            NodeKind::Map(entries) if entries.len() == 1 => visitor.visit_enum(MapEnum {
                entry: &entries[0],
                object: self.path,
            }),
            NodeKind::Map(entries) => Err(DeError::new(DeErrorKind::NotSingleKey {
                count: entries.len(),
                expected: variants,
            })),
            _ => {
                let what = if node.is_null() {
                    "null".to_owned()
                } else {
                    "a list".to_owned()
                };
                Err(DeError::new(DeErrorKind::InvalidType {
                    found: what,
                    expected: one_of(variants),
                }))
            }
        };
        Self::located(span, &path, r)
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        visitor.visit_unit()
    }
}

fn one_of(variants: &[&str]) -> String {
    let quoted: Vec<String> = variants.iter().map(|v| format!("`{v}`")).collect();
    format!("one of {}", quoted.join(", "))
}

struct Seq<'de, 'p> {
    items: std::iter::Enumerate<std::slice::Iter<'de, Node>>,
    path: &'p str,
}

impl<'de> SeqAccess<'de> for Seq<'de, '_> {
    type Error = DeError;

    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, DeError> {
        let Some((i, node)) = self.items.next() else {
            return Ok(None);
        };
        let path = child_index(self.path, i);
        let r = seed.deserialize(NodeDe {
            node,
            path: path.clone(),
        });
        NodeDe::located(node.head, &path, r).map(Some)
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.items.len())
    }
}

struct Map<'de, 'p> {
    entries: std::slice::Iter<'de, Entry>,
    current: Option<&'de Entry>,
    path: &'p str,
}

impl<'de> MapAccess<'de> for Map<'de, '_> {
    type Error = DeError;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, DeError> {
        let Some(entry) = self.entries.next() else {
            return Ok(None);
        };
        self.current = Some(entry);
        let key: de::value::StrDeserializer<'_, DeError> = entry.key.as_str().into_deserializer();
        seed.deserialize(key)
            .map(Some)
            .map_err(|e| e.at_key(entry.key_span, self.path))
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, DeError> {
        let entry = self
            .current
            .take()
            .ok_or_else(|| <DeError as de::Error>::custom("value requested before key"))?;
        let path = child_key(self.path, &entry.key);
        let r = seed.deserialize(NodeDe {
            node: &entry.value,
            path: path.clone(),
        });
        NodeDe::located(entry.value.head, &path, r)
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.entries.len())
    }
}

/// `kind: OpenAI` — an enum written as a bare scalar (unit variant).
struct UnitEnum<'de>(NodeDe<'de>);

impl<'de> EnumAccess<'de> for UnitEnum<'de> {
    type Error = DeError;
    type Variant = UnitOnly;

    fn variant_seed<V: DeserializeSeed<'de>>(
        self,
        seed: V,
    ) -> Result<(V::Value, UnitOnly), DeError> {
        let value = self.0.node.scalar().unwrap_or_default();
        let variant: de::value::StrDeserializer<'_, DeError> = value.into_deserializer();
        let v = seed
            .deserialize(variant)
            .map_err(|e| e.locate(self.0.node.head, &self.0.path))?;
        Ok((v, UnitOnly(value.to_owned())))
    }
}

struct UnitOnly(String);

impl<'de> VariantAccess<'de> for UnitOnly {
    type Error = DeError;

    fn unit_variant(self) -> Result<(), DeError> {
        Ok(())
    }

    fn newtype_variant_seed<T: DeserializeSeed<'de>>(self, _seed: T) -> Result<T::Value, DeError> {
        Err(DeError::new(DeErrorKind::InvalidType {
            found: format!("string \"{}\"", self.0),
            expected: format!("a mapping such as `{{ {}: … }}`", self.0),
        }))
    }

    fn tuple_variant<V: Visitor<'de>>(self, _len: usize, visitor: V) -> Result<V::Value, DeError> {
        Err(de::Error::invalid_type(Unexpected::Str(&self.0), &visitor))
    }

    fn struct_variant<V: Visitor<'de>>(
        self,
        _fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, DeError> {
        Err(de::Error::invalid_type(Unexpected::Str(&self.0), &visitor))
    }
}

/// `{ account: oai-x }` — an enum written as a single-key mapping.
struct MapEnum<'de> {
    entry: &'de Entry,
    object: String,
}

impl<'de> EnumAccess<'de> for MapEnum<'de> {
    type Error = DeError;
    type Variant = NodeDe<'de>;

    fn variant_seed<V: DeserializeSeed<'de>>(
        self,
        seed: V,
    ) -> Result<(V::Value, NodeDe<'de>), DeError> {
        let key: de::value::StrDeserializer<'_, DeError> =
            self.entry.key.as_str().into_deserializer();
        let v = seed
            .deserialize(key)
            .map_err(|e| e.at_key(self.entry.key_span, &self.object))?;
        let path = child_key(&self.object, &self.entry.key);
        Ok((
            v,
            NodeDe {
                node: &self.entry.value,
                path,
            },
        ))
    }
}

impl<'de> VariantAccess<'de> for NodeDe<'de> {
    type Error = DeError;

    fn unit_variant(self) -> Result<(), DeError> {
        if self.node.is_null() {
            Ok(())
        } else {
            let span = self.label_span();
            Err(DeError::new(DeErrorKind::InvalidType {
                found: "a value".to_owned(),
                expected: "nothing after this key".to_owned(),
            })
            .locate(span, &self.path))
        }
    }

    fn newtype_variant_seed<T: DeserializeSeed<'de>>(self, seed: T) -> Result<T::Value, DeError> {
        let (span, path) = (self.label_span(), self.path.clone());
        NodeDe::located(span, &path, seed.deserialize(self))
    }

    fn tuple_variant<V: Visitor<'de>>(self, _len: usize, visitor: V) -> Result<V::Value, DeError> {
        de::Deserializer::deserialize_seq(self, visitor)
    }

    fn struct_variant<V: Visitor<'de>>(
        self,
        _fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, DeError> {
        de::Deserializer::deserialize_any(self, visitor)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use serde::Deserialize;

    use super::*;
    use crate::manifest::tree;

    #[derive(Debug, Deserialize, PartialEq)]
    #[serde(rename_all = "camelCase", deny_unknown_fields)]
    struct Thing {
        name: String,
        count: u32,
        #[serde(default)]
        enabled: bool,
        #[serde(default)]
        tags: BTreeMap<String, String>,
        #[serde(default)]
        kind: Option<Kind>,
        #[serde(default)]
        scope: Option<Scope>,
    }

    #[derive(Debug, Deserialize, PartialEq)]
    enum Kind {
        OpenAI,
        AIServices,
    }

    #[derive(Debug, Deserialize, PartialEq)]
    #[serde(rename_all = "camelCase")]
    enum Scope {
        Account(String),
        ResourceGroup(String),
    }

    fn parse(src: &str) -> Result<Thing, Box<(DeError, String)>> {
        let root = tree::parse(src).root.unwrap();
        from_node::<Thing>(&root).map_err(|e| {
            let s = e.span.unwrap();
            let text = src[s.start..s.end].to_owned();
            Box::new((e, text))
        })
    }

    #[test]
    fn reads_typed_values_and_lenient_strings() {
        let t = parse("name: 42\ncount: 0x10\nenabled: true\ntags: { a: 1, b: x }\nkind: OpenAI\nscope: { account: oai }\n").unwrap();
        assert_eq!(t.name, "42");
        assert_eq!(t.count, 16);
        assert!(t.enabled);
        assert_eq!(t.tags["a"], "1");
        assert_eq!(t.kind, Some(Kind::OpenAI));
        assert_eq!(t.scope, Some(Scope::Account("oai".into())));
    }

    #[test]
    fn unknown_keys_are_located_at_the_key_with_expected_keys() {
        let (e, at) = *parse("name: x\ncount: 1\ncuont: 2\n").unwrap_err();
        assert_eq!(at, "cuont");
        let DeErrorKind::UnknownField { field, expected } = &e.kind else {
            panic!("{e:?}")
        };
        assert_eq!(field, "cuont");
        assert!(expected.contains(&"count"));
    }

    #[test]
    fn wrong_types_are_located_at_the_value() {
        let (e, at) = *parse("name: x\ncount: many\n").unwrap_err();
        assert_eq!(at, "many");
        assert_eq!(
            e.kind,
            DeErrorKind::InvalidType {
                found: "string \"many\"".into(),
                expected: "a non-negative integer".into()
            }
        );
        let (e, at) = *parse("name: [a]\ncount: 1\n").unwrap_err();
        assert_eq!(at, "name");
        assert!(matches!(e.kind, DeErrorKind::InvalidType { .. }));
        // Quoted numbers stay strings.
        let (_, at) = *parse("name: x\ncount: \"1\"\n").unwrap_err();
        assert_eq!(at, "\"1\"");
    }

    #[test]
    fn missing_keys_point_at_the_object() {
        let (e, at) = *parse("name: x\n").unwrap_err();
        assert_eq!(e.kind, DeErrorKind::MissingField("count"));
        assert_eq!(at, "name: x");
    }

    #[test]
    fn enum_errors_distinguish_keys_from_values() {
        let (e, at) = *parse("name: x\ncount: 1\nkind: OpenAi\n").unwrap_err();
        assert_eq!(at, "OpenAi");
        assert!(!e.at_key);
        let (e, at) = *parse("name: x\ncount: 1\nscope: { acount: a }\n").unwrap_err();
        assert_eq!(at, "acount");
        assert!(e.at_key);
        let (e, at) =
            *parse("name: x\ncount: 1\nscope: { account: a, resourceGroup: b }\n").unwrap_err();
        assert_eq!(at, "scope");
        assert!(matches!(e.kind, DeErrorKind::NotSingleKey { count: 2, .. }));
    }

    #[test]
    fn nulls() {
        let t = parse("name: x\ncount: 1\nkind: ~\ntags:\n").unwrap();
        assert_eq!(t.kind, None);
        assert!(t.tags.is_empty());
        let (e, at) = *parse("name:\ncount: 1\n").unwrap_err();
        assert_eq!(at, "name");
        assert!(matches!(e.kind, DeErrorKind::InvalidType { ref found, .. } if found == "null"));
    }

    #[test]
    fn core_schema_resolution() {
        assert!(matches!(resolve("-3"), Resolved::Int(-3)));
        assert!(matches!(resolve("+3"), Resolved::UInt(3)));
        assert!(matches!(resolve("0o17"), Resolved::UInt(15)));
        assert!(matches!(resolve("1.5e3"), Resolved::Float(_)));
        assert!(matches!(resolve("2024-07-18"), Resolved::Str));
        assert!(matches!(resolve("yes"), Resolved::Str));
        assert!(matches!(resolve("e"), Resolved::Str));
    }
}
