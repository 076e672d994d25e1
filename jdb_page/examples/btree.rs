//! A B+tree of `u64` keys and values over a shared [`BufferPool`]: the client the pool is built
//! for. Many tasks insert and look up at once; nodes are latched with the pool's guards using
//! latch coupling (crabbing); splits allocate pages while holding guards; every result is checked
//! against a `BTreeMap`, and the tree is checked again after the pool is closed and reopened.
//!
//! ```text
//! cargo run --release -p jdb_page --example btree -- [--tasks N] [--ops N] [--keys N]
//!     [--cap FRAMES] [--fanout N] [--seed N] [--dir DIR] [--inject-mismatch]
//! ```
//!
//! With no arguments: 32 tasks, 1,000 operations each on 20,000 keys, a pool of 64 frames (so
//! nodes are evicted and written back all the time) and nodes of at most 32 entries (so the tree
//! is a few levels deep and splits often). Prints one line on success; exits with 1 and one line
//! on stderr on any mismatch. `--inject-mismatch` changes one value of the model (not of the
//! tree) after the workload, so that the check must fail: a test of the check itself.
//!
//! # The tree
//!
//! Page 0 is the meta page (root id, height); every other page is a node, in its payload:
//!
//! ```text
//! 0       level   u8    0 for a leaf
//! 2..4    count   u16   entries (leaf) or keys (inner node)
//! 4..8    right   u32   next leaf (leaves only; u32::MAX for the last)
//! 16..    leaf:   count x (key u64, value u64)
//!         inner:  keys u64 x MAX_INNER, then children u32 x (MAX_INNER + 1)
//! ```
//!
//! An inner node with keys `k0..kn` and children `c0..c(n+1)` sends a key `k` to `c(i)` where `i`
//! is the number of keys `<= k`.
//!
//! # Latching
//!
//! Every task takes latches top-down (meta, root, ..., leaf) and never waits for an ancestor
//! while holding a descendant, so tasks cannot deadlock on each other.
//!
//! - A lookup couples shared latches: it takes the child's [`PageRef`] before it drops the
//!   parent's.
//! - An insert first goes down optimistically (shared latches, the leaf exclusive); when the leaf
//!   has no room it starts again pessimistically: exclusive latches down from the meta page,
//!   letting go of every ancestor above a node that cannot split (one with room).
//! - A split allocates the new sibling (and a new root) while it holds the path: the pool lets a
//!   task allocate while holding guards.
//! - When the pool has no free frame because every frame is held (`PoolFull`), the operation lets
//!   go of all its guards, yields, and starts again, as an engine over a bounded pool must.
//!
//! The model (`BTreeMap`) is updated while the leaf that holds the key is latched exclusively, so
//! a lookup that holds the leaf's shared latch must find exactly what the model says.

use std::{
    cell::{Cell, RefCell},
    collections::BTreeMap,
    path::{Path, PathBuf},
    process::ExitCode,
    rc::Rc,
    task::Poll,
};

use jdb_fs::File;
use jdb_page::{BufferPool, Error, Page, PageId, PageMut, PageRef};

/// Largest leaf and inner node that fit a page's 4064-byte payload.
const MAX_LEAF: usize = (4064 - 16) / 16;
const MAX_INNER: usize = (4064 - 16 - 4) / 12;
const NO_PAGE: u32 = u32::MAX;
const META: PageId = 0;
/// Times one operation starts again on a full pool before it gives up (the pool is then too
/// small for the tree's height and the tasks).
const MAX_RETRIES: usize = 100_000;

/// What to run.
#[derive(Debug, Clone)]
pub struct Config {
    /// Tasks inserting and looking up at once.
    pub tasks: usize,
    /// Operations per task (60 % inserts, 40 % lookups).
    pub ops: usize,
    /// Keys are drawn from `0..keys`.
    pub keys: u64,
    /// Frames in the pool.
    pub cap: usize,
    /// Most entries of a leaf and keys of an inner node.
    pub fanout: usize,
    /// Seed of the operations.
    pub seed: u64,
    /// Where to put the file (default: a temporary directory here).
    pub dir: Option<PathBuf>,
    /// After the workload, change one value of the model (not of the tree), so that the check
    /// must find a mismatch and the run must fail.
    pub inject_mismatch: bool,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            tasks: 32,
            ops: 1000,
            keys: 20_000,
            cap: 64,
            fanout: 32,
            seed: 1,
            dir: None,
            inject_mismatch: false,
        }
    }
}

