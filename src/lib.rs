//! keyless: declarative, keyless (Entra ID) access to Azure OpenAI.
//!
//! Data flows one way: `manifest -> desired`, `azure -> observe -> actual`,
//! `plan(desired, actual) -> Plan`, `apply(Plan) -> events`, `verify(desired) -> report`.

pub mod manifest;
pub mod azure;
pub mod cloud;
pub mod model;
pub mod plan;
pub mod observe;
pub mod output;
pub mod apply;
pub mod verify;
pub mod resolve;
pub mod cli;
