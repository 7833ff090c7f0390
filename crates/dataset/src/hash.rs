//! SHA-256 helpers (content hashes in the manifest, ids, fingerprints).

use std::io::Read;
use std::path::Path;

use sha2::{Digest, Sha256};

use crate::error::{DatasetError, Result};

/// Lowercase hex of a digest.
fn hex(digest: &[u8]) -> String {
    use std::fmt::Write;
    digest.iter().fold(String::with_capacity(64), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

/// SHA-256 of a byte string, 64 lowercase hex digits.
pub fn sha256_hex(data: &[u8]) -> String {
    hex(&Sha256::digest(data))
}

/// SHA-256 of a file's bytes, 64 lowercase hex digits.
///
/// # Errors
/// [`DatasetError::Io`] naming the file when it cannot be read.
pub fn sha256_file(path: &Path) -> Result<String> {
    let mut file = std::fs::File::open(path).map_err(|e| DatasetError::io(path, e))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = file.read(&mut buf).map_err(|e| DatasetError::io(path, e))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hex(&hasher.finalize()))
}

/// A 64-bit value derived from a string key (first 8 bytes of its SHA-256, big endian): used to
/// seed per-item random generators and order sources, independently of platform and run.
pub fn key_u64(key: &str) -> u64 {
    let d = Sha256::digest(key.as_bytes());
    u64::from_be_bytes([d[0], d[1], d[2], d[3], d[4], d[5], d[6], d[7]])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_digest() {
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(key_u64("abc"), 0xba78_16bf_8f01_cfea);
    }
}
