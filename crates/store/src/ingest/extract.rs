//! From a source's bytes to the text that is chunked and embedded: binary
//! content refused, Markdown markup stripped lightly, HTML reduced to its
//! visible text with headings and paragraphs kept apart, PDF read for its
//! text layer ([`super::pdf`]).

use ego_tree::iter::Edge;
use pulldown_cmark::{Event, Options, Parser, Tag, TagEnd};
use scraper::{Html, Node};

use crate::{Error, Result};

/// How a source's bytes are read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Plain text, taken as it is.
    Text,
    /// Markdown: the text of its blocks, markup removed.
    Markdown,
    /// HTML: the visible text, scripts and styles left out.
    Html,
    /// PDF: the text layer of its pages, in order, apart by a blank line.
    Pdf,
}

/// File extensions read as plain text.
const TEXT_EXTENSIONS: &[&str] = &["txt", "text", "log", "csv", "tsv", "rst"];
/// File extensions read as Markdown.
const MARKDOWN_EXTENSIONS: &[&str] = &["md", "markdown", "mdown", "mkd"];
/// File extensions read as HTML.
const HTML_EXTENSIONS: &[&str] = &["html", "htm", "xhtml"];

/// The extensions a directory takes when no glob is given.
pub const DEFAULT_GLOB: &str = "**/*.{txt,text,md,markdown,html,htm,xhtml,pdf}";

impl Format {
    /// The format a file name's extension names; a file without one is plain
    /// text (or PDF, when its bytes say so: see [`Format::sniff`]). Other
    /// types are refused with an error naming the file.
    pub fn from_extension(label: &str, extension: Option<&str>) -> Result<Format> {
        let Some(ext) = extension.map(str::to_ascii_lowercase) else {
            return Ok(Format::Text);
        };
        if TEXT_EXTENSIONS.contains(&ext.as_str()) {
            Ok(Format::Text)
        } else if MARKDOWN_EXTENSIONS.contains(&ext.as_str()) {
            Ok(Format::Markdown)
        } else if HTML_EXTENSIONS.contains(&ext.as_str()) {
            Ok(Format::Html)
        } else if ext == "pdf" {
            Ok(Format::Pdf)
        } else {
            Err(Error::InvalidInput(format!(
                "{label}: unsupported file type .{ext} (supported: {}, {}, {}, pdf)",
                TEXT_EXTENSIONS.join(" "),
                MARKDOWN_EXTENSIONS.join(" "),
                HTML_EXTENSIONS.join(" ")
            )))
        }
    }

    /// The format an HTTP `Content-Type` names; without one, or with
    /// `application/octet-stream`, the URL path's extension decides (and the
    /// body's first bytes, see [`Format::sniff`]). A charset other than UTF-8
    /// (or its ASCII subset) is refused.
    pub fn from_content_type(
        label: &str,
        content_type: Option<&str>,
        path_ext: Option<&str>,
    ) -> Result<Format> {
        let Some(ct) = content_type.map(str::to_ascii_lowercase) else {
            return Format::from_extension(label, path_ext).or(Ok(Format::Text));
        };
        let mut parts = ct.split(';').map(str::trim);
        let mime = parts.next().unwrap_or_default();
        for param in parts {
            if let Some(charset) = param.strip_prefix("charset=") {
                let charset = charset.trim_matches('"');
                if !matches!(charset, "utf-8" | "utf8" | "us-ascii" | "ascii") {
                    return Err(Error::InvalidInput(format!(
                        "{label}: charset {charset} is not supported (only UTF-8)"
                    )));
                }
            }
        }
        match mime {
            "text/html" | "application/xhtml+xml" => Ok(Format::Html),
            "text/markdown" | "text/x-markdown" => Ok(Format::Markdown),
            "text/plain" => Ok(match Format::from_extension(label, path_ext) {
                Ok(Format::Markdown) => Format::Markdown,
                _ => Format::Text,
            }),
            "application/pdf" | "application/x-pdf" => Ok(Format::Pdf),
            "application/octet-stream" => {
                Format::from_extension(label, path_ext).or(Ok(Format::Text))
            }
            other => Err(Error::InvalidInput(format!(
                "{label}: unsupported content type {other} (supported: text/plain, text/markdown, text/html, application/pdf)"
            ))),
        }
    }

    /// The format once the bytes are known: bytes that begin with `%PDF-`
    /// are a PDF when nothing more specific than plain text was named (a
    /// file without an extension, `text/plain`, `application/octet-stream`).
    pub fn sniff(self, bytes: &[u8]) -> Format {
        if self == Format::Text && super::pdf::is_pdf(bytes) {
            Format::Pdf
        } else {
            self
        }
    }
}

/// The text of a source's bytes in `format`: a PDF's text layer, or the
/// bytes decoded as UTF-8 and extracted. Errors name `label`.
pub fn extract_bytes(label: &str, format: Format, bytes: &[u8]) -> Result<String> {
    match format.sniff(bytes) {
        Format::Pdf => super::pdf::text(label, bytes),
        other => Ok(extract(other, decode(label, bytes)?)),
    }
}

