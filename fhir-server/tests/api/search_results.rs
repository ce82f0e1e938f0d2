//! Result controls: `_sort`, `_count` and paging links (keyset cursors that stay valid while the
//! data changes), `_total`, `_summary`, `_elements`, `_include` / `_revinclude` (with
//! `:iterate` and `*`), and the entry search modes.

use serde_json::{Value, json};

use crate::helpers::{Backend, TestApp};
use crate::search_helpers::{
    all_pages, entries_with_mode, get_bundle, link, match_ids, match_ids_in_order, put,
    refs_with_mode, search,
};

crate::on_both_backends!(
    sort_by_one_and_several_keys,
    count_and_links_page_through_everything,
    paging_survives_concurrent_creates,
    total_modes_and_summary_count,
    summary_and_elements_shape_entries,
    include_and_revinclude,
    include_iterate_and_wildcard,
    entries_have_full_urls_and_modes,
);

/// s1 Carter f 1980, s2 Adams m 1990, s3 Baker f 1970, s4 Evans m 1985, s5 Davis f 1995, all
/// tagged "sort"; u1 untagged.
async fn seed_sortable(app: &TestApp) {
    for (id, family, gender, birth) in [
        ("s1", "Carter", "female", "1980-01-01"),
        ("s2", "Adams", "male", "1990-01-01"),
        ("s3", "Baker", "female", "1970-01-01"),
        ("s4", "Evans", "male", "1985-01-01"),
        ("s5", "Davis", "female", "1995-01-01"),
    ] {
        put(
            app,
            &format!("Patient/{id}"),
            json!({
                "meta": {"tag": [{"code": "sort"}]},
                "name": [{"family": family}],
                "gender": gender,
                "birthDate": birth
            }),
        )
        .await;
    }
    put(
        app,
        "Patient/u1",
        json!({"name": [{"family": "Untagged"}], "gender": "male", "birthDate": "2000-01-01"}),
    )
    .await;
}

async fn order(app: &TestApp, query: &str) -> Vec<String> {
    match_ids_in_order(&search(app, query).await)
}

async fn sort_by_one_and_several_keys(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    seed_sortable(&app).await;
    assert_eq!(
        order(&app, "Patient?_tag=sort&_sort=family").await,
        ["s2", "s3", "s1", "s5", "s4"]
    );
    assert_eq!(
        order(&app, "Patient?_tag=sort&_sort=-family").await,
        ["s4", "s5", "s1", "s3", "s2"]
    );
    assert_eq!(
        order(&app, "Patient?_tag=sort&_sort=-birthdate").await,
        ["s5", "s2", "s4", "s1", "s3"]
    );
    assert_eq!(
        order(&app, "Patient?_tag=sort&_sort=birthdate").await,
        ["s3", "s1", "s4", "s2", "s5"]
    );
    // Several keys: gender ascending (female < male), then birth date descending.
    assert_eq!(
        order(&app, "Patient?_tag=sort&_sort=gender,-birthdate").await,
        ["s5", "s1", "s3", "s2", "s4"]
    );
    assert_eq!(
        order(&app, "Patient?_tag=sort&_sort=-_id").await,
        ["s5", "s4", "s3", "s2", "s1"]
    );
    assert_eq!(
        order(&app, "Patient?_tag=sort&_sort=_id").await,
        ["s1", "s2", "s3", "s4", "s5"]
    );
    // _lastUpdated: the order of the writes (s1 … s5), then update s1 so it is last.
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    put(
        &app,
        "Patient/s1",
        json!({
            "meta": {"tag": [{"code": "sort"}]},
            "name": [{"family": "Carter"}],
            "gender": "female",
            "birthDate": "1980-01-01"
        }),
    )
    .await;
    assert_eq!(
        order(&app, "Patient?_tag=sort&_sort=-_lastUpdated").await[0],
        "s1"
    );
    // Sorting with paging: pages continue the sort order.
    let (ids, pages) = all_pages(&app, "Patient?_tag=sort&_sort=family&_count=2").await;
    assert_eq!(ids, ["s2", "s3", "s1", "s5", "s4"]);
    assert_eq!(pages, 3);
    let (ids, _) = all_pages(&app, "Patient?_tag=sort&_sort=-birthdate&_count=2").await;
    assert_eq!(ids, ["s5", "s2", "s4", "s1", "s3"]);
    // Ties are broken consistently (by id) so that paging neither repeats nor skips: three
    // females and two males, sorted by gender only, one per page.
    let (ids, _) = all_pages(&app, "Patient?_tag=sort&_sort=gender&_count=1").await;
    assert_eq!(ids.len(), 5);
    let (females, males) = ids.split_at(3);
    let mut females = females.to_vec();
    females.sort();
    let mut males = males.to_vec();
    males.sort();
    assert_eq!(females, ["s1", "s3", "s5"]);
    assert_eq!(males, ["s2", "s4"]);
}

