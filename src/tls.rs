//! TLS on rustls with Node's semantics (README, "TLS"): verification on unless
//! `rejectUnauthorized` is false, hostname checks against the host connected to, a
//! self-signed certificate trusted when it is listed in `ca`, and `authorized` /
//! `authorizationError` worked out per connection after the handshake.

use std::sync::Arc;

use crate::locked::Locked;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::server::WebPkiClientVerifier;
use rustls::{CertificateError, DigitallySignedStruct, DistinguishedName, RootCertStore, SignatureScheme};
use tokio_rustls::rustls;

/// TLS options after the JS shim has read node-ipc's file paths: PEM text throughout.
#[derive(Debug, Clone, Default)]
pub struct TlsOptions {
  pub cert: Option<Vec<u8>>,
  pub key: Option<Vec<u8>>,
  /// Each entry may hold several PEM certificates.
  pub ca: Vec<Vec<u8>>,
  pub request_cert: bool,
  pub reject_unauthorized: bool,
  pub servername: Option<String>,
  pub min_version: Option<String>,
  pub max_version: Option<String>,
  /// How long a server waits for a client to finish its handshake (Node's
  /// `handshakeTimeout`); `None`: Node's default.
  pub handshake_timeout: Option<std::time::Duration>,
}

/// Node's default `handshakeTimeout`.
pub const HANDSHAKE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(120);

/// A TLS failure in Node's terms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFailure {
  pub code: String,
  pub message: String,
}

impl TlsFailure {
  fn config(message: impl Into<String>) -> Self {
    Self { code: "ERR_IPC_TLS_CONFIG".into(), message: message.into() }
  }
}

fn provider() -> Arc<CryptoProvider> {
  Arc::new(rustls::crypto::ring::default_provider())
}

fn versions(options: &TlsOptions) -> Result<Vec<&'static rustls::SupportedProtocolVersion>, TlsFailure> {
  // rustls speaks TLS 1.2 and 1.3 only; asking for less than 1.2 still gets 1.2.
  let rank = |v: &Option<String>, default: u8| -> Result<u8, TlsFailure> {
    match v.as_deref() {
      None => Ok(default),
      Some("TLSv1" | "TLSv1.1" | "TLSv1.2") => Ok(2),
      Some("TLSv1.3") => Ok(3),
      Some(other) => Err(TlsFailure::config(format!("unsupported TLS version {other:?}"))),
    }
  };
  let (min, max) = (rank(&options.min_version, 2)?, rank(&options.max_version, 3)?);
  let chosen: Vec<_> = [(2, &rustls::version::TLS12), (3, &rustls::version::TLS13)]
    .into_iter()
    .filter(|(rank, _)| (min..=max).contains(rank))
    .map(|(_, v)| v)
    .collect();
  if chosen.is_empty() {
    return Err(TlsFailure::config("minVersion is above maxVersion"));
  }
  Ok(chosen)
}

fn certs(pem: &[u8]) -> Result<Vec<CertificateDer<'static>>, TlsFailure> {
  let certs = CertificateDer::pem_slice_iter(pem)
    .collect::<Result<Vec<_>, _>>()
    .map_err(|e| TlsFailure::config(format!("invalid certificate PEM: {e}")))?;
  if certs.is_empty() {
    return Err(TlsFailure::config("no certificate found in PEM"));
  }
  Ok(certs)
}

fn key(pem: &[u8]) -> Result<PrivateKeyDer<'static>, TlsFailure> {
  PrivateKeyDer::from_pem_slice(pem).map_err(|e| TlsFailure::config(format!("invalid private key PEM: {e}")))
}

/// `ca` when given (Node replaces its defaults with it), else Mozilla's roots.
fn roots(options: &TlsOptions) -> Result<Arc<RootCertStore>, TlsFailure> {
  let mut store = RootCertStore::empty();
  if options.ca.is_empty() {
    store.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
  } else {
    for pem in &options.ca {
      for cert in certs(pem)? {
        store.add(cert).map_err(|e| TlsFailure::config(format!("unusable ca certificate: {e}")))?;
      }
    }
  }
  Ok(Arc::new(store))
}