/// The bytes as UTF-8 text (a leading byte-order mark dropped), or an error
/// naming the source when they hold a NUL byte or are not UTF-8.
pub fn decode<'a>(label: &str, bytes: &'a [u8]) -> Result<&'a str> {
    if let Some(at) = bytes.iter().position(|b| *b == 0) {
        return Err(Error::InvalidInput(format!(
            "{label} is a binary file (NUL byte at offset {at}), not text"
        )));
    }
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    std::str::from_utf8(bytes).map_err(|e| {
        Error::InvalidInput(format!(
            "{label} is not UTF-8 text (invalid byte at offset {})",
            e.valid_up_to()
        ))
    })
}

/// The text of `source` in `format`. A PDF is bytes, not text: read it with
/// [`extract_bytes`]; given here, its text is taken as plain text.
pub fn extract(format: Format, source: &str) -> String {
    match format {
        Format::Text | Format::Pdf => source.replace("\r\n", "\n"),
        Format::Markdown => markdown(source),
        Format::Html => html(source),
    }
}

/// A text being assembled from pieces, with paragraph breaks that never
/// pile up and spaces that never double.
#[derive(Default)]
struct Builder {
    out: String,
}

impl Builder {
    /// Ends the current line and leaves `lines - 1` blank lines after it,
    /// unless nothing was written yet.
    fn newlines(&mut self, lines: usize) {
        let trimmed = self.out.trim_end_matches([' ', '\t']).len();
        self.out.truncate(trimmed);
        if self.out.is_empty() {
            return;
        }
        let have = self.out.len() - self.out.trim_end_matches('\n').len();
        for _ in have..lines {
            self.out.push('\n');
        }
    }

    /// Appends text with its whitespace runs collapsed to one space.
    fn words(&mut self, text: &str) {
        for (i, word) in text.split_whitespace().enumerate() {
            let at_start = self.out.is_empty() || self.out.ends_with(['\n', ' ']);
            let space_before = text.starts_with(char::is_whitespace) || i > 0;
            if space_before && !at_start {
                self.out.push(' ');
            }
            self.out.push_str(word);
        }
        if text.ends_with(char::is_whitespace) && !text.trim().is_empty() {
            self.out.push(' ');
        }
    }

    /// Separates what comes next from what came before by a space.
    fn space(&mut self) {
        if !self.out.is_empty() && !self.out.ends_with([' ', '\n']) {
            self.out.push(' ');
        }
    }

    /// Appends text as it is (preformatted).
    fn raw(&mut self, text: &str) {
        self.out.push_str(&text.replace("\r\n", "\n"));
    }

    fn finish(self) -> String {
        self.out.trim().to_string()
    }
}

/// The text of a Markdown document: each block's text, blocks apart by a
/// blank line, list items on their own lines; links keep their text, images
/// their alt text, code blocks their code; raw HTML is dropped.
pub fn markdown(source: &str) -> String {
    let options =
        Options::ENABLE_TABLES | Options::ENABLE_STRIKETHROUGH | Options::ENABLE_TASKLISTS;
    let mut b = Builder::default();
    let mut in_code = false;
    for event in Parser::new_ext(source, options) {
        match event {
            Event::Text(t) if in_code => b.raw(&t),
            Event::Text(t) | Event::Code(t) => b.words(&t),
            Event::SoftBreak => b.space(),
            Event::HardBreak => b.newlines(1),
            Event::Start(Tag::CodeBlock(_)) => {
                b.newlines(2);
                in_code = true;
            }
            Event::End(TagEnd::CodeBlock) => {
                in_code = false;
                b.newlines(2);
            }
            Event::Start(Tag::Item) | Event::End(TagEnd::TableRow | TagEnd::TableHead) => {
                b.newlines(1)
            }
            Event::End(TagEnd::TableCell) => b.space(),
            Event::Start(Tag::Paragraph | Tag::Heading { .. } | Tag::BlockQuote(_))
            | Event::End(
                TagEnd::Paragraph
                | TagEnd::Heading(_)
                | TagEnd::BlockQuote(_)
                | TagEnd::List(_)
                | TagEnd::Table,
            )
            | Event::Rule => b.newlines(2),
            _ => {}
        }
    }
    b.finish()
}

/// Elements whose content is never shown.
const HIDDEN: &[&str] = &[
    "head", "script", "style", "noscript", "template", "svg", "math", "iframe", "object", "canvas",
    "select", "button",
];
/// Elements that stand apart from the text around them.
const BLOCKS: &[&str] = &[
    "p",
    "div",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "ul",
    "ol",
    "dl",
    "table",
    "section",
    "article",
    "header",
    "footer",
    "nav",
    "main",
    "aside",
    "blockquote",
    "pre",
    "figure",
    "figcaption",
    "form",
    "address",
    "details",
    "summary",
    "hr",
    "fieldset",
    "body",
];
/// Elements that start a new line.
const LINES: &[&str] = &["li", "tr", "dt", "dd", "br", "caption"];

