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

/// Commands run with the server's environment (the same DATABASE_URL, LECTERN_SECRET_KEY and
/// GitHub settings). Those that change something take --dry-run.
#[derive(Subcommand)]
enum AdminCommand {
    /// Check that this server can reach PostgreSQL, the container engine or cluster, GitHub
    /// and the mail server, saying what is wrong and what to try; fails when any cannot be.
    Check,
    /// Show the configuration as the server reads it (defaults filled in, secrets masked).
    Config,
    #[command(flatten)]
    Database(DatabaseCommand),
}

/// The admin commands that work on the database.
#[derive(Subcommand)]
enum DatabaseCommand {
    /// Create a course and its first instructor (a GitHub login; one who never signed in
    /// gets an account their first sign-in claims).
    CreateCourse {
        /// The course's URL name: lowercase letters, digits and hyphens (cs101-fall26).
        #[arg(long)]
        slug: String,
        /// The course's full name.
        #[arg(long)]
        name: String,
        /// The term it runs in (Fall 2026).
        #[arg(long, default_value = "")]
        term: String,
        /// The GitHub login of its first instructor.
        #[arg(long)]
        instructor: String,
        /// Say what would be created, and create nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// List the platform administrators (they act as instructors in every course).
    Admins,
    /// Make someone (by GitHub login) a platform administrator.
    Promote {
        login: String,
        /// Say what would change, and change nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// Make someone no longer a platform administrator.
    Demote {
        login: String,
        /// Say what would change, and change nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// List builds queued or running for long and running builds whose server is gone;
    /// --cancel stops them.
    Builds {
        /// Builds waiting or running longer than this many minutes.
        #[arg(long, default_value_t = 60)]
        older_than_minutes: u64,
        /// Cancel the builds listed.
        #[arg(long)]
        cancel: bool,
        /// With --cancel: say what would be cancelled, and cancel nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// Check the webhook of each linked repository on GitHub and re-create the missing ones
    /// (with fresh secrets); --rotate-secrets gives every webhook a new secret.
    Webhooks {
        /// Only this course's repositories (its slug).
        #[arg(long, required_unless_present = "all", conflicts_with = "all")]
        course: Option<String>,
        /// Every linked repository of every course.
        #[arg(long)]
        all: bool,
        /// Give each webhook that is in place a new secret too.
        #[arg(long)]
        rotate_secrets: bool,
        /// Say what would change, and change nothing on GitHub or here.
        #[arg(long)]
        dry_run: bool,
    },
    /// Queue the pushes whose webhook never arrived: branch heads on GitHub that were never
    /// built (the server also does this every LECTERN_SYNC_INTERVAL_MINUTES).
    Redeliver {
        /// Only this course's repositories (its slug).
        #[arg(long, required_unless_present = "all", conflicts_with = "all")]
        course: Option<String>,
        /// Every linked repository of every course.
        #[arg(long)]
        all: bool,
        /// List the missed pushes, and queue nothing.
        #[arg(long)]
        dry_run: bool,
    },
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
        Command::Admin { command } => admin(command).await,
        Command::Serve { no_migrate } => {
            let config = Config::from_env()?;
            let _traces = telemetry::init_with_traces(
                config.log_format,
                &config.log_filter,
                config.otlp_endpoint.as_ref(),
            );
            let app = App::new(config)?;
            server::serve(app, server::ServeOptions { no_migrate }).await
        }
    }
}

async fn admin(command: AdminCommand) -> anyhow::Result<()> {
    use lectern::admin;
    let config = Config::from_env()?;
    telemetry::init(LogFormat::Text, "error");
    let command = match command {
        AdminCommand::Check => return check(&config).await,
        AdminCommand::Config => {
            for line in admin::settings::show(&config) {
                println!("{line}");
            }
            return Ok(());
        }
        AdminCommand::Database(command) => command,
    };
    let app = App::new(config)?;
    let mut conn = app.db().await.map_err(|e| {
        anyhow::anyhow!("{e} (is DATABASE_URL right? `lectern admin check` tells more)")
    })?;
    let lines = match command {
        DatabaseCommand::CreateCourse {
            slug,
            name,
            term,
            instructor,
            dry_run,
        } => {
            let new = admin::courses::NewCourse {
                slug: &slug,
                name: &name,
                term: &term,
                instructor: &instructor,
            };
            admin::courses::create(&mut conn, &new, dry_run).await?
        }
        DatabaseCommand::Admins => admin::admins::list(&mut conn, &app.config).await?,
        DatabaseCommand::Promote { login, dry_run } => {
            admin::admins::set(&mut conn, &app.config, &login, true, dry_run).await?
        }
        DatabaseCommand::Demote { login, dry_run } => {
            admin::admins::set(&mut conn, &app.config, &login, false, dry_run).await?
        }
        DatabaseCommand::Builds {
            older_than_minutes,
            cancel,
            dry_run,
        } => {
            let older_than = std::time::Duration::from_secs(older_than_minutes * 60);
            admin::builds::stuck(&app, &mut conn, older_than, cancel, dry_run).await?
        }
        DatabaseCommand::Webhooks {
            course,
            rotate_secrets,
            dry_run,
            ..
        } => {
            admin::webhooks::resync(&app, &mut conn, course.as_deref(), rotate_secrets, dry_run)
                .await?
        }
        DatabaseCommand::Redeliver {
            course, dry_run, ..
        } => admin::pushes::redeliver(&app, &mut conn, course.as_deref(), dry_run).await?,
    };
    for line in lines {
        println!("{line}");
    }
    Ok(())
}

/// `lectern admin check`: prints each finding; fails when any check failed.
async fn check(config: &Config) -> anyhow::Result<()> {
    let findings = lectern::admin::check::run(config).await;
    for finding in &findings {
        println!("{finding}");
    }
    let failed = findings.iter().filter(|f| !f.ok).count();
    if failed > 0 {
        anyhow::bail!("{failed} of {} checks failed", findings.len());
    }
    Ok(())
}
