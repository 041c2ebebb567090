//! The connectors against the simulators over real HTTP, through their public API: one contract
//! every vendor's client keeps ([`contract`]), lookups, webhook registration, resilience under
//! faults, secrets that never print, and a test per finding of the vendor audit
//! (`audit_<vendor>`, named after the finding: docs/vendors.md's last table).

mod audit_autotask;
mod audit_bms;
mod audit_connectwise;
mod audit_itglue;
mod audit_tigerpaw;
mod check_before_write;
mod common;
mod contract;
mod lookups;
mod registration;
mod resilience;
mod secrets;
