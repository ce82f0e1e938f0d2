//! The command line: `serve` (the default), `reindex`, `tenant create|list`, and the
//! authorization server's `user create|password`, `client create|list`, `keys rotate`.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::config::Config;
use crate::startup::Application;

#[derive(Debug, Parser)]
#[command(name = "fhir-server", version, about = "A FHIR R4 server")]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    config: Config,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the server (the default command).
    Serve,
    /// Rebuild the search index from the database (the server must not be running on the same
    /// index directory).
    Reindex,
    /// Manage tenants.
    Tenant {
        #[command(subcommand)]
        action: TenantAction,
    },
    /// Manage the users of a tenant's authorization server.
    User {
        #[command(subcommand)]
        action: UserAction,
    },
    /// Manage the registered apps (OAuth clients) of a tenant.
    Client {
        #[command(subcommand)]
        action: ClientAction,
    },
    /// Manage the signing keys of a tenant.
    Keys {
        #[command(subcommand)]
        action: KeysAction,
    },
}

#[derive(Debug, Subcommand)]
enum TenantAction {
    /// Create a tenant, served at /t/{name}/fhir.
    Create {
        /// Lower-case letters, digits and '-', at most 64 characters.
        name: String,
    },
    /// List the tenants.
    List,
}

/// Parses the command line and runs the command.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    crate::telemetry::init();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("cannot start the runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(run(cli));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> Result<(), String> {
    match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => {
            let app = Application::build(cli.config)
                .await
                .map_err(|e| e.to_string())?;
            app.run_until_stopped().await.map_err(|e| e.to_string())
        }
        Command::Reindex => {
            let store = crate::startup::open_store(&cli.config)
                .await
                .map_err(|e| e.to_string())?;
            let location = cli.config.index_location();
            if let fhir_core::index::IndexLocation::Directory(dir) = &location
                && dir.exists()
            {
                std::fs::remove_dir_all(dir)
                    .map_err(|e| format!("cannot remove {}: {e}", dir.display()))?;
            }
            let started = std::time::Instant::now();
            let index = fhir_core::index::SearchIndex::open(location, store.clone())
                .await
                .map_err(|e| e.to_string());
            store.close().await;
            let index = index?;
            println!(
                "search index rebuilt up to change {} in {:.1} s ({} bytes on disk)",
                index.visible_seq(),
                started.elapsed().as_secs_f64(),
                index.size_on_disk()
            );
            Ok(())
        }
        Command::Tenant { action } => {
            let store = crate::startup::open_store(&cli.config)
                .await
                .map_err(|e| e.to_string())?;
            let result = match action {
                TenantAction::Create { name } => {
                    if !crate::tenant::is_valid_name(&name) {
                        return Err(format!(
                            "invalid tenant name '{name}': use a-z, 0-9 and '-', at most 64 characters"
                        ));
                    }
                    store
                        .create_tenant(&name)
                        .await
                        .map(|()| println!("created tenant {name}"))
                }
                TenantAction::List => store.list_tenants().await.map(|tenants| {
                    for tenant in tenants {
                        println!("{tenant}");
                    }
                }),
            };
            store.close().await;
            result.map_err(|e| e.to_string())
        }
        Command::User { action } => user(&cli.config, action).await,
        Command::Client { action } => client(&cli.config, action).await,
        Command::Keys { action } => keys(&cli.config, action).await,
    }
}

#[derive(Debug, Subcommand)]
enum UserAction {
    /// Create a user; the password comes from FHIR_USER_PASSWORD, or is generated and printed
    /// once.
    Create {
        /// 1-64 letters, digits, '.', '_', '-', '@'.
        name: String,
        /// admin, clinician, receptionist or patient.
        #[arg(long)]
        role: String,
        /// The user's FHIR resource: `Patient/1` for a patient, `Practitioner/2` for staff.
        #[arg(long)]
        fhir_user: Option<String>,
        /// The tenant (default: the default tenant).
        #[arg(long, default_value = fhir_core::store::DEFAULT_TENANT)]
        tenant: String,
    },
    /// Set a user's password (FHIR_USER_PASSWORD, or generated and printed once); the user's
    /// refresh tokens stop working.
    Password {
        name: String,
        #[arg(long, default_value = fhir_core::store::DEFAULT_TENANT)]
        tenant: String,
    },
}

#[derive(Debug, Subcommand)]
enum ClientAction {
    /// Register an app; prints its client_id and, for a symmetric client, its secret (once).
    Create {
        /// Shown on the consent page.
        #[arg(long)]
        name: String,
        /// public, confidential-symmetric or confidential-asymmetric.
        #[arg(long, default_value = "public")]
        kind: String,
        /// An exact redirect URI (repeatable).
        #[arg(long = "redirect-uri")]
        redirect_uris: Vec<String>,
        /// The most the app may be granted (space-separated scopes).
        #[arg(long)]
        scope: String,
        /// A JWKS file with the public keys of an asymmetric client.
        #[arg(long)]
        jwks: Option<std::path::PathBuf>,
        /// A chosen client_id (default: random).
        #[arg(long)]
        client_id: Option<String>,
        #[arg(long, default_value = fhir_core::store::DEFAULT_TENANT)]
        tenant: String,
    },
    /// List the registered apps.
    List {
        #[arg(long, default_value = fhir_core::store::DEFAULT_TENANT)]
        tenant: String,
    },
}

