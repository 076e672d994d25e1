//! Checksums: stamping a page before it is written ([`seal`]) and checking it after it is read
//! ([`verify`]).
//!
//! [`verify`] documents the order of its checks.

use crate::error::{Error, Result};
use crate::header::{
    CHECKSUM_OFFSET, CHECKSUMMED_FROM, FORMAT_VERSION, MAGIC_OFFSET, PAGE_MAGIC, PAGE_SIZE,
    PageHeader, PageId, RawHeader, stored_checksum, stored_magic,
};

/// CRC32C (Castagnoli, CRC-32/ISCSI) of `bytes`, hardware accelerated where the CPU allows.
///
/// ```
/// assert_eq!(jdb_layout::checksum(b"123456789"), 0xE306_9283);
/// ```
pub fn checksum(bytes: &[u8]) -> u32 {
    crc_fast::crc32_iscsi(bytes)
}

/// The checksum `page` should carry: CRC32C of bytes 4..4096. Errors with
/// [`Error::BadLength`] unless `page` is exactly [`PAGE_SIZE`] bytes.
pub fn page_checksum(page: &[u8]) -> Result<u32> {
    match page.get(CHECKSUMMED_FROM..) {
        Some(covered) if page.len() == PAGE_SIZE => Ok(checksum(covered)),
        _ => Err(Error::BadLength { len: page.len() }),
    }
}

/// True if every byte of `page` is zero (a page that was allocated but never written).
pub fn is_all_zero(page: &[u8]) -> bool {
    // OR-folding fixed-size chunks lets the compiler vectorise the inner loop.
    let mut chunks = page.chunks_exact(64);
    let body_zero = chunks
        .by_ref()
        .all(|chunk| chunk.iter().fold(0u8, |acc, &byte| acc | byte) == 0);
    body_zero && chunks.remainder().iter().all(|&byte| byte == 0)
}

/// Stamps the checksum of a complete page: bytes 0..4 become the CRC32C of bytes 4..4096.
///
/// Write the header with [`PageHeader::encode`] first. Errors with [`Error::BadLength`] unless
/// `page` is exactly [`PAGE_SIZE`] bytes.
pub fn seal(page: &mut [u8]) -> Result<()> {
    let sum = page_checksum(page)?;
    page[CHECKSUM_OFFSET..CHECKSUMMED_FROM].copy_from_slice(&sum.to_le_bytes());
    Ok(())
}

/// Checks that `page` is an intact jdb page with id `expected_id` and returns its header.
///
/// Checks, in this order, stopping at the first failure:
///
/// 1. length is [`PAGE_SIZE`] — else [`Error::BadLength`];
/// 2. not every byte is zero — else [`Error::NeverWritten`];
/// 3. magic is `b"JDBP"` — else [`Error::Foreign`]: the bytes are not a jdb page (usually the
///    checksum is wrong too; a page with a good checksum but no magic is not ours either);
/// 4. stored checksum == CRC32C of bytes 4..4096 — else [`Error::ChecksumMismatch`];
/// 5. version is [`FORMAT_VERSION`] — else [`Error::UnsupportedVersion`];
/// 6. page id is `expected_id` — else [`Error::Misdirected`];
/// 7. page-type byte is not 0 — else [`Error::BadPageType`].
///
/// So a single flipped bit anywhere in a sealed page is always caught: in the magic as
/// `Foreign`, anywhere else as `ChecksumMismatch`.
pub fn verify(page: &[u8], expected_id: PageId) -> Result<PageHeader> {
    let computed = page_checksum(page)?;
    let magic = stored_magic(page)?;
    // A page carrying the magic is not all zero (the magic's bytes are not), so check 2 scans
    // the page only when the magic is missing: a valid page is read once, by the checksum.
    if magic != PAGE_MAGIC && is_all_zero(page) {
        return Err(Error::NeverWritten { page: expected_id });
    }
    let stored = stored_checksum(page)?;
    if magic != PAGE_MAGIC {
        return Err(Error::Foreign {
            page: expected_id,
            magic,
        });
    }
    if stored != computed {
        return Err(Error::ChecksumMismatch {
            page: expected_id,
            stored,
            computed,
        });
    }
    let raw = RawHeader::decode(page)?;
    if raw.version != FORMAT_VERSION {
        return Err(Error::UnsupportedVersion {
            page: expected_id,
            version: raw.version,
        });
    }
    if raw.page_id != expected_id {
        return Err(Error::Misdirected {
            expected: expected_id,
            found: raw.page_id,
        });
    }
    PageHeader::decode(page)
}

/// Whether `page` is a sealed jdb page whose only damage is in its magic (bytes 20..24): with
/// `b"JDBP"` put back, its stored checksum matches. A page that [`verify`] calls
/// [`Error::Foreign`] but that passes this is jdb's (a flipped bit in the magic), not another
/// format's; for random bytes the chance of passing is 2^-32.
pub fn magic_damaged(page: &[u8]) -> bool {
    let (Ok(stored), Ok(magic)) = (stored_checksum(page), stored_magic(page)) else {
        return false;
    };
    if magic == PAGE_MAGIC || page.len() != PAGE_SIZE {
        return false;
    }
    let mut repaired = page.to_vec();
    repaired[MAGIC_OFFSET..MAGIC_OFFSET + PAGE_MAGIC.len()].copy_from_slice(&PAGE_MAGIC);
    page_checksum(&repaired) == Ok(stored)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_magic_has_no_zero_byte() {
        // `verify` skips the all-zero scan of a page carrying the magic on this ground.
        assert!(PAGE_MAGIC.iter().all(|&b| b != 0));
    }

    #[test]
    fn is_all_zero_sees_every_byte() {
        // Lengths around the 64-byte chunking, with a single non-zero byte at every position.
        for len in [0, 1, 63, 64, 65, 127, 128, 130, PAGE_SIZE] {
            let mut bytes = vec![0u8; len];
            assert!(is_all_zero(&bytes));
            for at in 0..len {
                bytes[at] = 0x80;
                assert!(!is_all_zero(&bytes), "len {len}, byte {at}");
                bytes[at] = 0;
            }
        }
    }

    #[test]
    fn magic_damaged_is_true_only_for_a_sealed_page_with_a_broken_magic() {
        let mut page = vec![0u8; PAGE_SIZE];
        PageHeader::new(5, crate::PageType::Data)
            .encode(&mut page)
            .unwrap();
        page[100] = 7;
        seal(&mut page).unwrap();
        assert!(!magic_damaged(&page), "an intact page");
        for bit in 0..32 {
            let mut flipped = page.clone();
            flipped[MAGIC_OFFSET + bit / 8] ^= 1 << (bit % 8);
            assert!(matches!(verify(&flipped, 5), Err(Error::Foreign { .. })));
            assert!(magic_damaged(&flipped), "magic bit {bit}");
        }
        let mut two_faults = page.clone();
        two_faults[MAGIC_OFFSET] ^= 1;
        two_faults[200] ^= 1;
        assert!(!magic_damaged(&two_faults), "damage outside the magic too");
        let random: Vec<u8> = (0..PAGE_SIZE as u32)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
            .collect();
        assert!(!magic_damaged(&random), "foreign bytes");
        assert!(!magic_damaged(&page[..100]), "too short");
    }

    #[test]
    fn verify_checks_zero_before_magic() {
        let page = vec![0u8; PAGE_SIZE];
        assert_eq!(verify(&page, 3), Err(Error::NeverWritten { page: 3 }));
        assert_eq!(
            verify(&page[1..], 3),
            Err(Error::BadLength { len: PAGE_SIZE - 1 })
        );
    }
}
