//! Structured ConnectWise target: a callback built from arbitrary parts, signed with the real key
//! or a forger's, so the code behind the signature check is reached on most inputs.
#![no_main]

use libfuzzer_sys::fuzz_target;
use syncbridge_fuzz::webhooks::{connectwise_signed, CallbackParts};

fuzz_target!(|parts: CallbackParts<'_>| connectwise_signed(&parts));
