//! Field-level diff helpers shared by more than one resource kind (resource groups and accounts
//! both create with tags and merge tags the same way).

use super::types::FieldChange;
use std::collections::BTreeMap;

/// The diff of a resource being created: every given field and tag, from nothing.
pub(super) fn create_changes(
    fields: &[(&str, &str)],
    tags: &BTreeMap<String, String>,
) -> Vec<FieldChange> {
    let mut v: Vec<FieldChange> = fields
        .iter()
        .map(|(f, t)| FieldChange {
            field: (*f).into(),
            from: None,
            to: Some((*t).into()),
        })
        .collect();
    for (k, val) in tags {
        v.push(FieldChange {
            field: format!("tags.{k}"),
            from: None,
            to: Some(val.clone()),
        });
    }
    v
}

/// Tags the manifest wants that Azure lacks or has with another value (others' tags are kept).
pub(super) fn missing_tags(
    observed: &BTreeMap<String, String>,
    desired: &BTreeMap<String, String>,
) -> Vec<FieldChange> {
    desired
        .iter()
        .filter(|(k, v)| observed.get(*k) != Some(*v))
        .map(|(k, v)| FieldChange {
            field: format!("tags.{k}"),
            from: observed.get(k).cloned(),
            to: Some(v.clone()),
        })
        .collect()
}
