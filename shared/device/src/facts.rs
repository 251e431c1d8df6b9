//! Device facts: what the driver learns from a device and compares between the start and the
//! end of a session (the build, each module's processes with their start times, core files,
//! `.gcda` counts), the parsing of the command output they come from, and the warnings their
//! differences become. Pure: no I/O; `session` runs the commands and hands the output here.

use std::collections::BTreeSet;

use crate::DeviceError;
use crate::archive::ArchiveStats;

/// What `/VERSION` says.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct BuildInfo {
    /// `Product:` (BIG-IP).
    pub product: String,
    /// `Version:` (17.1.0).
    pub version: String,
    /// `Build:` (0.0.16).
    pub build: String,
    /// `Edition:`, when present.
    pub edition: Option<String>,
    /// `JobID:`, when present.
    pub job_id: Option<String>,
    /// `<Version>-<Build>[-<JobID>]`, the key of `builds/<build-id>/` in S3; always a valid
    /// [`ccaas_domain::BuildId`].
    pub build_id: String,
}

impl BuildInfo {
    /// Parses the text of a BIG-IP `/VERSION` file.
    pub fn parse(text: &str) -> Result<BuildInfo, DeviceError> {
        let field = |key: &str| {
            text.lines().find_map(|l| {
                let (k, v) = l.split_once(':')?;
                (k.trim() == key).then(|| v.trim().to_string())
            })
        };
        let need = |key: &str| {
            field(key)
                .filter(|v| !v.is_empty())
                .ok_or_else(|| DeviceError::Protocol {
                    detail: format!("the version file has no {key} line"),
                })
        };
        let (product, version, build) = (need("Product")?, need("Version")?, need("Build")?);
        let job_id = field("JobID").filter(|v| !v.is_empty());
        let mut build_id = format!("{version}-{build}");
        if let Some(j) = &job_id {
            build_id.push('-');
            build_id.push_str(j);
        }
        // The same check as a build id given to `ccaas build publish`: the id keys
        // `builds/<build-id>/` in S3.
        if ccaas_domain::BuildId::parse(&build_id).is_err() {
            return Err(DeviceError::Protocol {
                detail: "the version file holds characters not allowed in a build id".into(),
            });
        }
        Ok(BuildInfo {
            product,
            version,
            build,
            edition: field("Edition").filter(|v| !v.is_empty()),
            job_id,
            build_id,
        })
    }
}

/// One process of a module.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
pub struct ProcStart {
    /// The pid.
    pub pid: u32,
    /// Its start time in clock ticks since boot (`/proc/<pid>/stat` field 22), so a reused pid
    /// is not mistaken for the same process.
    pub start_ticks: u64,
}

/// A module as found at the start of a session.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ModuleStart {
    /// The module (daemon) name.
    pub module: String,
    /// Its processes.
    pub pids: Vec<ProcStart>,
}

/// What `start` found and did: store it with the session, and hand it back to `end`.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SessionFacts {
    /// The device's build.
    pub build: BuildInfo,
    /// When the counters were reset (RFC 3339).
    pub started_at: String,
    /// The modules with their processes.
    pub modules: Vec<ModuleStart>,
    /// Core files present at the start (so `end` reports only new ones).
    pub cores: Vec<String>,
}

/// Something the report should mention.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Warning {
    /// `restarted`, `not_running`, `new_core`, `no_data`, `build_changed`, `flush_failed`.
    pub code: String,
    /// The module concerned, if any.
    pub module: Option<String>,
    /// A sentence for people.
    pub message: String,
}

/// A module as found at the end of a session.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ModuleEnd {
    /// The module.
    pub module: String,
    /// Its processes before the flush.
    pub pids: Vec<ProcStart>,
    /// Its processes changed since the start (a restart or a crash and respawn).
    pub restarted: bool,
    /// It has no process left.
    pub stopped: bool,
    /// `.gcda` files found after the flush.
    pub gcda_files: u64,
}

/// What `end` found, next to the archive it streamed.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct EndFacts {
    /// The device's build now.
    pub build: BuildInfo,
    /// When the counters were collected (RFC 3339).
    pub ended_at: String,
    /// Per module.
    pub modules: Vec<ModuleEnd>,
    /// Core files that appeared since the start.
    pub new_cores: Vec<String>,
    /// Restarts, crashes, new cores, modules without data.
    pub warnings: Vec<Warning>,
    /// The archive's counts.
    pub archive: ArchiveStats,
}

