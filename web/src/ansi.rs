//! ANSI escape sequences in build output, turned into styled spans. Output is untrusted: it
//! never becomes HTML, only text with a few class names taken from a fixed set.
//!
//! Understood: SGR (`ESC [ … m`) bold, dim, italic, underline, inverse and colours — the 16
//! named ones as they are, 256-colour and true-colour ones mapped to the nearest of those 16
//! so that the stylesheet's palette (light and dark) decides what they look like. Every other
//! escape sequence (cursor moves, OSC titles and links) and control character is dropped; a
//! carriage return starts the line over, as a terminal would show a progress bar's end.

/// How text is drawn; carried from one line to the next, as in a terminal.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Style {
    /// One of the 16 named colours (0–7 normal, 8–15 bright).
    pub fg: Option<u8>,
    pub bg: Option<u8>,
    pub bold: bool,
    pub dim: bool,
    pub italic: bool,
    pub underline: bool,
    pub inverse: bool,
}

impl Style {
    /// The class names that draw this style (empty for plain text).
    pub fn classes(&self) -> String {
        let (mut fg, mut bg) = (self.fg, self.bg);
        if self.inverse {
            (fg, bg) = (bg.or(Some(DEFAULT_BG)), fg.or(Some(DEFAULT_FG)));
        }
        let mut out = Vec::new();
        if let Some(c) = fg {
            out.push(format!("ansi-fg{c}"));
        }
        if let Some(c) = bg {
            out.push(format!("ansi-bg{c}"));
        }
        for (on, class) in [
            (self.bold, "ansi-bold"),
            (self.dim, "ansi-dim"),
            (self.italic, "ansi-italic"),
            (self.underline, "ansi-underline"),
        ] {
            if on {
                out.push(class.to_owned());
            }
        }
        out.join(" ")
    }
}

/// Stand-ins for the terminal's default colours when inverse video swaps them.
const DEFAULT_FG: u8 = 7;
const DEFAULT_BG: u8 = 0;

/// A run of text in one style.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Span {
    pub text: String,
    pub style: Style,
}

/// Splits one line (without its newline) into styled spans, starting in `style` and leaving
/// `style` as the line ends it.
pub fn spans(line: &str, style: &mut Style) -> Vec<Span> {
    // A carriage return redraws the line: only what follows the last one shows.
    let line = match line.trim_end_matches('\r').rsplit_once('\r') {
        Some((_, tail)) => tail,
        None => line.trim_end_matches('\r'),
    };
    let mut out: Vec<Span> = Vec::new();
    let mut text = String::new();
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\u{1b}' => {
                let before = *style;
                match chars.next() {
                    // CSI: parameters, intermediates, one final byte.
                    Some('[') => {
                        let mut params = String::new();
                        let mut end = None;
                        for c in chars.by_ref() {
                            if ('\u{40}'..='\u{7e}').contains(&c) {
                                end = Some(c);
                                break;
                            }
                            params.push(c);
                        }
                        if end == Some('m') {
                            apply_sgr(&params, style);
                        }
                    }
                    // OSC: up to BEL or ESC \.
                    Some(']') => {
                        while let Some(c) = chars.next() {
                            if c == '\u{7}' {
                                break;
                            }
                            if c == '\u{1b}' && chars.peek() == Some(&'\\') {
                                chars.next();
                                break;
                            }
                        }
                    }
                    // Any other two-byte escape.
                    _ => {}
                }
                if *style != before && !text.is_empty() {
                    out.push(Span {
                        text: std::mem::take(&mut text),
                        style: before,
                    });
                }
            }
            '\t' => text.push('\t'),
            c if c.is_control() => {}
            c => text.push(c),
        }
    }
    if !text.is_empty() {
        out.push(Span {
            text,
            style: *style,
        });
    }
    // Neighbours in the same style (after dropped sequences) read as one.
    out.dedup_by(|next, prev| {
        if next.style == prev.style {
            prev.text.push_str(&next.text);
            true
        } else {
            false
        }
    });
    out
}

/// Applies one SGR parameter list (`1;31`, `38;5;208`, `38;2;255;0;0`, empty = reset).
fn apply_sgr(params: &str, style: &mut Style) {
    let mut codes = params.split([';', ':']).map(|p| {
        if p.is_empty() {
            Some(0)
        } else {
            p.parse::<u16>().ok()
        }
    });
    while let Some(code) = codes.next() {
        let Some(code) = code else { continue };
        match code {
            0 => *style = Style::default(),
            1 => style.bold = true,
            2 => style.dim = true,
            3 => style.italic = true,
            4 => style.underline = true,
            7 => style.inverse = true,
            22 => (style.bold, style.dim) = (false, false),
            23 => style.italic = false,
            24 => style.underline = false,
            27 => style.inverse = false,
            30..=37 => style.fg = Some((code - 30) as u8),
            39 => style.fg = None,
            40..=47 => style.bg = Some((code - 40) as u8),
            49 => style.bg = None,
            90..=97 => style.fg = Some((code - 90 + 8) as u8),
            100..=107 => style.bg = Some((code - 100 + 8) as u8),
            38 | 48 => {
                let colour = match codes.next().flatten() {
                    Some(5) => codes.next().flatten().map(|n| from_256(n.min(255) as u8)),
                    Some(2) => {
                        let mut rgb = [0u8; 3];
                        for part in &mut rgb {
                            *part = codes.next().flatten().unwrap_or(0).min(255) as u8;
                        }
                        Some(nearest(rgb))
                    }
                    _ => None,
                };
                if code == 38 {
                    style.fg = colour.or(style.fg);
                } else {
                    style.bg = colour.or(style.bg);
                }
            }
            _ => {}
        }
    }
}

