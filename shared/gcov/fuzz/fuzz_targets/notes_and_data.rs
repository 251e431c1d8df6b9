//! Fuzzes the whole engine: the input is split into a notes file and a data file (the first
//! two bytes give the split point), both are parsed, solved, merged and written in every
//! format. Any panic is a bug; errors are fine.
#![no_main]

use ccaas_gcov::{Input, Options};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: &[u8]| {
    if input.len() < 2 {
        return;
    }
    let split = (usize::from(input[0]) << 8 | usize::from(input[1])).min(input.len() - 2);
    let (notes, data) = input[2..].split_at(split);
    let _ = ccaas_gcov::gcno::parse("fuzz.gcno", notes);
    let _ = ccaas_gcov::gcda::parse("fuzz.gcda", data);
    let d = [("fuzz.gcda", data)];
    let inputs = [Input { notes_name: "fuzz.gcno", notes, data: &d }];
    if let Ok((cov, _)) = ccaas_gcov::build(&inputs, &Options::default()) {
        let _ = ccaas_gcov::lcov::write(&cov, "", std::io::sink());
        let _ = ccaas_gcov::cobertura::write(&cov, 0, std::io::sink());
        let _ = ccaas_gcov::summary::write(&cov, std::io::sink());
        let _ = ccaas_gcov::badge::write(&cov, std::io::sink());
    }
});
