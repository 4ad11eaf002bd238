//! ARM HTTP handling: api-version checks, RBAC on every call, resource handlers.