/// The visible text of an HTML document: scripts, styles and hidden elements
/// left out, entities decoded, whitespace collapsed except in `<pre>`,
/// headings and paragraphs apart by a blank line. The tree is walked
/// without recursion, so deep nesting cannot exhaust the stack.
pub fn html(source: &str) -> String {
    let doc = Html::parse_document(source);
    let mut b = Builder::default();
    let mut hidden = 0usize;
    let mut pre = 0usize;
    for edge in doc.tree.root().traverse() {
        match edge {
            Edge::Open(node) => match node.value() {
                Node::Element(el) => {
                    let name = el.name();
                    if hidden > 0 || HIDDEN.contains(&name) || el.attr("hidden").is_some() {
                        hidden += 1;
                    } else if BLOCKS.contains(&name) {
                        b.newlines(2);
                    } else if LINES.contains(&name) {
                        b.newlines(1);
                    } else if matches!(name, "td" | "th") {
                        b.space();
                    } else if name == "img" {
                        if let Some(alt) = el.attr("alt") {
                            b.words(&format!(" {alt} "));
                        }
                    }
                    if hidden == 0 && name == "pre" {
                        pre += 1;
                    }
                }
                Node::Text(t) if hidden == 0 => {
                    if pre > 0 {
                        b.raw(t);
                    } else {
                        b.words(t);
                    }
                }
                _ => {}
            },
            Edge::Close(node) => {
                if let Node::Element(el) = node.value() {
                    let name = el.name();
                    if hidden > 0 {
                        hidden -= 1;
                    } else if BLOCKS.contains(&name) {
                        if name == "pre" {
                            pre = pre.saturating_sub(1);
                        }
                        b.newlines(2);
                    } else if matches!(name, "li" | "tr" | "dt" | "dd" | "caption") {
                        b.newlines(1);
                    }
                }
            }
        }
    }
    b.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn html_keeps_visible_text_and_blocks() {
        let page = "<html><head><title>T</title><style>p{}</style></head><body>\
            <h1>Tea &amp; coffee</h1><script>var x = 1;</script>\
            <p>Green   tea is\n <b>calm</b>.</p><p hidden>secret</p>\
            <ul><li>one</li><li>two</li></ul><pre>a  b\n c</pre></body></html>";
        let text = html(page);
        assert_eq!(
            text,
            "Tea & coffee\n\nGreen tea is calm.\n\none\ntwo\n\na  b\n c"
        );
    }

    #[test]
    fn markdown_drops_markup() {
        let md = "# Title\n\nSome *emphasis* and [a link](http://x.y).\nSame paragraph.\n\n\
                  - item `one`\n- item two\n\n```\ncode  here\n```\n";
        assert_eq!(
            markdown(md),
            "Title\n\nSome emphasis and a link. Same paragraph.\n\nitem one\nitem two\n\ncode  here"
        );
    }

    #[test]
    fn binary_and_non_utf8_are_named() {
        let err = decode("a.txt", b"ab\0c").unwrap_err().to_string();
        assert!(
            err.contains("a.txt is a binary file (NUL byte at offset 2)"),
            "{err}"
        );
        let err = decode("b.txt", b"ok\xff").unwrap_err().to_string();
        assert!(
            err.contains("b.txt is not UTF-8 text (invalid byte at offset 2)"),
            "{err}"
        );
        assert_eq!(decode("c.txt", b"\xEF\xBB\xBFhi").unwrap(), "hi");
    }

    #[test]
    fn formats_by_extension_and_content_type() {
        assert_eq!(
            Format::from_extension("x", Some("MD")).unwrap(),
            Format::Markdown
        );
        assert_eq!(Format::from_extension("x", None).unwrap(), Format::Text);
        assert_eq!(
            Format::from_extension("doc.pdf", Some("PDF")).unwrap(),
            Format::Pdf
        );
        let pdf = Format::from_content_type("u", Some("application/pdf"), None);
        assert_eq!(pdf.unwrap(), Format::Pdf);
        let any = Format::from_content_type("u", Some("application/octet-stream"), Some("pdf"));
        assert_eq!(any.unwrap(), Format::Pdf);
        assert_eq!(Format::Text.sniff(b"%PDF-1.7\n"), Format::Pdf);
        assert_eq!(Format::Html.sniff(b"%PDF-1.7\n"), Format::Html);
        assert_eq!(Format::Text.sniff(b"%PD"), Format::Text);
        assert!(Format::from_extension("a.exe", Some("exe")).is_err());
        let html = Format::from_content_type("u", Some("text/html; charset=UTF-8"), None);
        assert_eq!(html.unwrap(), Format::Html);
        assert!(Format::from_content_type("u", Some("text/html; charset=latin1"), None).is_err());
        assert!(Format::from_content_type("u", Some("image/png"), None).is_err());
        let md = Format::from_content_type("u", Some("text/plain"), Some("md"));
        assert_eq!(md.unwrap(), Format::Markdown);
    }
}
