//! `DataPage::open` accepts only consistent pages, and whatever bytes it is given, neither it nor
//! any method on a page it accepted panics or reads out of bounds.

use std::collections::BTreeMap;

use jdb_layout::{DataPage, Error, PAGE_SIZE, PageHeader, verify};
use proptest::prelude::*;

fn put_u16(page: &mut [u8], at: usize, value: u16) {
    page[at..at + 2].copy_from_slice(&value.to_le_bytes());
}

/// A valid page with three slots: slot 0 = 10 bytes, slot 1 = free, slot 2 = 20 bytes.
fn three_slot_page() -> Vec<u8> {
    let mut page = DataPage::init(vec![0u8; PAGE_SIZE]).unwrap();
    page.insert(&[0; 10]).unwrap();
    page.insert(&[1; 5]).unwrap();
    page.insert(&[2; 20]).unwrap();
    page.delete(1).unwrap();
    page.compact(); // rows: slot 0 at 4086..4096, slot 2 at 4066..4086
    page.into_inner()
}

#[test]
fn inconsistent_counts_are_rejected() {
    let bad = |slot_count, free_start, free_end| {
        let mut page = three_slot_page();
        put_u16(&mut page, 32, slot_count);
        put_u16(&mut page, 34, free_start);
        put_u16(&mut page, 36, free_end);
        let err = Error::BadDataHeader {
            slot_count,
            free_start,
            free_end,
        };
        assert_eq!(DataPage::open(&page).unwrap_err(), err);
    };
    bad(3, 51, 4096 - 30); // free_start != 38 + 4 * slot_count
    bad(3, 50, 4097); // free_end past the page
    bad(3, 50, 49); // directory runs into the row area
    bad(u16::MAX, u16::MAX, u16::MAX);
    bad(1100, 4438, 4438); // consistent, but the directory is longer than the page
}

#[test]
fn slots_outside_the_row_area_are_rejected() {
    let bad = |slot: u16, offset: u16, len: u16| {
        let mut page = three_slot_page();
        let at = 38 + 4 * usize::from(slot);
        put_u16(&mut page, at, offset);
        put_u16(&mut page, at + 2, len);
        let err = Error::BadSlotEntry {
            slot,
            offset,
            len,
            free_end: 4096 - 30,
        };
        assert_eq!(DataPage::open(&page).unwrap_err(), err);
    };
    bad(0, 4096 - 31, 10); // starts below free_end
    bad(2, 4090, 20); // runs past the page end
    bad(2, u16::MAX, u16::MAX); // would overflow u16
    bad(1, 0, 5); // a free slot with a length
}

#[test]
fn overlapping_rows_are_rejected() {
    let mut page = three_slot_page();
    // Slot 0 is 4086..4096, slot 2 is 4066..4086; stretch slot 2 by one byte into slot 0.
    put_u16(&mut page, 38 + 8 + 2, 21);
    assert_eq!(
        DataPage::open(&page).unwrap_err(),
        Error::OverlappingRows { slot: 2, other: 0 }
    );
    // Empty rows share no bytes, so they may sit anywhere in the row area.
    let mut page = three_slot_page();
    put_u16(&mut page, 38 + 4, 4090);
    put_u16(&mut page, 38 + 6, 0);
    let page = DataPage::open(&page).unwrap();
    assert_eq!(page.get(1).unwrap(), b"");
}

/// A deterministic byte generator (xorshift64*), much faster than a proptest byte strategy.
fn fill_pseudo_random(page: &mut [u8], seed: u64) {
    let mut state = seed | 1;
    for byte in page {
        state ^= state >> 12;
        state ^= state << 25;
        state ^= state >> 27;
        *byte = (state.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 56) as u8;
    }
}

