//! A build's log as the build page holds it: chunks (as stored and streamed, each of one
//! stream, cut anywhere) joined into numbered lines. Lines keep their raw text; styling is
//! worked out only for the lines on screen (see `ansi`), so a long log costs its text and
//! little more.

/// Which stream a line came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stream {
    Stdout,
    Stderr,
    /// Lectern's own notes (started, truncated, timed out).
    System,
    /// The hidden tests' run (shown to staff, and to students once released).
    HiddenStdout,
    HiddenStderr,
    HiddenSystem,
}

impl Stream {
    pub fn parse(name: &str) -> Self {
        match name {
            "STDERR" => Self::Stderr,
            "SYSTEM" => Self::System,
            "HIDDEN_STDOUT" => Self::HiddenStdout,
            "HIDDEN_STDERR" => Self::HiddenStderr,
            "HIDDEN_SYSTEM" => Self::HiddenSystem,
            _ => Self::Stdout,
        }
    }

    /// The classes that mark a line of this stream.
    pub fn class(self) -> &'static str {
        match self {
            Self::Stdout => "stdout",
            Self::Stderr => "stderr",
            Self::System => "system",
            Self::HiddenStdout => "stdout hidden",
            Self::HiddenStderr => "stderr hidden",
            Self::HiddenSystem => "system hidden",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Line {
    pub stream: Stream,
    pub text: String,
}

/// The lines so far, and what is needed to go on appending.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Log {
    lines: Vec<Line>,
    /// Whether the last line waits for the rest of its text (its chunk ended mid-line).
    open: bool,
    /// The last chunk's sequence number: where a reconnect goes on from.
    last_seq: Option<i32>,
    bytes: usize,
}

impl Log {
    /// Appends chunk `seq`; a chunk already seen (a replay overlapping what arrived) is
    /// ignored, so appending is idempotent.
    pub fn append(&mut self, seq: i32, stream: Stream, text: &str) {
        if self.last_seq.is_some_and(|last| seq <= last) {
            return;
        }
        self.last_seq = Some(seq);
        self.bytes += text.len();
        let mut pieces = text.split('\n').peekable();
        while let Some(piece) = pieces.next() {
            let last = pieces.peek().is_none();
            if last && piece.is_empty() {
                // The chunk ended with a newline: the next one starts a new line.
                self.open = false;
                break;
            }
            match self.lines.last_mut() {
                Some(line) if self.open && line.stream == stream => line.text.push_str(piece),
                _ => self.lines.push(Line {
                    stream,
                    text: piece.to_owned(),
                }),
            }
            self.open = last;
        }
    }

    pub fn lines(&self) -> &[Line] {
        &self.lines
    }

    pub fn len(&self) -> usize {
        self.lines.len()
    }

    pub fn is_empty(&self) -> bool {
        self.lines.is_empty()
    }

    pub fn last_seq(&self) -> Option<i32> {
        self.last_seq
    }

    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// Numbers (from 1) of the lines containing `needle`, ignoring case.
    pub fn search(&self, needle: &str) -> Vec<usize> {
        let needle = needle.to_lowercase();
        if needle.is_empty() {
            return Vec::new();
        }
        self.lines
            .iter()
            .enumerate()
            .filter(|(_, line)| line.text.to_lowercase().contains(&needle))
            .map(|(i, _)| i + 1)
            .collect()
    }
}

/// The lines to draw for a scroll position: those in view and `overscan` either side, as a
/// range of indexes into the log.
pub fn window(
    scroll_top: f64,
    viewport: f64,
    line_height: f64,
    total: usize,
    overscan: usize,
) -> std::ops::Range<usize> {
    if total == 0 || line_height <= 0.0 {
        return 0..0;
    }
    let first = (scroll_top.max(0.0) / line_height).floor() as usize;
    let visible = (viewport.max(0.0) / line_height).ceil() as usize + 1;
    let start = first.saturating_sub(overscan).min(total);
    let end = (first + visible + overscan).min(total);
    start..end
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(log: &Log) -> Vec<(&str, Stream)> {
        log.lines()
            .iter()
            .map(|l| (l.text.as_str(), l.stream))
            .collect()
    }

    #[test]
    fn chunks_cut_mid_line_join_up() {
        let mut log = Log::default();
        log.append(0, Stream::Stdout, "one\ntw");
        log.append(1, Stream::Stdout, "o\nthree\n");
        log.append(2, Stream::Stdout, "four");
        assert_eq!(
            texts(&log),
            [
                ("one", Stream::Stdout),
                ("two", Stream::Stdout),
                ("three", Stream::Stdout),
                ("four", Stream::Stdout)
            ]
        );
        assert_eq!(log.last_seq(), Some(2));
        assert_eq!(log.bytes(), 18);
    }

    #[test]
    fn another_stream_starts_its_own_line() {
        let mut log = Log::default();
        log.append(0, Stream::Stdout, "partial");
        log.append(1, Stream::Stderr, "error\n");
        log.append(2, Stream::System, "Build timed out\n");
        assert_eq!(
            texts(&log),
            [
                ("partial", Stream::Stdout),
                ("error", Stream::Stderr),
                ("Build timed out", Stream::System)
            ]
        );
    }

    #[test]
    fn replayed_chunks_are_not_appended_twice() {
        let mut log = Log::default();
        log.append(0, Stream::Stdout, "a\n");
        log.append(1, Stream::Stdout, "b\n");
        log.append(1, Stream::Stdout, "b\n");
        log.append(0, Stream::Stdout, "a\n");
        assert_eq!(log.len(), 2);
        assert_eq!(log.bytes(), 4);
    }

    #[test]
    fn empty_lines_are_kept() {
        let mut log = Log::default();
        log.append(0, Stream::Stdout, "a\n\n\nb\n");
        assert_eq!(log.len(), 4);
        assert_eq!(log.lines()[1].text, "");
    }

    #[test]
    fn search_finds_line_numbers_ignoring_case() {
        let mut log = Log::default();
        log.append(
            0,
            Stream::Stdout,
            "test_add ... ok\ntest_sub ... FAIL\nFAILED (failures=1)\n",
        );
        assert_eq!(log.search("fail"), [2, 3]);
        assert!(log.search("").is_empty());
        assert!(log.search("absent").is_empty());
    }

    #[test]
    fn the_window_covers_the_view_and_a_margin() {
        // 20 px lines, a 400 px view scrolled to line 100 of 100 000.
        assert_eq!(window(2000.0, 400.0, 20.0, 100_000, 10), 90..131);
        // At the top and past the end.
        assert_eq!(window(0.0, 400.0, 20.0, 100_000, 10), 0..31);
        assert_eq!(window(1e9, 400.0, 20.0, 50, 10), 50..50);
        assert_eq!(window(0.0, 400.0, 20.0, 5, 10), 0..5);
        assert_eq!(window(0.0, 400.0, 20.0, 0, 10), 0..0);
    }
}
