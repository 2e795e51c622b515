//! Number, date and text formatting shared by the Markdown and HTML reports,
//! so both show every figure the same way.

/// What a cell shows when there is no value (or no finite one).
pub(crate) const NONE: &str = "–";

/// A metric in [0, 1] with four decimals.
pub(crate) fn metric(v: Option<f64>) -> String {
    match v {
        Some(v) if v.is_finite() => format!("{v:.4}"),
        _ => NONE.to_string(),
    }
}

/// A ratio as a percentage with one decimal (`0.973` -> `97.3%`).
pub(crate) fn percent(v: f64) -> String {
    if v.is_finite() {
        format!("{:.1}%", v * 100.0)
    } else {
        NONE.to_string()
    }
}

/// An integer with thousands separators (`1234567` -> `1,234,567`).
pub(crate) fn int(v: u64) -> String {
    let digits = v.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// A byte count in binary units (`384 B`, `1.5 KiB`, `12.3 MiB`).
pub(crate) fn bytes(v: u64) -> String {
    const UNITS: [&str; 5] = ["KiB", "MiB", "GiB", "TiB", "PiB"];
    if v < 1024 {
        return format!("{v} B");
    }
    let mut value = v as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    if value >= 100.0 || value.fract() == 0.0 {
        format!("{value:.0} {}", UNITS[unit])
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

/// Milliseconds with three significant digits (`0.123`, `4.56`, `78.9`, `1,234`).
pub(crate) fn ms(v: f64) -> String {
    if !v.is_finite() || v < 0.0 {
        return NONE.to_string();
    }
    if v >= 1000.0 {
        int(v.round() as u64)
    } else if v >= 100.0 {
        format!("{v:.0}")
    } else if v >= 10.0 {
        format!("{v:.1}")
    } else if v >= 1.0 {
        format!("{v:.2}")
    } else {
        format!("{v:.3}")
    }
}

/// A rate (texts or tokens per second): whole numbers from 100 up, one
/// decimal below.
pub(crate) fn rate(v: f64) -> String {
    if !v.is_finite() || v < 0.0 {
        NONE.to_string()
    } else if v >= 100.0 {
        int(v.round() as u64)
    } else {
        format!("{v:.1}")
    }
}

/// US dollars: `$0` for free, three significant digits below a dollar
/// (`$0.00123`), cents from a dollar up (`$1,234.50`); a dash when unknown.
pub(crate) fn usd(v: Option<f64>) -> String {
    match v {
        Some(v) if v.is_finite() && v >= 0.0 => usd_value(v),
        _ => NONE.to_string(),
    }
}

fn usd_value(v: f64) -> String {
    if v == 0.0 {
        return "$0".to_string();
    }
    if v >= 1.0 {
        let cents = (v * 100.0).round() as u64;
        return format!("${}.{:02}", int(cents / 100), cents % 100);
    }
    // Three significant digits: decimals = 2 - floor(log10 v), at most 12.
    let decimals = (2.0 - v.log10().floor()).clamp(2.0, 12.0) as usize;
    format!("${v:.decimals$}")
}

/// A duration in seconds as a person reads it (`850 ms`, `12.3 s`,
/// `12 min 05 s`, `2 h 03 min`).
pub(crate) fn duration(s: f64) -> String {
    if !s.is_finite() || s < 0.0 {
        return NONE.to_string();
    }
    if s < 1.0 {
        return format!("{:.0} ms", s * 1000.0);
    }
    if s < 60.0 {
        return format!("{s:.1} s");
    }
    let total = s.round() as u64;
    if total < 3600 {
        format!("{} min {:02} s", total / 60, total % 60)
    } else {
        format!("{} h {:02} min", total / 3600, (total % 3600) / 60)
    }
}

/// A Unix time as `YYYY-MM-DD HH:MM UTC`.
pub(crate) fn utc(unix: u64) -> String {
    let days = (unix / 86_400) as i64;
    let secs = unix % 86_400;
    let (y, m, d) = embedrock_core::util::civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02} UTC",
        secs / 3600,
        (secs % 3600) / 60
    )
}

/// A file-name-safe form of a label: lower-case ASCII letters and digits,
/// every other run of characters one `-`, at most 120 bytes.
pub(crate) fn slug(label: &str) -> String {
    let mut out = String::new();
    for c in label.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if !out.is_empty() && !out.ends_with('-') {
            out.push('-');
        }
    }
    out.truncate(120);
    while out.ends_with('-') {
        out.pop();
    }
    if out.is_empty() {
        out.push_str("config");
    }
    out
}

