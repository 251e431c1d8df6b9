//! `cargo run --example dump -- FILE.gcno [FILE.gcda] [FUNCTION]`: prints the parsed notes (and
//! counters) like gcov-dump, optionally for one function only. A debugging aid.

#![allow(
    clippy::expect_used,
    reason = "a debugging aid run by hand: a bad path or file should stop it loudly"
)]

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(notes_path) = args.first() else {
        eprintln!("usage: dump FILE.gcno [FILE.gcda] [FUNCTION]");
        std::process::exit(2);
    };
    let bytes = std::fs::read(notes_path).expect("read notes");
    let notes = ccaas_gcov::gcno::parse(notes_path, &bytes).expect("parse notes");
    let data = args.get(1).filter(|p| p.ends_with(".gcda")).map(|p| {
        let b = std::fs::read(p).expect("read data");
        ccaas_gcov::gcda::parse(p, &b).expect("parse data")
    });
    let only = args.iter().skip(1).find(|a| !a.ends_with(".gcda"));
    println!(
        "version {} stamp {:#x} checksum {:?} cwd {:?} llvm {}",
        notes.version.text(),
        notes.stamp,
        notes.checksum,
        notes.cwd,
        ccaas_gcov::solve::is_llvm(&notes)
    );
    for f in &notes.functions {
        if only.is_some_and(|o| *o != f.name) {
            continue;
        }
        println!(
            "function {} ident {} src {} lines {}..{} blocks {} counters {} artificial {}",
            f.name,
            f.ident,
            notes.sources[f.source as usize],
            f.start_line,
            f.end_line,
            f.blocks,
            f.counters,
            f.artificial
        );
        for a in &f.arcs {
            println!("  arc {} -> {} flags {}", a.src, a.dst, a.flags);
        }
        for l in &f.locations {
            println!(
                "  block {} {}: {:?}",
                l.block,
                notes.sources[l.source as usize],
                f.location_lines(l)
            );
        }
        if let Some(d) = &data {
            for df in d.functions.iter().filter(|df| df.ident == f.ident) {
                if let ccaas_gcov::gcda::Counters::Stored { start, len } = df.arcs {
                    println!(
                        "  counters {:?}",
                        &d.counters[start as usize..(start + len) as usize]
                    );
                } else {
                    println!("  counters {:?}", df.arcs);
                }
            }
        }
    }
}
