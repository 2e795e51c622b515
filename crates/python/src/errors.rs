//! Rust errors as the exceptions of `embedrock.errors`: the class is chosen
//! from the error's kind, and the facts (Bedrock's exception name, the
//! index of the failing text, the attempts made) become attributes.

use embedrock_bedrock::client::{ItemCode, ItemError};
use embedrock_bedrock::{ErrorKind, WireError};
use pyo3::exceptions::PyRuntimeError;
use pyo3::prelude::*;
use pyo3::types::PyDict;

/// An exception to raise: a class of `embedrock.errors` and its facts.
#[derive(Debug, Clone, PartialEq)]
pub struct Raised {
    class: &'static str,
    message: String,
    code: Option<String>,
    index: Option<usize>,
    attempts: Option<u32>,
}

impl Raised {
    /// An exception of `class` with `message` and no other facts.
    pub fn new(class: &'static str, message: impl Into<String>) -> Self {
        Raised {
            class,
            message: message.into(),
            code: None,
            index: None,
            attempts: None,
        }
    }

    fn code(mut self, code: impl Into<String>) -> Self {
        self.code = Some(code.into());
        self
    }

    fn index(mut self, index: usize) -> Self {
        self.index = Some(index);
        self
    }

    /// A failure of the embedder.
    pub fn of_core(e: &embedrock_core::Error) -> Self {
        use embedrock_core::Error as E;
        let msg = e.to_string();
        match e {
            E::InputTooLong { index, .. } => Raised::new("InputTooLongError", msg)
                .code("InputTooLong")
                .index(*index),
            E::UnknownModel { .. } => Raised::new("ModelNotFoundError", msg).code("UnknownModel"),
            E::EmptyInput
            | E::DimensionsNotAllowed { .. }
            | E::BatchTooLarge { .. }
            | E::Unsupported { .. }
            | E::InvalidRequest(_) => Raised::new("ValidationError", msg),
            E::Backend { source, .. } => match source.as_deref() {
                Some(s) => {
                    Raised::of_source(s).unwrap_or_else(|| Raised::new("EmbedrockError", msg))
                }
                None => Raised::new("EmbedrockError", msg),
            },
            _ => Raised::new("EmbedrockError", msg),
        }
    }

    /// The exception of a known underlying error, if it is one.
    fn of_source(s: &(dyn std::error::Error + 'static)) -> Option<Self> {
        if let Some(item) = s.downcast_ref::<ItemError>() {
            return Some(Raised::of_item(item));
        }
        if let Some(wire) = s.downcast_ref::<WireError>() {
            return Some(
                Raised::new(class_of_kind(wire.kind), wire.message.clone()).code(wire.kind.name()),
            );
        }
        match s.downcast_ref::<embedrock_local::Error>() {
            Some(embedrock_local::Error::UnknownModel { .. }) => {
                return Some(Raised::new("ModelNotFoundError", s.to_string()).code("UnknownModel"));
            }
            Some(embedrock_local::Error::UnsupportedPrecision { .. }) => {
                return Some(
                    Raised::new("ValidationError", s.to_string()).code("UnsupportedPrecision"),
                );
            }
            _ => {}
        }
        s.downcast_ref::<embedrock_core::Error>()
            .map(Raised::of_core)
    }

    /// One text's failure in a Bedrock call: the service's own message.
    fn of_item(e: &ItemError) -> Self {
        let class = match &e.code {
            ItemCode::Service(kind) => class_of_kind(*kind),
            ItemCode::InputTooLong => "InputTooLongError",
            ItemCode::Transport => "TransportError",
            ItemCode::OtherService(_) => "ServiceError",
            _ => "EmbedrockError",
        };
        let mut r = Raised::new(class, e.message.clone())
            .code(e.code.as_str())
            .index(e.index);
        r.attempts = Some(e.attempts);
        r
    }

    /// The first error in `e`'s chain that has a kind, else its whole text.
    pub fn of_anyhow(e: &anyhow::Error) -> Self {
        e.chain()
            .find_map(Raised::of_source)
            .unwrap_or_else(|| Raised::new("EmbedrockError", format!("{e:#}")))
    }

    /// A failure of the store.
    pub fn of_store(e: &embedrock_store::Error) -> Self {
        use embedrock_store::Error as E;
        let msg = e.to_string();
        match e {
            E::InvalidInput(_) | E::InvalidFilter { .. } | E::IdentityMismatch { .. } => {
                Raised::new("ValidationError", msg)
            }
            E::NotFound(_) => Raised::new("NotFoundError", msg),
            _ => match std::error::Error::source(e).and_then(Raised::of_source) {
                Some(r) => r,
                None => Raised::new("StoreError", msg),
            },
        }
    }
}

/// The exception class of a Bedrock exception.
fn class_of_kind(kind: ErrorKind) -> &'static str {
    match kind {
        ErrorKind::Validation => "ValidationError",
        ErrorKind::Throttling | ErrorKind::ModelNotReady | ErrorKind::ServiceQuotaExceeded => {
            "ThrottlingError"
        }
        ErrorKind::AccessDenied
        | ErrorKind::MissingAuthenticationToken
        | ErrorKind::UnrecognizedClient
        | ErrorKind::InvalidSignature => "AccessDeniedError",
        ErrorKind::ResourceNotFound => "ModelNotFoundError",
        _ => "ServiceError",
    }
}

impl From<Raised> for PyErr {
    fn from(r: Raised) -> PyErr {
        Python::attach(|py| match instantiate(py, &r) {
            Ok(err) => err,
            Err(e) => PyRuntimeError::new_err(format!("{} (and {e})", r.message)),
        })
    }
}

fn instantiate(py: Python<'_>, r: &Raised) -> PyResult<PyErr> {
    let class = py.import("embedrock.errors")?.getattr(r.class)?;
    let kwargs = PyDict::new(py);
    kwargs.set_item("code", r.code.as_deref())?;
    kwargs.set_item("index", r.index)?;
    kwargs.set_item("attempts", r.attempts)?;
    let value = class.call((r.message.as_str(),), Some(&kwargs))?;
    Ok(PyErr::from_value(value))
}
