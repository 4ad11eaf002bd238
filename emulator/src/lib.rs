//! keyless-emulator: a local Azure built from the official REST specifications and the
//! documented behaviours (`shared/azure-specs`, `shared/azure-behavior.md`), never from keyless's code.
//!
//! Layout (moto style): `model/` holds each service's *state and rules* as plain data and pure
//! functions; `services/` holds the *HTTP handling* that parses requests, calls the rules and
//! renders Azure-shaped responses. `server` owns TLS, the accept loop, the request log, faults and
//! throttling; `router` maps a request to a service.

pub mod auth;
pub mod ctx;
pub mod faults;
pub mod http;
pub mod model;
pub mod observe;
pub mod persist;
pub mod router;
pub mod server;
pub mod services;
pub mod throttle;
pub mod timefmt;
pub mod tls;
pub mod tokens;
pub mod world;

pub mod cli;
pub mod start;

pub use start::{Emulator, EmulatorConfig, RunningEmulator, StartError};
