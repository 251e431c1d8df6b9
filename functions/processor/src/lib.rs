//! Processor function.
