//! Carrying a test report out of a container whose workspace dies with it: after the test
//! command, the container's entry prints a marker line (unique to the build) and then the
//! report file on its standard output. [`ReportTap`] sits on that stream: everything before
//! the marker goes to the log as usual, everything after it is the report.
//!
//! The local executor's tests run in the server's own checkout; it reads the report there
//! ([`read_in_checkout`]).
//!
//! A student could print the marker themselves and forge a report; they could as well write
//! the report file, so this opens nothing new.

use std::path::Path;

/// Largest report carried (the rest is dropped, and the report will fail to parse).
pub const MAX_REPORT: usize = crate::grading::junit::MAX_BYTES;

/// The marker line for a build: ASCII record separator, a fixed word, a random part.
pub fn marker() -> String {
    format!("\u{1e}LECTERN-REPORT-{}", uuid::Uuid::new_v4().simple())
}

/// The shell that runs after the test command inside the container: keeps its exit code
/// and, when the report exists, prints the marker and the report.
pub const SHELL_AFTER: &str = "code=$?; if [ -n \"$LECTERN_REPORT_PATH\" ] && [ -f \"$LECTERN_REPORT_PATH\" ]; then printf '\\n%s\\n' \"$LECTERN_REPORT_MARKER\"; cat \"$LECTERN_REPORT_PATH\"; fi; exit $code";

/// The report at `relative` inside `checkout`, as text. Refuses what is not a regular file
/// inside the checkout (a student's symlink to a server file), too large, or not UTF-8.
pub fn read_in_checkout(checkout: &Path, relative: &str) -> Result<String, String> {
    let missing = || format!("no report at {relative}; results were read from the output");
    let root = checkout.canonicalize().map_err(|_| missing())?;
    let real = checkout
        .join(relative)
        .canonicalize()
        .map_err(|_| missing())?;
    if !real.starts_with(&root) {
        return Err(format!(
            "the report at {relative} points outside the checkout"
        ));
    }
    let meta = std::fs::metadata(&real).map_err(|_| missing())?;
    if !meta.is_file() {
        return Err(format!("{relative} is not a file"));
    }
    if meta.len() > MAX_REPORT as u64 {
        return Err(format!(
            "the report at {relative} is larger than {} MB",
            MAX_REPORT / 1024 / 1024
        ));
    }
    let bytes = std::fs::read(&real).map_err(|e| format!("cannot read {relative}: {e}"))?;
    String::from_utf8(bytes).map_err(|_| format!("the report at {relative} is not UTF-8 text"))
}

/// The report a container printed (`None`: it printed none), as text.
pub fn carried(relative: &str, bytes: Option<Vec<u8>>) -> Result<String, String> {
    let bytes = bytes
        .ok_or_else(|| format!("no report at {relative}; results were read from the output"))?;
    String::from_utf8(bytes).map_err(|_| format!("the report at {relative} is not UTF-8 text"))
}

/// Splits a standard output stream at the marker line.
#[derive(Debug)]
pub struct ReportTap {
    /// The marker line, newline included.
    marker: Vec<u8>,
    /// Bytes of a line that could still turn out to be the marker.
    held: Vec<u8>,
    at_line_start: bool,
    report: Option<Vec<u8>>,
}

impl ReportTap {
    pub fn new(marker: &str) -> Self {
        let mut line = marker.as_bytes().to_vec();
        line.push(b'\n');
        Self {
            marker: line,
            held: Vec::new(),
            at_line_start: true,
            report: None,
        }
    }

    /// The part of `data` that is output (the rest, after the marker, is kept as the
    /// report). A line that starts like the marker is held back until it is told apart.
    pub fn feed(&mut self, data: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(data.len());
        for &byte in data {
            if let Some(report) = &mut self.report {
                if report.len() < MAX_REPORT {
                    report.push(byte);
                }
                continue;
            }
            if self.at_line_start || !self.held.is_empty() {
                self.held.push(byte);
                if self.marker.starts_with(&self.held) {
                    if self.held.len() == self.marker.len() {
                        self.held.clear();
                        self.report = Some(Vec::new());
                    }
                    self.at_line_start = false;
                    continue;
                }
                out.append(&mut self.held);
                self.at_line_start = byte == b'\n';
                continue;
            }
            out.push(byte);
            self.at_line_start = byte == b'\n';
        }
        out
    }

