//! Round trips for every `DataPage` operation, its error cases, and a page filled to the last
//! byte, emptied, compacted and refilled.

use jdb_layout::{DataPage, Error, MAX_ROW_LEN, PAGE_SIZE, PageHeader, PageType};

fn empty_page() -> DataPage<Vec<u8>> {
    DataPage::init(vec![0u8; PAGE_SIZE]).unwrap()
}

/// Reopening the bytes must always succeed: every method leaves a valid page behind.
fn reopen(page: DataPage<Vec<u8>>) -> DataPage<Vec<u8>> {
    DataPage::open(page.into_inner()).unwrap()
}

fn field(page: &DataPage<Vec<u8>>, at: usize) -> u16 {
    u16::from_le_bytes([page.as_bytes()[at], page.as_bytes()[at + 1]])
}

#[test]
fn init_formats_an_empty_page_and_keeps_the_header() {
    let mut bytes = vec![0xABu8; PAGE_SIZE];
    PageHeader::new(77, PageType::Meta)
        .encode(&mut bytes)
        .unwrap();
    let page = DataPage::init(&mut bytes[..]).unwrap();
    assert_eq!(page.slot_count(), 0);
    assert_eq!(page.live_count(), 0);
    assert_eq!(page.free_space(), MAX_ROW_LEN);
    assert_eq!(page.iter().count(), 0);
    let header = PageHeader::decode(&bytes).unwrap();
    assert_eq!(header.page_type, PageType::Data);
    assert_eq!(header.page_id, 77);
    assert_eq!(&bytes[0..4], &[0xAB; 4]);
    assert_eq!(u16::from_le_bytes([bytes[32], bytes[33]]), 0);
    assert_eq!(u16::from_le_bytes([bytes[34], bytes[35]]), 38);
    assert_eq!(u16::from_le_bytes([bytes[36], bytes[37]]), 4096);
}

#[test]
fn init_and_open_check_the_length() {
    assert_eq!(
        DataPage::init(vec![0u8; 100]).unwrap_err(),
        Error::BadLength { len: 100 }
    );
    assert_eq!(
        DataPage::open(&[0u8; PAGE_SIZE + 1][..]).unwrap_err(),
        Error::BadLength { len: PAGE_SIZE + 1 }
    );
}

#[test]
fn open_rejects_other_page_types() {
    let mut bytes = empty_page().into_inner();
    bytes[16] = PageType::Meta.as_u8();
    assert_eq!(
        DataPage::open(bytes).unwrap_err(),
        Error::NotDataPage { value: 3 }
    );
}

#[test]
fn works_over_arrays_slices_and_vecs() {
    let mut array = [0u8; PAGE_SIZE];
    let slot = DataPage::init(&mut array)
        .unwrap()
        .insert(b"array")
        .unwrap();
    assert_eq!(DataPage::open(array).unwrap().get(slot).unwrap(), b"array");
    assert_eq!(
        DataPage::open(&array[..]).unwrap().get(slot).unwrap(),
        b"array"
    );
    let vec = array.to_vec();
    assert_eq!(DataPage::open(&vec).unwrap().get(slot).unwrap(), b"array");
}

#[test]
fn insert_then_get_round_trips() {
    let mut page = empty_page();
    let rows: Vec<Vec<u8>> = (0..10).map(|i| vec![i as u8; i * 13]).collect();
    for (i, row) in rows.iter().enumerate() {
        assert_eq!(page.insert(row).unwrap(), i as u16);
    }
    let page = reopen(page);
    assert_eq!(page.slot_count(), 10);
    assert_eq!(page.live_count(), 10);
    for (i, row) in rows.iter().enumerate() {
        assert_eq!(page.get(i as u16).unwrap(), row.as_slice());
    }
    let listed: Vec<(u16, Vec<u8>)> = page.iter().map(|(s, r)| (s, r.to_vec())).collect();
    let expected: Vec<(u16, Vec<u8>)> = rows
        .into_iter()
        .enumerate()
        .map(|(i, r)| (i as u16, r))
        .collect();
    assert_eq!(listed, expected);
}

#[test]
fn empty_rows_are_live() {
    let mut page = empty_page();
    let empty = page.insert(b"").unwrap();
    let full = page.insert(b"x").unwrap();
    let page = reopen(page);
    assert_eq!(page.get(empty).unwrap(), b"");
    assert_eq!(page.get(full).unwrap(), b"x");
    assert_eq!(page.live_count(), 2);
    assert_eq!(page.iter().count(), 2);
}

#[test]
fn get_rejects_missing_and_deleted_slots() {
    let mut page = empty_page();
    page.insert(b"a").unwrap();
    page.insert(b"b").unwrap();
    page.delete(0).unwrap();
    assert_eq!(
        page.get(0),
        Err(Error::BadSlot {
            slot: 0,
            slot_count: 2
        })
    );
    assert_eq!(
        page.get(2),
        Err(Error::BadSlot {
            slot: 2,
            slot_count: 2
        })
    );
    assert_eq!(
        page.get(u16::MAX),
        Err(Error::BadSlot {
            slot: u16::MAX,
            slot_count: 2
        })
    );
    assert_eq!(
        page.update(0, b"z"),
        Err(Error::BadSlot {
            slot: 0,
            slot_count: 2
        })
    );
    assert_eq!(
        page.delete(0),
        Err(Error::BadSlot {
            slot: 0,
            slot_count: 2
        })
    );
}

