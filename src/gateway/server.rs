//! The listener: HTTP/1.1 connections on hyper with a timer (so the header-read timeout is real), bounded headers
//! and connections, and a graceful drain on shutdown.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

use super::Gateway;
use crate::coarse_timer::CoarseTimer;

/// Why the server stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("{0}")]
    Refused(String),
    #[error("cannot start a serving worker: {0}")]
    Worker(std::io::Error),
}

/// Binds the listening socket. Refuses a non-loopback address while a demo credential is configured.
pub async fn bind(gateway: &Gateway, addr: SocketAddr) -> Result<TcpListener, ServeError> {
    if !addr.ip().is_loopback() {
        if let Some(c) = gateway.config().clients.iter().find(|c| c.is_demo()) {
            return Err(ServeError::Refused(format!(
                "refusing to listen on {addr}: client {:?} uses the demo secret; configure a real secret (secret_env) or listen on 127.0.0.1",
                c.id
            )));
        }
    }
    TcpListener::bind(addr)
        .await
        .map_err(|source| ServeError::Bind { addr, source })
}

/// Serves on `server.workers` threads until `shutdown` resolves. Each thread runs its own single-threaded
/// runtime and accepts from the same listening socket, so a connection lives on one thread from accept to close
/// (as in nginx's worker processes): no cross-thread wake-ups or work stealing on the request path. The calling
/// thread is one of the workers; its runtime must be single-threaded too, and it keeps running (with the tasks
/// it owns, such as the store's writer) until every worker has drained.
pub async fn serve_workers(
    gateway: Gateway,
    listener: TcpListener,
    shutdown: impl Future<Output = ()>,
) -> Result<(), ServeError> {
    let server = &gateway.config().server;
    let workers = match server.workers {
        0 => std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get),
        n => n,
    };
    // The connection limit is the whole server's: each worker gets its share.
    let share = server.max_connections.div_ceil(workers);
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let listener = listener.into_std().map_err(ServeError::Worker)?;
    let mut threads = Vec::with_capacity(workers.saturating_sub(1));
    for i in 1..workers {
        let listener = listener.try_clone().map_err(ServeError::Worker)?;
        let gateway = gateway.clone();
        let mut stopped = stopped.clone();
        let thread = std::thread::Builder::new()
            .name(format!("ordermux-worker-{i}"))
            .spawn(move || -> Result<(), ServeError> {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .map_err(ServeError::Worker)?;
                runtime.block_on(async move {
                    let listener = TcpListener::from_std(listener).map_err(ServeError::Worker)?;
                    let stop = async move {
                        let _ = stopped.wait_for(|s| *s).await;
                    };
                    serve_with(gateway, listener, stop, share).await
                })
            })
            .map_err(ServeError::Worker)?;
        threads.push(thread);
    }
    let listener = TcpListener::from_std(listener).map_err(ServeError::Worker)?;
    // Expired idempotency records are deleted in the background for as long as the gateway serves.
    let purge = tokio::spawn(super::idempotency::purge_expired(
        gateway.api.shop.store.clone(),
        gateway.config().idempotency_retention,
    ));
    let statistics = tokio::spawn(refresh_statistics(gateway.api.shop.store.clone()));
    // Drafts that creates left half-made upstream, and no retry came for, are removed (Commerce Layer backends).
    let sweeps: Vec<_> = gateway
        .upstreams
        .translating()
        .filter_map(|(name, shop)| {
            let idle = shop.unfinished_after()?;
            Some(tokio::spawn(sweep_unfinished(
                name.to_owned(),
                Arc::clone(shop),
                idle,
                gateway.metrics.clone(),
            )))
        })
        .collect();
    let stop_all = async move {
        shutdown.await;
        let _ = stop.send(true);
    };
    let result = serve_with(gateway, listener, stop_all, share).await;
    purge.abort();
    statistics.abort();
    for sweep in sweeps {
        sweep.abort();
    }
    for thread in threads {
        match tokio::task::spawn_blocking(move || thread.join()).await {
            Ok(Ok(Err(e))) => tracing::error!(error = %e, "a serving worker failed"),
            Ok(Err(_)) | Err(_) => tracing::error!("a serving worker panicked"),
            Ok(Ok(Ok(()))) => {}
        }
    }
    result
}

/// How often the store's query-planner statistics are brought up to date while serving.
const STATISTICS_EVERY: Duration = Duration::from_secs(600);

/// Keeps the store's query plans fitting its size: a store that was empty when the gateway started may hold
/// 100,000 orders an hour later (a replay).
async fn refresh_statistics(store: crate::store::Store) {
    let mut every = tokio::time::interval_at(
        tokio::time::Instant::now() + STATISTICS_EVERY,
        STATISTICS_EVERY,
    );
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        every.tick().await;
        if let Err(e) = store.refresh_statistics().await {
            tracing::warn!(error = %e, "refreshing the store's statistics failed; tried again later");
        }
    }
}

