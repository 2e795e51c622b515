//! Listening: plain HTTP or HTTPS, with every connection bounded.
//!
//! - **Header timeout**: a request's headers must arrive within
//!   [`ConnectionLimits::header_timeout`] of the connection being ready for
//!   them; on HTTP/1 this also bounds the keep-alive wait between requests.
//! - **Idle timeout**: a connection with no request in progress and no byte
//!   read or written for [`ConnectionLimits::idle_timeout`] is closed. This
//!   covers sockets that never send anything, stalled TLS handshakes and
//!   HTTP/2 connections. (The body-read timeout is per request, in the
//!   request frame.)
//! - **Connection cap**: above [`ConnectionLimits::max_connections`] open
//!   connections, new ones are accepted and closed at once, so the file
//!   descriptors of idle sockets cannot starve the server.
//! - **Shutdown deadline**: on shutdown the listener closes, requests in
//!   flight get [`ConnectionLimits::shutdown_timeout`] to finish, then every
//!   connection is dropped, so a half-sent request cannot hold the server.

use std::future::Future;
use std::net::SocketAddr;
#[cfg(feature = "tls")]
use std::path::Path;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::Router;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder;
use hyper_util::server::graceful::{GracefulShutdown, Watcher};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tower::ServiceExt;

/// HTTPS settings: a certificate chain and its key, both PEM.
#[derive(Clone)]
pub struct Tls {
    /// The certificate chain, PEM.
    pub cert_pem: String,
    /// The private key, PEM.
    pub key_pem: String,
}

impl std::fmt::Debug for Tls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tls")
            .field("key_pem", &"<redacted>")
            .finish()
    }
}

impl Tls {
    /// Reads the certificate and key from PEM files.
    pub fn from_files(cert: &std::path::Path, key: &std::path::Path) -> std::io::Result<Tls> {
        Ok(Tls {
            cert_pem: std::fs::read_to_string(cert)?,
            key_pem: std::fs::read_to_string(key)?,
        })
    }

    /// A fresh self-signed certificate for `localhost`, `127.0.0.1` and `::1`.
    #[cfg(feature = "tls")]
    pub fn self_signed() -> Result<Tls, String> {
        let names = vec![
            "localhost".to_string(),
            "127.0.0.1".to_string(),
            "::1".to_string(),
        ];
        let ck = rcgen::generate_simple_self_signed(names).map_err(|e| e.to_string())?;
        Ok(Tls {
            cert_pem: ck.cert.pem(),
            key_pem: ck.key_pair.serialize_pem(),
        })
    }

    #[cfg(feature = "tls")]
    pub(crate) fn acceptor(&self) -> Result<tokio_rustls::TlsAcceptor, String> {
        use rustls::pki_types::pem::PemObject;
        use rustls::pki_types::{CertificateDer, PrivateKeyDer};
        let certs: Vec<CertificateDer<'static>> =
            CertificateDer::pem_slice_iter(self.cert_pem.as_bytes())
                .collect::<Result<_, _>>()
                .map_err(|e| format!("certificate: {e}"))?;
        let key = PrivateKeyDer::from_pem_slice(self.key_pem.as_bytes())
            .map_err(|e| format!("private key: {e}"))?;
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| e.to_string())?
            .with_no_client_auth()
            .with_single_cert(certs, key)
            .map_err(|e| e.to_string())?;
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Ok(tokio_rustls::TlsAcceptor::from(Arc::new(config)))
    }

    /// Writes the certificate (PEM) where clients can read it.
    #[cfg(feature = "tls")]
    pub fn write_cert(&self, path: &Path) -> std::io::Result<()> {
        std::fs::write(path, &self.cert_pem)
    }
}

/// A bound listener and the address it got (port 0 picks a free port).
#[derive(Debug)]
pub struct Listening {
    /// The socket.
    pub listener: TcpListener,
    /// Its address.
    pub addr: SocketAddr,
}

impl Listening {
    /// Binds `host:port`.
    pub async fn bind(host: &str, port: u16) -> std::io::Result<Listening> {
        let listener = TcpListener::bind((host, port)).await?;
        let addr = listener.local_addr()?;
        Ok(Listening { listener, addr })
    }
}

/// Resolves on SIGINT (Ctrl-C) or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
}

/// The bounds on every connection (see the module documentation).
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct ConnectionLimits {
    /// Time to receive a request's headers (and the HTTP/1 keep-alive wait).
    pub header_timeout: Duration,
    /// Time a connection may sit with no request and no traffic.
    pub idle_timeout: Duration,
    /// Open connections at once.
    pub max_connections: usize,
    /// Time requests in flight get to finish after a shutdown signal.
    pub shutdown_timeout: Duration,
}

impl Default for ConnectionLimits {
    fn default() -> Self {
        crate::ServerConfig::default().connection_limits()
    }
}

/// Serves `app` on `listening` with the default [`ConnectionLimits`] until
/// `shutdown` resolves, then lets requests in flight finish (within the
/// shutdown deadline).
pub async fn serve(
    listening: Listening,
    app: Router,
    tls: Option<Tls>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    serve_with(listening, app, tls, ConnectionLimits::default(), shutdown).await
}