/// One line of the `.gcda` listing: module, number of `.gcda` files, checksum of their state.
pub(crate) type GcdaState = (String, u64, String);

/// Parses the process listing of a module: one `pid <pid> <start ticks>` line per process
/// (pid 0 and 1 refused), at most 4096; sorted, without repeats.
pub(crate) fn parse_pids(out: &[u8]) -> Result<Vec<ProcStart>, DeviceError> {
    let text = String::from_utf8_lossy(out);
    let mut v = Vec::new();
    for l in text.lines().filter(|l| !l.is_empty()) {
        let mut it = l.split(' ');
        match (
            it.next(),
            it.next().and_then(|p| p.parse::<u32>().ok()),
            it.next().and_then(|t| t.parse::<u64>().ok()),
            it.next(),
        ) {
            (Some("pid"), Some(pid), Some(start_ticks), None) if pid > 1 => {
                v.push(ProcStart { pid, start_ticks })
            }
            _ => {
                return Err(DeviceError::Protocol {
                    detail: "unexpected process listing".into(),
                });
            }
        }
        if v.len() > 4096 {
            return Err(DeviceError::Protocol {
                detail: "too many processes".into(),
            });
        }
    }
    v.sort();
    v.dedup();
    Ok(v)
}

/// Parses the core file listing: one path per line, at most 1000 paths of at most 512
/// characters each (longer ones cut), empty lines skipped.
pub(crate) fn parse_cores(out: &[u8]) -> Vec<String> {
    String::from_utf8_lossy(out)
        .lines()
        .filter(|l| !l.is_empty())
        .take(1000)
        .map(|l| l.chars().take(512).collect())
        .collect()
}

/// Parses the `.gcda` listing: exactly one `<module> <count> <checksum>` line per module of
/// `modules`.
pub(crate) fn parse_gcda_state(
    out: &[u8],
    modules: &[String],
) -> Result<Vec<GcdaState>, DeviceError> {
    let text = String::from_utf8_lossy(out);
    let mut v = Vec::new();
    for l in text.lines().filter(|l| !l.is_empty()) {
        let mut it = l.split(' ');
        match (
            it.next(),
            it.next().and_then(|n| n.parse().ok()),
            it.next(),
            it.next(),
        ) {
            (Some(m), Some(n), Some(sum), None) if modules.iter().any(|x| x == m) => {
                v.push((m.to_string(), n, sum.to_string()));
            }
            _ => {
                return Err(DeviceError::Protocol {
                    detail: "unexpected .gcda listing".into(),
                });
            }
        }
    }
    if v.len() != modules.len() {
        return Err(DeviceError::Protocol {
            detail: "incomplete .gcda listing".into(),
        });
    }
    Ok(v)
}

/// What a flush does to a daemon's counters, and the two ways to ask for it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum CounterOp {
    /// Zero the counters (a session's start): SIGUSR2, or `__gcov_reset()` through gdb.
    Reset,
    /// Write the counters to the `.gcda` files (a session's end): SIGUSR1, or `__gcov_dump()`.
    Dump,
}

impl CounterOp {
    /// The signal's name for `kill -<name>`.
    pub(crate) fn signal_name(self) -> &'static str {
        match self {
            CounterOp::Reset => "USR2",
            CounterOp::Dump => "USR1",
        }
    }

    /// The signal's number on Linux (x86-64 and arm64, as on a BIG-IP).
    pub(crate) fn signo(self) -> u32 {
        match self {
            CounterOp::Reset => 12,
            CounterOp::Dump => 10,
        }
    }

    /// The libgcov function gdb calls instead.
    pub(crate) fn gcov_function(self) -> &'static str {
        match self {
            CounterOp::Reset => "__gcov_reset",
            CounterOp::Dump => "__gcov_dump",
        }
    }
}

