use super::*;

fn range(text: &str) -> (i64, i64) {
    crate::time::parse_range(text).unwrap_or_else(|| panic!("{text}"))
}

fn string(text: &str) -> IndexValue {
    IndexValue::String(text.to_owned())
}

fn coding(system: Option<&str>, code: Option<&str>, text: &[&str]) -> IndexValue {
    IndexValue::Token {
        system: system.map(str::to_owned),
        code: code.map(str::to_owned),
        text: text.iter().map(|t| (*t).to_owned()).collect(),
        of_type: Vec::new(),
    }
}

fn token(system: Option<Option<&str>>, code: Option<&str>) -> SearchValue {
    SearchValue::Token {
        system: system.map(|s| s.map(str::to_owned)),
        code: code.map(str::to_owned),
        value: None,
    }
}

fn date(prefix: Prefix, text: &str) -> SearchValue {
    let (start, end) = range(text);
    SearchValue::Date { prefix, start, end }
}

fn period(start: &str, end: &str) -> IndexValue {
    IndexValue::Date {
        start: if start.is_empty() {
            i64::MIN
        } else {
            range(start).0
        },
        end: if end.is_empty() {
            i64::MAX
        } else {
            range(end).0
        },
    }
}

fn at(text: &str) -> IndexValue {
    let (start, end) = range(text);
    IndexValue::Date { start, end }
}

fn number(prefix: Prefix, value: &str) -> SearchValue {
    SearchValue::Number {
        prefix,
        value: value.to_owned(),
    }
}

fn check(
    param_type: ParamType,
    modifier: Option<&Modifier>,
    value: &SearchValue,
    cases: &[(IndexValue, bool)],
) {
    for (item, expected) in cases {
        assert_eq!(
            matches(param_type, modifier, value, std::slice::from_ref(item)),
            *expected,
            "{value:?} {modifier:?} against {item:?}"
        );
    }
}

#[test]
fn normalize_folds_case_accents_and_spaces() {
    for (text, expected) in [
        ("  José \t ÁLVAREZ  ", "jose alvarez"),
        ("Straße", "strasse"),
        ("STRAẞE", "strasse"),
        ("Æsir Øre", "aesir ore"),
        ("Łódź", "lodz"),
        ("Dvořák", "dvorak"),
        ("Ångström", "angstrom"),
        ("Œuvre ĳs", "oeuvre ijs"),
        ("Şişli İstanbul", "sisli istanbul"),
        ("Ţară Ș ț", "tara s t"),
        ("Þór ð", "thor d"),
        ("ÿŸſŉŊĸĦűŽĞ", "yysnnkhuzg"),
        ("e\u{0301}te\u{0300}", "ete"),
        ("ǅemal ǈ ǋ", "dzemal lj nj"),
        ("Ǖ ǘ Ȁ ȑ Ɇ", "u u a r e"),
        ("ΑΒΓ Ä", "αβγ a"),
        ("名前", "名前"),
        ("", ""),
        ("   ", ""),
    ] {
        assert_eq!(normalize(text), expected, "{text}");
    }
    // Every letter of Latin Extended-A folds to an ASCII letter.
    for c in '\u{0100}'..='\u{017F}' {
        let folded = normalize(&c.to_string());
        assert!(
            !folded.is_empty() && folded.bytes().all(|b| b.is_ascii_lowercase()),
            "{c} → {folded}"
        );
    }
    assert_eq!(crate::search::normalize_string("Émile"), "emile");
}

#[test]
fn strings() {
    let value = SearchValue::String("jose".into());
    let cases = [
        (string("José Álvarez"), true),
        (string("JOSEPHINE"), true),
        (string("Mary-José"), false),
        (string("Jo"), false),
    ];
    check(ParamType::String, None, &value, &cases);
    let value = SearchValue::String("alv".into());
    check(
        ParamType::String,
        Some(&Modifier::Contains),
        &value,
        &[
            (string("José Álvarez"), true),
            (string("Kalvin"), true),
            (string("al v"), false),
        ],
    );
    check(
        ParamType::String,
        None,
        &value,
        &[(string("José Álvarez"), false)],
    );
    let value = SearchValue::String("José".into());
    check(
        ParamType::String,
        Some(&Modifier::Exact),
        &value,
        &[
            (string("José"), true),
            (string("Jose"), false),
            (string("josé"), false),
            (string("José Álvarez"), false),
        ],
    );
    // Whitespace collapses on both sides.
    let value = SearchValue::String("van  der".into());
    check(
        ParamType::String,
        None,
        &value,
        &[(string(" Van der Berg"), true)],
    );
    assert!(!matches(ParamType::String, None, &value, &[]));
}

