//! The slotted data page: variable-length rows addressed by stable slot numbers.
//!
//! ```text
//! 0..32          page header (see crate::header), page_type = 2 (Data)
//! 32..34         slot_count u16  number of slot directory entries (live + free)
//! 34..36         free_start u16  first byte after the slot directory (= 38 + 4 * slot_count)
//! 36..38         free_end   u16  first byte of the row area (rows grow backward from 4096)
//! 38..free_start slot directory: slot_count x [offset u16, len u16]
//! ...            free space
//! free_end..4096 row bytes
//! ```
//!
//! A slot is *live* when its offset is non-zero; its row is bytes `offset..offset + len`, which
//! lie inside `free_end..4096` and share no byte with another live row. Rows may be empty
//! (`len == 0`, offset still non-zero). A *free* slot (a deleted row) is `[0, 0]`. The row area
//! may hold garbage: bytes of deleted, shrunk or moved rows, reclaimed by [`DataPage::compact`].
//!
//! Slot numbers never change while a row is live. [`DataPage::delete`] trims free slots from the
//! end of the directory, so the last slot is always live and a trimmed number is handed out again
//! by the next [`DataPage::insert`].

mod write;

use std::fmt;

use crate::error::{Error, Result};
use crate::header::{PAGE_HEADER_SIZE, PAGE_SIZE, PAGE_TYPE_OFFSET, PageType};

const SLOT_COUNT_OFFSET: usize = PAGE_HEADER_SIZE;
const FREE_START_OFFSET: usize = 34;
const FREE_END_OFFSET: usize = 36;
/// First byte of the slot directory.
const SLOT_DIR_OFFSET: usize = 38;
/// Size of one slot directory entry: offset u16 + len u16.
const SLOT_ENTRY_SIZE: usize = 4;

/// Longest row a data page can hold: an empty page minus one slot directory entry (4054).
pub const MAX_ROW_LEN: usize = PAGE_SIZE - SLOT_DIR_OFFSET - SLOT_ENTRY_SIZE;

/// A slotted data page viewed through any byte buffer of exactly [`PAGE_SIZE`] bytes, header
/// included.
///
/// Read methods need `B: AsRef<[u8]>` (`&[u8]`, `[u8; 4096]`, `Vec<u8>`, ...), writes also
/// `AsMut<[u8]>` (`&mut [u8]`, ...). [`open`](DataPage::open) validates the whole layout, and
/// every method leaves the bytes a valid data page when it returns, even on error. Writes do not
/// touch the header beyond byte 16 and do not update the checksum: [`seal`](crate::seal) the page
/// before writing it out. `B`'s `as_ref`/`as_mut` must return the same slice on every call, as
/// those of all std buffer types do.
pub struct DataPage<B> {
    buf: B,
}

/// A live slot's position: row bytes `offset..offset + len`.
#[derive(Debug, Clone, Copy)]
struct SlotEntry {
    offset: u16,
    len: u16,
}

impl SlotEntry {
    const FREE: SlotEntry = SlotEntry { offset: 0, len: 0 };

    fn is_free(self) -> bool {
        self.offset == 0
    }

    fn start(self) -> usize {
        usize::from(self.offset)
    }

    fn end(self) -> usize {
        usize::from(self.offset) + usize::from(self.len)
    }
}

impl<B: AsRef<[u8]>> DataPage<B> {
    /// Wraps `buf` after checking that it holds a valid data page: exactly [`PAGE_SIZE`] bytes,
    /// page type Data, `38 + 4 * slot_count == free_start <= free_end <= 4096`, every live row
    /// inside `free_end..4096`, free slots `[0, 0]`, no two live rows sharing a byte.
    ///
    /// Never panics, whatever the bytes.
    pub fn open(buf: B) -> Result<Self> {
        validate(buf.as_ref())?;
        Ok(DataPage { buf })
    }

    /// Gives the buffer back.
    pub fn into_inner(self) -> B {
        self.buf
    }

    /// The whole page, header included.
    pub fn as_bytes(&self) -> &[u8] {
        self.buf.as_ref()
    }

    /// Number of slot directory entries, live and free.
    pub fn slot_count(&self) -> u16 {
        self.read_u16(SLOT_COUNT_OFFSET)
    }

    /// Number of live rows.
    pub fn live_count(&self) -> usize {
        (0..self.slot_count())
            .filter(|&slot| !self.entry(slot).is_free())
            .count()
    }

    /// The length of the longest row [`insert`](DataPage::insert) would accept right now.
    ///
    /// That is every byte not used by the header, the slot directory or a live row (free space
    /// plus garbage in the row area, which insert reclaims by compacting), minus 4 bytes for a
    /// new slot directory entry unless a free slot can be reused; never more than
    /// [`MAX_ROW_LEN`]. Insert accepts exactly the rows of at most `free_space()` bytes, with
    /// one exception: when fewer than 4 bytes are left and no slot is free, `free_space()` is 0
    /// but not even an empty row fits (its slot entry does not).
    pub fn free_space(&self) -> usize {
        let slot_cost = if self.lowest_free_slot().is_some() {
            0
        } else {
            SLOT_ENTRY_SIZE
        };
        self.reclaimable().saturating_sub(slot_cost)
    }

    /// The row in `slot`. Errors with [`Error::BadSlot`] if the slot is past the directory or
    /// free.
    pub fn get(&self, slot: u16) -> Result<&[u8]> {
        let entry = self.live_entry(slot)?;
        self.as_bytes()
            .get(entry.start()..entry.end())
            .ok_or(Error::BadSlotEntry {
                slot,
                offset: entry.offset,
                len: entry.len,
                free_end: self.free_end(),
            })
    }

