//! Fernet (the `cryptography` package's symmetric token format), used by the official server
//! to encrypt webhook secrets at rest (`MLFLOW_WEBHOOK_SECRET_ENCRYPTION_KEY`), so a database
//! shared with it stays readable by both.
//!
//! Token: `base64url(0x80 ‖ timestamp_be64 ‖ iv16 ‖ AES-128-CBC-PKCS7(ct) ‖ HMAC-SHA256)`, the
//! HMAC over everything before it. Key: `base64url(signing_key16 ‖ encryption_key16)`.

use aes::Aes128;
use base64::Engine;
use base64::engine::general_purpose::{URL_SAFE, URL_SAFE_NO_PAD};
use cbc::cipher::block_padding::Pkcs7;
use cbc::cipher::{BlockDecryptMut, BlockEncryptMut, KeyIvInit};
use hmac::{Hmac, Mac};
use mlflow_domain::{Error, Result};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;
const VERSION: u8 = 0x80;

/// A Fernet key.
#[derive(Clone)]
pub struct Fernet {
    signing: [u8; 16],
    encryption: [u8; 16],
}

impl std::fmt::Debug for Fernet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Fernet(..)")
    }
}

fn b64_decode(s: &str) -> Option<Vec<u8>> {
    let s = s.trim();
    URL_SAFE
        .decode(s)
        .or_else(|_| URL_SAFE_NO_PAD.decode(s.trim_end_matches('=')))
        .ok()
}

impl Fernet {
    /// Parses a url-safe base64 key of 32 bytes (what `Fernet.generate_key()` returns).
    pub fn new(key: &str) -> Result<Self> {
        let bytes = b64_decode(key).filter(|b| b.len() == 32).ok_or_else(|| {
            Error::invalid("Fernet key must be 32 url-safe base64-encoded bytes.")
        })?;
        let mut signing = [0u8; 16];
        let mut encryption = [0u8; 16];
        signing.copy_from_slice(&bytes[..16]);
        encryption.copy_from_slice(&bytes[16..]);
        Ok(Self {
            signing,
            encryption,
        })
    }

    /// A random key (the official server's behaviour when no key is configured).
    pub fn generate() -> Result<Self> {
        let mut bytes = [0u8; 32];
        getrandom::fill(&mut bytes)
            .map_err(|e| Error::internal(format!("no system randomness: {e}")))?;
        Self::new(&URL_SAFE.encode(bytes))
    }

    /// `Fernet.encrypt(plaintext)` as text.
    pub fn encrypt(&self, plaintext: &[u8]) -> Result<String> {
        let mut iv = [0u8; 16];
        getrandom::fill(&mut iv)
            .map_err(|e| Error::internal(format!("no system randomness: {e}")))?;
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        Ok(self.encrypt_with(plaintext, now, iv))
    }

    fn encrypt_with(&self, plaintext: &[u8], timestamp: u64, iv: [u8; 16]) -> String {
        let ct = cbc::Encryptor::<Aes128>::new(&self.encryption.into(), &iv.into())
            .encrypt_padded_vec_mut::<Pkcs7>(plaintext);
        let mut data = Vec::with_capacity(1 + 8 + 16 + ct.len() + 32);
        data.push(VERSION);
        data.extend_from_slice(&timestamp.to_be_bytes());
        data.extend_from_slice(&iv);
        data.extend_from_slice(&ct);
        let tag = self.mac(&data).finalize().into_bytes();
        data.extend_from_slice(&tag);
        URL_SAFE.encode(data)
    }

    fn mac(&self, data: &[u8]) -> HmacSha256 {
        // HMAC accepts keys of any length; 16 bytes cannot fail.
        let mut mac = match HmacSha256::new_from_slice(&self.signing) {
            Ok(m) => m,
            Err(_) => unreachable!("HMAC takes any key length"),
        };
        mac.update(data);
        mac
    }

    /// `Fernet.decrypt(token)` (no TTL check, as the official store).
    pub fn decrypt(&self, token: &str) -> Result<Vec<u8>> {
        let invalid = || Error::invalid("Invalid Fernet token (wrong key or corrupted data)");
        let data = b64_decode(token).ok_or_else(invalid)?;
        if data.len() < 1 + 8 + 16 + 16 + 32 || data[0] != VERSION {
            return Err(invalid());
        }
        let (body, tag) = data.split_at(data.len() - 32);
        self.mac(body).verify_slice(tag).map_err(|_| invalid())?;
        let iv: [u8; 16] = body[9..25].try_into().map_err(|_| invalid())?;
        let ct = &body[25..];
        if ct.len() % 16 != 0 {
            return Err(invalid());
        }
        cbc::Decryptor::<Aes128>::new(&self.encryption.into(), &iv.into())
            .decrypt_padded_vec_mut::<Pkcs7>(ct)
            .map_err(|_| invalid())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A token written by the official server (cryptography's Fernet) with this key.
    const KEY: &str = "Fh9oXQk9s3CXZ0V2ciQ6Kx4nZBIoVRVDj-mWPWwEODs=";
    const TOKEN: &str = "gAAAAABrAzGkaM3ee0PQb_wYIceDI6_p9o5Y3SbHslrzwhs3a4SHbrz7FA3JZdYr_k_ASmeNFaJS588H61zhWL2azA3pyEI-Hw==";

    #[test]
    fn reads_official_tokens() {
        let f = Fernet::new(KEY).unwrap();
        assert_eq!(f.decrypt(TOKEN).unwrap(), b"s3cr3t");
        let other = Fernet::generate().unwrap();
        assert!(other.decrypt(TOKEN).is_err());
    }

    #[test]
    fn round_trip() {
        let f = Fernet::new(KEY).unwrap();
        for pt in [
            &b""[..],
            b"x",
            b"sixteen bytes!!!",
            b"a longer secret with unicode \xc3\xa9",
        ] {
            let t = f.encrypt(pt).unwrap();
            assert!(t.starts_with("gAAAAA"));
            assert_eq!(f.decrypt(&t).unwrap(), pt);
        }
        // Deterministic vector (same layout as the cryptography package).
        let t = f.encrypt_with(b"hello", 0, [0u8; 16]);
        assert_eq!(f.decrypt(&t).unwrap(), b"hello");
        let mut tampered = b64_decode(&t).unwrap();
        tampered[30] ^= 1;
        assert!(f.decrypt(&URL_SAFE.encode(tampered)).is_err());
        assert!(Fernet::new("short").is_err());
    }
}