#[test]
fn tokens() {
    let loinc = Some("http://loinc.org");
    let item = coding(loinc, Some("1234-5"), &["Blood pressure systolic"]);
    let no_system = coding(None, Some("1234-5"), &[]);
    let cases: &[(SearchValue, bool, bool)] = &[
        // (value, matches `item`, matches `no_system`)
        (token(None, Some("1234-5")), true, true),
        (token(None, Some("1234-6")), false, false),
        (token(None, Some("1234-5 ")), false, false),
        (
            token(Some(loinc.map(Some).unwrap()), Some("1234-5")),
            true,
            false,
        ),
        (
            token(Some(Some("http://snomed.info/sct")), Some("1234-5")),
            false,
            false,
        ),
        (token(Some(None), Some("1234-5")), false, true),
        (token(Some(loinc.map(Some).unwrap()), None), true, false),
        (token(Some(Some("http://LOINC.org")), None), false, false),
    ];
    for (value, with_system, without) in cases {
        assert_eq!(
            matches(ParamType::Token, None, value, std::slice::from_ref(&item)),
            *with_system,
            "{value:?}"
        );
        assert_eq!(
            matches(
                ParamType::Token,
                None,
                value,
                std::slice::from_ref(&no_system)
            ),
            *without,
            "{value:?}"
        );
    }
    // Codes are case-sensitive.
    let gender = coding(
        Some("http://hl7.org/fhir/administrative-gender"),
        Some("male"),
        &[],
    );
    check(
        ParamType::Token,
        None,
        &token(None, Some("Male")),
        &[(gender.clone(), false)],
    );
    // Plain strings and uris count as codes without a system.
    check(
        ParamType::Token,
        None,
        &token(Some(None), Some("abc")),
        &[
            (string("abc"), true),
            (IndexValue::Uri("abc".into()), true),
            (string("abcd"), false),
        ],
    );
    // :text on displays and texts.
    for (search, expected) in [
        ("blood", true),
        ("Blood Pressure", true),
        ("press", true),
        ("SYSTOLIC", true),
        ("ssure", false),
        ("pressure diastolic", false),
        ("1234-5", false),
    ] {
        check(
            ParamType::Token,
            Some(&Modifier::Text),
            &token(None, Some(search)),
            &[(item.clone(), expected)],
        );
    }
    check(
        ParamType::Token,
        Some(&Modifier::Text),
        &token(None, Some("bloöd")),
        &[(coding(None, None, &["Blóod"]), true)],
    );
    // Terminology modifiers never match (the parser refuses them).
    check(
        ParamType::Token,
        Some(&Modifier::In),
        &token(None, Some("1234-5")),
        &[(item.clone(), false)],
    );
}

#[test]
fn not_matches_resources_without_the_value() {
    let not = Some(&Modifier::Not);
    let male = coding(
        Some("http://hl7.org/fhir/administrative-gender"),
        Some("male"),
        &[],
    );
    let female = coding(
        Some("http://hl7.org/fhir/administrative-gender"),
        Some("female"),
        &[],
    );
    let value = token(None, Some("male"));
    assert!(!matches(
        ParamType::Token,
        not,
        &value,
        std::slice::from_ref(&male)
    ));
    assert!(matches(
        ParamType::Token,
        not,
        &value,
        std::slice::from_ref(&female)
    ));
    assert!(matches(ParamType::Token, not, &value, &[]));
    // A resource with both values has one that matches: excluded.
    assert!(!matches(
        ParamType::Token,
        not,
        &value,
        &[female.clone(), male.clone()]
    ));
    // With a system: a male code in another system is not excluded.
    let other = coding(Some("http://other"), Some("male"), &[]);
    let value = token(
        Some(Some("http://hl7.org/fhir/administrative-gender")),
        Some("male"),
    );
    assert!(matches(ParamType::Token, not, &value, &[other]));
    // Several values of a :not condition: none may match.
    let values = [token(None, Some("male")), token(None, Some("other"))];
    assert!(!matches_condition(
        ParamType::Token,
        not,
        &values,
        std::slice::from_ref(&male)
    ));
    assert!(matches_condition(
        ParamType::Token,
        not,
        &values,
        std::slice::from_ref(&female)
    ));
    assert!(matches_condition(
        ParamType::Token,
        None,
        &values,
        std::slice::from_ref(&male)
    ));
    assert!(!matches_condition(
        ParamType::Token,
        None,
        &values,
        std::slice::from_ref(&female)
    ));
}

