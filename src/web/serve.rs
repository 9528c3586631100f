//! The one server: plain HTTP, or what a web config asks for (TLS, client
//! certificates, basic authentication, extra headers).

use std::future::Future;
use std::io;
use std::pin::pin;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::service::TowerToHyperService;
use rustls::ServerConfig;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio_rustls::TlsAcceptor;

use super::auth::protect;
use super::config::WebConfig;

/// A slow or silent client must not hold a connection slot, nor delay a
/// graceful shutdown, for longer than this.
const TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Serves `app` on `listener` until `shutdown` resolves: plain HTTP without
/// a web config, otherwise with the TLS, client certificates, basic
/// authentication and headers of `web`. On shutdown it stops accepting and
/// lets requests in flight finish.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    web: Option<&WebConfig>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    let Some(web) = web else {
        return axum::serve(listener, app)
            .with_graceful_shutdown(shutdown)
            .await;
    };
    tracing::info!(
        web_config_file = %web.file.display(),
        tls = web.tls_enabled(),
        basic_auth = web.basic_auth_enabled(),
        "serving with the web config"
    );
    let app = protect(app, web);
    match &web.tls {
        None => {
            axum::serve(listener, app)
                .with_graceful_shutdown(shutdown)
                .await
        }
        Some(tls) => serve_tls(listener, app, tls.clone(), shutdown).await,
    }
}

async fn serve_tls(
    listener: TcpListener,
    app: Router,
    tls: Arc<ServerConfig>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    let acceptor = TlsAcceptor::from(tls);
    // Every connection holds a receiver: the send tells them to wind down,
    // `closed()` says they all have.
    let (stop_tx, _) = watch::channel(());
    let mut shutdown = pin!(shutdown);
    loop {
        let (tcp, peer) = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(err) => {
                    tracing::debug!(error = %err, "accepting a connection failed");
                    if !is_connection_error(&err) {
                        // Out of file descriptors or similar: give it a moment
                        // rather than spin.
                        tokio::time::sleep(Duration::from_secs(1)).await;
                    }
                    continue;
                }
            },
        };
        let acceptor = acceptor.clone();
        let service = TowerToHyperService::new(app.clone());
        let mut stop = stop_tx.subscribe();
        tokio::spawn(async move {
            let handshake = tokio::time::timeout(TLS_HANDSHAKE_TIMEOUT, acceptor.accept(tcp));
            let stream = tokio::select! {
                result = handshake => match result {
                    Ok(Ok(stream)) => stream,
                    Ok(Err(err)) => {
                        tracing::debug!(%peer, error = %err, "TLS handshake failed");
                        return;
                    }
                    Err(_) => {
                        tracing::debug!(%peer, "TLS handshake timed out");
                        return;
                    }
                },
                _ = stop.changed() => return,
            };
            let h2 = stream.get_ref().1.alpn_protocol() == Some(b"h2");
            let io = TokioIo::new(stream);
            let result = if h2 {
                let connection = hyper::server::conn::http2::Builder::new(TokioExecutor::new())
                    .serve_connection(io, service);
                let mut connection = pin!(connection);
                tokio::select! {
                    result = connection.as_mut() => result,
                    _ = stop.changed() => {
                        connection.as_mut().graceful_shutdown();
                        connection.await
                    }
                }
            } else {
                let connection = hyper::server::conn::http1::Builder::new()
                    .serve_connection(io, service)
                    .with_upgrades();
                let mut connection = pin!(connection);
                tokio::select! {
                    result = connection.as_mut() => result,
                    _ = stop.changed() => {
                        connection.as_mut().graceful_shutdown();
                        connection.await
                    }
                }
            };
            if let Err(err) = result {
                tracing::debug!(%peer, error = %err, "connection ended with an error");
            }
        });
    }
    drop(listener);
    stop_tx.send_replace(());
    stop_tx.closed().await;
    Ok(())
}

fn is_connection_error(err: &io::Error) -> bool {
    matches!(
        err.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
    )
}
