//! Test helpers: start/stop the real-sshd BIG-IP simulator, poke its daemons, and a small TCP
//! proxy for fault injection.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ccaas_device::{Credentials, DeviceProfile, DeviceTarget, HostKeyPolicy, Timeouts};

/// The sim scripts' directory.
pub fn sim_dir() -> PathBuf {
    ccaas_testkit::repo().join("localstack/bigip-sim")
}

#[allow(unused_imports)] // used by some test binaries only
pub use ccaas_testkit::refused_port;

/// One running simulator with its fields typed for the driver; stopped (and its root
/// removed) on drop of `running`.
pub struct Sim {
    pub host: String,
    pub port: u16,
    pub username: String,
    pub password: String,
    pub host_key_sha256: String,
    pub modules: Vec<String>,
    pub root: String,
    pub private_key: String,
    /// The simulator process (`ccaas_testkit::Sim`).
    pub running: ccaas_testkit::Sim,
}

impl Sim {
    /// Starts a simulator on a free port with extra `up` arguments.
    pub fn up(extra: &[&str]) -> Sim {
        let running = ccaas_testkit::Sim::up_with(extra);
        let s = |k: &str| running.s(k);
        Sim {
            host: s("host"),
            port: running.port,
            username: s("username"),
            password: s("password"),
            host_key_sha256: s("host_key_sha256"),
            modules: running.json["modules"]
                .as_array()
                .expect("modules")
                .iter()
                .map(|m| m.as_str().expect("a module name").to_string())
                .collect(),
            root: running.root.clone(),
            private_key: s("private_key"),
            running,
        }
    }

    pub fn profile(&self) -> DeviceProfile {
        DeviceProfile::simulator(&self.root)
    }

    /// A target with the password and the known host key.
    pub fn password_target(&self) -> DeviceTarget {
        DeviceTarget {
            host: self.host.clone(),
            port: self.port,
            username: self.username.clone(),
            auth: Credentials::Password(self.password.clone()),
            host_key_sha256: Some(self.host_key_sha256.clone()),
            host_key_policy: HostKeyPolicy::Pinned,
        }
    }

    /// A target with the client private key and the known host key.
    pub fn key_target(&self) -> DeviceTarget {
        DeviceTarget {
            auth: Credentials::PrivateKey {
                pem: std::fs::read_to_string(&self.private_key).unwrap(),
                passphrase: None,
            },
            ..self.password_target()
        }
    }

    /// The same target, through another port (a proxy).
    pub fn via(&self, port: u16) -> DeviceTarget {
        DeviceTarget {
            port,
            ..self.password_target()
        }
    }

    /// Sends one request line to a daemon and returns its reply.
    pub fn poke(&self, module: &str, line: &str) -> String {
        let port: u16 = std::fs::read_to_string(format!("{}/run/{module}.port", self.root))
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
        writeln!(s, "{line}").unwrap();
        let mut reply = String::new();
        BufReader::new(s).read_line(&mut reply).unwrap();
        reply.trim().to_string()
    }

    /// Runs the sim's own `bigstart` (as root, like the sim's admin).
    pub fn bigstart(&self, args: &[&str]) {
        let st = Command::new(format!("{}/bin/bigstart", self.root))
            .args(args)
            .status()
            .unwrap();
        assert!(st.success(), "bigstart {args:?}");
    }

    /// "Reboots" the device: kills sshd and its sessions, restarts daemons and sshd.
    pub fn reboot(&self) {
        self.running.reboot();
    }

    /// The sim's sshd log.
    pub fn sshd_log(&self) -> String {
        std::fs::read_to_string(format!("{}/log/sshd.log", self.root)).unwrap_or_default()
    }

