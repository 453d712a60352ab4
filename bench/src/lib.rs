//! What the benchmark binaries share as a library: the flash-sale
//! simulator, which the test suite also runs (small) to check the
//! platform's promises end to end, a scratch MariaDB database, the
//! statistics they report, and the independent check of a pre-queue draw.

pub mod draw_verify;
pub mod faults;
pub mod flash_sale;
pub mod scratch_db;
pub mod stats;
