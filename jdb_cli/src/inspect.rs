//! `jdb inspect FILE [--page ID]`: a summary of the file (page types, fill factor of data pages,
//! the atomic write unit `statx` reports for it: whether its device writes a page untorn) or one
//! page in detail (header, checksum, slot directory, rows). Never writes.
//!
//! Inspect is for looking at damaged files too, so it reports problems and goes on where
//! `verify` would stop: a partial last page is mentioned and ignored, bad pages are counted.
//! `--json` prints the same as one JSON object (docs/json.md).

use std::{path::Path, process::ExitCode};

use jdb_fs::PAGE_SIZE;
use jdb_layout::{DataPage, PAGE_HEADER_SIZE, PageHeader, PageId, PageType};
use serde::Serialize;

use crate::{
    input, output,
    verify::{self, BadPage, GoodPage},
};

/// Rows are shown up to this many bytes.
const ROW_PREVIEW: usize = 64;
/// Buckets of the fill-factor histogram (each 100 / FILL_BUCKETS percent wide).
const FILL_BUCKETS: usize = 10;
/// Where a data page's slot directory starts and the size of one entry (docs/format.md).
const SLOT_DIRECTORY_START: usize = 38;
const SLOT_ENTRY_SIZE: usize = 4;
/// Width of the longest histogram bar.
const BAR_WIDTH: u64 = 40;

/// Runs `jdb inspect`; `json`: print JSON instead of the text.
pub async fn run(path: &Path, page: Option<PageId>, json: bool) -> anyhow::Result<ExitCode> {
    let input = input::open(path).await?;
    let text = match page {
        Some(id) => {
            let bytes = input::read_page(&input, id).await?;
            if json {
                to_json(&page_json(path, id, &bytes))?
            } else {
                describe_page(path, id, &bytes)
            }
        }
        None => {
            let mut summary = FileSummary::default();
            input::for_each_page(&input, |id, bytes| summary.visit(id, bytes)).await?;
            if json {
                to_json(&summary.to_json(path, &input))?
            } else {
                summary.describe(path, &input)
            }
        }
    };
    output::print(&text)?;
    Ok(ExitCode::SUCCESS)
}

/// Counts by page type and the fill factor of data pages.
#[derive(Debug, Default)]
struct FileSummary {
    data: u64,
    meta: u64,
    free: u64,
    other: u64,
    never_written: u64,
    bad: u64,
    first_bad: Option<PageId>,
    /// Data pages whose slotted layout does not open (checksum fine, contents not a data page).
    bad_layout: u64,
    live_rows: u64,
    /// Fill factor (percent of the page in use) of each good data page: min, max, sum.
    fill_min: f64,
    fill_max: f64,
    fill_sum: f64,
    fill_histogram: [u64; FILL_BUCKETS],
}

impl FileSummary {
    fn visit(&mut self, id: PageId, page: &[u8]) {
        let good = match verify::check_page(page, id) {
            Ok(good) => good,
            Err(BadPage::Page(jdb_layout::Error::NeverWritten { .. })) => {
                self.never_written += 1;
                return;
            }
            Err(BadPage::Page(_)) => {
                self.bad += 1;
                self.first_bad.get_or_insert(id);
                return;
            }
            Err(BadPage::SlotLayout(_)) => {
                self.data += 1;
                self.bad_layout += 1;
                return;
            }
        };
        match good.header.page_type {
            PageType::Data => self.data += 1,
            PageType::Meta => self.meta += 1,
            PageType::Free => self.free += 1,
            _ => self.other += 1,
        }
        if let Some(rows) = good.rows {
            let (fill, live) = fill_percent(&rows);
            self.add_fill(fill);
            self.live_rows += live as u64;
        }
    }

    fn add_fill(&mut self, fill: f64) {
        let good = self.data - self.bad_layout;
        if good == 1 {
            (self.fill_min, self.fill_max) = (fill, fill);
        } else {
            self.fill_min = self.fill_min.min(fill);
            self.fill_max = self.fill_max.max(fill);
        }
        self.fill_sum += fill;
        let bucket = (fill / (100.0 / FILL_BUCKETS as f64)) as usize;
        self.fill_histogram[bucket.min(FILL_BUCKETS - 1)] += 1;
    }

