//! Device profiles: where a device keeps its version file, coverage data and cores, and the
//! fixed command templates built from them.
//!
//! Every command the driver runs comes from a function in this module. The only variable
//! parts are validated module names, profile paths checked by [`crate::names::is_safe_path`]
//! (and single-quoted), and numeric pids parsed from the device's own output.

use crate::DeviceError;
use crate::facts::{CounterOp, GDB_CALL_MARKER};
use crate::names::{checked_module, is_safe_path, sh_quote};

/// Which processes of a module's name count as the module.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PidScope {
    /// Every process of that name (a real BIG-IP, where one login owns the box).
    All,
    /// Only processes owned by the login user (the simulator, where several simulated
    /// devices share one machine).
    LoginUser,
}

/// Where a device keeps things. `{module}` in `gcov_dir_template` is replaced by the module
/// name, and the template must end in `/{module}`.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct DeviceProfile {
    /// The BIG-IP version file (`/VERSION`).
    pub version_file: String,
    /// The GCOV_PREFIX of each daemon (`/shared/gcov/{module}` on a BIG-IP).
    pub gcov_dir_template: String,
    /// Directories where core files appear (`/var/core`, `/shared/core`).
    pub core_dirs: Vec<String>,
    /// Which processes count as the module.
    pub pid_scope: PidScope,
}

impl DeviceProfile {
    /// The profile of a real BIG-IP.
    pub fn bigip() -> Self {
        DeviceProfile {
            version_file: "/VERSION".into(),
            gcov_dir_template: "/shared/gcov/{module}".into(),
            core_dirs: vec!["/var/core".into(), "/shared/core".into()],
            pid_scope: PidScope::All,
        }
    }

    /// The profile of the simulator whose sim root is `root` (the `root` field of
    /// `localstack/bigip-sim/up`'s output): the same layout as a BIG-IP, under `root`.
    pub fn simulator(root: &str) -> Self {
        let root = root.trim_end_matches('/');
        DeviceProfile {
            version_file: format!("{root}/VERSION"),
            gcov_dir_template: format!("{root}/shared/gcov/{{module}}"),
            core_dirs: vec![format!("{root}/var/core")],
            pid_scope: PidScope::LoginUser,
        }
    }

    /// Checks every path of the profile. Errors with [`DeviceError::Config`].
    pub fn validate(&self) -> Result<(), DeviceError> {
        let bad = |what: &str, p: &str| DeviceError::Config {
            detail: format!("profile {what} {p:?} is not a plain absolute path"),
        };
        if !is_safe_path(&self.version_file) {
            return Err(bad("version_file", &self.version_file));
        }
        let Some(parent) = self.gcov_dir_template.strip_suffix("/{module}") else {
            return Err(DeviceError::Config {
                detail: "profile gcov_dir_template must end in /{module}".into(),
            });
        };
        if !is_safe_path(parent) {
            return Err(bad("gcov_dir_template", &self.gcov_dir_template));
        }
        if self.core_dirs.len() > 16 {
            return Err(DeviceError::Config {
                detail: "at most 16 core_dirs".into(),
            });
        }
        for d in &self.core_dirs {
            if !is_safe_path(d) {
                return Err(bad("core_dir", d));
            }
        }
        Ok(())
    }

    /// The directory that holds a module's GCOV_PREFIX dir.
    pub fn gcov_parent(&self) -> &str {
        self.gcov_dir_template
            .strip_suffix("/{module}")
            .unwrap_or("/nonexistent")
    }

    /// A module's GCOV_PREFIX dir.
    pub fn gcov_dir(&self, module: &str) -> String {
        format!("{}/{module}", self.gcov_parent())
    }
}

/// The commands, each built from a fixed template.
pub(crate) struct Commands<'a> {
    pub profile: &'a DeviceProfile,
}

fn module_checked(m: &str) -> Result<&str, DeviceError> {
    checked_module(m).map(|_| m)
}

