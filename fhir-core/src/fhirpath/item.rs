//! The items of FHIRPath collections: nodes of the resource (borrowed, with their FHIR type) and
//! System values computed by the expression.

use serde_json::Value;

use super::datetime::{PartialTemporal, TemporalKind};
use super::decimal::Decimal;
use super::quantity::Quantity;
use crate::model::Model;

/// A node of the evaluated resource: the JSON value, its FHIR type and, for primitives, the
/// `_name` sibling that holds its `id` and extensions.
#[derive(Debug, Clone, Copy)]
pub struct Node<'a> {
    /// The JSON value; `None` for a primitive that only has extensions (`_birthDate` alone).
    pub value: Option<&'a Value>,
    /// The `_name` object of a primitive (`{"extension": [...]}`), when present.
    pub extension: Option<&'a Value>,
    /// The FHIR type name (`Patient`, `HumanName`, `date`); empty when unknown.
    pub type_name: &'static str,
}

/// One item of a collection.
#[derive(Debug, Clone)]
pub enum Item<'a> {
    /// A node of the resource (or of a resolved one).
    Node(Node<'a>),
    /// `System.Boolean`.
    Boolean(bool),
    /// `System.Integer`.
    Integer(i64),
    /// `System.Decimal`.
    Decimal(Decimal),
    /// `System.String`.
    String(String),
    /// `System.Date`, `System.DateTime` or `System.Time`.
    Temporal(PartialTemporal),
    /// `System.Quantity`.
    Quantity(Quantity),
}

/// The static name of a type in the model (`""` when unknown).
pub(crate) fn model_type_name(name: &str) -> &'static str {
    Model::r4().type_def(name).map_or("", |t| t.name.as_str())
}

impl<'a> Item<'a> {
    /// A node for a resource value: its type comes from `resourceType`.
    pub fn resource(value: &'a Value) -> Item<'a> {
        let type_name = value
            .get("resourceType")
            .and_then(Value::as_str)
            .map_or("", model_type_name);
        Item::Node(Node {
            value: Some(value),
            extension: None,
            type_name,
        })
    }

    /// The JSON value of a node, `None` for System values.
    pub fn as_json(&self) -> Option<&'a Value> {
        match self {
            Item::Node(node) => node.value,
            _ => None,
        }
    }

    /// The type name: the FHIR type of a node (`HumanName`, `date`) or the System type
    /// (`Boolean`, `Integer`, `Decimal`, `String`, `Date`, `DateTime`, `Time`, `Quantity`).
    pub fn type_name(&self) -> &'static str {
        match self {
            Item::Node(node) => node.type_name,
            Item::Boolean(_) => "Boolean",
            Item::Integer(_) => "Integer",
            Item::Decimal(_) => "Decimal",
            Item::String(_) => "String",
            Item::Temporal(t) => match t.kind {
                TemporalKind::Date => "Date",
                TemporalKind::DateTime => "DateTime",
                TemporalKind::Time => "Time",
            },
            Item::Quantity(_) => "Quantity",
        }
    }

    /// `true` for System values, `false` for nodes.
    pub fn is_system(&self) -> bool {
        !matches!(self, Item::Node(_))
    }

    /// The item as JSON: nodes as they are in the resource, System values as JSON booleans,
    /// numbers and strings (dates and quantities as their FHIRPath text without `@`).
    pub fn to_json(&self) -> Value {
        match self {
            Item::Node(node) => node.value.cloned().unwrap_or(Value::Null),
            Item::Boolean(b) => Value::Bool(*b),
            Item::Integer(i) => Value::from(*i),
            Item::Decimal(d) => serde_json::from_str(&d.to_string())
                .unwrap_or_else(|_| Value::String(d.to_string())),
            Item::String(s) => Value::String(s.clone()),
            Item::Temporal(t) => Value::String(t.to_string()),
            Item::Quantity(q) => Value::String(q.to_string()),
        }
    }

    /// The item as a System value: nodes of primitive types (and of `Quantity` and its
    /// specialisations) are converted; other nodes stay as they are.
    pub(crate) fn primitive(&self) -> Item<'a> {
        let Item::Node(node) = self else {
            return self.clone();
        };
        let Some(value) = node.value else {
            return self.clone();
        };
        let converted = match value {
            Value::Bool(b) => Some(Item::Boolean(*b)),
            Value::Number(n) => {
                let text = n.to_string();
                if node.type_name == "decimal" || text.contains(['.', 'e', 'E']) {
                    Decimal::parse(&text).map(Item::Decimal)
                } else {
                    text.parse().ok().map(Item::Integer)
                }
            }
            Value::String(s) => match node.type_name {
                "date" => PartialTemporal::parse_date_time(s).map(Item::Temporal),
                // A `dateTime` written as a date is still a DateTime (of day precision).
                "dateTime" | "instant" => PartialTemporal::parse_date_time(s).map(|mut t| {
                    t.kind = TemporalKind::DateTime;
                    Item::Temporal(t)
                }),
                "time" => PartialTemporal::parse_time(s).map(Item::Temporal),
                _ => Some(Item::String(s.clone())),
            },
            Value::Object(map) if is_quantity_type(node.type_name) => (|| {
                let number = map.get("value").and_then(|v| v.as_number())?;
                let value = Decimal::parse(&number.to_string())?;
                let unit = map
                    .get("code")
                    .or_else(|| map.get("unit"))
                    .and_then(Value::as_str)
                    .unwrap_or("1");
                Some(Item::Quantity(Quantity::new(value, unit)))
            })(),
            _ => None,
        };
        converted.unwrap_or_else(|| self.clone())
    }
}

/// `Quantity` and the datatypes derived from it.
pub(crate) fn is_quantity_type(name: &str) -> bool {
    matches!(
        name,
        "Quantity" | "Age" | "Distance" | "Duration" | "Count" | "SimpleQuantity" | "MoneyQuantity"
    )
}