#[test]
fn delete_frees_the_slot_for_reuse_and_keeps_other_numbers() {
    let mut page = empty_page();
    for row in [b"zero", b"one_", b"two_", b"thre"] {
        page.insert(row).unwrap();
    }
    page.delete(1).unwrap();
    page.delete(2).unwrap();
    assert_eq!(
        page.slot_count(),
        4,
        "middle free slots stay in the directory"
    );
    assert_eq!(page.live_count(), 2);
    assert_eq!(page.get(3).unwrap(), b"thre");
    assert_eq!(
        page.insert(b"new").unwrap(),
        1,
        "lowest free slot is reused"
    );
    assert_eq!(page.insert(b"newer").unwrap(), 2);
    assert_eq!(page.insert(b"appended").unwrap(), 4);
    let page = reopen(page);
    assert_eq!(page.get(0).unwrap(), b"zero");
    assert_eq!(page.get(1).unwrap(), b"new");
    assert_eq!(page.get(2).unwrap(), b"newer");
    assert_eq!(page.get(3).unwrap(), b"thre");
    assert_eq!(page.get(4).unwrap(), b"appended");
}

#[test]
fn delete_trims_trailing_free_slots() {
    let mut page = empty_page();
    for _ in 0..5 {
        page.insert(b"row").unwrap();
    }
    page.delete(2).unwrap();
    page.delete(3).unwrap();
    assert_eq!(page.slot_count(), 5);
    page.delete(4).unwrap();
    assert_eq!(page.slot_count(), 2, "slots 2..5 were all free");
    assert_eq!(field(&page, 34), 38 + 4 * 2);
    page.delete(0).unwrap();
    page.delete(1).unwrap();
    assert_eq!(page.slot_count(), 0);
    assert_eq!(
        field(&page, 36),
        4096,
        "an empty page gets its row area back"
    );
    assert_eq!(page.free_space(), MAX_ROW_LEN);
    reopen(page);
}

#[test]
fn update_in_place_and_relocated() {
    let mut page = empty_page();
    let a = page.insert(&[1; 100]).unwrap();
    let b = page.insert(&[2; 10]).unwrap();
    let free_end = field(&page, 36);
    page.update(a, &[3; 40]).unwrap();
    assert_eq!(field(&page, 36), free_end, "a shorter row stays in place");
    assert_eq!(page.get(a).unwrap(), &[3; 40]);
    page.update(b, &[4; 500]).unwrap();
    assert_eq!(
        field(&page, 36),
        free_end - 500,
        "a longer row moves to free space"
    );
    let page = reopen(page);
    assert_eq!(page.get(a).unwrap(), &[3; 40]);
    assert_eq!(page.get(b).unwrap(), &[4; 500]);
    assert_eq!(page.slot_count(), 2);
}

#[test]
fn update_compacts_when_needed_and_keeps_old_row_on_page_full() {
    let mut page = empty_page();
    let a = page.insert(&[1; 2000]).unwrap();
    let b = page.insert(&[2; 2000]).unwrap();
    page.update(a, &[3; 10]).unwrap();
    // 1990 bytes of garbage; b can grow into it only after compaction.
    assert_eq!(page.free_space(), PAGE_SIZE - 38 - 8 - 2010 - 4);
    page.update(b, &[5; 2040]).unwrap();
    assert_eq!(page.get(b).unwrap(), &[5; 2040]);
    assert_eq!(page.get(a).unwrap(), &[3; 10]);
    let fits = PAGE_SIZE - 38 - 8 - 10;
    assert_eq!(
        page.update(b, &vec![6; fits + 1]),
        Err(Error::PageFull {
            needed: fits + 1,
            free: fits
        })
    );
    assert_eq!(
        page.get(b).unwrap(),
        &[5; 2040],
        "old row intact after PageFull"
    );
    page.update(b, &vec![7; fits]).unwrap();
    assert_eq!(page.get(b).unwrap(), vec![7; fits].as_slice());
    assert_eq!(page.free_space(), 0);
    let page = reopen(page);
    assert_eq!(page.get(a).unwrap(), &[3; 10]);
}

#[test]
fn too_large_rows_are_rejected() {
    let mut page = empty_page();
    let big = vec![0u8; MAX_ROW_LEN + 1];
    let err = Error::RowTooLarge {
        len: MAX_ROW_LEN + 1,
        max: MAX_ROW_LEN,
    };
    assert_eq!(page.insert(&big), Err(err.clone()));
    let slot = page.insert(b"small").unwrap();
    assert_eq!(page.update(slot, &big), Err(err));
    assert_eq!(page.get(slot).unwrap(), b"small");
    assert_eq!(MAX_ROW_LEN, 4054);
    let mut page = empty_page();
    page.insert(&vec![9u8; MAX_ROW_LEN]).unwrap();
    assert_eq!(page.free_space(), 0);
}

