//! The sync rules of DESIGN §3, one module per rule family, each rule with a named test and a
//! negative twin (the same scenario one condition away, where the rule must not fire).
//! docs/rules.md maps every rule to its tests.

mod common;

mod contacts;
mod creation;
mod echo_and_shadow;
mod matching;
mod merge;
mod onboard;
mod orphans;
mod reconcile;
mod scope;
mod two_way;
