//! Checks of user input, shared by every mutation. Each failure names the field and says
//! what is expected, so forms can show it next to the field.

use crate::error::AppError;

/// A URL-safe identifier: 1–64 lowercase letters, digits and inner hyphens.
pub fn slug(field: &'static str, value: &str) -> Result<String, AppError> {
    let value = value.trim();
    let bytes = value.as_bytes();
    let ok = (1..=64).contains(&bytes.len())
        && bytes
            .iter()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'-')
        && !value.starts_with('-')
        && !value.ends_with('-');
    if ok {
        Ok(value.to_owned())
    } else {
        Err(AppError::invalid(
            field,
            "use 1 to 64 lowercase letters, digits and hyphens, not starting or ending with a hyphen (e.g. cs101-fall26)",
        ))
    }
}

/// Trimmed text of `min..=max` characters.
pub fn text(field: &'static str, value: &str, min: usize, max: usize) -> Result<String, AppError> {
    let value = value.trim();
    let len = value.chars().count();
    if len < min {
        return Err(AppError::invalid(
            field,
            if min == 1 {
                "must not be empty".to_owned()
            } else {
                format!("must be at least {min} characters")
            },
        ));
    }
    if len > max {
        return Err(AppError::invalid(
            field,
            format!("must be at most {max} characters (got {len})"),
        ));
    }
    if value
        .chars()
        .any(|c| c.is_control() && c != '\n' && c != '\t')
    {
        return Err(AppError::invalid(
            field,
            "must not contain control characters",
        ));
    }
    Ok(value.to_owned())
}

/// An integer within `range`, with the unit named in the message.
pub fn int_in(
    field: &'static str,
    value: i32,
    range: std::ops::RangeInclusive<i32>,
    unit: &str,
) -> Result<i32, AppError> {
    if range.contains(&value) {
        Ok(value)
    } else {
        Err(AppError::invalid(
            field,
            format!(
                "must be between {} and {} {unit} (got {value})",
                range.start(),
                range.end()
            ),
        ))
    }
}

/// A container image reference such as `python:3.12`, `localhost/lectern-python:3.11` or
/// `ghcr.io/org/img@sha256:…`: no spaces, no shell characters.
pub fn image(field: &'static str, value: &str) -> Result<String, AppError> {
    let value = value.trim();
    let ok = (1..=512).contains(&value.len())
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-/:@".contains(&b))
        && value
            .bytes()
            .next()
            .is_some_and(|b| b.is_ascii_alphanumeric());
    if ok {
        Ok(value.to_owned())
    } else {
        Err(AppError::invalid(
            field,
            "must be an image reference such as python:3.12 or registry.example.edu/cs101/tests:1",
        ))
    }
}

/// A git branch name pattern (`*` allowed) as git accepts branch names.
pub fn branch_pattern(field: &'static str, value: &str) -> Result<String, AppError> {
    let value = value.trim();
    let ok = (1..=255).contains(&value.len())
        && !value.starts_with('-')
        && !value.contains("..")
        && !value.ends_with('/')
        && !value.ends_with(".lock")
        && value
            .bytes()
            .all(|b| b.is_ascii_graphic() && !b"~^:?[\\".contains(&b));
    if ok {
        Ok(value.to_owned())
    } else {
        Err(AppError::invalid(
            field,
            format!("`{value}` is not a valid branch name or pattern"),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field_of(err: AppError) -> &'static str {
        match err {
            AppError::Invalid { field, .. } => field,
            other => panic!("expected a validation error, got {other:?}"),
        }
    }

    #[test]
    fn slugs() {
        assert_eq!(
            slug("slug", " cs101-fall26 ").ok().as_deref(),
            Some("cs101-fall26")
        );
        for bad in ["", "-a", "a-", "CS101", "a b", "a_b", &"a".repeat(65), "é"] {
            assert_eq!(field_of(slug("slug", bad).expect_err(bad)), "slug");
        }
    }

    #[test]
    fn texts_are_trimmed_and_bounded() {
        assert_eq!(
            text("name", "  Intro ", 1, 10).ok().as_deref(),
            Some("Intro")
        );
        assert!(text("name", "   ", 1, 10).is_err());
        assert!(text("name", "elevenchars", 1, 10).is_err());
        assert!(text("name", "bell\u{7}", 1, 10).is_err());
        assert!(text("description", "line\nline", 0, 100).is_ok());
    }

    #[test]
    fn images_and_branches() {
        for ok in [
            "python:3.12",
            "localhost/lectern-python:3.11",
            "ghcr.io/o/i@sha256:abc",
        ] {
            assert!(image("image", ok).is_ok(), "{ok}");
        }
        for bad in ["", "python 3", "img;rm -rf /", "$(x)", "-x"] {
            assert!(image("image", bad).is_err(), "{bad}");
        }
        for ok in ["main", "feature/*", "release-1.0"] {
            assert!(branch_pattern("allowedBranches", ok).is_ok(), "{ok}");
        }
        for bad in ["", "a..b", "-x", "x.lock", "a b", "x~1"] {
            assert!(branch_pattern("allowedBranches", bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn ranges_name_their_unit() {
        let err = int_in("timeoutSeconds", 0, 1..=86_400, "seconds").expect_err("out of range");
        assert!(
            err.to_string().contains("between 1 and 86400 seconds"),
            "{err}"
        );
    }
}
