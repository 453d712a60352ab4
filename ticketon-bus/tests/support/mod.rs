//! Shared by the bus tests: a broker the test owns (or the one in
//! `TICKETON_KAFKA_BROKERS`), and scenarios that run unchanged against the
//! in-process bus and Kafka, because the point is that both behave alike.

#![allow(dead_code)] // each test binary uses a different part

pub(crate) mod scenarios;
