//! keyless: declarative, keyless (Entra ID) access to Azure OpenAI.
//!
//! Data flows one way: `manifest -> desired`, `azure -> observe -> actual`,
//! `plan(desired, actual) -> Plan`, `apply(Plan) -> events`, `verify(desired) -> report`; the
//! [`engine`] runs that loop for one or many manifests, and [`cli`] renders it.

pub mod apply;
pub mod azure;
pub mod cli;
pub mod cloud;
pub mod engine;
pub mod manifest;
pub mod model;
pub mod observe;
pub mod plan;
pub mod resolve;
pub mod verify;
