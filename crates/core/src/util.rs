//! Small helpers every crate needs once: hex digests, the cache root, and
//! URL redaction for anything printed or logged.

use std::path::PathBuf;

/// Lower-case hexadecimal of `bytes` (digests, cache keys, signatures).
pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(DIGITS[(b >> 4) as usize] as char);
        out.push(DIGITS[(b & 0xf) as usize] as char);
    }
    out
}

/// The root of embedrock's cache as the environment (read through `env`)
/// names it: `$EMBEDROCK_CACHE_DIR`, else `$XDG_CACHE_HOME/embedrock`, else
/// `$HOME/.cache/embedrock`. Empty values count as unset. `None` when none is set.
pub fn cache_root(env: &dyn Fn(&str) -> Option<String>) -> Option<PathBuf> {
    let set = |name: &str| env(name).filter(|v| !v.is_empty());
    if let Some(d) = set("EMBEDROCK_CACHE_DIR") {
        return Some(PathBuf::from(d));
    }
    if let Some(d) = set("XDG_CACHE_HOME") {
        return Some(PathBuf::from(d).join("embedrock"));
    }
    set("HOME").map(|h| PathBuf::from(h).join(".cache").join("embedrock"))
}

/// [`cache_root`] read from the process environment.
pub fn cache_root_from_env() -> Option<PathBuf> {
    cache_root(&|name| std::env::var(name).ok())
}

/// `url` with any user information (`user:password@`) replaced by `***@`, so
/// it can be printed or logged. Text that is not a URL comes back unchanged.
///
/// ```
/// use embedrock_core::util::redact_url;
/// assert_eq!(redact_url("http://user:pass@host:8080/x"), "http://***@host:8080/x");
/// assert_eq!(redact_url("https://host/path?q=1"), "https://host/path?q=1");
/// ```
pub fn redact_url(url: &str) -> String {
    let Some(scheme_end) = url.find("://") else {
        return url.to_string();
    };
    let rest = &url[scheme_end + 3..];
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let authority = &rest[..authority_end];
    match authority.rfind('@') {
        Some(at) => format!(
            "{}***@{}{}",
            &url[..scheme_end + 3],
            &authority[at + 1..],
            &rest[authority_end..]
        ),
        None => url.to_string(),
    }
}

/// The proleptic Gregorian date (year, month, day) of a count of days since
/// 1970-01-01 (Howard Hinnant's `civil_from_days`).
///
/// ```
/// use embedrock_core::util::civil_from_days;
/// assert_eq!(civil_from_days(0), (1970, 1, 1));
/// assert_eq!(civil_from_days(11_016), (2000, 2, 29));
/// assert_eq!(civil_from_days(-1), (1969, 12, 31));
/// ```
pub fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(month <= 2), month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_digits() {
        assert_eq!(hex(&[0x00, 0x0f, 0xa0, 0xff]), "000fa0ff");
        assert_eq!(hex(&[]), "");
    }

    #[test]
    fn cache_root_precedence() {
        let env = |vars: &'static [(&'static str, &'static str)]| {
            move |k: &str| {
                vars.iter()
                    .find(|(n, _)| *n == k)
                    .map(|(_, v)| v.to_string())
            }
        };
        let all = env(&[
            ("EMBEDROCK_CACHE_DIR", "/e"),
            ("XDG_CACHE_HOME", "/x"),
            ("HOME", "/h"),
        ]);
        assert_eq!(cache_root(&all), Some(PathBuf::from("/e")));
        let xdg = env(&[
            ("EMBEDROCK_CACHE_DIR", ""),
            ("XDG_CACHE_HOME", "/x"),
            ("HOME", "/h"),
        ]);
        assert_eq!(cache_root(&xdg), Some(PathBuf::from("/x/embedrock")));
        let home = env(&[("HOME", "/h")]);
        assert_eq!(
            cache_root(&home),
            Some(PathBuf::from("/h/.cache/embedrock"))
        );
        assert_eq!(cache_root(&env(&[])), None);
    }

    #[test]
    fn redaction_hides_userinfo_only() {
        assert_eq!(
            redact_url("http://u:p@127.0.0.1:1/"),
            "http://***@127.0.0.1:1/"
        );
        assert_eq!(redact_url("http://token@h"), "http://***@h");
        assert_eq!(redact_url("http://h/a@b"), "http://h/a@b");
        assert_eq!(redact_url("https://u:p%40x@h?x=@"), "https://***@h?x=@");
        assert_eq!(redact_url("not a url"), "not a url");
    }
}
