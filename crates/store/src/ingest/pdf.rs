//! The text layer of a PDF, page by page, through `pdf-extract` (pure Rust,
//! on `lopdf`).
//!
//! `pdf-extract` reads the text of common PDFs well (fonts' encodings,
//! ToUnicode maps and glyph widths, so words and lines come out apart), but
//! it can panic on damaged files, recurses without bound into form
//! XObjects, and inflates streams without a limit. So before it runs:
//!
//! - the header is checked, and every Flate stream of the file is inflated
//!   into a counter with a budget for the whole document
//!   ([`MAX_INFLATED_BYTES`]), so a small file that inflates to gigabytes is
//!   refused before it is parsed;
//! - the pages are counted ([`MAX_PAGES`]), each page's chain of parents is
//!   walked for loops, and the form XObjects each page draws are followed to
//!   a bounded depth and count, as extraction would follow them;
//! - extraction runs on its own thread with a large stack, inside
//!   `catch_unwind`, so a panic in the parser is an error naming the file.
//!
//! Encrypted PDFs that open with the empty password (restrictions only) are
//! read; others are refused. A PDF whose pages have no text (scanned
//! images) is refused: there is no OCR.

use std::collections::{BTreeMap, HashSet};
use std::io::Read;
use std::panic::{catch_unwind, AssertUnwindSafe};

use pdf_extract::{Dictionary, Document, Object, ObjectId};

use crate::{Error, Result};

/// Pages one PDF may have.
pub const MAX_PAGES: usize = 5000;
/// Bytes all of a PDF's compressed streams may inflate to, together.
pub const MAX_INFLATED_BYTES: u64 = 256 << 20;
/// How deep form XObjects may be drawn inside each other.
const MAX_FORM_DEPTH: usize = 32;
/// Form XObjects drawn on one page, nested ones included.
const MAX_FORMS_PER_PAGE: usize = 10_000;
/// Levels of a page tree, from a page to the root.
const MAX_TREE_DEPTH: usize = 256;
/// The stack of the thread that extracts (reserved, not committed).
const STACK_BYTES: usize = 256 << 20;

/// Whether the bytes begin as a PDF does.
pub fn is_pdf(bytes: &[u8]) -> bool {
    bytes.starts_with(b"%PDF-")
}

/// The text of a PDF: its pages in order, each page's lines kept, runs of
/// spaces collapsed, blank lines kept as one paragraph break, and pages apart
/// by a blank line. Errors name `label`.
pub fn text(label: &str, bytes: &[u8]) -> Result<String> {
    Ok(pages(label, bytes)?.join("\n\n"))
}

/// The normalised text of each page of a PDF that has text (pages without
/// text are left out). Errors name `label`.
pub fn pages(label: &str, bytes: &[u8]) -> Result<Vec<String>> {
    if !is_pdf(bytes) {
        return Err(Error::InvalidInput(format!(
            "{label} is not a PDF (it does not begin with %PDF-)"
        )));
    }
    check_inflated_size(label, bytes)?;
    let owned = bytes.to_vec();
    let name = label.to_string();
    let worker = std::thread::Builder::new()
        .name("pdf-extract".into())
        .stack_size(STACK_BYTES)
        .spawn(move || catch_unwind(AssertUnwindSafe(|| extract_pages(&name, &owned))))
        .map_err(|e| Error::Backend(format!("reading {label}: no thread to extract with: {e}")))?;
    let raw = match worker.join() {
        Ok(Ok(result)) => result?,
        Ok(Err(panic)) | Err(panic) => {
            let why = panic
                .downcast_ref::<String>()
                .map(String::as_str)
                .or_else(|| panic.downcast_ref::<&str>().copied())
                .unwrap_or("unknown error");
            return Err(Error::InvalidInput(format!(
                "{label} is a damaged or unsupported PDF (the PDF reader failed: {why})"
            )));
        }
    };
    let texts: Vec<String> = raw
        .iter()
        .map(|p| normalise(p))
        .filter(|p| !p.is_empty())
        .collect();
    if texts.is_empty() {
        return Err(Error::InvalidInput(format!(
            "{label}: the PDF has no text layer (scanned pages or images only); OCR is not supported"
        )));
    }
    Ok(texts)
}