#[test]
fn of_type_matches_identifier_type_and_value() {
    let v2 = "http://terminology.hl7.org/CodeSystem/v2-0203";
    let identifier = IndexValue::Token {
        system: Some("http://hospital/mrn".into()),
        code: Some("446053".into()),
        text: vec![],
        of_type: vec![(Some(v2.into()), Some("MR".into()))],
    };
    let of_type = |system: Option<Option<&str>>, code: &str, value: &str| SearchValue::Token {
        system: system.map(|s| s.map(str::to_owned)),
        code: Some(code.into()),
        value: Some(value.into()),
    };
    for (value, expected) in [
        (of_type(Some(Some(v2)), "MR", "446053"), true),
        (of_type(None, "MR", "446053"), true),
        (of_type(Some(Some(v2)), "MR", "446054"), false),
        (of_type(Some(Some(v2)), "DL", "446053"), false),
        (of_type(Some(Some("http://other")), "MR", "446053"), false),
        (of_type(Some(None), "MR", "446053"), false),
    ] {
        check(
            ParamType::Token,
            Some(&Modifier::OfType),
            &value,
            &[(identifier.clone(), expected)],
        );
    }
}

#[test]
fn references() {
    let reference = |t: Option<&str>, id: Option<&str>, url: Option<&str>| IndexValue::Reference {
        resource_type: t.map(str::to_owned),
        id: id.map(str::to_owned),
        url: url.map(str::to_owned),
        identifier: Some((Some("http://sys".into()), Some("abc".into()))),
    };
    let search = |t: Option<&str>, id: Option<&str>, url: Option<&str>| SearchValue::Reference {
        resource_type: t.map(str::to_owned),
        id: id.map(str::to_owned),
        url: url.map(str::to_owned),
        version: None,
        identifier: None,
    };
    let local = reference(Some("Patient"), Some("123"), None);
    let untyped = reference(None, Some("123"), None);
    let remote = reference(None, None, Some("http://other.org/fhir/Patient/123"));
    let canonical = reference(None, None, Some("http://acme.org/Questionnaire/q"));
    let cases: &[(SearchValue, [bool; 4])] = &[
        // (value, [local, untyped, remote, canonical])
        (search(None, Some("123"), None), [true, true, false, false]),
        (
            search(None, Some("124"), None),
            [false, false, false, false],
        ),
        (
            search(Some("Patient"), Some("123"), None),
            [true, false, false, false],
        ),
        (
            search(Some("Group"), Some("123"), None),
            [false, false, false, false],
        ),
        (
            search(
                Some("Patient"),
                Some("123"),
                Some("http://other.org/fhir/Patient/123"),
            ),
            [true, false, true, false],
        ),
        (
            search(
                Some("Patient"),
                Some("123"),
                Some("http://third.org/fhir/Patient/123"),
            ),
            [true, false, false, false],
        ),
        (
            search(None, None, Some("http://acme.org/Questionnaire/q")),
            [false, false, false, true],
        ),
    ];
    for (value, expected) in cases {
        for (item, expected) in [&local, &untyped, &remote, &canonical]
            .into_iter()
            .zip(expected)
        {
            check(
                ParamType::Reference,
                None,
                value,
                &[(item.clone(), *expected)],
            );
        }
    }
    // A canonical with a version matches on its url.
    let versioned = SearchValue::Reference {
        resource_type: None,
        id: None,
        url: Some("http://acme.org/Questionnaire/q".into()),
        version: Some("2".into()),
        identifier: None,
    };
    check(
        ParamType::Reference,
        None,
        &versioned,
        &[
            (canonical.clone(), true),
            (
                IndexValue::Uri("http://acme.org/Questionnaire/q".into()),
                true,
            ),
        ],
    );
    // :identifier.
    let identifier = |system: Option<Option<&str>>, value: Option<&str>| SearchValue::Reference {
        resource_type: None,
        id: None,
        url: None,
        version: None,
        identifier: Some((
            system.map(|s| s.map(str::to_owned)),
            value.map(str::to_owned),
        )),
    };
    let no_identifier = IndexValue::Reference {
        resource_type: Some("Patient".into()),
        id: Some("abc".into()),
        url: None,
        identifier: None,
    };
    for (value, expected) in [
        (identifier(Some(Some("http://sys")), Some("abc")), true),
        (identifier(None, Some("abc")), true),
        (identifier(Some(None), Some("abc")), false),
        (identifier(Some(Some("http://sys")), None), true),
        (identifier(Some(Some("http://sys")), Some("abd")), false),
    ] {
        check(
            ParamType::Reference,
            Some(&Modifier::Identifier),
            &value,
            &[(local.clone(), expected), (no_identifier.clone(), false)],
        );
    }
}

