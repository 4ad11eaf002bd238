//! Everything that talks to Azure: credentials, the transport, retries and pacing, the ARM
//! clients (azure_mgmt_*), Microsoft Graph lookups and data-plane probes.

pub mod arm;
pub mod credential;
pub mod error;
pub mod graph;
pub mod pacer;
pub mod retry;
pub mod session;
pub mod transport;
