//! The gcov engine: reads .gcno/.gcda bytes, rebuilds gcov's counts, and writes coverage formats.