#[test]
fn dates_every_prefix() {
    use Prefix::*;
    let cases: &[(SearchValue, IndexValue, bool)] = &[
        // eq: the target lies within the search range.
        (date(Eq, "2013"), at("2013-01-01T00:00:00Z"), true),
        (date(Eq, "2013"), at("2013-12-31T23:59:59Z"), true),
        (date(Eq, "2013"), at("2014-01-01T00:00:00Z"), false),
        (date(Eq, "2013-01-01T00:00:00Z"), at("2013"), false),
        (
            date(Eq, "2013-01-01T00:00:00Z"),
            at("2013-01-01T00:00:00Z"),
            true,
        ),
        (
            date(Eq, "2013-01-01T00:00:00Z"),
            at("2013-01-01T00:00:00.500Z"),
            true,
        ),
        (
            date(Eq, "2013-01-01T01:00:00+01:00"),
            at("2013-01-01T00:00:00Z"),
            true,
        ),
        (
            date(Eq, "2013-03"),
            period("2013-03-10", "2013-03-20"),
            true,
        ),
        (
            date(Eq, "2013-03"),
            period("2013-03-10", "2013-04-10"),
            false,
        ),
        (date(Eq, "2013-03"), period("2013-03-10", ""), false),
        // ne: not eq.
        (date(Ne, "2013"), at("2013-06-01"), false),
        (date(Ne, "2013"), at("2014-01-01"), true),
        (date(Ne, "2013-01-01T00:00:00Z"), at("2013"), true),
        // gt: the target extends after the search range.
        (
            date(Gt, "2013-03"),
            period("2013-02-15", "2013-03-15"),
            false,
        ),
        (
            date(Gt, "2013-03"),
            period("2013-03-10", "2013-04-10"),
            true,
        ),
        (date(Gt, "2013-03"), period("2013-03-10", ""), true),
        (date(Gt, "2013-03"), at("2013-03-31"), false),
        (date(Gt, "2013-03"), at("2013-04-01"), true),
        (date(Gt, "2013"), at("2013-01-01T00:00:00Z"), false),
        // lt: the target extends before the search range.
        (
            date(Lt, "2013-03"),
            period("2013-02-15", "2013-03-15"),
            true,
        ),
        (date(Lt, "2013-03"), at("2013-03-01"), false),
        (date(Lt, "2013-03"), at("2013-02-28"), true),
        (date(Lt, "2013-03"), period("", "2013-03-02"), true),
        // ge: gt or eq.
        (date(Ge, "2013-03"), at("2013-03-01"), true),
        (date(Ge, "2013-03"), at("2013-04-15"), true),
        (date(Ge, "2013-03"), at("2013-02-28"), false),
        (
            date(Ge, "2013-03"),
            period("2013-02-15", "2013-03-15"),
            false,
        ),
        // le: lt or eq.
        (date(Le, "2013-03"), at("2013-03-31"), true),
        (date(Le, "2013-03"), at("2013-02-01"), true),
        (date(Le, "2013-03"), at("2013-04-01"), false),
        (
            date(Le, "2013-03"),
            period("2013-03-15", "2013-04-15"),
            false,
        ),
        // sa: the target starts after the search range.
        (date(Sa, "2013-03"), at("2013-04-01"), true),
        (date(Sa, "2013-03"), at("2013-03-31"), false),
        (
            date(Sa, "2013-03"),
            period("2013-03-31", "2013-04-05"),
            false,
        ),
        (date(Sa, "2013-03"), period("2013-04-01", ""), true),
        // eb: the target ends before the search range.
        (date(Eb, "2013-03"), at("2013-02-28"), true),
        (
            date(Eb, "2013-03"),
            period("2013-02-20", "2013-03-02"),
            false,
        ),
        (date(Eb, "2013-03"), period("", "2013-03-01"), true),
        (date(Eb, "2013-03"), at("2013-03-01"), false),
    ];
    for (value, item, expected) in cases {
        check(ParamType::Date, None, value, &[(item.clone(), *expected)]);
    }
    // ap: within 10 % of the time between now and the value (here ten years: about 365 days).
    let now = range("2023-01-01").0;
    let ap = date(Ap, "2013-01-01");
    for (item, expected) in [
        (at("2013-01-01"), true),
        (at("2013-11-01"), true),
        (at("2014-06-01"), false),
        (at("2012-03-01"), true),
        (at("2011-06-01"), false),
        (period("2011-01-01", "2012-06-01"), true),
    ] {
        assert_eq!(
            matches_at(ParamType::Date, None, &ap, std::slice::from_ref(&item), now),
            expected,
            "{item:?}"
        );
    }
    // Close to now the margin is at least a day.
    let ap = date(Ap, "2023-01-01");
    assert!(matches_at(
        ParamType::Date,
        None,
        &ap,
        &[at("2023-01-02T12:00:00Z")],
        now
    ));
    assert!(!matches_at(
        ParamType::Date,
        None,
        &ap,
        &[at("2023-01-03T12:00:00Z")],
        now
    ));
    // Any of several values.
    assert!(matches(
        ParamType::Date,
        None,
        &date(Eq, "2013"),
        &[at("2012"), at("2013-05")]
    ));
}

