//! An HTTP proxy in front of the emulator that answers the first and then every n-th request
//! of each service with that service's own throttling error, as AWS does under load (moto never throttles). A throttled request
//! never reaches the emulator, so it has no effect there.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// A running throttling proxy; stops on drop.
pub struct Throttle {
    /// `http://127.0.0.1:<port>`: the endpoint to give the client instead of the emulator's.
    pub endpoint: String,
    state: Arc<State>,
    task: tokio::task::JoinHandle<()>,
}

struct State {
    upstream: String,
    every: u64,
    seen: AtomicU64,
    /// Per service: requests seen, requests throttled.
    per_service: Mutex<BTreeMap<&'static str, (u64, u64)>>,
}

impl Throttle {
    /// Starts on a free loopback port in front of `upstream` (`http://host:port`), throttling
    /// each service's requests number 1, `1 + every`, `1 + 2 × every`, ... (counted across
    /// all connections), so every service that is called at all is throttled at least once.
    pub async fn start(upstream: &str, every: u64) -> Throttle {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let endpoint = format!("http://{}", listener.local_addr().expect("addr"));
        let state = Arc::new(State {
            upstream: upstream
                .trim_start_matches("http://")
                .trim_end_matches('/')
                .to_string(),
            every: every.max(1),
            seen: AtomicU64::new(0),
            per_service: Mutex::new(BTreeMap::new()),
        });
        let st = state.clone();
        let task = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                tokio::spawn(serve(client, st.clone()));
            }
        });
        Throttle {
            endpoint,
            state,
            task,
        }
    }

    /// How many requests were throttled, by service (`dynamodb`, `sqs`, `kms`, `s3`).
    pub fn throttled(&self) -> BTreeMap<&'static str, u64> {
        let m = self.state.per_service.lock().expect("lock");
        m.iter().map(|(k, (_, t))| (*k, *t)).collect()
    }

    /// How many requests came in.
    pub fn seen(&self) -> u64 {
        self.state.seen.load(Ordering::SeqCst)
    }
}

impl Drop for Throttle {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Reads into `buf` until it holds at least `n` bytes. False at EOF.
async fn fill(s: &mut TcpStream, buf: &mut Vec<u8>, n: usize) -> bool {
    let mut chunk = [0u8; 16 * 1024];
    while buf.len() < n {
        match s.read(&mut chunk).await {
            Ok(0) | Err(_) => return false,
            Ok(k) => buf.extend_from_slice(&chunk[..k]),
        }
    }
    true
}

/// Reads into `buf` until it contains `needle` after `from`; returns the index just past it.
async fn fill_to(
    s: &mut TcpStream,
    buf: &mut Vec<u8>,
    from: usize,
    needle: &[u8],
) -> Option<usize> {
    loop {
        if let Some(i) = buf[from.min(buf.len())..]
            .windows(needle.len())
            .position(|w| w == needle)
        {
            return Some(from + i + needle.len());
        }
        let want = buf.len() + 1;
        if !fill(s, buf, want).await {
            return None;
        }
    }
}

/// The length of a chunked body at the start of `buf` (reading more as needed).
async fn chunked_len(s: &mut TcpStream, buf: &mut Vec<u8>) -> Option<usize> {
    let mut at = 0;
    loop {
        let line_end = fill_to(s, buf, at, b"\r\n").await?;
        let line = String::from_utf8_lossy(&buf[at..line_end - 2]).to_string();
        let size = usize::from_str_radix(line.split(';').next()?.trim(), 16).ok()?;
        if size == 0 {
            // Trailers, then the blank line.
            let mut t = line_end;
            loop {
                let e = fill_to(s, buf, t, b"\r\n").await?;
                if e - t == 2 {
                    return Some(e);
                }
                t = e;
            }
        }
        at = line_end + size + 2;
        if !fill(s, buf, at).await {
            return None;
        }
    }
}

fn header<'a>(head: &'a str, name: &str) -> Option<&'a str> {
    head.lines().skip(1).find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.trim().eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

fn service(head: &str) -> &'static str {
    match header(head, "x-amz-target").unwrap_or("") {
        t if t.starts_with("DynamoDB") => "dynamodb",
        t if t.starts_with("AmazonSQS") => "sqs",
        t if t.starts_with("TrentService") => "kms",
        _ => "s3",
    }
}

