//! keyless-emulator: a local Azure built from the official REST specifications and the
//! documented behaviours (`shared/azure-specs`, `shared/azure-behavior.md`), never from keyless's code.
//!
//! Layout (moto style): `model/` holds each service's *state and rules* as plain data and pure
//! functions; `services/` holds the *HTTP handling* that parses requests, calls the rules and
//! renders Azure-shaped responses. `server` owns TLS, the accept loop, the request log, faults and
//! throttling; `router` maps a request to a service.

pub mod http;
pub mod model;
pub mod services;
pub mod ctx;
