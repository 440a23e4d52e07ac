//! ECDSA signature encodings: the raw `r || s` that Azure Key Vault, GCP's raw keys and
//! PKCS#11's `CKM_ECDSA` produce, and the ASN.1 DER `ECDSA-Sig-Value` that Go, cosign and the
//! protocol use (RFC 5480 section 2.2.3 / SEC 1 section C.5).

use crate::Error;

/// Converts a raw `r || s` signature (two big-endian integers of the curve's size each) to DER.
///
/// ```
/// use sigstore_kms_provider_kit::ecdsa::{der_to_raw, raw_to_der};
/// let raw = [[0u8; 31].as_slice(), &[1], &[0x80; 32]].concat(); // r = 1, s = 0x8080...
/// let der = raw_to_der(&raw)?;
/// assert_eq!(&der[..5], &[0x30, 0x26, 0x02, 0x01, 0x01]);
/// assert_eq!(der_to_raw(&der, 32)?, raw);
/// # Ok::<(), sigstore_kms_provider_kit::Error>(())
/// ```
pub fn raw_to_der(raw: &[u8]) -> Result<Vec<u8>, Error> {
    if raw.is_empty() || raw.len() % 2 != 0 || raw.len() > 2 * 66 {
        return Err(Error::new(format!(
            "a raw ECDSA signature is r || s of equal halves (64, 96 or 132 bytes), got {} bytes",
            raw.len()
        )));
    }
    let (r, s) = raw.split_at(raw.len() / 2);
    let (r, s) = (integer(r), integer(s));
    if r.len() <= 2 || s.len() <= 2 || r[2..] == [0] || s[2..] == [0] {
        return Err(Error::new("a raw ECDSA signature has r or s equal to zero"));
    }
    let mut out = Vec::with_capacity(r.len() + s.len() + 3);
    out.push(0x30);
    push_len(&mut out, r.len() + s.len());
    out.extend_from_slice(&r);
    out.extend_from_slice(&s);
    Ok(out)
}

/// Converts a DER `ECDSA-Sig-Value` to raw `r || s`, each left-padded to `size` bytes
/// (32 for P-256, 48 for P-384, 66 for P-521).
pub fn der_to_raw(der: &[u8], size: usize) -> Result<Vec<u8>, Error> {
    let bad = || Error::new("not an ASN.1 DER ECDSA signature (SEQUENCE of two INTEGERs)");
    let (tag, body, rest) = read_tlv(der).ok_or_else(bad)?;
    if tag != 0x30 || !rest.is_empty() {
        return Err(bad());
    }
    let (tag_r, r, after_r) = read_tlv(body).ok_or_else(bad)?;
    let (tag_s, s, after_s) = read_tlv(after_r).ok_or_else(bad)?;
    if tag_r != 0x02 || tag_s != 0x02 || !after_s.is_empty() {
        return Err(bad());
    }
    let mut out = Vec::with_capacity(2 * size);
    for v in [r, s] {
        // A positive INTEGER may carry one leading zero byte; it must fit in `size` bytes.
        let v = match v {
            [0, rest @ ..] if rest.first().is_some_and(|b| b & 0x80 != 0) => rest,
            [b, ..] if b & 0x80 != 0 => return Err(Error::new("the ECDSA signature has a negative integer")),
            v => v,
        };
        if v.len() > size {
            return Err(Error::new(format!("an ECDSA integer of {} bytes does not fit a {size}-byte curve", v.len())));
        }
        out.extend(std::iter::repeat_n(0u8, size - v.len()));
        out.extend_from_slice(v);
    }
    Ok(out)
}

/// The DER INTEGER (tag, length, minimal big-endian two's complement) of an unsigned value.
fn integer(bytes: &[u8]) -> Vec<u8> {
    let first = bytes.iter().position(|b| *b != 0).unwrap_or(bytes.len().saturating_sub(1));
    let v = &bytes[first..];
    let v = if v.is_empty() { &[0u8][..] } else { v };
    let pad = usize::from(v[0] & 0x80 != 0);
    let mut out = vec![0x02];
    push_len(&mut out, v.len() + pad);
    if pad == 1 {
        out.push(0);
    }
    out.extend_from_slice(v);
    out
}