fn throttle_response(service: &str) -> Vec<u8> {
    let (status, ctype, extra, body) = if service == "s3" {
        (
            "503 Slow Down",
            "application/xml",
            "",
            r#"<?xml version="1.0" encoding="UTF-8"?><Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message><RequestId>throttle</RequestId></Error>"#,
        )
    } else {
        (
            "400 Bad Request",
            "application/x-amz-json-1.0",
            "x-amzn-ErrorType: ThrottlingException\r\n",
            r#"{"__type":"ThrottlingException","message":"Rate exceeded"}"#,
        )
    };
    format!(
        "HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\n{extra}x-amzn-RequestId: throttle\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// The response with its `Connection` header replaced by `Connection: close`.
fn closing(resp: &[u8]) -> Vec<u8> {
    let Some(end) = resp.windows(4).position(|w| w == b"\r\n\r\n") else {
        return resp.to_vec();
    };
    let head = String::from_utf8_lossy(&resp[..end]);
    let mut out = String::new();
    for line in head.split("\r\n") {
        if line
            .split(':')
            .next()
            .is_some_and(|n| n.trim().eq_ignore_ascii_case("connection"))
        {
            continue;
        }
        out.push_str(line);
        out.push_str("\r\n");
    }
    out.push_str("Connection: close\r\n\r\n");
    let mut bytes = out.into_bytes();
    bytes.extend_from_slice(&resp[end + 4..]);
    bytes
}

/// One client connection: request by request, throttle or forward (over a fresh upstream
/// connection; the client connection closes after a forwarded response).
async fn serve(mut client: TcpStream, st: Arc<State>) {
    let mut buf = Vec::new();
    loop {
        let Some(head_end) = fill_to(&mut client, &mut buf, 0, b"\r\n\r\n").await else {
            return;
        };
        let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
        let mut rest = buf.split_off(head_end);
        buf.clear();
        if header(&head, "expect").is_some_and(|v| v.eq_ignore_ascii_case("100-continue"))
            && client
                .write_all(b"HTTP/1.1 100 Continue\r\n\r\n")
                .await
                .is_err()
        {
            return;
        }
        let body_len = if let Some(n) = header(&head, "content-length") {
            let Ok(n) = n.parse::<usize>() else { return };
            if !fill(&mut client, &mut rest, n).await {
                return;
            }
            n
        } else if header(&head, "transfer-encoding").is_some_and(|v| v.contains("chunked")) {
            let Some(n) = chunked_len(&mut client, &mut rest).await else {
                return;
            };
            n
        } else {
            0
        };
        let pipelined = rest.split_off(body_len);
        let body = rest;
        buf = pipelined;

        st.seen.fetch_add(1, Ordering::SeqCst);
        let svc = service(&head);
        let throttle = {
            let mut m = st.per_service.lock().expect("lock");
            let (seen, throttled) = m.entry(svc).or_default();
            *seen += 1;
            let hit = (*seen - 1) % st.every == 0;
            if hit {
                *throttled += 1;
            }
            hit
        };
        if throttle {
            if client.write_all(&throttle_response(svc)).await.is_err() {
                return;
            }
            continue;
        }

        // Forward: the same request, minus Expect, on a connection that closes after it.
        let mut out = String::new();
        for (i, line) in head.trim_end_matches("\r\n").split("\r\n").enumerate() {
            let name = line.split(':').next().unwrap_or("").trim();
            if i > 0
                && (name.eq_ignore_ascii_case("expect") || name.eq_ignore_ascii_case("connection"))
            {
                continue;
            }
            out.push_str(line);
            out.push_str("\r\n");
        }
        out.push_str("Connection: close\r\n\r\n");
        let Ok(mut up) = TcpStream::connect(&st.upstream).await else {
            return;
        };
        if up.write_all(out.as_bytes()).await.is_err() || up.write_all(&body).await.is_err() {
            return;
        }
        let mut resp = Vec::new();
        if up.read_to_end(&mut resp).await.is_err() {
            return;
        }
        // Relayed with `Connection: close`, so the client never reuses this connection (the
        // upstream one is gone; its framing may rely on the close).
        let _ = client.write_all(&closing(&resp)).await;
        return;
    }
}
