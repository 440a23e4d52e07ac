//! The baseline of bench/node_overhead.mjs: a bare Rust spawn + wait of a plugin, N times in a
//! row, stdout piped and read, stdin and stderr as a host sets them. No dependencies: built
//! with `rustc -O`. Prints one JSON line with the per-call times in microseconds.
//!
//! Usage: spawn_baseline PROGRAM REQUEST-JSON N

use std::process::{Command, Stdio};
use std::time::Instant;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() != 4 {
        eprintln!("usage: spawn_baseline PROGRAM REQUEST-JSON N");
        std::process::exit(2);
    }
    let n: usize = args[3].parse().unwrap_or(100);
    let mut times = Vec::with_capacity(n);
    for _ in 0..n {
        let started = Instant::now();
        let out = Command::new(&args[1])
            .arg("v1")
            .arg(&args[2])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .output()
            .unwrap_or_else(|e| {
                eprintln!("spawn failed: {e}");
                std::process::exit(1)
            });
        assert!(!out.stdout.is_empty(), "the plugin answered nothing");
        times.push(started.elapsed().as_secs_f64() * 1e6);
    }
    let list: Vec<String> = times.iter().map(|t| format!("{t:.1}")).collect();
    println!("{{\"us\":[{}]}}", list.join(","));
}