/// Serves `app` on `listening` with these limits until `shutdown` resolves.
pub async fn serve_with(
    listening: Listening,
    app: Router,
    tls: Option<Tls>,
    limits: ConnectionLimits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let acceptor = acceptor(tls)?;
    let listener = listening.listener;
    let slots = Arc::new(Semaphore::new(
        limits.max_connections.clamp(1, Semaphore::MAX_PERMITS),
    ));
    let graceful = GracefulShutdown::new();
    let mut tasks = tokio::task::JoinSet::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let tcp = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((tcp, _)) => tcp,
                // Out of file descriptors and the like: wait a little
                // rather than spin.
                Err(_) => {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    continue;
                }
            },
            Some(_) = tasks.join_next(), if !tasks.is_empty() => continue,
            _ = &mut shutdown => break,
        };
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            drop(tcp);
            continue;
        };
        let conn = Conn {
            app: app.clone(),
            limits: limits.clone(),
            watcher: graceful.watcher(),
            _slot: slot,
        };
        tasks.spawn(conn.run(tcp, acceptor.clone()));
    }
    drop(listener);
    let _ = tokio::time::timeout(limits.shutdown_timeout, graceful.shutdown()).await;
    tasks.abort_all();
    while tasks.join_next().await.is_some() {}
    Ok(())
}

#[cfg(feature = "tls")]
type Acceptor = Option<tokio_rustls::TlsAcceptor>;
#[cfg(not(feature = "tls"))]
type Acceptor = Option<std::convert::Infallible>;

fn acceptor(tls: Option<Tls>) -> std::io::Result<Acceptor> {
    match tls {
        None => Ok(None),
        #[cfg(feature = "tls")]
        Some(tls) => tls.acceptor().map(Some).map_err(std::io::Error::other),
        #[cfg(not(feature = "tls"))]
        Some(_) => Err(std::io::Error::other("built without the tls feature")),
    }
}

/// One accepted connection and what it needs.
struct Conn {
    app: Router,
    limits: ConnectionLimits,
    watcher: Watcher,
    _slot: OwnedSemaphorePermit,
}

impl Conn {
    async fn run(self, tcp: TcpStream, acceptor: Acceptor) {
        let activity = Arc::new(Activity::new());
        let io = Tracked {
            inner: tcp,
            activity: activity.clone(),
        };
        match acceptor {
            None => self.serve(io, activity).await,
            #[cfg(feature = "tls")]
            Some(acceptor) => {
                let handshake = tokio::time::timeout(self.limits.idle_timeout, acceptor.accept(io));
                if let Ok(Ok(stream)) = handshake.await {
                    self.serve(stream, activity).await;
                }
            }
            #[cfg(not(feature = "tls"))]
            Some(never) => match never {},
        }
    }

    async fn serve<I>(self, io: I, activity: Arc<Activity>)
    where
        I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let mut builder = Builder::new(TokioExecutor::new());
        builder
            .http1()
            .timer(TokioTimer::new())
            .header_read_timeout(self.limits.header_timeout);
        builder.http2().timer(TokioTimer::new());
        let app = self.app;
        let counter = activity.clone();
        let service =
            hyper::service::service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                let guard = InFlight::enter(counter.clone());
                let app = app.clone();
                async move {
                    let r = app.oneshot(req.map(axum::body::Body::new)).await;
                    drop(guard);
                    r
                }
            });
        let conn = builder
            .serve_connection_with_upgrades(TokioIo::new(io), service)
            .into_owned();
        let conn = self.watcher.watch(conn);
        tokio::select! {
            _ = conn => {}
            _ = idle_watch(activity, self.limits.idle_timeout) => {}
        }
    }
}

/// When a connection last moved a byte, and how many requests it has open.
struct Activity {
    base: Instant,
    last_ms: AtomicU64,
    in_flight: AtomicUsize,
}

impl Activity {
    fn new() -> Self {
        Activity {
            base: Instant::now(),
            last_ms: AtomicU64::new(0),
            in_flight: AtomicUsize::new(0),
        }
    }

    fn touch(&self) {
        let ms = self.base.elapsed().as_millis().min(u128::from(u64::MAX)) as u64;
        self.last_ms.store(ms, Ordering::Relaxed);
    }

    fn idle_for(&self) -> Duration {
        let last = Duration::from_millis(self.last_ms.load(Ordering::Relaxed));
        self.base.elapsed().saturating_sub(last)
    }
}

/// Counts a request as open on its connection until dropped.
struct InFlight(Arc<Activity>);

impl InFlight {
    fn enter(a: Arc<Activity>) -> Self {
        a.in_flight.fetch_add(1, Ordering::Relaxed);
        InFlight(a)
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::Relaxed);
        self.0.touch();
    }
}

/// Resolves once the connection has had no request open and no traffic for
/// `idle`.
async fn idle_watch(a: Arc<Activity>, idle: Duration) {
    let step = (idle / 4).max(Duration::from_millis(10));
    loop {
        let quiet = a.idle_for();
        if a.in_flight.load(Ordering::Relaxed) == 0 && quiet >= idle {
            return;
        }
        let wait = if quiet < idle {
            (idle - quiet).min(step)
        } else {
            step
        };
        tokio::time::sleep(wait.max(Duration::from_millis(5))).await;
    }
}

/// A socket that records when it last read or wrote a byte.
struct Tracked {
    inner: TcpStream,
    activity: Arc<Activity>,
}

impl AsyncRead for Tracked {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let r = Pin::new(&mut self.inner).poll_read(cx, buf);
        if matches!(r, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.activity.touch();
        }
        r
    }
}

impl AsyncWrite for Tracked {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let r = Pin::new(&mut self.inner).poll_write(cx, data);
        if matches!(r, Poll::Ready(Ok(n)) if n > 0) {
            self.activity.touch();
        }
        r
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        let r = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        if matches!(r, Poll::Ready(Ok(n)) if n > 0) {
            self.activity.touch();
        }
        r
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}
