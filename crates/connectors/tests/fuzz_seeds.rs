//! Runs the connectors' fuzz entry function (every vendor client decoding canned answers served
//! over loopback HTTP) over its committed seeds (`fuzz/corpus/vendor_response/seed-*`), so the
//! fuzz target keeps compiling and its invariants keep holding in CI. The long fuzz runs are
//! `deploy/local/fuzz.sh`.

#[path = "../../../fuzz/src/connectors.rs"]
mod entries;
#[path = "../../../fuzz/src/seeds.rs"]
mod seeds;

#[test]
fn vendor_response_seeds() {
    seeds::replay(
        env!("CARGO_MANIFEST_DIR"),
        "vendor_response",
        entries::vendor_response,
    );
}
