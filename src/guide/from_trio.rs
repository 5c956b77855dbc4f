//! # from_trio
