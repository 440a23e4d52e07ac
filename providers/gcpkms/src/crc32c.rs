//! CRC32C (Castagnoli), the checksum Cloud KMS puts on every request and response so that a
//! client can detect corruption in transit (<https://cloud.google.com/kms/docs/data-integrity-guidelines>).
//!
//! The inputs are tiny (a digest, a signature, a PEM block), so a byte-at-a-time table is
//! fast enough and keeps the plugin free of a dependency for it.

/// The reflected Castagnoli polynomial.
const POLY: u32 = 0x82F6_3B78;

const TABLE: [u32; 256] = {
    let mut table = [0u32; 256];
    let mut i = 0;
    while i < 256 {
        #[allow(clippy::cast_possible_truncation)] // i < 256
        let mut c = i as u32;
        let mut k = 0;
        while k < 8 {
            c = if c & 1 == 1 { (c >> 1) ^ POLY } else { c >> 1 };
            k += 1;
        }
        table[i] = c;
        i += 1;
    }
    table
};

/// The CRC32C of `data`.
#[must_use]
pub fn checksum(data: &[u8]) -> u32 {
    !data.iter().fold(!0u32, |c, &b| TABLE[((c ^ u32::from(b)) & 0xff) as usize] ^ (c >> 8))
}

#[cfg(test)]
mod tests {
    use super::checksum;

    #[test]
    fn known_values() {
        // RFC 3720 appendix B.4 and the usual check value.
        assert_eq!(checksum(b"123456789"), 0xE306_9283);
        assert_eq!(checksum(&[0u8; 32]), 0x8A91_36AA);
        assert_eq!(checksum(&[0xffu8; 32]), 0x62A8_AB43);
        assert_eq!(checksum(&(0u8..32).collect::<Vec<_>>()), 0x46DD_794E);
        assert_eq!(checksum(b""), 0);
    }
}
