//! Streaming a JavaScript `Readable` (or any async iterable of bytes) to a plugin's stdin.
//!
//! JavaScript pushes chunks into a [`MessageSink`]: a bounded queue of at most
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
use tokio::sync::mpsc;

/// How many chunks may wait in the queue.
pub const QUEUE_CHUNKS: usize = 8;

/// The sending half, held by JavaScript: push chunks, then `end()` (or `abort()`).
#[napi]
pub struct MessageSink {
    tx: Mutex<Option<mpsc::Sender<Vec<u8>>>>,
    rx: Mutex<Option<mpsc::Receiver<Vec<u8>>>>,
    aborted: Arc<Mutex<Option<String>>>,
}

impl Default for MessageSink {
    fn default() -> Self {
        Self::new()
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

#[napi]
impl MessageSink {
    /// An empty sink; hand it to one `sign*`/`verify*` call, then push the message into it.
    #[napi(constructor)]
    #[must_use]
    pub fn new() -> Self {
        let (tx, rx) = mpsc::channel(QUEUE_CHUNKS);
        MessageSink { tx: Mutex::new(Some(tx)), rx: Mutex::new(Some(rx)), aborted: Arc::new(Mutex::new(None)) }
    }

    /// Queues a copy of `chunk`. `false` means it was not queued: the queue is full (await
    /// `writable()` and push it again) or the sink is closed (see `closed`).
    #[napi]
    pub fn push(&self, chunk: Uint8Array) -> bool {
        let guard = lock(&self.tx);
        let Some(tx) = guard.as_ref() else { return false };
        tx.try_send(chunk.to_vec()).is_ok()
    }

    /// Resolves `true` once a chunk can be pushed, `false` if the sink is closed (the plugin
    /// finished without reading everything, or the call failed): stop pushing then.
    #[napi(ts_return_type = "Promise<boolean>")]
    pub fn writable<'e>(&self, env: &'e Env) -> napi::Result<PromiseRaw<'e, bool>> {
        let tx = lock(&self.tx).clone();
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
        lock(&self.tx).as_ref().is_none_or(mpsc::Sender::is_closed)
    }

    /// Ends the message: the reader sees end-of-file after the queued chunks.
    #[napi]
    pub fn end(&self) {
        lock(&self.tx).take();
    }

    /// Fails the message: the reader reports an error with `message` (the call then fails
    /// with `ERR_PLUGIN_EXEC`, and the plugin is killed).
    #[napi]
    pub fn abort(&self, message: String) {
        *lock(&self.aborted) = Some(message);
        lock(&self.tx).take();
    }
}

impl MessageSink {
    /// The reading half; `None` if this sink was already given to a call.
    pub fn take_reader(&self) -> Option<ChannelReader> {
        lock(&self.rx).take().map(|rx| ChannelReader {
            rx,
            chunk: Vec::new(),
            pos: 0,
            aborted: Arc::clone(&self.aborted),
        })
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
