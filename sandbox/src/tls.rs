//! HTTPS for the sandbox: a certificate authority and a server certificate
//! made at start (rcgen), so that no key or certificate file is shipped, and
//! deliberately bad certificates to prove the client refuses them.

use std::sync::Arc;

use rcgen::{
    BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose,
    date_time_ymd,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

/// Which certificate the sandbox presents.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum TlsCert {
    /// For `localhost` and `127.0.0.1`, valid now, signed by the sandbox's CA.
    #[default]
    Valid,
    /// Signed by the sandbox's CA, but for another host name.
    OtherName,
    /// For the right names, signed by the sandbox's CA, expired in 2020.
    Expired,
}

/// The CA and the server configuration of one sandbox.
pub struct Tls {
    /// The CA certificate, PEM: what a client must trust (`--ca-file`).
    pub ca_pem: String,
    pub acceptor: tokio_rustls::TlsAcceptor,
}

impl Tls {
    pub fn new(cert: TlsCert) -> anyhow::Result<Self> {
        let ca_key = KeyPair::generate()?;
        let mut ca = CertificateParams::new(Vec::<String>::new())?;
        ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        ca.distinguished_name
            .push(DnType::CommonName, "Gladly sandbox CA (made at start)");
        let ca_cert = ca.self_signed(&ca_key)?;
        let issuer = Issuer::new(ca, ca_key);

        let names = match cert {
            TlsCert::OtherName => vec!["other.example".to_string()],
            TlsCert::Valid | TlsCert::Expired => {
                vec!["localhost".to_string(), "127.0.0.1".to_string()]
            }
        };
        let key = KeyPair::generate()?;
        let mut leaf = CertificateParams::new(names)?;
        leaf.distinguished_name
            .push(DnType::CommonName, "Gladly sandbox");
        if cert == TlsCert::Expired {
            leaf.not_before = date_time_ymd(2019, 1, 1);
            leaf.not_after = date_time_ymd(2020, 1, 1);
        }
        let leaf_cert = leaf.signed_by(&key, &issuer)?;

        let chain = vec![CertificateDer::from(leaf_cert.der().to_vec())];
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
        let config = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(chain, key)?;
        Ok(Self {
            ca_pem: ca_cert.pem(),
            acceptor: tokio_rustls::TlsAcceptor::from(Arc::new(config)),
        })
    }
}