/// What a run did.
#[derive(Debug, Default, Clone, Copy)]
pub struct Outcome {
    /// Inserts done.
    pub inserts: u64,
    /// Lookups done (each checked against the model).
    pub lookups: u64,
    /// Nodes split.
    pub splits: u64,
    /// Inserts that found a full leaf and went down again with exclusive latches.
    pub pessimistic: u64,
    /// Operations started again because every frame was held.
    pub full_retries: u64,
    /// Levels of the tree at the end.
    pub height: u32,
    /// Keys in the tree at the end.
    pub keys: usize,
    /// Pages in the file at the end.
    pub pages: u32,
}

/// Why a run failed: a disagreement with the model, or an error of the pool.
#[derive(Debug)]
pub struct Failure(pub String);

// ---- node layout -------------------------------------------------------------------------------

fn read_u16(b: &[u8], at: usize) -> usize {
    u16::from_le_bytes([b[at], b[at + 1]]) as usize
}
fn read_u32(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(b[at..at + 4].try_into().unwrap())
}
fn read_u64(b: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(b[at..at + 8].try_into().unwrap())
}

fn level(p: &Page) -> u8 {
    p.data()[0]
}
fn count(p: &Page) -> usize {
    read_u16(p.data(), 2)
}
fn right(p: &Page) -> u32 {
    read_u32(p.data(), 4)
}
fn leaf_key(p: &Page, i: usize) -> u64 {
    read_u64(p.data(), 16 + 16 * i)
}
fn leaf_value(p: &Page, i: usize) -> u64 {
    read_u64(p.data(), 24 + 16 * i)
}
fn inner_key(p: &Page, i: usize) -> u64 {
    read_u64(p.data(), 16 + 8 * i)
}
fn child(p: &Page, i: usize) -> PageId {
    read_u32(p.data(), 16 + 8 * MAX_INNER + 4 * i)
}

fn set_header(p: &mut Page, level: u8, count: usize, right: u32) {
    let d = p.data_mut();
    d[0] = level;
    d[2..4].copy_from_slice(&(count as u16).to_le_bytes());
    d[4..8].copy_from_slice(&right.to_le_bytes());
}
fn set_leaf(p: &mut Page, i: usize, key: u64, value: u64) {
    let d = p.data_mut();
    d[16 + 16 * i..24 + 16 * i].copy_from_slice(&key.to_le_bytes());
    d[24 + 16 * i..32 + 16 * i].copy_from_slice(&value.to_le_bytes());
}
fn set_inner_key(p: &mut Page, i: usize, key: u64) {
    p.data_mut()[16 + 8 * i..24 + 8 * i].copy_from_slice(&key.to_le_bytes());
}
fn set_child(p: &mut Page, i: usize, c: PageId) {
    let at = 16 + 8 * MAX_INNER + 4 * i;
    p.data_mut()[at..at + 4].copy_from_slice(&c.to_le_bytes());
}

/// Position of `key` in a leaf: `Ok(i)` if present, `Err(i)` where it would go.
fn leaf_search(p: &Page, key: u64) -> Result<usize, usize> {
    let (mut lo, mut hi) = (0, count(p));
    while lo < hi {
        let mid = (lo + hi) / 2;
        match leaf_key(p, mid).cmp(&key) {
            std::cmp::Ordering::Equal => return Ok(mid),
            std::cmp::Ordering::Less => lo = mid + 1,
            std::cmp::Ordering::Greater => hi = mid,
        }
    }
    Err(lo)
}

