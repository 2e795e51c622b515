//! Bedrock-compatible server (in progress).
