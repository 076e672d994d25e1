//! The mutating half of [`DataPage`]: format, insert, update, delete, compact.
//!
//! Every method checks all it can fail on before changing a byte, so an `Err` leaves the page
//! exactly as it was.

use super::{
    DataPage, FREE_END_OFFSET, FREE_START_OFFSET, MAX_ROW_LEN, SLOT_COUNT_OFFSET, SLOT_DIR_OFFSET,
    SLOT_ENTRY_SIZE, SlotEntry,
};
use crate::error::{Error, Result};
use crate::header::{PAGE_SIZE, PAGE_TYPE_OFFSET, PageType};

impl<B: AsRef<[u8]> + AsMut<[u8]>> DataPage<B> {
    /// Formats `buf` as an empty data page: page-type byte = Data, no slots, `free_start` 38,
    /// `free_end` 4096. The other header bytes (page id, lsn, ...) and the old row bytes are left
    /// as they are. Errors with [`Error::BadLength`] unless `buf` is [`PAGE_SIZE`] bytes.
    pub fn init(mut buf: B) -> Result<Self> {
        let len = buf.as_ref().len();
        if len != PAGE_SIZE {
            return Err(Error::BadLength { len });
        }
        buf.as_mut()[PAGE_TYPE_OFFSET] = PageType::Data.as_u8();
        let mut page = DataPage { buf };
        page.set_counts(0, PAGE_SIZE);
        Ok(page)
    }

    /// Stores `row` and returns its slot: the lowest free slot if there is one, else a new slot
    /// at the end of the directory. Compacts the page first if the row does not fit in the
    /// contiguous free space but fits in all reclaimable space.
    ///
    /// Errors with [`Error::RowTooLarge`] if `row` is longer than [`MAX_ROW_LEN`] and with
    /// [`Error::PageFull`] if it is longer than [`free_space`](DataPage::free_space).
    pub fn insert(&mut self, row: &[u8]) -> Result<u16> {
        check_row_len(row)?;
        let free_slot = self.lowest_free_slot();
        let slot_cost = if free_slot.is_some() {
            0
        } else {
            SLOT_ENTRY_SIZE
        };
        let reclaimable = self.reclaimable();
        if row.len() + slot_cost > reclaimable {
            return Err(Error::PageFull {
                needed: row.len(),
                free: reclaimable.saturating_sub(slot_cost),
            });
        }
        if row.len() + slot_cost > self.contiguous_free() {
            self.compact();
        }
        let entry = self.place_row(row);
        let slot = match free_slot {
            Some(slot) => slot,
            None => {
                let slot = self.slot_count();
                self.set_counts(slot + 1, usize::from(self.free_end()));
                slot
            }
        };
        self.set_entry(slot, entry);
        Ok(slot)
    }

    /// Replaces the row in `slot`, keeping the slot number. A row no longer than the old one is
    /// written in place; a longer one is written to free space, compacting first if needed.
    ///
    /// Errors with [`Error::BadSlot`] if `slot` is not live, [`Error::RowTooLarge`] if `row` is
    /// longer than [`MAX_ROW_LEN`] and [`Error::PageFull`] if `row` does not fit even after
    /// compaction; in every error case the old row is intact.
    pub fn update(&mut self, slot: u16, row: &[u8]) -> Result<()> {
        let old = self.live_entry(slot)?;
        check_row_len(row)?;
        if row.len() <= usize::from(old.len) {
            let start = old.start();
            self.buf.as_mut()[start..start + row.len()].copy_from_slice(row);
            self.set_entry(
                slot,
                SlotEntry {
                    offset: old.offset,
                    len: to_u16(row.len()),
                },
            );
            return Ok(());
        }
        if row.len() > self.contiguous_free() {
            let fits = self.reclaimable() + usize::from(old.len);
            if row.len() > fits {
                return Err(Error::PageFull {
                    needed: row.len(),
                    free: fits,
                });
            }
            // The old row is being replaced: free it so compaction reclaims its bytes.
            self.set_entry(slot, SlotEntry::FREE);
            self.compact();
        }
        let entry = self.place_row(row);
        self.set_entry(slot, entry);
        Ok(())
    }

