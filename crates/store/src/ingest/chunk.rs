//! Token-aware chunking with overlap.
//!
//! The text is cut into words (runs of non-whitespace); each distinct word
//! is counted once by the embedder's own tokenizer, so a chunk's tokens are
//! the sum of its words' tokens (exact for word-piece tokenizers, which split
//! on whitespace first). Chunks are filled greedily up to the budget and cut
//! at the last paragraph break, else the last sentence end, in their second
//! half, else between words. Each chunk after the first starts up to
//! `overlap` tokens before the previous one ended. Every chunk is counted
//! again as a whole at the end and split further if the sum was wrong (a
//! word longer than the budget, cut between characters, tokenizes
//! differently in pieces), so no chunk is over the limit.

use std::collections::HashMap;

use crate::{Error, Result};

/// Counts the tokens of each text as the embedder would, special tokens
/// included.
pub type Counter<'a> = &'a (dyn Fn(&[String]) -> Result<Vec<usize>> + Sync);

/// How big chunks are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChunkSpec {
    /// The most tokens a chunk holds, as the counter counts them.
    pub tokens: usize,
    /// Tokens each chunk repeats from the end of the previous one.
    pub overlap: usize,
    /// The most characters a chunk holds, for models limited by characters.
    pub max_chars: Option<usize>,
}

/// A chunk: byte offsets into the text, on character boundaries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Span {
    /// First byte.
    pub start: usize,
    /// One past the last byte.
    pub end: usize,
}

/// How strongly the gap after a unit separates it from the next.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Break {
    /// Inside a word cut into pieces: no gap at all.
    None,
    /// Whitespace between words.
    Word,
    /// The end of a sentence, or a line break.
    Sentence,
    /// A blank line.
    Paragraph,
}

#[derive(Debug, Clone, Copy)]
struct Unit {
    start: usize,
    end: usize,
    tokens: usize,
    after: Break,
}

/// Texts counted per call to the counter.
const COUNT_BATCH: usize = 2048;

/// Cuts `text` into chunks of at most `spec.tokens` tokens. An empty or
/// blank text has no chunks.
pub fn chunk(text: &str, spec: &ChunkSpec, count: Counter<'_>) -> Result<Vec<Span>> {
    let overhead = count(&[String::new()])?.first().copied().unwrap_or(0);
    let budget = spec
        .tokens
        .checked_sub(overhead)
        .filter(|b| *b > 0)
        .ok_or_else(|| {
            Error::InvalidInput(format!(
            "a chunk of {} tokens holds no text (the model adds {overhead} tokens to every text)",
            spec.tokens
        ))
        })?;
    let units = units(text, budget, spec.max_chars, overhead, count)?;
    if units.is_empty() {
        return Ok(Vec::new());
    }
    let spans = pack(
        text,
        &units,
        budget,
        spec.overlap.min(budget / 2),
        spec.max_chars,
    );
    verify(text, spans, spec, count)
}

/// The words of `text` with their token counts; words over the budget are
/// cut into pieces between characters.
fn units(
    text: &str,
    budget: usize,
    max_chars: Option<usize>,
    overhead: usize,
    count: Counter<'_>,
) -> Result<Vec<Unit>> {
    let mut words: Vec<(usize, usize)> = Vec::new();
    let mut start = None;
    for (i, c) in text.char_indices() {
        match (c.is_whitespace(), start) {
            (true, Some(s)) => {
                words.push((s, i));
                start = None;
            }
            (false, None) => start = Some(i),
            _ => {}
        }
    }
    if let Some(s) = start {
        words.push((s, text.len()));
    }
    let counts = count_distinct(text, &words, overhead, count)?;
    // A piece of a long word: at most a quarter of the budget in characters,
    // so even four tokens a character (byte-level tokenizers) fit.
    let piece_chars = (budget / 4).max(1).min(max_chars.unwrap_or(usize::MAX));
    let mut units = Vec::with_capacity(words.len());
    for (i, &(s, e)) in words.iter().enumerate() {
        let after = match words.get(i + 1) {
            None => Break::Paragraph,
            Some(&(next, _)) => gap(&text[s..e], &text[e..next]),
        };
        let tokens = counts[&text[s..e]];
        let chars = text[s..e].chars().count();
        if tokens <= budget && max_chars.is_none_or(|m| chars <= m) {
            units.push(Unit {
                start: s,
                end: e,
                tokens,
                after,
            });
            continue;
        }
        let mut bounds: Vec<usize> = text[s..e]
            .char_indices()
            .map(|(o, _)| s + o)
            .step_by(piece_chars)
            .collect();
        bounds.push(e);
        let pieces: Vec<String> = bounds
            .windows(2)
            .map(|w| text[w[0]..w[1]].to_string())
            .collect();
        let piece_tokens = count(&pieces)?;
        for (j, w) in bounds.windows(2).enumerate() {
            units.push(Unit {
                start: w[0],
                end: w[1],
                tokens: piece_tokens
                    .get(j)
                    .copied()
                    .unwrap_or(0)
                    .saturating_sub(overhead),
                after: if w[1] == e { after } else { Break::None },
            });
        }
    }
    Ok(units)
}

