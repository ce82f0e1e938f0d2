//! String search: case- and accent-insensitive prefix by default, `:exact`, `:contains`,
//! HumanName and Address parts, OR with commas, AND with repeats, escaping, `:missing`.

use serde_json::json;

use crate::helpers::{Backend, TestApp};
use crate::search_helpers::{expect_ids, put};

crate::on_both_backends!(
    string_default_is_case_and_accent_insensitive_prefix,
    string_exact_and_contains,
    string_human_name_parts,
    string_address_parts,
    string_or_and_escaping,
    string_missing,
);

/// p1 Müller Hans, p2 Muller Anna, p3 Mullerova Eva, p4 Smith John Jacob ("Dr. John Smith"),
/// p5 "van der Berg" Maria, p6 no name; addresses on p1 and p4.
async fn seed(app: &TestApp) {
    put(
        app,
        "Patient/p1",
        json!({
            "name": [{"family": "Müller", "given": ["Hans"]}],
            "address": [{
                "line": ["1 Main Street"],
                "city": "Ann Arbor",
                "state": "MI",
                "postalCode": "48104",
                "country": "USA"
            }]
        }),
    )
    .await;
    put(
        app,
        "Patient/p2",
        json!({"name": [{"family": "Muller", "given": ["Anna"]}]}),
    )
    .await;
    put(
        app,
        "Patient/p3",
        json!({"name": [{"family": "Mullerova", "given": ["Eva"]}]}),
    )
    .await;
    put(
        app,
        "Patient/p4",
        json!({
            "name": [{"text": "Dr. John Smith", "family": "Smith", "given": ["John", "Jacob"]}],
            "address": [{"city": "Detroit", "state": "MI"}]
        }),
    )
    .await;
    put(
        app,
        "Patient/p5",
        json!({"name": [{"family": "van der Berg", "given": ["Maria"]}]}),
    )
    .await;
    put(app, "Patient/p6", json!({"gender": "unknown"})).await;
}

async fn string_default_is_case_and_accent_insensitive_prefix(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    seed(&app).await;
    // "muller" is a prefix of Müller (accent removed), Muller and Mullerova.
    expect_ids(&app, "Patient?family=muller", &["p1", "p2", "p3"]).await;
    // The search value is normalised too: upper case and accents in it do not matter.
    expect_ids(&app, "Patient?family=M%C3%9CLLER", &["p1", "p2", "p3"]).await;
    expect_ids(&app, "Patient?family=mül", &["p1", "p2", "p3"]).await;
    expect_ids(&app, "Patient?family=mullero", &["p3"]).await;
    // Prefix of the whole value, not a substring: "ller" starts none of them.
    expect_ids(&app, "Patient?family=ller", &[]).await;
    // A value with a space is a prefix of "van der Berg".
    expect_ids(&app, "Patient?family=van%20der", &["p5"]).await;
    // A value longer than the stored one matches nothing.
    expect_ids(&app, "Patient?family=mullerovaa", &[]).await;
}

async fn string_exact_and_contains(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    seed(&app).await;
    // :exact is the whole value, case and accents included.
    expect_ids(&app, "Patient?family:exact=M%C3%BCller", &["p1"]).await;
    expect_ids(&app, "Patient?family:exact=Muller", &["p2"]).await;
    expect_ids(&app, "Patient?family:exact=muller", &[]).await;
    expect_ids(&app, "Patient?family:exact=Mull", &[]).await;
    // :contains is anywhere in the value, case- and accent-insensitive.
    expect_ids(&app, "Patient?family:contains=ller", &["p1", "p2", "p3"]).await;
    expect_ids(&app, "Patient?family:contains=LLERO", &["p3"]).await;
    expect_ids(&app, "Patient?family:contains=der%20b", &["p5"]).await;
    expect_ids(&app, "Patient?name:contains=aco", &["p4"]).await; // Jacob
}

async fn string_human_name_parts(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    seed(&app).await;
    // `name` searches every part of HumanName: family, given, text (prefix, etc.).
    expect_ids(&app, "Patient?name=hans", &["p1"]).await;
    expect_ids(&app, "Patient?name=smi", &["p4"]).await;
    expect_ids(&app, "Patient?name=jacob", &["p4"]).await;
    expect_ids(&app, "Patient?name=dr", &["p4"]).await; // the text "Dr. John Smith"
    expect_ids(&app, "Patient?name=mul", &["p1", "p2", "p3"]).await;
    // `given` only the given names: "a" starts Anna only (not Hans, not Maria's family).
    expect_ids(&app, "Patient?given=a", &["p2"]).await;
    expect_ids(&app, "Patient?given=j", &["p4"]).await;
    // `family` does not look at given names.
    expect_ids(&app, "Patient?family=hans", &[]).await;
}