    fn describe(&self, path: &Path, input: &input::Input) -> String {
        let mut out = format!(
            "{}: {} bytes ({:.1} MiB), {} pages of {PAGE_SIZE} bytes\n",
            path.display(),
            input.size,
            output::mib(input.size),
            input.pages()
        );
        if input.tail_bytes() != 0 {
            out.push_str(&format!(
                "  warning: {} bytes after the last whole page (not a jdb file size)\n",
                input.tail_bytes()
            ));
        }
        out.push_str(&format!(
            "  atomic write unit: {}\n",
            output::atomic_write_unit(input.file.atomic_write_unit(), input.file.is_direct())
        ));
        out.push_str(&format!(
            "  page types: data {}, meta {}, free {}, other {}\n",
            self.data, self.meta, self.free, self.other
        ));
        if self.never_written > 0 {
            out.push_str(&format!(
                "  never written (all zero): {}\n",
                self.never_written
            ));
        }
        if let Some(first) = self.first_bad {
            out.push_str(&format!(
                "  bad pages: {} (first: page {first}; `jdb verify` lists them)\n",
                self.bad
            ));
        }
        if self.bad_layout > 0 {
            out.push_str(&format!(
                "  data pages whose slot layout is invalid: {}\n",
                self.bad_layout
            ));
        }
        let good = self.data - self.bad_layout;
        if good == 0 {
            return out;
        }
        out.push_str(&format!(
            "  data pages: {} live rows; fill min {:.1} %, avg {:.1} %, max {:.1} %\n",
            self.live_rows,
            self.fill_min,
            self.fill_sum / good as f64,
            self.fill_max
        ));
        let widest = self
            .fill_histogram
            .iter()
            .copied()
            .max()
            .unwrap_or(1)
            .max(1);
        let step = 100 / FILL_BUCKETS;
        for (i, &count) in self.fill_histogram.iter().enumerate() {
            let bar = "#".repeat(((count * BAR_WIDTH).div_ceil(widest)) as usize);
            out.push_str(&format!(
                "    {:>3}-{:<3}% {:>10}  {bar}\n",
                i * step,
                (i + 1) * step,
                count
            ));
        }
        out
    }
}

fn to_json(value: &impl Serialize) -> anyhow::Result<String> {
    Ok(serde_json::to_string_pretty(value)? + "\n")
}

/// `jdb inspect --json` (the whole file).
#[derive(Serialize)]
struct FileJson {
    file: String,
    bytes: u64,
    pages: u64,
    tail_bytes: u64,
    by_type: verify::ByType,
    never_written: u64,
    bad: u64,
    first_bad: Option<PageId>,
    bad_layout: u64,
    data: Option<DataJson>,
    atomic_write_unit: Option<AtomicWriteUnit>,
}

/// The sizes of untorn Direct I/O writes `statx` reports for the file, bytes.
#[derive(Serialize)]
struct AtomicWriteUnit {
    min: u32,
    max: u32,
}

/// The good data pages of a file.
#[derive(Serialize)]
struct DataJson {
    pages: u64,
    live_rows: u64,
    fill_min: f64,
    fill_avg: f64,
    fill_max: f64,
    fill_histogram: Vec<FillBucket>,
}

#[derive(Serialize)]
struct FillBucket {
    from: usize,
    to: usize,
    pages: u64,
}

impl FileSummary {
    fn to_json(&self, path: &Path, input: &input::Input) -> FileJson {
        let good = self.data - self.bad_layout;
        let step = 100 / FILL_BUCKETS;
        FileJson {
            file: path.display().to_string(),
            bytes: input.size,
            pages: input.pages(),
            tail_bytes: input.tail_bytes(),
            by_type: verify::ByType {
                data: self.data,
                meta: self.meta,
                free: self.free,
                other: self.other,
            },
            never_written: self.never_written,
            bad: self.bad,
            first_bad: self.first_bad,
            bad_layout: self.bad_layout,
            data: (good > 0).then(|| DataJson {
                pages: good,
                live_rows: self.live_rows,
                fill_min: self.fill_min,
                fill_avg: self.fill_sum / good as f64,
                fill_max: self.fill_max,
                fill_histogram: self
                    .fill_histogram
                    .iter()
                    .enumerate()
                    .map(|(i, &pages)| FillBucket {
                        from: i * step,
                        to: (i + 1) * step,
                        pages,
                    })
                    .collect(),
            }),
            atomic_write_unit: input
                .file
                .atomic_write_unit()
                .map(|(min, max)| AtomicWriteUnit { min, max }),
        }
    }
}

