//! The `embedrock._embedrock` Python extension module: the embedder (local
//! models and Amazon Bedrock, opened as the command line opens them) and the
//! memory store. The Python package `embedrock` wraps it with numpy arrays,
//! exceptions, LangChain and mem0 adapters.
//!
//! Every call that embeds, tokenises or touches the store releases the GIL
//! and runs on one Tokio runtime owned by the module.

mod embedder;
mod errors;
mod store;

use std::sync::OnceLock;

use pyo3::prelude::*;

/// The module's async runtime, built on first use.
static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();

/// The module's runtime.
fn runtime() -> PyResult<&'static tokio::runtime::Runtime> {
    if let Some(rt) = RUNTIME.get() {
        return Ok(rt);
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("embedrock")
        .build()
        .map_err(|e| {
            errors::Raised::new("EmbedrockError", format!("cannot start the runtime: {e}"))
        })?;
    Ok(RUNTIME.get_or_init(|| rt))
}

/// Runs `future` to completion on the module's runtime with the GIL released.
fn block_on<F>(py: Python<'_>, future: F) -> PyResult<F::Output>
where
    F: std::future::Future + Send,
    F::Output: Send,
{
    let rt = runtime()?;
    Ok(py.detach(|| rt.block_on(future)))
}

#[pymodule]
fn _embedrock(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<embedder::NativeEmbedder>()?;
    m.add_class::<store::NativeStore>()?;
    m.add("MAX_TEXTS", embedder::MAX_TEXTS)?;
    m.add("MAX_TOTAL_BYTES", embedder::MAX_TOTAL_BYTES)?;
    Ok(())
}