/// Sweeps `shop`'s creates left unfinished for `idle` (`UpstreamShop::sweep_unfinished`) a few times per `idle`,
/// at most every minute.
async fn sweep_unfinished(
    backend: String,
    shop: Arc<crate::backends::upstream::UpstreamShop>,
    idle: Duration,
    metrics: super::metrics::Metrics,
) {
    let period = (idle / 4).clamp(Duration::from_secs(1), Duration::from_secs(60));
    let mut every = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        every.tick().await;
        match shop.sweep_unfinished(idle).await {
            Ok(report) if report == Default::default() => {}
            Ok(report) => {
                metrics.sweep(&backend, &report);
                tracing::info!(
                    %backend,
                    cleared = report.cleared,
                    drafts_removed = report.drafts_removed,
                    left = report.left,
                    failed = report.failed,
                    "swept creates left unfinished upstream"
                );
            }
            Err(e) => {
                tracing::warn!(%backend, error = %e, "sweeping unfinished creates failed; tried again later");
            }
        }
    }
}

/// Most bytes a request's head may take: hyper's read buffer while it reads one, and the headers together once
/// it has (`pipeline::refuse_head`).
pub const MAX_HEAD_BYTES: usize = 64 * 1024;

/// Serves until `shutdown` resolves, then stops accepting, marks the gateway not ready and gives in-flight
/// requests the configured grace period to finish.
pub async fn serve(
    gateway: Gateway,
    listener: TcpListener,
    shutdown: impl Future<Output = ()>,
) -> Result<(), ServeError> {
    let max_connections = gateway.config().server.max_connections;
    serve_with(gateway, listener, shutdown, max_connections).await
}

async fn serve_with(
    gateway: Gateway,
    listener: TcpListener,
    shutdown: impl Future<Output = ()>,
    max_connections: usize,
) -> Result<(), ServeError> {
    // Shared by reference count: a request holds one pointer, not a copy of every handle inside.
    let gateway = Arc::new(gateway);
    let server = &gateway.config().server;
    let header_timeout = server.header_read_timeout;
    let forwarded_for = server.forwarded_for;
    let grace = server.shutdown_grace;
    let slots = Arc::new(Semaphore::new(max_connections));
    // Header-read, body-read and pass-through deadlines; ticks fine enough for the shortest of them.
    let shortest = gateway
        .config()
        .backends
        .iter()
        .map(|b| b.timeout)
        .fold(header_timeout.min(server.request_timeout), Duration::min);
    let timer = CoarseTimer::new(CoarseTimer::tick_for(shortest));
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    tokio::pin!(shutdown);
    loop {
        let permit = tokio::select! {
            () = &mut shutdown => break,
            permit = slots.clone().acquire_owned() => match permit {
                Ok(p) => p,
                Err(_) => break,
            },
        };
        let (stream, peer) = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // Out of file descriptors and the like: back off briefly instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let _ = stream.set_nodelay(true);
        let gw = gateway.clone();
        let conn_state = Arc::new(super::pipeline::Connection::new(
            peer,
            timer.clone(),
            forwarded_for,
        ));
        let service =
            service_fn(move |req| super::pipeline::handle(gw.clone(), req, conn_state.clone()));
        let conn = hyper::server::conn::http1::Builder::new()
            .timer(timer.clone())
            .header_read_timeout(header_timeout)
            // hyper's default header limit is 100; setting it explicitly makes hyper fill a 100-slot array on
            // every request head instead of leaving it uninitialised, so the default is left alone.
            .max_buf_size(MAX_HEAD_BYTES)
            // A caller that shuts down its sending side once its request is sent (`nc -N`, HTTP/1.0-era tools)
            // still gets the answer; without this hyper takes the end of input for the end of the connection and
            // drops the request in flight, its answer unsent (a create cut off half-way).
            .half_close(true)
            .serve_connection(TokioIo::new(stream), service);
        let conn = graceful.watch(conn);
        tokio::spawn(async move {
            if let Err(e) = conn.await {
                tracing::debug!(network = %super::lockout::logged_as(peer.ip()), error = %e, "connection ended with an error");
            }
            drop(permit);
        });
    }
    gateway.ready.store(false, Ordering::Relaxed);
    drop(listener);
    tracing::info!(
        grace_secs = grace.as_secs(),
        "shutting down: draining in-flight requests"
    );
    tokio::select! {
        () = graceful.shutdown() => tracing::info!("all connections drained"),
        () = tokio::time::sleep(grace) => tracing::warn!("grace period over; closing remaining connections"),
    }
    if let Err(e) = gateway.api.shop.store.flush().await {
        tracing::error!(error = %e, "answers queued for the store could not be committed before stopping");
    }
    Ok(())
}
