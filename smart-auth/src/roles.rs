//! The roles of users and what each may do, whatever scopes an app asks for: a token's rights
//! are its scopes intersected with its user's role.
//!
//! | role | reads and searches | writes |
//! |---|---|---|
//! | admin | every type | every type but AuditEvent |
//! | clinician | every type but SearchParameter and AuditEvent | the same |
//! | receptionist | demographics, directory and scheduling ([`FRONT_DESK`]) | the same |
//! | patient | their own compartment, and the directory and forms of [`SHARED`] | [`PATIENT_WRITES`] in their compartment |
//!
//! AuditEvent is append-only through the API: no user updates or deletes it.

use std::fmt;
use std::str::FromStr;

use crate::scopes::Op;

/// The role of a user in a tenant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Manages users, clients and the tenant's configuration; sees everything.
    Admin,
    /// Clinical staff: every clinical and administrative resource.
    Clinician,
    /// Front desk: demographics, directory and scheduling, nothing clinical.
    Receptionist,
    /// A patient: their own record.
    Patient,
}

/// What a receptionist may read and write.
pub const FRONT_DESK: &[&str] = &[
    "Patient",
    "RelatedPerson",
    "Person",
    "Practitioner",
    "PractitionerRole",
    "Organization",
    "Location",
    "HealthcareService",
    "Endpoint",
    "Schedule",
    "Slot",
    "Appointment",
    "AppointmentResponse",
    "Coverage",
];

/// Resources outside the patient compartment that hold no patient's data and that a patient may
/// read: the directory (to book), and the forms and terminology apps need.
pub const SHARED: &[&str] = &[
    "Practitioner",
    "PractitionerRole",
    "Organization",
    "Location",
    "HealthcareService",
    "Endpoint",
    "Schedule",
    "Slot",
    "Questionnaire",
    "ValueSet",
    "CodeSystem",
    "Medication",
];

/// What a patient may create and update, in their own compartment only.
pub const PATIENT_WRITES: &[&str] = &[
    "Patient",
    "Appointment",
    "AppointmentResponse",
    "QuestionnaireResponse",
    "Communication",
];

/// Staff-only even for clinicians.
const ADMIN_ONLY: &[&str] = &["SearchParameter", "AuditEvent"];

impl Role {
    /// `true` when the role allows `op` on `resource_type` at all (a patient is further limited
    /// to their compartment by the server).
    pub fn allows(self, resource_type: &str, op: Op) -> bool {
        let writes = matches!(op, Op::Create | Op::Update | Op::Delete);
        if resource_type == "AuditEvent" && matches!(op, Op::Update | Op::Delete) {
            return false;
        }
        match self {
            Role::Admin => true,
            Role::Clinician => !ADMIN_ONLY.contains(&resource_type),
            Role::Receptionist => FRONT_DESK.contains(&resource_type),
            Role::Patient => {
                if ADMIN_ONLY.contains(&resource_type) {
                    false
                } else if writes {
                    op != Op::Delete && PATIENT_WRITES.contains(&resource_type)
                } else {
                    SHARED.contains(&resource_type)
                        || fhir_core::search::compartments::compartment_params(
                            "Patient",
                            resource_type,
                        )
                        .is_some()
                        || resource_type == "Patient"
                }
            }
        }
    }

    /// `true` for staff roles.
    pub fn is_staff(self) -> bool {
        self != Role::Patient
    }

    /// The name.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Clinician => "clinician",
            Role::Receptionist => "receptionist",
            Role::Patient => "patient",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = String;

    fn from_str(text: &str) -> Result<Role, String> {
        match text {
            "admin" => Ok(Role::Admin),
            "clinician" => Ok(Role::Clinician),
            "receptionist" => Ok(Role::Receptionist),
            "patient" => Ok(Role::Patient),
            other => Err(format!(
                "unknown role '{other}': admin, clinician, receptionist or patient"
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_role_matrix() {
        assert!(Role::Receptionist.allows("Appointment", Op::Create));
        assert!(Role::Receptionist.allows("Patient", Op::Search));
        assert!(!Role::Receptionist.allows("Observation", Op::Read));
        assert!(!Role::Receptionist.allows("Condition", Op::Search));
        assert!(Role::Clinician.allows("Observation", Op::Update));
        assert!(!Role::Clinician.allows("SearchParameter", Op::Create));
        assert!(Role::Admin.allows("SearchParameter", Op::Create));
        assert!(!Role::Admin.allows("AuditEvent", Op::Delete));
        assert!(Role::Patient.allows("Observation", Op::Read));
        assert!(Role::Patient.allows("Practitioner", Op::Search));
        assert!(Role::Patient.allows("QuestionnaireResponse", Op::Create));
        assert!(!Role::Patient.allows("Observation", Op::Create));
        assert!(!Role::Patient.allows("AuditEvent", Op::Read));
        assert!(!Role::Patient.allows("SearchParameter", Op::Read));
        assert!(!Role::Patient.allows("Appointment", Op::Delete));
    }
}