async fn count_and_links_page_through_everything(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    seed_sortable(&app).await;
    let first = search(&app, "Patient?_tag=sort&_count=2").await;
    assert_eq!(match_ids(&first).len(), 2);
    assert!(link(&first, "self").is_some(), "{first}");
    assert!(link(&first, "first").is_some(), "{first}");
    assert!(link(&first, "previous").is_none(), "{first}");
    let next = link(&first, "next").expect("next");
    assert!(next.starts_with(&app.base), "{next}");
    // Page links are opaque cursors, not offsets.
    assert!(next.contains("_cursor="), "{next}");
    assert!(!next.contains("_offset"), "{next}");

    let second = get_bundle(&app, &next).await;
    assert_eq!(match_ids(&second).len(), 2);
    // previous from page two gives page one again; first gives page one.
    let previous = link(&second, "previous").expect("previous");
    assert_eq!(
        match_ids(&get_bundle(&app, &previous).await),
        match_ids(&first)
    );
    let first_again = link(&second, "first").expect("first");
    assert_eq!(
        match_ids(&get_bundle(&app, &first_again).await),
        match_ids(&first)
    );
    // self gives the same page again.
    let itself = link(&second, "self").expect("self");
    assert_eq!(
        match_ids(&get_bundle(&app, &itself).await),
        match_ids(&second)
    );

    let third = get_bundle(&app, &link(&second, "next").expect("next")).await;
    assert_eq!(match_ids(&third).len(), 1);
    assert!(link(&third, "next").is_none(), "{third}");
    // Together: the five tagged patients once each; the filter is kept across pages (no u1).
    let mut all: Vec<String> = [&first, &second, &third]
        .iter()
        .flat_map(|b| match_ids(b))
        .collect();
    all.sort();
    assert_eq!(all, ["s1", "s2", "s3", "s4", "s5"]);
    // The default order is by id.
    let (ids, pages) = all_pages(&app, "Patient?_count=4").await;
    assert_eq!(ids, ["s1", "s2", "s3", "s4", "s5", "u1"]);
    assert_eq!(pages, 2);
    // _count larger than the result: one page, no next.
    let whole = search(&app, "Patient?_tag=sort&_count=50").await;
    assert_eq!(match_ids(&whole).len(), 5);
    assert!(link(&whole, "next").is_none());
    // _count=0: no entries.
    let none = search(&app, "Patient?_tag=sort&_count=0").await;
    assert!(entries_with_mode(&none, "match").is_empty(), "{none}");
    // An empty result is a Bundle with no entries and no next link.
    let empty = search(&app, "Patient?_tag=nothing").await;
    assert!(
        empty["entry"].as_array().is_none_or(|e| e.is_empty()),
        "{empty}"
    );
    assert!(link(&empty, "next").is_none());
}

async fn paging_survives_concurrent_creates(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let original = ["pg-b", "pg-d", "pg-f", "pg-h", "pg-j", "pg-l"];
    let tagged = |gender: &str| json!({"meta": {"tag": [{"code": "page"}]}, "gender": gender});
    for id in original {
        put(&app, &format!("Patient/{id}"), tagged("female")).await;
    }
    let mut seen = Vec::new();
    let mut bundle = search(&app, "Patient?_tag=page&_count=2").await;
    let mut step = 0;
    loop {
        seen.extend(match_ids_in_order(&bundle));
        // Between pages: new resources before, among and after the remaining ones, and an
        // update of one already seen and of one not yet seen.
        step += 1;
        put(&app, &format!("Patient/pg-a{step}"), tagged("male")).await;
        put(&app, &format!("Patient/pg-g{step}"), tagged("male")).await;
        put(&app, &format!("Patient/pg-z{step}"), tagged("male")).await;
        put(&app, "Patient/pg-b", tagged("other")).await;
        put(&app, "Patient/pg-j", tagged("other")).await;
        match link(&bundle, "next") {
            Some(next) => bundle = get_bundle(&app, &next).await,
            None => break,
        }
        assert!(step < 100, "paging does not end");
    }
    let mut unique = seen.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), seen.len(), "a resource came twice: {seen:?}");
    for id in original {
        assert!(seen.contains(&id.to_owned()), "{id} skipped: {seen:?}");
    }
}

