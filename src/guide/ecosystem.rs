//! # ecosystem
