//! The 32-byte page header every jdb page starts with.
//!
//! ```text
//! 0..4    checksum  u32  CRC32C (Castagnoli) of bytes 4..4096 of the page
//! 4..8    page_id   u32
//! 8..16   lsn       u64
//! 16      page_type u8   (PageType)
//! 17      flags     u8
//! 18..20  version   u16  format version, currently 1
//! 20..24  magic     [u8;4] = b"JDBP"
//! 24..32  reserved  must be zero on write (ignored on read)
//! ```
//!
//! All integers are little-endian. [`PageHeader::encode`] writes bytes 4..32;
//! the checksum in bytes 0..4 is stamped last by [`seal`](crate::seal).

use crate::error::{Error, Result};

/// Size of one page on disk and in memory, in bytes.
pub const PAGE_SIZE: usize = 4096;

/// Size of the page header at the start of every page, in bytes.
pub const PAGE_HEADER_SIZE: usize = 32;

/// Format version written by this code and the only one it reads.
pub const FORMAT_VERSION: u16 = 1;

/// Magic bytes at offset 20 of every jdb page.
pub const PAGE_MAGIC: [u8; 4] = *b"JDBP";

/// Number of a page within a file: page `n` lives at byte offset `n * PAGE_SIZE`.
pub type PageId = u32;

pub(crate) const CHECKSUM_OFFSET: usize = 0;
pub(crate) const PAGE_ID_OFFSET: usize = 4;
pub(crate) const LSN_OFFSET: usize = 8;
pub(crate) const PAGE_TYPE_OFFSET: usize = 16;
pub(crate) const FLAGS_OFFSET: usize = 17;
pub(crate) const VERSION_OFFSET: usize = 18;
pub(crate) const MAGIC_OFFSET: usize = 20;
pub(crate) const RESERVED_OFFSET: usize = 24;
/// First byte covered by the checksum.
pub(crate) const CHECKSUMMED_FROM: usize = 4;

/// What a page holds, stored in byte 16 of the header.
///
/// 0 is never a page type: an all-zero page means "never written".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum PageType {
    /// A page on the free list (1).
    Free,
    /// A slotted data page, see [`DataPage`](crate::DataPage) (2).
    Data,
    /// A metadata page (3).
    Meta,
    /// Any other non-zero type byte, for types defined outside this crate. Holds values
    /// `4..=255`; `from_u8` never produces `Other` for 0..=3.
    Other(u8),
}

impl PageType {
    /// Reads a page-type byte. Returns `None` for 0, which is never a valid type.
    pub fn from_u8(value: u8) -> Option<PageType> {
        match value {
            0 => None,
            1 => Some(PageType::Free),
            2 => Some(PageType::Data),
            3 => Some(PageType::Meta),
            other => Some(PageType::Other(other)),
        }
    }

    /// The byte stored on disk for this page type.
    pub fn as_u8(self) -> u8 {
        match self {
            PageType::Free => 1,
            PageType::Data => 2,
            PageType::Meta => 3,
            PageType::Other(value) => value,
        }
    }
}

/// The decoded fields of a page header (everything but checksum, magic and reserved bytes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PageHeader {
    /// The id of the page, i.e. where it belongs in the file.
    pub page_id: PageId,
    /// Log sequence number of the last change to the page.
    pub lsn: u64,
    /// What the page holds.
    pub page_type: PageType,
    /// Free for the page's owner to use.
    pub flags: u8,
    /// Format version; [`FORMAT_VERSION`] for pages written by this code.
    pub version: u16,
}

impl PageHeader {
    /// A header for page `page_id` of type `page_type`, with lsn 0, no flags and the current
    /// format version.
    pub fn new(page_id: PageId, page_type: PageType) -> PageHeader {
        PageHeader {
            page_id,
            lsn: 0,
            page_type,
            flags: 0,
            version: FORMAT_VERSION,
        }
    }

    /// Writes bytes 4..32 of the header (ids, type, version, magic, zeroed reserved bytes)
    /// into the start of `page`. Does not touch the checksum; call [`seal`](crate::seal)
    /// when the page is complete.
    ///
    /// Errors with [`Error::TooShort`] if `page` is shorter than the header and with
    /// [`Error::BadPageType`] for `PageType::Other(0)`.
    pub fn encode(&self, page: &mut [u8]) -> Result<()> {
        let len = page.len();
        let header: &mut [u8; PAGE_HEADER_SIZE] =
            page.first_chunk_mut().ok_or(Error::TooShort {
                len,
                min: PAGE_HEADER_SIZE,
            })?;
        let type_byte = self.page_type.as_u8();
        if type_byte == 0 {
            return Err(Error::BadPageType { value: type_byte });
        }
        header[PAGE_ID_OFFSET..LSN_OFFSET].copy_from_slice(&self.page_id.to_le_bytes());
        header[LSN_OFFSET..PAGE_TYPE_OFFSET].copy_from_slice(&self.lsn.to_le_bytes());
        header[PAGE_TYPE_OFFSET] = type_byte;
        header[FLAGS_OFFSET] = self.flags;
        header[VERSION_OFFSET..MAGIC_OFFSET].copy_from_slice(&self.version.to_le_bytes());
        header[MAGIC_OFFSET..RESERVED_OFFSET].copy_from_slice(&PAGE_MAGIC);
        header[RESERVED_OFFSET..PAGE_HEADER_SIZE].fill(0);
        Ok(())
    }