async fn total_modes_and_summary_count(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    seed_sortable(&app).await;
    // accurate: the number of matches, not of the page.
    let accurate = search(&app, "Patient?_tag=sort&_total=accurate&_count=2").await;
    assert_eq!(accurate["total"], 5, "{accurate}");
    assert_eq!(match_ids(&accurate).len(), 2);
    // The total stays the same on the next page.
    let next = get_bundle(&app, &link(&accurate, "next").expect("next")).await;
    assert_eq!(next["total"], 5, "{next}");
    // none: no total.
    let none = search(&app, "Patient?_tag=sort&_total=none").await;
    assert!(none.get("total").is_none(), "{none}");
    assert_eq!(match_ids(&none).len(), 5);
    // estimate: a number if present.
    let estimate = search(&app, "Patient?_tag=sort&_total=estimate").await;
    if let Some(total) = estimate.get("total") {
        assert!(total.as_u64().is_some(), "{estimate}");
    }
    // _summary=count: the total and no entries.
    let count = search(&app, "Patient?_tag=sort&_summary=count").await;
    assert_eq!(count["total"], 5, "{count}");
    assert!(
        count["entry"].as_array().is_none_or(|e| e.is_empty()),
        "{count}"
    );
    let all = search(&app, "Patient?_summary=count").await;
    assert_eq!(all["total"], 6);
    let nothing = search(&app, "Patient?_tag=nothing&_summary=count").await;
    assert_eq!(nothing["total"], 0);
    // Included resources do not count.
    put(
        &app,
        "Observation/o1",
        json!({"status": "final", "code": {"text": "x"}, "subject": {"reference": "Patient/s1"}}),
    )
    .await;
    let with_include = search(
        &app,
        "Observation?_include=Observation:subject&_total=accurate",
    )
    .await;
    assert_eq!(with_include["total"], 1, "{with_include}");
}

fn subsetted(resource: &Value) -> bool {
    resource["meta"]["tag"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|t| t["code"] == "SUBSETTED")
}

async fn summary_and_elements_shape_entries(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    put(
        &app,
        "Patient/sh",
        json!({
            "text": {"status": "generated", "div": "<div xmlns=\"http://www.w3.org/1999/xhtml\">Shape</div>"},
            "name": [{"family": "Shape"}],
            "gender": "female",
            "birthDate": "1990-01-01",
            "maritalStatus": {"text": "Married"}
        }),
    )
    .await;
    // _summary=true: summary elements only (maritalStatus and text are not summary), marked
    // SUBSETTED.
    let summary = search(&app, "Patient?_id=sh&_summary=true").await;
    let resource = &summary["entry"][0]["resource"];
    assert_eq!(resource["name"][0]["family"], "Shape", "{resource}");
    assert!(resource.get("maritalStatus").is_none(), "{resource}");
    assert!(resource.get("text").is_none(), "{resource}");
    assert!(subsetted(resource), "{resource}");
    // _summary=text: text, id, meta and mandatory elements.
    let text = search(&app, "Patient?_id=sh&_summary=text").await;
    let resource = &text["entry"][0]["resource"];
    assert!(resource.get("text").is_some(), "{resource}");
    assert!(resource.get("name").is_none(), "{resource}");
    // _summary=data: everything but the text.
    let data = search(&app, "Patient?_id=sh&_summary=data").await;
    let resource = &data["entry"][0]["resource"];
    assert!(resource.get("text").is_none(), "{resource}");
    assert!(resource.get("maritalStatus").is_some(), "{resource}");
    // _elements: only the listed elements (plus id and meta), marked SUBSETTED.
    let elements = search(&app, "Patient?_id=sh&_elements=birthDate,gender").await;
    let resource = &elements["entry"][0]["resource"];
    assert_eq!(resource["id"], "sh");
    assert_eq!(resource["birthDate"], "1990-01-01");
    assert_eq!(resource["gender"], "female");
    assert!(resource.get("name").is_none(), "{resource}");
    assert!(resource.get("maritalStatus").is_none(), "{resource}");
    assert!(subsetted(resource), "{resource}");
    // Without them, the whole resource, not marked.
    let full = search(&app, "Patient?_id=sh").await;
    let resource = &full["entry"][0]["resource"];
    assert!(resource.get("maritalStatus").is_some());
    assert!(!subsetted(resource), "{resource}");
}

