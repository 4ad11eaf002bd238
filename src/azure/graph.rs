//! Microsoft Graph lookups that turn the manifest's principals (UPNs, group names, appIds,
//! object ids) into object ids and principal types — in batches.
//!
//! Why batches: a platform team's manifest names hundreds of people. Object ids go through
//! `directoryObjects/getByIds` (1,000 per request); names go through `$batch` (20 sub-requests
//! per request, each filtering up to 15 values with `in`), so the request count grows with
//! principals / 300, not with principals.

use super::error::AzureError;
use super::transport::Transport;
use crate::model::PrincipalType;
use azure_core::auth::TokenCredential;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::sync::Arc;

/// A principal as the manifest names it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum PrincipalQuery {
    /// A user by UPN.
    UserUpn(String),
    /// A group by display name.
    GroupName(String),
    /// A service principal by appId.
    AppId(String),
    /// Any directory object by object id (type found by Graph).
    ObjectId(String),
}

impl PrincipalQuery {
    /// The name or id being looked up.
    pub fn value(&self) -> &str {
        match self {
            PrincipalQuery::UserUpn(s)
            | PrincipalQuery::GroupName(s)
            | PrincipalQuery::AppId(s)
            | PrincipalQuery::ObjectId(s) => s,
        }
    }
}

/// A resolved directory object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved {
    /// Object id.
    pub id: String,
    /// Kind.
    pub principal_type: PrincipalType,
}

/// Why a principal could not be resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unresolved {
    /// Nothing matched.
    NotFound,
    /// Several objects match a name.
    Ambiguous(usize),
}

/// Graph client on top of the keyless transport.
#[derive(Clone)]
pub struct Graph {
    base: url::Url,
    scope: String,
    credential: Arc<dyn TokenCredential>,
    transport: Transport,
}

const IN_LIMIT: usize = 15;
const BATCH_LIMIT: usize = 20;
const GET_BY_IDS_LIMIT: usize = 1000;

impl Graph {
    /// A Graph client for `base` (`https://graph.microsoft.com/`).
    pub fn new(
        base: &url::Url,
        scope: &str,
        credential: Arc<dyn TokenCredential>,
        transport: Transport,
    ) -> Graph {
        Graph {
            base: base.clone(),
            scope: scope.to_string(),
            credential,
            transport,
        }
    }

    /// POSTs with retries: Graph throttles (429 with Retry-After) and has transient 5xx and
    /// connection failures like ARM does; a `$batch` whose sub-responses are 429/5xx is retried
    /// whole (lookups are reads, so retrying is safe).
    async fn post(&self, path: &str, body: &Value) -> Result<Value, AzureError> {
        use azure_core::RetryPolicy;
        let backoff = super::retry::JitteredBackoff::default();
        let mut attempt = 0u32;
        loop {
            let (result, retry_after) = self.post_once(path, body).await;
            let retryable = match &result {
                Ok(v) => v["responses"].as_array().is_some_and(|rs| {
                    rs.iter().any(|r| {
                        let st = r["status"].as_u64().unwrap_or(0);
                        st == 429 || st >= 500
                    })
                }),
                Err(e) => e.status == 0 || e.status == 429 || e.status >= 500,
            };
            if !retryable || attempt >= 6 {
                return result;
            }
            let wait = retry_after.unwrap_or_else(|| backoff.sleep_duration(attempt));
            tokio::time::sleep(wait).await;
            attempt += 1;
        }
    }

    /// One POST; also returns the largest Retry-After seen (header or `$batch` sub-response).
    async fn post_once(
        &self,
        path: &str,
        body: &Value,
    ) -> (Result<Value, AzureError>, Option<std::time::Duration>) {
        let r = self.post_raw(path, body).await;
        match r {
            Ok((v, ra)) => {
                let sub = v["responses"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|r| super::retry::retry_after_json(&r["headers"]))
                    .max();
                let ra = ra.or(sub);
                (Ok(v), ra)
            }
            Err((e, ra)) => (Err(e), ra),
        }
    }

