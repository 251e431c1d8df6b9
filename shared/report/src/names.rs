//! Function names for people: the Itanium-mangled C++ names that gcc records
//! (`_ZN3fmt2v96detail17convert_for_visitInEET_S3_`) demangled for the pages and
//! `cobertura.xml`, the way genhtml `--demangle-cpp` and gcovr show them; every other name as
//! it is. The lcov tracefile keeps the mangled names, as lcov does.
//!
//! Names come from the device's notes files, so they are input: demangling is bounded in the
//! length it reads, the depth it recurses to and the length it writes, and any failure (or a
//! panic of the demangler) shows the name unchanged.

use std::borrow::Cow;
use std::fmt;

use cpp_demangle::{DemangleOptions, ParseOptions, Symbol};

/// Mangled names longer than this are shown as they are. Real C++ symbols are well below it
/// (deeply nested templates reach a few kilobytes).
pub const MAX_MANGLED: usize = 8 * 1024;

/// A demangled name that would be longer than this is shown mangled instead: back-references
/// let a short mangled name stand for an exponentially long one.
pub const MAX_DEMANGLED: usize = 16 * 1024;

/// Recursion limit of the parse (cpp_demangle's default: it does not overflow a 2 MiB thread
/// stack even in a debug build, and rayon's worker threads have 2 MiB).
const PARSE_DEPTH: u32 = 96;

/// Recursion limit of the printing (cpp_demangle's default).
const PRINT_DEPTH: u32 = 128;

/// The name to show for function `name`: demangled when it is a mangled C++ name (`_Z…`) that
/// demangles within the bounds above, else `name` itself.
pub fn demangle(name: &str) -> Cow<'_, str> {
    if !name.starts_with("_Z") || name.len() > MAX_MANGLED {
        return Cow::Borrowed(name);
    }
    // cpp_demangle is fuzzed and reports bad input as errors; a panic would still be a bug in
    // it that the name of a function must not turn into a failed report.
    match std::panic::catch_unwind(|| try_demangle(name, MAX_DEMANGLED)) {
        Ok(Some(s)) => Cow::Owned(s),
        _ => Cow::Borrowed(name),
    }
}

fn try_demangle(name: &str, cap: usize) -> Option<String> {
    let parse = ParseOptions::default().recursion_limit(PARSE_DEPTH);
    let sym = Symbol::new_with_options(name.as_bytes(), &parse).ok()?;
    let mut out = Capped(String::new(), cap);
    sym.structured_demangle(
        &mut out,
        &DemangleOptions::new().recursion_limit(PRINT_DEPTH),
    )
    .ok()?;
    (!out.0.is_empty()).then(|| libiberty_literals(&out.0))
}

/// The integer types whose literals libiberty writes with a suffix, and the suffix.
const INT_CASTS: [(&str, &str); 6] = [
    ("(int)", ""),
    ("(unsigned int)", "u"),
    ("(long)", "l"),
    ("(unsigned long)", "ul"),
    ("(long long)", "ll"),
    ("(unsigned long long)", "ull"),
];

