//! Starting the service as a library: [`App::build`] connects everything
//! and binds the listener; [`App::spawn`] runs the HTTP server and the hold
//! sweeper and returns a [`ServerHandle`] to stop them. The binary, tests
//! (on `127.0.0.1:0`) and a future single-process runner all start it this
//! way.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::clock::{Clock, SystemClock};
use crate::config::{Config, Secrets};
use crate::error::{Error, Result};
use crate::http::{router, AppState};
use crate::service::Reservations;

pub struct App {
    state: AppState,
    listener: TcpListener,
    sweep_interval: Duration,
}

impl App {
    pub async fn build(config: Config) -> Result<App> {
        App::build_with_clock(config, Arc::new(SystemClock)).await
    }

    pub async fn build_with_clock(config: Config, clock: Arc<dyn Clock>) -> Result<App> {
        let secrets = Secrets::resolve(&config);
        let svc = Arc::new(Reservations::open(&config, clock).await?);
        let listener = TcpListener::bind(&config.listen)
            .await
            .map_err(|e| Error::Internal(format!("cannot listen on {}: {e}", config.listen)))?;
        tracing::info!(
            listen = %config.listen,
            seat_lock = svc.locker.kind().as_str(),
            database = ?svc.store.dialect(),
            "reservation-api ready"
        );
        Ok(App {
            state: AppState {
                svc,
                admin_key: Arc::from(secrets.admin_key),
                token_secret: Arc::from(secrets.token_secret),
            },
            listener,
            sweep_interval: Duration::from_millis(config.sweep_interval_ms.max(50)),
        })
    }

    pub fn local_addr(&self) -> Result<SocketAddr> {
        self.listener
            .local_addr()
            .map_err(|e| Error::Internal(e.to_string()))
    }

    pub fn reservations(&self) -> Arc<Reservations> {
        self.state.svc.clone()
    }

    pub fn spawn(self) -> Result<ServerHandle> {
        let addr = self.local_addr()?;
        let (stop_tx, stop_rx) = watch::channel(false);
        let svc = self.state.svc.clone();
        let sweeper = tokio::spawn(crate::sweeper::run(
            svc.clone(),
            self.sweep_interval,
            stop_rx.clone(),
        ));
        let mut server_stop = stop_rx;
        let app = router(self.state);
        let server = tokio::spawn(async move {
            axum::serve(self.listener, app)
                .with_graceful_shutdown(async move {
                    let _ = server_stop.wait_for(|stop| *stop).await;
                })
                .await
        });
        Ok(ServerHandle {
            addr,
            stop: stop_tx,
            server,
            sweeper,
            svc,
        })
    }
}

/// A running reservation-api.
pub struct ServerHandle {
    addr: SocketAddr,
    stop: watch::Sender<bool>,
    server: JoinHandle<std::io::Result<()>>,
    sweeper: JoinHandle<()>,
    svc: Arc<Reservations>,
}

impl ServerHandle {
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn reservations(&self) -> Arc<Reservations> {
        self.svc.clone()
    }

    /// Stops accepting, lets in-flight requests finish, stops the sweeper
    /// and closes the database pool.
    pub async fn shutdown(self) -> Result<()> {
        let _ = self.stop.send(true);
        let served = self
            .server
            .await
            .map_err(|e| Error::Internal(e.to_string()))?;
        let _ = self.sweeper.await;
        self.svc.store.close().await;
        served.map_err(|e| Error::Internal(format!("server error: {e}")))
    }
}

/// Builds and starts the service.
pub async fn serve(config: Config) -> Result<ServerHandle> {
    App::build(config).await?.spawn()
}
