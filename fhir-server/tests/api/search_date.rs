//! Date search. Every value is a range (its precision: a year, a month, a day, a second), and so
//! is every stored value; the prefixes compare the two ranges as the specification says:
//!
//! - `eq`: the search range contains the stored range; `ne`: it does not;
//! - `gt`: the stored range overlaps the part after the search range; `lt`: before it;
//! - `ge`/`le`: as `gt`/`lt`, or `eq`;
//! - `sa`: the stored range starts after the search range ends; `eb`: ends before it starts;
//! - `ap`: approximately (the spec suggests 10% of the distance from now).
//!
//! Dates without a time zone are taken as UTC days.

use serde_json::json;

use crate::helpers::{Backend, TestApp};
use crate::search_helpers::{expect_ids, put};

crate::on_both_backends!(
    date_precisions_and_prefixes,
    date_times_with_time_zones,
    date_periods_including_open_ended,
    date_missing_and_combinations,
);

/// Birth dates as ranges:
/// - d1 1990-04-01: [1990-04-01, 1990-04-02)
/// - d2 1990-04:    [1990-04-01, 1990-05-01)
/// - d3 1990:       [1990-01-01, 1991-01-01)
/// - d4 1991-01-01: [1991-01-01, 1991-01-02)
/// - d5 1989-12-31: [1989-12-31, 1990-01-01)
/// - d6 2020-01-01
async fn seed_birth_dates(app: &TestApp) {
    for (id, date) in [
        ("d1", "1990-04-01"),
        ("d2", "1990-04"),
        ("d3", "1990"),
        ("d4", "1991-01-01"),
        ("d5", "1989-12-31"),
        ("d6", "2020-01-01"),
    ] {
        put(app, &format!("Patient/{id}"), json!({"birthDate": date})).await;
    }
}

async fn date_precisions_and_prefixes(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    seed_birth_dates(&app).await;
    // eq, by precision: the year 1990 contains d1, d2, d3 (d4 starts when it ends).
    expect_ids(&app, "Patient?birthdate=1990", &["d1", "d2", "d3"]).await;
    expect_ids(&app, "Patient?birthdate=eq1990", &["d1", "d2", "d3"]).await;
    // April 1990 contains d1 and d2, not the whole year d3.
    expect_ids(&app, "Patient?birthdate=1990-04", &["d1", "d2"]).await;
    // The day contains d1 only (d2 is a month, wider than the day).
    expect_ids(&app, "Patient?birthdate=1990-04-01", &["d1"]).await;
    expect_ids(&app, "Patient?birthdate=1991", &["d4"]).await;
    // A dateTime search value: the second does not contain any whole day.
    expect_ids(&app, "Patient?birthdate=1990-04-01T00:00:00Z", &[]).await;
    // ne: the complement of eq.
    expect_ids(
        &app,
        "Patient?birthdate=ne1990-04-01",
        &["d2", "d3", "d4", "d5", "d6"],
    )
    .await;
    expect_ids(&app, "Patient?birthdate=ne1990", &["d4", "d5", "d6"]).await;
    // gt 1990-04-01: overlaps [1990-04-02, ∞): d2 (rest of April), d3, d4, d6; not d1 itself.
    expect_ids(
        &app,
        "Patient?birthdate=gt1990-04-01",
        &["d2", "d3", "d4", "d6"],
    )
    .await;
    // lt 1990-04-01: overlaps (-∞, 1990-04-01): d3 (Jan–Mar 1990), d5.
    expect_ids(&app, "Patient?birthdate=lt1990-04-01", &["d3", "d5"]).await;
    // ge 1990-04-01: gt plus contained (d1).
    expect_ids(
        &app,
        "Patient?birthdate=ge1990-04-01",
        &["d1", "d2", "d3", "d4", "d6"],
    )
    .await;
    // le 1990-04-15: overlaps (-∞, 1990-04-15): d1, d2, d3, d5; nothing is contained.
    expect_ids(
        &app,
        "Patient?birthdate=le1990-04-15",
        &["d1", "d2", "d3", "d5"],
    )
    .await;
    // ge 1990-04-15: overlaps [1990-04-16, ∞): d2, d3, d4, d6.
    expect_ids(
        &app,
        "Patient?birthdate=ge1990-04-15",
        &["d2", "d3", "d4", "d6"],
    )
    .await;
    expect_ids(&app, "Patient?birthdate=le1990-03-31", &["d3", "d5"]).await;
    // Month and year precision with prefixes.
    expect_ids(&app, "Patient?birthdate=gt1990-04", &["d3", "d4", "d6"]).await;
    expect_ids(&app, "Patient?birthdate=lt1990", &["d5"]).await;
    expect_ids(&app, "Patient?birthdate=gt1990", &["d4", "d6"]).await;
    // sa/eb: no overlap at all, entirely after/before.
    expect_ids(&app, "Patient?birthdate=sa1990-04-01", &["d4", "d6"]).await;
    expect_ids(&app, "Patient?birthdate=eb1990-04-01", &["d5"]).await;
    expect_ids(&app, "Patient?birthdate=sa1990", &["d4", "d6"]).await;
    expect_ids(&app, "Patient?birthdate=eb1990", &["d5"]).await;
    // ap: everything within months of 1990-04-01 (10% of ~36 years from now is ~3.6 years);
    // 2020 is far outside.
    expect_ids(
        &app,
        "Patient?birthdate=ap1990-04-01",
        &["d1", "d2", "d3", "d4", "d5"],
    )
    .await;
    expect_ids(&app, "Patient?birthdate=ap2020-01-01", &["d6"]).await;
}