/// Text escaped for HTML element content and attribute values.
pub(crate) fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

/// Text made safe for Markdown (a table cell, a heading, a list item): no
/// line breaks, and every character that Markdown or inline HTML would
/// interpret escaped with a backslash.
pub(crate) fn md_cell(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\\' | '|' | '<' | '>' | '&' | '*' | '_' | '`' | '[' | ']' => {
                out.push('\\');
                out.push(c);
            }
            '\n' | '\r' | '\t' => out.push(' '),
            _ => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integers_get_thousands_separators() {
        assert_eq!(int(0), "0");
        assert_eq!(int(999), "999");
        assert_eq!(int(1000), "1,000");
        assert_eq!(int(1_234_567), "1,234,567");
    }

    #[test]
    fn bytes_use_binary_units() {
        assert_eq!(bytes(48), "48 B");
        assert_eq!(bytes(1024), "1 KiB");
        assert_eq!(bytes(1536), "1.5 KiB");
        assert_eq!(bytes(4_608_000), "4.4 MiB");
        assert_eq!(bytes(300 * 1024 * 1024), "300 MiB");
    }

    #[test]
    fn dollars_keep_three_significant_digits() {
        assert_eq!(usd(Some(0.0)), "$0");
        assert_eq!(usd(Some(0.02)), "$0.0200");
        assert_eq!(usd(Some(0.000_123_4)), "$0.000123");
        assert_eq!(usd(Some(0.5)), "$0.500");
        assert_eq!(usd(Some(1234.5)), "$1,234.50");
        assert_eq!(usd(None), NONE);
        assert_eq!(usd(Some(f64::NAN)), NONE);
        assert_eq!(usd(Some(-1.0)), NONE);
    }

    #[test]
    fn non_finite_numbers_show_a_dash() {
        assert_eq!(metric(Some(f64::NAN)), NONE);
        assert_eq!(metric(None), NONE);
        assert_eq!(metric(Some(0.51234)), "0.5123");
        assert_eq!(ms(f64::INFINITY), NONE);
        assert_eq!(rate(f64::NAN), NONE);
        assert_eq!(percent(f64::NAN), NONE);
        assert_eq!(duration(f64::NAN), NONE);
    }

    #[test]
    fn times_and_durations_read_naturally() {
        assert_eq!(ms(0.1234), "0.123");
        assert_eq!(ms(4.567), "4.57");
        assert_eq!(ms(78.94), "78.9");
        assert_eq!(ms(1234.4), "1,234");
        assert_eq!(duration(0.25), "250 ms");
        assert_eq!(duration(12.34), "12.3 s");
        assert_eq!(duration(725.0), "12 min 05 s");
        assert_eq!(duration(7380.0), "2 h 03 min");
    }

    #[test]
    fn unix_times_become_utc_dates() {
        assert_eq!(utc(0), "1970-01-01 00:00 UTC");
        assert_eq!(utc(951_782_400), "2000-02-29 00:00 UTC");
        assert_eq!(utc(1_795_453_200), "2026-11-23 17:00 UTC");
    }

    #[test]
    fn slugs_are_file_name_safe() {
        assert_eq!(
            slug("amazon.titan-embed-text-v2:0 256d int8+rescore100"),
            "amazon-titan-embed-text-v2-0-256d-int8-rescore100"
        );
        assert_eq!(slug("<&>"), "config");
        assert_eq!(slug("../../etc/passwd"), "etc-passwd");
        assert!(slug(&"a".repeat(500)).len() <= 120);
    }

    #[test]
    fn escaping_covers_html_and_markdown() {
        assert_eq!(
            esc(r#"<a href="x">&'"#),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;"
        );
        assert_eq!(md_cell("a|b\nc\\"), "a\\|b c\\\\");
        assert_eq!(md_cell("<&\">*_"), "\\<\\&\"\\>\\*\\_");
    }
}
