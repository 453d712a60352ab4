//! Starting the service as a library: [`App::build`] connects everything
//! and binds the listener; [`App::spawn`] runs the HTTP server and the hold
//! sweeper and returns a [`ServerHandle`] to stop them. The binary, tests
//! (on `127.0.0.1:0`) and a future single-process runner all start it this
//! way.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use ticketon_runtime::connections::ConnectionLimits;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::admissions::ADMISSIONS_GROUP;
use crate::clock::{Clock, SystemClock};
use crate::config::Config;
use crate::error::{Error, Result};
use crate::http::{router, AppState, Checkout, FanPages};
use crate::payments::provider::{PaymentProvider, ProviderError};
use crate::payments::Payments;
use crate::service::Reservations;
use crate::toss::sandbox::SandboxHandle;
use ticketon_bus::kafka::{KafkaConfig, KafkaPublisher, KafkaSubscriber};
use ticketon_bus::{Publisher, Subscriber};
use ticketon_wire::events::TOPIC_ADMISSIONS;

/// How often the outbox relay looks for new events when idle.
const OUTBOX_INTERVAL: Duration = Duration::from_millis(50);

#[derive(Debug)]
pub struct App {
    state: AppState,
    listener: TcpListener,
    sweep_interval: Duration,
    events: Option<EventLink>,
    payments: Arc<Payments>,
    /// The embedded Toss sandbox when `TOSS_API_BASE` is unset.
    toss_sandbox: Option<SandboxHandle>,
    connections: ConnectionLimits,
    /// For the database watch's probe connection.
    database_url: String,
}

/// The payment provider the service charges through, and the embedded
/// sandbox behind it if one was started. A second provider is one module
/// beside `toss/` implementing [`PaymentProvider`] and one arm here.
async fn start_payment_provider(
    config: &Config,
) -> Result<(Arc<dyn PaymentProvider>, Option<SandboxHandle>)> {
    if let Some(provider) = &config.payments.provider {
        return Ok((provider.clone(), None));
    }
    let toss = crate::toss::start(&config.payments.toss)
        .await
        .map_err(ProviderError::from)?;
    Ok((Arc::new(toss.client), toss.sandbox))
}

/// How the reservation-api is connected to the other services: the bus its
/// outbox is published to, and its member of the admissions consumer group.
#[derive(Debug)]
pub struct EventLink {
    pub publisher: Arc<dyn Publisher>,
    pub admissions: Box<dyn Subscriber>,
}

impl EventLink {
    /// Kafka from `--kafka-brokers`.
    pub fn kafka(brokers: &str) -> Result<EventLink> {
        let kafka = KafkaConfig::new(brokers);
        let publisher = KafkaPublisher::new(&kafka)
            .map_err(|e| Error::Internal(format!("Kafka producer: {e}")))?;
        let admissions = KafkaSubscriber::subscribe(&kafka, ADMISSIONS_GROUP, &[TOPIC_ADMISSIONS])
            .map_err(|e| Error::Internal(format!("Kafka consumer: {e}")))?;
        Ok(EventLink {
            publisher: Arc::new(publisher),
            admissions,
        })
    }
}

impl App {
    pub async fn build(config: Config) -> Result<App> {
        App::build_with_clock(config, Arc::new(SystemClock)).await
    }

    pub async fn build_with_clock(config: Config, clock: Arc<dyn Clock>) -> Result<App> {
        let events = match &config.kafka_brokers {
            Some(brokers) => Some(EventLink::kafka(brokers)?),
            None => None,
        };
        App::build_with_events(config, clock, events).await
    }