    async fn post_raw(
        &self,
        path: &str,
        body: &Value,
    ) -> Result<(Value, Option<std::time::Duration>), (AzureError, Option<std::time::Duration>)>
    {
        let op = format!("Microsoft Graph {path}");
        let token = self
            .credential
            .get_token(&[&self.scope])
            .await
            .map_err(|e| (AzureError::from_core(&op, &e), None))?;
        let url = self
            .base
            .join(path.trim_start_matches('/'))
            .map_err(|e| (AzureError::new(&op, 0, "InvalidUrl", &e.to_string()), None))?;
        let req = self
            .transport
            .reqwest()
            .post(url)
            .bearer_auth(token.token.secret())
            .json(body)
            .build()
            .map_err(|e| {
                (
                    AzureError::new(&op, 0, "RequestFailed", &e.to_string()),
                    None,
                )
            })?;
        let rsp = self.transport.send_raw(req).await.map_err(|e| {
            (
                AzureError::new(&op, 0, "ConnectionFailed", &e.to_string()),
                None,
            )
        })?;
        let status = rsp.status().as_u16();
        let retry_after = super::retry::retry_after_http(rsp.headers());
        let v: Value = rsp.json().await.unwrap_or(Value::Null);
        if status >= 400 {
            return Err((
                AzureError::new(
                    &op,
                    status,
                    v["error"]["code"].as_str().unwrap_or("GraphError"),
                    v["error"]["message"].as_str().unwrap_or(""),
                ),
                retry_after,
            ));
        }
        Ok((v, retry_after))
    }

    /// Resolves every query; the map holds an entry per distinct query.
    pub async fn resolve(&self, queries: &[PrincipalQuery]) -> Result<Resolutions, AzureError> {
        let mut out = Resolutions::new();
        let (ids, by_kind) = group_queries(queries, &mut out);
        let subrequests = name_subrequests(&by_kind);
        for batch in subrequests.chunks(BATCH_LIMIT) {
            self.resolve_names(batch, &mut out).await?;
        }
        for chunk in ids.chunks(GET_BY_IDS_LIMIT) {
            self.resolve_ids(chunk, &mut out).await?;
        }
        Ok(out)
    }

    /// One `$batch` of name lookups (up to [`BATCH_LIMIT`] filtered GETs).
    async fn resolve_names(
        &self,
        batch: &[Subrequest],
        out: &mut Resolutions,
    ) -> Result<(), AzureError> {
        let requests: Vec<Value> = batch
            .iter()
            .enumerate()
            .map(|(i, (_, url, _, _))| json!({"id": i.to_string(), "method": "GET", "url": url}))
            .collect();
        let v = self
            .post("v1.0/$batch", &json!({"requests": requests}))
            .await?;
        for r in v["responses"].as_array().into_iter().flatten() {
            let Some(i) = r["id"].as_str().and_then(|s| s.parse::<usize>().ok()) else {
                continue;
            };
            let Some((qs, _, ty, field)) = batch.get(i) else {
                continue;
            };
            let status = r["status"].as_u64().unwrap_or(0);
            if status >= 400 {
                return Err(AzureError::new(
                    "Microsoft Graph lookup",
                    status as u16,
                    r["body"]["error"]["code"].as_str().unwrap_or("GraphError"),
                    r["body"]["error"]["message"].as_str().unwrap_or(""),
                ));
            }
            let found: Vec<&Value> = r["body"]["value"]
                .as_array()
                .map(|a| a.iter().collect())
                .unwrap_or_default();
            for q in qs {
                let wanted = q.value();
                let matches: Vec<&&Value> = found
                    .iter()
                    .filter(|o| {
                        o[*field]
                            .as_str()
                            .is_some_and(|x| x.eq_ignore_ascii_case(wanted))
                    })
                    .collect();
                let res = match matches.len() {
                    0 => Err(Unresolved::NotFound),
                    1 => Ok(Resolved {
                        id: matches[0]["id"].as_str().unwrap_or_default().to_string(),
                        principal_type: *ty,
                    }),
                    n => Err(Unresolved::Ambiguous(n)),
                };
                out.insert(q.clone(), res);
            }
        }
        Ok(())
    }