#[test]
fn compact_keeps_slots_and_rows() {
    let mut page = empty_page();
    for i in 0..30u8 {
        page.insert(&vec![i; usize::from(i) * 3]).unwrap();
    }
    for slot in (0..30).step_by(3) {
        page.delete(slot).unwrap();
    }
    let before: Vec<(u16, Vec<u8>)> = page.iter().map(|(s, r)| (s, r.to_vec())).collect();
    let free_space = page.free_space();
    page.compact();
    let after: Vec<(u16, Vec<u8>)> = page.iter().map(|(s, r)| (s, r.to_vec())).collect();
    assert_eq!(before, after);
    assert_eq!(page.free_space(), free_space);
    let used: usize = after.iter().map(|(_, r)| r.len()).sum();
    assert_eq!(
        usize::from(field(&page, 36)),
        PAGE_SIZE - used,
        "rows are back to back"
    );
    reopen(page);
}

#[test]
fn fill_to_the_last_byte_empty_compact_refill() {
    let mut page = empty_page();
    // Fill with odd-sized rows until one no longer fits.
    let mut rows = Vec::new();
    let mut i = 0u8;
    loop {
        let row = vec![i; 37 + usize::from(i % 7)];
        match page.insert(&row) {
            Ok(slot) => rows.push((slot, row)),
            Err(Error::PageFull { needed, free }) => {
                assert_eq!(needed, row.len());
                assert_eq!(free, page.free_space());
                break;
            }
            Err(other) => panic!("{other}"),
        }
        i = i.wrapping_add(1);
    }
    // A row of exactly free_space fits, one byte more does not; then the page is full.
    let last = vec![0xFF; page.free_space()];
    assert!(page.insert(&vec![0; page.free_space() + 1]).is_err());
    rows.push((page.insert(&last).unwrap(), last));
    assert_eq!(page.free_space(), 0);
    assert_eq!(
        field(&page, 34),
        field(&page, 36),
        "no byte left between directory and rows"
    );
    assert!(matches!(
        page.insert(b"x"),
        Err(Error::PageFull { needed: 1, free: 0 })
    ));
    assert!(matches!(
        page.insert(b""),
        Err(Error::PageFull { needed: 0, free: 0 })
    ));
    for (slot, row) in &rows {
        assert_eq!(page.get(*slot).unwrap(), row.as_slice());
    }

    // Delete every other row: the freed bytes are fragmented garbage until compaction.
    let mut page = reopen(page);
    for (slot, _) in rows.iter().step_by(2) {
        page.delete(*slot).unwrap();
    }
    let freed = page.free_space();
    assert!(freed > 0);
    // Refill with one big row: insert compacts on its own.
    let big = vec![0xAB; freed];
    let big_slot = page.insert(&big).unwrap();
    assert_eq!(big_slot, 0, "lowest free slot");
    assert_eq!(page.get(big_slot).unwrap(), big.as_slice());
    for (slot, row) in rows.iter().skip(1).step_by(2) {
        assert_eq!(page.get(*slot).unwrap(), row.as_slice());
    }

    // Empty it completely, compact, and fill it again with the original rows.
    let mut page = reopen(page);
    let live: Vec<u16> = page.iter().map(|(slot, _)| slot).collect();
    for slot in live {
        page.delete(slot).unwrap();
    }
    assert_eq!(page.slot_count(), 0);
    page.compact();
    assert_eq!(page.free_space(), MAX_ROW_LEN);
    for (slot, row) in &rows {
        assert_eq!(page.insert(row).unwrap(), *slot);
    }
    assert_eq!(page.free_space(), 0);
    reopen(page);
}

/// Found by the model test: with under 4 bytes left and no free slot, `free_space()` is 0 but an
/// empty row does not fit either, because its slot entry does not.
#[test]
fn empty_row_needs_room_for_its_slot_entry() {
    let mut page = empty_page();
    page.insert(&vec![1; MAX_ROW_LEN - 2]).unwrap(); // leaves 2 bytes and no free slot
    assert_eq!(page.free_space(), 0);
    assert_eq!(
        page.insert(b""),
        Err(Error::PageFull { needed: 0, free: 0 })
    );
    // With a free slot to reuse, the same 2 bytes take an empty row, or a 2-byte one.
    let mut page = empty_page();
    page.insert(b"ab").unwrap();
    page.insert(&vec![1; MAX_ROW_LEN - 6]).unwrap(); // 2 bytes left once "ab" is gone
    page.delete(0).unwrap();
    assert_eq!(page.free_space(), 2);
    assert_eq!(page.insert(b"xy"), Ok(0));
    assert_eq!(page.free_space(), 0);
    page.delete(0).unwrap();
    assert_eq!(page.insert(b""), Ok(0));
    reopen(page);
}