/// cpp_demangle writes an integer literal (a template argument such as the `4` of
/// `Ring<int, 4>`) as a cast, `(unsigned long)4`; libiberty, the demangler of gcov, c++filt
/// and so of genhtml and gcovr, writes `4ul`. This rewrites the casts of the integer types
/// libiberty gives a suffix, so that the names are the ones those tools show. Nothing else in
/// a demangled name is a parenthesised type followed by a digit or a minus sign.
fn libiberty_literals(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(p) = rest.find('(') {
        out.push_str(&rest[..p]);
        let at = &rest[p..];
        let literal = INT_CASTS.iter().find_map(|&(cast, suffix)| {
            let value = at.strip_prefix(cast)?;
            let digits = value.strip_prefix('-').unwrap_or(value);
            let n = digits.bytes().take_while(u8::is_ascii_digit).count();
            (n > 0).then_some((cast.len(), value.len() - digits.len() + n, suffix))
        });
        match literal {
            Some((cast, len, suffix)) => {
                out.push_str(&at[cast..cast + len]);
                out.push_str(suffix);
                rest = &at[cast + len..];
            }
            None => {
                out.push('(');
                rest = &at[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// A string that refuses to grow past its cap, which stops the printer early.
struct Capped(String, usize);

impl fmt::Write for Capped {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        if self.0.len() + s.len() > self.1 {
            return Err(fmt::Error);
        }
        self.0.push_str(s);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn mangled_cpp_names_are_demangled_like_cxxfilt() {
        // The name of issue #15 (c++filt prints the same).
        assert_eq!(
            demangle("_ZN3fmt2v96detail17convert_for_visitInEET_S3_"),
            "__int128 fmt::v9::detail::convert_for_visit<__int128>(__int128)"
        );
        assert_eq!(demangle("_ZN5space3fooEibc"), "space::foo(int, bool, char)");
        assert_eq!(demangle("_Z3maxIiET_S0_S0_"), "int max<int>(int, int)");
    }

    #[test]
    fn integer_template_arguments_are_written_as_libiberty_writes_them() {
        // c++filt: geo::Ring<int, 4ul>::size() const
        assert_eq!(
            demangle("_ZNK3geo4RingIiLm4EE4sizeEv"),
            "geo::Ring<int, 4ul>::size() const"
        );
        // c++filt: void f<-3, 7u, 8l, 9ll, 10ull, true, (char)65>()
        assert_eq!(
            demangle("_Z1fILin3ELj7ELl8ELx9ELy10ELb1ELc65EEvv"),
            "void f<-3, 7u, 8l, 9ll, 10ull, true, (char)65>()"
        );
        assert_eq!(
            libiberty_literals("f(unsigned long) (int)x (long)-(long)-1 (int"),
            "f(unsigned long) (int)x (long)--1l (int"
        );
    }

    #[test]
    fn c_names_and_names_that_are_not_mangled_stay_as_they_are() {
        for n in [
            "main",
            "lua_pushvalue",
            "",
            "Z",
            "_",
            "__Z3foov",
            "_z3foov",
            "_ZN",
        ] {
            assert_eq!(demangle(n), n);
            assert!(matches!(demangle(n), Cow::Borrowed(_)), "{n}");
        }
    }

    #[test]
    fn a_name_that_is_not_valid_mangling_falls_back_to_the_raw_name() {
        for n in [
            "_Z",
            "_ZZ",
            "_Z3fo",
            "_ZN3foo",
            "_Z3foov trailing",
            "_ZSt",
            "_Z1fIT_E",
            "_Z<script>",
        ] {
            assert_eq!(demangle(n), n);
        }
    }

    #[test]
    fn deeply_nested_names_hit_the_recursion_limit_instead_of_the_stack() {
        // A pointer to a pointer to … 100,000 levels: each is one level of parse recursion.
        let deep = format!("_Z1f{}iv", "P".repeat(100_000));
        assert!(deep.len() > MAX_MANGLED);
        assert_eq!(demangle(&deep), deep);
        // Just under the length bound, so only the recursion limits stand in the way.
        let deep = format!("_Z1f{}i", "P".repeat(MAX_MANGLED - 8));
        assert_eq!(demangle(&deep), deep);
        let nested = format!("_Z1f{}i{}", "N1a".repeat(2000), "E".repeat(2000));
        assert_eq!(demangle(&nested), nested);
    }

    /// `f(std::pair<int, int>, std::pair<S0, S0>, …)` with `levels` parameters, each a pair of
    /// the one before through a substitution: the demangled text doubles with every level.
    fn doubling(levels: usize) -> String {
        let mut name = String::from("_Z1fSt4pairIiiE");
        // S_ is std::pair, S0_ the first pair<int, int>, S1_ the next, …
        for k in 0..levels {
            let r = format!("S{}_", base36(k));
            name.push_str(&format!("S_I{r}{r}E"));
        }
        name
    }

    #[test]
    fn back_references_that_expand_exponentially_are_cut_at_the_output_bound() {
        // 12 levels are valid and shallow, but 4096 ints long: the output bound, not the
        // recursion limit, is what refuses them.
        let name = doubling(12);
        let full = try_demangle(&name, usize::MAX).unwrap();
        assert!(full.len() > 4 * MAX_DEMANGLED, "{}", full.len());
        assert!(full.starts_with("f(std::pair<int, int>, std::pair<std::pair<int, int>"));
        assert_eq!(demangle(&name), name);
        // 40 levels would be about 2^40 characters: cut early, in well under a second.
        let name = doubling(40);
        let t = std::time::Instant::now();
        assert_eq!(demangle(&name), name);
        assert!(
            t.elapsed() < std::time::Duration::from_secs(2),
            "{:?}",
            t.elapsed()
        );
        // A few levels are an ordinary name.
        assert!(demangle(&doubling(3)).len() < MAX_DEMANGLED);
        assert_ne!(demangle(&doubling(3)), doubling(3));
    }

    fn base36(n: usize) -> String {
        const D: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ";
        let (mut n, mut s) = (n, Vec::new());
        loop {
            s.push(D[n % 36]);
            n /= 36;
            if n == 0 {
                break;
            }
        }
        s.reverse();
        String::from_utf8(s).unwrap()
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        #[test]
        fn any_name_gives_a_bounded_name_without_a_panic(
            tail in "[_A-Za-z0-9$.<>&\"' ]{0,200}",
            body in proptest::collection::vec(
                prop_oneof![
                    Just("N"), Just("E"), Just("I"), Just("S_"), Just("S0_"), Just("St"),
                    Just("T_"), Just("T0_"), Just("P"), Just("R"), Just("K"), Just("i"),
                    Just("v"), Just("3foo"), Just("1a"), Just("Z"), Just("L"), Just("C1"),
                    Just("D2"), Just("cl"), Just("fp_"), Just("Dp"), Just("J"), Just("sr"),
                ],
                0..60,
            ),
        ) {
            for name in [format!("_Z{}", body.concat()), format!("_Z{tail}"), tail.clone()] {
                let shown = demangle(&name);
                prop_assert!(shown.len() <= MAX_DEMANGLED.max(name.len()));
                if !name.starts_with("_Z") {
                    prop_assert_eq!(shown.as_ref(), name.as_str());
                }
            }
        }
    }
}
