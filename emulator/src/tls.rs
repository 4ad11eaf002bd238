//! TLS: the emulator's own certificate authority and the server certificate it signs.
//!
//! Why a CA rather than one self-signed certificate: clients (Python `requests`, reqwest,
//! the Azure CLI) are told to trust one PEM (`SSL_CERT_FILE`/`REQUESTS_CA_BUNDLE`), and a CA can
//! be reused across runs (`--ca-cert/--ca-key`) while each run gets a fresh leaf.

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose, SanType,
};
use std::sync::Arc;
use tokio_rustls::rustls;

/// Why TLS material could not be made or loaded.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// Certificate generation or parsing failed.
    #[error("certificate: {0}")]
    Cert(#[from] rcgen::Error),
    /// rustls refused the configuration.
    #[error("TLS configuration: {0}")]
    Rustls(#[from] rustls::Error),
    /// A PEM input was unusable.
    #[error("{0}")]
    Pem(String),
}

/// Subject common name of generated CAs (a loaded CA must use the same subject; see `load`).
pub const CA_COMMON_NAME: &str = "keyless-emulator local CA";

/// A certificate authority able to sign server certificates.
pub struct Ca {
    /// CA certificate PEM (what clients trust).
    pub cert_pem: String,
    /// CA private key PEM (PKCS#8).
    pub key_pem: String,
    cert: rcgen::Certificate,
    key: KeyPair,
}

fn ca_params() -> Result<CertificateParams, TlsError> {
    let mut p = CertificateParams::new(Vec::<String>::new())?;
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, CA_COMMON_NAME);
    dn.push(DnType::OrganizationName, "keyless");
    p.distinguished_name = dn;
    p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    p.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let now = time::OffsetDateTime::now_utc();
    p.not_before = now - time::Duration::days(1);
    p.not_after = now + time::Duration::days(3650);
    Ok(p)
}

impl Ca {
    /// A new CA (ECDSA P-256, ten years).
    pub fn generate() -> Result<Ca, TlsError> {
        let key = KeyPair::generate()?;
        let cert = ca_params()?.self_signed(&key)?;
        Ok(Ca {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
            cert,
            key,
        })
    }

    /// Loads a CA written earlier by the emulator (`--ca-out` writes the certificate; pass the key
    /// saved alongside). The issuer of new leaves is rebuilt from the key with the emulator's CA
    /// subject, so the CA must be one the emulator generated.
    pub fn load(cert_pem: &str, key_pem: &str) -> Result<Ca, TlsError> {
        if !cert_pem.contains("BEGIN CERTIFICATE") {
            return Err(TlsError::Pem(
                "the CA certificate is not a PEM certificate".into(),
            ));
        }
        let key = KeyPair::from_pem(key_pem)?;
        let cert = ca_params()?.self_signed(&key)?;
        Ok(Ca {
            cert_pem: cert_pem.to_string(),
            key_pem: key_pem.to_string(),
            cert,
            key,
        })
    }

    /// A server certificate for loopback (and the Azure host names, for clients that map them to
    /// loopback themselves), signed by this CA.
    pub fn server_config(&self) -> Result<Arc<rustls::ServerConfig>, TlsError> {
        let names = [
            "localhost",
            "127.0.0.1",
            "::1",
            "*.openai.azure.com",
            "*.cognitiveservices.azure.com",
            "management.azure.com",
            "login.microsoftonline.com",
            "graph.microsoft.com",
        ];
        let mut p = CertificateParams::new(Vec::<String>::new())?;
        p.distinguished_name
            .push(DnType::CommonName, "keyless-emulator");
        p.subject_alt_names = names
            .iter()
            .map(|n| match n.parse::<std::net::IpAddr>() {
                Ok(ip) => Ok(SanType::IpAddress(ip)),
                Err(_) => Ok(SanType::DnsName((*n).try_into()?)),
            })
            .collect::<Result<Vec<_>, rcgen::Error>>()?;
        p.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        p.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        let now = time::OffsetDateTime::now_utc();
        p.not_before = now - time::Duration::days(1);
        p.not_after = now + time::Duration::days(365);
        let leaf_key = KeyPair::generate()?;
        let leaf = p.signed_by(&leaf_key, &self.cert, &self.key)?;
        // Only the leaf: clients hold the CA as a trust anchor.
        let chain = vec![leaf.der().clone()];
        let key = rustls::pki_types::PrivateKeyDer::Pkcs8(
            rustls::pki_types::PrivatePkcs8KeyDer::from(leaf_key.serialize_der()),
        );
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut cfg = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()?
            .with_no_client_auth()
            .with_single_cert(chain, key)?;
        cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(Arc::new(cfg))
    }
}