/// Parses the value of a `/proc/<pid>/status` `SigCgt:` line: the mask of caught signals, at
/// most 16 hex digits (64 signals); bit `signo - 1` is signal `signo`.
pub(crate) fn parse_sigcgt_mask(value: &str) -> Result<u64, DeviceError> {
    let v = value.trim();
    if v.is_empty() || v.len() > 16 || !v.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(DeviceError::Protocol {
            detail: format!(
                "SigCgt is not a signal mask: {:?}",
                v.chars().take(40).collect::<String>()
            ),
        });
    }
    u64::from_str_radix(v, 16).map_err(|_| DeviceError::Protocol {
        detail: "SigCgt is not a signal mask".into(),
    })
}

/// Whether a `SigCgt` mask says the process catches signal `signo` (1–64).
pub(crate) fn catches(mask: u64, signo: u32) -> bool {
    (1..=64).contains(&signo) && mask & (1u64 << (signo - 1)) != 0
}

/// Parses the caught-signal listing of `pids`: for each pid a `pid <pid>` line followed by its
/// `SigCgt:<tab><hex>` line. Every pid asked for must appear once, each with exactly one
/// `SigCgt` line, and no other pid; a process gone since it was listed has no `SigCgt` line,
/// which is an error too (the caller signals nothing then).
pub(crate) fn parse_signal_masks(out: &[u8], pids: &[u32]) -> Result<Vec<(u32, u64)>, DeviceError> {
    let bad = |detail: String| DeviceError::Protocol { detail };
    let text = String::from_utf8_lossy(out);
    let mut v: Vec<(u32, Option<u64>)> = Vec::new();
    for l in text.lines().filter(|l| !l.is_empty()) {
        if let Some(p) = l.strip_prefix("pid ") {
            let pid: u32 = p
                .parse()
                .map_err(|_| bad("unexpected caught-signal listing".into()))?;
            if !pids.contains(&pid) || v.iter().any(|(q, _)| *q == pid) {
                return Err(bad(format!(
                    "caught-signal listing names pid {pid} unasked or twice"
                )));
            }
            v.push((pid, None));
        } else if let Some(mask) = l.strip_prefix("SigCgt:") {
            match v.last_mut() {
                Some((_, m @ None)) => *m = Some(parse_sigcgt_mask(mask)?),
                _ => return Err(bad("a SigCgt line without its pid".into())),
            }
        } else {
            return Err(bad("unexpected caught-signal listing".into()));
        }
    }
    pids.iter()
        .map(|pid| match v.iter().find(|(q, _)| q == pid) {
            Some((_, Some(m))) => Ok((*pid, *m)),
            _ => Err(bad(format!(
                "no SigCgt line in /proc/{pid}/status (did the process exit?)"
            ))),
        })
        .collect()
}

/// The first target process (in `targets` order) whose mask lacks the signal of `op`, as the
/// `not_instrumented` error; `Ok` when every one catches it.
pub(crate) fn check_caught(
    targets: &[(String, u32)],
    masks: &[(u32, u64)],
    op: CounterOp,
) -> Result<(), DeviceError> {
    for (module, pid) in targets {
        let mask = masks
            .iter()
            .find(|(p, _)| p == pid)
            .map(|(_, m)| *m)
            .ok_or_else(|| DeviceError::Protocol {
                detail: format!("no SigCgt mask for pid {pid}"),
            })?;
        if !catches(mask, op.signo()) {
            return Err(DeviceError::NotInstrumented {
                module: module.clone(),
                pid: *pid,
                detail: format!(
                    "it does not catch SIG{} (SigCgt {mask:016x}), so the signal would kill it; build it with the coverage signal handlers, or use flush \"gdb\"",
                    op.signal_name()
                ),
            });
        }
    }
    Ok(())
}

/// Parses the answer of the "is gdb installed" probe (`gdb present` or `gdb absent`).
pub(crate) fn parse_gdb_probe(out: &[u8]) -> Result<bool, DeviceError> {
    match String::from_utf8_lossy(out).trim() {
        "gdb present" => Ok(true),
        "gdb absent" => Ok(false),
        _ => Err(DeviceError::Protocol {
            detail: "unexpected answer to the gdb probe".into(),
        }),
    }
}

/// Parses gdb's `info address <function>` on a process's executable: `Symbol "<function>" is
/// …` when it has the function, `No symbol "<function>" …` when not.
pub(crate) fn parse_gdb_symbol(out: &[u8], function: &str) -> Result<bool, DeviceError> {
    let text = String::from_utf8_lossy(out);
    let has = format!("Symbol \"{function}\" is ");
    let lacks = format!("No symbol \"{function}\" ");
    if text.lines().any(|l| l.starts_with(&has)) {
        Ok(true)
    } else if text.lines().any(|l| l.starts_with(&lacks)) {
        Ok(false)
    } else {
        Err(DeviceError::Protocol {
            detail: format!("unexpected answer of gdb looking up {function}"),
        })
    }
}

