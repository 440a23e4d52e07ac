//! The floor of every per-call benchmark: a bare Rust spawn + wait of a plugin, N times in a
//! row, with stdout piped and read, stderr inherited, and (for a method that takes a message)
//! stdin piped and the message written to it and closed, as a host must; otherwise stdin is
//! /dev/null. No process group, no pidfd, no poll loop, no timeout: the least a host can do.
//! No dependencies: builds with `rustc -O` (bench/node_overhead.mjs and
//! bench/python_overhead.py do) or as a bin of bench/rust (bench/run.py does).
//!
//! Usage:
//!   spawn_baseline PROGRAM REQUEST-JSON N [STDIN-BYTES]
//!       N calls; prints one JSON line {"us":[...]} with the per-call times in microseconds.
//!       With STDIN-BYTES, each call writes that many bytes to the plugin's stdin.
//!   spawn_baseline --serve PROGRAM
//!       Reads lines "N STDIN-BYTES REQUEST-JSON" on stdin and answers each with one such
//!       JSON line (the REQUEST-JSON is the rest of the line).
//!   spawn_baseline --stream PROGRAM REQUEST-JSON FILE [PIPE-BYTES]
//!       One call with FILE streamed to stdin as cat does it (128 KiB reads, blocking writes),
//!       the pipe first grown to PIPE-BYTES if given; prints {"s":[seconds]}.

use std::io::{BufRead, Read, Write};
use std::process::{Command, Stdio};
use std::time::Instant;

fn die(what: &str) -> ! {
    eprintln!("spawn_baseline: {what}");
    std::process::exit(1)
}

/// One call: spawn, feed stdin (if any), read stdout to the end, wait.
fn call(program: &str, request: &str, message: Option<&[u8]>) -> usize {
    let mut cmd = Command::new(program);
    cmd.arg("v1").arg(request).stdout(Stdio::piped()).stderr(Stdio::inherit());
    cmd.stdin(if message.is_some() { Stdio::piped() } else { Stdio::null() });
    let mut child = cmd.spawn().unwrap_or_else(|e| die(&format!("spawn failed: {e}")));
    if let Some(m) = message {
        let mut stdin = child.stdin.take().expect("piped stdin");
        // The plugin may stop reading early; a host ignores that (EPIPE), and so do we.
        let _ = stdin.write_all(m);
        drop(stdin);
    }
    let mut out = Vec::new();
    child.stdout.take().expect("piped stdout").read_to_end(&mut out).unwrap_or_else(|e| die(&format!("read: {e}")));
    let status = child.wait().unwrap_or_else(|e| die(&format!("wait: {e}")));
    if out.is_empty() || !status.success() {
        die("the plugin answered nothing or failed");
    }
    out.len()
}

fn run(program: &str, request: &str, n: usize, stdin_bytes: Option<usize>) -> String {
    let message = stdin_bytes.map(|len| vec![b'x'; len]);
    let mut times = Vec::with_capacity(n);
    for _ in 0..n {
        let started = Instant::now();
        call(program, request, message.as_deref());
        times.push(started.elapsed().as_secs_f64() * 1e6);
    }
    let list: Vec<String> = times.iter().map(|t| format!("{t:.1}")).collect();
    format!("{{\"us\":[{}]}}", list.join(","))
}

fn stream(program: &str, request: &str, file: &str, pipe_bytes: Option<i32>) -> String {
    let mut source = std::fs::File::open(file).unwrap_or_else(|e| die(&format!("{file}: {e}")));
    let started = Instant::now();
    let mut child = Command::new(program)
        .arg("v1")
        .arg(request)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap_or_else(|e| die(&format!("spawn failed: {e}")));
    let mut stdin = child.stdin.take().expect("piped stdin");
    if let Some(size) = pipe_bytes {
        // F_SETPIPE_SZ (1031): the std library has no wrapper, and this file has no dependencies.
        extern "C" {
            fn fcntl(fd: i32, cmd: i32, ...) -> i32;
        }
        use std::os::fd::AsRawFd;
        // SAFETY: fcntl on a pipe fd we own.
        unsafe { fcntl(stdin.as_raw_fd(), 1031, size) };
    }
    // What cat does: 128 KiB reads and blocking writes. (std::io::copy would use 8 KiB.)
    let mut buf = vec![0u8; 128 * 1024];
    loop {
        let n = source.read(&mut buf).unwrap_or_else(|e| die(&format!("read {file}: {e}")));
        if n == 0 || stdin.write_all(&buf[..n]).is_err() {
            break;
        }
    }
    drop(stdin);
    let mut out = Vec::new();
    child.stdout.take().expect("piped stdout").read_to_end(&mut out).unwrap_or_else(|e| die(&format!("read: {e}")));
    let status = child.wait().unwrap_or_else(|e| die(&format!("wait: {e}")));
    if out.is_empty() || !status.success() {
        die("the plugin answered nothing or failed");
    }
    format!("{{\"s\":[{:.4}]}}", started.elapsed().as_secs_f64())
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if (args.len() == 5 || args.len() == 6) && args[1] == "--stream" {
        let pipe_bytes = args.get(5).map(|s| s.parse().unwrap_or_else(|_| die("bad PIPE-BYTES")));
        println!("{}", stream(&args[2], &args[3], &args[4], pipe_bytes));
        return;
    }
    if args.len() == 3 && args[1] == "--serve" {
        let stdin = std::io::stdin();
        let mut out = std::io::stdout();
        for line in stdin.lock().lines() {
            let line = line.unwrap_or_else(|e| die(&format!("stdin: {e}")));
            if line.trim().is_empty() {
                continue;
            }
            let mut parts = line.splitn(3, ' ');
            let n: usize = parts.next().and_then(|s| s.parse().ok()).unwrap_or_else(|| die("bad N"));
            let bytes: i64 = parts.next().and_then(|s| s.parse().ok()).unwrap_or_else(|| die("bad STDIN-BYTES"));
            let request = parts.next().unwrap_or_else(|| die("no request"));
            let stdin_bytes = usize::try_from(bytes).ok();
            let answer = run(&args[2], request, n, stdin_bytes);
            writeln!(out, "{answer}").and_then(|()| out.flush()).unwrap_or_else(|e| die(&format!("stdout: {e}")));
        }
        return;
    }
    if args.len() != 4 && args.len() != 5 {
        eprintln!(
            "usage: spawn_baseline PROGRAM REQUEST-JSON N [STDIN-BYTES] | --serve PROGRAM | --stream PROGRAM REQUEST-JSON FILE [PIPE-BYTES]"
        );
        std::process::exit(2);
    }
    let n: usize = args[3].parse().unwrap_or(100);
    let stdin_bytes = args.get(4).map(|s| s.parse().unwrap_or_else(|_| die("bad STDIN-BYTES")));
    println!("{}", run(&args[1], &args[2], n, stdin_bytes));
}
