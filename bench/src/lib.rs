//! What the benchmark binaries share as a library: the flash-sale
//! simulator, which the test suite also runs (small) to check the
//! platform's promises end to end.

pub mod flash_sale;