    /// At the end of the stream: output still held back, and the report if one came.
    pub fn finish(self) -> (Vec<u8>, Option<Vec<u8>>) {
        (self.held, self.report)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(marker: &str, pieces: &[&[u8]]) -> (Vec<u8>, Option<Vec<u8>>) {
        let mut tap = ReportTap::new(marker);
        let mut out = Vec::new();
        for piece in pieces {
            out.extend(tap.feed(piece));
        }
        let (held, report) = tap.finish();
        out.extend(held);
        (out, report)
    }

    #[test]
    fn output_passes_and_the_report_is_split_off_even_across_chunks() {
        let m = "\u{1e}LECTERN-REPORT-abc";
        let whole = format!("ok 1\nok 2\n\n{m}\n<testsuites/>\n");
        let bytes = whole.as_bytes();
        // Every way of cutting the stream in two gives the same result.
        for cut in 0..bytes.len() {
            let (out, report) = run(m, &[&bytes[..cut], &bytes[cut..]]);
            assert_eq!(out, b"ok 1\nok 2\n\n", "cut at {cut}");
            assert_eq!(
                report.as_deref(),
                Some(&b"<testsuites/>\n"[..]),
                "cut at {cut}"
            );
        }
    }

    #[test]
    fn look_alikes_and_markers_mid_line_are_output() {
        let m = "\u{1e}LECTERN-REPORT-abc";
        let text = format!("\u{1e}LECTERN-REPORT-abd\nsay {m}\n{m}x\nend");
        let (out, report) = run(m, &[text.as_bytes()]);
        assert_eq!(String::from_utf8(out).expect("utf-8"), text);
        assert_eq!(report, None);
        // Output cut off inside a would-be marker is kept at the end.
        let (out, report) = run(m, &[b"done\n\x1eLECT"]);
        assert_eq!((out.as_slice(), report), (&b"done\n\x1eLECT"[..], None));
    }

    #[test]
    fn a_huge_report_is_capped() {
        let m = "\u{1e}LECTERN-REPORT-abc";
        let mut tap = ReportTap::new(m);
        tap.feed(format!("{m}\n").as_bytes());
        for _ in 0..(MAX_REPORT / 65_536 + 2) {
            tap.feed(&[b'x'; 65_536]);
        }
        let (_, report) = tap.finish();
        assert_eq!(report.map(|r| r.len()), Some(MAX_REPORT));
    }

    #[test]
    fn reports_outside_the_checkout_or_too_odd_are_refused() {
        let dir = std::env::temp_dir().join(format!("lectern-report-{}", std::process::id()));
        let checkout = dir.join("src");
        std::fs::create_dir_all(checkout.join("out")).expect("test input");
        std::fs::write(checkout.join("out/report.xml"), "<testsuites/>").expect("test input");
        std::fs::write(dir.join("secret"), "server file").expect("test input");
        std::os::unix::fs::symlink(dir.join("secret"), checkout.join("sneaky.xml"))
            .expect("test input");
        std::fs::write(checkout.join("binary.xml"), [0xff, 0xfe]).expect("test input");

        assert_eq!(
            read_in_checkout(&checkout, "out/report.xml").expect("test input"),
            "<testsuites/>"
        );
        assert!(
            read_in_checkout(&checkout, "sneaky.xml")
                .expect_err("refused")
                .contains("outside the checkout")
        );
        assert!(
            read_in_checkout(&checkout, "out")
                .expect_err("refused")
                .contains("not a file")
        );
        assert!(
            read_in_checkout(&checkout, "binary.xml")
                .expect_err("refused")
                .contains("UTF-8")
        );
        assert!(
            read_in_checkout(&checkout, "nope.xml")
                .expect_err("refused")
                .starts_with("no report at nope.xml")
        );
        std::fs::remove_dir_all(&dir).expect("test input");
    }
}
