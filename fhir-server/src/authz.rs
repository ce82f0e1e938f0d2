//! Access control: what a verified token may do (its scopes ∩ its user's role ∩ its tenant).