/// Inflates every Flate stream found in the raw bytes into a counter and
/// refuses the file when they add up to more than [`MAX_INFLATED_BYTES`].
/// Streams are found by their `stream` keyword, without parsing, so object
/// streams (which the parser inflates as the file loads) count too.
fn check_inflated_size(label: &str, bytes: &[u8]) -> Result<()> {
    let mut total = 0u64;
    let mut at = 0;
    while let Some(found) = find(&bytes[at..], b"stream") {
        let start = at + found;
        at = start + b"stream".len();
        if bytes[..start].ends_with(b"end") {
            continue;
        }
        let body = match &bytes[at..] {
            [b'\r', b'\n', rest @ ..] | [b'\n', rest @ ..] | [b'\r', rest @ ..] => rest,
            _ => continue,
        };
        if !body.starts_with(&[0x78]) {
            continue; // not a zlib stream (another filter, or none)
        }
        let budget = MAX_INFLATED_BYTES - total;
        let mut decoder = flate2::read::ZlibDecoder::new(body).take(budget + 1);
        // A damaged stream counts what inflated before the damage.
        let _ = std::io::copy(&mut decoder, &mut std::io::sink());
        let inflated = decoder.into_inner().total_out();
        total += inflated.min(budget + 1);
        if total > MAX_INFLATED_BYTES {
            return Err(Error::InvalidInput(format!(
                "{label}: the PDF's compressed streams inflate to more than {MAX_INFLATED_BYTES} bytes"
            )));
        }
    }
    Ok(())
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// Opens the PDF, checks its structure and extracts each page's raw text.
fn extract_pages(label: &str, bytes: &[u8]) -> Result<Vec<String>> {
    let damaged = |e: &dyn std::fmt::Display| {
        Error::InvalidInput(format!(
            "{label} is a damaged or truncated PDF, or not a PDF ({e})"
        ))
    };
    let mut doc = Document::load_mem(bytes).map_err(|e| damaged(&e))?;
    if doc.is_encrypted() && doc.decrypt("").is_err() {
        return Err(Error::InvalidInput(format!(
            "{label} is an encrypted PDF that needs a password; encrypted PDFs are not supported \
             (decrypt it first, e.g. `qpdf --decrypt --password=... in.pdf out.pdf`)"
        )));
    }
    let pages: BTreeMap<u32, ObjectId> = doc.get_pages();
    if pages.is_empty() {
        return Err(damaged(&"no pages found"));
    }
    if pages.len() > MAX_PAGES {
        return Err(Error::InvalidInput(format!(
            "{label} has {} pages, more than the limit of {MAX_PAGES}",
            pages.len()
        )));
    }
    for (&number, &id) in &pages {
        check_page(&doc, id).map_err(|why| {
            Error::InvalidInput(format!("{label}: page {number} cannot be read: {why}"))
        })?;
    }
    let mut texts = Vec::with_capacity(pages.len());
    for &number in pages.keys() {
        let mut text = String::new();
        let mut out = pdf_extract::PlainTextOutput::new(&mut text);
        pdf_extract::output_doc_page(&doc, &mut out, number).map_err(|e| {
            Error::InvalidInput(format!(
                "{label}: page {number} of the PDF cannot be read ({e})"
            ))
        })?;
        texts.push(text);
    }
    Ok(texts)
}

/// The object a reference points to (an object that is not a reference is
/// itself; a dangling reference is `None`).
fn resolve<'a>(doc: &'a Document, obj: &'a Object) -> Option<&'a Object> {
    match obj {
        Object::Reference(id) => doc.get_object(*id).ok(),
        other => Some(other),
    }
}

fn dict_entry<'a>(doc: &'a Document, dict: &'a Dictionary, key: &[u8]) -> Option<&'a Dictionary> {
    resolve(doc, dict.get(key).ok()?)?.as_dict().ok()
}

/// Checks what extracting a page would walk: its parents (for a loop) and
/// the form XObjects its content draws (for depth and count). The walk is
/// iterative, with the same fallbacks extraction uses: a form without
/// resources draws with its caller's.
fn check_page(doc: &Document, page: ObjectId) -> std::result::Result<(), String> {
    let mut dict = doc
        .get_dictionary(page)
        .map_err(|e| format!("the page is not a dictionary ({e})"))?;
    let mut seen = HashSet::from([page]);
    let mut resources = dict_entry(doc, dict, b"Resources");
    while let Ok(Object::Reference(parent)) = dict.get(b"Parent") {
        if !seen.insert(*parent) || seen.len() > MAX_TREE_DEPTH {
            return Err("its page tree has a loop".into());
        }
        dict = match doc.get_dictionary(*parent) {
            Ok(d) => d,
            Err(_) => break,
        };
        resources = resources.or_else(|| dict_entry(doc, dict, b"Resources"));
    }
    let content = doc.get_page_content(page).unwrap_or_default();
    let mut stack = vec![(content, resources, 0usize)];
    let mut drawn = 0usize;
    while let Some((content, resources, depth)) = stack.pop() {
        let Some(resources) = resources else { continue };
        let Some(xobjects) = dict_entry(doc, resources, b"XObject") else {
            continue;
        };
        let Ok(ops) = pdf_extract::content::Content::decode(&content) else {
            continue; // extraction reports a content stream it cannot read
        };
        for op in ops.operations.iter().filter(|op| op.operator == "Do") {
            let Some(Ok(name)) = op.operands.first().map(Object::as_name) else {
                continue;
            };
            let Some(Ok(form)) = xobjects
                .get(name)
                .ok()
                .and_then(|o| resolve(doc, o))
                .map(Object::as_stream)
            else {
                continue;
            };
            if !matches!(
                form.dict.get(b"Subtype").and_then(Object::as_name),
                Ok(b"Form")
            ) {
                continue;
            }
            drawn += 1;
            if depth + 1 > MAX_FORM_DEPTH {
                return Err(format!(
                    "form XObjects are drawn inside each other more than {MAX_FORM_DEPTH} deep (or in a loop)"
                ));
            }
            if drawn > MAX_FORMS_PER_PAGE {
                return Err(format!(
                    "it draws more than {MAX_FORMS_PER_PAGE} form XObjects"
                ));
            }
            let inner = form
                .decompressed_content()
                .unwrap_or_else(|_| form.content.clone());
            let own = dict_entry(doc, &form.dict, b"Resources");
            stack.push((inner, own.or(Some(resources)), depth + 1));
        }
    }
    Ok(())
}

/// A page's text with typographic ligatures spelt out, control characters
/// dropped, spaces within a line collapsed, lines trimmed, and runs of blank
/// lines kept as one paragraph break.
fn normalise(page: &str) -> String {
    let mut out = String::with_capacity(page.len());
    let mut blank = false;
    for line in page.lines() {
        let mut words = String::with_capacity(line.len());
        for c in line.chars() {
            match c {
                '\u{FB00}' => words.push_str("ff"),
                '\u{FB01}' => words.push_str("fi"),
                '\u{FB02}' => words.push_str("fl"),
                '\u{FB03}' => words.push_str("ffi"),
                '\u{FB04}' => words.push_str("ffl"),
                '\u{FB05}' | '\u{FB06}' => words.push_str("st"),
                '\u{00AD}' => {} // a soft hyphen: invisible
                c if c.is_whitespace() => words.push(' '),
                c if c.is_control() => {}
                c => words.push(c),
            }
        }
        let line = words.split_whitespace().collect::<Vec<_>>().join(" ");
        if line.is_empty() {
            blank = !out.is_empty();
            continue;
        }
        if !out.is_empty() {
            out.push_str(if blank { "\n\n" } else { "\n" });
        }
        blank = false;
        out.push_str(&line);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_are_normalised() {
        let page = "\n\n  Title\u{FB01}le   here \n\nfirst\u{00AD} line\x0c\n second\tline\n\n\n";
        assert_eq!(normalise(page), "Titlefile here\n\nfirst line\nsecond line");
        assert_eq!(normalise(" \n\x0c\n"), "");
    }

    #[test]
    fn headers_and_bombs_are_refused_before_parsing() {
        let err = text("a.pdf", b"hello").unwrap_err().to_string();
        assert!(err.contains("a.pdf is not a PDF"), "{err}");
        let mut bomb = b"%PDF-1.4\n1 0 obj\n<< /Filter /FlateDecode >>\nstream\n".to_vec();
        let mut enc = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::best());
        let zeros = vec![0u8; 1 << 20];
        for _ in 0..(MAX_INFLATED_BYTES >> 20) + 1 {
            std::io::Write::write_all(&mut enc, &zeros).unwrap();
        }
        bomb.extend(enc.finish().unwrap());
        bomb.extend(b"\nendstream\nendobj\n");
        assert!(bomb.len() < 1 << 20, "{}", bomb.len());
        let err = text("bomb.pdf", &bomb).unwrap_err().to_string();
        assert!(
            err.contains("bomb.pdf: the PDF's compressed streams inflate to more than"),
            "{err}"
        );
    }
}
