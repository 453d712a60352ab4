//! deploy/docker without Docker: the compose file follows the Compose
//! Specification (its JSON schema, as PyPI's check-jsonschema ships it,
//! installed by `.ci/check-jsonschema.sh` when missing), every variable it
//! needs is in `.env.example`, every file it mounts exists, and nginx's
//! compose configuration defines the upstreams production's locations use,
//! by the compose file's own hostnames.
//!
//! No image is built or pulled and no engine runs here: these machines have
//! no Docker engine. The schema check stands in for `docker compose config`,
//! and the control test shows that it does reject a broken file.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::{ci_tool, root, Scratch};

const COMPOSE: &str = "deploy/docker/docker-compose.yml";
const ENV_EXAMPLE: &str = "deploy/docker/.env.example";
const NGINX_COMPOSE: &str = "deploy/docker/nginx-compose.conf";
const NGINX_LOCATIONS: &str = "deploy/nginx/ticketon-locations.conf";

#[test]
fn the_compose_file_follows_the_compose_specification() {
    let Some(checker) = check_jsonschema() else {
        return;
    };
    let (ok, printed) = validate(&checker, &root().join(COMPOSE));
    assert!(
        ok,
        "{COMPOSE} does not follow the Compose Specification:\n{printed}"
    );
}

/// The schema check is no formality: a misspelt key in one service, which
/// `docker compose config` would refuse, fails it too, and it names the key.
#[test]
fn the_schema_check_rejects_what_docker_compose_would() {
    let Some(checker) = check_jsonschema() else {
        return;
    };
    let text = read(COMPOSE);
    let broken = replace_once(&text, "\n    healthcheck:\n", "\n    healthchek:\n");
    let dir = Scratch::new("compose");
    let copy = dir.path().join("docker-compose.yml");
    std::fs::write(&copy, broken).expect("write the broken copy");
    let (ok, printed) = validate(&checker, &copy);
    assert!(
        !ok,
        "check-jsonschema accepted a service with a `healthchek` key:\n{printed}"
    );
    assert!(
        printed.contains("healthchek"),
        "check-jsonschema's complaint does not name the bad key:\n{printed}"
    );
}

/// `docker compose` stops on a `${NAME}` or `${NAME:?...}` that has no value,
/// so each of them must be in `.env.example`, which operators copy; and
/// every entry there (set or commented out) must be one the file reads.
#[test]
fn env_example_defines_every_variable_the_compose_file_needs() {
    let compose = read(COMPOSE);
    let references = variable_references(&compose);
    let env = read(ENV_EXAMPLE);
    let defined = env_keys(&env, false);
    let missing: BTreeSet<&str> = references
        .iter()
        .filter(|r| r.required && !defined.contains(&r.name))
        .map(|r| r.name.as_str())
        .collect();
    assert!(
        missing.is_empty(),
        "{COMPOSE} needs these variables without a default, but {ENV_EXAMPLE} does not set them: {missing:?}"
    );

    let used: BTreeSet<&str> = references.iter().map(|r| r.name.as_str()).collect();
    let stale: Vec<String> = env_keys(&env, true)
        .into_iter()
        .filter(|k| !used.contains(k.as_str()))
        .collect();
    assert!(
        stale.is_empty(),
        "{ENV_EXAMPLE} lists variables {COMPOSE} never reads: {stale:?}"
    );
}

/// Every host path the compose file mounts or builds from is in the
/// repository (relative paths are the compose file's directory's).
#[test]
fn every_file_the_compose_file_mounts_exists() {
    let compose = read(COMPOSE);
    let dir = root().join(COMPOSE).parent().unwrap().to_path_buf();
    let mut checked = 0;
    let mut missing = Vec::new();
    for source in relative_sources(&compose) {
        checked += 1;
        if !dir.join(&source).exists() {
            missing.push(source);
        }
    }
    assert!(
        checked >= 8,
        "found only {checked} relative paths in {COMPOSE}: the scan is broken"
    );
    assert!(
        missing.is_empty(),
        "{COMPOSE} mounts or builds from paths that do not exist (relative to deploy/docker): {missing:?}"
    );
    // The build reads deploy/docker/Dockerfile.dockerignore beside the
    // Dockerfile: without it, target/ and .git would be sent to the builder.
    let ignore = root().join("deploy/docker/Dockerfile.dockerignore");
    assert!(ignore.exists(), "{} is missing", ignore.display());
}