#[derive(Debug, Subcommand)]
enum KeysAction {
    /// Add a new signing key, which signs from now on (older keys still verify).
    Rotate {
        #[arg(long, default_value = fhir_core::store::DEFAULT_TENANT)]
        tenant: String,
    },
}

/// Opens the store, checks the tenant and runs `work` with an authorization server over it.
async fn with_auth<F, Fut>(config: &Config, tenant: &str, work: F) -> Result<(), String>
where
    F: FnOnce(smart_auth::AuthServer) -> Fut,
    Fut: std::future::Future<Output = Result<(), String>>,
{
    let store = crate::startup::open_store(config)
        .await
        .map_err(|e| e.to_string())?;
    let result = match store.tenant_exists(tenant).await {
        Ok(true) => {
            work(smart_auth::AuthServer::new(
                store.clone(),
                Default::default(),
            ))
            .await
        }
        Ok(false) => Err(format!("no tenant '{tenant}'")),
        Err(error) => Err(error.to_string()),
    };
    store.close().await;
    result
}

/// FHIR_USER_PASSWORD, or a generated password that is printed once.
fn password_from_env() -> (String, bool) {
    match std::env::var("FHIR_USER_PASSWORD") {
        Ok(password) if !password.is_empty() => (password, false),
        _ => (smart_auth::jose::random_token(18), true),
    }
}

async fn user(config: &Config, action: UserAction) -> Result<(), String> {
    match action {
        UserAction::Create {
            name,
            role,
            fhir_user,
            tenant,
        } => {
            let role: smart_auth::Role = role.parse()?;
            with_auth(config, &tenant.clone(), |auth| async move {
                let (password, generated) = password_from_env();
                let user = smart_auth::users::create(
                    auth.store(),
                    &tenant,
                    &name,
                    &password,
                    role,
                    fhir_user.as_deref(),
                )
                .await
                .map_err(|e| e.to_string())?;
                println!(
                    "created user {} ({}) id {}",
                    user.username, user.role, user.id
                );
                if generated {
                    println!("password (shown once): {password}");
                }
                Ok(())
            })
            .await
        }
        UserAction::Password { name, tenant } => {
            with_auth(config, &tenant.clone(), |auth| async move {
                let (password, generated) = password_from_env();
                smart_auth::users::set_password(auth.store(), &tenant, &name, &password)
                    .await
                    .map_err(|e| e.to_string())?;
                auth.revoke_grants_where(&tenant, |grant| {
                    grant
                        .user
                        .as_ref()
                        .is_some_and(|user| user.username == name)
                })
                .await
                .map_err(|e| e.to_string())?;
                println!("password of {name} changed");
                if generated {
                    println!("password (shown once): {password}");
                }
                Ok(())
            })
            .await
        }
    }
}

async fn client(config: &Config, action: ClientAction) -> Result<(), String> {
    match action {
        ClientAction::Create {
            name,
            kind,
            redirect_uris,
            scope,
            jwks,
            client_id,
            tenant,
        } => {
            let kind: smart_auth::clients::ClientKind =
                serde_json::from_value(serde_json::Value::String(kind.clone())).map_err(|_| {
                    format!(
                        "unknown kind '{kind}': public, confidential-symmetric or confidential-asymmetric"
                    )
                })?;
            let jwks = match jwks {
                Some(path) => {
                    let text = std::fs::read_to_string(&path)
                        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
                    Some(
                        serde_json::from_str(&text)
                            .map_err(|e| format!("{} is not JSON: {e}", path.display()))?,
                    )
                }
                None => None,
            };
            let new = smart_auth::clients::NewClient {
                name,
                kind: Some(kind),
                redirect_uris,
                scope,
                jwks,
                jwks_uri: None,
                client_id,
            };
            with_auth(config, &tenant.clone(), |auth| async move {
                let (client, secret) = smart_auth::clients::create(auth.store(), &tenant, new)
                    .await
                    .map_err(|e| e.to_string())?;
                println!("client_id: {}", client.client_id);
                if let Some(secret) = secret {
                    println!("client_secret (shown once): {secret}");
                }
                Ok(())
            })
            .await
        }
        ClientAction::List { tenant } => {
            with_auth(config, &tenant.clone(), |auth| async move {
                let clients = smart_auth::clients::list(auth.store(), &tenant)
                    .await
                    .map_err(|e| e.to_string())?;
                for client in clients {
                    println!(
                        "{}\t{}\t{:?}\t{}",
                        client.client_id, client.name, client.kind, client.scope
                    );
                }
                Ok(())
            })
            .await
        }
    }
}

async fn keys(config: &Config, action: KeysAction) -> Result<(), String> {
    let KeysAction::Rotate { tenant } = action;
    with_auth(config, &tenant.clone(), |auth| async move {
        let kid = auth
            .keys()
            .rotate(auth.store(), &tenant)
            .await
            .map_err(|e| e.to_string())?;
        println!("new signing key {kid}");
        Ok(())
    })
    .await
}
