//! A Python message (what `sign_message` and `verify_signature` take) as a streamed reader.
//!
//! | Python value | How it is read |
//! |---|---|
//! | `bytes` | in place, without a copy and without the GIL (bytes are immutable) |
//! | `bytearray`, `memoryview`, other buffers | copied once (they could change while we read) |
//! | `os.PathLike` (`pathlib.Path`) | opened and read here, without the GIL |
//! | binary file with a real `fileno()`, seekable | the descriptor is duplicated and read with `pread` from the file object's position, without the GIL; the object is then positioned after what was read |
//! | unbuffered binary file (`io.FileIO`, `buffering=0`) with `fileno()`, not seekable (a pipe) | the duplicated descriptor is read without the GIL |
//! | any other object with `read()` (`io.BytesIO`, `sys.stdin.buffer`, sockets' files, ...) | `read(1 MiB)` chunks, re-acquiring the GIL per chunk |
//!
//! Nothing is read whole into memory except the buffers that are copied. An exception raised by
//! a file object's `read` is kept and re-raised to the caller instead of the plugin error it
//! causes.
//!
//! The messages held in memory (`bytes`, copied buffers) become the core's in-memory messages
//! ([`PyMessage::into_core`]): an awaited call writes them from the event loop itself, since
//! writing them never blocks. The others are read on a worker thread of the core's reactor.

use std::fs::File;
use std::io::{self, Read};
use std::os::fd::{AsRawFd, BorrowedFd};
use std::os::unix::fs::FileExt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::{PyByteArray, PyBytes, PyMemoryView, PyString};

/// Bytes read from a Python file object per call of its `read`.
const PY_CHUNK: usize = 1 << 20;

/// What happened while a message was read, for the caller to act on once the call is over.
#[derive(Default)]
pub struct MessageState {
    /// The exception a Python `read()` raised.
    error: Mutex<Option<PyErr>>,
    /// The file object read with `pread`, and the position it was at.
    file_object: Option<(Py<PyAny>, u64)>,
    /// Bytes read through `pread`.
    consumed: AtomicU64,
}

impl MessageState {
    /// After the call: re-raises the exception a Python `read()` raised, and moves a file object
    /// read with `pread` past the bytes that were read (as if they had been read through it).
    pub fn after_call(&self, py: Python<'_>) -> PyResult<()> {
        if let Some(err) = self.error.lock().unwrap_or_else(PoisonError::into_inner).take() {
            return Err(err);
        }
        if let Some((obj, start)) = &self.file_object {
            obj.bind(py).call_method1("seek", (start + self.consumed.load(Ordering::Relaxed),))?;
        }
        Ok(())
    }

    fn keep_error(&self, err: PyErr) -> io::Error {
        let io_error = Python::attach(|py| crate::error::to_io_error(py, &err));
        *self.error.lock().unwrap_or_else(PoisonError::into_inner) = Some(err);
        io_error
    }
}

/// A message to stream to a plugin (see the module docs).
pub struct PyMessage {
    body: Body,
    state: Arc<MessageState>,
}

enum Body {
    /// An immutable `bytes` object, read in place.
    Bytes(BytesView),
    /// A copy of a mutable buffer.
    Owned(io::Cursor<Vec<u8>>),
    /// A file read sequentially (opened from a path, or a duplicated descriptor of a pipe).
    File(File),
    /// A duplicated descriptor read with `pread` from `offset`.
    FileAt { file: File, offset: u64 },
    /// A Python file object read through its `read` method.
    Python { obj: Py<PyAny>, pending: Vec<u8>, start: usize, eof: bool },
}

/// The contents of a `bytes` object, readable without the GIL.
pub struct BytesView {
    /// Keeps the object, and so its buffer, alive.
    _owner: Py<PyBytes>,
    ptr: *const u8,
    len: usize,
    pos: usize,
}

// SAFETY: a `bytes` object is immutable and its buffer never moves while `_owner` holds a
// reference to it, so reading `ptr..ptr+len` from any thread, without the GIL, is sound.
unsafe impl Send for BytesView {}

