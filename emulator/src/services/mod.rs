//! HTTP handling of each emulated service.

pub mod admin;
pub mod arm;
pub mod dataplane;
pub mod entra;
pub mod graph;
pub mod msi;