/// Node's name and message for a certificate that did not verify.
pub fn describe(err: &rustls::Error, leaf_is_self_signed: bool) -> TlsFailure {
  use rustls::AlertDescription as Alert;
  let (code, message): (&str, String) = match err {
    rustls::Error::InvalidCertificate(cert) => match cert {
      CertificateError::Expired | CertificateError::ExpiredContext { .. } => {
        ("CERT_HAS_EXPIRED", "certificate has expired".into())
      }
      CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. } => {
        ("CERT_NOT_YET_VALID", "certificate is not yet valid".into())
      }
      CertificateError::UnknownIssuer if leaf_is_self_signed => {
        ("DEPTH_ZERO_SELF_SIGNED_CERT", "self-signed certificate".into())
      }
      CertificateError::UnknownIssuer => {
        ("UNABLE_TO_VERIFY_LEAF_SIGNATURE", "unable to verify the first certificate".into())
      }
      CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. } => (
        "ERR_TLS_CERT_ALTNAME_INVALID",
        format!("Hostname/IP does not match certificate's altnames ({cert:?})"),
      ),
      CertificateError::Revoked => ("CERT_REVOKED", "certificate revoked".into()),
      // A trusted certificate with the same name but another key: OpenSSL never finds it
      // as the issuer, so Node reports the leaf as self-signed.
      CertificateError::BadSignature if leaf_is_self_signed => {
        ("DEPTH_ZERO_SELF_SIGNED_CERT", "self-signed certificate".into())
      }
      CertificateError::BadSignature => ("CERT_SIGNATURE_FAILURE", "certificate signature failure".into()),
      other => ("ERR_TLS_CERT_INVALID", format!("invalid certificate: {other:?}")),
    },
    rustls::Error::NoCertificatesPresented => {
      ("ERR_SSL_PEER_DID_NOT_RETURN_A_CERTIFICATE", "peer did not return a certificate".into())
    }
    rustls::Error::AlertReceived(Alert::CertificateRequired) => (
      "ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED",
      "the server requires a client certificate (alert: certificate required)".into(),
    ),
    rustls::Error::AlertReceived(Alert::ProtocolVersion) | rustls::Error::PeerIncompatible(_) => {
      ("EPROTO", format!("no TLS protocol version in common with the peer ({err})"))
    }
    rustls::Error::AlertReceived(alert) => {
      ("ERR_SSL_ALERT_RECEIVED", format!("the peer ended the TLS handshake (alert: {alert:?})"))
    }
    rustls::Error::InvalidMessage(_) | rustls::Error::InappropriateMessage { .. } => {
      ("ERR_SSL_WRONG_VERSION_NUMBER", format!("the peer does not speak TLS ({err})"))
    }
    other => ("ERR_TLS_HANDSHAKE", format!("TLS handshake failed: {other}")),
  };
  TlsFailure { code: code.into(), message }
}

/// Whether `leaf` verifies against itself as its only anchor, i.e. is self-signed.
fn is_self_signed(leaf: &CertificateDer<'_>) -> bool {
  let mut store = RootCertStore::empty();
  if store.add(leaf.clone().into_owned()).is_err() {
    return false;
  }
  let Ok(verifier) = WebPkiClientVerifier::builder_with_provider(Arc::new(store), provider()).build() else {
    return false;
  };
  !matches!(
    verifier.verify_client_cert(leaf, &[], UnixTime::now()),
    Err(rustls::Error::InvalidCertificate(CertificateError::UnknownIssuer))
  )
}

/// Handshake signatures are always checked by webpki; only the certificate verdict is
/// relaxed when `rejectUnauthorized` is false.
macro_rules! delegate_signature_checks {
  () => {
    fn verify_tls12_signature(
      &self,
      message: &[u8],
      cert: &CertificateDer<'_>,
      dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
      self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
      &self,
      message: &[u8],
      cert: &CertificateDer<'_>,
      dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
      self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
      self.inner.supported_verify_schemes()
    }
  };
}

/// Verifies like webpki but, when `enforce` is off, lets the handshake go on whatever the
/// outcome (`rejectUnauthorized: false`); the outcome is reported as `authorized` then.
#[derive(Debug)]
struct ServerVerifier {
  inner: Arc<WebPkiServerVerifier>,
  enforce: bool,
  /// The certificate that failed, to name the failure as Node does (a client config
  /// serves one connection attempt, so this is that attempt's).
  rejected: std::sync::Mutex<Option<CertificateDer<'static>>>,
}

impl ServerCertVerifier for ServerVerifier {
  fn verify_server_cert(
    &self,
    end_entity: &CertificateDer<'_>,
    intermediates: &[CertificateDer<'_>],
    server_name: &ServerName<'_>,
    ocsp: &[u8],
    now: UnixTime,
  ) -> Result<ServerCertVerified, rustls::Error> {
    match self.inner.verify_server_cert(end_entity, intermediates, server_name, ocsp, now) {
      Err(_) if !self.enforce => Ok(ServerCertVerified::assertion()),
      Err(err) => {
        *self.rejected.locked() = Some(end_entity.clone().into_owned());
        Err(err)
      }
      ok => ok,
    }
  }

  delegate_signature_checks!();
}

#[derive(Debug)]
struct ClientVerifier {
  inner: Arc<dyn ClientCertVerifier>,
  enforce: bool,
}

impl ClientCertVerifier for ClientVerifier {
  fn offer_client_auth(&self) -> bool {
    true
  }

