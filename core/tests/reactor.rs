//! `Reactor`: many calls behind one descriptor, driven by a host loop that only watches that
//! descriptor (here a minimal one: `poll(2)` on it, then `dispatch`), as the Python and Node
//! bindings do with asyncio and libuv.
#![allow(clippy::unwrap_used, clippy::panic, missing_docs)]

mod common;

use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{fixture, fixture_options, live_children, open_fds, process_dead, sha256, PatternReader};
use sigstore_kms_plugins::{
    get_signer_verifier, Call, CallContext, ErrorKind, HandlerError, HashFunc, KmsHandler, Message, MessageOptions,
    PluginSignerVerifier, Reactor, Reply, Result, Route,
};

/// The tests count this process's children and descriptors: one at a time.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Runs the host loop until `done` says so (or `limit` passes): waits for the reactor's
/// descriptor, then dispatches.
fn run_until(reactor: &Reactor, limit: Duration, mut done: impl FnMut() -> bool) {
    let end = Instant::now() + limit;
    while !done() {
        assert!(Instant::now() < end, "the host loop timed out");
        let mut fd = libc::pollfd { fd: reactor.fd().as_raw_fd(), events: libc::POLLIN, revents: 0 };
        // SAFETY: one valid pollfd.
        unsafe { libc::poll(&raw mut fd, 1, 100) };
        if fd.revents != 0 {
            reactor.dispatch();
        }
    }
}

/// Submits `call` with `message` and returns a receiver of its result.
fn submit(reactor: &Reactor, sv: &PluginSignerVerifier, call: Call, message: Message) -> mpsc::Receiver<Result<Reply>> {
    let (tx, rx) = mpsc::channel();
    reactor.submit(sv.route(call, message), move |r| tx.send(r).unwrap());
    rx
}

fn wait(reactor: &Reactor, rx: &mpsc::Receiver<Result<Reply>>) -> Result<Reply> {
    let mut got = None;
    run_until(reactor, Duration::from_secs(30), || {
        if got.is_none() {
            got = rx.try_recv().ok();
        }
        got.is_some()
    });
    got.unwrap()
}

#[test]
fn many_calls_of_every_kind_behind_one_descriptor() {
    let _serial = serial();
    let reactor = Reactor::new().unwrap();
    let sv = fixture("fixture://k");
    // Warm up: the first call may set things up once (a worker thread, a child stack).
    wait(&reactor, &submit(&reactor, &sv, Call::DefaultAlgorithm, Message::empty())).unwrap();
    let fds = open_fds();
    let mut pending = Vec::new();
    for i in 0..16u8 {
        let msg = vec![i; 1000 * usize::from(i)];
        pending.push((
            Reply::DefaultAlgorithm("ecdsa-p256".into()),
            submit(&reactor, &sv, Call::DefaultAlgorithm, Message::empty()),
        ));
        pending.push((
            Reply::SignMessage(sha256(&msg)),
            submit(&reactor, &sv, Call::sign_message(), Message::from(msg.clone())),
        ));
        // A reader: the thread route, completing through the same descriptor.
        pending.push((
            Reply::SignMessage(sha256(&msg)),
            submit(&reactor, &sv, Call::sign_message(), Message::from_reader(std::io::Cursor::new(msg))),
        ));
        let digest = sha256(&[i]);
        let want = [b"digest:".as_slice(), &digest].concat();
        pending.push((
            Reply::SignMessage(want),
            submit(&reactor, &sv, Call::sign_digest(digest, HashFunc::Sha256), Message::empty()),
        ));
    }
    for (want, rx) in pending {
        assert_eq!(wait(&reactor, &rx).unwrap(), want);
    }
    assert!(reactor.is_empty());
    assert!(live_children().is_empty(), "{:?}", live_children());
    assert!(open_fds() <= fds, "descriptors leaked: {} > {fds}", open_fds());
}

#[test]
fn a_message_larger_than_the_pipe_and_a_timeout() {
    let _serial = serial();
    let reactor = Reactor::new().unwrap();
    let message: Vec<u8> = (0..8u32 << 20).map(|i| (i % 251) as u8).collect();
    let count =
        submit(&reactor, &fixture("fixture://stdin-count"), Call::sign_message(), Message::from(message.clone()));
    let hang = get_signer_verifier("hang://k", fixture_options().timeout(Some(Duration::from_millis(300)))).unwrap();
    let started = Instant::now();
    let timed_out = submit(&reactor, &hang, Call::DefaultAlgorithm, Message::empty());
    assert_eq!(wait(&reactor, &count).unwrap(), Reply::SignMessage(message.len().to_string().into_bytes()));
    let err = wait(&reactor, &timed_out).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Timeout, "{err}");
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[test]
fn completions_run_from_dispatch_and_may_submit_more() {
    let _serial = serial();
    let reactor = Arc::new(Reactor::new().unwrap());
    let sv = fixture("fixture://k");
    // A call that cannot start completes at the next dispatch, not inside submit.
    let (tx, rx) = mpsc::channel();
    let noshebang = fixture("noshebang://k");
    reactor.submit(noshebang.route(Call::DefaultAlgorithm, Message::empty()), move |r| tx.send(r).unwrap());
    assert!(rx.try_recv().is_err(), "no completion inside submit");
    assert_eq!(wait(&reactor, &rx).unwrap_err().kind(), ErrorKind::Exec);
    // A completion that submits the next call.
    let (tx, rx) = mpsc::channel();
    let again = Arc::clone(&reactor);
    let sv2 = sv.clone();
    reactor.submit(sv.route(Call::DefaultAlgorithm, Message::empty()), move |first| {
        assert!(first.is_ok());
        again.submit(sv2.route(Call::PublicKey, Message::empty()), move |second| tx.send(second).unwrap());
    });
    assert!(matches!(wait(&reactor, &rx).unwrap(), Reply::PublicKey(_)));
}

