//! HTTP handling of each emulated service.

pub mod arm;
