//! The error tables of proto-notes/reservation-api.md say what the code
//! does: every code the API can answer with is documented, under the status
//! the HTTP edge gives it, and no documented code is unknown to the code.

use std::collections::BTreeMap;

use reservation_api::error::ErrorCode;
use reservation_api::http::error::status_of;

/// `code → status` from every row `| 409 | `a`, `b` | ... |` of the notes.
fn documented() -> BTreeMap<String, u16> {
    let notes = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../proto-notes/reservation-api.md"
    ))
    .expect("proto-notes/reservation-api.md");
    let mut codes = BTreeMap::new();
    for line in notes.lines() {
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        let (Some(status), Some(names)) = (cells.get(1), cells.get(2)) else {
            continue;
        };
        let Ok(status) = status.parse::<u16>() else {
            continue;
        };
        for name in names.split('`').skip(1).step_by(2) {
            if name.bytes().all(|b| b.is_ascii_lowercase() || b == b'_') {
                let before = codes.insert(name.to_string(), status);
                assert!(
                    before.is_none_or(|s| s == status),
                    "{name} documented under two statuses"
                );
            }
        }
    }
    codes
}

#[test]
fn every_code_is_documented_under_its_status() {
    let documented = documented();
    for code in ErrorCode::ALL {
        let status = status_of(*code).as_u16();
        assert_eq!(
            documented.get(code.as_str()),
            Some(&status),
            "{code} answers {status}: document it in proto-notes/reservation-api.md's error tables"
        );
    }
    let known: Vec<&str> = ErrorCode::ALL.iter().map(|c| c.as_str()).collect();
    for name in documented.keys() {
        assert!(
            known.contains(&name.as_str()),
            "{name} is documented but no ErrorCode has it"
        );
    }
}