impl Commands<'_> {
    /// `cat` of the version file.
    pub fn version(&self) -> String {
        format!("cat -- {}", sh_quote(&self.profile.version_file))
    }

    /// Lists the module's processes as `pid <pid> <starttime-ticks>` lines.
    pub fn pids(&self, module: &str) -> Result<String, DeviceError> {
        let m = module_checked(module)?;
        let owner = match self.profile.pid_scope {
            PidScope::All => "",
            PidScope::LoginUser => "[ -O \"/proc/$p\" ] || continue; ",
        };
        Ok(format!(
            "for p in $(pidof -- {m}); do {owner}s=$(sed 's/^.*) //' \"/proc/$p/stat\" 2>/dev/null | cut -d' ' -f20) && echo \"pid $p $s\"; done; true"
        ))
    }

    /// Sends the signal of `op` (`USR2` resets, `USR1` dumps) to the given pids.
    pub fn signal(&self, op: CounterOp, pids: &[u32]) -> String {
        let list: Vec<String> = pids.iter().map(u32::to_string).collect();
        format!("kill -{} -- {}", op.signal_name(), list.join(" "))
    }

    /// Lists, per pid, a `pid <pid>` line and the `SigCgt:` line of its `/proc/<pid>/status`
    /// (absent when the process is gone). Reads only.
    pub fn signal_masks(&self, pids: &[u32]) -> String {
        let list: Vec<String> = pids.iter().map(u32::to_string).collect();
        format!(
            "for p in {}; do echo \"pid $p\"; grep '^SigCgt:' \"/proc/$p/status\" 2>/dev/null; done; true",
            list.join(" ")
        )
    }

    /// Answers `gdb present` or `gdb absent`.
    pub fn gdb_probe(&self) -> String {
        "if command -v gdb >/dev/null 2>&1; then echo 'gdb present'; else echo 'gdb absent'; fi"
            .into()
    }

    /// Asks gdb whether the executable of `pid` has the gcov function of `op`. Reads the
    /// file only: no attach, the process is not touched.
    pub fn gdb_symbol(&self, op: CounterOp, pid: u32) -> String {
        format!(
            "gdb -batch -nx -q /proc/{pid}/exe -ex 'info address {}' 2>&1; true",
            op.gcov_function()
        )
    }

    /// Attaches gdb to `pid` (its symbols read from the executable first, so the process is
    /// stopped only for the attach, the call and the detach), calls the gcov function of `op`
    /// and detaches. The call prints the marker only if it returned; `unwindonsignal` makes a
    /// signal during the call unwind it rather than leave the process inside it.
    pub fn gdb_call(&self, op: CounterOp, pid: u32) -> String {
        format!(
            "gdb -batch -nx -q -ex 'set confirm off' -ex 'set unwindonsignal on' /proc/{pid}/exe -ex 'attach {pid}' -ex 'print ((void){}(), {GDB_CALL_MARKER})' -ex detach 2>&1; true",
            op.gcov_function()
        )
    }

    /// Deletes the module's old `.gcda` files.
    pub fn delete_gcda(&self, module: &str) -> Result<String, DeviceError> {
        let d = sh_quote(&self.profile.gcov_dir(module_checked(module)?));
        Ok(format!(
            "if [ -d {d} ]; then find {d} -type f -name '*.gcda' -delete; fi"
        ))
    }

    /// `bigstart restart <module>`.
    pub fn restart(&self, module: &str) -> Result<String, DeviceError> {
        Ok(format!("bigstart restart {}", module_checked(module)?))
    }

    /// Lists the core files as `<mtime> <size> <path>` lines.
    pub fn cores(&self) -> String {
        let dirs: Vec<String> = self.profile.core_dirs.iter().map(|d| sh_quote(d)).collect();
        if dirs.is_empty() {
            return "true".into();
        }
        format!(
            "for d in {}; do [ -d \"$d\" ] && find \"$d\" -maxdepth 1 -type f -printf '%p\\n'; done; true",
            dirs.join(" ")
        )
    }

    /// Per module, `<module> <count of .gcda> <checksum of (size, mtime, path) listing>`.
    pub fn gcda_state(&self, modules: &[String]) -> Result<String, DeviceError> {
        let mut parts = Vec::new();
        for m in modules {
            let d = sh_quote(&self.profile.gcov_dir(module_checked(m)?));
            parts.push(format!(
                "if [ -d {d} ]; then l=$(find {d} -type f -name '*.gcda' -printf '%s %T@ %p\\n' | LC_ALL=C sort); n=$(printf '%s' \"$l\" | grep -c .); c=$(printf '%s' \"$l\" | cksum | cut -d' ' -f1); else n=0; c=0; fi; echo \"{m} $n $c\""
            ));
        }
        Ok(parts.join("; "))
    }

    /// Streams a gzipped tar of the given module dirs to stdout. Entries are `<module>/...`.
    pub fn tar(&self, modules: &[String]) -> Result<String, DeviceError> {
        let parent = sh_quote(self.profile.gcov_parent());
        let mut cmd = format!("tar -czf - -C {parent}");
        for m in modules {
            cmd.push(' ');
            cmd.push_str(module_checked(m)?);
        }
        Ok(cmd)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_builtin_profiles_are_valid() {
        DeviceProfile::bigip().validate().unwrap();
        DeviceProfile::simulator("/tmp/bigip-sim-2222")
            .validate()
            .unwrap();
        assert_eq!(
            DeviceProfile::simulator("/tmp/s/").gcov_dir("tmm"),
            "/tmp/s/shared/gcov/tmm"
        );
    }

    #[test]
    fn a_profile_with_an_unsafe_path_is_rejected() {
        let mut p = DeviceProfile::bigip();
        p.gcov_dir_template = "/shared/$(id)/{module}".into();
        assert!(p.validate().is_err());
        let mut p = DeviceProfile::bigip();
        p.gcov_dir_template = "/shared/gcov".into();
        assert!(p.validate().is_err());
        let mut p = DeviceProfile::bigip();
        p.core_dirs.push("/var/../etc".into());
        assert!(p.validate().is_err());
    }

    #[test]
    fn commands_refuse_an_invalid_module_and_embed_a_valid_one_verbatim() {
        let p = DeviceProfile::bigip();
        let c = Commands { profile: &p };
        assert!(c.pids("tmm;touch /tmp/x").is_err());
        assert!(c.restart("$(id)").is_err());
        assert!(c.tar(&["a b".into()]).is_err());
        assert_eq!(c.restart("tmm").unwrap(), "bigstart restart tmm");
        assert_eq!(
            c.tar(&["tmm".into(), "mcpd".into()]).unwrap(),
            "tar -czf - -C '/shared/gcov' tmm mcpd"
        );
        assert_eq!(c.signal(CounterOp::Dump, &[1, 22]), "kill -USR1 -- 1 22");
        assert_eq!(c.signal(CounterOp::Reset, &[7]), "kill -USR2 -- 7");
        assert_eq!(
            c.signal_masks(&[7, 8]),
            "for p in 7 8; do echo \"pid $p\"; grep '^SigCgt:' \"/proc/$p/status\" 2>/dev/null; done; true"
        );
        assert_eq!(
            c.gdb_call(CounterOp::Dump, 7),
            "gdb -batch -nx -q -ex 'set confirm off' -ex 'set unwindonsignal on' /proc/7/exe -ex 'attach 7' -ex 'print ((void)__gcov_dump(), 7414)' -ex detach 2>&1; true"
        );
        assert!(
            c.gdb_symbol(CounterOp::Reset, 7)
                .contains("info address __gcov_reset")
        );
    }

    /// docs/device.md, "On a real BIG-IP", lists every command of the BIG-IP profile verbatim,
    /// with `<module>` and `<pid>` for the names and numbers (`<pid> …` for a list): each must
    /// begin a line of that section.
    #[test]
    fn the_bigip_commands_are_listed_verbatim_in_the_device_doc() {
        let doc = include_str!("../../../docs/device.md");
        let section = doc
            .split_once("## On a real BIG-IP\n")
            .and_then(|(_, rest)| rest.split_once("\n## "))
            .map(|(section, _)| section)
            .expect("docs/device.md has a section \"On a real BIG-IP\"");
        let p = DeviceProfile::bigip();
        let c = Commands { profile: &p };
        let module = |cmd: String| cmd.replace("tmm", "<module>");
        let pid = |cmd: String| cmd.replace("4242", "<pid>");
        let pids = |cmd: String| cmd.replace("4242", "<pid> \u{2026}");
        let tmm = || vec!["tmm".to_string()];
        let mut commands = vec![
            c.version(),
            c.cores(),
            module(c.pids("tmm").unwrap()),
            pids(c.signal_masks(&[4242])),
            c.gdb_probe(),
            module(c.delete_gcda("tmm").unwrap()),
            module(c.restart("tmm").unwrap()),
            module(c.gcda_state(&tmm()).unwrap()),
            module(c.tar(&tmm()).unwrap()),
        ];
        for op in [CounterOp::Reset, CounterOp::Dump] {
            commands.push(pids(c.signal(op, &[4242])));
            commands.push(pid(c.gdb_symbol(op, 4242)));
            commands.push(pid(c.gdb_call(op, 4242)));
        }
        for cmd in commands {
            assert!(
                section.lines().any(|l| l.starts_with(&cmd)),
                "docs/device.md, \"On a real BIG-IP\", does not list: {cmd}"
            );
        }
    }
}
