//! Exact search over a corpus in three stored forms: float, int8 and binary,
//! with an optional float rescoring pass over the top candidates.
//!
//! - float: cosine of the unit vectors;
//! - int8: each vector scaled by its largest magnitude to -127..127
//!   ([`embedrock_core::math::quantize_int8`], the form the server returns
//!   for Cohere's `int8`) and compared by cosine of the byte vectors;
//! - binary: one bit per dimension ([`embedrock_core::math::binarize`]),
//!   compared by the number of equal bits (`dimensions - hamming`).
//!
//! Rescoring re-ranks the quantised search's top `n` by the float cosine of
//! the query and the document's float vector, as a store that keeps floats
//! on disk beside an in-memory quantised index does.

use std::time::Instant;

use embedrock_core::math::{binarize, l2_normalize, quantize_int8};

use embedrock_core::kernels::{self, Kernels};

/// How the corpus's vectors are stored and compared.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum VectorType {
    /// 32-bit floats.
    Float,
    /// One signed byte per dimension.
    Int8,
    /// One bit per dimension.
    Binary,
}

impl VectorType {
    /// The name used in results and on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            VectorType::Float => "float",
            VectorType::Int8 => "int8",
            VectorType::Binary => "binary",
        }
    }

    /// Bytes one vector of `dimensions` takes in this form.
    pub fn bytes_per_vector(self, dimensions: usize) -> usize {
        match self {
            VectorType::Float => 4 * dimensions,
            VectorType::Int8 => dimensions,
            VectorType::Binary => dimensions.div_ceil(8),
        }
    }
}

impl std::str::FromStr for VectorType {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.trim().to_ascii_lowercase().as_str() {
            "float" => Ok(VectorType::Float),
            "int8" => Ok(VectorType::Int8),
            "binary" => Ok(VectorType::Binary),
            other => Err(format!(
                "unknown output type {other:?} (expected float, int8 or binary)"
            )),
        }
    }
}

/// Unit-length float vectors, row after row.
#[derive(Debug, Clone)]
pub struct Matrix {
    /// Values of every row.
    pub data: Vec<f32>,
    /// Values per row.
    pub dimensions: usize,
}

impl Matrix {
    /// Normalises each vector (cutting it to `dimensions` first) into a matrix.
    pub fn from_vectors<'a>(vectors: impl Iterator<Item = &'a [f32]>, dimensions: usize) -> Self {
        let mut data = Vec::new();
        for v in vectors {
            let mut row = v[..dimensions.min(v.len())].to_vec();
            row.resize(dimensions, 0.0);
            l2_normalize(&mut row);
            data.extend_from_slice(&row);
        }
        Matrix { data, dimensions }
    }

    /// Rows.
    pub fn len(&self) -> usize {
        self.data.len().checked_div(self.dimensions).unwrap_or(0)
    }

    /// Whether there are no rows.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// One row.
    pub fn row(&self, i: usize) -> &[f32] {
        &self.data[i * self.dimensions..(i + 1) * self.dimensions]
    }
}

/// The corpus in one stored form.
struct Index<'a> {
    form: Form<'a>,
    kernels: Kernels,
}

enum Form<'a> {
    Float(&'a Matrix),
    Int8 {
        codes: Vec<i8>,
        norms: Vec<f32>,
    },
    Binary {
        bits: Vec<u8>,
        bytes: usize,
        d: usize,
    },
}

fn int8_rows(m: &Matrix, k: &Kernels) -> (Vec<i8>, Vec<f32>) {
    let mut codes = Vec::with_capacity(m.data.len());
    let mut norms = Vec::with_capacity(m.len());
    for i in 0..m.len() {
        let q = quantize_int8(m.row(i));
        norms.push(((k.dot_i8)(&q, &q) as f32).sqrt());
        codes.extend_from_slice(&q);
    }
    (codes, norms)
}

impl<'a> Index<'a> {
    fn new(kind: VectorType, docs: &'a Matrix) -> Self {
        let kernels = kernels::detect();
        let d = docs.dimensions;
        let form = match kind {
            VectorType::Float => Form::Float(docs),
            VectorType::Int8 => {
                let (codes, norms) = int8_rows(docs, &kernels);
                Form::Int8 { codes, norms }
            }
            VectorType::Binary => {
                let bytes = d.div_ceil(8);
                let bits = (0..docs.len())
                    .flat_map(|i| binarize(docs.row(i)))
                    .collect();
                Form::Binary { bits, bytes, d }
            }
        };
        Index { form, kernels }
    }