/// nginx-compose.conf declares every upstream production's locations pass
/// to, each of its upstream servers is a service of the compose file, and
/// every file it includes is mounted where it includes it from.
#[test]
fn nginx_compose_conf_matches_the_locations_and_the_services() {
    let conf = read(NGINX_COMPOSE);
    let locations = read(NGINX_LOCATIONS);
    let compose = read(COMPOSE);
    let services = compose_services(&compose);
    assert!(
        services.contains("nginx") && services.contains("reservation-api"),
        "the service scan of {COMPOSE} is broken: {services:?}"
    );

    let upstreams = words_after(&conf, "upstream");
    let passed_to: BTreeSet<String> = locations
        .lines()
        .filter_map(|l| l.trim().strip_prefix("proxy_pass http://"))
        .map(|rest| rest.trim_end_matches(';').to_string())
        .collect();
    assert!(!passed_to.is_empty(), "no proxy_pass in {NGINX_LOCATIONS}");
    for name in &passed_to {
        assert!(
            upstreams.contains(name),
            "{NGINX_LOCATIONS} passes to upstream {name}, which {NGINX_COMPOSE} does not declare"
        );
    }

    let servers = words_after(&conf, "server");
    assert!(!servers.is_empty(), "no upstream server in {NGINX_COMPOSE}");
    for server in &servers {
        let host = server.split(':').next().unwrap_or(server);
        assert!(
            services.contains(host),
            "{NGINX_COMPOSE} proxies to {server}, but {COMPOSE} has no service {host}"
        );
    }

    for include in words_after(&conf, "include") {
        let Some(file) = include.strip_prefix("/etc/nginx/ticketon/") else {
            continue;
        };
        let mount = format!("../nginx/{file}:{include}:ro");
        assert!(
            compose.contains(&mount),
            "{NGINX_COMPOSE} includes {include}, but {COMPOSE} does not mount deploy/nginx/{file} there ({mount})"
        );
    }
}

// --- The schema check --------------------------------------------------------------------------

/// check-jsonschema's path from `.ci/check-jsonschema.sh`, which installs it
/// into a venv under the cache when missing. `None` once the test has been
/// reported skipped (no python3 or no PyPI on a developer's machine); under
/// `CI=true` (`test_env::services_required`) a missing checker panics.
fn check_jsonschema() -> Option<PathBuf> {
    ci_tool("check-jsonschema", ".ci/check-jsonschema.sh", &[])
}

/// Runs the Compose Specification's schema (vendored in check-jsonschema:
/// no network) on `file`: whether it passed, and everything it printed.
fn validate(checker: &Path, file: &Path) -> (bool, String) {
    let out = Command::new(checker)
        .args([
            "--builtin-schema",
            "vendor.compose-spec",
            "--color",
            "never",
        ])
        .arg(file)
        .output()
        .unwrap_or_else(|e| panic!("running {}: {e}", checker.display()));
    let printed = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), printed)
}

// --- Reading the files as text (the root package has no YAML parser) ---------------------------

/// One `${NAME...}` or `$NAME` the compose file interpolates.
#[derive(Debug)]
struct Reference {
    name: String,
    /// No default: `${NAME}`, `$NAME`, `${NAME:?msg}`, `${NAME?msg}`. With
    /// `${NAME:-x}`, `${NAME-x}`, `${NAME:+x}` or `${NAME+x}` an unset NAME
    /// is fine.
    required: bool,
}

/// The interpolations of a compose file, comments left out. `$$` is a
/// literal `$` (for a shell in the container), so a reference starts only
/// after an odd run of `$`.
fn variable_references(text: &str) -> Vec<Reference> {
    let mut found = Vec::new();
    for line in text.lines() {
        let line = strip_comment(line);
        let bytes = line.as_bytes();
        let mut i = 0;
        while i < bytes.len() {
            if bytes[i] != b'$' {
                i += 1;
                continue;
            }
            let run = bytes[i..].iter().take_while(|&&b| b == b'$').count();
            i += run;
            if run % 2 == 0 {
                continue;
            }
            let braced = bytes.get(i) == Some(&b'{');
            let start = if braced { i + 1 } else { i };
            let end = start
                + bytes[start..]
                    .iter()
                    .take_while(|b| b.is_ascii_alphanumeric() || **b == b'_')
                    .count();
            if end == start {
                continue;
            }
            let name = line[start..end].to_string();
            let required = if braced {
                let rest = &line[end..];
                let rest = rest.strip_prefix(':').unwrap_or(rest);
                !(rest.starts_with('-') || rest.starts_with('+'))
            } else {
                true
            };
            found.push(Reference { name, required });
            i = end;
        }
    }
    found
}

/// A YAML line without its comment: `#` at the start or after whitespace.
/// (Not quote-aware; the compose file has no ` #` inside a value.)
fn strip_comment(line: &str) -> &str {
    let bytes = line.as_bytes();
    for (i, &b) in bytes.iter().enumerate() {
        if b == b'#' && (i == 0 || bytes[i - 1] == b' ' || bytes[i - 1] == b'\t') {
            return &line[..i];
        }
    }
    line
}

