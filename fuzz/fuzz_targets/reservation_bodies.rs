//! The bodies the reservation-api parses: an event, a hold, a status, a
//! payment. Refused with an error or accepted, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use reservation_api::http::dto::{parse_json, CreateEventBody, HoldBody, StatusBody};
use reservation_api::http::payment_dto::PayBody;

fuzz_target!(|data: &[u8]| {
    if let Ok(event) = parse_json::<CreateEventBody>(data) {
        let _ = event.into_new_event();
    }
    let _ = parse_json::<HoldBody>(data);
    let _ = parse_json::<StatusBody>(data);
    let _ = parse_json::<PayBody>(data);
});
