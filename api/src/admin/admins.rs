//! `lectern admin promote|demote LOGIN`: platform administrators, who act as instructors
//! in every course.

use diesel_async::AsyncPgConnection;

use crate::config::Config;
use crate::db::models::User;

/// Makes `login` a platform administrator (`admin = true`) or not; `dry_run` changes nothing.
pub async fn set(
    conn: &mut AsyncPgConnection,
    config: &Config,
    login: &str,
    admin: bool,
    dry_run: bool,
) -> anyhow::Result<Vec<String>> {
    let user = User::find_by_login(conn, login).await?.ok_or_else(|| {
        anyhow::anyhow!(
            "there is no user `{login}`: they must sign in once first (or be named an \
             instructor with `lectern admin create-course --instructor {login}`)"
        )
    })?;
    let (would, done) = if admin {
        (
            "be made a platform administrator",
            "is now a platform administrator",
        )
    } else {
        (
            "no longer be a platform administrator",
            "is no longer a platform administrator",
        )
    };
    let mut lines = Vec::new();
    if user.is_admin == admin {
        let not = if admin { "" } else { "not " };
        lines.push(format!(
            "{} is {not}a platform administrator already; nothing to do",
            user.login
        ));
    } else {
        if !dry_run {
            User::set_admin(conn, user.id, admin).await?;
        }
        lines.push(format!(
            "{} {}",
            user.login,
            super::did(dry_run, would, done)
        ));
    }
    if !admin && config.is_admin_login(&user.login) {
        lines.push(format!(
            "note: LECTERN_ADMINS names {}, which keeps them an administrator; remove them there too",
            user.login
        ));
    }
    Ok(lines)
}

/// Every platform administrator: those marked so, and those `LECTERN_ADMINS` names.
pub async fn list(conn: &mut AsyncPgConnection, config: &Config) -> anyhow::Result<Vec<String>> {
    let marked = User::admins(conn).await?;
    let mut lines: Vec<String> = marked
        .iter()
        .map(|u| format!("{:<24} marked (lectern admin promote)", u.login))
        .collect();
    for login in &config.admins {
        lines.push(format!("{login:<24} LECTERN_ADMINS"));
    }
    if lines.is_empty() {
        lines.push("no platform administrators".into());
    }
    Ok(lines)
}