/// `jdb inspect --page ID --json`.
#[derive(Serialize)]
struct PageJson {
    file: String,
    page: PageId,
    ok: bool,
    problem: Option<verify::BadPageJson>,
    checksum: ChecksumJson,
    magic: String,
    header: Option<HeaderJson>,
    header_error: Option<String>,
    data: Option<RowsJson>,
    slot_layout_error: Option<String>,
}

#[derive(Serialize)]
struct ChecksumJson {
    stored: u32,
    computed: u32,
    matches: bool,
}

#[derive(Serialize)]
struct HeaderJson {
    page_id: PageId,
    page_type: &'static str,
    type_byte: u8,
    lsn: u64,
    flags: u8,
    version: u16,
}

#[derive(Serialize)]
struct RowsJson {
    slots: u16,
    live: usize,
    free_slots: usize,
    free_space: usize,
    fill: f64,
    rows: Vec<RowJson>,
}

#[derive(Serialize)]
struct RowJson {
    slot: u16,
    offset: usize,
    len: usize,
    /// The row as `describe_rows` shows it: printable ASCII, `\xNN` escapes, cut at 64 bytes.
    preview: String,
}

fn rows_json(page: &[u8], rows: &DataPage<&[u8]>) -> RowsJson {
    let (fill, live) = fill_percent(rows);
    let start = page.as_ptr().addr();
    RowsJson {
        slots: rows.slot_count(),
        live,
        free_slots: usize::from(rows.slot_count()) - live,
        free_space: rows.free_space(),
        fill,
        rows: rows
            .iter()
            .map(|(slot, row)| RowJson {
                slot,
                offset: row.as_ptr().addr() - start,
                len: row.len(),
                preview: output::escape_bytes(row, ROW_PREVIEW),
            })
            .collect(),
    }
}

/// What `describe_page` shows, as JSON.
fn page_json(path: &Path, id: PageId, page: &[u8]) -> PageJson {
    let stored = jdb_layout::stored_checksum(page).unwrap_or(0);
    let computed = jdb_layout::page_checksum(page).unwrap_or(0);
    let magic = jdb_layout::stored_magic(page).unwrap_or([0; 4]);
    let checked = verify::check_page(page, id);
    let (header, header_error) = match PageHeader::decode(page) {
        Ok(h) => (
            Some(HeaderJson {
                page_id: h.page_id,
                page_type: type_name(h.page_type),
                type_byte: h.page_type.as_u8(),
                lsn: h.lsn,
                flags: h.flags,
                version: h.version,
            }),
            None,
        ),
        Err(e) => (None, Some(e.to_string())),
    };
    let is_data = header
        .as_ref()
        .is_some_and(|h| h.type_byte == PageType::Data.as_u8());
    let (data, slot_layout_error) = match &checked {
        Ok(GoodPage {
            rows: Some(rows), ..
        }) => (Some(rows_json(page, rows)), None),
        Err(BadPage::SlotLayout(e)) => (None, Some(e.to_string())),
        Err(BadPage::Page(_)) if is_data => match DataPage::open(page) {
            Ok(rows) => (Some(rows_json(page, &rows)), None),
            Err(e) => (None, Some(e.to_string())),
        },
        _ => (None, None),
    };
    PageJson {
        file: path.display().to_string(),
        page: id,
        ok: checked.is_ok(),
        problem: checked.err().map(|bad| verify::BadPageJson::new(id, &bad)),
        checksum: ChecksumJson {
            stored,
            computed,
            matches: stored == computed,
        },
        magic: output::escape_bytes(&magic, 4),
        header,
        header_error,
        data,
        slot_layout_error,
    }
}

/// Percent of the page in use (header, slot directory, live rows) and the live row count.
fn fill_percent(rows: &DataPage<&[u8]>) -> (f64, usize) {
    let mut row_bytes = 0;
    let mut live = 0;
    for (_, row) in rows.iter() {
        row_bytes += row.len();
        live += 1;
    }
    let directory_end = SLOT_DIRECTORY_START + SLOT_ENTRY_SIZE * usize::from(rows.slot_count());
    let used = (directory_end + row_bytes).min(PAGE_SIZE);
    (used as f64 * 100.0 / PAGE_SIZE as f64, live)
}