    /// Builds with an explicit event link (the single-process runner passes
    /// its in-process bus); `None` leaves events in the outbox.
    pub async fn build_with_events(
        config: Config,
        clock: Arc<dyn Clock>,
        events: Option<EventLink>,
    ) -> Result<App> {
        if events.is_none() {
            tracing::warn!(
                "no event bus configured (TICKETON_KAFKA_BROKERS unset): session events stay in \
                 the outbox and admission events are not read"
            );
        }
        let secrets = ticketon_runtime::Secrets::resolve(
            config.admin_key.clone(),
            config.token_secret.clone(),
            "reservation-api",
        )
        .map_err(|e| Error::Internal(e.to_string()))?;
        let svc = Arc::new(Reservations::open(&config, clock).await?);
        let (provider, toss_sandbox) = start_payment_provider(&config).await?;
        let checkout = match (&toss_sandbox, &config.payments.provider) {
            (Some(sandbox), _) => Checkout::Sandbox {
                client_key: config.payments.toss.client_key.clone(),
                widget_url: format!("{}/v1/sandbox/checkout", sandbox.base_url()),
            },
            (None, None) => Checkout::Toss {
                client_key: config.payments.toss.client_key.clone(),
            },
            (None, Some(_)) => Checkout::None,
        };
        let payments = Arc::new(Payments {
            revenue_won: svc.metrics.revenue_won.clone(),
            ..Payments::new(
                svc.store.clone(),
                provider,
                svc.clock.clone(),
                secrets.token_secret.as_bytes(),
                config.payments.reconcile_settings(),
            )
        });
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
                token_secret: Arc::from(secrets.token_secret.into_bytes()),
                bus: events.as_ref().map(|e| e.publisher.clone()),
                admissions_consumed: Arc::default(),
                payments: payments.clone(),
                seat_maps: Arc::default(),
                pages: Arc::new(FanPages::new(config.queue_public_url.as_deref(), &checkout)),
                cors_origins: Arc::from(config.cors_origins.clone()),
                body_read_timeout: config.connections.header_read_timeout,
                database: Arc::default(),
            },
            database_url: config.database_url.clone(),
            listener,
            sweep_interval: Duration::from_millis(config.sweep_interval_ms.max(50)),
            events,
            payments,
            toss_sandbox,
            connections: config.connections,
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
        let mut background = vec![sweeper];
        background.push(tokio::spawn(crate::database_watch::run(
            self.database_url,
            self.state.database.clone(),
            stop_rx.clone(),
        )));
        background.push(tokio::spawn(crate::payments::reconciler::run(
            self.payments.clone(),
            stop_rx.clone(),
        )));
        if let Some(events) = self.events {
            background.push(tokio::spawn(crate::outbox_relay::run(
                svc.background_store.clone(),
                events.publisher,
                OUTBOX_INTERVAL,
                svc.clock.clone(),
                stop_rx.clone(),
            )));
            background.push(tokio::spawn(crate::admissions::run(
                svc.clone(),
                events.admissions,
                self.state.admissions_consumed.clone(),
                stop_rx.clone(),
            )));
        }
        let app = router(self.state);
        let server = tokio::spawn(crate::http::serve(
            self.listener,
            app,
            self.connections,
            stop_rx,
        ));
        Ok(ServerHandle {
            addr,
            stop: stop_tx,
            server,
            background,
            svc,
            payments: self.payments,
            toss_sandbox: self.toss_sandbox,
        })
    }
}

/// A running reservation-api.
#[derive(Debug)]
pub struct ServerHandle {
    addr: SocketAddr,
    stop: watch::Sender<bool>,
    server: JoinHandle<()>,
    /// The sweeper, and with an event bus the outbox relay and the
    /// admissions consumer.
    background: Vec<JoinHandle<()>>,
    svc: Arc<Reservations>,
    payments: Arc<Payments>,
    toss_sandbox: Option<SandboxHandle>,
}

impl ServerHandle {
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn reservations(&self) -> Arc<Reservations> {
        self.svc.clone()
    }

    pub fn payments(&self) -> Arc<Payments> {
        self.payments.clone()
    }

    /// `http://<addr>` of the embedded Toss sandbox, when one was started.
    pub fn toss_sandbox_url(&self) -> Option<String> {
        self.toss_sandbox.as_ref().map(SandboxHandle::base_url)
    }

    /// Stops accepting, lets in-flight requests finish, stops the sweeper
    /// and closes the database pool.
    pub async fn shutdown(self) -> Result<()> {
        let _ = self.stop.send(true);
        self.server
            .await
            .map_err(|e| Error::Internal(e.to_string()))?;
        for task in self.background {
            let _ = task.await;
        }
        if let Some(sandbox) = self.toss_sandbox {
            sandbox.shutdown().await;
        }
        self.svc.store.close().await;
        Ok(())
    }
}

/// Builds and starts the service.
pub async fn serve(config: Config) -> Result<ServerHandle> {
    App::build(config).await?.spawn()
}