  fn client_auth_mandatory(&self) -> bool {
    self.enforce
  }

  fn root_hint_subjects(&self) -> &[DistinguishedName] {
    self.inner.root_hint_subjects()
  }

  fn verify_client_cert(
    &self,
    end_entity: &CertificateDer<'_>,
    intermediates: &[CertificateDer<'_>],
    now: UnixTime,
  ) -> Result<ClientCertVerified, rustls::Error> {
    match self.inner.verify_client_cert(end_entity, intermediates, now) {
      Err(_) if !self.enforce => Ok(ClientCertVerified::assertion()),
      outcome => outcome,
    }
  }

  delegate_signature_checks!();
}

/// Everything a client needs for one connection attempt.
pub struct ClientTls {
  pub config: Arc<rustls::ClientConfig>,
  pub server_name: ServerName<'static>,
  verifier: Arc<WebPkiServerVerifier>,
  checker: Arc<ServerVerifier>,
}

impl ClientTls {
  /// `host` is what the client connects to; Node checks the certificate against
  /// `servername` when given, else against the host.
  pub fn new(options: &TlsOptions, host: &str) -> Result<Self, TlsFailure> {
    let verifier = WebPkiServerVerifier::builder_with_provider(roots(options)?, provider())
      .build()
      .map_err(|e| TlsFailure::config(format!("cannot build the certificate verifier: {e}")))?;
    let checker = Arc::new(ServerVerifier {
      inner: verifier.clone(),
      enforce: options.reject_unauthorized,
      rejected: Default::default(),
    });
    let builder = rustls::ClientConfig::builder_with_provider(provider())
      .with_protocol_versions(&versions(options)?)
      .map_err(|e| TlsFailure::config(e.to_string()))?
      .dangerous()
      .with_custom_certificate_verifier(checker.clone());
    let config = match (&options.cert, &options.key) {
      (Some(cert), Some(key_pem)) => builder
        .with_client_auth_cert(certs(cert)?, key(key_pem)?)
        .map_err(|e| TlsFailure::config(format!("unusable client certificate or key: {e}")))?,
      _ => builder.with_no_client_auth(),
    };
    let name = options.servername.as_deref().filter(|s| !s.is_empty()).unwrap_or(host);
    let server_name = ServerName::try_from(name.to_string())
      .map_err(|_| TlsFailure::config(format!("invalid server name {name:?}")))?;
    Ok(Self { config: Arc::new(config), server_name, verifier, checker })
  }

  /// Names a failed handshake of this client.
  pub fn failure(&self, err: &std::io::Error) -> TlsFailure {
    handshake_failure(err, self.checker.rejected.locked().as_ref())
  }

  /// `authorizationError` for the certificates the server presented, if any.
  pub fn authorization(&self, peer: Option<&[CertificateDer<'static>]>) -> Option<TlsFailure> {
    let Some((leaf, rest)) = peer.and_then(|p| p.split_first()) else {
      return Some(describe(&rustls::Error::NoCertificatesPresented, false));
    };
    self
      .verifier
      .verify_server_cert(leaf, rest, &self.server_name, &[], UnixTime::now())
      .err()
      .map(|e| describe(&e, is_self_signed(leaf)))
  }
}

pub struct ServerTls {
  pub config: Arc<rustls::ServerConfig>,
  client_verifier: Option<Arc<dyn ClientCertVerifier>>,
  /// A connection still in its handshake after this is closed (and counts no more).
  pub handshake_timeout: std::time::Duration,
}

impl ServerTls {
  pub fn new(options: &TlsOptions) -> Result<Self, TlsFailure> {
    let (Some(cert), Some(key_pem)) = (&options.cert, &options.key) else {
      return Err(TlsFailure::config("a TLS server needs a certificate and a private key"));
    };
    let builder = rustls::ServerConfig::builder_with_provider(provider())
      .with_protocol_versions(&versions(options)?)
      .map_err(|e| TlsFailure::config(e.to_string()))?;
    let (builder, client_verifier) = if options.request_cert {
      let inner = WebPkiClientVerifier::builder_with_provider(roots(options)?, provider())
        .allow_unauthenticated()
        .build()
        .map_err(|e| TlsFailure::config(format!("cannot build the client verifier: {e}")))?;
      let verifier = Arc::new(ClientVerifier { inner: inner.clone(), enforce: options.reject_unauthorized });
      (builder.with_client_cert_verifier(verifier), Some(inner))
    } else {
      (builder.with_no_client_auth(), None)
    };
    let config = builder
      .with_single_cert(certs(cert)?, key(key_pem)?)
      .map_err(|e| TlsFailure::config(format!("unusable certificate or key: {e}")))?;
    let handshake_timeout = options.handshake_timeout.unwrap_or(HANDSHAKE_TIMEOUT);
    Ok(Self { config: Arc::new(config), client_verifier, handshake_timeout })
  }

