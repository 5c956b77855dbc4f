//! # primitives
