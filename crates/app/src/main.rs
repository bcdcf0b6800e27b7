use std::process::ExitCode;

use app::config::Config;
use app::startup::{self, Application};

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
    codezest-auth clients create NAME
                              register an API client (introspection, revocation);
                              prints its id and secret, shown this once

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
        Some("clients") => match (args.get(2).map(String::as_str), args.get(3), args.len()) {
            (Some("create"), Some(name), 4) => Command::ClientsCreate(name.clone()),
            _ => {
                eprintln!("codezest-auth: usage: codezest-auth clients create NAME\n\n{USAGE}");
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
            Command::ClientsCreate(name) => {
                let (id, secret) = startup::create_client(&config, &name).await?;
                // The secret is shown here once; it is stored only as a digest.
                println!("client_id={id}\nclient_secret={secret}");
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
    /// `clients create NAME`.
    ClientsCreate(String),
}