/// Patients pa (GP dr1, organization org), pb; Observations o1 → pa, o2 → pa, o3 → pb,
/// o4 → Patient/missing (dangling).
async fn seed_includes(app: &TestApp) {
    put(app, "Organization/parent", json!({"name": "Parent"})).await;
    put(
        app,
        "Organization/org",
        json!({"name": "Org", "partOf": {"reference": "Organization/parent"}}),
    )
    .await;
    put(
        app,
        "Practitioner/dr1",
        json!({"name": [{"family": "Who"}]}),
    )
    .await;
    put(
        app,
        "Patient/pa",
        json!({
            "name": [{"family": "Alpha"}],
            "generalPractitioner": [{"reference": "Practitioner/dr1"}],
            "managingOrganization": {"reference": "Organization/org"}
        }),
    )
    .await;
    put(app, "Patient/pb", json!({"name": [{"family": "Beta"}]})).await;
    for (id, subject, code) in [
        ("o1", "Patient/pa", "a"),
        ("o2", "Patient/pa", "b"),
        ("o3", "Patient/pb", "a"),
        ("o4", "Patient/missing", "a"),
    ] {
        let mut observation = json!({
            "status": "final",
            "code": {"coding": [{"system": "http://acme.org", "code": code}]},
            "subject": {"reference": subject}
        });
        if id == "o1" {
            observation["performer"] = json!([{"reference": "Practitioner/dr1"}]);
        }
        put(app, &format!("Observation/{id}"), observation).await;
    }
}

async fn include_and_revinclude(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    seed_includes(&app).await;
    // _include: the subjects of the matches, once each, with mode include.
    let bundle = search(
        &app,
        "Observation?code=http://acme.org|a&_include=Observation:subject",
    )
    .await;
    assert_eq!(
        refs_with_mode(&bundle, "match"),
        ["Observation/o1", "Observation/o3", "Observation/o4"]
    );
    // Patient/missing does not exist: nothing to include for o4.
    assert_eq!(
        refs_with_mode(&bundle, "include"),
        ["Patient/pa", "Patient/pb"]
    );
    // Two matches referring to pa: pa is included once.
    let bundle = search(&app, "Observation?subject=pa&_include=Observation:subject").await;
    assert_eq!(refs_with_mode(&bundle, "include"), ["Patient/pa"]);
    // With a target type.
    let bundle = search(
        &app,
        "Observation?_id=o1&_include=Observation:subject:Patient",
    )
    .await;
    assert_eq!(refs_with_mode(&bundle, "include"), ["Patient/pa"]);
    let bundle = search(
        &app,
        "Observation?_id=o1&_include=Observation:subject:Group",
    )
    .await;
    assert!(refs_with_mode(&bundle, "include").is_empty(), "{bundle}");
    // Two includes.
    let bundle = search(
        &app,
        "Observation?_id=o1&_include=Observation:subject&_include=Observation:performer",
    )
    .await;
    assert_eq!(
        refs_with_mode(&bundle, "include"),
        ["Patient/pa", "Practitioner/dr1"]
    );
    // _revinclude: the Observations referring to the matching patients.
    let bundle = search(&app, "Patient?_id=pa&_revinclude=Observation:subject").await;
    assert_eq!(refs_with_mode(&bundle, "match"), ["Patient/pa"]);
    assert_eq!(
        refs_with_mode(&bundle, "include"),
        ["Observation/o1", "Observation/o2"]
    );
    let bundle = search(&app, "Patient?_revinclude=Observation:subject").await;
    assert_eq!(
        refs_with_mode(&bundle, "include"),
        ["Observation/o1", "Observation/o2", "Observation/o3"]
    );
    // A resource that is a match is not repeated as an include.
    let bundle = search(&app, "Organization?_include=Organization:partof").await;
    assert_eq!(
        refs_with_mode(&bundle, "match"),
        ["Organization/org", "Organization/parent"]
    );
    assert!(refs_with_mode(&bundle, "include").is_empty(), "{bundle}");
    // Includes come with the page of their matches.
    let (_, pages) =
        crate::search_helpers::all_pages(&app, "Observation?_include=Observation:subject&_count=1")
            .await;
    assert_eq!(pages, 4);
    let page = search(&app, "Observation?_include=Observation:subject&_count=1").await;
    assert_eq!(refs_with_mode(&page, "match"), ["Observation/o1"]);
    assert_eq!(refs_with_mode(&page, "include"), ["Patient/pa"]);
}

