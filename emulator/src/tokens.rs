//! Access-token minting and validation (RS256 JWTs), and the signing key behind them.
//!
//! Why one module: the Entra ID endpoints mint, every protected endpoint validates, and both must
//! agree on the key, the claim set and the clock. Tokens are Azure *v1* tokens (ARM, Cognitive
//! Services and Graph all accept v1 only — behaviour notes §1.5): `iss` is the literal
//! `https://sts.windows.net/{tid}/` Azure puts there, because clients and tools parse it (tenant
//! discovery) and the v1 discovery document advertises the same value. Trust is anchored on the
//! emulator's own key (served as JWKS), never on the issuer string.

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use rsa::pkcs8::{EncodePrivateKey, LineEnding};
use rsa::traits::PublicKeyParts;
use rsa::RsaPrivateKey;
use serde::{Deserialize, Serialize};
use std::sync::OnceLock;

/// Why a key could not be created or loaded.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// RSA generation or PEM encoding failed.
    #[error("RSA key: {0}")]
    Rsa(String),
    /// The JWT library rejected the key.
    #[error("JWT key: {0}")]
    Jwt(#[from] jsonwebtoken::errors::Error),
    /// The self-signed certificate for `x5c` could not be made.
    #[error("certificate for the signing key: {0}")]
    Cert(#[from] rcgen::Error),
}

/// The tenant's token-signing key: private half for minting, public half for JWKS and validation.
pub struct SigningKey {
    /// `kid` (and `x5t`) of the key, as Azure publishes it: base64url SHA-1 of the certificate.
    pub kid: String,
    /// PKCS#8 PEM of the private key (persisted with the state so tokens survive restarts).
    pub private_pem: String,
    /// Modulus, base64url (JWKS `n`).
    pub n: String,
    /// Exponent, base64url (JWKS `e`).
    pub e: String,
    /// Self-signed certificate DER, base64 (JWKS `x5c`).
    pub x5c: String,
    encoding: EncodingKey,
    decoding: DecodingKey,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKey")
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

static PROCESS_KEY: OnceLock<String> = OnceLock::new();

impl SigningKey {
    /// Generates a fresh 2048-bit RSA key (slow in debug builds without the opt-level override).
    pub fn generate() -> Result<SigningKey, KeyError> {
        let pem = generate_pem()?;
        SigningKey::from_pem(&pem)
    }

    /// One key per process, generated on first use: emulators started by the same test process
    /// share it so each start does not pay for RSA generation. Tenants still differ, and `tid`
    /// is checked on validation.
    pub fn process_shared() -> Result<SigningKey, KeyError> {
        if let Some(pem) = PROCESS_KEY.get() {
            return SigningKey::from_pem(pem);
        }
        let pem = generate_pem()?;
        let pem = PROCESS_KEY.get_or_init(|| pem);
        SigningKey::from_pem(pem)
    }

    /// Loads a key from PKCS#8 PEM (as persisted).
    pub fn from_pem(pem: &str) -> Result<SigningKey, KeyError> {
        use rsa::pkcs8::DecodePrivateKey;
        let key = RsaPrivateKey::from_pkcs8_pem(pem).map_err(|e| KeyError::Rsa(e.to_string()))?;
        let n = URL_SAFE_NO_PAD.encode(key.n().to_bytes_be());
        let e = URL_SAFE_NO_PAD.encode(key.e().to_bytes_be());
        let kp = rcgen::KeyPair::from_pkcs8_pem_and_sign_algo(pem, &rcgen::PKCS_RSA_SHA256)?;
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new())?;
        params.distinguished_name.push(
            rcgen::DnType::CommonName,
            "accounts.accesscontrol.windows.net",
        );
        let cert = params.self_signed(&kp)?;
        let der = cert.der().to_vec();
        let kid = URL_SAFE_NO_PAD.encode(sha1(&der));
        Ok(SigningKey {
            kid,
            private_pem: pem.to_string(),
            encoding: EncodingKey::from_rsa_pem(pem.as_bytes())?,
            decoding: DecodingKey::from_rsa_components(&n, &e)?,
            n,
            e,
            x5c: STANDARD.encode(&der),
        })
    }

    /// The JWKS entry for this key.
    pub fn jwk(&self, issuer: &str) -> serde_json::Value {
        serde_json::json!({
            "kty": "RSA", "use": "sig", "kid": self.kid, "x5t": self.kid,
            "n": self.n, "e": self.e, "x5c": [self.x5c], "issuer": issuer,
        })
    }

    /// Signs `claims` as an RS256 JWT with this key's `kid`/`x5t` header (as Entra ID does).
    pub fn sign(&self, claims: &serde_json::Value) -> Result<String, jsonwebtoken::errors::Error> {
        let mut header = Header::new(Algorithm::RS256);
        header.kid = Some(self.kid.clone());
        header.x5t = Some(self.kid.clone());
        jsonwebtoken::encode(&header, claims, &self.encoding)
    }

    /// Verifies the signature (and only the signature) of a token minted with this key and
    /// returns its claims. Time and audience checks are the caller's (they need the emulator
    /// clock and per-service rules).
    pub fn verify(&self, token: &str) -> Result<Claims, TokenError> {
        let header = jsonwebtoken::decode_header(token).map_err(|_| TokenError::Malformed)?;
        if header.alg != Algorithm::RS256 {
            return Err(TokenError::BadSignature);
        }
        let mut v = Validation::new(Algorithm::RS256);
        v.validate_exp = false;
        v.validate_nbf = false;
        v.validate_aud = false;
        v.required_spec_claims.clear();
        match jsonwebtoken::decode::<Claims>(token, &self.decoding, &v) {
            Ok(d) => Ok(d.claims),
            Err(e) => match e.kind() {
                jsonwebtoken::errors::ErrorKind::InvalidSignature => Err(TokenError::BadSignature),
                _ => Err(TokenError::Malformed),
            },
        }
    }
}

/// SHA-1 (FIPS 180-4), only for the `x5t` certificate thumbprint JWKS consumers expect.
pub fn sha1(data: &[u8]) -> [u8; 20] {
    let mut h: [u32; 5] = [0x67452301, 0xEFCDAB89, 0x98BADCFE, 0x10325476, 0xC3D2E1F0];
    let mut msg = data.to_vec();
    let bit_len = (data.len() as u64).wrapping_mul(8);
    msg.push(0x80);
    while msg.len() % 64 != 56 {
        msg.push(0);
    }
    msg.extend_from_slice(&bit_len.to_be_bytes());
    for chunk in msg.chunks(64) {
        let mut w = [0u32; 80];
        for (i, word) in chunk.chunks(4).enumerate() {
            w[i] = u32::from_be_bytes([word[0], word[1], word[2], word[3]]);
        }
        for i in 16..80 {
            w[i] = (w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16]).rotate_left(1);
        }
        let (mut a, mut b, mut c, mut d, mut e) = (h[0], h[1], h[2], h[3], h[4]);
        for (i, wi) in w.iter().enumerate() {
            let (f, k) = match i {
                0..=19 => ((b & c) | (!b & d), 0x5A827999),
                20..=39 => (b ^ c ^ d, 0x6ED9EBA1),
                40..=59 => ((b & c) | (b & d) | (c & d), 0x8F1BBCDC),
                _ => (b ^ c ^ d, 0xCA62C1D6),
            };
            let t = a
                .rotate_left(5)
                .wrapping_add(f)
                .wrapping_add(e)
                .wrapping_add(k)
                .wrapping_add(*wi);
            e = d;
            d = c;
            c = b.rotate_left(30);
            b = a;
            a = t;
        }
        h[0] = h[0].wrapping_add(a);
        h[1] = h[1].wrapping_add(b);
        h[2] = h[2].wrapping_add(c);
        h[3] = h[3].wrapping_add(d);
        h[4] = h[4].wrapping_add(e);
    }
    let mut out = [0u8; 20];
    for (i, v) in h.iter().enumerate() {
        out[i * 4..i * 4 + 4].copy_from_slice(&v.to_be_bytes());
    }
    out
}

