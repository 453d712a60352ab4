//! The queue-server: Ticketon's waiting room. See ARCHITECTURE.md for the map.

pub mod model;
