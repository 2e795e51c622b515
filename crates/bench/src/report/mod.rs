//! Reports drawn from [`crate::Results`].
