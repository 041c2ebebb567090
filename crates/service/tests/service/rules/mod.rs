//! The sync rules of DESIGN §3 end to end: each test starts the running product on simulated
//! vendors for one tenant, makes the change a person would make at a vendor, and reads the result
//! back through the vendors' APIs, the link store and the audit stream. docs/rules.md maps each rule
//! to its tests.

mod e2e_rules;
mod e2e_rules_more;
mod refused_writes;