/// The value gdb prints after the gcov call (`print ((void)__gcov_dump(), 7414)`): only a
/// call that returned prints it.
pub(crate) const GDB_CALL_MARKER: u32 = 7414;

/// Whether gdb's output shows the call returned (a `$<n> = 7414` line).
pub(crate) fn gdb_call_returned(out: &[u8]) -> bool {
    let want = format!(" = {GDB_CALL_MARKER}");
    String::from_utf8_lossy(out).lines().any(|l| {
        l.strip_prefix('$')
            .and_then(|r| r.split_once(' '))
            .is_some_and(|(n, rest)| {
                !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()) && format!(" {rest}") == want
            })
    })
}

/// The `build_changed` warning, when the device's build at the end is not the one of the start.
pub(crate) fn build_changed(start: &BuildInfo, now: &BuildInfo) -> Option<Warning> {
    (now.build_id != start.build_id).then(|| Warning {
        code: "build_changed".into(),
        module: None,
        message: format!(
            "the device build changed during the session ({} -> {})",
            start.build_id, now.build_id
        ),
    })
}

/// Compares a module's processes now with those of the session's start: none left is
/// `not_running`, another set is `restarted` (a pid reused by a new process differs by its
/// start time). The `.gcda` count is filled in after the flush.
pub(crate) fn module_end(
    session: &SessionFacts,
    module: &str,
    now: Vec<ProcStart>,
) -> (ModuleEnd, Option<Warning>) {
    let before: BTreeSet<ProcStart> = session
        .modules
        .iter()
        .find(|s| s.module == module)
        .map(|s| s.pids.iter().copied().collect())
        .unwrap_or_default();
    let after: BTreeSet<ProcStart> = now.iter().copied().collect();
    let stopped = now.is_empty();
    let restarted = !stopped && before != after;
    let m = module;
    let warning = if stopped {
        Some(Warning {
            code: "not_running".into(),
            module: Some(m.to_string()),
            message: format!(
                "{m} is not running: it crashed or was stopped during the session; its coverage is partial"
            ),
        })
    } else if restarted {
        Some(Warning {
            code: "restarted".into(),
            module: Some(m.to_string()),
            message: format!("{m} restarted during the session; its coverage is partial"),
        })
    } else {
        None
    };
    let end = ModuleEnd {
        module: m.to_string(),
        pids: now,
        restarted,
        stopped,
        gcda_files: 0,
    };
    (end, warning)
}

/// The core files present now that were not at the start, each with a `new_core` warning
/// naming the first of `modules` that its file name contains.
pub(crate) fn new_cores(
    session: &SessionFacts,
    cores_now: Vec<String>,
    modules: &[String],
) -> (Vec<String>, Vec<Warning>) {
    let new_cores: Vec<String> = cores_now
        .into_iter()
        .filter(|x| !session.cores.contains(x))
        .collect();
    let warnings = new_cores
        .iter()
        .map(|core| {
            let module = modules
                .iter()
                .find(|m| {
                    core.rsplit('/')
                        .next()
                        .is_some_and(|f| f.contains(m.as_str()))
                })
                .cloned();
            Warning {
                code: "new_core".into(),
                module,
                message: format!("new core file {core}"),
            }
        })
        .collect();
    (new_cores, warnings)
}

/// The `flush_failed` warning of a module whose daemons could not be signalled.
pub(crate) fn flush_failed(module: &str) -> Warning {
    Warning {
        code: "flush_failed".into(),
        module: Some(module.to_string()),
        message: format!("could not signal {module} to dump its counters"),
    }
}

