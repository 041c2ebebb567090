//! Runs the configuration loader's fuzz entry functions (`syncbridge::config`) over their
//! committed seeds (`fuzz/corpus/<target>/seed-*`), so the fuzz targets keep compiling and their
//! invariants keep holding in CI. It lives here, in a crate that depends on the service, because
//! the service's own tests directory is the end-to-end suite's. The long fuzz runs are
//! `deploy/local/fuzz.sh`.

#[path = "../../../fuzz/src/config.rs"]
mod entries;
#[path = "../../../fuzz/src/seeds.rs"]
mod seeds;

#[test]
fn configuration_seeds() {
    seeds::replay(
        env!("CARGO_MANIFEST_DIR"),
        "config_toml",
        entries::config_toml,
    );
}

#[test]
fn duration_and_budget_seeds() {
    seeds::replay(env!("CARGO_MANIFEST_DIR"), "durations", entries::durations);
}
