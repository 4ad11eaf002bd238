//! Transport-neutral request/response types shared by every service, and Azure's error envelopes.
//!
//! Why: services stay testable without a socket, and every error body is built in one place so the
//! wire shape (ARM `{"error":{code,message,...}}`, AADSTS, data plane) cannot drift per handler.

use bytes::Bytes;
use serde_json::{json, Value};

/// A fully-read HTTP request, already decoded from the wire.
#[derive(Debug, Clone)]
pub struct Req {
    /// Upper-case method, e.g. `GET`.
    pub method: String,
    /// Percent-decoded path, e.g. `/subscriptions/x/resourceGroups/rg`.
    pub path: String,
    /// Non-empty path segments (percent-decoded).
    pub segments: Vec<String>,
    /// Query pairs in order (percent-decoded). Look up with [`Req::query`] (case-insensitive names).
    pub query: Vec<(String, String)>,
    /// Request headers (names lower-cased).
    pub headers: Vec<(String, String)>,
    /// Raw body.
    pub body: Bytes,
    /// A request id the server generated (`x-ms-request-id`).
    pub request_id: String,
}

impl Req {
    /// Builds a request (used by the server and by tests).
    pub fn new(
        method: &str,
        path_and_query: &str,
        headers: Vec<(String, String)>,
        body: Bytes,
    ) -> Req {
        let (raw_path, raw_query) = match path_and_query.split_once('?') {
            Some((p, q)) => (p, q),
            None => (path_and_query, ""),
        };
        let segments: Vec<String> = raw_path
            .split('/')
            .filter(|s| !s.is_empty())
            .map(percent_decode)
            .collect();
        let path = format!("/{}", segments.join("/"));
        let query = url::form_urlencoded::parse(raw_query.as_bytes())
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        Req {
            method: method.to_ascii_uppercase(),
            path,
            segments,
            query,
            headers: headers
                .into_iter()
                .map(|(k, v)| (k.to_ascii_lowercase(), v))
                .collect(),
            body,
            request_id: uuid::Uuid::new_v4().to_string(),
        }
    }

    /// Query parameter by case-insensitive name (ARM treats `api-version`/`$filter` names so).
    pub fn query(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Header by case-insensitive name.
    pub fn header(&self, name: &str) -> Option<&str> {
        header(&self.headers, name)
    }

    /// The path segments in lower case (routes match them case-insensitively).
    pub fn lower_segments(&self) -> Vec<String> {
        self.segments
            .iter()
            .map(|s| s.to_ascii_lowercase())
            .collect()
    }

    /// Bearer token from the `Authorization` header, if any.
    pub fn bearer(&self) -> Option<&str> {
        let h = self.header("authorization")?;
        let (scheme, token) = h.split_once(' ')?;
        scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
    }

    /// Parses the body as JSON, answering Azure's ARM error for malformed input.
    pub fn json<T: serde::de::DeserializeOwned>(&self) -> Result<T, Resp> {
        serde_json::from_slice(&self.body).map_err(|e| {
            Resp::arm_error(
                400,
                "InvalidRequestContent",
                &format!("The request content was invalid and could not be deserialized: '{e}'."),
            )
        })
    }

    /// Parses an `application/x-www-form-urlencoded` body.
    pub fn form(&self) -> Vec<(String, String)> {
        url::form_urlencoded::parse(&self.body)
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect()
    }
}

/// A header value by case-insensitive name (names are stored lower-cased).
fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    let name = name.to_ascii_lowercase();
    headers
        .iter()
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.as_str())
}

fn percent_decode(s: &str) -> String {
    url::form_urlencoded::parse(format!("x={}", s.replace('+', "%2B")).as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_else(|| s.to_string())
}

/// A response ready to be written to the wire.
#[derive(Debug, Clone, PartialEq)]
pub struct Resp {
    /// HTTP status.
    pub status: u16,
    /// Extra headers (content-type is set by the constructors).
    pub headers: Vec<(String, String)>,
    /// Body bytes.
    pub body: Bytes,
}

impl Resp {
    /// A JSON response.
    pub fn json(status: u16, body: &Value) -> Resp {
        Resp {
            status,
            headers: vec![(
                "content-type".into(),
                "application/json; charset=utf-8".into(),
            )],
            body: Bytes::from(serde_json::to_vec(body).expect("serializable")),
        }
    }

    /// An empty response (e.g. 202/204).
    pub fn empty(status: u16) -> Resp {
        Resp {
            status,
            headers: vec![],
            body: Bytes::new(),
        }
    }

    /// Adds a header.
    pub fn with_header(mut self, name: &str, value: impl Into<String>) -> Resp {
        self.headers.push((name.to_ascii_lowercase(), value.into()));
        self
    }

    /// ARM's error envelope: `{"error":{"code","message"}}`.
    pub fn arm_error(status: u16, code: &str, message: &str) -> Resp {
        Resp::json(
            status,
            &json!({"error": {"code": code, "message": message}}),
        )
    }

    /// ARM's error envelope with `details`.
    pub fn arm_error_details(status: u16, code: &str, message: &str, details: Value) -> Resp {
        Resp::json(
            status,
            &json!({"error": {"code": code, "message": message, "details": details}}),
        )
    }

    /// Header value by name.
    pub fn header(&self, name: &str) -> Option<&str> {
        header(&self.headers, name)
    }
}

/// The answer for a path nothing serves.
pub fn not_found(req: &Req) -> Resp {
    Resp {
        status: 404,
        headers: vec![("content-type".into(), "text/plain; charset=utf-8".into())],
        body: Bytes::from(format!("404 Not Found: {} {}\n", req.method, req.path)),
    }
}