/// Records each module's `.gcda` count from the settled listing in `ends`, and returns the
/// modules with data (the ones to archive); each module without any gets a `no_data` warning.
pub(crate) fn modules_with_data(
    state: &[GcdaState],
    ends: &mut [ModuleEnd],
    warnings: &mut Vec<Warning>,
) -> Vec<String> {
    let mut with_data = Vec::new();
    for (m, n, _) in state {
        if let Some(e) = ends.iter_mut().find(|e| &e.module == m) {
            e.gcda_files = *n;
        }
        if *n > 0 {
            with_data.push(m.clone());
        } else {
            warnings.push(Warning {
                code: "no_data".into(),
                module: Some(m.clone()),
                message: format!("{m} left no .gcda file"),
            });
        }
    }
    with_data
}

#[cfg(test)]
mod tests {
    use super::*;

    const VERSION: &str = "Product: BIG-IP\nVersion: 17.1.0\nBuild: 0.0.16\nSequence: 17.1.0.0.0.16\nEdition: Final\nJobID: 1234567\n";

    #[test]
    fn the_build_id_joins_version_build_and_job() {
        let b = BuildInfo::parse(VERSION).unwrap();
        assert_eq!(b.build_id, "17.1.0-0.0.16-1234567");
        assert_eq!(b.edition.as_deref(), Some("Final"));
        let b = BuildInfo::parse("Product: BIG-IP\nVersion: 16.1.3\nBuild: 0.0.12\n").unwrap();
        assert_eq!(b.build_id, "16.1.3-0.0.12");
    }

    #[test]
    fn a_version_file_without_build_or_with_odd_characters_is_refused() {
        assert_eq!(
            BuildInfo::parse("Product: BIG-IP\nVersion: 1\n")
                .unwrap_err()
                .code(),
            "protocol"
        );
        assert!(BuildInfo::parse("Product: x\nVersion: 1/../\nBuild: 2\n").is_err());
    }

    #[test]
    fn process_listings_are_parsed_strictly() {
        assert_eq!(
            parse_pids(b"pid 12 345\npid 13 346\n").unwrap(),
            [
                ProcStart {
                    pid: 12,
                    start_ticks: 345
                },
                ProcStart {
                    pid: 13,
                    start_ticks: 346
                }
            ]
        );
        assert!(parse_pids(b"").unwrap().is_empty());
        for bad in [
            &b"pid x 1\n"[..],
            b"12 345\n",
            b"pid 12 345 extra\n",
            b"pid 1 5\n",
        ] {
            assert!(parse_pids(bad).is_err());
        }
    }

    fn session(pids: &[(u32, u64)], cores: &[&str]) -> SessionFacts {
        SessionFacts {
            build: BuildInfo::parse(VERSION).unwrap(),
            started_at: "2026-01-01T00:00:00Z".into(),
            modules: vec![ModuleStart {
                module: "tmm".into(),
                pids: pids
                    .iter()
                    .map(|&(pid, start_ticks)| ProcStart { pid, start_ticks })
                    .collect(),
            }],
            cores: cores.iter().map(|c| c.to_string()).collect(),
        }
    }

    #[test]
    fn a_module_is_restarted_when_a_pid_comes_back_with_another_start_time_and_stopped_without_pids()
     {
        let s = session(&[(12, 345)], &[]);
        let same = ProcStart {
            pid: 12,
            start_ticks: 345,
        };
        let (end, warning) = module_end(&s, "tmm", vec![same]);
        assert!(!end.restarted && !end.stopped && warning.is_none());
        let reused = ProcStart {
            pid: 12,
            start_ticks: 999,
        };
        let (end, warning) = module_end(&s, "tmm", vec![reused]);
        assert!(end.restarted && !end.stopped);
        assert_eq!(warning.unwrap().code, "restarted");
        let (end, warning) = module_end(&s, "tmm", Vec::new());
        assert!(end.stopped && !end.restarted);
        assert_eq!(warning.unwrap().code, "not_running");
    }

    #[test]
    fn only_cores_absent_at_the_start_are_new_and_each_names_its_module_by_file_name() {
        let s = session(&[(12, 345)], &["/var/core/old.tmm.core"]);
        let modules = ["mcpd".to_string(), "tmm".to_string()];
        let now = vec![
            "/var/core/old.tmm.core".to_string(),
            "/var/core/tmm.1.core".to_string(),
            "/var/tmm/other.core".to_string(),
        ];
        let (new, warnings) = new_cores(&s, now, &modules);
        assert_eq!(new, ["/var/core/tmm.1.core", "/var/tmm/other.core"]);
        let named: Vec<(&str, Option<&str>)> = warnings
            .iter()
            .map(|w| (w.code.as_str(), w.module.as_deref()))
            .collect();
        assert_eq!(named, [("new_core", Some("tmm")), ("new_core", None)]);
    }

