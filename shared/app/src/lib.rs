//! Use cases and role traits.
