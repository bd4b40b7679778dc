//! The `lectern` command line.

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use lectern::config::{Config, LogFormat};
use lectern::{app::App, db, demo, graphql, server, telemetry};

/// Continuous integration and autograding for programming courses.
///
/// Configuration comes from the environment only; see .env.example or the README.
#[derive(Parser)]
#[command(name = "lectern", version, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server: GraphQL API, webhooks, sign-in and the web client.
    Serve {
        /// Do not apply pending database migrations at start (apply them with `lectern migrate`).
        #[arg(long)]
        no_migrate: bool,
    },
    /// Apply pending database migrations (needs only DATABASE_URL).
    Migrate {
        /// Only show which migrations are applied and which are pending.
        #[arg(long)]
        status: bool,
    },
    /// Print the GraphQL schema (SDL); `schema.graphql` holds its output.
    PrintSchema,
    /// Seed the demo course, its people and an assignment (idempotent; needs DATABASE_URL).
    Demo,
    /// Commands for the people who run Lectern.
    Admin {
        #[command(subcommand)]
        command: AdminCommand,
    },
}

#[derive(Subcommand)]
enum AdminCommand {
    /// Check that this server can reach PostgreSQL, the container engine or cluster, GitHub
    /// and the mail server, saying what is wrong and what to try; fails when any cannot be.
    Check,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("error: cannot start the async runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli.command)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(command: Command) -> anyhow::Result<()> {
    match command {
        Command::PrintSchema => {
            print!("{}", graphql::sdl());
            Ok(())
        }
        Command::Migrate { status } => {
            telemetry::init(LogFormat::Text, "warn");
            let url = Config::database_url_from_env()?;
            if status {
                let mut conn = db::connect(url.expose()).await?;
                let status = db::migration_status(&mut conn).await?;
                for version in &status.applied {
                    println!("applied  {version}");
                }
                for version in &status.pending {
                    println!("pending  {version}");
                }
                return Ok(());
            }
            let applied = db::migrate(url.expose()).await?;
            if applied.is_empty() {
                println!("The database is up to date.");
            } else {
                for version in &applied {
                    println!("applied  {version}");
                }
            }
            Ok(())
        }
        Command::Demo => {
            telemetry::init(LogFormat::Text, "warn");
            let url = Config::database_url_from_env()?;
            db::migrate(url.expose()).await?;
            let mut conn = db::connect(url.expose()).await?;
            let seeded = demo::seed(&mut conn).await?;
            let verb = if seeded.created { "Created" } else { "Found" };
            println!(
                "{verb} the demo course `{}` ({}).",
                seeded.course.slug, seeded.course.name
            );
            println!("People (sign in with the development sign-in):");
            for (login, name, role) in demo::PEOPLE {
                println!("  {login:<8} {name:<18} {role}");
            }
            println!("Student invite code: {}", seeded.student_invite);
            // With the GitHub stand-in configured, its accounts and repositories too.
            if let Ok(config) = Config::from_env()
                && let Some(dir) = config.github_standin_dir.clone()
                && config.github_standin.is_some()
            {
                let app = App::new(config)?;
                let clones = demo::github::seed(&app, &mut conn, &dir, seeded.course.id).await?;
                for clone in clones {
                    println!("Created a demo repository: {clone}");
                }
            }
            Ok(())
        }
        Command::Admin {
            command: AdminCommand::Check,
        } => {
            let config = Config::from_env()?;
            telemetry::init(LogFormat::Text, "error");
            let findings = lectern::admin::check::run(&config).await;
            for finding in &findings {
                println!("{finding}");
            }
            let failed = findings.iter().filter(|f| !f.ok).count();
            if failed > 0 {
                anyhow::bail!("{failed} of {} checks failed", findings.len());
            }
            Ok(())
        }
        Command::Serve { no_migrate } => {
            let config = Config::from_env()?;
            telemetry::init(config.log_format, &config.log_filter);
            let app = App::new(config)?;
            server::serve(app, server::ServeOptions { no_migrate }).await
        }
    }
}