/// Counts each distinct word once.
fn count_distinct<'t>(
    text: &'t str,
    words: &[(usize, usize)],
    overhead: usize,
    count: Counter<'_>,
) -> Result<HashMap<&'t str, usize>> {
    let mut counts: HashMap<&str, usize> = HashMap::new();
    for &(s, e) in words {
        counts.entry(&text[s..e]).or_insert(0);
    }
    let distinct: Vec<&str> = counts.keys().copied().collect();
    for batch in distinct.chunks(COUNT_BATCH) {
        let owned: Vec<String> = batch.iter().map(|w| w.to_string()).collect();
        let got = count(&owned)?;
        if got.len() != batch.len() {
            return Err(Error::Backend(format!(
                "the tokenizer counted {} texts for {}",
                got.len(),
                batch.len()
            )));
        }
        for (w, n) in batch.iter().zip(got) {
            counts.insert(w, n.saturating_sub(overhead));
        }
    }
    Ok(counts)
}

/// How strongly the whitespace `gap` after `word` separates it from the next.
fn gap(word: &str, gap: &str) -> Break {
    if gap.matches('\n').count() >= 2 {
        Break::Paragraph
    } else if gap.contains('\n')
        || word
            .trim_end_matches(['"', '\'', ')', ']', '”', '’'])
            .ends_with(['.', '!', '?', ':', ';'])
    {
        Break::Sentence
    } else {
        Break::Word
    }
}

/// Fills chunks greedily and cuts them at the strongest break in their
/// second half; the next chunk starts `overlap` tokens back.
fn pack(
    text: &str,
    units: &[Unit],
    budget: usize,
    overlap: usize,
    max_chars: Option<usize>,
) -> Vec<Span> {
    let chars = max_chars.map(|_| char_offsets(text, units));
    let too_long = |s: usize, e: usize| match (&chars, max_chars) {
        (Some(c), Some(m)) => c[e].1 - c[s].0 > m,
        _ => false,
    };
    let mut spans = Vec::new();
    let mut s = 0;
    while s < units.len() {
        let mut tokens = 0;
        let mut e = s;
        while e < units.len() {
            let t = tokens + units[e].tokens;
            if e > s && (t > budget || too_long(s, e)) {
                break;
            }
            tokens = t;
            e += 1;
        }
        let cut = if e == units.len() {
            e
        } else {
            best_cut(units, s, e, tokens)
        };
        spans.push(Span {
            start: units[s].start,
            end: units[cut - 1].end,
        });
        if cut == units.len() {
            break;
        }
        let mut next = cut;
        let mut back = 0;
        while next > s + 1 && back + units[next - 1].tokens <= overlap {
            back += units[next - 1].tokens;
            next -= 1;
        }
        // Start an overlap on a whole word, not inside a cut one.
        while next < cut && next > 0 && units[next - 1].after == Break::None {
            next += 1;
        }
        s = next;
    }
    spans
}

/// The character offsets of each unit's start and end.
fn char_offsets(text: &str, units: &[Unit]) -> Vec<(usize, usize)> {
    let mut at = HashMap::with_capacity(units.len() * 2);
    for u in units {
        at.insert(u.start, 0);
        at.insert(u.end, 0);
    }
    let mut n = 0;
    for (i, _) in text.char_indices() {
        if let Some(v) = at.get_mut(&i) {
            *v = n;
        }
        n += 1;
    }
    if let Some(v) = at.get_mut(&text.len()) {
        *v = n;
    }
    units
        .iter()
        .map(|u| {
            (
                at.get(&u.start).copied().unwrap_or(0),
                at.get(&u.end).copied().unwrap_or(n),
            )
        })
        .collect()
}

/// The unit after which the window `s..e` (holding `tokens`) is best cut.
fn best_cut(units: &[Unit], s: usize, e: usize, tokens: usize) -> usize {
    let mut best: Option<(Break, usize)> = None;
    let mut acc = 0;
    for (i, unit) in units.iter().enumerate().take(e).skip(s) {
        acc += unit.tokens;
        let strength = unit.after;
        let eligible = match strength {
            Break::Paragraph => acc * 3 >= tokens,
            Break::Sentence => acc * 2 >= tokens,
            _ => false,
        };
        if eligible && best.is_none_or(|(b, _)| strength >= b) {
            best = Some((strength, i + 1));
        }
    }
    match best {
        Some((_, cut)) => cut,
        None => {
            // No sentence end in the second half: cut between words, not
            // inside a long word's pieces.
            (s + 1..=e)
                .rev()
                .find(|&c| units[c - 1].after != Break::None)
                .unwrap_or(e)
        }
    }
}

