//! The BIG-IP simulator (`localstack/bigip-sim`): a real OpenSSH sshd on loopback dressed as a
//! BIG-IP, started on a free port and stopped, with its root and login user, on drop.

use std::process::Command;

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
    /// `--password-auth`, `--legacy-kex`, ...). Tries three ports before it gives up.
    pub fn up_with(options: &[&str]) -> Sim {
        for _ in 0..3 {
            let port = free_port();
            let out = script("up")
                .args(["--port", &port.to_string()])
                .args(options)
                .output()
                .expect("localstack/bigip-sim/up runs");
            if out.status.success() {
                let json: Value = serde_json::from_slice(&out.stdout).expect("up prints JSON");
                let root = json["root"].as_str().expect("root").to_string();
                return Sim { json, port, root };
            }
            eprintln!("sim up failed: {}", String::from_utf8_lossy(&out.stderr));
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

impl Drop for Sim {
    fn drop(&mut self) {
        let _ = script("down")
            .args(["--root", &self.root, "--purge"])
            .output();
    }
}