    /// One `getByIds` request for up to [`GET_BY_IDS_LIMIT`] object ids.
    async fn resolve_ids(&self, chunk: &[String], out: &mut Resolutions) -> Result<(), AzureError> {
        let v = self
            .post(
                "v1.0/directoryObjects/getByIds",
                &json!({"ids": chunk, "types": ["user", "group", "servicePrincipal"]}),
            )
            .await?;
        for o in v["value"].as_array().into_iter().flatten() {
            let id = o["id"].as_str().unwrap_or_default().to_string();
            let ty = match o["@odata.type"].as_str().unwrap_or_default() {
                "#microsoft.graph.user" => PrincipalType::User,
                "#microsoft.graph.group" => PrincipalType::Group,
                "#microsoft.graph.servicePrincipal" => PrincipalType::ServicePrincipal,
                _ => continue,
            };
            if let Some(q) = chunk.iter().find(|x| x.eq_ignore_ascii_case(&id)) {
                out.insert(
                    PrincipalQuery::ObjectId(q.clone()),
                    Ok(Resolved {
                        id,
                        principal_type: ty,
                    }),
                );
            }
        }
        Ok(())
    }
}

/// What [`Graph::resolve`] answers: per distinct query, the object or why there is none.
pub type Resolutions = BTreeMap<PrincipalQuery, Result<Resolved, Unresolved>>;

/// One filtered GET inside a `$batch`: the queries it answers, its URL, the principal type it
/// finds and the property it filters on.
type Subrequest = (Vec<PrincipalQuery>, String, PrincipalType, &'static str);

/// Name lookups grouped by (collection, filtered property, principal type).
type ByKind = BTreeMap<(&'static str, &'static str, PrincipalType), Vec<PrincipalQuery>>;

/// Enters every distinct query in `out` as not found yet, and splits them into object ids and
/// name lookups by kind.
fn group_queries(queries: &[PrincipalQuery], out: &mut Resolutions) -> (Vec<String>, ByKind) {
    let mut ids: Vec<String> = Vec::new();
    let mut by_kind = ByKind::new();
    for q in queries {
        if out.contains_key(q) {
            continue;
        }
        out.insert(q.clone(), Err(Unresolved::NotFound));
        let kind = match q {
            PrincipalQuery::ObjectId(id) => {
                ids.push(id.clone());
                continue;
            }
            PrincipalQuery::UserUpn(_) => ("users", "userPrincipalName", PrincipalType::User),
            PrincipalQuery::GroupName(_) => ("groups", "displayName", PrincipalType::Group),
            PrincipalQuery::AppId(_) => (
                "servicePrincipals",
                "appId",
                PrincipalType::ServicePrincipal,
            ),
        };
        by_kind.entry(kind).or_default().push(q.clone());
    }
    (ids, by_kind)
}

/// The filtered GETs for the name lookups, up to [`IN_LIMIT`] values per `in` filter.
fn name_subrequests(by_kind: &ByKind) -> Vec<Subrequest> {
    let mut subrequests: Vec<Subrequest> = Vec::new();
    let quoted = |s: &str| format!("'{}'", s.replace('\'', "''"));
    for ((collection, field, ty), qs) in by_kind {
        for chunk in qs.chunks(IN_LIMIT) {
            let list: Vec<String> = chunk.iter().map(|q| quoted(q.value())).collect();
            subrequests.push((
                chunk.to_vec(),
                format!(
                    "/{collection}?$filter={field} in ({})&$select=id,{field}",
                    list.join(",")
                ),
                *ty,
                field,
            ));
        }
    }
    subrequests
}

/// Claims of the caller's own token that keyless needs (decoded locally, never verified or
/// printed: the token is only used to learn "who am I").
#[derive(
    Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "camelCase")]