/// The child of an inner node that holds `key`.
fn child_for(p: &Page, key: u64) -> PageId {
    let (mut lo, mut hi) = (0, count(p));
    while lo < hi {
        let mid = (lo + hi) / 2;
        if inner_key(p, mid) <= key {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    child(p, lo)
}

fn root_of(meta: &Page) -> (PageId, u32) {
    (read_u32(meta.data(), 4), read_u32(meta.data(), 8))
}
fn set_root(meta: &mut Page, root: PageId, height: u32) {
    let d = meta.data_mut();
    d[..4].copy_from_slice(b"BTRE");
    d[4..8].copy_from_slice(&root.to_le_bytes());
    d[8..12].copy_from_slice(&height.to_le_bytes());
}

// ---- the tree ----------------------------------------------------------------------------------

/// Why an operation starts again.
enum Retry {
    /// Every frame is held: let go of everything and try again.
    PoolFull,
    Fatal(Error),
}

impl From<Error> for Retry {
    fn from(e: Error) -> Self {
        match e {
            Error::PoolFull { .. } => Retry::PoolFull,
            e => Retry::Fatal(e),
        }
    }
}

struct Tree {
    pool: BufferPool,
    fanout: usize,
    model: RefCell<BTreeMap<u64, u64>>,
    mismatch: RefCell<Option<String>>,
    splits: Cell<u64>,
    pessimistic: Cell<u64>,
    full_retries: Cell<u64>,
    /// Pages allocated for a split that started again, for the next split.
    spare: RefCell<Vec<PageId>>,
}

impl Tree {
    /// Creates an empty tree (meta page and an empty root leaf) in a new pool.
    async fn create(pool: BufferPool, fanout: usize) -> Result<Self, Error> {
        let mut meta = pool.alloc().await?;
        let mut root = pool.alloc().await?;
        set_header(&mut root, 0, 0, NO_PAGE);
        set_root(&mut meta, root.id(), 1);
        drop((meta, root));
        Ok(Self::over(pool, fanout))
    }

    fn over(pool: BufferPool, fanout: usize) -> Self {
        Self {
            pool,
            fanout,
            model: RefCell::new(BTreeMap::new()),
            mismatch: RefCell::new(None),
            splits: Cell::new(0),
            pessimistic: Cell::new(0),
            full_retries: Cell::new(0),
            spare: RefCell::new(Vec::new()),
        }
    }

    fn leaf_max(&self) -> usize {
        self.fanout.min(MAX_LEAF)
    }

    fn inner_max(&self) -> usize {
        self.fanout.min(MAX_INNER)
    }

    fn fail(&self, what: String) {
        self.mismatch.borrow_mut().get_or_insert(what);
    }

    /// Looks `key` up and checks it against the model while the leaf is latched.
    async fn lookup(&self, key: u64) -> Result<Option<u64>, Error> {
        for _ in 0..MAX_RETRIES {
            match self.try_lookup(key).await {
                Ok(found) => return Ok(found),
                Err(Retry::PoolFull) => self.back_off().await,
                Err(Retry::Fatal(e)) => return Err(e),
            }
        }
        Err(self.pool_too_small())
    }

    /// The error of an operation that never found room: even alone, a task needs up to
    /// 2 x height + 2 frames (the path and a new node per level).
    fn pool_too_small(&self) -> Error {
        Error::PoolFull {
            cap: self.pool.cap(),
            pinned: self.pool.cap(),
        }
    }

    async fn try_lookup(&self, key: u64) -> Result<Option<u64>, Retry> {
        let meta = self.pool.read(META).await?;
        let (root, _) = root_of(&meta);
        let mut node: PageRef<'_> = self.pool.read(root).await?;
        drop(meta);
        while level(&node) > 0 {
            let next = self.pool.read(child_for(&node, key)).await?;
            node = next; // the parent is let go only once the child is held
        }
        let found = leaf_search(&node, key).ok().map(|i| leaf_value(&node, i));
        let expected = self.model.borrow().get(&key).copied();
        if found != expected {
            self.fail(format!(
                "lookup of {key}: the tree has {found:?}, the model {expected:?}"
            ));
        }
        Ok(found)
    }

    /// Inserts (or updates) `key`.
    async fn insert(&self, key: u64, value: u64) -> Result<(), Error> {
        for _ in 0..MAX_RETRIES {
            let done = match self.try_insert_optimistic(key, value).await {
                Ok(true) => Ok(()),
                Ok(false) => {
                    self.pessimistic.set(self.pessimistic.get() + 1);
                    self.try_insert_pessimistic(key, value).await
                }
                Err(e) => Err(e),
            };
            match done {
                Ok(()) => return Ok(()),
                Err(Retry::PoolFull) => self.back_off().await,
                Err(Retry::Fatal(e)) => return Err(e),
            }
        }
        Err(self.pool_too_small())
    }

    /// Shared latches down to the leaf's parent, the leaf exclusive. `Ok(false)`: the leaf is
    /// full (a split is needed): nothing was changed.
    async fn try_insert_optimistic(&self, key: u64, value: u64) -> Result<bool, Retry> {
        let meta = self.pool.read(META).await?;
        let (root, height) = root_of(&meta);
        let mut leaf: PageMut<'_> = if height == 1 {
            let leaf = self.pool.get(root).await?;
            drop(meta);
            leaf
        } else {
            let mut node = self.pool.read(root).await?;
            drop(meta);
            while level(&node) > 1 {
                let next = self.pool.read(child_for(&node, key)).await?;
                node = next;
            }
            let leaf = self.pool.get(child_for(&node, key)).await?;
            drop(node);
            leaf
        };
        let at = leaf_search(&leaf, key);
        if at.is_err() && count(&leaf) >= self.leaf_max() {
            return Ok(false);
        }
        self.put(&mut leaf, at, key, value);
        Ok(true)
    }

    /// Exclusive latches from the meta page down, keeping only the nodes a split may reach.
    async fn try_insert_pessimistic(&self, key: u64, value: u64) -> Result<(), Retry> {
        let meta = self.pool.get(META).await?;
        let (root, _) = root_of(&meta);
        let mut path: Vec<PageMut<'_>> = vec![meta];
        let mut node = self.pool.get(root).await?;
        loop {
            let safe = if level(&node) == 0 {
                count(&node) < self.leaf_max() || leaf_search(&node, key).is_ok()
            } else {
                count(&node) < self.inner_max()
            };
            if safe {
                path.clear(); // nothing above can split: let go of it
            }
            let leaf = level(&node) == 0;
            let next = (!leaf).then(|| child_for(&node, key));
            path.push(node);
            match next {
                None => break,
                Some(c) => node = self.pool.get(c).await?,
            }
        }
        // `path` ends with the leaf; every node before it is full (or the meta page).
        let mut leaf = path.pop().unwrap_or_else(|| unreachable!());
        let at = leaf_search(&leaf, key);
        if at.is_ok() || count(&leaf) < self.leaf_max() {
            self.put(&mut leaf, at, key, value);
            return Ok(());
        }
        // Allocate every page the split needs before changing anything, so that running out
        // of frames (PoolFull, and a retry) leaves the tree as it was: a sibling per full node,
        // and a new root when the root is full (the meta page is still held).
        let full_parents = path
            .iter()
            .filter(|p| p.id() != META && count(p) >= self.inner_max());
        let needed =
            1 + full_parents.count() + usize::from(path.first().is_some_and(|p| p.id() == META));
        let mut fresh = Vec::with_capacity(needed);
        for _ in 0..needed {
            match self.new_node().await {
                Ok(page) => fresh.push(page),
                Err(e) => {
                    self.spare
                        .borrow_mut()
                        .extend(fresh.iter().map(|p: &PageMut<'_>| p.id()));
                    return Err(e.into());
                }
            }
        }
        // Split the leaf, then carry the separator up the path.
        let mut sibling = fresh.pop().unwrap_or_else(|| unreachable!());
        let (mut sep, mut new_child) = self.split_leaf(&mut leaf, &mut sibling, key, value);
        drop((leaf, sibling));
        while let Some(mut parent) = path.pop() {
            if parent.id() == META {
                // The root split: a new root above the old one.
                let (old_root, height) = root_of(&parent);
                let mut root = fresh.pop().unwrap_or_else(|| unreachable!());
                let lvl = u8::try_from(height).unwrap_or(u8::MAX);
                write_inner(&mut root, lvl, &[sep], &[old_root, new_child]);
                set_root(&mut parent, root.id(), height + 1);
                break;
            }
            if count(&parent) < self.inner_max() {
                inner_insert(&mut parent, sep, new_child);
                break;
            }
            let mut sibling = fresh.pop().unwrap_or_else(|| unreachable!());
            (sep, new_child) = self.split_inner(&mut parent, &mut sibling, sep, new_child);
        }
        debug_assert!(fresh.is_empty());
        Ok(())
    }

    /// A page for a new node: one allocated earlier and not used (a split that had to start
    /// again), else a new one.
    async fn new_node(&self) -> Result<PageMut<'_>, Error> {
        let spare = self.spare.borrow_mut().pop();
        match spare {
            Some(id) => self.pool.get(id).await,
            None => self.pool.alloc().await,
        }
    }

    /// Puts `key` at `at` in a leaf with room, and in the model, while the leaf is latched.
    fn put(&self, leaf: &mut Page, at: Result<usize, usize>, key: u64, value: u64) {
        match at {
            Ok(i) => set_leaf(leaf, i, key, value),
            Err(i) => {
                let n = count(leaf);
                let d = leaf.data_mut();
                d.copy_within(16 + 16 * i..16 + 16 * n, 32 + 16 * i);
                let (lvl, r) = (leaf.data()[0], right(leaf));
                set_leaf(leaf, i, key, value);
                set_header(leaf, lvl, n + 1, r);
            }
        }
        self.model.borrow_mut().insert(key, value);
    }

    /// Moves the upper half of full `leaf` to the new `sibling`, puts `key`, links the leaves;
    /// returns the separator (the sibling's first key) and the sibling's id.
    fn split_leaf(&self, leaf: &mut Page, sibling: &mut Page, key: u64, value: u64) -> (u64, u32) {
        self.splits.set(self.splits.get() + 1);
        let n = count(leaf);
        let keep = n / 2;
        for i in keep..n {
            set_leaf(sibling, i - keep, leaf_key(leaf, i), leaf_value(leaf, i));
        }
        set_header(sibling, 0, n - keep, right(leaf));
        set_header(leaf, 0, keep, sibling.id());
        let sep = leaf_key(sibling, 0);
        let target: &mut Page = if key < sep { leaf } else { sibling };
        let at = leaf_search(target, key);
        self.put(target, at, key, value);
        (sep, sibling.id())
    }

    /// Splits full inner `node` into it and `sibling` and adds (`sep`, `new_child`); returns the
    /// key that moves up and the sibling's id.
    fn split_inner(
        &self,
        node: &mut Page,
        sibling: &mut Page,
        sep: u64,
        new_child: PageId,
    ) -> (u64, PageId) {
        self.splits.set(self.splits.get() + 1);
        // All keys and children with the new one, then cut in the middle.
        let n = count(node);
        let mut keys: Vec<u64> = (0..n).map(|i| inner_key(node, i)).collect();
        let mut children: Vec<PageId> = (0..=n).map(|i| child(node, i)).collect();
        let at = keys.partition_point(|&k| k <= sep);
        keys.insert(at, sep);
        children.insert(at + 1, new_child);
        let mid = keys.len() / 2;
        let up = keys[mid];
        let lvl = level(node);
        write_inner(node, lvl, &keys[..mid], &children[..=mid]);
        write_inner(sibling, lvl, &keys[mid + 1..], &children[mid + 1..]);
        (up, sibling.id())
    }

    async fn back_off(&self) {
        self.full_retries.set(self.full_retries.get() + 1);
        let mut yielded = false;
        std::future::poll_fn(|cx| {
            if yielded {
                Poll::Ready(())
            } else {
                yielded = true;
                cx.waker().wake_by_ref();
                Poll::Pending
            }
        })
        .await;
    }

    /// Every (key, value) in key order, walking the leaves left to right; checks the structure
    /// (levels, key order, separators) on the way down.
    async fn scan(&self) -> Result<(Vec<(u64, u64)>, u32), String> {
        let meta = self.pool.read(META).await.map_err(|e| e.to_string())?;
        let (root, height) = root_of(&meta);
        drop(meta);
        let mut id = root;
        for depth in 0..height {
            let node = self.pool.read(id).await.map_err(|e| e.to_string())?;
            let expect = height - 1 - depth;
            if u32::from(level(&node)) != expect {
                return Err(format!(
                    "node {id} at depth {depth} has level {}",
                    level(&node)
                ));
            }
            if expect > 0 {
                id = child(&node, 0);
            }
        }
        let mut out = Vec::new();
        while id != NO_PAGE {
            let leaf = self.pool.read(id).await.map_err(|e| e.to_string())?;
            for i in 0..count(&leaf) {
                out.push((leaf_key(&leaf, i), leaf_value(&leaf, i)));
            }
            id = right(&leaf);
        }
        if !out.windows(2).all(|w| w[0].0 < w[1].0) {
            return Err("leaf keys are not in strictly ascending order".into());
        }
        Ok((out, height))
    }
}

fn inner_insert(node: &mut Page, sep: u64, new_child: PageId) {
    let n = count(node);
    let mut keys: Vec<u64> = (0..n).map(|i| inner_key(node, i)).collect();
    let mut children: Vec<PageId> = (0..=n).map(|i| child(node, i)).collect();
    let at = keys.partition_point(|&k| k <= sep);
    keys.insert(at, sep);
    children.insert(at + 1, new_child);
    let lvl = level(node);
    write_inner(node, lvl, &keys, &children);
}

fn write_inner(node: &mut Page, level: u8, keys: &[u64], children: &[PageId]) {
    debug_assert_eq!(children.len(), keys.len() + 1);
    set_header(node, level, keys.len(), NO_PAGE);
    for (i, &k) in keys.iter().enumerate() {
        set_inner_key(node, i, k);
    }
    for (i, &c) in children.iter().enumerate() {
        set_child(node, i, c);
    }
}

/// xorshift64*, seeded per task.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
}

/// Runs the workload, checks it, closes, reopens and checks again.
pub async fn run(config: &Config) -> Result<Outcome, Failure> {
    let err = |e: Error| Failure(e.to_string());
    let temp;
    let dir: &Path = match &config.dir {
        Some(dir) => dir,
        None => {
            temp = tempfile::tempdir_in(".").map_err(|e| Failure(e.to_string()))?;
            temp.path()
        }
    };
    let path = dir.join("btree.jdb");
    let pool = BufferPool::open(
        File::create(&path).await.map_err(|e| err(e.into()))?,
        config.cap,
    )
    .await
    .map_err(err)?;
    let tree = Rc::new(
        Tree::create(pool, config.fanout.max(4))
            .await
            .map_err(err)?,
    );
    let (inserts, lookups) = (Rc::new(Cell::new(0)), Rc::new(Cell::new(0)));
    let tasks: Vec<_> = (0..config.tasks)
        .map(|t| {
            let (tree, inserts, lookups) = (tree.clone(), inserts.clone(), lookups.clone());
            let (ops, keys) = (config.ops, config.keys.max(1));
            let mut rng =
                Rng((config.seed ^ (t as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15)) | 1);
            compio::runtime::spawn(async move {
                for _ in 0..ops {
                    let key = rng.next() % keys;
                    if rng.next() % 10 < 6 {
                        tree.insert(key, rng.next()).await?;
                        inserts.set(inserts.get() + 1);
                    } else {
                        tree.lookup(key).await?;
                        lookups.set(lookups.get() + 1);
                    }
                }
                Ok::<(), Error>(())
            })
        })
        .collect();
    for task in tasks {
        task.await
            .map_err(|_| Failure("a task panicked".into()))?
            .map_err(err)?;
    }
    let tree = Rc::try_unwrap(tree).map_err(|_| Failure("tasks still hold the tree".into()))?;
    if let Some(what) = tree.mismatch.borrow().clone() {
        return Err(Failure(what));
    }
    let mut model = tree.model.borrow().clone();
    if config.inject_mismatch
        && let Some(value) = model.values_mut().next()
    {
        *value ^= 1;
    }
    check_all(&tree, &model).await?;
    let mut outcome = Outcome {
        inserts: inserts.get(),
        lookups: lookups.get(),
        splits: tree.splits.get(),
        pessimistic: tree.pessimistic.get(),
        full_retries: tree.full_retries.get(),
        ..Outcome::default()
    };

    // Close, reopen from the file, check everything again.
    tree.pool.close().await.map_err(err)?;
    drop(tree);
    let pool = BufferPool::open(
        File::open_rw(&path).await.map_err(|e| err(e.into()))?,
        config.cap,
    )
    .await
    .map_err(err)?;
    let tree = Tree::over(pool, config.fanout.max(4));
    *tree.model.borrow_mut() = model.clone();
    let (height, pages) = check_all(&tree, &model).await?;
    (outcome.height, outcome.keys, outcome.pages) = (height, model.len(), pages);
    tree.pool.close().await.map_err(err)?;
    Ok(outcome)
}

/// The tree holds exactly the model: a full scan, and a lookup of every key (and of a few that
/// are absent). Returns the height and the pages.
async fn check_all(tree: &Tree, model: &BTreeMap<u64, u64>) -> Result<(u32, u32), Failure> {
    let (scanned, height) = tree.scan().await.map_err(Failure)?;
    let expected: Vec<(u64, u64)> = model.iter().map(|(&k, &v)| (k, v)).collect();
    if scanned != expected {
        let first = scanned
            .iter()
            .zip(&expected)
            .position(|(a, b)| a != b)
            .unwrap_or(scanned.len().min(expected.len()));
        return Err(Failure(format!(
            "scan: {} entries, the model {}; first difference at {first}",
            scanned.len(),
            expected.len()
        )));
    }
    for (&key, _) in model.iter().step_by(7) {
        tree.lookup(key).await.map_err(|e| Failure(e.to_string()))?;
        tree.lookup(key.wrapping_add(u64::MAX / 2))
            .await
            .map_err(|e| Failure(e.to_string()))?;
    }
    if let Some(what) = tree.mismatch.borrow().clone() {
        return Err(Failure(what));
    }
    Ok((height, tree.pool.page_count()))
}

#[allow(dead_code)] // also compiled as a module of the test that runs it
fn parse_args() -> Result<Config, String> {
    let mut config = Config::default();
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let mut value = || args.next().ok_or(format!("{flag} needs a value"));
        let number = |v: String| {
            v.parse::<u64>()
                .map_err(|_| format!("{flag}: `{v}` is not a number"))
        };
        match flag.as_str() {
            "--tasks" => config.tasks = number(value()?)? as usize,
            "--ops" => config.ops = number(value()?)? as usize,
            "--keys" => config.keys = number(value()?)?,
            "--cap" => config.cap = number(value()?)? as usize,
            "--fanout" => config.fanout = number(value()?)? as usize,
            "--seed" => config.seed = number(value()?)?,
            "--dir" => config.dir = Some(PathBuf::from(value()?)),
            "--inject-mismatch" => config.inject_mismatch = true,
            "-h" | "--help" => {
                return Err("usage: btree [--tasks N] [--ops N] [--keys N] \
                [--cap FRAMES] [--fanout N] [--seed N] [--dir DIR] [--inject-mismatch]"
                    .into());
            }
            other => return Err(format!("unknown argument {other} (try --help)")),
        }
    }
    Ok(config)
}

/// The program: parses the arguments, runs, prints one line. Public so that a test can run it
/// (`tests/btree_example_main.rs`).
#[allow(dead_code)] // also compiled as a module of the test that runs `run`
pub fn main() -> ExitCode {
    let config = match parse_args() {
        Ok(config) => config,
        Err(message) => {
            eprintln!("btree: {message}");
            return ExitCode::from(2);
        }
    };
    let runtime = match compio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("btree: starting the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(&config)) {
        Ok(o) => {
            println!(
                "btree: {} tasks, {} inserts and {} lookups checked against a BTreeMap; {} keys, \
                 height {}, {} pages, {} splits, {} pessimistic descents, {} retries on a full \
                 pool; reopened and checked again",
                config.tasks,
                o.inserts,
                o.lookups,
                o.keys,
                o.height,
                o.pages,
                o.splits,
                o.pessimistic,
                o.full_retries
            );
            ExitCode::SUCCESS
        }
        Err(Failure(what)) => {
            eprintln!("btree: failed: {what}");
            ExitCode::FAILURE
        }
    }
}