    /// The score of every document for one query (its float form).
    fn scores(&self, query: &[f32]) -> Vec<f32> {
        let k = &self.kernels;
        match &self.form {
            Form::Float(m) => {
                let mut out = vec![0f32; m.len()];
                (k.rows_f32)(&m.data, query, &mut out);
                out
            }
            Form::Int8 { codes, norms } => {
                let q = quantize_int8(query);
                let qn = ((k.dot_i8)(&q, &q) as f32).sqrt();
                let mut dots = vec![0i32; norms.len()];
                (k.rows_i8)(codes, &q, &mut dots);
                dots.iter()
                    .zip(norms)
                    .map(|(dot, n)| {
                        let denom = qn * n;
                        if denom == 0.0 {
                            0.0
                        } else {
                            *dot as f32 / denom
                        }
                    })
                    .collect()
            }
            Form::Binary { bits, bytes, d } => {
                let q = binarize(query);
                let mut distances = vec![0u32; bits.len() / bytes.max(&1)];
                (k.rows_hamming)(bits, &q, &mut distances);
                distances.iter().map(|h| (*d as u32 - h) as f32).collect()
            }
        }
    }
}

/// The `top` best (document index, score), best first; equal scores keep
/// corpus order.
fn top_k(scores: &[f32], top: usize) -> Vec<(usize, f32)> {
    let mut order: Vec<usize> = (0..scores.len()).collect();
    let better = |a: &usize, b: &usize| scores[*b].total_cmp(&scores[*a]).then(a.cmp(b));
    let top = top.min(order.len());
    if top == 0 {
        return Vec::new();
    }
    if top < order.len() {
        order.select_nth_unstable_by(top - 1, better);
        order.truncate(top);
    }
    order.sort_by(better);
    order.into_iter().map(|i| (i, scores[i])).collect()
}

/// The hits of every query and the mean search time per query.
#[derive(Debug, Clone)]
pub struct Searched {
    /// Per query, the best `top` (document index, score), best first.
    pub hits: Vec<Vec<(usize, f64)>>,
    /// Mean time one query took on one thread, in milliseconds.
    pub ms_per_query: f64,
}

/// Searches every query against the corpus in the `kind` form, on `threads`
/// threads (each query on one), keeping the best `top`. With `rescore`, the
/// best `n` of the quantised search are re-ranked by float cosine; below
/// them the rest of the top follow in quantised order, scored under every
/// rescored hit.
pub fn search(
    kind: VectorType,
    docs: &Matrix,
    queries: &Matrix,
    top: usize,
    rescore: Option<usize>,
    threads: usize,
) -> Searched {
    let index = Index::new(kind, docs);
    let n = queries.len();
    let threads = threads.clamp(1, n.max(1));
    let chunk = n.div_ceil(threads).max(1);
    let mut hits = vec![Vec::new(); n];
    let mut nanos = vec![0u128; n];
    std::thread::scope(|s| {
        for (c, (hits, nanos)) in hits
            .chunks_mut(chunk)
            .zip(nanos.chunks_mut(chunk))
            .enumerate()
        {
            let index = &index;
            s.spawn(move || {
                for (j, (slot, time)) in hits.iter_mut().zip(nanos.iter_mut()).enumerate() {
                    let q = queries.row(c * chunk + j);
                    let start = Instant::now();
                    *slot = one_query(index, docs, q, top, rescore);
                    *time = start.elapsed().as_nanos();
                }
            });
        }
    });
    let total: u128 = nanos.iter().sum();
    Searched {
        hits,
        ms_per_query: if n == 0 {
            0.0
        } else {
            total as f64 / n as f64 / 1e6
        },
    }
}