async fn include_iterate_and_wildcard(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    seed_includes(&app).await;
    // Without :iterate, includes are one step from the matches only.
    let bundle = search(
        &app,
        "Observation?_id=o2&_include=Observation:subject&_include=Patient:organization",
    )
    .await;
    assert_eq!(refs_with_mode(&bundle, "include"), ["Patient/pa"]);
    // :iterate follows from included resources too: o2 → pa → org → parent.
    let bundle = search(
        &app,
        "Observation?_id=o2&_include=Observation:subject\
         &_include:iterate=Patient:organization&_include:iterate=Organization:partof",
    )
    .await;
    assert_eq!(
        refs_with_mode(&bundle, "include"),
        ["Organization/org", "Organization/parent", "Patient/pa"]
    );
    // _revinclude, then _revinclude:iterate from what was included: the patients whose GP is
    // dr1 (pa), then the Observations about them (o1, o2).
    let bundle = search(
        &app,
        "Practitioner?_id=dr1&_revinclude=Patient:general-practitioner\
         &_revinclude:iterate=Observation:subject",
    )
    .await;
    assert_eq!(refs_with_mode(&bundle, "match"), ["Practitioner/dr1"]);
    assert_eq!(
        refs_with_mode(&bundle, "include"),
        ["Observation/o1", "Observation/o2", "Patient/pa"]
    );
    // *: every reference parameter of the matches.
    let bundle = search(&app, "Observation?_id=o1&_include=*").await;
    assert_eq!(
        refs_with_mode(&bundle, "include"),
        ["Patient/pa", "Practitioner/dr1"]
    );
    let bundle = search(&app, "Patient?_id=pa&_include=Patient:*").await;
    assert_eq!(
        refs_with_mode(&bundle, "include"),
        ["Organization/org", "Practitioner/dr1"]
    );
    // _revinclude=*: everything referring to the matches.
    let bundle = search(&app, "Practitioner?_id=dr1&_revinclude=*").await;
    assert_eq!(
        refs_with_mode(&bundle, "include"),
        ["Observation/o1", "Patient/pa"]
    );
}

async fn entries_have_full_urls_and_modes(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    seed_includes(&app).await;
    let bundle = search(&app, "Observation?_id=o1&_include=Observation:subject").await;
    for entry in bundle["entry"].as_array().unwrap() {
        let resource = &entry["resource"];
        assert_eq!(
            entry["fullUrl"],
            format!(
                "{}/{}/{}",
                app.base,
                resource["resourceType"].as_str().unwrap(),
                resource["id"].as_str().unwrap()
            ),
            "{entry}"
        );
        let mode = entry["search"]["mode"].as_str().unwrap();
        assert!(mode == "match" || mode == "include", "{entry}");
    }
    // Entries carry the current version.
    put(&app, "Patient/pa", json!({"name": [{"family": "Alpha2"}]})).await;
    let bundle = search(&app, "Patient?_id=pa").await;
    assert_eq!(bundle["entry"][0]["resource"]["meta"]["versionId"], "2");
    assert_eq!(
        bundle["entry"][0]["resource"]["name"][0]["family"],
        "Alpha2"
    );
    // The self link names the search (type and parameters).
    let own = link(&bundle, "self").expect("self");
    assert!(own.starts_with(&format!("{}/Patient", app.base)), "{own}");
    assert!(own.contains("_id=pa"), "{own}");
}
