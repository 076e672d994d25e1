//! One test per way a page can be damaged: each is caught by `verify` with its own error.

use jdb_layout::{
    Error, PAGE_SIZE, PageHeader, PageType, checksum, is_all_zero, seal, stored_magic, verify,
};

const ID: u32 = 42;

/// A sealed data page with a few rows in it.
fn sealed_page() -> Vec<u8> {
    let mut page = vec![0u8; PAGE_SIZE];
    PageHeader::new(ID, PageType::Data)
        .encode(&mut page)
        .unwrap();
    let mut rows = jdb_layout::DataPage::init(&mut page[..]).unwrap();
    for i in 0..20u8 {
        rows.insert(&[i; 37]).unwrap();
    }
    seal(&mut page).unwrap();
    verify(&page, ID).unwrap();
    page
}

/// A tiny deterministic generator (xorshift64*), so the tests need no rng crate.
fn pseudo_random_bytes(seed: u64, len: usize) -> Vec<u8> {
    let mut state = seed | 1;
    (0..len)
        .map(|_| {
            state ^= state >> 12;
            state ^= state << 25;
            state ^= state >> 27;
            (state.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 56) as u8
        })
        .collect()
}

#[test]
fn every_flipped_bit_is_detected() {
    let page = sealed_page();
    let mut damaged = page.clone();
    for byte in 0..PAGE_SIZE {
        for bit in 0..8 {
            damaged[byte] ^= 1 << bit;
            let err = verify(&damaged, ID).unwrap_err();
            if (20..24).contains(&byte) {
                assert!(
                    matches!(err, Error::Foreign { page: ID, .. }),
                    "{byte}.{bit}: {err}"
                );
            } else {
                let stored = u32::from_le_bytes(damaged[0..4].try_into().unwrap());
                let expected = Error::ChecksumMismatch {
                    page: ID,
                    stored,
                    computed: checksum(&damaged[4..]),
                };
                assert_eq!(err, expected, "byte {byte} bit {bit}");
            }
            damaged[byte] ^= 1 << bit;
        }
    }
    assert_eq!(damaged, page);
}

#[test]
fn wrong_page_id_is_misdirected() {
    let page = sealed_page();
    assert_eq!(
        verify(&page, ID + 1),
        Err(Error::Misdirected {
            expected: ID + 1,
            found: ID,
        })
    );
}

#[test]
fn zeroed_page_was_never_written() {
    let page = vec![0u8; PAGE_SIZE];
    assert!(is_all_zero(&page));
    assert_eq!(verify(&page, ID), Err(Error::NeverWritten { page: ID }));
    let mut almost = page.clone();
    almost[PAGE_SIZE - 1] = 1;
    assert!(!is_all_zero(&almost));
    assert!(matches!(verify(&almost, ID), Err(Error::Foreign { .. })));
}

#[test]
fn random_bytes_are_foreign() {
    for seed in 1..50 {
        let page = pseudo_random_bytes(seed, PAGE_SIZE);
        let magic = stored_magic(&page).unwrap();
        assert_eq!(verify(&page, ID), Err(Error::Foreign { page: ID, magic }));
    }
}

#[test]
fn text_file_is_foreign() {
    let text = include_str!("../src/data_page.rs");
    let page: Vec<u8> = text.bytes().cycle().take(PAGE_SIZE).collect();
    let magic: [u8; 4] = page[20..24].try_into().unwrap();
    assert_eq!(verify(&page, ID), Err(Error::Foreign { page: ID, magic }));
}

#[test]
fn sealed_page_without_magic_is_foreign() {
    let mut page = sealed_page();
    page[20..24].copy_from_slice(b"XXXX");
    seal(&mut page).unwrap();
    assert_eq!(
        verify(&page, ID),
        Err(Error::Foreign {
            page: ID,
            magic: *b"XXXX",
        })
    );
}

#[test]
fn truncated_or_long_buffer_is_bad_length() {
    let page = sealed_page();
    for len in [0, 1, 31, 32, 2048, PAGE_SIZE - 1] {
        assert_eq!(verify(&page[..len], ID), Err(Error::BadLength { len }));
    }
    let mut long = page.clone();
    long.push(0);
    assert_eq!(
        verify(&long, ID),
        Err(Error::BadLength { len: PAGE_SIZE + 1 })
    );
}

#[test]
fn other_version_is_unsupported() {
    let mut page = sealed_page();
    page[18..20].copy_from_slice(&2u16.to_le_bytes());
    seal(&mut page).unwrap();
    assert_eq!(
        verify(&page, ID),
        Err(Error::UnsupportedVersion {
            page: ID,
            version: 2,
        })
    );
}

#[test]
fn sealed_page_type_zero_is_rejected() {
    let mut page = sealed_page();
    page[16] = 0;
    seal(&mut page).unwrap();
    assert_eq!(verify(&page, ID), Err(Error::BadPageType { value: 0 }));
}

#[test]
fn torn_write_is_a_checksum_mismatch() {
    // The first half of a newer version of the page landed, the second half did not.
    let old = sealed_page();
    let mut newer = old.clone();
    newer[8..16].copy_from_slice(&7u64.to_le_bytes());
    newer[3000] ^= 0x10;
    seal(&mut newer).unwrap();
    let mut torn = newer[..PAGE_SIZE / 2].to_vec();
    torn.extend_from_slice(&old[PAGE_SIZE / 2..]);
    assert!(matches!(
        verify(&torn, ID),
        Err(Error::ChecksumMismatch { page: ID, .. })
    ));
}