impl BytesView {
    fn new(bytes: &Bound<'_, PyBytes>) -> Self {
        let slice = bytes.as_bytes();
        BytesView { _owner: bytes.clone().unbind(), ptr: slice.as_ptr(), len: slice.len(), pos: 0 }
    }

    fn as_slice(&self) -> &[u8] {
        // SAFETY: see `unsafe impl Send`: the buffer is alive and immutable for our lifetime.
        unsafe { std::slice::from_raw_parts(self.ptr, self.len) }
    }
}

impl PyMessage {
    /// The message for `data` (see the module docs for what is accepted).
    pub fn from_py(data: &Bound<'_, PyAny>) -> PyResult<PyMessage> {
        let py = data.py();
        let plain = |body| Ok(PyMessage { body, state: Arc::new(MessageState::default()) });
        if let Ok(bytes) = data.cast::<PyBytes>() {
            return plain(Body::Bytes(BytesView::new(bytes)));
        }
        if let Ok(array) = data.cast::<PyByteArray>() {
            return plain(Body::Owned(io::Cursor::new(array.to_vec())));
        }
        if data.is_instance_of::<PyString>() {
            return Err(PyTypeError::new_err(
                "the message must be bytes, a binary file object or a path-like object, not str: \
                 encode text first (s.encode()), or pass pathlib.Path(s) to sign a file",
            ));
        }
        if data.is_instance_of::<PyMemoryView>() {
            return plain(Body::Owned(io::Cursor::new(copy_buffer(data)?)));
        }
        if data.hasattr("__fspath__")? {
            let path: std::path::PathBuf = data.extract()?;
            // Like Python's open(): a directory is refused now, not when first read.
            let opened = py.detach(|| {
                let file = File::open(&path)?;
                if file.metadata()?.is_dir() {
                    // Reading a directory fails with the OS's own error (EISDIR), which Python
                    // turns into IsADirectoryError, as its open() does.
                    return Err((&file)
                        .read(&mut [0u8; 1])
                        .err()
                        .unwrap_or_else(|| io::ErrorKind::IsADirectory.into()));
                }
                Ok(file)
            });
            return match opened {
                Ok(file) => plain(Body::File(file)),
                Err(e) => Err(crate::error::os_error(&e, Some(&path))),
            };
        }
        if data.hasattr("read")? {
            let io_module = py.import("io")?;
            if data.is_instance(&io_module.getattr("TextIOBase")?)? {
                return Err(PyTypeError::new_err(
                    "the message file is open in text mode: open it in binary mode (\"rb\")",
                ));
            }
            if let Some(message) = from_descriptor(data, &io_module)? {
                return Ok(message);
            }
            return plain(Body::Python { obj: data.clone().unbind(), pending: Vec::new(), start: 0, eof: false });
        }
        // Any other object exporting a buffer (array.array, numpy arrays, mmap, ...).
        if let Ok(bytes) = copy_buffer(data) {
            return plain(Body::Owned(io::Cursor::new(bytes)));
        }
        Err(PyTypeError::new_err(format!(
            "the message must be bytes, a binary file object or a path-like object, not {}",
            data.get_type().name()?
        )))
    }

    /// What the caller checks once the call is over.
    #[must_use]
    pub fn state(&self) -> Arc<MessageState> {
        Arc::clone(&self.state)
    }

    /// The message as the core takes it: bytes in memory (a `bytes` object read in place, or a
    /// copied buffer), which an event loop can send, or this reader, which needs a thread.
    #[must_use]
    pub fn into_core(self) -> sigstore_kms_plugins::Message {
        match self.body {
            Body::Bytes(view) => sigstore_kms_plugins::Message::from_bytes(view),
            Body::Owned(cursor) => sigstore_kms_plugins::Message::from_bytes(cursor.into_inner()),
            body => sigstore_kms_plugins::Message::from_reader(PyMessage { body, state: self.state }),
        }
    }
}

impl AsRef<[u8]> for BytesView {
    fn as_ref(&self) -> &[u8] {
        self.as_slice().get(self.pos..).unwrap_or_default()
    }
}

/// A copy of the contents of an object exporting a buffer (`memoryview(data).tobytes()`: unlike
/// `bytes(data)`, this refuses integers and iterables).
pub fn copy_buffer(data: &Bound<'_, PyAny>) -> PyResult<Vec<u8>> {
    let view = PyMemoryView::from(data)?;
    let copied = view.call_method0("tobytes")?;
    Ok(copied.cast::<PyBytes>()?.as_bytes().to_vec())
}

