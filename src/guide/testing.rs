//! # testing
