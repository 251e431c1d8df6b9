//! Submit function.
