//! The commands an operator runs, through the binary or the library: `dlq`, `replay`, `links`,
//! `tenant`, `full-sync` and `push-all`. (`config check`, `--help` and `register-webhooks` are
//! black-box tests in the top-level `tests/e2e`.)

mod full_sync;
mod ops_cli;
mod push_all;
