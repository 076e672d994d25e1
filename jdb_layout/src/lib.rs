//! The on-disk page format of jdb: pure bytes, no I/O.
//!
//! Every page is [`PAGE_SIZE`] (4096) bytes and starts with a 32-byte header; all integers are
//! little-endian.
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
//! A data page ([`DataPage`]) continues with a slotted layout:
//!
//! ```text
//! 32..34         slot_count u16  number of slot directory entries (live + free)
//! 34..36         free_start u16  first byte after the slot directory (= 38 + 4 * slot_count)
//! 36..38         free_end   u16  first byte of the row area (rows grow backward from 4096)
//! 38..free_start slot directory: slot_count x [offset u16, len u16]; free slot = [0, 0]
//! ...            free space
//! free_end..4096 row bytes
//! ```
//!
//! Write a page with [`PageHeader::encode`], fill it, [`seal`] it; after reading it back,
//! [`verify`] it. `docs/format.md` in the repository describes the format in full.
//!
//! ```
//! use jdb_layout::{DataPage, PAGE_SIZE, PageHeader, PageType, seal, verify};
//!
//! let mut page = vec![0u8; PAGE_SIZE];
//! PageHeader::new(7, PageType::Data).encode(&mut page)?;
//! let mut rows = DataPage::init(&mut page[..])?;
//! let slot = rows.insert(b"hello")?;
//! rows.update(slot, b"hello, world")?;
//! seal(&mut page)?;
//!
//! let header = verify(&page, 7)?;
//! assert_eq!(header.page_type, PageType::Data);
//! let rows = DataPage::open(&page[..])?;
//! assert_eq!(rows.get(slot)?, b"hello, world");
//!
//! page[100] ^= 1; // one flipped bit
//! assert!(matches!(verify(&page, 7), Err(jdb_layout::Error::ChecksumMismatch { .. })));
//! # Ok::<(), jdb_layout::Error>(())
//! ```

mod data_page;
mod error;
mod header;
mod integrity;

pub use data_page::{DataPage, MAX_ROW_LEN, Rows};
pub use error::{Error, Result};
pub use header::{
    FORMAT_VERSION, PAGE_HEADER_SIZE, PAGE_MAGIC, PAGE_SIZE, PageHeader, PageId, PageType,
    stored_checksum, stored_lsn, stored_magic,
};
pub use integrity::{checksum, is_all_zero, magic_damaged, page_checksum, seal, verify};