fn one_query(
    index: &Index,
    docs: &Matrix,
    query: &[f32],
    top: usize,
    rescore: Option<usize>,
) -> Vec<(usize, f64)> {
    let scores = index.scores(query);
    let rescore = match (&index.form, rescore) {
        (Form::Float(_), _) | (_, None) => {
            return top_k(&scores, top)
                .into_iter()
                .map(|(i, s)| (i, f64::from(s)))
                .collect()
        }
        (_, Some(n)) => n,
    };
    let candidates = top_k(&scores, top.max(rescore));
    let (head, tail) = candidates.split_at(rescore.min(candidates.len()));
    let rescored: Vec<f32> = head
        .iter()
        .map(|(i, _)| (index.kernels.dot_f32)(query, docs.row(*i)))
        .collect();
    let mut out: Vec<(usize, f64)> = top_k(&rescored, rescored.len())
        .into_iter()
        .map(|(j, s)| (head[j].0, f64::from(s)))
        .collect();
    // Cosines lie in [-1, 1]; the rest rank below every rescored hit.
    let below = tail.len() as f64;
    out.extend(
        tail.iter()
            .enumerate()
            .map(|(r, (i, _))| (*i, -2.0 - r as f64 / below.max(1.0))),
    );
    out.truncate(top);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use embedrock_core::math::dot;

    fn unit(seed: u64, d: usize) -> Vec<f32> {
        let mut x = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (0..d)
            .map(|_| {
                x = x
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                ((x >> 33) as f32 / (1u64 << 31) as f32) - 0.5
            })
            .collect()
    }

    fn corpus(n: usize, d: usize) -> Matrix {
        let rows: Vec<Vec<f32>> = (0..n as u64).map(|i| unit(i, d)).collect();
        Matrix::from_vectors(rows.iter().map(Vec::as_slice), d)
    }

    #[test]
    fn a_document_finds_itself_first_in_every_form() {
        let docs = corpus(200, 64);
        for kind in [VectorType::Float, VectorType::Int8, VectorType::Binary] {
            let found = search(kind, &docs, &docs, 5, None, 2);
            for (q, hits) in found.hits.iter().enumerate() {
                assert_eq!(hits.len(), 5);
                assert_eq!(hits[0].0, q, "{kind:?} query {q}");
                assert!(hits.windows(2).all(|w| w[0].1 >= w[1].1), "{kind:?}");
            }
        }
    }

    #[test]
    fn float_search_matches_a_brute_force_sort() {
        let docs = corpus(300, 32);
        let queries = Matrix::from_vectors([unit(1000, 32)].iter().map(Vec::as_slice), 32);
        let found = search(VectorType::Float, &docs, &queries, 10, None, 1);
        let mut all: Vec<(usize, f32)> = (0..docs.len())
            .map(|i| (i, dot(queries.row(0), docs.row(i))))
            .collect();
        all.sort_by(|a, b| b.1.total_cmp(&a.1));
        let want: Vec<usize> = all[..10].iter().map(|x| x.0).collect();
        let got: Vec<usize> = found.hits[0].iter().map(|x| x.0).collect();
        assert_eq!(got, want);
    }

    #[test]
    fn rescoring_puts_the_float_order_on_the_candidates() {
        let docs = corpus(500, 48);
        let queries = Matrix::from_vectors([unit(77, 48)].iter().map(Vec::as_slice), 48);
        let float = search(VectorType::Float, &docs, &queries, 10, None, 1);
        let rescored = search(VectorType::Binary, &docs, &queries, 10, Some(500), 1);
        let ids = |s: &Searched| s.hits[0].iter().map(|x| x.0).collect::<Vec<_>>();
        // Rescoring every document gives the float order exactly.
        assert_eq!(ids(&rescored), ids(&float));
        // A short rescoring pass keeps the quantised order below it.
        let partial = search(VectorType::Binary, &docs, &queries, 10, Some(3), 1);
        assert_eq!(partial.hits[0].len(), 10);
        assert!(partial.hits[0][2].1 > partial.hits[0][3].1);
        assert!(partial.hits[0][3].1 < -1.0);
    }

    #[test]
    fn sizes_per_form() {
        assert_eq!(VectorType::Float.bytes_per_vector(384), 1536);
        assert_eq!(VectorType::Int8.bytes_per_vector(384), 384);
        assert_eq!(VectorType::Binary.bytes_per_vector(385), 49);
        assert!("int16".parse::<VectorType>().is_err());
    }
}