/// Observation times: t1 10:00+02:00 (08:00Z), t2 09:00Z, t3 23:30-05:00 (04:30Z next day),
/// t4 at millisecond precision 2021-06-15T12:00:00.250Z.
async fn date_times_with_time_zones(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    for (id, time) in [
        ("t1", "2021-06-15T10:00:00+02:00"),
        ("t2", "2021-06-15T09:00:00Z"),
        ("t3", "2021-06-15T23:30:00-05:00"),
        ("t4", "2021-06-15T12:00:00.250Z"),
    ] {
        put(
            &app,
            &format!("Observation/{id}"),
            json!({
                "status": "final",
                "code": {"text": "time"},
                "effectiveDateTime": time
            }),
        )
        .await;
    }
    // The same instant written in UTC or with an offset (`+` must be sent as %2B).
    expect_ids(&app, "Observation?date=2021-06-15T08:00:00Z", &["t1"]).await;
    expect_ids(
        &app,
        "Observation?date=2021-06-15T10:00:00%2B02:00",
        &["t1"],
    )
    .await;
    expect_ids(&app, "Observation?date=2021-06-15T04:00:00-05:00", &["t2"]).await;
    // Ordering is by instant, not by the written local time.
    expect_ids(
        &app,
        "Observation?date=gt2021-06-15T08:30:00Z",
        &["t2", "t3", "t4"],
    )
    .await;
    expect_ids(&app, "Observation?date=lt2021-06-15T08:30:00Z", &["t1"]).await;
    expect_ids(
        &app,
        "Observation?date=ge2021-06-15T09:00:00Z",
        &["t2", "t3", "t4"],
    )
    .await;
    expect_ids(
        &app,
        "Observation?date=le2021-06-15T09:00:00Z",
        &["t1", "t2"],
    )
    .await;
    // Days are UTC days: t3 is on 2021-06-16 in UTC.
    expect_ids(&app, "Observation?date=2021-06-15", &["t1", "t2", "t4"]).await;
    expect_ids(&app, "Observation?date=2021-06-16", &["t3"]).await;
    expect_ids(&app, "Observation?date=2021-06", &["t1", "t2", "t3", "t4"]).await;
    // The second 12:00:00 contains the millisecond value t4.
    expect_ids(&app, "Observation?date=2021-06-15T12:00:00Z", &["t4"]).await;
    expect_ids(&app, "Observation?date=2021-06-15T12:00:00.250Z", &["t4"]).await;
    expect_ids(&app, "Observation?date=gt2021-06-15T12:00:00.250Z", &["t3"]).await;
    // A value with an offset one hour east: 10:30+01:00 is 09:30Z, after t2.
    expect_ids(
        &app,
        "Observation?date=sa2021-06-15T10:30:00%2B01:00",
        &["t3", "t4"],
    )
    .await;
}