fn generate_pem() -> Result<String, KeyError> {
    let mut rng = rand::thread_rng();
    let key = RsaPrivateKey::new(&mut rng, 2048).map_err(|e| KeyError::Rsa(e.to_string()))?;
    let pem = key
        .to_pkcs8_pem(LineEnding::LF)
        .map_err(|e| KeyError::Rsa(e.to_string()))?;
    Ok(pem.to_string())
}

/// Why a presented token was rejected before any service rule ran.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// Not a JWT at all (garbage, truncated, bad base64/JSON).
    #[error("malformed token")]
    Malformed,
    /// A JWT, but not signed by this emulator's key.
    #[error("bad signature")]
    BadSignature,
}

/// The v1 access-token claims the emulator mints and reads. Unknown claims are ignored.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Claims {
    /// Audience: the resource exactly as requested (minus `/.default`).
    #[serde(default)]
    pub aud: String,
    /// Issuer: `https://sts.windows.net/{tid}/`.
    #[serde(default)]
    pub iss: String,
    /// Issued at (unix seconds).
    #[serde(default)]
    pub iat: i64,
    /// Not before (unix seconds).
    #[serde(default)]
    pub nbf: i64,
    /// Expiry (unix seconds).
    #[serde(default)]
    pub exp: i64,
    /// Client application id (v1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub appid: Option<String>,
    /// How the client authenticated: "0" public, "1" secret, "2" certificate/assertion.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub appidacr: Option<String>,
    /// Identity provider.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idp: Option<String>,
    /// "app" or "user".
    #[serde(default)]
    pub idtyp: String,
    /// Object id of the principal — what RBAC checks.
    #[serde(default)]
    pub oid: String,
    /// Subject (the object id for app tokens).
    #[serde(default)]
    pub sub: String,
    /// Tenant id.
    #[serde(default)]
    pub tid: String,
    /// Unique token id.
    #[serde(default)]
    pub uti: String,
    /// "1.0".
    #[serde(default)]
    pub ver: String,
    /// Transitive group object ids at issue time.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub groups: Vec<String>,
    /// App roles granted to the client on the resource (Graph application permissions).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub roles: Vec<String>,
    /// Managed identity resource id (MI tokens only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub xms_mirid: Option<String>,
    /// User principal name (user tokens only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upn: Option<String>,
    /// Display name (user tokens only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

