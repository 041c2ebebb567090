//! The commands an operator runs, through the binary or the library: `config check`, `dlq`,
//! `replay`, `links`, `tenant`, `register-webhooks`, `full-sync` and `push-all`.

mod cli;
mod cli_sync;
mod full_sync;
mod ops_cli;
mod push_all;
