//! deploy/prometheus and deploy/grafana: the scrape configuration and the
//! alert rules pass Debian's promtool (installed by `.ci/prometheus.sh` when
//! missing), the alerts pass their unit tests (`alerts_test.yml`: each alert
//! firing, and not firing where a look-alike situation is normal), and every
//! metric the dashboards and alerts name is one the services export.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::process::Command;

use crate::{ci_tool, root};

#[test]
fn prometheus_config_passes_promtool() {
    promtool_passes(&["check", "config", "deploy/prometheus/prometheus.yml"]);
}

#[test]
fn alert_rules_pass_promtool() {
    promtool_passes(&["check", "rules", "deploy/prometheus/alerts.yml"]);
}

#[test]
fn alert_rules_pass_their_unit_tests() {
    promtool_passes(&["test", "rules", "deploy/prometheus/alerts_test.yml"]);
}

#[test]
fn metric_names_are_read_from_promql_in_yaml_and_json() {
    let text = r#"{"expr": "histogram_quantile(0.99, sum by (le) (rate(ticketon_queue_http_request_duration_seconds_bucket{route=\"entry\"}[5m])))"}
        expr: ticketon_queue_store_up == 0 and xticketon_not_a_metric
        rate(ticketon_reservation_http_request_duration_seconds_count[1m]) / ticketon_queue_admitted_count
        "uid": "ticketon-events", "tags": ["ticketon"], ticketon_"#;
    let expected: BTreeSet<String> = [
        "ticketon_queue_http_request_duration_seconds_bucket",
        "ticketon_queue_store_up",
        "ticketon_reservation_http_request_duration_seconds_count",
        "ticketon_queue_admitted_count",
    ]
    .into_iter()
    .map(String::from)
    .collect();
    assert_eq!(metric_names_used(text), expected);
}

/// Every `ticketon_[a-z0-9_]+` identifier in `text` (PromQL, or YAML or JSON
/// holding it), as written (a histogram's series with their `_bucket`,
/// `_sum` or `_count`).
pub(crate) fn metric_names_used(text: &str) -> BTreeSet<String> {
    const PREFIX: &str = "ticketon_";
    let is_name_byte = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_';
    let bytes = text.as_bytes();
    let mut names = BTreeSet::new();
    let mut from = 0;
    while let Some(found) = text[from..].find(PREFIX) {
        let start = from + found;
        let mut end = start + PREFIX.len();
        while end < bytes.len() && is_name_byte(bytes[end]) {
            end += 1;
        }
        from = end;
        // Part of a longer identifier (`xticketon_…`), or the prefix alone.
        let inside_another = start > 0
            && (bytes[start - 1].is_ascii_alphanumeric()
                || bytes[start - 1] == b'_'
                || bytes[start - 1] == b':');
        if inside_another || end == start + PREFIX.len() {
            continue;
        }
        names.insert(text[start..end].to_string());
    }
    names
}

/// Runs `promtool ARGS` from the repository's root and asserts that it
/// succeeded, showing everything it printed otherwise.
fn promtool_passes(args: &[&str]) {
    let Some(promtool) = promtool() else {
        return;
    };
    let out = Command::new(&promtool)
        .args(args)
        .current_dir(root())
        .output()
        .unwrap_or_else(|e| panic!("running {}: {e}", promtool.display()));
    let printed = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success(),
        "promtool {} failed ({}):\n{printed}",
        args.join(" "),
        out.status
    );
}

/// promtool's path from `.ci/prometheus.sh`, which installs Debian's
/// prometheus package when it is missing (`None`: reported unavailable).
pub(crate) fn promtool() -> Option<PathBuf> {
    ci_tool("promtool", ".ci/prometheus.sh", &[])
}

/// The Prometheus server from the same package.
pub(crate) fn prometheus_server() -> Option<PathBuf> {
    ci_tool("prometheus", ".ci/prometheus.sh", &["prometheus"])
}