    #[test]
    fn a_gcda_listing_must_name_every_module_once_and_only_known_ones() {
        let modules = ["tmm".to_string(), "mcpd".to_string()];
        let state = parse_gcda_state(b"tmm 3 abc\nmcpd 0 -\n", &modules).unwrap();
        assert_eq!(state[0], ("tmm".to_string(), 3, "abc".to_string()));
        for bad in [
            &b"tmm 3 abc\n"[..],
            b"tmm 3 abc\nmcpd x -\n",
            b"tmm 3 abc\nbigd 1 -\n",
            b"tmm 3 abc extra\nmcpd 0 -\n",
        ] {
            assert_eq!(
                parse_gcda_state(bad, &modules).unwrap_err().code(),
                "protocol"
            );
        }
    }

    #[test]
    fn modules_without_gcda_files_get_a_warning_and_are_not_archived() {
        let s = session(&[(12, 345)], &[]);
        let (tmm, _) = module_end(&s, "tmm", Vec::new());
        let (mcpd, _) = module_end(&s, "mcpd", Vec::new());
        let mut ends = vec![tmm, mcpd];
        let mut warnings = Vec::new();
        let state = [
            ("tmm".to_string(), 3, "a".to_string()),
            ("mcpd".to_string(), 0, "-".to_string()),
        ];
        assert_eq!(modules_with_data(&state, &mut ends, &mut warnings), ["tmm"]);
        assert_eq!((ends[0].gcda_files, ends[1].gcda_files), (3, 0));
        assert_eq!(warnings.len(), 1);
        assert_eq!(
            (warnings[0].code.as_str(), warnings[0].module.as_deref()),
            ("no_data", Some("mcpd"))
        );
    }

    #[test]
    fn a_build_change_between_start_and_end_is_a_warning() {
        let start = BuildInfo::parse(VERSION).unwrap();
        assert!(build_changed(&start, &start).is_none());
        let now = BuildInfo::parse("Product: BIG-IP\nVersion: 17.1.1\nBuild: 0.0.2\n").unwrap();
        assert_eq!(build_changed(&start, &now).unwrap().code, "build_changed");
    }

    #[test]
    fn sigcgt_masks_parse_as_hex_and_bad_ones_are_protocol_errors() {
        let table: [(&str, Option<u64>); 9] = [
            ("0000000100004a00", Some(0x1_0000_4a00)),
            ("\t0000000000004000\n", Some(0x4000)),
            ("0", Some(0)),
            ("ffffffffffffffff", Some(u64::MAX)),
            ("", None),
            ("   ", None),
            ("0x4a00", None),
            ("00000001000000004a00", None),
            ("00004a0g", None),
        ];
        for (value, want) in table {
            match (parse_sigcgt_mask(value), want) {
                (Ok(m), Some(w)) => assert_eq!(m, w, "{value:?}"),
                (Err(e), None) => assert_eq!(e.code(), "protocol", "{value:?}"),
                (got, want) => panic!("{value:?}: got {got:?}, want {want:?}"),
            }
        }
    }

    #[test]
    fn a_signal_is_caught_when_its_bit_signo_minus_one_is_set() {
        // tmm in the simulator: USR1 (10), USR2 (12), TERM (15) and glibc's 33.
        let tmm = 0x1_0000_4a00;
        assert!(catches(tmm, 10) && catches(tmm, 12) && catches(tmm, 15) && catches(tmm, 33));
        assert!(!catches(tmm, 11) && !catches(tmm, 1) && !catches(tmm, 9));
        // A plain daemon catches TERM only.
        assert!(!catches(0x4000, CounterOp::Reset.signo()));
        assert!(!catches(0x4000, CounterOp::Dump.signo()));
        assert!(catches(u64::MAX, 64) && !catches(u64::MAX, 0) && !catches(u64::MAX, 65));
    }