/// A file object with a real descriptor, read without the GIL: seekable ones with `pread` from
/// their logical position (which accounts for what a buffered reader has read ahead), pipes only
/// when unbuffered (a buffered reader may hold bytes read ahead that the descriptor no longer
/// has). `None` when the object must be read through its `read` method.
fn from_descriptor(obj: &Bound<'_, PyAny>, io_module: &Bound<'_, PyModule>) -> PyResult<Option<PyMessage>> {
    let Ok(fd) = obj.call_method0("fileno").and_then(|f| f.extract::<i32>()) else { return Ok(None) };
    if fd < 0 {
        return Ok(None);
    }
    let seekable = obj.call_method0("seekable").and_then(|s| s.is_truthy()).unwrap_or(false);
    let unbuffered = obj.is_instance(&io_module.getattr("RawIOBase")?)?;
    if !seekable && !unbuffered {
        return Ok(None);
    }
    // SAFETY: `fd` is the descriptor of `obj`, open for the duration of this call; we only
    // duplicate it (with FD_CLOEXEC) and own the duplicate.
    let file = File::from(
        unsafe { BorrowedFd::borrow_raw(fd) }.try_clone_to_owned().map_err(|e| crate::error::os_error(&e, None))?,
    );
    debug_assert!(file.as_raw_fd() != fd);
    if seekable {
        let offset: u64 = obj.call_method0("tell")?.extract()?;
        let state = MessageState { file_object: Some((obj.clone().unbind(), offset)), ..MessageState::default() };
        Ok(Some(PyMessage { body: Body::FileAt { file, offset }, state: Arc::new(state) }))
    } else {
        Ok(Some(PyMessage { body: Body::File(file), state: Arc::new(MessageState::default()) }))
    }
}

impl Read for PyMessage {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        match &mut self.body {
            Body::Bytes(view) => {
                let rest = &view.as_slice()[view.pos..];
                let n = rest.len().min(out.len());
                out[..n].copy_from_slice(&rest[..n]);
                view.pos += n;
                Ok(n)
            }
            Body::Owned(cursor) => cursor.read(out),
            Body::File(file) => file.read(out),
            Body::FileAt { file, offset } => {
                let n = file.read_at(out, *offset)?;
                *offset += n as u64;
                self.state.consumed.fetch_add(n as u64, Ordering::Relaxed);
                Ok(n)
            }
            Body::Python { obj, pending, start, eof } => {
                if *start == pending.len() {
                    if *eof {
                        return Ok(0);
                    }
                    let chunk = Python::attach(|py| read_chunk(obj.bind(py)));
                    match chunk {
                        Ok(bytes) => {
                            *eof = bytes.is_empty();
                            *pending = bytes;
                            *start = 0;
                        }
                        Err(e) => return Err(self.state.keep_error(e)),
                    }
                }
                let n = (pending.len() - *start).min(out.len());
                out[..n].copy_from_slice(&pending[*start..*start + n]);
                *start += n;
                Ok(n)
            }
        }
    }
}

/// One `read(PY_CHUNK)` of a Python file object, checked to be bytes.
fn read_chunk(obj: &Bound<'_, PyAny>) -> PyResult<Vec<u8>> {
    let chunk = obj.call_method1("read", (PY_CHUNK,))?;
    if let Ok(bytes) = chunk.cast::<PyBytes>() {
        return Ok(bytes.as_bytes().to_vec());
    }
    if chunk.is_none() {
        return Err(PyTypeError::new_err(
            "the message file's read() returned None (a non-blocking file with no data ready): use a blocking file",
        ));
    }
    if chunk.is_instance_of::<PyString>() {
        return Err(PyTypeError::new_err("the message file returned str: open it in binary mode (\"rb\")"));
    }
    copy_buffer(&chunk).map_err(|_| {
        PyTypeError::new_err(format!(
            "the message file's read() must return bytes, not {}",
            chunk.get_type().name().map(|n| n.to_string()).unwrap_or_default()
        ))
    })
}