/// The 16 named colours as xterm draws them, to find the nearest.
const PALETTE: [[u8; 3]; 16] = [
    [0, 0, 0],
    [205, 0, 0],
    [0, 205, 0],
    [205, 205, 0],
    [0, 0, 238],
    [205, 0, 205],
    [0, 205, 205],
    [229, 229, 229],
    [127, 127, 127],
    [255, 0, 0],
    [0, 255, 0],
    [255, 255, 0],
    [92, 92, 255],
    [255, 0, 255],
    [0, 255, 255],
    [255, 255, 255],
];

/// A 256-colour index as one of the 16.
fn from_256(n: u8) -> u8 {
    match n {
        0..=15 => n,
        16..=231 => {
            let n = n - 16;
            let level = |v: u8| if v == 0 { 0 } else { 55 + v * 40 };
            nearest([level(n / 36), level((n / 6) % 6), level(n % 6)])
        }
        _ => {
            let grey = 8 + (n - 232) * 10;
            nearest([grey; 3])
        }
    }
}

fn nearest(rgb: [u8; 3]) -> u8 {
    let distance = |p: &[u8; 3]| -> u32 {
        p.iter()
            .zip(rgb)
            .map(|(&a, b)| (i32::from(a) - i32::from(b)).unsigned_abs().pow(2))
            .sum()
    };
    (0u8..16)
        .min_by_key(|&i| distance(&PALETTE[usize::from(i)]))
        .unwrap_or(7)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn render(line: &str) -> Vec<(String, String)> {
        let mut style = Style::default();
        spans(line, &mut style)
            .into_iter()
            .map(|s| (s.text, s.style.classes()))
            .collect()
    }

    fn pair(text: &str, classes: &str) -> (String, String) {
        (text.to_owned(), classes.to_owned())
    }

    #[test]
    fn plain_text_is_one_unstyled_span() {
        assert_eq!(
            render("hello <b>world</b>"),
            [pair("hello <b>world</b>", "")]
        );
        assert!(render("").is_empty());
    }

    #[test]
    fn colours_and_attributes_become_classes() {
        assert_eq!(
            render("\u{1b}[1;31mFAIL\u{1b}[0m test_add"),
            [pair("FAIL", "ansi-fg1 ansi-bold"), pair(" test_add", "")]
        );
        assert_eq!(
            render("\u{1b}[92mok\u{1b}[39m \u{1b}[4mdone"),
            [
                pair("ok", "ansi-fg10"),
                pair(" ", ""),
                pair("done", "ansi-underline")
            ]
        );
        // Inverse swaps the colours, defaults included.
        assert_eq!(render("\u{1b}[7mx"), [pair("x", "ansi-fg0 ansi-bg7")]);
    }

    #[test]
    fn extended_colours_map_to_the_nearest_named_one() {
        assert_eq!(render("\u{1b}[38;5;196mred"), [pair("red", "ansi-fg9")]);
        assert_eq!(
            render("\u{1b}[38;2;0;200;0mgreen"),
            [pair("green", "ansi-fg2")]
        );
        assert_eq!(render("\u{1b}[48;5;232mdark"), [pair("dark", "ansi-bg0")]);
        // Truncated or absurd parameters do not panic.
        assert_eq!(
            render("\u{1b}[38;5mx\u{1b}[38;2;999mY"),
            [pair("x", ""), pair("Y", "ansi-fg9")]
        );
    }

    #[test]
    fn style_carries_over_to_the_next_line() {
        let mut style = Style::default();
        spans("\u{1b}[33mwarning: first", &mut style);
        let next = spans("second", &mut style);
        assert_eq!(next[0].style.classes(), "ansi-fg3");
    }

    #[test]
    fn other_sequences_and_controls_are_dropped() {
        assert_eq!(render("a\u{1b}[2Kb\u{1b}[1Gc"), [pair("abc", "")]);
        assert_eq!(
            render("\u{1b}]0;title\u{7}x\u{1b}]8;;https://evil\u{1b}\\link\u{1b}]8;;\u{1b}\\"),
            [pair("xlink", "")]
        );
        assert_eq!(render("bell\u{7}\u{0}!"), [pair("bell!", "")]);
        assert_eq!(render("a\tb"), [pair("a\tb", "")]);
    }

    #[test]
    fn a_carriage_return_redraws_the_line() {
        assert_eq!(render("10%\r50%\r100% done"), [pair("100% done", "")]);
        assert_eq!(render("windows line\r"), [pair("windows line", "")]);
    }
}