    #[test]
    fn caught_signal_listings_need_one_mask_per_pid_asked_for() {
        let ok = b"pid 12\nSigCgt:\t0000000000004a00\npid 13\nSigCgt:\t0000000000004000\n";
        assert_eq!(
            parse_signal_masks(ok, &[13, 12]).unwrap(),
            [(13, 0x4000), (12, 0x4a00)]
        );
        let table: [(&[u8], &str); 8] = [
            (
                b"pid 12\nSigCgt:\t4a00\n",
                "no SigCgt line in /proc/13/status",
            ),
            (
                b"pid 12\npid 13\nSigCgt:\t4a00\n",
                "no SigCgt line in /proc/12/status",
            ),
            (b"SigCgt:\t4a00\npid 12\n", "without its pid"),
            (b"pid 12\nSigCgt:\t4a00\nSigCgt:\t4a00\n", "without its pid"),
            (
                b"pid 12\nSigCgt:\tzz\npid 13\nSigCgt:\t0\n",
                "not a signal mask",
            ),
            (
                b"pid 12\nSigCgt:\t1\npid 12\nSigCgt:\t1\n",
                "unasked or twice",
            ),
            (b"pid 99\nSigCgt:\t1\n", "unasked or twice"),
            (b"pid 12\nSigBlk:\t0\n", "unexpected"),
        ];
        for (out, want) in table {
            let e = parse_signal_masks(out, &[12, 13]).unwrap_err();
            assert_eq!(e.code(), "protocol");
            assert!(e.to_string().contains(want), "{e} / {want}");
        }
    }

    #[test]
    fn the_first_process_that_does_not_catch_the_signal_is_named_as_not_instrumented() {
        let targets = [
            ("tmm".to_string(), 12),
            ("bigd".to_string(), 30),
            ("sshd".to_string(), 40),
        ];
        let masks = [(12, 0x4a00), (30, 0x4000), (40, 0)];
        let e = check_caught(&targets, &masks, CounterOp::Reset).unwrap_err();
        assert_eq!(e.code(), "not_instrumented");
        match e {
            DeviceError::NotInstrumented {
                module,
                pid,
                detail,
            } => {
                assert_eq!((module.as_str(), pid), ("bigd", 30));
                assert!(detail.contains("SIGUSR2"), "{detail}");
            }
            other => panic!("{other:?}"),
        }
        check_caught(&targets[..1], &masks, CounterOp::Dump).unwrap();
        // A USR1-only catcher survives a dump but not a reset.
        let only_usr1 = [(12, 1u64 << 9)];
        check_caught(&targets[..1], &only_usr1, CounterOp::Dump).unwrap();
        assert!(check_caught(&targets[..1], &only_usr1, CounterOp::Reset).is_err());
        assert_eq!(
            check_caught(&targets[..1], &[], CounterOp::Dump)
                .unwrap_err()
                .code(),
            "protocol"
        );
    }

    #[test]
    fn gdb_answers_are_read_strictly() {
        assert!(parse_gdb_probe(b"gdb present\n").unwrap());
        assert!(!parse_gdb_probe(b"gdb absent\n").unwrap());
        assert!(parse_gdb_probe(b"").is_err());
        let has = b"Symbol \"__gcov_dump\" is at 0x2f30 in a file compiled without debugging.\n";
        assert!(parse_gdb_symbol(has, "__gcov_dump").unwrap());
        assert!(parse_gdb_symbol(has, "__gcov_reset").is_err());
        let lacks = b"No symbol \"__gcov_reset\" in current context.\n";
        assert!(!parse_gdb_symbol(lacks, "__gcov_reset").unwrap());
        assert!(parse_gdb_symbol(b"ptrace: Operation not permitted.\n", "__gcov_reset").is_err());
        assert!(gdb_call_returned(
            b"[New LWP 3]\n$1 = 7414\n[Inferior 1 (process 3) detached]\n"
        ));
        for out in [
            &b"No symbol \"__gcov_dump\" in current context.\n"[..],
            b"$1 = 74140\n",
            b"echo $1 = 7414\n",
            b"",
        ] {
            assert!(!gdb_call_returned(out), "{}", String::from_utf8_lossy(out));
        }
    }

    #[test]
    fn core_listings_are_capped_in_count_and_length() {
        let long = format!("{}\n\n", "c".repeat(600)).repeat(1200);
        let cores = parse_cores(long.as_bytes());
        assert_eq!(cores.len(), 1000);
        assert!(cores.iter().all(|c| c.chars().count() == 512));
    }
}