/// Pages of every kind of wrongness: noise, noise with a plausible data-page header, and valid
/// pages with bytes of the header and slot directory overwritten.
fn any_page() -> impl Strategy<Value = Vec<u8>> {
    let noise = (any::<u64>(), any::<bool>()).prop_map(|(seed, data_type)| {
        let mut page = vec![0u8; PAGE_SIZE];
        fill_pseudo_random(&mut page, seed);
        if data_type {
            page[16] = 2;
        }
        page
    });
    let plausible = (any::<u64>(), 0u16..40, 0u16..600, 0u16..64).prop_map(
        |(seed, slot_count, row_area, max_len)| {
            let mut page = vec![0u8; PAGE_SIZE];
            fill_pseudo_random(&mut page, seed);
            page[16] = 2;
            let free_start = 38 + 4 * slot_count;
            let free_end = 4096 - row_area;
            put_u16(&mut page, 32, slot_count);
            put_u16(&mut page, 34, free_start);
            put_u16(&mut page, 36, free_end.max(free_start));
            for slot in 0..usize::from(slot_count) {
                let at = 38 + 4 * slot;
                let noise = u16::from_le_bytes([page[at], page[at + 1]]);
                // One slot in five is free; the others point somewhere near the row area.
                let offset = match noise % 5 {
                    0 => 0,
                    _ => free_end + noise % (row_area + 1),
                };
                let len = if offset == 0 {
                    0
                } else {
                    page[at + 2] as u16 % (max_len + 1)
                };
                put_u16(&mut page, at, offset);
                put_u16(&mut page, at + 2, len);
            }
            page
        },
    );
    let damaged = (
        prop::collection::vec(0usize..300, 0..40),
        prop::collection::vec((16usize..160, any::<u8>()), 1..6),
    )
        .prop_map(|(row_lens, overwrites)| {
            let mut page = DataPage::init(vec![0u8; PAGE_SIZE]).unwrap();
            for (i, len) in row_lens.iter().enumerate() {
                let _ = page.insert(&vec![i as u8; *len]);
                if i % 3 == 2 {
                    let _ = page.delete((i / 2) as u16);
                }
            }
            let mut page = page.into_inner();
            for (at, byte) in overwrites {
                page[at] = byte;
            }
            page
        });
    prop_oneof![noise, plausible, damaged]
}

/// Reads everything, then mutates, checking after each step that the page still opens and
/// holds what it should.
fn exercise(bytes: Vec<u8>) {
    let _ = verify(&bytes, 0);
    let _ = PageHeader::decode(&bytes);
    let Ok(mut page) = DataPage::open(bytes) else {
        return;
    };
    let mut rows: BTreeMap<u16, Vec<u8>> = page.iter().map(|(s, r)| (s, r.to_vec())).collect();
    assert_eq!(page.live_count(), rows.len());
    for slot in 0..page.slot_count().saturating_add(2) {
        assert_eq!(page.get(slot).ok(), rows.get(&slot).map(Vec::as_slice));
    }
    let _ = format!("{page:?}");

    let check = |page: &DataPage<Vec<u8>>, rows: &BTreeMap<u16, Vec<u8>>| {
        DataPage::open(page.as_bytes()).expect("a method left an invalid page");
        let listed: BTreeMap<u16, Vec<u8>> = page.iter().map(|(s, r)| (s, r.to_vec())).collect();
        assert_eq!(&listed, rows);
    };
    let live: Vec<u16> = rows.keys().copied().collect();
    for (i, slot) in live.iter().enumerate() {
        let row = vec![0xC3; (i * 37) % 200];
        if page.update(*slot, &row).is_ok() {
            rows.insert(*slot, row);
        }
        check(&page, &rows);
    }
    for len in [0, 1, 100, page.free_space(), page.free_space() + 1] {
        let row = vec![0x3C; len];
        if let Ok(slot) = page.insert(&row) {
            rows.insert(slot, row);
        }
        check(&page, &rows);
    }
    for slot in live.iter().step_by(2) {
        page.delete(*slot).unwrap();
        rows.remove(slot);
        check(&page, &rows);
    }
    page.compact();
    check(&page, &rows);
    let row = vec![0x77; page.free_space()];
    let slot = page.insert(&row).unwrap();
    rows.insert(slot, row);
    check(&page, &rows);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn open_and_every_method_never_panic(bytes in any_page()) {
        exercise(bytes);
    }
}

#[test]
fn short_and_empty_buffers() {
    for len in [0, 1, 37, 38, 4095] {
        let bytes = vec![2u8; len];
        assert_eq!(
            DataPage::open(&bytes).unwrap_err(),
            Error::BadLength { len }
        );
    }
}
