use std::process::ExitCode;

use app::config::Config;
use app::startup::{self, Application};
use domain::oidc::RegistrationRequest;

/// mimalloc: measured faster than the system allocator on the request path
/// (docs/benchmarks.md), where most allocations are small and short-lived.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const USAGE: &str = "\
codezest-auth — authentication service

USAGE:
    codezest-auth [serve]     run the HTTP API (default)
    codezest-auth migrate     apply pending database migrations and exit
    codezest-auth admin grant EMAIL
                              give the account with this address the `admin` role
    codezest-auth clients create NAME [--redirect-uri URL]... [--public] [--first-party]
            [--post-logout-redirect-uri URL]... [--backchannel-logout-uri URL]
            [--scope SCOPE]... [--id-token-alg RS256|ES256|EdDSA]
                              register a client: with a name only, an API client
                              (introspection, revocation, client_credentials); with
                              redirect URIs, an application signing users in through
                              the OpenID provider. Prints its id and secret (none for
                              a public client), shown this once

Configuration comes from the environment (and a .env file); see README.md.";

fn main() -> ExitCode {
    let _ = dotenvy::dotenv();
    let args: Vec<String> = std::env::args().collect();
    let command = match args.get(1).map(String::as_str) {
        None | Some("serve") => Command::Serve,
        Some("migrate") => Command::Migrate,
        Some("admin") => match (args.get(2).map(String::as_str), args.get(3), args.len()) {
            (Some("grant"), Some(email), 4) => Command::AdminGrant(email.clone()),
            _ => {
                eprintln!("codezest-auth: usage: codezest-auth admin grant EMAIL\n\n{USAGE}");
                return ExitCode::from(2);
            }
        },
        Some("clients") => match (args.get(2).map(String::as_str), args.get(3)) {
            (Some("create"), Some(name)) if !name.starts_with("--") => {
                match registration_options(&args[4..]) {
                    Ok(request) => Command::ClientsCreate(name.clone(), request),
                    Err(error) => {
                        eprintln!("codezest-auth: {error}\n\n{USAGE}");
                        return ExitCode::from(2);
                    }
                }
            }
            _ => {
                eprintln!(
                    "codezest-auth: usage: codezest-auth clients create NAME [options]\n\n{USAGE}"
                );
                return ExitCode::from(2);
            }
        },
        Some("-h" | "--help" | "help") => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Some("-V" | "--version") => {
            println!("codezest-auth {}", env!("CARGO_PKG_VERSION"));
            return ExitCode::SUCCESS;
        }
        Some(other) => {
            eprintln!("codezest-auth: unknown command {other:?}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let config = match Config::from_env() {
        Ok(config) => config,
        Err(error) => {
            eprintln!("codezest-auth: configuration error: {error}");
            return ExitCode::from(78);
        }
    };
    let telemetry = app::telemetry::init(&config.telemetry);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("codezest-auth: cannot start the async runtime: {error}");
            telemetry.shutdown();
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        match command {
            Command::Serve => {
                let app = Application::build(&config).await?;
                app.run_until_stopped(startup::shutdown_signal()).await?;
                Ok(())
            }
            Command::Migrate => {
                startup::migrate(&config).await?;
                tracing::info!("migrations applied");
                Ok::<(), anyhow::Error>(())
            }
            Command::AdminGrant(email) => {
                startup::grant_admin(&config, &email).await?;
                println!("{email} has the admin role");
                Ok(())
            }
            Command::ClientsCreate(name, request) => {
                let (id, secret) = startup::create_client(&config, &name, request).await?;
                println!("client_id={id}");
                // The secret is shown here once; it is stored only as a digest.
                if let Some(secret) = secret {
                    println!("client_secret={secret}");
                }
                Ok(())
            }
        }
    });
    drop(runtime);
    telemetry.shutdown();
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("codezest-auth: {error:#}");
            ExitCode::FAILURE
        }
    }
}

enum Command {
    Serve,
    Migrate,
    /// `admin grant EMAIL`.
    AdminGrant(String),
    /// `clients create NAME [options]`.
    ClientsCreate(String, RegistrationRequest),
}

/// The options of `clients create NAME`: repeatable URIs and scopes, flags.
fn registration_options(args: &[String]) -> Result<RegistrationRequest, String> {
    let mut request = RegistrationRequest::default();
    let mut scopes: Option<Vec<String>> = None;
    let mut args = args.iter();
    while let Some(option) = args.next() {
        let mut value = || {
            args.next()
                .cloned()
                .ok_or_else(|| format!("{option} needs a value"))
        };
        match option.as_str() {
            "--redirect-uri" => request.redirect_uris.push(value()?),
            "--post-logout-redirect-uri" => request.post_logout_redirect_uris.push(value()?),
            "--backchannel-logout-uri" => request.backchannel_logout_uri = Some(value()?),
            "--scope" => scopes.get_or_insert_with(Vec::new).push(value()?),
            "--id-token-alg" => request.id_token_signed_response_alg = Some(value()?),
            "--public" => request.public = true,
            "--first-party" => request.first_party = true,
            other => return Err(format!("unknown option {other:?} for clients create")),
        }
    }
    request.scopes = scopes;
    Ok(request)
}
