//! Writes small synthetic GCC 12 notes/data files, for hostile-input tests.
#![allow(dead_code)]

pub const VERSION_B22: u32 = u32::from_be_bytes(*b"B22*");
pub const STAMP: u32 = 0x1234_5678;

#[derive(Default)]
pub struct W(pub Vec<u8>);

impl W {
    pub fn u32(&mut self, v: u32) -> &mut Self {
        self.0.extend_from_slice(&v.to_le_bytes());
        self
    }
    pub fn u64(&mut self, v: u64) -> &mut Self {
        self.u32(v as u32).u32((v >> 32) as u32)
    }
    /// GCC 12 string: byte length including the NUL, no padding.
    pub fn str(&mut self, s: &str) -> &mut Self {
        self.u32(s.len() as u32 + 1);
        self.0.extend_from_slice(s.as_bytes());
        self.0.push(0);
        self
    }
    pub fn record(&mut self, tag: u32, body: &W) -> &mut Self {
        self.u32(tag).u32(body.0.len() as u32);
        self.0.extend_from_slice(&body.0);
        self
    }
}

pub struct Func<'a> {
    pub ident: u32,
    pub name: &'a str,
    pub file: &'a str,
    pub line: u32,
    pub blocks: u32,
    /// (src, dst, flags)
    pub arcs: Vec<(u32, u32, u32)>,
    /// (block, lines)
    pub lines: Vec<(u32, Vec<u32>)>,
}

pub fn notes(funcs: &[Func<'_>]) -> Vec<u8> {
    let mut w = W::default();
    w.u32(0x6763_6e6f)
        .u32(VERSION_B22)
        .u32(STAMP)
        .u32(0)
        .str("/tmp")
        .u32(1);
    for f in funcs {
        let mut b = W::default();
        b.u32(f.ident)
            .u32(1)
            .u32(2)
            .str(f.name)
            .u32(0)
            .str(f.file)
            .u32(f.line)
            .u32(1)
            .u32(f.line + 10)
            .u32(1);
        w.record(0x0100_0000, &b);
        let mut b = W::default();
        b.u32(f.blocks);
        w.record(0x0141_0000, &b);
        let mut srcs: Vec<u32> = f.arcs.iter().map(|a| a.0).collect();
        srcs.dedup();
        for s in srcs {
            let mut b = W::default();
            b.u32(s);
            for a in f.arcs.iter().filter(|a| a.0 == s) {
                b.u32(a.1).u32(a.2);
            }
            w.record(0x0143_0000, &b);
        }
        for (blk, lines) in &f.lines {
            let mut b = W::default();
            b.u32(*blk).u32(0).str(f.file);
            for l in lines {
                b.u32(*l);
            }
            b.u32(0).u32(0);
            w.record(0x0145_0000, &b);
        }
    }
    w.0
}

/// Data with one arc counter record per function: (ident, counters).
pub fn data(funcs: &[(u32, Vec<u64>)]) -> Vec<u8> {
    let mut w = W::default();
    w.u32(0x6763_6461).u32(VERSION_B22).u32(STAMP).u32(0);
    for (ident, counts) in funcs {
        let mut b = W::default();
        b.u32(*ident).u32(1).u32(2);
        w.record(0x0100_0000, &b);
        let mut b = W::default();
        for c in counts {
            b.u64(*c);
        }
        w.record(0x01a1_0000, &b);
    }
    w.0
}
