//! The engine's tests through its public API, no network anywhere: the rules one module per
//! family ([`rules`], mapped rule by rule in docs/rules.md), the properties of `decide` driven as a
//! state machine over two simulated sides ([`properties`]), and the purity invariant ([`purity`]).

mod properties;
mod purity;
mod rules;
