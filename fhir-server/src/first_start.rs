//! First start with authorization on: the default tenant gets an admin user, whose one-time
//! password is printed on the console (and never stored in clear).

use fhir_core::store::DEFAULT_TENANT;
use smart_auth::{AuthError, AuthServer, Role, users};

/// The name of the admin created at first start.
pub const FIRST_ADMIN: &str = "admin";

/// Creates the default tenant's admin if the tenant has no user yet, and prints its password.
pub async fn ensure_admin(auth: &AuthServer) -> Result<(), AuthError> {
    if !users::list(auth.store(), DEFAULT_TENANT).await?.is_empty() {
        return Ok(());
    }
    let password = smart_auth::jose::random_token(18);
    match users::create(
        auth.store(),
        DEFAULT_TENANT,
        FIRST_ADMIN,
        &password,
        Role::Admin,
        None,
    )
    .await
    {
        Ok(_) => {
            // On the console only, once: the operator logs in with it and should change it.
            println!(
                "\n  First start: created the admin user of the default tenant.\n  user name: {FIRST_ADMIN}\n  password:  {password}\n  (shown once; change it with `fhir-server user password {FIRST_ADMIN}`)\n"
            );
            Ok(())
        }
        // Another node created it at the same moment.
        Err(AuthError::Conflict(_)) => Ok(()),
        Err(error) => Err(error),
    }
}
