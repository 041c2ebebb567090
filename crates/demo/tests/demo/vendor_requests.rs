//! What the benchmarks measure, held as facts a test can check (counts, never wall-clock): an
//! onboarding of records IT Glue already documents reads IT Glue per listing page, not per record,
//! and an unchanged full sync publishes nothing; a PSA edit costs at most one PSA read, one IT
//! Glue read and the write it needs, and the IT Glue poll of our own write costs no read.

use syncbridge_demo::bench_edits::measure_edits;
use syncbridge_demo::bench_onboarding::measure_onboarding;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_onboarding_of_documented_records_reads_listings_not_records() {
    let m = measure_onboarding(100, 8, 42).await.unwrap();
    assert!(
        m.linked_from_listings > 0 && m.events * 10 <= m.linked_from_listings,
        "records in scope agree already and are linked from the listings: {m:?}"
    );
    assert!(
        m.itglue.record_reads <= m.events,
        "at most one IT Glue record read per event, none per record linked from the listings: {m:?}"
    );
    assert!(
        m.itglue_reads_per_record() <= 0.02,
        "IT Glue reads per record: {m:?}"
    );
    assert_eq!(
        m.unchanged_events, 0,
        "an unchanged full sync publishes nothing: {m:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_edit_costs_one_read_per_side_and_its_write() {
    let costs = measure_edits(3, 42).await.unwrap();
    let psa = costs.psa_edits;
    assert_eq!(psa.edits, 3);
    assert!(
        psa.psa.record_reads <= psa.edits,
        "PSA reads per PSA edit: {psa:?}"
    );
    assert!(
        psa.itglue.record_reads <= psa.edits,
        "IT Glue reads per PSA edit: {psa:?}"
    );
    assert_eq!(
        psa.itglue.writes, psa.edits,
        "one IT Glue write per PSA edit: {psa:?}"
    );
    assert_eq!(
        psa.psa.writes, 0,
        "nothing written back to the PSA: {psa:?}"
    );
    let itg = costs.itglue_edits;
    assert_eq!(
        itg.psa.writes, itg.edits,
        "one PSA write per IT Glue edit (two-way): {itg:?}"
    );
    assert_eq!(
        itg.itglue.writes, 0,
        "nothing written back to IT Glue: {itg:?}"
    );
}

/// The latency benchmark's run at a low rate: every edit a person makes in the PSA reaches IT
/// Glue (its figures are the benchmark's; here only that nothing is lost on the way).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_edit_of_the_latency_benchmark_reaches_itglue() {
    let rows = syncbridge_demo::bench_latency::measure_latency(&[20], 8, 42)
        .await
        .unwrap();
    assert_eq!(rows[0].edits, 80, "{rows:?}");
}