async fn string_address_parts(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    seed(&app).await;
    // `address` covers line, city, state, postalCode, country (and text).
    expect_ids(&app, "Patient?address=ann", &["p1"]).await;
    expect_ids(&app, "Patient?address=1%20main", &["p1"]).await;
    expect_ids(&app, "Patient?address=48104", &["p1"]).await;
    expect_ids(&app, "Patient?address=usa", &["p1"]).await;
    expect_ids(&app, "Patient?address=det", &["p4"]).await;
    expect_ids(&app, "Patient?address=mi", &["p1", "p4"]).await;
    // "main" is inside the line, not a prefix of any part.
    expect_ids(&app, "Patient?address=main", &[]).await;
    expect_ids(&app, "Patient?address:contains=main", &["p1"]).await;
    expect_ids(&app, "Patient?address-city=ann%20arbor", &["p1"]).await;
    expect_ids(&app, "Patient?address-city=arbor", &[]).await;
    expect_ids(&app, "Patient?address-city:exact=Ann%20Arbor", &["p1"]).await;
    expect_ids(&app, "Patient?address-city:exact=ann%20arbor", &[]).await;
    expect_ids(&app, "Patient?address-state=mi", &["p1", "p4"]).await;
    expect_ids(&app, "Patient?address-postalcode=481", &["p1"]).await;
    expect_ids(&app, "Patient?address-country=us", &["p1"]).await;
    // The city is not the state: "det" is a city prefix only.
    expect_ids(&app, "Patient?address-state=det", &[]).await;
}

async fn string_or_and_escaping(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    seed(&app).await;
    // OR: a comma separates values.
    expect_ids(&app, "Patient?family=smith,van", &["p4", "p5"]).await;
    expect_ids(&app, "Patient?family=smith,berg", &["p4"]).await;
    // AND: repeated parameters; both must match (possibly different parts).
    expect_ids(&app, "Patient?name=john&name=smith", &["p4"]).await;
    expect_ids(&app, "Patient?name=john&name=hans", &[]).await;
    expect_ids(&app, "Patient?given=eva&family=mul", &["p3"]).await;
    // AND of ORs: (muller or smith) and (anna or john).
    expect_ids(
        &app,
        "Patient?family=muller,smith&given=anna,john",
        &["p2", "p4"],
    )
    .await;

    // Escaping: `\,` is a literal comma, not OR; `\|` and `\$` are literal too.
    put(
        &app,
        "Organization/o1",
        json!({"name": "Smith, Jones & Co"}),
    )
    .await;
    put(&app, "Organization/o2", json!({"name": "Smith Ltd"})).await;
    put(&app, "Organization/o3", json!({"name": "Jones Inc"})).await;
    put(&app, "Organization/o4", json!({"name": "A|B $Corp"})).await;
    put(&app, "Organization/o5", json!({"name": "back\\slash"})).await;
    // %5C is `\`: "Smith\, Jones" is one value.
    expect_ids(&app, "Organization?name=Smith%5C,%20Jones", &["o1"]).await;
    // Unescaped, the comma is OR: "Smith" or "Jones".
    expect_ids(&app, "Organization?name=Smith,Jones", &["o1", "o2", "o3"]).await;
    expect_ids(&app, "Organization?name=a%5C|b", &["o4"]).await;
    expect_ids(&app, "Organization?name:contains=%5C$corp", &["o4"]).await;
    // `\\` is one backslash.
    expect_ids(&app, "Organization?name=back%5C%5Cs", &["o5"]).await;
    // `&` inside a value is percent-encoded by the client and is plain text.
    expect_ids(&app, "Organization?name:contains=%26%20co", &["o1"]).await;
}

async fn string_missing(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    seed(&app).await;
    expect_ids(&app, "Patient?name:missing=true", &["p6"]).await;
    expect_ids(
        &app,
        "Patient?name:missing=false",
        &["p1", "p2", "p3", "p4", "p5"],
    )
    .await;
    expect_ids(
        &app,
        "Patient?address:missing=true",
        &["p2", "p3", "p5", "p6"],
    )
    .await;
    expect_ids(&app, "Patient?address-city:missing=false", &["p1", "p4"]).await;
    // Every named patient has a given name; p6 has none.
    expect_ids(&app, "Patient?given:missing=true", &["p6"]).await;
}
