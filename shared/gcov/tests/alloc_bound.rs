//! Allocation bound: whatever the bytes, building a report never allocates more than a fixed
//! multiple of the input size (plus a small constant). Measured with a counting allocator
//! around `build`, on real files, on hostile synthetic files and on mutated real files.

// Test code: clippy.toml's allow-unwrap-in-tests and allow-expect-in-tests cover #[test]
// functions but not the helpers beside them in an integration test (rust-clippy#11119).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use ccaas_gcov::{Input, Options, build};
use common::synth::{self, Func};

struct Counting;

static CURRENT: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

// SAFETY: a global allocator must be an `unsafe impl`. Counting forwards every call to the
// system allocator with the caller's own layout and pointer, so it keeps System's contract; it
// only adds atomic counters.
#[allow(unsafe_code)]
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        // SAFETY: the caller's layout, passed on unchanged (GlobalAlloc::alloc's contract).
        let p = unsafe { System.alloc(l) };
        if !p.is_null() {
            let now = CURRENT.fetch_add(l.size(), Ordering::Relaxed) + l.size();
            PEAK.fetch_max(now, Ordering::Relaxed);
        }
        p
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        // SAFETY: `p` came from `alloc` above with layout `l`, i.e. from System.
        unsafe { System.dealloc(p, l) };
        CURRENT.fetch_sub(l.size(), Ordering::Relaxed);
    }
}

#[global_allocator]
static A: Counting = Counting;

/// Only one measurement at a time (tests in this binary run on several threads).
static LOCK: Mutex<()> = Mutex::new(());

/// Peak bytes allocated (above what was live before) while building a report of one unit.
fn peak_for(notes: &[u8], data: &[u8]) -> usize {
    let _g = LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let d = [("x.gcda", data)];
    let inputs = [Input {
        notes_name: "x.gcno",
        notes,
        data: &d,
    }];
    // Warm up rayon's pool so that its one-time allocations are not counted.
    let _ = build(&[], &Options::default());
    let before = CURRENT.load(Ordering::Relaxed);
    PEAK.store(before, Ordering::Relaxed);
    let r = build(&inputs, &Options::default());
    let peak = PEAK.load(Ordering::Relaxed) - before;
    drop(r);
    peak
}

const FACTOR: usize = 32;
const SLACK: usize = 64 << 10;

fn assert_bounded(notes: &[u8], data: &[u8], what: &str) {
    let p = peak_for(notes, data);
    let bound = FACTOR * (notes.len() + data.len()) + SLACK;
    assert!(
        p <= bound,
        "{what}: peak {p} bytes > bound {bound} for {} input bytes",
        notes.len() + data.len()
    );
}

const NOTES: &[u8] = include_bytes!("data/gcc12/tricky.gcno");
const DATA: &[u8] = include_bytes!("data/gcc12/tricky.gcda");

#[test]
fn real_files_stay_within_the_allocation_bound() {
    assert_bounded(NOTES, DATA, "tricky");
}

#[test]
fn hostile_counts_and_lengths_stay_within_the_allocation_bound() {
    // Huge block count.
    let f = Func {
        ident: 1,
        name: "f",
        file: "/x.c",
        line: 1,
        blocks: 0x4000_0000,
        arcs: vec![],
        lines: vec![],
    };
    assert_bounded(&synth::notes(&[f]), &[], "huge block count");
    // Many functions each claiming many blocks.
    let fs: Vec<Func<'_>> = (0..200)
        .map(|i| Func {
            ident: i,
            name: "g",
            file: "/x.c",
            line: 1,
            blocks: 2000,
            arcs: vec![],
            lines: vec![],
        })
        .collect();
    assert_bounded(&synth::notes(&fs), &[], "many functions with many blocks");
    // Huge line numbers (a dense per-line table would explode).
    let f = Func {
        ident: 2,
        name: "h",
        file: "/x.c",
        line: 0xffff_0000,
        blocks: 3,
        arcs: vec![(0, 2, 0), (2, 1, 1)],
        lines: vec![(2, vec![1, 0xffff_fffe, 0x7fff_ffff])],
    };
    let data = synth::data(&[(2, vec![5])]);
    assert_bounded(&synth::notes(&[f]), &data, "huge line numbers");
    // A negative (all-zero) counter record claiming 2 GiB of counters.
    let mut d = synth::W::default();
    d.u32(0x6763_6461)
        .u32(synth::VERSION_B22)
        .u32(synth::STAMP)
        .u32(0);
    d.u32(0x0100_0000).u32(12).u32(2).u32(1).u32(2);
    d.u32(0x01a1_0000).u32(0x8000_0008);
    let f = Func {
        ident: 2,
        name: "h",
        file: "/x.c",
        line: 1,
        blocks: 3,
        arcs: vec![(0, 2, 0), (2, 1, 1)],
        lines: vec![(2, vec![1])],
    };
    assert_bounded(&synth::notes(&[f]), &d.0, "negative counter length");
}

#[test]
fn mutated_real_files_stay_within_the_allocation_bound() {
    // Deterministic pseudo-random mutations (xorshift), words set to hostile values.
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let hostile = [
        0xffff_ffffu32,
        0x8000_0000,
        0x7fff_ffff,
        0x0100_0000,
        0x4000_0000,
    ];
    for _ in 0..400 {
        let mut n = NOTES.to_vec();
        let mut d = DATA.to_vec();
        for _ in 0..3 {
            let target = if next() % 2 == 0 { &mut n } else { &mut d };
            let i = (next() as usize % (target.len() / 4)) * 4;
            let w = hostile[next() as usize % hostile.len()];
            target[i..i + 4].copy_from_slice(&w.to_le_bytes());
        }
        assert_bounded(&n, &d, "mutated");
    }
}