#[test]
fn cancel_kills_the_plugin_and_drops_the_completion() {
    let _serial = serial();
    let reactor = Reactor::new().unwrap();
    let hang = get_signer_verifier("hang://k", fixture_options().timeout(None)).unwrap();
    let called = Arc::new(AtomicUsize::new(0));
    let c = Arc::clone(&called);
    let id = reactor.submit(hang.route(Call::DefaultAlgorithm, Message::empty()), move |_| {
        c.fetch_add(1, Ordering::SeqCst);
    });
    run_until(&reactor, Duration::from_secs(5), || live_children().len() == 1);
    let pid = live_children()[0];
    assert!(reactor.cancel(id));
    assert!(process_dead(pid), "killed and reaped before cancel returned");
    assert!(!reactor.cancel(id), "cancelled once");
    reactor.dispatch();
    assert_eq!(called.load(Ordering::SeqCst), 0);
}

#[test]
fn dropping_the_reactor_ends_every_call_thread_calls_included() {
    let _serial = serial();
    let hang = get_signer_verifier("hang://k", fixture_options().timeout(None)).unwrap();
    let reactor = Reactor::new().unwrap();
    for _ in 0..3 {
        reactor.submit(hang.route(Call::DefaultAlgorithm, Message::empty()), |_| {});
        // A streamed message: a thread call (the plugin never reads it).
        let reader = Message::from_reader(PatternReader { left: 1 << 20 });
        reactor.submit(hang.route(Call::sign_message(), reader), |_| {});
    }
    run_until(&reactor, Duration::from_secs(10), || live_children().len() == 6);
    drop(reactor);
    let end = Instant::now() + Duration::from_secs(5);
    while !live_children().is_empty() {
        assert!(Instant::now() < end, "plugins still running: {:?}", live_children());
        std::thread::sleep(Duration::from_millis(20));
    }
}

struct Echo;

impl KmsHandler for Echo {
    fn default_algorithm(&self, ctx: &CallContext) -> std::result::Result<String, HandlerError> {
        Ok(format!("echo:{}", ctx.key_resource_id))
    }
    fn supported_algorithms(&self, _: &CallContext) -> std::result::Result<Vec<String>, HandlerError> {
        Err(HandlerError::with_source("no list", std::io::Error::other("the cause")))
    }
    fn create_key(&self, _: &CallContext, _: &str) -> std::result::Result<String, HandlerError> {
        Err("no".into())
    }
    fn public_key(&self, _: &CallContext) -> std::result::Result<String, HandlerError> {
        Err("no".into())
    }
    fn sign_message(
        &self,
        _: &CallContext,
        message: &mut dyn std::io::Read,
        _: &MessageOptions,
    ) -> std::result::Result<Vec<u8>, HandlerError> {
        let mut data = Vec::new();
        message.read_to_end(&mut data)?;
        Ok(data)
    }
    fn verify_signature(
        &self,
        _: &CallContext,
        _: &[u8],
        _: &mut dyn std::io::Read,
        _: &MessageOptions,
    ) -> std::result::Result<(), HandlerError> {
        Ok(())
    }
}

#[test]
fn a_handler_given_directly_runs_on_a_thread_and_keeps_its_error_source() {
    let _serial = serial();
    let sv = PluginSignerVerifier::with_handler("echo://key", Arc::new(Echo), fixture_options()).unwrap();
    assert!(matches!(sv.route(Call::DefaultAlgorithm, Message::empty()), Route::Thread(_)));
    let reactor = Reactor::new().unwrap();
    let got = wait(&reactor, &submit(&reactor, &sv, Call::DefaultAlgorithm, Message::empty())).unwrap();
    assert_eq!(got, Reply::DefaultAlgorithm("echo:key".into()));
    let got = wait(&reactor, &submit(&reactor, &sv, Call::sign_message(), Message::from(b"abc".to_vec()))).unwrap();
    assert_eq!(got, Reply::SignMessage(b"abc".to_vec()));
    let err = wait(&reactor, &submit(&reactor, &sv, Call::SupportedAlgorithms, Message::empty())).unwrap_err();
    assert_eq!((err.kind(), err.plugin_message()), (ErrorKind::PluginReturned, Some("no list")));
    assert_eq!(std::error::Error::source(&err).unwrap().to_string(), "the cause");
    assert_eq!(err.handler_source().unwrap().to_string(), "the cause");
}
