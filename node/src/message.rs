//! A JavaScript message as the core's [`Message`]: bytes (copied from the caller's buffer), a
//! file (opened now, streamed from disk), or a `Readable` (or any async iterable of bytes) fed
//! through a [`MessageSink`].
//!
//! JavaScript pushes a stream's chunks into a [`MessageSink`]: a bounded queue of at most
//! [`QUEUE_CHUNKS`] chunks (JavaScript cuts chunks to at most 256 KiB), so the memory in flight
//! stays flat whatever the message size. When the queue is full, `push` returns `false` and
//! JavaScript awaits `writable()` before pushing again: that is the backpressure, and the
//! JavaScript thread never blocks. The plugin side reads the queue through a [`ChannelReader`],
//! a blocking [`std::io::Read`] used on the worker thread that feeds the plugin's stdin.

use std::io::{self, Read};
use std::sync::{Arc, Mutex, PoisonError};

use napi::bindgen_prelude::{PromiseRaw, Uint8Array};
use napi::Env;
use napi_derive::napi;
use sigstore_kms_plugins::Message;
use tokio::sync::mpsc;

/// How many chunks may wait in the queue.
pub const QUEUE_CHUNKS: usize = 8;

/// A message in memory (a copy: the caller may reuse its buffer).
#[must_use]
pub fn from_bytes(data: &Uint8Array) -> Message {
    Message::from_bytes(data.to_vec())
}

/// The file at `path`, opened now (so a missing file is reported as `fs` reports it, before any
/// plugin runs).
pub fn from_path(env: &Env, path: &str) -> napi::Result<Message> {
    Message::from_path(path).map_err(|e| crate::error::io_to_js(env, &e, "open", path))
}

/// A sink's sending side, shared with the environment's teardown (which closes it). The reader
/// holds only the abort reason: once JavaScript drops the sink, the queue ends.
pub struct SinkShared {
    tx: Mutex<Option<mpsc::Sender<Vec<u8>>>>,
    aborted: Arc<Mutex<Option<String>>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl SinkShared {
    /// Fails the message: its reader reports an error with `message` (the call then fails with
    /// `ERR_PLUGIN_EXEC`, and the plugin is killed).
    pub fn abort(&self, message: &str) {
        *lock(&self.aborted) = Some(message.to_owned());
        lock(&self.tx).take();
    }
}

/// The sending half, held by JavaScript: push chunks, then `end()` (or `abort()`).
#[napi]
pub struct MessageSink {
    shared: Arc<SinkShared>,
    rx: Mutex<Option<mpsc::Receiver<Vec<u8>>>>,
}

impl Default for MessageSink {
    fn default() -> Self {
        Self::new()
    }
}

#[napi]
impl MessageSink {
    /// An empty sink; hand it to one `sign*`/`verify*` call, then push the message into it.
    #[napi(constructor)]
    #[must_use]
    pub fn new() -> Self {
        let (tx, rx) = mpsc::channel(QUEUE_CHUNKS);
        let shared = Arc::new(SinkShared { tx: Mutex::new(Some(tx)), aborted: Arc::new(Mutex::new(None)) });
        MessageSink { shared, rx: Mutex::new(Some(rx)) }
    }

    /// Queues a copy of `chunk`. `false` means it was not queued: the queue is full (await
    /// `writable()` and push it again) or the sink is closed (see `closed`).
    #[napi]
    pub fn push(&self, chunk: Uint8Array) -> bool {
        let guard = lock(&self.shared.tx);
        let Some(tx) = guard.as_ref() else { return false };
        tx.try_send(chunk.to_vec()).is_ok()
    }

    /// Resolves `true` once a chunk can be pushed, `false` if the sink is closed (the plugin
    /// finished without reading everything, or the call failed): stop pushing then.
    #[napi(ts_return_type = "Promise<boolean>")]
    pub fn writable<'e>(&self, env: &'e Env) -> napi::Result<PromiseRaw<'e, bool>> {
        let tx = lock(&self.shared.tx).clone();
        env.spawn_future(async move {
            Ok(match tx {
                Some(tx) => tx.reserve().await.is_ok(),
                None => false,
            })
        })
    }

    /// Whether nothing more can be pushed: ended, aborted, or the reading side is gone.
    #[napi(getter)]
    pub fn closed(&self) -> bool {
        lock(&self.shared.tx).as_ref().is_none_or(mpsc::Sender::is_closed)
    }

    /// Ends the message: the reader sees end-of-file after the queued chunks.
    #[napi]
    pub fn end(&self) {
        lock(&self.shared.tx).take();
    }

    /// Fails the message: the reader reports an error with `message` (the call then fails
    /// with `ERR_PLUGIN_EXEC`, and the plugin is killed).
    #[napi]
    pub fn abort(&self, message: String) {
        self.shared.abort(&message);
    }
}

impl MessageSink {
    /// The message read from this sink (closed if the environment goes away while a call reads
    /// it); `None` if this sink was already given to a call.
    pub fn take_message(&self, env: &Env) -> napi::Result<Option<Message>> {
        let Some(rx) = lock(&self.rx).take() else { return Ok(None) };
        crate::reactor::track_sink(env, Arc::downgrade(&self.shared))?;
        let reader = ChannelReader { rx, chunk: Vec::new(), pos: 0, aborted: Arc::clone(&self.shared.aborted) };
        Ok(Some(Message::from_reader(reader)))
    }
}

/// A blocking reader over the sink's queue. Dropping it closes the sink.
pub struct ChannelReader {
    rx: mpsc::Receiver<Vec<u8>>,
    chunk: Vec<u8>,
    pos: usize,
    aborted: Arc<Mutex<Option<String>>>,
}

impl ChannelReader {
    fn abort_error(&self) -> Option<io::Error> {
        lock(&self.aborted).as_ref().map(|m| io::Error::other(format!("the message stream failed: {m}")))
    }
}

impl Read for ChannelReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.pos == self.chunk.len() {
            if let Some(e) = self.abort_error() {
                return Err(e);
            }
            match self.rx.blocking_recv() {
                Some(chunk) => {
                    self.chunk = chunk;
                    self.pos = 0;
                }
                None => return self.abort_error().map_or(Ok(0), Err),
            }
        }
        let n = buf.len().min(self.chunk.len() - self.pos);
        buf[..n].copy_from_slice(&self.chunk[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}