    /// Whether the sshd log mentions `needle`, waiting up to 10 s for sshd to write it (its
    /// privilege-separated children log through the monitor, a little after the fact).
    pub fn sshd_logged(&self, needle: &str) -> bool {
        for _ in 0..100 {
            if self.sshd_log().contains(needle) {
                return true;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        false
    }

    /// The pid `up` printed for a module (its `"pids"` map).
    pub fn pid(&self, module: &str) -> u32 {
        let pid = self.running.json["pids"][module]
            .as_u64()
            .unwrap_or_else(|| panic!("no pid for {module} in {}", self.running.json));
        u32::try_from(pid).unwrap()
    }

    /// A module's GCOV_PREFIX dir.
    pub fn gcov_dir(&self, module: &str) -> String {
        format!("{}/shared/gcov/{module}", self.root)
    }

    /// Gives a path in the sim to the login user (the sim's daemons run as that user).
    pub fn chown(&self, path: &str) {
        let st = Command::new("chown")
            .args(["-R", &format!("{0}:{0}", self.username), path])
            .status()
            .unwrap();
        assert!(st.success());
    }
}

/// Short timeouts for tests.
pub fn quick_timeouts() -> Timeouts {
    Timeouts {
        connect: Duration::from_secs(3),
        handshake: Duration::from_secs(3),
        auth: Duration::from_secs(5),
        command: Duration::from_secs(20),
        idle: Duration::from_secs(5),
        flush: Duration::from_secs(20),
        operation: Duration::from_secs(120),
        keepalive: Duration::from_secs(2),
    }
}

/// What the proxy does to the server-to-client stream.
#[derive(Clone, Copy, Debug)]
pub enum Fault {
    /// Forward both ways.
    None,
    /// Accept connections but never answer (nor forward).
    Silent,
    /// Forward, then stop forwarding server-to-client after this many bytes (keep the
    /// connection open).
    StallAfter(u64),
    /// Forward, then close both sides after this many server-to-client bytes.
    ResetAfter(u64),
    /// Forward the key exchange (up to and including the server's NEWKEYS, parsed from the
    /// clear-text packets), then nothing more from the server: a silent auth.
    SilentAfterKex,
}

/// A TCP proxy on 127.0.0.1 in front of `127.0.0.1:upstream`, one fault for every connection.
pub struct Proxy {
    pub port: u16,
    fault: Arc<Mutex<Fault>>,
    /// Server-to-client bytes forwarded, over all connections.
    pub down_bytes: Arc<AtomicU64>,
    /// When the last stall or reset happened.
    pub fault_at: Arc<Mutex<Option<Instant>>>,
    stop: Arc<AtomicBool>,
}

impl Proxy {
    pub fn start(upstream: u16, fault: Fault) -> Proxy {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        let fault = Arc::new(Mutex::new(fault));
        let down_bytes = Arc::new(AtomicU64::new(0));
        let fault_at = Arc::new(Mutex::new(None));
        let stop = Arc::new(AtomicBool::new(false));
        let (f2, d2, a2, s2) = (
            fault.clone(),
            down_bytes.clone(),
            fault_at.clone(),
            stop.clone(),
        );
        std::thread::spawn(move || {
            for c in l.incoming() {
                if s2.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(client) = c else { continue };
                let fault = *f2.lock().unwrap();
                let (d, a) = (d2.clone(), a2.clone());
                std::thread::spawn(move || serve(client, upstream, fault, d, a));
            }
        });
        Proxy {
            port,
            fault,
            down_bytes,
            fault_at,
            stop,
        }
    }

    pub fn set_fault(&self, f: Fault) {
        *self.fault.lock().unwrap() = f;
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}

/// Copies the server's version line and clear-text packets to the client until (and including)
/// SSH_MSG_NEWKEYS (21). Returns the bytes copied.
fn kex_prefix_len(from: &mut TcpStream, to: &mut TcpStream) -> u64 {
    use std::io::Read;
    let mut total = 0u64;
    let mut line = Vec::new();
    // Version exchange: lines until one starts with "SSH-".
    loop {
        let mut b = [0u8; 1];
        if from.read_exact(&mut b).is_err() {
            return total;
        }
        line.push(b[0]);
        if b[0] == b'\n' {
            to.write_all(&line).unwrap();
            total += line.len() as u64;
            let done = line.starts_with(b"SSH-");
            line.clear();
            if done {
                break;
            }
        }
    }
    loop {
        let mut len = [0u8; 4];
        if from.read_exact(&mut len).is_err() {
            return total;
        }
        let n = u32::from_be_bytes(len) as usize;
        let mut body = vec![0u8; n];
        if from.read_exact(&mut body).is_err() {
            return total;
        }
        to.write_all(&len).unwrap();
        to.write_all(&body).unwrap();
        total += 4 + n as u64;
        if body.get(1) == Some(&21) {
            return total;
        }
    }
}

fn serve(
    client: TcpStream,
    upstream: u16,
    fault: Fault,
    down: Arc<AtomicU64>,
    fault_at: Arc<Mutex<Option<Instant>>>,
) {
    use std::io::Read;
    if let Fault::Silent = fault {
        // Hold the socket open, read and drop what comes, say nothing.
        let mut c = client;
        let mut buf = [0u8; 4096];
        while let Ok(n) = c.read(&mut buf) {
            if n == 0 {
                break;
            }
        }
        return;
    }
    let Ok(server) = TcpStream::connect(("127.0.0.1", upstream)) else {
        return;
    };
    let (mut c_read, mut s_write) = (client.try_clone().unwrap(), server.try_clone().unwrap());
    std::thread::spawn(move || {
        let mut buf = [0u8; 16384];
        while let Ok(n) = c_read.read(&mut buf) {
            if n == 0 || s_write.write_all(&buf[..n]).is_err() {
                break;
            }
        }
        let _ = s_write.shutdown(std::net::Shutdown::Write);
    });
    let (mut s_read, mut c_write) = (server, client);
    if let Fault::SilentAfterKex = fault {
        let n = kex_prefix_len(&mut s_read, &mut c_write);
        down.fetch_add(n, Ordering::SeqCst);
        *fault_at.lock().unwrap() = Some(Instant::now());
        // Say nothing more; drain the server until the client goes away.
        let mut buf = [0u8; 16384];
        while let Ok(n) = s_read.read(&mut buf) {
            if n == 0 {
                break;
            }
        }
        return;
    }
    let mut sent: u64 = 0;
    let mut buf = [0u8; 16384];
    loop {
        let n = match s_read.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        let limit = match fault {
            Fault::StallAfter(l) | Fault::ResetAfter(l) => l,
            _ => u64::MAX,
        };
        let room = limit.saturating_sub(sent) as usize;
        let take = n.min(room);
        if take > 0 && c_write.write_all(&buf[..take]).is_err() {
            break;
        }
        sent += take as u64;
        down.fetch_add(take as u64, Ordering::SeqCst);
        if take < n {
            *fault_at.lock().unwrap() = Some(Instant::now());
            match fault {
                Fault::ResetAfter(_) => {
                    let _ = c_write.shutdown(std::net::Shutdown::Both);
                    let _ = s_read.shutdown(std::net::Shutdown::Both);
                    return;
                }
                _ => {
                    // Stall: keep both sockets open and forward nothing more, until the client
                    // goes away.
                    let mut probe = [0u8; 1];
                    let _ = c_write.set_read_timeout(None);
                    let _ = c_write.peek(&mut probe);
                    loop {
                        std::thread::sleep(Duration::from_millis(200));
                        match c_write.peek(&mut probe) {
                            Ok(0) | Err(_) => return,
                            Ok(_) => {}
                        }
                    }
                }
            }
        }
    }
    let _ = c_write.shutdown(std::net::Shutdown::Write);
}

/// Writes `bytes` of incompressible (xorshift) data to `path`, owned by the sim's login user.
pub fn write_random_file(sim: &Sim, path: &str, bytes: u64) {
    let mut f = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15 ^ bytes;
    let mut left = bytes;
    let mut buf = vec![0u8; 1 << 16];
    while left > 0 {
        for c in buf.chunks_mut(8) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            c.copy_from_slice(&x.to_le_bytes()[..c.len()]);
        }
        let n = left.min(buf.len() as u64) as usize;
        f.write_all(&buf[..n]).unwrap();
        left -= n as u64;
    }
    f.flush().unwrap();
    drop(f);
    sim.chown(path);
}

/// A sink for `end` that a slow task reads: returns the writer, and a handle that yields the
/// byte count read. `on_bytes` runs once, when the reader has seen that many bytes.
pub fn slow_reader(
    chunk_delay: Duration,
    trigger: Option<(u64, Box<dyn FnOnce() + Send>)>,
) -> (tokio::io::DuplexStream, tokio::task::JoinHandle<u64>) {
    use tokio::io::AsyncReadExt;
    let (w, mut r) = tokio::io::duplex(64 << 10);
    let h = tokio::spawn(async move {
        let mut trigger = trigger;
        let mut total = 0u64;
        let mut buf = vec![0u8; 64 << 10];
        loop {
            match r.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => total += n as u64,
            }
            if trigger.as_ref().is_some_and(|(at, _)| total >= *at)
                && let Some((_, f)) = trigger.take()
            {
                tokio::task::spawn_blocking(f);
            }
            if !chunk_delay.is_zero() {
                tokio::time::sleep(chunk_delay).await;
            }
        }
        total
    });
    (w, h)
}

/// `function name -> execution count` from `gcov --json-format` over every `.gcda` under `dir`.
pub fn gcov_functions_in(dir: &std::path::Path) -> std::collections::HashMap<String, u64> {
    let mut out = std::collections::HashMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "gcda") {
                let o = Command::new("gcov")
                    .args(["--json-format", "--stdout"])
                    .arg(p.file_name().unwrap())
                    .current_dir(p.parent().unwrap())
                    .output()
                    .unwrap();
                assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
                for line in String::from_utf8_lossy(&o.stdout).lines() {
                    let v: serde_json::Value = serde_json::from_str(line).unwrap();
                    for f in v["files"].as_array().unwrap() {
                        for func in f["functions"].as_array().unwrap() {
                            let name = func["name"].as_str().unwrap().to_string();
                            let n = func["execution_count"].as_u64().unwrap();
                            *out.entry(name).or_insert(0) += n;
                        }
                    }
                }
            }
        }
    }
    out
}