#[test]
fn numbers_every_prefix_with_implicit_precision() {
    use Prefix::*;
    type Case<'a> = (Prefix, &'a str, &'a [(&'a str, bool)]);
    let cases: &[Case] = &[
        (
            Eq,
            "100",
            &[
                ("100", true),
                ("99.5", true),
                ("100.4999", true),
                ("100.5", false),
                ("99.49", false),
                ("1e2", true),
                ("100.000", true),
            ],
        ),
        (
            Eq,
            "100.00",
            &[
                ("99.995", true),
                ("99.994", false),
                ("100.004", true),
                ("100.005", false),
                ("100", true),
            ],
        ),
        (
            Eq,
            "1e2",
            &[
                ("50", true),
                ("149.9", true),
                ("150", false),
                ("49.9", false),
            ],
        ),
        (
            Eq,
            "1.0e2",
            &[
                ("95", true),
                ("94.9", false),
                ("104.99", true),
                ("105", false),
            ],
        ),
        (
            Eq,
            "-5",
            &[
                ("-5.4", true),
                ("-5.5", true),
                ("-4.5", false),
                ("-4.6", true),
                ("5", false),
            ],
        ),
        (
            Eq,
            "0",
            &[
                ("0.4", true),
                ("-0.5", true),
                ("0.5", false),
                ("0", true),
                ("-0.0", true),
            ],
        ),
        (
            Eq,
            "0.0",
            &[("0.05", false), ("-0.05", true), ("0.049", true)],
        ),
        (
            Eq,
            "1e300",
            &[("1.2e300", true), ("1.6e300", false), ("1e299", false)],
        ),
        (
            Eq,
            "1.5e-3",
            &[("0.00154", true), ("0.00155", false), ("0.00145", true)],
        ),
        (
            Ne,
            "100",
            &[("100.2", false), ("101", true), ("99.4", true)],
        ),
        (
            Gt,
            "100",
            &[
                ("100.1", true),
                ("100", false),
                ("100.0", false),
                ("99", false),
                ("1e3", true),
            ],
        ),
        (
            Lt,
            "100",
            &[
                ("99.9", true),
                ("100", false),
                ("-100", true),
                ("100.01", false),
            ],
        ),
        (
            Ge,
            "100",
            &[
                ("100", true),
                ("100.00", true),
                ("99.99", false),
                ("200", true),
            ],
        ),
        (Le, "100", &[("100", true), ("100.01", false), ("-3", true)]),
        (Gt, "-5", &[("-4", true), ("-6", false), ("0", true)]),
        (Lt, "-5", &[("-6", true), ("-5", false), ("-4.99", false)]),
        (
            Sa,
            "100",
            &[("100.5", true), ("100.4", false), ("101", true)],
        ),
        (
            Eb,
            "100",
            &[("99.4", true), ("99.5", false), ("100", false)],
        ),
        (
            Ap,
            "100",
            &[
                ("109", true),
                ("110.4", true),
                ("110.5", false),
                ("89.5", true),
                ("89.4", false),
            ],
        ),
    ];
    for (prefix, search, targets) in cases {
        let value = number(*prefix, search);
        for (target, expected) in *targets {
            check(
                ParamType::Number,
                None,
                &value,
                &[(IndexValue::Number((*target).into()), *expected)],
            );
        }
    }
    // Unparseable texts never match.
    check(
        ParamType::Number,
        None,
        &number(Eq, "1"),
        &[(IndexValue::Number("one".into()), false)],
    );
}

