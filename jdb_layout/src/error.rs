//! The one error type of this crate.

use crate::header::PageId;

/// Result alias used throughout `jdb_layout`.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can be wrong with a page, its header or a data-page operation.
///
/// Variants carry the numbers a person needs to understand the failure. The verification
/// variants (`BadLength` .. `Misdirected`) are listed in the order [`verify`](crate::verify)
/// checks them.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The buffer is not exactly one page ([`PAGE_SIZE`](crate::PAGE_SIZE) bytes) long.
    #[error("page buffer is {len} bytes, expected {}", crate::PAGE_SIZE)]
    BadLength {
        /// Length of the buffer that was passed in.
        len: usize,
    },

    /// All bytes of the page are zero: the page was allocated but never written.
    #[error("page {page} was never written (all zero)")]
    NeverWritten {
        /// The page id the caller expected.
        page: PageId,
    },

    /// The magic is wrong: these bytes are not a jdb page at all (typically the checksum does
    /// not match either: a foreign file, or garbage).
    #[error("page {page} is not a jdb page (magic {magic:02x?}, expected \"JDBP\")")]
    Foreign {
        /// The page id the caller expected.
        page: PageId,
        /// The four bytes found where the magic should be.
        magic: [u8; 4],
    },

    /// The magic is right but the stored checksum does not match the page contents.
    #[error("page {page}: checksum mismatch (stored {stored:#010x}, computed {computed:#010x})")]
    ChecksumMismatch {
        /// The page id the caller expected.
        page: PageId,
        /// Checksum stored in bytes 0..4 of the page.
        stored: u32,
        /// CRC32C computed over bytes 4..4096 of the page.
        computed: u32,
    },

    /// The page is intact but was written by a format version this code does not read.
    #[error(
        "page {page}: unsupported format version {version} (supported: {})",
        crate::FORMAT_VERSION
    )]
    UnsupportedVersion {
        /// The page id the caller expected.
        page: PageId,
        /// Version found in the header.
        version: u16,
    },

    /// The page is intact but carries another page's id: it was written to the wrong place.
    #[error("misdirected page: expected page {expected}, found page {found}")]
    Misdirected {
        /// The page id the caller expected.
        expected: PageId,
        /// The page id stored in the header.
        found: PageId,
    },

    /// The buffer is too short to hold what was asked for (e.g. a page header).
    #[error("buffer is {len} bytes, need at least {min}")]
    TooShort {
        /// Length of the buffer that was passed in.
        len: usize,
        /// Minimum length needed.
        min: usize,
    },

    /// The page-type byte holds a value that is not a page type (0).
    #[error("invalid page type byte {value}")]
    BadPageType {
        /// The raw page-type byte.
        value: u8,
    },

    /// A data page was expected but the header says otherwise.
    #[error("not a data page: page type byte is {value}, expected {}", crate::PageType::Data.as_u8())]
    NotDataPage {
        /// The raw page-type byte.
        value: u8,
    },

    /// The data-page header fields (`slot_count`, `free_start`, `free_end`) are inconsistent.
    #[error(
        "corrupt data page: slot_count {slot_count}, free_start {free_start}, free_end {free_end} \
         (need 38 + 4 * slot_count == free_start <= free_end <= 4096)"
    )]
    BadDataHeader {
        /// Number of slot directory entries.
        slot_count: u16,
        /// First byte after the slot directory.
        free_start: u16,
        /// First byte of the row area.
        free_end: u16,
    },

    /// A slot directory entry points outside the row area (or is a free slot with a length).
    #[error(
        "corrupt data page: slot {slot} = (offset {offset}, len {len}) lies outside the row area \
         {free_end}..4096"
    )]
    BadSlotEntry {
        /// The slot number.
        slot: u16,
        /// Offset stored in the entry.
        offset: u16,
        /// Length stored in the entry.
        len: u16,
        /// Start of the row area.
        free_end: u16,
    },

    /// Two live rows share bytes.
    #[error("corrupt data page: rows of slots {slot} and {other} overlap")]
    OverlappingRows {
        /// One of the slots.
        slot: u16,
        /// The other slot.
        other: u16,
    },

    /// The slot number is past the slot directory or names a free (deleted) slot.
    #[error("slot {slot} is not a live row (slot_count {slot_count})")]
    BadSlot {
        /// The slot asked for.
        slot: u16,
        /// Number of slot directory entries.
        slot_count: u16,
    },

    /// The row is longer than any row an empty page can hold.
    #[error("row of {len} bytes is too large, max {max}")]
    RowTooLarge {
        /// Length of the row.
        len: usize,
        /// Largest row an empty data page can hold.
        max: usize,
    },

    /// The row does not fit even after compaction.
    #[error("data page full: row of {needed} bytes, largest row that fits is {free}")]
    PageFull {
        /// Length of the row.
        needed: usize,
        /// Largest row that would have fit.
        free: usize,
    },
}
