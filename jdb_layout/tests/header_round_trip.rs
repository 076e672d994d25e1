//! A header written with `encode` + `seal` reads back identically through `decode` and `verify`.

use jdb_layout::{
    Error, FORMAT_VERSION, PAGE_HEADER_SIZE, PAGE_MAGIC, PAGE_SIZE, PageHeader, PageType, checksum,
    page_checksum, seal, stored_checksum, stored_magic, verify,
};

fn sealed_page(header: &PageHeader) -> Vec<u8> {
    let mut page = vec![0u8; PAGE_SIZE];
    for (i, byte) in page.iter_mut().enumerate().skip(PAGE_HEADER_SIZE) {
        *byte = (i % 251) as u8;
    }
    header.encode(&mut page).unwrap();
    seal(&mut page).unwrap();
    page
}

#[test]
fn crc32c_known_vector() {
    assert_eq!(checksum(b"123456789"), 0xE306_9283);
    assert_eq!(checksum(b""), 0);
    // The CRC-32 (ISO-HDLC, zlib) value would be 0xCBF43926: make sure that is not what we use.
    assert_ne!(checksum(b"123456789"), 0xCBF4_3926);
}

#[test]
fn header_round_trips_through_seal_and_verify() {
    let headers = [
        PageHeader::new(0, PageType::Free),
        PageHeader::new(1, PageType::Data),
        PageHeader {
            page_id: u32::MAX,
            lsn: u64::MAX,
            page_type: PageType::Other(200),
            flags: 0xFF,
            version: FORMAT_VERSION,
        },
        PageHeader {
            page_id: 123_456,
            lsn: 987_654_321,
            page_type: PageType::Meta,
            flags: 0b1010,
            version: FORMAT_VERSION,
        },
    ];
    for header in headers {
        let page = sealed_page(&header);
        assert_eq!(PageHeader::decode(&page).unwrap(), header);
        assert_eq!(verify(&page, header.page_id).unwrap(), header);
        assert_eq!(stored_magic(&page).unwrap(), PAGE_MAGIC);
        assert_eq!(stored_checksum(&page).unwrap(), checksum(&page[4..]));
        assert_eq!(page_checksum(&page).unwrap(), checksum(&page[4..]));
    }
}

#[test]
fn new_header_has_current_version_and_zero_lsn() {
    let header = PageHeader::new(9, PageType::Data);
    assert_eq!(header.version, FORMAT_VERSION);
    assert_eq!(header.version, 1);
    assert_eq!(header.lsn, 0);
    assert_eq!(header.flags, 0);
}

#[test]
fn encode_zeroes_reserved_and_keeps_the_body() {
    let mut page = vec![0xEEu8; PAGE_SIZE];
    PageHeader::new(3, PageType::Data)
        .encode(&mut page)
        .unwrap();
    assert_eq!(&page[0..4], &[0xEE; 4], "checksum is left for seal");
    assert_eq!(&page[20..24], b"JDBP");
    assert_eq!(&page[24..32], &[0; 8]);
    assert!(page[32..].iter().all(|&byte| byte == 0xEE));
}

#[test]
fn decode_ignores_reserved_bytes() {
    let header = PageHeader::new(5, PageType::Data);
    let mut page = sealed_page(&header);
    page[24..32].fill(0x55);
    seal(&mut page).unwrap();
    assert_eq!(verify(&page, 5).unwrap(), header);
}

#[test]
fn seal_checks_the_length() {
    for len in [0, 4, PAGE_SIZE - 1, PAGE_SIZE + 1, 2 * PAGE_SIZE] {
        let mut page = vec![0u8; len];
        assert_eq!(seal(&mut page), Err(Error::BadLength { len }));
        assert_eq!(page_checksum(&page), Err(Error::BadLength { len }));
    }
}

#[test]
fn reseal_after_change_verifies() {
    let mut page = sealed_page(&PageHeader::new(11, PageType::Data));
    page[2000] ^= 0xFF;
    assert!(verify(&page, 11).is_err());
    seal(&mut page).unwrap();
    assert!(verify(&page, 11).is_ok());
}