/// Header, checksum and (for a data page) slot directory and rows of one page.
fn describe_page(path: &Path, id: PageId, page: &[u8]) -> String {
    let mut out = format!("page {id} of {}\n", path.display());
    let stored = jdb_layout::stored_checksum(page).unwrap_or(0);
    let computed = jdb_layout::page_checksum(page).unwrap_or(0);
    let magic = jdb_layout::stored_magic(page).unwrap_or([0; 4]);
    let checked = verify::check_page(page, id);
    let verdict = match &checked {
        Ok(_) => "ok".to_string(),
        Err(e) => format!("FAILED: {}", verify::problem(e)),
    };
    out.push_str(&format!("  verify     {verdict}\n"));
    out.push_str(&format!(
        "  checksum   stored {stored:#010x}, computed {computed:#010x} ({})\n",
        if stored == computed {
            "match"
        } else {
            "MISMATCH"
        }
    ));
    out.push_str(&format!(
        "  magic      {}\n",
        output::escape_bytes(&magic, 4)
    ));
    let header = match PageHeader::decode(page) {
        Ok(header) => header,
        Err(e) => {
            out.push_str(&format!(
                "  header     cannot decode: {e}; raw bytes {}\n",
                output::escape_bytes(&page[..PAGE_HEADER_SIZE.min(page.len())], 32)
            ));
            return out;
        }
    };
    out.push_str(&format!("  page id    {}\n", header.page_id));
    out.push_str(&format!(
        "  type       {} ({})\n",
        type_name(header.page_type),
        header.page_type.as_u8()
    ));
    out.push_str(&format!("  lsn        {}\n", header.lsn));
    out.push_str(&format!("  flags      {:#04x}\n", header.flags));
    out.push_str(&format!("  version    {}\n", header.version));
    match checked {
        Ok(GoodPage {
            rows: Some(rows), ..
        }) => describe_rows(&mut out, page, &rows),
        Err(BadPage::SlotLayout(e)) => {
            out.push_str(&format!("  data page  invalid slot layout: {e}\n"));
        }
        // A damaged data page: its rows are still shown if its layout opens.
        Err(BadPage::Page(_)) if header.page_type == PageType::Data => match DataPage::open(page) {
            Ok(rows) => describe_rows(&mut out, page, &rows),
            Err(e) => out.push_str(&format!("  data page  invalid slot layout: {e}\n")),
        },
        _ => {}
    }
    out
}

fn describe_rows(out: &mut String, page: &[u8], rows: &DataPage<&[u8]>) {
    let (fill, live) = fill_percent(rows);
    out.push_str(&format!(
        "  data page  {} slots ({live} live, {} free), free space {} bytes, fill {fill:.1} %\n",
        rows.slot_count(),
        usize::from(rows.slot_count()) - live,
        rows.free_space()
    ));
    if live > 0 {
        out.push_str("  slot  offset   len  row\n");
    }
    let start = page.as_ptr().addr();
    for (slot, row) in rows.iter() {
        // The row is a subslice of the page, so its address gives its offset in the page.
        let offset = row.as_ptr().addr() - start;
        out.push_str(&format!(
            "  {slot:>4}  {offset:>6}  {:>4}  {}\n",
            row.len(),
            output::escape_bytes(row, ROW_PREVIEW)
        ));
    }
}

fn type_name(page_type: PageType) -> &'static str {
    match page_type {
        PageType::Data => "data",
        PageType::Meta => "meta",
        PageType::Free => "free",
        _ => "other",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fill_counts_header_directory_and_rows() {
        let mut page = vec![0u8; PAGE_SIZE];
        PageHeader::new(3, PageType::Data)
            .encode(&mut page)
            .unwrap();
        let mut rows = DataPage::init(&mut page[..]).unwrap();
        rows.insert(&[7u8; 1000]).unwrap();
        let rows = DataPage::open(&page[..]).unwrap();
        let (fill, live) = fill_percent(&rows);
        assert_eq!(live, 1);
        assert!((fill - (42.0 + 1000.0) * 100.0 / 4096.0).abs() < 1e-9);
    }

    #[test]
    fn a_page_shows_its_rows() {
        let mut page = vec![0u8; PAGE_SIZE];
        PageHeader::new(5, PageType::Data)
            .encode(&mut page)
            .unwrap();
        DataPage::init(&mut page[..])
            .unwrap()
            .insert(b"hello jdb")
            .unwrap();
        jdb_layout::seal(&mut page).unwrap();
        let text = describe_page(Path::new("f"), 5, &page);
        assert!(text.contains("verify     ok"), "{text}");
        assert!(text.contains("\"hello jdb\""), "{text}");
        assert!(text.contains("4087"), "offset of the row: {text}");
        page[2000] ^= 1;
        let text = describe_page(Path::new("f"), 5, &page);
        assert!(text.contains("checksum mismatch"), "{text}");
    }
}
