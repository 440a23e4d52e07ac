//! `skp-bench`: our Rust client (`sigstore_kms_plugins`) as a benchmark worker for bench/run.py.
//! Every subcommand prints JSON lines on stdout; times are measured in this process, around the
//! client call only.
//!
//! ```text
//! skp-bench percall PATH-DIR URI
//!     serve: reads lines "MODE METHOD N MSG-BYTES" (MODE blocking|async|async-block-on, or
//!     tokio-process|tokio-process-block-on for Tokio's own process API driven by hand, without
//!     our client; METHOD defaultAlgorithm|publicKey|signMessage), answers
//!     {"us":[per-call microseconds]}
//! skp-bench stream PATH-DIR URI MODE FILE REPS
//!     signMessage of FILE (streamed from disk) REPS times: {"s":[seconds],"rss_kib":..,"hwm_kib":..}
//! skp-bench concurrency PATH-DIR URI CALLS ROUNDS MSG-BYTES
//!     per round: CALLS signMessage calls one after another, then CALLS at once (tokio tasks);
//!     {"serial_s":[..],"concurrent_s":[..],"fds":[before,after],"children":[before,after]}
//! ```

use std::fs::File;
use std::io::{BufRead, Write};
use std::time::Instant;

use sigstore_kms_plugins::{get_signer_verifier, Options, PluginSignerVerifier};
use tokio::runtime::Runtime;

fn die(what: &str) -> ! {
    eprintln!("skp-bench: {what}");
    std::process::exit(1)
}

fn signer(path: &str, uri: &str) -> PluginSignerVerifier {
    get_signer_verifier(uri, Options::default().search_path(path)).unwrap_or_else(|e| die(&e.to_string()))
}

fn runtime() -> Runtime {
    // What `#[tokio::main]` builds: one worker per core.
    tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap_or_else(|e| die(&e.to_string()))
}

fn json_list(xs: &[f64], digits: usize) -> String {
    let items: Vec<String> = xs.iter().map(|x| format!("{x:.digits$}")).collect();
    format!("[{}]", items.join(","))
}

fn check(method: &str, ok: bool) {
    if !ok {
        die(&format!("{method}: unexpected answer"));
    }
}

fn blocking_call(sv: &PluginSignerVerifier, method: &str, msg: &[u8]) {
    match method {
        "defaultAlgorithm" => check(method, sv.default_algorithm_blocking().is_ok_and(|a| a == "ecdsa-p256")),
        "publicKey" => check(method, sv.public_key_blocking().is_ok()),
        "signMessage" => check(method, sv.sign_message_blocking(msg).is_ok_and(|s| !s.is_empty())),
        _ => die(&format!("unknown method {method}")),
    }
}

async fn async_call(sv: &PluginSignerVerifier, method: &str, msg: &[u8]) {
    match method {
        "defaultAlgorithm" => check(method, sv.default_algorithm().await.is_ok_and(|a| a == "ecdsa-p256")),
        "publicKey" => check(method, sv.public_key().await.is_ok()),
        "signMessage" => check(method, sv.sign_message(msg).await.is_ok_and(|s| !s.is_empty())),
        _ => die(&format!("unknown method {method}")),
    }
}

/// `n` async calls one after another; the microseconds of each.
async fn timed_async_calls(sv: &PluginSignerVerifier, method: &str, msg: &[u8], n: usize) -> Vec<f64> {
    let mut us = Vec::with_capacity(n);
    for _ in 0..n {
        let t = Instant::now();
        async_call(sv, method, msg).await;
        us.push(t.elapsed().as_secs_f64() * 1e6);
    }
    us
}