/// The issuer Azure writes into v1 tokens for tenant `tid`.
pub fn v1_issuer(tid: &str) -> String {
    format!("https://sts.windows.net/{tid}/")
}

/// Reads the `oid` of a token *without* verifying it — only for the request log.
pub fn peek_oid(token: &str) -> Option<String> {
    let payload = token.split('.').nth(1)?;
    let bytes = URL_SAFE_NO_PAD.decode(payload.trim_end_matches('=')).ok()?;
    let v: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    v.get("oid")?.as_str().map(str::to_string)
}

/// Decodes a JWT's header and payload without verifying anything (used for external federated
/// assertions, whose issuer keys the emulator cannot fetch offline).
pub fn decode_unverified(token: &str) -> Option<(serde_json::Value, serde_json::Value)> {
    let mut parts = token.split('.');
    let h = parts.next()?;
    let p = parts.next()?;
    parts.next()?;
    let hb = URL_SAFE_NO_PAD.decode(h.trim_end_matches('=')).ok()?;
    let pb = URL_SAFE_NO_PAD.decode(p.trim_end_matches('=')).ok()?;
    Some((
        serde_json::from_slice(&hb).ok()?,
        serde_json::from_slice(&pb).ok()?,
    ))
}

/// Audiences ARM accepts (behaviour notes §3.2).
pub const ARM_AUDIENCES: [&str; 4] = [
    "https://management.core.windows.net/",
    "https://management.core.windows.net",
    "https://management.azure.com/",
    "https://management.azure.com",
];

/// Audiences the Azure OpenAI data plane accepts.
pub const COGNITIVE_AUDIENCES: [&str; 2] = [
    "https://cognitiveservices.azure.com",
    "https://cognitiveservices.azure.com/",
];

/// Audiences Microsoft Graph accepts.
pub const GRAPH_AUDIENCES: [&str; 3] = [
    "https://graph.microsoft.com",
    "https://graph.microsoft.com/",
    "00000003-0000-0000-c000-000000000000",
];

/// A minted access token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Issued {
    /// The JWT.
    pub token: String,
    /// `exp` (unix seconds).
    pub exp: i64,
    /// `nbf` (unix seconds).
    pub nbf: i64,
    /// Seconds until expiry.
    pub expires_in: i64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sha1_known_answer() {
        let hex: String = sha1(b"abc").iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(hex, "a9993e364706816aba3e25717850c26c9cd0d89d");
    }

    #[test]
    fn sign_verify_roundtrip_and_tamper() {
        let k = SigningKey::process_shared().expect("key");
        let claims = Claims {
            aud: "https://management.azure.com/".into(),
            oid: "o".into(),
            ..Default::default()
        };
        let t = k
            .sign(&serde_json::to_value(&claims).expect("json"))
            .expect("sign");
        assert_eq!(k.verify(&t).expect("verify").aud, claims.aud);
        let mut bad = t.clone();
        bad.pop();
        bad.push(if t.ends_with('A') { 'B' } else { 'A' });
        assert!(k.verify(&bad).is_err());
        assert_eq!(k.verify("garbage"), Err(TokenError::Malformed));
        assert_eq!(peek_oid(&t).as_deref(), Some("o"));
    }
}
