//! The simulators over real HTTP, one module per vendor: each answers with the vendor's shapes,
//! pages, filters and refusals as docs/vendors.md describes them, and the seed generator loads the
//! same data set into all of them.

mod autotask;
mod common;
mod connectwise;
mod itglue;
mod kaseya_bms;
mod requests;
mod seed;
mod tigerpaw;