/// The request JSON for `method` with key reference "k", as the Go client writes it (what
/// the by-hand hosts of `bench/py_bench.py` send too).
fn wire_request(method: &str) -> String {
    let rpc = r#"{"keyVersion":"","remoteVerification":false}"#;
    let args = match method {
        "defaultAlgorithm" => "{}".to_owned(),
        "publicKey" => format!(r#"{{"publicKeyOptions":{{"rpcOptions":{rpc}}}}}"#),
        "signMessage" => format!(r#"{{"signOptions":{{"rpcOptions":{rpc},"messageOptions":{{"digest":null}}}}}}"#),
        _ => die(&format!("unknown method {method}")),
    };
    format!(
        r#"{{"initOptions":{{"protocolVersion":"v1","keyResourceID":"k","hashFunc":5,"rpcOptions":{rpc}}},"methodName":"{method}","{method}":{args}}}"#
    )
}

/// `n` calls with `tokio::process` and no client of ours: spawn, write the message (if the
/// method takes one) and close stdin, read stdout to its end, wait. What an async Rust host
/// without this library does, the reference for the async rows.
async fn timed_tokio_process_calls(program: &str, method: &str, msg: &[u8], n: usize) -> Vec<f64> {
    use std::process::Stdio;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let request = wire_request(method);
    let takes_message = method == "signMessage";
    let mut us = Vec::with_capacity(n);
    for _ in 0..n {
        let t = Instant::now();
        let mut cmd = tokio::process::Command::new(program);
        cmd.arg("v1").arg(&request).stdout(Stdio::piped()).stderr(Stdio::inherit());
        cmd.stdin(if takes_message { Stdio::piped() } else { Stdio::null() });
        let mut child = cmd.spawn().unwrap_or_else(|e| die(&format!("spawn failed: {e}")));
        if let Some(mut stdin) = child.stdin.take() {
            // A plugin may stop reading early; a host ignores that (EPIPE).
            let _ = stdin.write_all(msg).await;
        }
        let mut out = Vec::new();
        let mut stdout = child.stdout.take().unwrap_or_else(|| die("stdout not piped"));
        stdout.read_to_end(&mut out).await.unwrap_or_else(|e| die(&e.to_string()));
        let status = child.wait().await.unwrap_or_else(|e| die(&e.to_string()));
        check(method, status.success() && out.windows(method.len()).any(|w| w == method.as_bytes()));
        us.push(t.elapsed().as_secs_f64() * 1e6);
    }
    us
}

fn percall(path: &str, uri: &str) {
    let sv = signer(path, uri);
    let scheme = uri.split_once("://").map_or_else(|| die("URI without ://"), |(s, _)| s);
    let program = format!("{path}/sigstore-kms-{scheme}");
    let rt = runtime();
    let stdin = std::io::stdin();
    let mut out = std::io::stdout();
    for line in stdin.lock().lines() {
        let line = line.unwrap_or_else(|e| die(&e.to_string()));
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.len() != 4 {
            continue;
        }
        let (mode, method) = (f[0], f[1]);
        let n: usize = f[2].parse().unwrap_or_else(|_| die("bad N"));
        let msg = vec![b'x'; f[3].parse().unwrap_or_else(|_| die("bad MSG-BYTES"))];
        let mut us = Vec::with_capacity(n);
        match mode {
            "blocking" => {
                for _ in 0..n {
                    let t = Instant::now();
                    blocking_call(&sv, method, &msg);
                    us.push(t.elapsed().as_secs_f64() * 1e6);
                }
            }
            // A task of the runtime, as a server's request handler runs: a worker thread
            // awaits the call, and that thread also waits in Tokio's poller.
            "async" => {
                let (sv, method, msg) = (sv.clone(), method.to_owned(), msg.clone());
                let task = rt.spawn(async move { timed_async_calls(&sv, &method, &msg, n).await });
                us = rt.block_on(task).unwrap_or_else(|e| die(&e.to_string()));
            }
            // The future `#[tokio::main]` runs: awaited on the thread in `block_on`, which is not a
            // worker and never waits in Tokio's poller, so every wake-up of the call reaches it
            // from a worker.
            "async-block-on" => us = rt.block_on(timed_async_calls(&sv, method, &msg, n)),
            "tokio-process" => {
                let (program, method, msg) = (program.clone(), method.to_owned(), msg.clone());
                let task = rt.spawn(async move { timed_tokio_process_calls(&program, &method, &msg, n).await });
                us = rt.block_on(task).unwrap_or_else(|e| die(&e.to_string()));
            }
            "tokio-process-block-on" => us = rt.block_on(timed_tokio_process_calls(&program, method, &msg, n)),
            _ => die(&format!("unknown mode {mode}")),
        }
        writeln!(out, "{{\"us\":{}}}", json_list(&us, 1))
            .and_then(|()| out.flush())
            .unwrap_or_else(|e| die(&e.to_string()));
    }
}

/// A field of /proc/self/status in KiB (VmRSS, VmHWM).
fn status_kib(field: &str) -> u64 {
    let s = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    s.lines()
        .find_map(|l| l.strip_prefix(field).and_then(|r| r.trim_start_matches(':').split_whitespace().next()))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

fn stream(path: &str, uri: &str, mode: &str, file: &str, reps: usize) {
    let sv = signer(path, uri);
    let rt = runtime();
    let rss_kib = status_kib("VmRSS");
    let mut secs = Vec::new();
    for _ in 0..reps {
        let f = File::open(file).unwrap_or_else(|e| die(&e.to_string()));
        let t = Instant::now();
        let sig = match mode {
            "blocking" => sv.sign_message_blocking(f),
            "async" => rt.block_on(sv.sign_message(f)),
            _ => die(&format!("unknown mode {mode}")),
        };
        let s = t.elapsed().as_secs_f64();
        if !sig.is_ok_and(|s| !s.is_empty()) {
            die("signMessage failed");
        }
        secs.push(s);
    }
    println!("{{\"s\":{},\"rss_kib\":{rss_kib},\"hwm_kib\":{}}}", json_list(&secs, 4), status_kib("VmHWM"));
}

/// Open file descriptors of this process.
fn fd_count() -> usize {
    std::fs::read_dir("/proc/self/fd").map_or(0, Iterator::count)
}

/// Processes whose parent is this process (running or zombie).
fn child_count() -> usize {
    let me = std::process::id().to_string();
    let Ok(dir) = std::fs::read_dir("/proc") else { return 0 };
    dir.filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().bytes().all(|b| b.is_ascii_digit()))
        .filter(|e| {
            std::fs::read_to_string(e.path().join("stat"))
                .ok()
                .and_then(|s| {
                    s.rsplit_once(')').and_then(|(_, rest)| rest.split_whitespace().nth(1).map(str::to_owned))
                })
                .is_some_and(|ppid| ppid == me)
        })
        .count()
}

fn concurrency(path: &str, uri: &str, calls: usize, rounds: usize, msg_bytes: usize) {
    let sv = signer(path, uri);
    let rt = runtime();
    let msg = vec![b'x'; msg_bytes];
    // Warm the runtime's blocking pool and the page cache.
    rt.block_on(async_call(&sv, "signMessage", &msg));
    let (fds0, kids0) = (fd_count(), child_count());
    let (mut serial, mut concurrent) = (Vec::new(), Vec::new());
    for _ in 0..rounds {
        let t = Instant::now();
        rt.block_on(async {
            for _ in 0..calls {
                async_call(&sv, "signMessage", &msg).await;
            }
        });
        serial.push(t.elapsed().as_secs_f64());
        let t = Instant::now();
        rt.block_on(async {
            let tasks: Vec<_> = (0..calls)
                .map(|_| {
                    let (sv, msg) = (sv.clone(), msg.clone());
                    tokio::spawn(async move { async_call(&sv, "signMessage", &msg).await })
                })
                .collect();
            for t in tasks {
                t.await.unwrap_or_else(|e| die(&e.to_string()));
            }
        });
        concurrent.push(t.elapsed().as_secs_f64());
    }
    let (fds1, kids1) = (fd_count(), child_count());
    println!(
        "{{\"serial_s\":{},\"concurrent_s\":{},\"fds\":[{fds0},{fds1}],\"children\":[{kids0},{kids1}]}}",
        json_list(&serial, 4),
        json_list(&concurrent, 4)
    );
}

fn main() {
    let a: Vec<String> = std::env::args().collect();
    let arg = |i: usize| a.get(i).map_or_else(|| die("missing argument (see the source for usage)"), String::as_str);
    let num = |i: usize| arg(i).parse::<usize>().unwrap_or_else(|_| die("bad number"));
    match arg(1) {
        "percall" => percall(arg(2), arg(3)),
        "stream" => stream(arg(2), arg(3), arg(4), arg(5), num(6)),
        "concurrency" => concurrency(arg(2), arg(3), num(4), num(5), num(6)),
        other => die(&format!("unknown subcommand {other}")),
    }
}
