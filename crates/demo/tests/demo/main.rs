//! `syncbridge-demo` as a user runs it: the demo converges and prints its summary, Ctrl-C stops it
//! cleanly ([`run`]); the simulators run in a process of their own ([`sim`]).

mod run;
mod sim;
mod vendor_requests;