#[test]
fn quantities() {
    use Prefix::*;
    let ucum = "http://unitsofmeasure.org";
    let item = |value: &str, system: Option<&str>, code: Option<&str>, unit: Option<&str>| {
        IndexValue::Quantity {
            value: value.into(),
            system: system.map(str::to_owned),
            code: code.map(str::to_owned),
            unit: unit.map(str::to_owned),
        }
    };
    let search =
        |prefix, value: &str, system: Option<&str>, code: Option<&str>| SearchValue::Quantity {
            prefix,
            value: value.into(),
            system: system.map(str::to_owned),
            code: code.map(str::to_owned),
        };
    let mg = item("5.4", Some(ucum), Some("mg"), Some("milligram"));
    let unit_only = item("5.4", None, None, Some("mg"));
    let cases: &[(SearchValue, [bool; 2])] = &[
        (search(Eq, "5.4", Some(ucum), Some("mg")), [true, false]),
        (
            search(Eq, "5.4", Some("http://other"), Some("mg")),
            [false, false],
        ),
        (search(Eq, "5.4", Some(ucum), Some("g")), [false, false]),
        (search(Eq, "5.4", None, Some("mg")), [true, true]),
        (search(Eq, "5.4", None, Some("milligram")), [true, false]),
        (search(Eq, "5.4", None, None), [true, true]),
        (search(Eq, "5.4", Some(ucum), None), [true, false]),
        (search(Eq, "5", None, Some("mg")), [true, true]),
        (search(Eq, "5.0", None, Some("mg")), [false, false]),
        (search(Ne, "5.4", None, Some("mg")), [false, false]),
        (search(Ne, "6", None, Some("mg")), [true, true]),
        (search(Lt, "6", None, Some("mg")), [true, true]),
        (search(Gt, "6", None, Some("mg")), [false, false]),
        (search(Ge, "5.4", None, Some("mg")), [true, true]),
        (search(Le, "5.39", None, Some("mg")), [false, false]),
        (search(Sa, "5.3", None, Some("mg")), [true, true]),
        (search(Eb, "5.5", None, Some("mg")), [true, true]),
        (search(Ap, "5", None, Some("mg")), [true, true]),
        (search(Ap, "4", None, Some("mg")), [false, false]),
    ];
    for (value, [with_code, unit]) in cases {
        check(
            ParamType::Quantity,
            None,
            value,
            &[(mg.clone(), *with_code), (unit_only.clone(), *unit)],
        );
    }
}

