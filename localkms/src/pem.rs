//! A lenient PEM reader: the first block of a text, like Go's `pem.Decode`.

use crate::Error;

/// One decoded PEM block.
pub(crate) struct Block {
    /// The label, e.g. `PRIVATE KEY`.
    pub label: String,
    /// The decoded body.
    pub der: Vec<u8>,
    /// Whether a `Proc-Type: 4,ENCRYPTED` header marks it as legacy-encrypted.
    pub encrypted: bool,
}

/// Finds and decodes the first PEM block of `text`; text before it and after it is ignored.
pub(crate) fn first_block(text: &[u8]) -> Result<Block, Error> {
    let text = String::from_utf8_lossy(text);
    let start = text.find("-----BEGIN ").ok_or_else(|| Error::new("no PEM block found (no \"-----BEGIN\" line)"))?;
    let rest = &text[start + "-----BEGIN ".len()..];
    let label_end = rest.find("-----").ok_or_else(|| Error::new("malformed PEM \"-----BEGIN\" line"))?;
    let label = rest[..label_end].to_owned();
    let after = &rest[label_end + "-----".len()..];
    let end_marker = format!("-----END {label}-----");
    let end = after.find(&end_marker).ok_or_else(|| Error::new(format!("no \"{end_marker}\" line")))?;
    let mut encrypted = false;
    let mut body = String::new();
    for line in after[..end].lines() {
        if let Some((name, value)) = line.split_once(':') {
            encrypted |= name.trim() == "Proc-Type" && value.contains("ENCRYPTED");
            continue;
        }
        body.extend(line.chars().filter(|c| !c.is_whitespace()));
    }
    let der = crate::keys::base64_lenient(body.as_bytes())
        .ok_or_else(|| Error::new(format!("the {label} PEM block holds invalid base64")))?;
    Ok(Block { label, der, encrypted })
}