fn push_len(out: &mut Vec<u8>, len: usize) {
    // ECDSA values stay below 256 bytes: short form, or long form with one length byte.
    if len < 0x80 {
        out.push(u8::try_from(len).unwrap_or(0x7f));
    } else {
        out.push(0x81);
        out.push(u8::try_from(len).unwrap_or(u8::MAX));
    }
}

/// Splits one DER TLV off `input`: (tag, value, rest). Only definite lengths up to 2 bytes.
fn read_tlv(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = input.split_first()?;
    let (&first, rest) = rest.split_first()?;
    let (len, rest) = match first {
        n if n < 0x80 => (usize::from(n), rest),
        0x81 => {
            let (&n, rest) = rest.split_first()?;
            (n >= 0x80).then_some((usize::from(n), rest))?
        }
        0x82 => {
            let n = usize::from(u16::from_be_bytes([*rest.first()?, *rest.get(1)?]));
            (n >= 0x100).then_some((n, rest.get(2..)?))?
        }
        _ => return None,
    };
    (rest.len() >= len).then(|| (tag, &rest[..len], &rest[len..]))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use p256::ecdsa::signature::hazmat::PrehashSigner;

    use super::*;

    #[test]
    fn real_signatures_round_trip() {
        for seed in 1u8..=40 {
            let key = p256::ecdsa::SigningKey::from_slice(&[seed; 32]).unwrap();
            let sig: p256::ecdsa::Signature = key.sign_prehash(&[seed; 32]).unwrap();
            let der = sig.to_der();
            assert_eq!(raw_to_der(&sig.to_bytes()).unwrap(), der.as_bytes(), "seed {seed}");
            assert_eq!(der_to_raw(der.as_bytes(), 32).unwrap(), &sig.to_bytes()[..]);
            let key = p384::ecdsa::SigningKey::from_slice(&[seed; 48]).unwrap();
            let sig: p384::ecdsa::Signature = key.sign_prehash(&[seed; 48]).unwrap();
            assert_eq!(raw_to_der(&sig.to_bytes()).unwrap(), sig.to_der().as_bytes());
            assert_eq!(der_to_raw(sig.to_der().as_bytes(), 48).unwrap(), &sig.to_bytes()[..]);
        }
        // P-521: 66-byte halves, a DER body over 127 bytes (long-form length).
        let raw = [vec![0x01], vec![0xff; 65], vec![0x01], vec![0xee; 65]].concat();
        let der = raw_to_der(&raw).unwrap();
        assert_eq!(&der[..3], &[0x30, 0x81, 0x88]);
        assert_eq!(der_to_raw(&der, 66).unwrap(), raw);
    }

    #[test]
    fn malformed_input_is_refused() {
        for raw in [&[][..], &[1, 2, 3], &[0; 64], &[1; 134]] {
            assert!(raw_to_der(raw).is_err(), "{raw:?}");
        }
        for der in
            [&[][..], &[0x30, 0x00], &[0x30, 0x03, 0x02, 0x01, 0x01], &[0x31, 0x06, 0x02, 0x01, 1, 0x02, 0x01, 1]]
        {
            assert!(der_to_raw(der, 32).is_err(), "{der:?}");
        }
        let trailing = [0x30, 0x06, 0x02, 0x01, 1, 0x02, 0x01, 1, 0];
        assert!(der_to_raw(&trailing, 32).is_err());
        let negative = [0x30, 0x06, 0x02, 0x01, 0x81, 0x02, 0x01, 1];
        assert!(der_to_raw(&negative, 32).unwrap_err().to_string().contains("negative"));
        let too_big = raw_to_der(&[[1u8; 48], [1u8; 48]].concat()).unwrap();
        assert!(der_to_raw(&too_big, 32).unwrap_err().to_string().contains("does not fit"));
    }
}
