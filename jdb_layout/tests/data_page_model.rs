//! Model test: random inserts, updates, deletes, compactions and reopens against a `BTreeMap`,
//! compared after every step.

use std::collections::BTreeMap;

use jdb_layout::{DataPage, Error, MAX_ROW_LEN, PAGE_SIZE};
use proptest::prelude::*;

#[derive(Debug, Clone)]
enum Op {
    Insert(Vec<u8>),
    /// Update the n-th live row (modulo the live count), or a missing slot if none.
    Update(usize, Vec<u8>),
    Delete(usize),
    /// Get/delete a slot number that may or may not exist.
    Probe(u16),
    Compact,
    Reopen,
}

fn row() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        8 => prop::collection::vec(any::<u8>(), 0..64),
        3 => prop::collection::vec(any::<u8>(), 64..700),
        1 => (0..=MAX_ROW_LEN + 8).prop_map(|len| vec![0x5A; len]),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => row().prop_map(Op::Insert),
        3 => (any::<usize>(), row()).prop_map(|(n, row)| Op::Update(n, row)),
        3 => any::<usize>().prop_map(Op::Delete),
        1 => (0u16..40).prop_map(Op::Probe),
        1 => Just(Op::Compact),
        1 => Just(Op::Reopen),
    ]
}

/// What the page should look like, and what it can still take.
#[derive(Default)]
struct Model {
    rows: BTreeMap<u16, Vec<u8>>,
}

impl Model {
    /// Trailing free slots are trimmed, so the directory ends at the last live slot.
    fn slot_count(&self) -> u16 {
        self.rows.keys().next_back().map_or(0, |last| last + 1)
    }

    fn lowest_free_slot(&self) -> u16 {
        (0..).find(|slot| !self.rows.contains_key(slot)).unwrap()
    }

    /// Bytes not used by the header, directory or live rows.
    fn reclaimable(&self) -> usize {
        let used: usize = self.rows.values().map(Vec::len).sum();
        PAGE_SIZE - 38 - 4 * usize::from(self.slot_count()) - used
    }

    /// 4 bytes for a new directory entry, unless a free slot can be reused.
    fn slot_cost(&self) -> usize {
        if self.lowest_free_slot() < self.slot_count() {
            0
        } else {
            4
        }
    }

    fn free_space(&self) -> usize {
        self.reclaimable().saturating_sub(self.slot_cost())
    }

    /// Whether an insert of `len` bytes fits: not the same as `len <= free_space()` when even
    /// the slot entry does not fit.
    fn fits(&self, len: usize) -> bool {
        len + self.slot_cost() <= self.reclaimable()
    }

    fn nth_slot(&self, n: usize) -> Option<u16> {
        if self.rows.is_empty() {
            return None;
        }
        self.rows.keys().nth(n % self.rows.len()).copied()
    }
}

fn check(page: &DataPage<Vec<u8>>, model: &Model) {
    assert_eq!(page.slot_count(), model.slot_count());
    assert_eq!(page.live_count(), model.rows.len());
    assert_eq!(page.free_space(), model.free_space());
    for (slot, row) in &model.rows {
        assert_eq!(page.get(*slot).unwrap(), row.as_slice(), "slot {slot}");
    }
    let listed: Vec<(u16, &[u8])> = page.iter().collect();
    let expected: Vec<(u16, &[u8])> = model.rows.iter().map(|(s, r)| (*s, r.as_slice())).collect();
    assert_eq!(listed, expected);
    // The bytes are a valid data page after every step.
    DataPage::open(page.as_bytes()).unwrap();
}

fn apply(page: DataPage<Vec<u8>>, model: &mut Model, op: Op) -> DataPage<Vec<u8>> {
    let mut page = page;
    match op {
        Op::Insert(row) => {
            let result = page.insert(&row);
            if row.len() > MAX_ROW_LEN {
                assert_eq!(
                    result,
                    Err(Error::RowTooLarge {
                        len: row.len(),
                        max: MAX_ROW_LEN
                    })
                );
            } else if !model.fits(row.len()) {
                let free = model.free_space();
                assert_eq!(
                    result,
                    Err(Error::PageFull {
                        needed: row.len(),
                        free
                    })
                );
            } else {
                let slot = model.lowest_free_slot();
                assert_eq!(result, Ok(slot));
                model.rows.insert(slot, row);
            }
        }
        Op::Update(n, row) => {
            let Some(slot) = model.nth_slot(n) else {
                let slot_count = model.slot_count();
                assert_eq!(
                    page.update(0, &row),
                    Err(Error::BadSlot {
                        slot: 0,
                        slot_count
                    })
                );
                return page;
            };
            let old_len = model.rows[&slot].len();
            let result = page.update(slot, &row);
            if row.len() > MAX_ROW_LEN {
                assert_eq!(
                    result,
                    Err(Error::RowTooLarge {
                        len: row.len(),
                        max: MAX_ROW_LEN
                    })
                );
            } else if row.len() > model.reclaimable() + old_len {
                let free = model.reclaimable() + old_len;
                assert_eq!(
                    result,
                    Err(Error::PageFull {
                        needed: row.len(),
                        free
                    })
                );
            } else {
                assert_eq!(result, Ok(()));
                model.rows.insert(slot, row);
            }
        }
        Op::Delete(n) => {
            if let Some(slot) = model.nth_slot(n) {
                page.delete(slot).unwrap();
                model.rows.remove(&slot);
            }
        }
        Op::Probe(slot) => {
            let slot_count = model.slot_count();
            match model.rows.get(&slot) {
                Some(row) => assert_eq!(page.get(slot).unwrap(), row.as_slice()),
                None => {
                    let missing = Error::BadSlot { slot, slot_count };
                    assert_eq!(page.get(slot), Err(missing.clone()));
                    assert_eq!(page.delete(slot), Err(missing));
                }
            }
        }
        Op::Compact => page.compact(),
        Op::Reopen => page = DataPage::open(page.into_inner()).unwrap(),
    }
    page
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn data_page_matches_btreemap_model(ops in prop::collection::vec(op(), 1..200)) {
        let mut page = DataPage::init(vec![0u8; PAGE_SIZE]).unwrap();
        let mut model = Model::default();
        check(&page, &model);
        for op in ops {
            page = apply(page, &mut model, op);
            check(&page, &model);
        }
    }
}