/// Encounter periods: e1 [2020-01-01, 2020-01-10] closed, e2 from 2020-01-05 with no end,
/// e3 until 2020-01-03 with no start.
async fn date_periods_including_open_ended(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let class =
        json!({"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB"});
    for (id, period) in [
        (
            "e1",
            json!({"start": "2020-01-01T00:00:00Z", "end": "2020-01-10T00:00:00Z"}),
        ),
        ("e2", json!({"start": "2020-01-05T00:00:00Z"})),
        ("e3", json!({"end": "2020-01-03T00:00:00Z"})),
    ] {
        put(
            &app,
            &format!("Encounter/{id}"),
            json!({"status": "finished", "class": class, "period": period}),
        )
        .await;
    }
    // eq: the day 2020-01-05 contains none of the periods (each is longer than a day).
    expect_ids(&app, "Encounter?date=2020-01-05", &[]).await;
    // January 2020 contains e1 only; the open ends of e2 and e3 stick out of it.
    expect_ids(&app, "Encounter?date=2020-01", &["e1"]).await;
    expect_ids(&app, "Encounter?date=ne2020-01", &["e2", "e3"]).await;
    // gt: overlaps [2020-01-16, ∞): only the open-ended e2.
    expect_ids(&app, "Encounter?date=gt2020-01-15", &["e2"]).await;
    // lt: overlaps (-∞, 2020-01-02): e1 (starts on the 1st) and the open-started e3.
    expect_ids(&app, "Encounter?date=lt2020-01-02", &["e1", "e3"]).await;
    // ge 2020-01-04: overlaps [2020-01-05, ∞): e1 (until the 10th) and e2; e3 ended on the 3rd.
    expect_ids(&app, "Encounter?date=ge2020-01-04", &["e1", "e2"]).await;
    expect_ids(&app, "Encounter?date=le2019-12-31", &["e3"]).await;
    // sa: starts after the day ends; eb: ends before the day starts.
    expect_ids(&app, "Encounter?date=sa2020-01-04", &["e2"]).await;
    expect_ids(&app, "Encounter?date=eb2020-01-04", &["e3"]).await;
    // An open end reaches any future date; an open start any past date.
    expect_ids(&app, "Encounter?date=gt2999", &["e2"]).await;
    expect_ids(&app, "Encounter?date=lt1900", &["e3"]).await;
}

async fn date_missing_and_combinations(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    seed_birth_dates(&app).await;
    put(&app, "Patient/none", json!({"gender": "male"})).await;
    expect_ids(&app, "Patient?birthdate:missing=true", &["none"]).await;
    // A range by AND: in 1990 and from April on.
    expect_ids(
        &app,
        "Patient?birthdate=ge1990-04-01&birthdate=lt1991",
        &["d1", "d2", "d3"],
    )
    .await;
    // AND: contained in 1990, and overlapping or on/after 1990-04-01 (d3 overlaps it).
    expect_ids(
        &app,
        "Patient?birthdate=1990&birthdate=ge1990-04-01",
        &["d1", "d2", "d3"],
    )
    .await;
    // OR of days.
    expect_ids(
        &app,
        "Patient?birthdate=1989-12-31,1991-01-01",
        &["d4", "d5"],
    )
    .await;
}
