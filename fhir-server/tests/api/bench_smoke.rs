//! The benchmark harness (`bench/`, `fhir-bench`) in its smoke configuration against this
//! binary on SQLite and PostgreSQL: tiny data, sub-second loads. It checks that every workload
//! works and that the report is written, not the speed (nothing here depends on timing).

use std::path::Path;

use fhir_bench::results::TargetResults;
use fhir_bench::run::{RunConfig, run};
use fhir_bench::target::{Launch, Target};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_benchmark_harness_runs_every_workload_and_writes_the_report() {
    let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("../bench/data/synthea-smoke");
    let launch = Launch {
        ours_bin: env!("CARGO_BIN_EXE_fhir-server").into(),
        hfs_bin: "hfs".into(),
        hfs_data_dir: ".".into(),
        postgres_url: Some(fhir_core::testing::server_url()),
        ours_sqlite_synchronous: "normal".to_owned(),
    };
    let targets = vec![
        Target::parse("ours-sqlite").unwrap(),
        Target::parse("ours-postgres").unwrap(),
    ];
    let config = RunConfig::smoke(targets, launch, data);
    let results = run(&config).await.unwrap();
    assert_eq!(results.targets.len(), 2);
    let expected: usize = results.settings.synthea_resources;
    assert_eq!(
        expected, 990,
        "the smoke data: 2 patient bundles and the shared ones"
    );
    for t in &results.targets {
        check_target(t, expected);
    }

    // Both backends hold the same data: every query must count the same on both.
    let (sqlite, postgres) = (&results.targets[0], &results.targets[1]);
    for q in &sqlite.queries {
        let other = postgres.queries.iter().find(|o| o.name == q.name).unwrap();
        assert_eq!(
            (q.count, q.included),
            (other.count, other.included),
            "{}: SQLite and PostgreSQL differ",
            q.name
        );
    }
    for s in &sqlite.series {
        let other = postgres.series.iter().find(|o| o.name == s.name).unwrap();
        assert_eq!(s.total, other.total, "series {}", s.name);
    }

    let out = tempfile::tempdir().unwrap();
    let markdown = out.path().join("BENCHMARKS.md");
    let plots = out.path().join("plots");
    fhir_bench::report::write(
        &results,
        &markdown,
        &plots,
        Some("## Notes\n\nhand-written"),
    )
    .unwrap();
    let text = std::fs::read_to_string(&markdown).unwrap();
    for heading in [
        "## Against the targets",
        "## Import",
        "## Read and vread",
        "## CRUD mix",
        "## Searches, includes, $everything and history",
        "## Search series",
        "## Memory",
        "## Result counts compared",
        "## Notes",
    ] {
        assert!(text.contains(heading), "no {heading:?} in the report");
    }
    assert!(
        text.contains("differ in their counts") && !text.contains("\n| query | counts"),
        "the two backends' counts agree, so the report lists no difference"
    );
    for plot in ["import.svg", "read.svg", "queries.svg"] {
        let svg = std::fs::read_to_string(plots.join(plot)).unwrap();
        assert!(
            svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"),
            "{plot}"
        );
        assert!(text.contains(&format!("plots/{plot}")), "{plot} is linked");
    }
}

fn check_target(t: &TargetResults, expected: usize) {
    assert!(t.failures.is_empty(), "{}: {:?}", t.name, t.failures);
    let import = &t.import[0];
    assert_eq!((import.resources, import.failed_entries), (expected, 0));
    assert!(t.idle_rss_empty_mb > 0.0 && import.peak_rss_mb > 0.0);
    let seed = t.seed.as_ref().unwrap();
    assert_eq!((seed.patients, seed.failed), (600, 0));
    for r in t.read.iter().chain(&t.vread) {
        assert!(r.stats.ok > 0 && r.stats.errors == 0, "{}: {r:?}", t.name);
    }
    assert_eq!(t.read.len(), 2);
    for q in &t.queries {
        assert!(
            q.stats.ok > 0 && q.stats.errors == 0 && q.count.is_some(),
            "{}: {q:?}",
            t.name
        );
    }
    let count = |name: &str| {
        t.queries
            .iter()
            .find(|q| q.name == name)
            .unwrap_or_else(|| panic!("no query {name}"))
            .count
    };
    // Values the generated data fixes: one Patient per MRN, nobody named Nonexistentname.
    assert_eq!(count("identifier"), Some(1));
    assert_eq!(count("name (no such name)"), Some(0));
    assert!(count("birthdate range&gender").unwrap() > 0);
    let everything = t.queries.iter().find(|q| q.group == "everything").unwrap();
    assert!(everything.count.unwrap() > 2, "{everything:?}");
    for s in &t.series {
        assert!(s.error.is_none(), "{}: {s:?}", t.name);
        assert_eq!(s.total, Some(s.fetched), "{}: {}", t.name, s.name);
    }
    let mix = t.search_mix.as_ref().unwrap();
    assert!(mix.stats.ok > 0 && mix.stats.errors == 0, "{mix:?}");
    let crud = &t.crud[0];
    for (op, s) in [
        ("create", &crud.create),
        ("read", &crud.read),
        ("vread", &crud.vread),
        ("update", &crud.update),
        ("delete", &crud.delete),
    ] {
        assert!(s.ok > 0, "{}: no CRUD {op}", t.name);
    }
    assert_eq!(crud.all.errors, 0, "{crud:?}");
}
