//! Reading texts: arguments, standard input, a text file (one text per line)
//! or a JSON Lines file (a `"text"` field per line).

use std::io::{IsTerminal, Read};
use std::path::Path;

use anyhow::{bail, Context, Result};

/// One text to embed and, for JSON Lines input, the line's `id` if it had one.
#[derive(Debug, Clone, PartialEq)]
pub struct InputText {
    pub text: String,
    pub id: Option<serde_json::Value>,
}

/// The largest input file or standard input read, in bytes.
pub const MAX_INPUT_BYTES: u64 = 1 << 30;

/// Collects the texts from the arguments, `--input`, or standard input, in
/// that order of preference.
pub fn read_texts(args: &[String], input: Option<&Path>) -> Result<Vec<InputText>> {
    let texts = if let Some(path) = input {
        if !args.is_empty() {
            bail!("give texts either as arguments or with --input, not both");
        }
        let (bytes, name) = if path == Path::new("-") {
            (read_stdin()?, "standard input".to_string())
        } else {
            (read_file(path)?, path.display().to_string())
        };
        let jsonl = path
            .extension()
            .is_some_and(|e| e == "jsonl" || e == "ndjson");
        let texts = parse(&bytes, &name, jsonl)?;
        if !jsonl {
            refuse_blank(&texts, &name)?;
        }
        texts
    } else if !args.is_empty() {
        args.iter()
            .map(|t| InputText {
                text: t.clone(),
                id: None,
            })
            .collect()
    } else {
        if std::io::stdin().is_terminal() {
            bail!("no input: give texts as arguments, with --input FILE, or on standard input");
        }
        let texts = parse(&read_stdin()?, "standard input", false)?;
        refuse_blank(&texts, "standard input")?;
        texts
    };
    if texts.is_empty() {
        bail!("no input: the input holds no texts");
    }
    Ok(texts)
}

/// Lines of text that are all blank are no input, not texts to embed.
fn refuse_blank(texts: &[InputText], name: &str) -> Result<()> {
    if !texts.is_empty() && texts.iter().all(|t| t.text.trim().is_empty()) {
        bail!("no input: {name} holds only blank lines");
    }
    Ok(())
}

pub fn read_file(path: &Path) -> Result<Vec<u8>> {
    let meta = std::fs::metadata(path)
        .with_context(|| format!("cannot read input file {}", path.display()))?;
    if meta.len() > MAX_INPUT_BYTES {
        bail!(
            "input file {} is {} bytes; the most read at once is {MAX_INPUT_BYTES} (split it)",
            path.display(),
            meta.len()
        );
    }
    std::fs::read(path).with_context(|| format!("cannot read input file {}", path.display()))
}

fn read_stdin() -> Result<Vec<u8>> {
    let mut buf = Vec::new();
    std::io::stdin()
        .take(MAX_INPUT_BYTES + 1)
        .read_to_end(&mut buf)
        .context("cannot read standard input")?;
    if buf.len() as u64 > MAX_INPUT_BYTES {
        bail!("standard input holds more than {MAX_INPUT_BYTES} bytes; the most read at once (split it)");
    }
    Ok(buf)
}

/// Splits input into texts: one per line, or one JSON object per line.
pub fn parse(bytes: &[u8], name: &str, jsonl: bool) -> Result<Vec<InputText>> {
    let mut out = Vec::new();
    let mut lines: Vec<&[u8]> = bytes.split(|b| *b == b'\n').collect();
    // A final newline ends the last line; it does not start an empty text.
    if lines.last().is_some_and(|l| l.is_empty()) {
        lines.pop();
    }
    for (n, raw) in lines.into_iter().enumerate() {
        let raw = raw.strip_suffix(b"\r").unwrap_or(raw);
        let line = std::str::from_utf8(raw).map_err(|e| {
            anyhow::anyhow!(
                "{name}, line {}: invalid UTF-8 at byte {} of the line",
                n + 1,
                e.valid_up_to()
            )
        })?;
        if jsonl {
            if line.trim().is_empty() {
                continue;
            }
            let value: serde_json::Value = serde_json::from_str(line)
                .with_context(|| format!("{name}, line {}: not valid JSON", n + 1))?;
            let text = match value.get("text") {
                Some(serde_json::Value::String(s)) => s.clone(),
                Some(_) => bail!("{name}, line {}: \"text\" must be a string", n + 1),
                None => bail!("{name}, line {}: no \"text\" field", n + 1),
            };
            out.push(InputText {
                text,
                id: value.get("id").cloned(),
            });
        } else {
            out.push(InputText {
                text: line.to_string(),
                id: None,
            });
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_and_jsonl() {
        let t = parse(b"a\n\nb\r\n", "x", false).unwrap();
        assert_eq!(
            t.iter().map(|t| t.text.as_str()).collect::<Vec<_>>(),
            ["a", "", "b"]
        );
        let j = parse(
            b"{\"text\":\"hi\",\"id\":7}\n\n{\"text\":\"yo\"}\n",
            "x",
            true,
        )
        .unwrap();
        assert_eq!(j.len(), 2);
        assert_eq!(j[0].id, Some(serde_json::json!(7)));
        assert_eq!(j[1].text, "yo");
    }

    #[test]
    fn bad_input_names_the_line() {
        let e = parse(b"ok\n\xff\xfe\n", "f.txt", false).unwrap_err();
        assert_eq!(
            e.to_string(),
            "f.txt, line 2: invalid UTF-8 at byte 0 of the line"
        );
        let e = parse(b"{\"t\":1}\n", "f.jsonl", true).unwrap_err();
        assert!(e.to_string().contains("line 1: no \"text\" field"));
        let e = parse(b"{\"text\":3}\n", "f.jsonl", true).unwrap_err();
        assert!(e.to_string().contains("must be a string"));
        let e = parse(b"nope\n", "f.jsonl", true).unwrap_err();
        assert!(e.to_string().contains("not valid JSON"));
    }
}