    /// Deletes the row in `slot`. Its slot becomes free for reuse; other slot numbers do not
    /// change. Free slots at the end of the directory are trimmed, and an empty page gets its
    /// whole row area back. The row bytes are left in place as garbage until compaction.
    ///
    /// Errors with [`Error::BadSlot`] if `slot` is not live.
    pub fn delete(&mut self, slot: u16) -> Result<()> {
        self.live_entry(slot)?;
        self.set_entry(slot, SlotEntry::FREE);
        let mut slot_count = self.slot_count();
        while slot_count > 0 && self.entry(slot_count - 1).is_free() {
            slot_count -= 1;
        }
        let free_end = if slot_count == 0 {
            PAGE_SIZE
        } else {
            usize::from(self.free_end())
        };
        self.set_counts(slot_count, free_end);
        Ok(())
    }

    /// Moves all live rows to the end of the page, back to back, so that all free space is
    /// contiguous. Slot numbers and row contents do not change.
    pub fn compact(&mut self) {
        let mut live: Vec<(u16, SlotEntry)> = (0..self.slot_count())
            .map(|slot| (slot, self.entry(slot)))
            .filter(|(_, entry)| !entry.is_free())
            .collect();
        // Highest row first: each row moves toward the end of the page, never over a row that
        // has not moved yet (those all end at or below its old start).
        live.sort_unstable_by_key(|(_, entry)| std::cmp::Reverse(entry.offset));
        let mut next_end = PAGE_SIZE;
        for (slot, entry) in live {
            let len = usize::from(entry.len);
            let start = next_end - len;
            self.buf
                .as_mut()
                .copy_within(entry.start()..entry.end(), start);
            self.set_entry(
                slot,
                SlotEntry {
                    offset: to_u16(start),
                    len: entry.len,
                },
            );
            next_end = start;
        }
        self.write_u16(FREE_END_OFFSET, next_end);
    }

    /// Bytes between the slot directory and the row area.
    fn contiguous_free(&self) -> usize {
        usize::from(self.free_end()) - usize::from(self.free_start())
    }

    /// Copies `row` just below `free_end`, lowers `free_end` and returns the row's entry. The
    /// caller has made sure it fits (leaving room for a new slot entry if one is needed).
    fn place_row(&mut self, row: &[u8]) -> SlotEntry {
        let end = usize::from(self.free_end());
        let start = end - row.len();
        self.buf.as_mut()[start..end].copy_from_slice(row);
        self.write_u16(FREE_END_OFFSET, start);
        SlotEntry {
            offset: to_u16(start),
            len: to_u16(row.len()),
        }
    }

    /// Sets `slot_count`, the matching `free_start`, and `free_end`.
    fn set_counts(&mut self, slot_count: u16, free_end: usize) {
        let free_start = SLOT_DIR_OFFSET + SLOT_ENTRY_SIZE * usize::from(slot_count);
        self.write_u16(SLOT_COUNT_OFFSET, usize::from(slot_count));
        self.write_u16(FREE_START_OFFSET, free_start);
        self.write_u16(FREE_END_OFFSET, free_end);
    }

    fn set_entry(&mut self, slot: u16, entry: SlotEntry) {
        let at = SLOT_DIR_OFFSET + SLOT_ENTRY_SIZE * usize::from(slot);
        let bytes = self.buf.as_mut();
        bytes[at..at + 2].copy_from_slice(&entry.offset.to_le_bytes());
        bytes[at + 2..at + 4].copy_from_slice(&entry.len.to_le_bytes());
    }

    /// Writes a page offset or count (at most 4096) as a u16.
    fn write_u16(&mut self, at: usize, value: usize) {
        self.buf.as_mut()[at..at + 2].copy_from_slice(&to_u16(value).to_le_bytes());
    }
}

fn check_row_len(row: &[u8]) -> Result<()> {
    if row.len() > MAX_ROW_LEN {
        return Err(Error::RowTooLarge {
            len: row.len(),
            max: MAX_ROW_LEN,
        });
    }
    Ok(())
}

/// Narrows a value known to be at most [`PAGE_SIZE`] (4096 fits in a u16).
fn to_u16(value: usize) -> u16 {
    debug_assert!(value <= PAGE_SIZE);
    value as u16
}
