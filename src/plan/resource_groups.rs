//! Resource groups: create the missing ones, merge the manifest's tags into existing ones, and
//! refuse a group that exists in another region (groups cannot move).

use super::builder::{ActionsByKey, Builder};
use super::changes::{create_changes, missing_tags};
use super::types::ActionKind;
use crate::model::{rg_id, Observed, ObservedRg, RgSpec};

/// Plans every desired resource group. Returns, by lower-cased group name, the action that
/// creates or updates it: what the group's accounts and assignments wait for.
pub(super) fn plan_resource_groups(
    b: &mut Builder,
    sub: &str,
    groups: &[RgSpec],
    observed: &Observed,
) -> ActionsByKey {
    let mut rg_actions = ActionsByKey::new();
    for rg in groups {
        let id = rg_id(sub, &rg.name);
        let existing = observed
            .resource_groups
            .get(&rg.name.to_ascii_lowercase())
            .and_then(Option::as_ref);
        let action = match existing {
            None => Some(b.push(
                ActionKind::CreateResourceGroup { spec: rg.clone() },
                id,
                "does not exist",
                create_changes(&[("location", &rg.location)], &rg.tags),
                vec![],
            )),
            Some(o) => plan_existing(b, rg, id, o),
        };
        if let Some(a) = action {
            rg_actions.insert(rg.name.to_ascii_lowercase(), a);
        }
    }
    rg_actions
}

/// An existing group: an error when its region differs, an update when tags are missing.
fn plan_existing(b: &mut Builder, rg: &RgSpec, id: String, o: &ObservedRg) -> Option<usize> {
    if !o.location.eq_ignore_ascii_case(&rg.location) {
        b.error(
            "rg-location",
            &id,
            format!(
                "resource group exists in `{}`, the manifest says `{}`",
                o.location, rg.location
            ),
            "a resource group cannot move; set `location` to the existing region",
            None,
        );
    }
    let missing = missing_tags(&o.tags, &rg.tags);
    if missing.is_empty() {
        b.unchanged += 1;
        return None;
    }
    Some(b.push(
        ActionKind::UpdateResourceGroup { spec: rg.clone() },
        id,
        "tags differ",
        missing,
        vec![],
    ))
}