pub struct CallerIdentity {
    /// Object id — what role assignments name.
    pub object_id: String,
    /// Tenant id.
    pub tenant_id: Option<String>,
    /// App id (service principals) or UPN (users), for display.
    pub display: String,
    /// User or ServicePrincipal.
    pub principal_type: PrincipalType,
}

/// Reads `oid`/`tid`/`appid`/`upn`/`idtyp` from a JWT's payload.
pub fn caller_from_token(token: &str) -> Option<CallerIdentity> {
    use base64::Engine;
    let payload = token.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .ok()?;
    let v: Value = serde_json::from_slice(&bytes).ok()?;
    let oid = v["oid"].as_str()?.to_string();
    let is_user =
        v["idtyp"].as_str() == Some("user") || v.get("upn").is_some() || v.get("scp").is_some();
    let display = v["upn"]
        .as_str()
        .or(v["unique_name"].as_str())
        .or(v["appid"].as_str())
        .or(v["azp"].as_str())
        .unwrap_or(&oid)
        .to_string();
    Some(CallerIdentity {
        object_id: oid,
        tenant_id: v["tid"].as_str().map(str::to_string),
        display,
        principal_type: if is_user {
            PrincipalType::User
        } else {
            PrincipalType::ServicePrincipal
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queries_are_deduplicated_and_batched_by_kind() {
        let mut qs: Vec<PrincipalQuery> = (0..16)
            .map(|n| PrincipalQuery::UserUpn(format!("u{n}@x")))
            .collect();
        qs.push(PrincipalQuery::UserUpn("u0@x".into()));
        qs.push(PrincipalQuery::GroupName("o'brien".into()));
        qs.push(PrincipalQuery::ObjectId("id-1".into()));
        let mut out = Resolutions::new();
        let (ids, by_kind) = group_queries(&qs, &mut out);
        assert_eq!(out.len(), 18);
        assert!(out.values().all(|r| *r == Err(Unresolved::NotFound)));
        assert_eq!(ids, vec!["id-1".to_string()]);
        let subs = name_subrequests(&by_kind);
        // Groups sort before users; 16 UPNs need two `in` filters of at most 15.
        assert_eq!(subs.len(), 3);
        assert_eq!(
            subs[0].1,
            "/groups?$filter=displayName in ('o''brien')&$select=id,displayName"
        );
        assert_eq!(subs[1].0.len(), IN_LIMIT);
        assert_eq!(subs[2].0.len(), 1);
        assert!(subs[1]
            .1
            .starts_with("/users?$filter=userPrincipalName in ('u0@x','u1@x',"));
    }
    use base64::Engine;

    #[test]
    fn caller_is_read_from_the_token_payload() {
        let enc = |v: Value| {
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(serde_json::to_vec(&v).unwrap())
        };
        let t = format!(
            "{}.{}.sig",
            enc(json!({"alg":"RS256"})),
            enc(json!({"oid":"o1","tid":"t1","appid":"a1","idtyp":"app"}))
        );
        let c = caller_from_token(&t).unwrap();
        assert_eq!(c.object_id, "o1");
        assert_eq!(c.display, "a1");
        assert_eq!(c.principal_type, PrincipalType::ServicePrincipal);
        let u = format!(
            "x.{}.y",
            enc(json!({"oid":"o2","upn":"a@b.c","scp":"user_impersonation"}))
        );
        assert_eq!(
            caller_from_token(&u).unwrap().principal_type,
            PrincipalType::User
        );
        assert!(caller_from_token("garbage").is_none());
    }
}
