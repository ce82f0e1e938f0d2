//! FHIR search, without HTTP: the search parameter definitions, extraction of indexable values
//! from resources, the parsed form of a search request, and exact matching of values.
//!
//! - [`params`]: the 1,375 official R4 SearchParameters (generated, checked in) and tenant-defined
//!   ones, looked up by resource type and code;
//! - [`extract`]: compiled search parameter expressions, evaluated over borrowed JSON, giving
//!   [`IndexValue`]s;
//! - [`compartments`]: the R4 CompartmentDefinitions (which parameters link a resource to a
//!   Patient, Encounter, Practitioner, RelatedPerson or Device);
//! - [`query`]: a search request parsed from its parameters ([`query::SearchRequest`]);
//! - [`matching`]: whether extracted values satisfy a parsed search value, exactly as the
//!   specification says. The index narrows; this decides.

pub mod compartments;
pub mod extract;
pub mod matching;
pub mod params;
pub mod query;

use crate::store::Millis;

/// The type of a search parameter (`SearchParameter.type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ParamType {
    /// A number (integer or decimal).
    Number,
    /// A date, dateTime, instant, Period or Timing.
    Date,
    /// A string (HumanName, Address and plain strings).
    String,
    /// A code, Coding, CodeableConcept, Identifier, ContactPoint, boolean …
    Token,
    /// A Reference or canonical.
    Reference,
    /// A tuple of other parameters.
    Composite,
    /// A Quantity (value, system, code).
    Quantity,
    /// A uri, url or canonical.
    Uri,
    /// A parameter with its own rules (`Location.near`).
    Special,
}

/// One value a search parameter takes in a resource, ready for the index and for exact matching.
///
/// Extraction produces a list of these per parameter; a parameter with no values is `:missing`.
#[derive(Debug, Clone, PartialEq)]
pub enum IndexValue {
    /// A string as written in the resource (matching normalises it with
    /// [`normalize_string`]). HumanName and Address give one value per part and one for the
    /// whole text.
    String(String),
    /// A coded value.
    Token {
        /// The code system (`Coding.system`, `Identifier.system`, `ContactPoint.system` is *not*
        /// one: a ContactPoint gives only its value as code).
        system: Option<String>,
        /// The code (`Coding.code`, `Identifier.value`, the value of a code/boolean/string).
        code: Option<String>,
        /// Texts for `:text` (`Coding.display`, `CodeableConcept.text`, `Identifier.type.text`).
        text: Vec<String>,
        /// For `:of-type` on an Identifier: the codings of `Identifier.type` (system, code).
        of_type: Vec<(Option<String>, Option<String>)>,
    },
    /// A reference to another resource.
    Reference {
        /// The resource type, when the reference names it (`Patient/1`, or the target of a
        /// parameter with a single target type).
        resource_type: Option<String>,
        /// The logical id, for relative and local-server references.
        id: Option<String>,
        /// The reference as written when it is absolute or canonical (`http://…`, `urn:uuid:…`),
        /// without a `|version` suffix.
        url: Option<String>,
        /// `Reference.identifier` (system, value), for `:identifier`.
        identifier: Option<(Option<String>, Option<String>)>,
    },
    /// A date range, half-open: `[start, end)` in milliseconds since the epoch (UTC). A date
    /// gives its whole day/month/year; an open-ended Period uses `i64::MIN` / `i64::MAX`.
    Date {
        /// The first millisecond included.
        start: Millis,
        /// The first millisecond after the range.
        end: Millis,
    },
    /// A number as written (decimal text, so that its precision is known).
    Number(String),
    /// A quantity.
    Quantity {
        /// The value as written (decimal text).
        value: String,
        /// `Quantity.system`.
        system: Option<String>,
        /// `Quantity.code`.
        code: Option<String>,
        /// `Quantity.unit` (human-readable; matched when no system is given).
        unit: Option<String>,
    },
    /// A uri (url, canonical, oid, uuid), as written.
    Uri(String),
    /// One tuple of a composite parameter: for each component (in definition order), the values
    /// the component takes relative to the same root.
    Composite(Vec<Vec<IndexValue>>),
    /// A position (`Location.position`), for `near`.
    Position {
        /// Latitude in degrees.
        latitude: f64,
        /// Longitude in degrees.
        longitude: f64,
    },
}

/// Normalises a string for the default string search: lower case, accents and other combining
/// marks removed, whitespace runs collapsed to one space, trimmed.
pub fn normalize_string(text: &str) -> String {
    matching::normalize(text)
}