  /// Node's `authorized` for a server socket: false unless a requested client
  /// certificate verified.
  pub fn authorization(&self, peer: Option<&[CertificateDer<'static>]>) -> Option<TlsFailure> {
    let Some(verifier) = &self.client_verifier else {
      return Some(TlsFailure {
        code: "ERR_IPC_TLS_NO_CLIENT_AUTH".into(),
        message: "client certificates were not requested".into(),
      });
    };
    let Some((leaf, rest)) = peer.and_then(|p| p.split_first()) else {
      return Some(describe(&rustls::Error::NoCertificatesPresented, false));
    };
    verifier.verify_client_cert(leaf, rest, UnixTime::now()).err().map(|e| describe(&e, is_self_signed(leaf)))
  }
}

/// The TLS error inside an I/O error from a TLS stream, in Node's terms, if it is one.
pub fn stream_failure(err: &std::io::Error) -> Option<TlsFailure> {
  err.get_ref().and_then(|inner| inner.downcast_ref::<rustls::Error>()).map(|tls| describe(tls, false))
}

/// Finds the rustls error inside an I/O error from a handshake.
pub fn handshake_failure(err: &std::io::Error, leaf: Option<&CertificateDer<'_>>) -> TlsFailure {
  match err.get_ref().and_then(|inner| inner.downcast_ref::<rustls::Error>()) {
    Some(tls) => describe(tls, leaf.is_some_and(is_self_signed)),
    None => TlsFailure { code: "ECONNRESET".into(), message: format!("TLS handshake failed: {err}") },
  }
}

#[cfg(test)]
mod tests {
  use super::*;

  const CERTS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/local-node-ipc-certs");

  fn read(name: &str) -> Vec<u8> {
    std::fs::read(format!("{CERTS}/{name}")).unwrap()
  }

  #[test]
  fn development_certificates_load_and_are_self_signed() {
    let server = certs(&read("server.pub")).unwrap();
    assert!(is_self_signed(&server[0]));
    let options = TlsOptions {
      cert: Some(read("server.pub")),
      key: Some(read("private/server.key")),
      ca: vec![read("client.pub")],
      request_cert: true,
      reject_unauthorized: true,
      ..Default::default()
    };
    let tls = ServerTls::new(&options).unwrap();
    let client = certs(&read("client.pub")).unwrap();
    assert_eq!(tls.authorization(Some(&client)), None);
    let stranger = certs(&read("server.pub")).unwrap();
    assert_eq!(tls.authorization(Some(&stranger)).unwrap().code, "DEPTH_ZERO_SELF_SIGNED_CERT");
  }

  #[test]
  fn client_checks_the_host_it_connects_to() {
    let options =
      TlsOptions { ca: vec![read("server.pub")], reject_unauthorized: true, ..Default::default() };
    let presented = certs(&read("server.pub")).unwrap();
    let good = ClientTls::new(&options, "localhost").unwrap();
    assert_eq!(good.authorization(Some(&presented)), None);
    let by_ip = ClientTls::new(&options, "127.0.0.1").unwrap();
    assert_eq!(by_ip.authorization(Some(&presented)), None);
    let wrong = ClientTls::new(&options, "example.com").unwrap();
    assert_eq!(wrong.authorization(Some(&presented)).unwrap().code, "ERR_TLS_CERT_ALTNAME_INVALID");
    let untrusted = ClientTls::new(&TlsOptions::default(), "localhost").unwrap();
    assert_eq!(untrusted.authorization(Some(&presented)).unwrap().code, "DEPTH_ZERO_SELF_SIGNED_CERT");
  }

  #[test]
  fn versions_follow_node_names() {
    let only12 = TlsOptions { max_version: Some("TLSv1.2".into()), ..Default::default() };
    assert_eq!(versions(&only12).unwrap().len(), 1);
    let bad = TlsOptions {
      min_version: Some("TLSv1.3".into()),
      max_version: Some("TLSv1.2".into()),
      ..Default::default()
    };
    assert!(versions(&bad).is_err());
  }
}
