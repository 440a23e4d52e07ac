//! [`Message`]: what `signMessage` and `verifySignature` send on the plugin's stdin.

use std::fmt;
use std::io::{self, Read};
use std::path::Path;

/// A message held in memory, as it is written to a plugin's stdin.
pub(crate) type InMemory = Box<dyn AsRef<[u8]> + Send>;

/// A message to sign or verify: bytes in memory, any reader, or a file; or none.
///
/// Bytes in memory are written as the plugin's pipe takes them, and need no thread: a call
/// with such a message (or none) can be driven by an event loop ([`crate::Route`]). Readers and
/// files are streamed in fixed-size chunks, never read whole, on a thread (a read could block
/// an event loop).
pub struct Message(pub(crate) Body);

pub(crate) enum Body {
    /// No message: an empty one for the methods that take one.
    Empty,
    Bytes(InMemory),
    Reader(Box<dyn Read + Send>),
}

impl Message {
    /// No message (an empty one, for `signMessage` and `verifySignature`).
    #[must_use]
    pub fn empty() -> Self {
        Message(Body::Empty)
    }

    /// A message held in memory, used in place (not copied).
    pub fn from_bytes(bytes: impl AsRef<[u8]> + Send + 'static) -> Self {
        Message(Body::Bytes(Box::new(bytes)))
    }

    /// A message read from `reader` as it is sent.
    pub fn from_reader(reader: impl Read + Send + 'static) -> Self {
        Message(Body::Reader(Box::new(reader)))
    }

    /// A message read from the file at `path` (opened now, so a missing file is reported
    /// before any plugin runs).
    pub fn from_path(path: impl AsRef<Path>) -> io::Result<Self> {
        Ok(Message::from_reader(std::fs::File::open(path)?))
    }

    /// Whether the message is in memory (or there is none): what an event loop can send.
    #[must_use]
    pub fn is_in_memory(&self) -> bool {
        !matches!(self.0, Body::Reader(_))
    }
}

impl Default for Message {
    fn default() -> Self {
        Message::empty()
    }
}

impl fmt::Debug for Message {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            Body::Empty => f.write_str("Message(empty)"),
            Body::Bytes(b) => write!(f, "Message({} bytes)", (**b).as_ref().len()),
            Body::Reader(_) => f.write_str("Message(reader)"),
        }
    }
}

impl From<Vec<u8>> for Message {
    fn from(b: Vec<u8>) -> Self {
        Message::from_bytes(b)
    }
}

impl From<&[u8]> for Message {
    fn from(b: &[u8]) -> Self {
        Message::from_bytes(b.to_vec())
    }
}

impl From<&str> for Message {
    fn from(s: &str) -> Self {
        Message::from_bytes(s.as_bytes().to_vec())
    }
}

impl From<String> for Message {
    fn from(s: String) -> Self {
        Message::from_bytes(s.into_bytes())
    }
}

impl From<std::fs::File> for Message {
    fn from(f: std::fs::File) -> Self {
        Message::from_reader(f)
    }
}