#[test]
fn uris() {
    let item = IndexValue::Uri("http://acme.org/fhir/ValueSet/123".into());
    let uri = |text: &str| SearchValue::Uri(text.into());
    check(
        ParamType::Uri,
        None,
        &uri("http://acme.org/fhir/ValueSet/123"),
        &[(item.clone(), true)],
    );
    check(
        ParamType::Uri,
        None,
        &uri("http://acme.org/fhir/ValueSet/12"),
        &[(item.clone(), false)],
    );
    check(
        ParamType::Uri,
        None,
        &uri("HTTP://acme.org/fhir/ValueSet/123"),
        &[(item.clone(), false)],
    );
    let above = Some(&Modifier::Above);
    check(
        ParamType::Uri,
        above,
        &uri("http://acme.org/fhir/ValueSet/123/_history/5"),
        &[(item.clone(), true)],
    );
    check(
        ParamType::Uri,
        above,
        &uri("http://acme.org/fhir"),
        &[(item.clone(), false)],
    );
    let below = Some(&Modifier::Below);
    check(
        ParamType::Uri,
        below,
        &uri("http://acme.org/fhir/"),
        &[(item.clone(), true)],
    );
    check(
        ParamType::Uri,
        below,
        &uri("http://acme.org/fhir/ValueSet/123/x"),
        &[(item.clone(), false)],
    );
}

#[test]
fn composites_match_within_one_tuple() {
    let loinc = Some("http://loinc.org");
    let tuple = |code: &str, value: &str| {
        IndexValue::Composite(vec![
            vec![coding(loinc, Some(code), &[])],
            vec![IndexValue::Quantity {
                value: value.into(),
                system: Some("http://unitsofmeasure.org".into()),
                code: Some("mm[Hg]".into()),
                unit: None,
            }],
        ])
    };
    let blood_pressure = [tuple("8480-6", "120"), tuple("8462-4", "80")];
    let search = |code: &str, prefix, value: &str| {
        SearchValue::Composite(vec![
            token(Some(loinc.map(Some).unwrap()), Some(code)),
            SearchValue::Quantity {
                prefix,
                value: value.into(),
                system: None,
                code: None,
            },
        ])
    };
    for (value, expected) in [
        (search("8480-6", Prefix::Gt, "100"), true),
        (search("8480-6", Prefix::Lt, "100"), false),
        (search("8462-4", Prefix::Lt, "100"), true),
        (search("8462-4", Prefix::Eq, "120"), false),
        (search("1234-5", Prefix::Gt, "0"), false),
    ] {
        assert_eq!(
            matches(ParamType::Composite, None, &value, &blood_pressure),
            expected,
            "{value:?}"
        );
    }
    // A wrong number of parts never matches.
    let short = SearchValue::Composite(vec![token(None, Some("8480-6"))]);
    assert!(!matches(
        ParamType::Composite,
        None,
        &short,
        &blood_pressure
    ));
}

#[test]
fn missing_and_near() {
    let name = [string("x")];
    assert!(matches(
        ParamType::String,
        Some(&Modifier::Missing),
        &SearchValue::Missing(true),
        &[]
    ));
    assert!(!matches(
        ParamType::String,
        Some(&Modifier::Missing),
        &SearchValue::Missing(true),
        &name
    ));
    assert!(matches(
        ParamType::String,
        Some(&Modifier::Missing),
        &SearchValue::Missing(false),
        &name
    ));
    assert!(!matches(
        ParamType::String,
        Some(&Modifier::Missing),
        &SearchValue::Missing(false),
        &[]
    ));
    // Boston to Cambridge (MA) is about 4.5 km.
    let cambridge = [IndexValue::Position {
        latitude: 42.3736,
        longitude: -71.1097,
    }];
    let near = |distance_km| SearchValue::Near {
        latitude: 42.3601,
        longitude: -71.0589,
        distance_km,
    };
    assert!(matches(ParamType::Special, None, &near(5.0), &cambridge));
    assert!(!matches(ParamType::Special, None, &near(4.0), &cambridge));
    let distance = haversine_km((42.3601, -71.0589), (42.3736, -71.1097));
    assert!((4.0..5.0).contains(&distance), "{distance}");
    // Antipodes: half the circumference.
    let antipodes = haversine_km((0.0, 0.0), (0.0, 180.0));
    assert!((antipodes - 20_015.1).abs() < 1.0, "{antipodes}");
}