    /// The live rows with their slot numbers, in slot order.
    pub fn iter(&self) -> Rows<'_> {
        Rows {
            page: self.as_bytes(),
            next_slot: 0,
            slot_count: self.slot_count(),
        }
    }

    fn read_u16(&self, at: usize) -> u16 {
        let bytes = self.as_bytes();
        u16::from_le_bytes([bytes[at], bytes[at + 1]])
    }

    fn free_start(&self) -> u16 {
        self.read_u16(FREE_START_OFFSET)
    }

    fn free_end(&self) -> u16 {
        self.read_u16(FREE_END_OFFSET)
    }

    /// The directory entry of `slot`, which must be below `slot_count`.
    fn entry(&self, slot: u16) -> SlotEntry {
        read_entry(self.as_bytes(), slot)
    }

    /// The entry of `slot` if it is a live row, else `BadSlot`.
    fn live_entry(&self, slot: u16) -> Result<SlotEntry> {
        let slot_count = self.slot_count();
        if slot < slot_count {
            let entry = self.entry(slot);
            if !entry.is_free() {
                return Ok(entry);
            }
        }
        Err(Error::BadSlot { slot, slot_count })
    }

    fn lowest_free_slot(&self) -> Option<u16> {
        (0..self.slot_count()).find(|&slot| self.entry(slot).is_free())
    }

    /// Bytes a new row and its slot entry could use after compaction: everything past the slot
    /// directory that no live row occupies.
    fn reclaimable(&self) -> usize {
        let used: usize = self.iter().map(|(_, row)| row.len()).sum();
        PAGE_SIZE - usize::from(self.free_start()) - used
    }
}

impl<B: AsRef<[u8]>> fmt::Debug for DataPage<B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DataPage")
            .field("slot_count", &self.slot_count())
            .field("free_start", &self.free_start())
            .field("free_end", &self.free_end())
            .field("live_count", &self.live_count())
            .field("free_space", &self.free_space())
            .finish()
    }
}

/// Iterator over the live rows of a [`DataPage`], yielding `(slot, row)` in slot order.
#[derive(Debug, Clone)]
pub struct Rows<'a> {
    page: &'a [u8],
    next_slot: u16,
    slot_count: u16,
}

impl<'a> Iterator for Rows<'a> {
    type Item = (u16, &'a [u8]);

    fn next(&mut self) -> Option<Self::Item> {
        while self.next_slot < self.slot_count {
            let slot = self.next_slot;
            self.next_slot += 1;
            let entry = read_entry(self.page, slot);
            if !entry.is_free() {
                // The page was validated, so the range is in bounds; `get` keeps it panic-free.
                return Some((slot, self.page.get(entry.start()..entry.end())?));
            }
        }
        None
    }
}

/// The directory entry of `slot` in a page whose directory is known to reach past it.
fn read_entry(page: &[u8], slot: u16) -> SlotEntry {
    let at = SLOT_DIR_OFFSET + SLOT_ENTRY_SIZE * usize::from(slot);
    SlotEntry {
        offset: u16::from_le_bytes([page[at], page[at + 1]]),
        len: u16::from_le_bytes([page[at + 2], page[at + 3]]),
    }
}

/// Checks everything [`DataPage::open`] promises, touching only bytes in bounds.
fn validate(page: &[u8]) -> Result<()> {
    let page: &[u8; PAGE_SIZE] = page
        .try_into()
        .map_err(|_| Error::BadLength { len: page.len() })?;
    let type_byte = page[PAGE_TYPE_OFFSET];
    if type_byte != PageType::Data.as_u8() {
        return Err(Error::NotDataPage { value: type_byte });
    }
    let field = |at: usize| u16::from_le_bytes([page[at], page[at + 1]]);
    let slot_count = field(SLOT_COUNT_OFFSET);
    let free_start = field(FREE_START_OFFSET);
    let free_end = field(FREE_END_OFFSET);
    let directory_end = SLOT_DIR_OFFSET + SLOT_ENTRY_SIZE * usize::from(slot_count);
    if usize::from(free_start) != directory_end
        || free_start > free_end
        || usize::from(free_end) > PAGE_SIZE
    {
        return Err(Error::BadDataHeader {
            slot_count,
            free_start,
            free_end,
        });
    }
    // Now 38 + 4 * slot_count <= 4096: every directory entry is in bounds.
    let mut rows = Vec::with_capacity(usize::from(slot_count));
    for slot in 0..slot_count {
        let entry = read_entry(page, slot);
        let in_row_area = entry.offset >= free_end && entry.end() <= PAGE_SIZE;
        if entry.is_free() && entry.len == 0 {
            continue;
        }
        if entry.is_free() || !in_row_area {
            return Err(Error::BadSlotEntry {
                slot,
                offset: entry.offset,
                len: entry.len,
                free_end,
            });
        }
        // Empty rows share no byte with anything; only non-empty rows can overlap.
        if entry.len > 0 {
            rows.push((entry, slot));
        }
    }
    rows.sort_unstable_by_key(|(entry, _)| entry.offset);
    for pair in rows.windows(2) {
        let [(first, first_slot), (second, second_slot)] = pair else {
            continue;
        };
        if first.end() > second.start() {
            return Err(Error::OverlappingRows {
                slot: *first_slot,
                other: *second_slot,
            });
        }
    }
    Ok(())
}
