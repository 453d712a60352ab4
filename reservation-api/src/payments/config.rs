//! How payments are set up: the Toss endpoint (or the embedded sandbox)
//! and the reconciler's pace. Part of [`crate::Config`] as its `payments`
//! field.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use super::ReconcileSettings;
use crate::toss::{PaymentGateway, TossConfig, DEFAULT_SANDBOX_LISTEN};

pub const DEFAULT_RECONCILE_INTERVAL_MS: u64 = 2_000;
pub const DEFAULT_RECONCILE_GRACE_MS: u64 = 5_000;

#[derive(Clone)]
pub struct PaymentsConfig {
    /// `TOSS_*` variables (see `toss::TossConfig`); the default is the
    /// embedded sandbox on 127.0.0.1:8090.
    pub toss: TossConfig,
    /// Used instead of a client built from `toss` when set (tests drive the
    /// flow through a gateway that injects failures); no sandbox is started.
    pub gateway: Option<Arc<dyn PaymentGateway>>,
    /// `TICKETON_PAYMENT_RECONCILE_INTERVAL_MS`.
    pub reconcile_interval_ms: u64,
    /// `TICKETON_PAYMENT_RECONCILE_GRACE_MS`: age of a pending row before
    /// the reconciler takes it over.
    pub reconcile_grace_ms: u64,
}

impl Default for PaymentsConfig {
    fn default() -> Self {
        PaymentsConfig {
            toss: TossConfig::sandbox(
                DEFAULT_SANDBOX_LISTEN
                    .parse()
                    .expect("the default sandbox address parses"),
            ),
            gateway: None,
            reconcile_interval_ms: DEFAULT_RECONCILE_INTERVAL_MS,
            reconcile_grace_ms: DEFAULT_RECONCILE_GRACE_MS,
        }
    }
}

impl PaymentsConfig {
    pub fn reconcile_settings(&self) -> ReconcileSettings {
        ReconcileSettings {
            interval: Duration::from_millis(self.reconcile_interval_ms.max(20)),
            grace: Duration::from_millis(self.reconcile_grace_ms),
        }
    }
}

impl fmt::Debug for PaymentsConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PaymentsConfig")
            .field("toss", &self.toss)
            .field("gateway", &self.gateway.as_ref().map(|_| "<injected>"))
            .field("reconcile_interval_ms", &self.reconcile_interval_ms)
            .field("reconcile_grace_ms", &self.reconcile_grace_ms)
            .finish()
    }
}
