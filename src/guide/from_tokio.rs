//! # from_tokio