/// The names an env file sets (`NAME=value`), and with `commented` also the
/// ones it documents as `#NAME=value`.
fn env_keys(text: &str, commented: bool) -> BTreeSet<String> {
    text.lines()
        .map(str::trim)
        .filter_map(|l| match l.strip_prefix('#') {
            Some(rest) if commented => Some(rest),
            Some(_) => None,
            None => Some(l),
        })
        .filter_map(|l| l.split_once('='))
        .map(|(name, _)| name.trim())
        .filter(|name| {
            !name.is_empty()
                && name
                    .bytes()
                    .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_')
        })
        .map(String::from)
        .collect()
}

/// Relative host paths of the compose file: volume sources (`- ./x:/y`,
/// `- ../x:/y:ro`), and the build's context and Dockerfile.
fn relative_sources(text: &str) -> Vec<String> {
    let mut sources = Vec::new();
    let mut context = None;
    for line in text.lines().map(strip_comment).map(str::trim) {
        if let Some(item) = line.strip_prefix("- ") {
            let item = item.trim_matches('"');
            if item.starts_with("./") || item.starts_with("../") {
                if let Some((source, _)) = item.split_once(':') {
                    sources.push(source.to_string());
                }
            }
        } else if let Some(dir) = line.strip_prefix("context:") {
            context = Some(dir.trim().to_string());
            sources.push(dir.trim().to_string());
        } else if let Some(file) = line.strip_prefix("dockerfile:") {
            let context = context.clone().unwrap_or_else(|| ".".into());
            sources.push(format!("{context}/{}", file.trim()));
        }
    }
    sources
}

/// The service names of a compose file: the keys indented by two spaces
/// under the top-level `services:`.
fn compose_services(text: &str) -> BTreeSet<String> {
    let mut services = BTreeSet::new();
    let mut inside = false;
    for line in text.lines() {
        if !line.starts_with(' ') && !line.trim().is_empty() && !line.starts_with('#') {
            inside = line.trim_end() == "services:";
            continue;
        }
        if !inside {
            continue;
        }
        if let Some(key) = line.strip_prefix("  ") {
            if !key.starts_with(' ') && !key.starts_with('#') {
                if let Some(name) = key.trim_end().strip_suffix(':') {
                    services.insert(name.to_string());
                }
            }
        }
    }
    services
}

/// The word after each `directive` that starts a line of an nginx file
/// (comments left out), without its `;`.
fn words_after(conf: &str, directive: &str) -> BTreeSet<String> {
    conf.lines()
        .map(|l| l.split('#').next().unwrap_or("").trim())
        .filter_map(|l| l.strip_prefix(directive)?.strip_prefix(' '))
        .filter_map(|rest| rest.split_whitespace().next())
        .map(|w| w.trim_end_matches(';').to_string())
        .filter(|w| !w.is_empty() && w != "{")
        .collect()
}

fn replace_once(text: &str, from: &str, to: &str) -> String {
    assert!(text.contains(from), "{from:?} not found");
    text.replacen(from, to, 1)
}

fn read(relative: &str) -> String {
    let path = root().join(relative);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
}

/// The text scanners above, on small inputs.
mod scanner {
    use super::*;

    #[test]
    fn references_tell_defaults_from_requirements() {
        let refs = variable_references(
            "a: ${A}\nb: ${B:?say}\nc: ${C:-x} ${D-y} ${E:+z}\nd: $$F $$${G} $H\n# ${I}\ne: x # ${J}\n",
        );
        let got: Vec<(&str, bool)> = refs.iter().map(|r| (r.name.as_str(), r.required)).collect();
        assert_eq!(
            got,
            [
                ("A", true),
                ("B", true),
                ("C", false),
                ("D", false),
                ("E", false),
                ("G", true),
                ("H", true),
            ]
        );
    }

    #[test]
    fn env_keys_and_sources() {
        let env = "# comment\nA=1\nB=\n#C=3\n# D is nice = yes\n";
        assert_eq!(
            env_keys(env, false),
            BTreeSet::from(["A".into(), "B".into()])
        );
        assert!(env_keys(env, true).contains("C"));
        let compose = "    build:\n      context: ../..\n      dockerfile: deploy/docker/Dockerfile\n    volumes:\n      - ./x.conf:/etc/x.conf:ro\n      - data:/data\n";
        assert_eq!(
            relative_sources(compose),
            ["../..", "../../deploy/docker/Dockerfile", "./x.conf"]
        );
    }
}
