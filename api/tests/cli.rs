//! The `lectern` command line as a user meets it.

use std::process::Command;

fn lectern() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_lectern"));
    cmd.env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default());
    cmd
}

#[test]
fn every_command_has_help() {
    for args in [
        vec!["--help"],
        vec!["serve", "--help"],
        vec!["migrate", "--help"],
        vec!["print-schema", "--help"],
        vec!["demo", "--help"],
        vec!["admin", "--help"],
        vec!["admin", "check", "--help"],
    ] {
        let out = lectern().args(&args).output().expect("runs");
        assert!(out.status.success(), "{args:?}");
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(text.contains("Usage: lectern"), "{args:?}: {text}");
    }
}

#[test]
fn serve_with_bad_configuration_names_each_bad_variable_and_fails() {
    let out = lectern()
        .arg("serve")
        .env("DATABASE_URL", "mysql://nope")
        .env("LECTERN_LISTEN", "not-an-address")
        .env("LECTERN_EXECUTOR", "kubernetes")
        .env("LECTERN_K8S_TTL_SECONDS", "forever")
        .output()
        .expect("runs");
    assert!(!out.status.success());
    let text = String::from_utf8_lossy(&out.stderr);
    for name in [
        "DATABASE_URL",
        "LECTERN_LISTEN",
        "LECTERN_SECRET_KEY",
        "LECTERN_K8S_TTL_SECONDS",
    ] {
        assert!(text.contains(name), "{name} not named in: {text}");
    }
    assert!(
        !text.contains("mysql://nope"),
        "values of secrets are not echoed: {text}"
    );
}

#[test]
fn migrate_needs_only_a_database_url_and_says_so() {
    let out = lectern().arg("migrate").output().expect("runs");
    assert!(!out.status.success());
    let text = String::from_utf8_lossy(&out.stderr);
    assert!(text.contains("DATABASE_URL is required"), "{text}");
    assert!(!text.contains("LECTERN_SECRET_KEY"), "{text}");
}

#[test]
fn print_schema_prints_the_sdl() {
    let out = lectern().arg("print-schema").output().expect("runs");
    assert!(out.status.success());
    let sdl = String::from_utf8_lossy(&out.stdout);
    assert!(
        sdl.contains("type Query") && sdl.contains("createCourse"),
        "{sdl}"
    );
}
