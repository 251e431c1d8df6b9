//! The BIG-IP simulator (`localstack/bigip-sim`): a real OpenSSH sshd on loopback dressed as a
//! BIG-IP, started on a free port and stopped, with its root and login user, on drop.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::{free_port, repo};

/// One running simulator.
pub struct Sim {
    /// What `up` printed (host, port, username, password, host key, modules, root, key file).
    pub json: Value,
    /// Its SSH port.
    pub port: u16,
    /// Its file tree (the device profile's root).
    pub root: String,
}

fn script(name: &str) -> Command {
    Command::new(repo().join("localstack/bigip-sim").join(name))
}

impl Sim {
    /// Starts a simulator on a free port.
    pub fn up() -> Sim {
        Sim::up_with(&[])
    }

    /// Starts a simulator on a free port with extra `up` options (`--no-gcno`,
    /// `--password-auth`, `--legacy-kex`, ...). Tries five ports before it gives up.
    ///
    /// Why a retry: sshd takes its port from its config and cannot bind port 0 and report it,
    /// so the port comes from [`free_port`], and another process can take it before sshd binds
    /// it. sshd then dies after it has already detached, and `up`, which only checks that
    /// something accepts connections on the port, succeeds all the same. So the simulator
    /// counts as started only when its own sshd is seen listening (its pid file, which sshd
    /// writes after the bind, names a live process); otherwise it is stopped and started again
    /// on another port.
    pub fn up_with(options: &[&str]) -> Sim {
        for _ in 0..5 {
            let port = free_port();
            let out = script("up")
                .args(["--port", &port.to_string()])
                .args(options)
                .output()
                .expect("localstack/bigip-sim/up runs");
            if !out.status.success() {
                eprintln!("sim up failed: {}", String::from_utf8_lossy(&out.stderr));
                continue;
            }
            let json: Value = serde_json::from_slice(&out.stdout).expect("up prints JSON");
            let root = json["root"].as_str().expect("root").to_string();
            let sim = Sim { json, port, root };
            if own_sshd_listens(&sim.root) {
                return sim;
            }
            eprintln!("port {port} was taken before the simulator's sshd bound it: trying another");
            // Dropping it stops what did start (its daemons) and removes its root.
        }
        panic!("the simulator did not start");
    }

    /// A string field of what `up` printed.
    pub fn s(&self, k: &str) -> String {
        self.json[k]
            .as_str()
            .unwrap_or_else(|| panic!("{k} in {}", self.json))
            .to_string()
    }

    /// Runs `poke` against it and returns its output.
    pub fn poke(&self, args: &[&str]) -> String {
        let out = script("poke")
            .args(["--port", &self.port.to_string()])
            .args(args)
            .output()
            .expect("poke runs");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    /// "Reboots" the device: kills sshd and its sessions, restarts daemons and sshd.
    pub fn reboot(&self) {
        let st = script("reboot")
            .args(["--root", &self.root])
            .status()
            .expect("reboot runs");
        assert!(st.success(), "reboot");
    }

    /// A task body for this device.
    pub fn body(&self, ty: &str, extra: &str) -> String {
        self.body_with("session-test", ty, extra, "")
    }

    /// A task body for this device by `user`, with extra `data` fields (`data_extra`, each
    /// starting with a comma) and extra top-level fields (`top_extra`, likewise).
    pub fn body_with(&self, user: &str, ty: &str, data_extra: &str, top_extra: &str) -> String {
        format!(
            r#"{{"type":"{ty}","user":"{user}"{top_extra},"data":{{"device":{{"host":"{}","port":{},"username":"{}","password":"{}"}},"modules":["tmm","mcpd"]{data_extra}}}}}"#,
            self.s("host"),
            self.port,
            self.s("username"),
            self.s("password")
        )
    }
}

/// Whether the sshd of the simulator at `root` listens: sshd writes its pid file only once
/// its listen address is bound, and dies with "Cannot bind any address" when that fails. Waits
/// up to 10 s for one or the other (the pid file can come a moment after the port answers).
fn own_sshd_listens(root: &str) -> bool {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let pid = std::fs::read_to_string(format!("{root}/run/sshd.pid")).unwrap_or_default();
        let pid = pid.trim();
        if !pid.is_empty() && Path::new("/proc").join(pid).exists() {
            return true;
        }
        let log = std::fs::read_to_string(format!("{root}/log/sshd.log")).unwrap_or_default();
        if log.contains("Cannot bind any address") || Instant::now() >= deadline {
            eprintln!("the simulator's sshd does not listen: {log}");
            return false;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

impl Drop for Sim {
    fn drop(&mut self) {
        let _ = script("down")
            .args(["--root", &self.root, "--purge"])
            .output();
    }
}
