//! "Did you mean …?" suggestions.
//!
//! One place decides how close is close enough, so keys, enum values, references and role names
//! all suggest consistently.

use super::error::Hint;

/// Edit distance between `a` and `b`, ignoring ASCII case.
fn distance(a: &str, b: &str) -> usize {
    strsim::damerau_levenshtein(&a.to_lowercase(), &b.to_lowercase())
}

/// The candidate closest to `input`, if it is close enough to be a plausible typo: at most a
/// third of the input's characters edited, or the input is a distinctive part of the candidate
/// (`subdomain` → `customSubdomain`).
pub(crate) fn closest<'a, I>(input: &str, candidates: I) -> Option<&'a str>
where
    I: IntoIterator<Item = &'a str>,
{
    let allowed = (input.chars().count() / 3).max(1);
    let lower = input.to_lowercase();
    let mut best: Option<(usize, &'a str)> = None;
    for c in candidates {
        if c == input {
            continue;
        }
        let d = distance(input, c);
        let contains = lower.chars().count() >= 4 && c.to_lowercase().contains(&lower);
        if d <= allowed || contains {
            let score = if d <= allowed { d } else { allowed + 1 };
            match best {
                Some((bd, _)) if bd <= score => {}
                _ => best = Some((score, c)),
            }
        }
    }
    best.map(|(_, c)| c)
}

/// Whether `input` looks like a misspelling of `candidate` (used for role names, where anything
/// not close to a built-in is accepted as a custom role): one or two edits, three for long names.
pub(crate) fn is_typo_of(input: &str, candidate: &str) -> bool {
    let allowed = match candidate.chars().count() {
        0..=9 => 1,
        10..=24 => 2,
        _ => 3,
    };
    distance(input, candidate) <= allowed
}

/// A [`Hint`] for `input` among `candidates`: the closest one, else all of them.
pub(crate) fn hint<'a, I>(input: &str, candidates: I) -> Hint
where
    I: IntoIterator<Item = &'a str> + Clone,
{
    Hint {
        did_you_mean: closest(input, candidates.clone()).map(str::to_owned),
        valid: candidates.into_iter().map(str::to_owned).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEYS: &[&str] = &[
        "name",
        "resourceGroup",
        "customSubdomain",
        "location",
        "kind",
    ];

    #[test]
    fn suggests_case_and_spelling_mistakes() {
        assert_eq!(
            closest("resourcegroup", KEYS.iter().copied()),
            Some("resourceGroup")
        );
        assert_eq!(
            closest("resourceGrop", KEYS.iter().copied()),
            Some("resourceGroup")
        );
        assert_eq!(closest("locaton", KEYS.iter().copied()), Some("location"));
        assert_eq!(
            closest("subdomain", KEYS.iter().copied()),
            Some("customSubdomain")
        );
    }

    #[test]
    fn does_not_suggest_unrelated_words() {
        assert_eq!(closest("zzz", KEYS.iter().copied()), None);
        assert_eq!(closest("deployments", KEYS.iter().copied()), None);
    }

    #[test]
    fn hint_lists_candidates_when_nothing_is_close() {
        let h = hint("zzz", ["a-1", "b-2"]);
        assert_eq!(h.did_you_mean, None);
        assert_eq!(h.to_string(), "expected one of: `a-1`, `b-2`");
        let h = hint("a-2", ["a-1", "b-2"]);
        assert_eq!(h.to_string(), "did you mean `a-1`?");
    }

    #[test]
    fn typo_threshold_scales_with_length() {
        assert!(is_typo_of("Contributer", "Contributor"));
        assert!(is_typo_of(
            "cognitive services openai usr",
            "Cognitive Services OpenAI User"
        ));
        assert!(!is_typo_of("Reviewer", "Reader"));
        assert!(!is_typo_of(
            "Cognitive Services OpenAI Reader",
            "Cognitive Services OpenAI User"
        ));
    }
}
