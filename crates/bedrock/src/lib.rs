//! Bedrock wire codecs (in progress).
