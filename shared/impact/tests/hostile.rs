//! Property tests: indexes round-trip and are deterministic; hostile index bytes and hostile
//! diffs never panic and never allocate past what they hold.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, BTreeSet};

use ccaas_impact::index::{Header, read_all};
use ccaas_impact::{IndexBuilder, IndexMeta, parse_diff};
use proptest::prelude::*;

fn files() -> impl Strategy<Value = BTreeMap<String, (BTreeSet<u32>, BTreeSet<u32>)>> {
    prop::collection::btree_map(
        "(/[a-z]{1,3}){0,3}/[a-z]{1,4}\\.c",
        (
            prop::collection::btree_set(1u32..200_000, 0..50),
            prop::collection::btree_set(1u32..200_000, 0..50),
        ),
        0..40,
    )
}

fn build(f: &BTreeMap<String, (BTreeSet<u32>, BTreeSet<u32>)>, reverse: bool) -> Vec<u8> {
    let mut b = IndexBuilder::new(IndexMeta {
        session: "s".into(),
        task: "t".into(),
        ended_ms: 7,
        ..IndexMeta::default()
    });
    let mut items: Vec<_> = f.iter().collect();
    if reverse {
        items.reverse();
    }
    for (p, (ins, exe)) in items {
        b.file(p, ins.iter().rev().copied(), exe.iter().copied());
    }
    b.finish().unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn an_index_round_trips_and_its_bytes_do_not_depend_on_insertion_order(f in files()) {
        let bytes = build(&f, false);
        prop_assert_eq!(&bytes, &build(&f, true));
        let (h, entries) = read_all(&bytes).unwrap();
        prop_assert_eq!(h.file_count as usize, f.len());
        for e in entries {
            let (ins, exe) = &f[&e.path];
            let want_exe: Vec<u32> = exe.iter().copied().collect();
            let want_ins: BTreeSet<u32> = ins.union(exe).copied().collect();
            prop_assert_eq!(e.executed.iter().collect::<Vec<_>>(), want_exe);
            prop_assert_eq!(e.instrumented.iter().collect::<BTreeSet<_>>(), want_ins);
        }
    }

    #[test]
    fn flipped_or_cut_index_bytes_are_refused_or_read_but_never_panic(
        f in files(),
        flips in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8),
        cut in any::<prop::sample::Index>(),
    ) {
        let mut bytes = build(&f, false);
        for (at, v) in flips {
            let i = at.index(bytes.len());
            bytes[i] = v;
        }
        let _ = read_all(&bytes);
        let _ = read_all(&bytes[..cut.index(bytes.len())]);
        if let Ok(h) = Header::parse(&bytes) {
            for b in 0..h.buckets().min(64) {
                let (s, len) = h.bucket_range(b);
                if let Some(slice) = bytes.get(s as usize..(s + len) as usize) {
                    let _ = h.parse_bucket(b, slice);
                }
            }
        }
    }

    #[test]
    fn random_bytes_after_a_valid_start_never_panic(tail in prop::collection::vec(any::<u8>(), 0..2000)) {
        let mut bytes = b"CCAASIDX\x01\x00\x00\x00".to_vec();
        bytes.extend_from_slice(&tail);
        let _ = read_all(&bytes);
    }

    #[test]
    fn any_text_parses_as_a_diff_or_is_refused_without_panic(text in "(?s)[-+ @\\\\a-c0-9,\\n/]{0,400}") {
        let _ = parse_diff(&text);
    }

    #[test]
    fn diff_like_text_never_panics(lines in prop::collection::vec(prop_oneof![
        Just("--- a/x.c".to_string()),
        Just("+++ b/x.c".to_string()),
        Just("+++ /dev/null".to_string()),
        Just("diff --git a/x.c b/x.c".to_string()),
        "@@ -[0-9]{1,10}(,[0-9]{1,10})? \\+[0-9]{1,10}(,[0-9]{1,10})? @@",
        "[-+ ][a-z]{0,3}",
        Just("\\ No newline at end of file".to_string()),
        Just(String::new()),
    ], 0..60)) {
        let text = lines.join("\n");
        if let Ok(d) = parse_diff(&text) {
            prop_assert!(d.files.iter().all(|f| !f.lines.is_empty()));
        }
    }
}

#[test]
fn a_header_claiming_a_huge_table_is_refused_before_allocating_it() {
    let mut bytes = b"CCAASIDX\x01\x00\x00\x00".to_vec();
    bytes.extend_from_slice(&u32::MAX.to_le_bytes()); // header length
    bytes.extend_from_slice(&u32::MAX.to_le_bytes()); // files
    bytes.extend_from_slice(&(1u32 << 31).to_le_bytes()); // buckets
    assert!(Header::parse(&bytes).is_err());
}
