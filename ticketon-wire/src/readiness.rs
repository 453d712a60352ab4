//! The `/readyz` answer of both services: every dependency checked, and
//! when one is down, a 503 whose error names it.
//!
//! ```json
//! {"status":"not_ready","checks":[{"name":"redis","up":false}],
//!  "error":{"code":"dependency_down","message":"redis is down"}}
//! ```
//!
//! `/healthz` only says the process is alive; `/readyz` is what a load
//! balancer or an orchestrator routes by.

use serde::{Deserialize, Serialize};

use crate::ErrorDetail;

/// One dependency as `/readyz` saw it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DependencyCheck {
    pub name: String,
    pub up: bool,
    /// Why it is down, for the operator.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

impl DependencyCheck {
    pub fn up(name: &str) -> Self {
        DependencyCheck {
            name: name.to_string(),
            up: true,
            detail: None,
        }
    }

    pub fn down(name: &str, detail: impl Into<String>) -> Self {
        DependencyCheck {
            name: name.to_string(),
            up: false,
            detail: Some(detail.into()),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Readiness {
    /// `ready` or `not_ready`.
    pub status: String,
    pub checks: Vec<DependencyCheck>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<ErrorDetail>,
}

impl Readiness {
    /// The answer for these checks; [`Readiness::is_ready`] picks the status code.
    pub fn from_checks(checks: Vec<DependencyCheck>) -> Self {
        let down: Vec<&str> = checks
            .iter()
            .filter(|c| !c.up)
            .map(|c| c.name.as_str())
            .collect();
        let error = (!down.is_empty()).then(|| ErrorDetail {
            code: "dependency_down".to_string(),
            message: format!(
                "{} {} down",
                down.join(", "),
                if down.len() == 1 { "is" } else { "are" }
            ),
            details: serde_json::Map::new(),
        });
        Readiness {
            status: if error.is_none() {
                "ready"
            } else {
                "not_ready"
            }
            .to_string(),
            checks,
            error,
        }
    }

    pub fn is_ready(&self) -> bool {
        self.error.is_none()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_dependency_down_is_named_in_the_error() {
        let r = Readiness::from_checks(vec![
            DependencyCheck::up("database"),
            DependencyCheck::down("kafka", "metadata request timed out"),
        ]);
        assert!(!r.is_ready());
        let v = serde_json::to_value(&r).unwrap();
        assert_eq!(v["status"], "not_ready");
        assert_eq!(v["error"]["code"], "dependency_down");
        assert_eq!(v["error"]["message"], "kafka is down");
        assert_eq!(v["checks"][1]["detail"], "metadata request timed out");
    }

    #[test]
    fn all_up_is_ready_without_an_error() {
        let r = Readiness::from_checks(vec![DependencyCheck::up("redis")]);
        assert!(r.is_ready());
        let v = serde_json::to_value(&r).unwrap();
        assert_eq!(v["status"], "ready");
        assert!(v.get("error").is_none());
    }
}
