//! HTTPS as api.x.com serves it: a certificate for `api.x.com` (and the
//! loopback names) from a CA made when the emulator starts, with HTTP/2
//! and HTTP/1.1 offered by ALPN. The server names clients ask for (SNI)
//! and the protocols they settle on are recorded, so that a test sees which
//! name and which HTTP version a client used.

use axum::Router;
use hyper_util::rt::{TokioExecutor, TokioIo};
use rustls::ServerConfig;
use rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};
use std::sync::{Arc, Mutex};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

/// What one TLS connection asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsConnection {
    /// The server name the client sent (SNI), if any.
    pub server_name: Option<String>,
    /// The protocol ALPN settled on (`h2`, `http/1.1`), if any.
    pub protocol: Option<String>,
}

/// A test CA and the server's configuration with a certificate it issued.
pub struct TestCa {
    /// The CA's certificate, PEM: what a client must trust.
    pub ca_pem: String,
    pub(crate) config: Arc<ServerConfig>,
}

/// Makes a CA and a certificate for `api.x.com`, `localhost` and
/// `127.0.0.1` signed by it.
pub fn test_ca() -> TestCa {
    use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair, KeyUsagePurpose};
    let mut ca = CertificateParams::new(Vec::<String>::new()).expect("no names");
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name
        .push(DnType::CommonName, "x-emulator test CA");
    ca.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let ca_key = KeyPair::generate().expect("a key pair");
    let ca_cert = ca.self_signed(&ca_key).expect("a CA certificate");
    let names = vec![
        "api.x.com".to_string(),
        "localhost".to_string(),
        "127.0.0.1".to_string(),
    ];
    let mut leaf = CertificateParams::new(names).expect("valid names");
    leaf.distinguished_name
        .push(DnType::CommonName, "api.x.com");
    let leaf_key = KeyPair::generate().expect("a key pair");
    let leaf_cert = leaf
        .signed_by(&leaf_key, &ca_cert, &ca_key)
        .expect("a server certificate");
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("ring supports the default versions")
        .with_no_client_auth()
        .with_single_cert(
            vec![leaf_cert.der().clone(), ca_cert.der().clone()],
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(leaf_key.serialize_der())),
        )
        .expect("the certificate and key match");
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    TestCa {
        ca_pem: ca_cert.pem(),
        config: Arc::new(config),
    }
}

/// Serves `app` over HTTPS on a loopback port, with a certificate for
/// `localhost` and `127.0.0.1` from a CA of its own, until the task is
/// dropped: a site beside the emulator that a client reaches (a client's
/// metadata document, say). Returns the port and the CA's PEM, which the
/// client must trust.
pub async fn serve_site(app: Router) -> (u16, String) {
    let ca = test_ca();
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a loopback port");
    let port = listener.local_addr().expect("a bound port").port();
    tokio::spawn(serve(listener, app, ca.config, Arc::default()));
    (port, ca.ca_pem)
}

/// Serves `app` over TLS on `listener` until the task is dropped,
/// recording each connection's server name and protocol.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    config: Arc<ServerConfig>,
    seen: Arc<Mutex<Vec<TlsConnection>>>,
) {
    let acceptor = TlsAcceptor::from(config);
    loop {
        let Ok((tcp, _)) = listener.accept().await else {
            continue;
        };
        // An answer's head and body leave at once, not a delayed ACK apart
        // (X's servers do not make a client wait 40 ms for a body).
        let _ = tcp.set_nodelay(true);
        let (acceptor, app, seen) = (acceptor.clone(), app.clone(), seen.clone());
        tokio::spawn(async move {
            // A client that does not trust the certificate ends here.
            let Ok(stream) = acceptor.accept(tcp).await else {
                return;
            };
            let session = stream.get_ref().1;
            seen.lock().unwrap().push(TlsConnection {
                server_name: session.server_name().map(str::to_string),
                protocol: session
                    .alpn_protocol()
                    .map(|p| String::from_utf8_lossy(p).into_owned()),
            });
            let service = hyper_util::service::TowerToHyperService::new(app);
            let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}
