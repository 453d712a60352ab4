//! What the service does at startup: with no `TOSS_API_BASE` it starts the
//! embedded sandbox and talks to it; with one it starts nothing and talks
//! to that endpoint.

use clap::Parser;
use reservation_api::toss::sandbox::{self, create_payment, SandboxConfig};
use reservation_api::toss::{
    start, ConfirmRequest, PaymentOutcome, PaymentStatus, TossArgs, TossClient, TossConfig,
    TossError,
};

#[derive(Parser)]
struct Probe {
    #[command(flatten)]
    toss: TossArgs,
}

/// The configuration the service reads from these variables, given as the
/// flags of the same names (`TOSS_API_BASE` is `--toss-api-base`).
fn config(pairs: &[(&str, &str)]) -> TossConfig {
    let mut argv = vec!["probe".to_string()];
    for (name, value) in pairs {
        let flag = name
            .trim_start_matches("TICKETON_")
            .to_ascii_lowercase()
            .replace('_', "-");
        argv.push(format!("--{flag}={value}"));
    }
    TossConfig::from_args(&Probe::parse_from(argv).toss).unwrap()
}

async fn pay_once(client: &TossClient, base: &str, order_id: &str) {
    let key = create_payment(base, order_id, 30_000, None).await.unwrap();
    let req = ConfirmRequest {
        payment_key: key,
        order_id: order_id.into(),
        amount: 30_000,
    };
    assert!(matches!(
        client.confirm_payment(&req).await.unwrap(),
        PaymentOutcome::Done(_)
    ));
    let p = client.payment_by_order(order_id).await.unwrap().unwrap();
    assert_eq!(p.status, PaymentStatus::Done);
}

#[tokio::test]
async fn without_an_api_base_the_embedded_sandbox_serves_the_client() {
    let rt = start(&config(&[("TICKETON_TOSS_SANDBOX_LISTEN", "127.0.0.1:0")]))
        .await
        .unwrap();
    let sb = rt.sandbox.as_ref().expect("sandbox started");
    assert_ne!(sb.addr().port(), 0);
    assert!(rt.client.base_url().starts_with(&sb.base_url()));
    pay_once(&rt.client, &sb.base_url(), "res-embedded-1").await;
    rt.sandbox.unwrap().shutdown().await;
}

#[tokio::test]
async fn with_an_api_base_no_sandbox_is_started_and_the_configured_key_is_used() {
    let external = sandbox::spawn(
        "127.0.0.1:0".parse().unwrap(),
        SandboxConfig::with_secret_key("test_sk_external"),
    )
    .await
    .unwrap();
    let rt = start(&config(&[
        ("TOSS_API_BASE", &external.base_url()),
        ("TOSS_SECRET_KEY", "test_sk_external"),
        ("TOSS_CLIENT_KEY", "test_ck_external"),
    ]))
    .await
    .unwrap();
    assert!(rt.sandbox.is_none());
    assert_eq!(rt.client_key, "test_ck_external");
    pay_once(&rt.client, &external.base_url(), "res-external-1").await;
}

#[tokio::test]
async fn a_taken_sandbox_port_is_a_startup_error() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let err = start(&config(&[("TICKETON_TOSS_SANDBOX_LISTEN", &addr)]))
        .await
        .unwrap_err();
    assert!(matches!(err, TossError::SandboxBind { .. }), "{err:?}");
}

#[test]
fn a_client_needs_an_api_base() {
    assert!(matches!(
        TossClient::from_config(&config(&[])),
        Err(TossError::Config(_))
    ));
}
