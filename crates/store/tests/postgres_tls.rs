//! TLS to PostgreSQL: `sslmode=require` (or `verify-full`) with
//! `sslrootcert`, against a real server behind a TLS endpoint that speaks
//! PostgreSQL's in-band TLS upgrade (the `SSLRequest` message, then a TLS
//! handshake) and passes the decrypted stream to the server at
//! `EMBEDROCK_TEST_POSTGRES_URL`. The endpoint's certificate is issued by a
//! test CA made here, so a client must be given that CA to connect.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;
use std::path::Path;
use std::str::FromStr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use embedrock_core::OutputType;
use embedrock_store::{Error, Identity, PgStore, VectorStore};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const URL_VAR: &str = "EMBEDROCK_TEST_POSTGRES_URL";
/// PostgreSQL's SSLRequest: length 8, code 80877103.
const SSL_REQUEST: [u8; 8] = [0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f];

fn url() -> String {
    match std::env::var(URL_VAR) {
        Ok(url) if !url.is_empty() => url,
        _ => panic!("{URL_VAR} is not set: run scripts/test (it starts PostgreSQL)"),
    }
}

/// A CA (PEM) and a server certificate for 127.0.0.1 issued by it.
fn certificates() -> (String, CertificateDer<'static>, PrivateKeyDer<'static>) {
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "embedrock test CA");
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let key = rcgen::KeyPair::generate().unwrap();
    let params = rcgen::CertificateParams::new(vec!["127.0.0.1".to_string()]).unwrap();
    let cert = params.signed_by(&key, &ca, &ca_key).unwrap();
    let der = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
    (ca.pem(), cert.der().clone(), der)
}

/// The TLS endpoint in front of `upstream`; counts completed handshakes.
async fn tls_endpoint(
    upstream: SocketAddr,
    cert: CertificateDer<'static>,
    key: PrivateKeyDer<'static>,
    handshakes: Arc<AtomicUsize>,
) -> SocketAddr {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![cert], key)
        .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let (acceptor, handshakes) = (acceptor.clone(), handshakes.clone());
            tokio::spawn(async move {
                let mut request = [0u8; 8];
                if socket.read_exact(&mut request).await.is_err() || request != SSL_REQUEST {
                    return;
                }
                if socket.write_all(b"S").await.is_err() {
                    return;
                }
                let Ok(mut tls) = acceptor.accept(socket).await else {
                    return;
                };
                handshakes.fetch_add(1, Ordering::SeqCst);
                let Ok(mut server) = TcpStream::connect(upstream).await else {
                    return;
                };
                let _ = tokio::io::copy_bidirectional(&mut tls, &mut server).await;
            });
        }
    });
    addr
}

struct Setup {
    /// `postgres://user:password@127.0.0.1:PORT/db` of the TLS endpoint.
    base: String,
    password: String,
    handshakes: Arc<AtomicUsize>,
    dir: tempfile::TempDir,
}

impl Setup {
    async fn new() -> Setup {
        let config = tokio_postgres::Config::from_str(&url()).unwrap();
        let host = match &config.get_hosts()[0] {
            tokio_postgres::config::Host::Tcp(host) => host.clone(),
            other => panic!("{URL_VAR} must name a TCP host, not {other:?}"),
        };
        let port = config.get_ports()[0];
        let upstream: SocketAddr = format!("{host}:{port}").parse().unwrap();
        let (ca_pem, cert, key) = certificates();
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("ca.pem"), ca_pem).unwrap();
        let handshakes = Arc::new(AtomicUsize::new(0));
        let addr = tls_endpoint(upstream, cert, key, handshakes.clone()).await;
        let password = String::from_utf8(config.get_password().unwrap().to_vec()).unwrap();
        let base = format!(
            "postgres://{}:{password}@{addr}/{}",
            config.get_user().unwrap(),
            config.get_dbname().unwrap()
        );
        Setup {
            base,
            password,
            handshakes,
            dir,
        }
    }

    fn ca(&self) -> &Path {
        self.dir.path()
    }
}

fn identity() -> Identity {
    Identity {
        provider: "Local".into(),
        model: "tls-test".into(),
        dimensions: 3,
        normalize: true,
        output_type: OutputType::Float,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn require_with_the_servers_ca_connects_over_tls() {
    let setup = Setup::new().await;
    let ca = setup.ca().join("ca.pem");
    let schema = format!("t_tls_{}", &uuid::Uuid::new_v4().simple().to_string()[..8]);
    for mode in ["require", "verify-full"] {
        let url = format!(
            "{}?sslmode={mode}&sslrootcert={}&schema={schema}",
            setup.base,
            ca.display()
        );
        let before = setup.handshakes.load(Ordering::SeqCst);
        let store = PgStore::open(&url).unwrap();
        let name = format!("c_{}", mode.replace('-', "_"));
        store.ensure_collection(&name, &identity()).await.unwrap();
        let names: Vec<String> = store
            .collections()
            .await
            .unwrap()
            .into_iter()
            .map(|c| c.name)
            .collect();
        assert!(names.contains(&name), "{names:?}");
        assert!(
            setup.handshakes.load(Ordering::SeqCst) > before,
            "{mode}: no TLS handshake reached the endpoint"
        );
    }
    let url = format!(
        "{}?sslmode=require&sslrootcert={}&schema={schema}",
        setup.base,
        ca.display()
    );
    let store = PgStore::open(&url).unwrap();
    for name in ["c_require", "c_verify_full"] {
        assert!(store.drop_collection(name).await.unwrap());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn require_without_the_ca_fails_verification_and_hides_the_password() {
    let setup = Setup::new().await;
    let store = PgStore::open(&format!("{}?sslmode=require", setup.base)).unwrap();
    let err = store.collections().await.unwrap_err();
    let text = err.to_string();
    println!("{text}");
    assert!(
        text.to_lowercase().contains("certificate"),
        "the error should say the certificate was not trusted: {text}"
    );
    assert!(!text.contains(&setup.password), "{text}");
    assert!(!format!("{err:?}").contains(&setup.password));
    assert_eq!(setup.handshakes.load(Ordering::SeqCst), 0);
}

#[test]
fn a_bad_sslrootcert_is_refused_before_connecting() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.pem");
    let url = format!(
        "postgres://u:secret@127.0.0.1:1/db?sslmode=require&sslrootcert={}",
        missing.display()
    );
    let err = PgStore::open(&url).unwrap_err();
    assert!(matches!(err, Error::InvalidInput(_)), "{err:?}");
    assert!(err.to_string().contains("missing.pem"), "{err}");
    assert!(!err.to_string().contains("secret"));

    let junk = dir.path().join("junk.pem");
    std::fs::write(&junk, "not a certificate").unwrap();
    let url = format!(
        "postgres://u:secret@127.0.0.1:1/db?sslmode=require&sslrootcert={}",
        junk.display()
    );
    let err = PgStore::open(&url).unwrap_err();
    assert!(err.to_string().contains("no certificate"), "{err}");
}
