//! Retrieval metrics as `trec_eval` computes them.
