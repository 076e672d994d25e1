//! Arbitrary bytes as a data page, then arbitrary operations on it.
//!
//! The first input byte picks how the page is made. Even: the next 4096 bytes are the page
//! (zero-padded if shorter). Odd: a valid page is built from a few row lengths, then up to 8
//! bytes of its header and slot directory are overwritten (the fastest way into the deep checks).
//! The rest of the input is a script of operations. `open`, every read and every mutation must
//! not panic, and after each mutation the page must still open and hold exactly the rows a
//! `BTreeMap` model says it should.

#![no_main]

use std::collections::BTreeMap;

use jdb_layout::{DataPage, PAGE_SIZE, PageHeader, verify};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let (bytes, script) = if mode % 2 == 0 {
        raw_page(rest)
    } else {
        damaged_page(rest)
    };
    let _ = verify(&bytes, 0);
    let _ = PageHeader::decode(&bytes);
    let Ok(mut page) = DataPage::open(bytes) else {
        return;
    };
    let mut model: BTreeMap<u16, Vec<u8>> = page.iter().map(|(s, r)| (s, r.to_vec())).collect();
    check(&page, &model);
    for op in script.chunks(3).take(64) {
        let [tag, a, b] = [0, 1, 2].map(|i| op.get(i).copied().unwrap_or(0));
        let slot = u16::from(a) % (page.slot_count() + 2);
        let len = (usize::from(a) << 8 | usize::from(b)) % (PAGE_SIZE + 16);
        match tag % 5 {
            0 => {
                let row = vec![b; len];
                if let Ok(slot) = page.insert(&row) {
                    model.insert(slot, row);
                }
            }
            1 => {
                let row = vec![tag; usize::from(b) * 8];
                if page.update(slot, &row).is_ok() {
                    model.insert(slot, row);
                }
            }
            2 => {
                if page.delete(slot).is_ok() {
                    model.remove(&slot);
                }
            }
            3 => page.compact(),
            _ => {
                // free_space() is exact: one byte more never fits, exactly that many does
                // (unless it is 0 and there is no room left for a new slot entry).
                let free = page.free_space();
                assert!(page.insert(&vec![a; free + 1]).is_err());
                match page.insert(&vec![a; free]) {
                    Ok(slot) => {
                        model.insert(slot, vec![a; free]);
                    }
                    Err(err) => assert_eq!(free, 0, "{err}"),
                }
            }
        }
        check(&page, &model);
    }
});

/// The first 4096 bytes as a page, zero-padded, and the rest.
fn raw_page(data: &[u8]) -> (Vec<u8>, &[u8]) {
    let (page, script) = data.split_at(data.len().min(PAGE_SIZE));
    let mut bytes = page.to_vec();
    bytes.resize(PAGE_SIZE, 0);
    (bytes, script)
}

/// A valid page with rows of the given lengths (every third then deleted), with some bytes in
/// 16..160 overwritten, and the rest of the input.
fn damaged_page(data: &[u8]) -> (Vec<u8>, &[u8]) {
    let mut input = data.iter().copied();
    let mut next = || input.next().unwrap_or(0);
    let mut page = DataPage::init(vec![0u8; PAGE_SIZE]).expect("page-sized buffer");
    for i in 0..next() % 48 {
        let _ = page.insert(&vec![i; usize::from(next()) * 2]);
        if i % 3 == 2 {
            let _ = page.delete(u16::from(i / 2));
        }
    }
    let mut bytes = page.into_inner();
    for _ in 0..next() % 9 {
        let at = 16 + usize::from(next()) % 144;
        bytes[at] = next();
    }
    let used = data.len() - input.len();
    (bytes, &data[used..])
}

fn check(page: &DataPage<Vec<u8>>, model: &BTreeMap<u16, Vec<u8>>) {
    DataPage::open(page.as_bytes()).expect("a method left an invalid page");
    assert_eq!(page.live_count(), model.len());
    for slot in 0..page.slot_count().saturating_add(1) {
        assert_eq!(page.get(slot).ok(), model.get(&slot).map(Vec::as_slice));
    }
    assert!(
        page.iter()
            .map(|(s, r)| (s, r))
            .eq(model.iter().map(|(s, r)| (*s, r.as_slice())))
    );
    let _ = page.free_space();
}