    /// Reads the header fields from the start of `page` without any verification (no checksum,
    /// magic or version check): for tools that inspect damaged pages. Use
    /// [`verify`](crate::verify) to read a page you are going to trust.
    ///
    /// Errors with [`Error::TooShort`] if `page` is shorter than the header and with
    /// [`Error::BadPageType`] if the page-type byte is 0.
    pub fn decode(page: &[u8]) -> Result<PageHeader> {
        let raw = RawHeader::decode(page)?;
        let page_type = PageType::from_u8(raw.page_type).ok_or(Error::BadPageType {
            value: raw.page_type,
        })?;
        Ok(PageHeader {
            page_id: raw.page_id,
            lsn: raw.lsn,
            page_type,
            flags: raw.flags,
            version: raw.version,
        })
    }
}

/// The header fields as stored, before the page type is interpreted.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RawHeader {
    pub(crate) page_id: PageId,
    pub(crate) lsn: u64,
    pub(crate) page_type: u8,
    pub(crate) flags: u8,
    pub(crate) version: u16,
}

impl RawHeader {
    pub(crate) fn decode(page: &[u8]) -> Result<RawHeader> {
        let header = header_bytes(page)?;
        Ok(RawHeader {
            page_id: u32::from_le_bytes(array_at(header, PAGE_ID_OFFSET)),
            lsn: u64::from_le_bytes(array_at(header, LSN_OFFSET)),
            page_type: header[PAGE_TYPE_OFFSET],
            flags: header[FLAGS_OFFSET],
            version: u16::from_le_bytes(array_at(header, VERSION_OFFSET)),
        })
    }
}

/// The checksum stored in bytes 0..4 of `page`, without checking it.
pub fn stored_checksum(page: &[u8]) -> Result<u32> {
    Ok(u32::from_le_bytes(array_at(
        header_bytes(page)?,
        CHECKSUM_OFFSET,
    )))
}

/// The LSN stored in bytes 8..16 of `page`, without checking the page.
pub fn stored_lsn(page: &[u8]) -> Result<u64> {
    Ok(u64::from_le_bytes(array_at(
        header_bytes(page)?,
        LSN_OFFSET,
    )))
}

/// The four bytes stored where the magic belongs (bytes 20..24), without checking them.
pub fn stored_magic(page: &[u8]) -> Result<[u8; 4]> {
    Ok(array_at(header_bytes(page)?, MAGIC_OFFSET))
}

/// The first [`PAGE_HEADER_SIZE`] bytes of `page`, or `TooShort`.
fn header_bytes(page: &[u8]) -> Result<&[u8; PAGE_HEADER_SIZE]> {
    page.first_chunk().ok_or(Error::TooShort {
        len: page.len(),
        min: PAGE_HEADER_SIZE,
    })
}

/// `N` bytes of a header starting at the constant offset `at`.
fn array_at<const N: usize>(header: &[u8; PAGE_HEADER_SIZE], at: usize) -> [u8; N] {
    std::array::from_fn(|i| header[at + i])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_type_round_trips_every_byte() {
        assert_eq!(PageType::from_u8(0), None);
        for value in 1..=u8::MAX {
            let page_type = PageType::from_u8(value).unwrap();
            assert_eq!(page_type.as_u8(), value);
        }
        assert_eq!(PageType::from_u8(2), Some(PageType::Data));
    }

    #[test]
    fn encode_writes_the_byte_map() {
        let mut page = [0xAAu8; PAGE_HEADER_SIZE];
        let header = PageHeader {
            page_id: 0x0403_0201,
            lsn: 0x0C0B_0A09_0807_0605,
            page_type: PageType::Meta,
            flags: 0x7F,
            version: 1,
        };
        header.encode(&mut page).unwrap();
        let expected: [u8; PAGE_HEADER_SIZE] = [
            0xAA, 0xAA, 0xAA, 0xAA, // checksum untouched
            1, 2, 3, 4, // page_id
            5, 6, 7, 8, 9, 10, 11, 12, // lsn
            3, 0x7F, 1, 0, // type, flags, version
            b'J', b'D', b'B', b'P', // magic
            0, 0, 0, 0, 0, 0, 0, 0, // reserved
        ];
        assert_eq!(page, expected);
        assert_eq!(PageHeader::decode(&page).unwrap(), header);
    }

    #[test]
    fn short_buffers_are_errors() {
        let header = PageHeader::new(1, PageType::Data);
        let mut short = [0u8; PAGE_HEADER_SIZE - 1];
        let too_short = Error::TooShort { len: 31, min: 32 };
        assert_eq!(header.encode(&mut short), Err(too_short.clone()));
        assert_eq!(PageHeader::decode(&short), Err(too_short.clone()));
        assert_eq!(stored_checksum(&short), Err(too_short.clone()));
        assert_eq!(stored_magic(&short), Err(too_short));
    }

    #[test]
    fn type_zero_is_rejected() {
        let mut page = [0u8; PAGE_HEADER_SIZE];
        let header = PageHeader::new(1, PageType::Other(0));
        assert_eq!(
            header.encode(&mut page),
            Err(Error::BadPageType { value: 0 })
        );
        assert_eq!(
            PageHeader::decode(&page),
            Err(Error::BadPageType { value: 0 })
        );
    }
}