/// Counts every chunk as a whole and splits those over the limit.
fn verify(text: &str, spans: Vec<Span>, spec: &ChunkSpec, count: Counter<'_>) -> Result<Vec<Span>> {
    let mut done = Vec::with_capacity(spans.len());
    let mut todo = spans;
    for _round in 0..32 {
        if todo.is_empty() {
            break;
        }
        let texts: Vec<String> = todo
            .iter()
            .map(|s| text[s.start..s.end].to_string())
            .collect();
        let mut counts = Vec::with_capacity(texts.len());
        for batch in texts.chunks(COUNT_BATCH) {
            counts.extend(count(batch)?);
        }
        let mut again = Vec::new();
        for (span, n) in todo.into_iter().zip(counts) {
            if n <= spec.tokens {
                done.push(span);
                continue;
            }
            let mid = split_point(text, span).ok_or_else(|| {
                Error::InvalidInput(format!(
                    "bytes {}..{} cannot be cut below {} tokens",
                    span.start, span.end, spec.tokens
                ))
            })?;
            again.push(Span {
                start: span.start,
                end: mid,
            });
            again.push(Span {
                start: mid,
                end: span.end,
            });
        }
        todo = again;
    }
    if !todo.is_empty() {
        return Err(Error::InvalidInput(format!(
            "the text could not be cut into chunks of at most {} tokens",
            spec.tokens
        )));
    }
    done.sort_by_key(|s| (s.start, s.end));
    Ok(done)
}

/// A character boundary near the middle of `span`, at whitespace if there is some.
fn split_point(text: &str, span: Span) -> Option<usize> {
    let part = &text[span.start..span.end];
    let mid = part.len() / 2;
    let ws = part
        .char_indices()
        .filter(|(_, c)| c.is_whitespace())
        .map(|(i, _)| i)
        .filter(|&i| i > 0)
        .min_by_key(|&i| i.abs_diff(mid));
    let cut = ws.or_else(|| {
        part.char_indices()
            .map(|(i, _)| i)
            .filter(|&i| i > 0)
            .min_by_key(|&i| i.abs_diff(mid))
    })?;
    Some(span.start + cut)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One token per word plus two for the text, like a word-level tokenizer
    /// with `[CLS]` and `[SEP]`.
    fn words(texts: &[String]) -> Result<Vec<usize>> {
        Ok(texts
            .iter()
            .map(|t| t.split_whitespace().count() + 2)
            .collect())
    }

    fn spec(tokens: usize, overlap: usize) -> ChunkSpec {
        ChunkSpec {
            tokens,
            overlap,
            max_chars: None,
        }
    }

    #[test]
    fn cuts_at_sentence_ends_with_overlap() {
        let text = "One two three. Four five six. Seven eight nine. Ten eleven twelve.";
        let spans = chunk(text, &spec(9, 2), &words).unwrap();
        let got: Vec<&str> = spans.iter().map(|s| &text[s.start..s.end]).collect();
        assert_eq!(
            got,
            [
                "One two three. Four five six.",
                "five six. Seven eight nine.",
                "eight nine. Ten eleven twelve."
            ]
        );
    }

    #[test]
    fn paragraphs_win_over_sentences() {
        let text = "a b c.\n\nd e f. g h i j k";
        let spans = chunk(text, &spec(10, 0), &words).unwrap();
        assert_eq!(&text[spans[0].start..spans[0].end], "a b c.");
        assert_eq!(&text[spans[1].start..spans[1].end], "d e f. g h i j k");
    }

    #[test]
    fn long_words_are_cut_between_characters() {
        let chars = |t: &[String]| -> Result<Vec<usize>> {
            Ok(t.iter().map(|t| t.chars().count()).collect())
        };
        let text = "é".repeat(50);
        let spans = chunk(&text, &spec(20, 0), &chars).unwrap();
        assert!(spans.len() >= 3);
        for s in &spans {
            assert!(text[s.start..s.end].chars().count() <= 20);
        }
        assert_eq!(spans.first().unwrap().start, 0);
        assert_eq!(spans.last().unwrap().end, text.len());
    }

    #[test]
    fn blank_text_has_no_chunks_and_tiny_budgets_are_refused() {
        assert!(chunk("  \n ", &spec(10, 0), &words).unwrap().is_empty());
        assert!(chunk("a", &spec(2, 0), &words).is_err());
    }
}
