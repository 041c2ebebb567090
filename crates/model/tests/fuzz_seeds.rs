//! Runs the model's fuzz entry functions (dates, identifiers) over their committed seeds
//! (`fuzz/corpus/<target>/seed-*`), so the fuzz targets keep compiling and their invariants keep
//! holding in CI. The long fuzz runs are `deploy/local/fuzz.sh`.

#[path = "../../../fuzz/src/model.rs"]
mod entries;
#[path = "../../../fuzz/src/seeds.rs"]
mod seeds;

#[test]
fn date_seeds() {
    seeds::replay(env!("CARGO_MANIFEST_DIR"), "dates", entries::dates);
}

#[test]
fn identifier_seeds() {
    seeds::replay(env!("CARGO_MANIFEST_DIR"), "ids", entries::ids);
}
