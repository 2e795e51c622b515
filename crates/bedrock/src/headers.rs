//! The HTTP header names of Bedrock's runtime API that embedrock reads or
//! writes, lower case (HTTP header names are case-insensitive; Bedrock
//! writes them as `X-Amzn-Bedrock-Input-Token-Count` and so on).

/// Input tokens the service counted (not in the service model; clients read it).
pub const INPUT_TOKEN_COUNT: &str = "x-amzn-bedrock-input-token-count";
/// Output tokens (0 for embeddings).
pub const OUTPUT_TOKEN_COUNT: &str = "x-amzn-bedrock-output-token-count";
/// Service-side latency in milliseconds.
pub const INVOCATION_LATENCY: &str = "x-amzn-bedrock-invocation-latency";
/// The exception name of an error answer; where the SDKs read the error code.
pub const ERROR_TYPE: &str = "x-amzn-errortype";
/// The request id.
pub const REQUEST_ID: &str = "x-amzn-requestid";
