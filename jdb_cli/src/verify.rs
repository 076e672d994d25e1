//! `jdb verify FILE`: checks every page (magic, checksum, version, page id, and the slot
//! directory of a data page) without writing.
//!
//! Exit codes: 0 when every page verifies; 1 when some page is bad (each is listed with what is
//! wrong); 2 when the file cannot be read, is in use by a writer, or is not a jdb file.
//!
//! `--json` prints the same findings as one JSON object (docs/json.md) with the same exit codes;
//! an exit code of 2 prints no JSON, only the one-line error on stderr.
//!
//! "Not a jdb file" is decided on the whole file, so that a damaged first page of a real jdb
//! file is reported as a bad page rather than as a foreign file: a non-empty file is not a jdb
//! file when its size is not a whole number of pages, when no page carries the jdb magic, or
//! when more than half of the pages that are not all zero lack it. An empty file is a valid,
//! empty jdb file (the pool opens it).

use std::{path::Path, process::ExitCode};

use anyhow::bail;
use jdb_fs::PAGE_SIZE;
use jdb_layout::{DataPage, Error as PageError, PageHeader, PageId, PageType};
use serde::Serialize;

use crate::{input, output};

/// Bad pages listed one by one; beyond this only their number is printed.
const MAX_LISTED: usize = 100;

/// A page that passed [`check_page`]: its header and, for a data page, its rows.
pub struct GoodPage<'p> {
    /// The verified header.
    pub header: PageHeader,
    /// The slotted rows of a data page (`None` for the other page types).
    pub rows: Option<DataPage<&'p [u8]>>,
}

/// What [`check_page`] found wrong with a page.
#[derive(Debug)]
pub enum BadPage {
    /// The page as a whole: never written, foreign, checksum, version, page id, type.
    Page(PageError),
    /// A data page whose checksum is right but whose slot directory does not open.
    SlotLayout(PageError),
}

/// The one check of a page that `verify` and `inspect` share: the header and checksum
/// (`jdb_layout::verify`), then, for a data page, its slotted layout (`DataPage::open`).
pub fn check_page(page: &[u8], id: PageId) -> Result<GoodPage<'_>, BadPage> {
    let header = jdb_layout::verify(page, id).map_err(BadPage::Page)?;
    let rows = match header.page_type {
        PageType::Data => Some(DataPage::open(page).map_err(BadPage::SlotLayout)?),
        _ => None,
    };
    Ok(GoodPage { header, rows })
}

/// What a walk over the file found.
#[derive(Debug, Default)]
struct Summary {
    pages: u64,
    data: u64,
    meta: u64,
    free: u64,
    other: u64,
    /// Pages whose bytes are not a jdb page at all (no magic).
    foreign: u64,
    /// All-zero pages.
    never_written: u64,
    /// Every page that failed, with what is wrong (only the first [`MAX_LISTED`] kept).
    bad: Vec<(PageId, BadPage)>,
    bad_count: u64,
}

impl Summary {
    fn visit(&mut self, id: PageId, page: &[u8]) {
        self.pages += 1;
        match check_page(page, id) {
            Ok(good) => match good.header.page_type {
                PageType::Data => self.data += 1,
                PageType::Meta => self.meta += 1,
                PageType::Free => self.free += 1,
                _ => self.other += 1,
            },
            Err(e) => {
                match e {
                    BadPage::Page(PageError::Foreign { .. }) => self.foreign += 1,
                    BadPage::Page(PageError::NeverWritten { .. }) => self.never_written += 1,
                    _ => {}
                }
                self.bad_count += 1;
                if self.bad.len() < MAX_LISTED {
                    self.bad.push((id, e));
                }
            }
        }
    }

    /// See the module docs.
    fn is_foreign(&self) -> bool {
        let written = self.pages - self.never_written;
        let with_magic = written - self.foreign;
        self.pages > 0 && (with_magic == 0 || self.foreign * 2 > written)
    }
}

/// Runs `jdb verify`; `json`: print JSON instead of the text report.
pub async fn run(path: &Path, json: bool) -> anyhow::Result<ExitCode> {
    let input = input::open(path).await?;
    if input.tail_bytes() != 0 {
        bail!(
            "{} is not a jdb file: its size {} is not a multiple of {PAGE_SIZE} bytes",
            path.display(),
            input.size
        );
    }
    let mut summary = Summary::default();
    input::for_each_page(&input, |id, page| summary.visit(id, page)).await?;
    if summary.is_foreign() {
        bail!(
            "{} is not a jdb file: {} of its {} pages lack the jdb magic{}",
            path.display(),
            summary.foreign,
            summary.pages,
            match summary.bad.first() {
                Some((_, BadPage::Page(PageError::Foreign { magic, .. }))) => format!(
                    " (first page starts with {})",
                    output::escape_bytes(magic, 4)
                ),
                _ => String::new(),
            }
        );
    }
    output::print(&if json {
        serde_json::to_string_pretty(&VerifyJson::new(path, &summary))? + "\n"
    } else {
        report(path, &summary)
    })?;
    Ok(if summary.bad_count == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

fn report(path: &Path, s: &Summary) -> String {
    let mut out = format!(
        "{}: {} pages ({:.1} MiB), {}\n",
        path.display(),
        s.pages,
        output::mib(s.pages * PAGE_SIZE as u64),
        match s.bad_count {
            0 => "all verify".to_string(),
            1 => "1 bad page".to_string(),
            n => format!("{n} bad pages"),
        }
    );
    out.push_str(&format!(
        "  good pages by type: data {}, meta {}, free {}, other {}\n",
        s.data, s.meta, s.free, s.other
    ));
    if s.bad_count > 0 {
        out.push_str("  bad pages:\n");
        for (id, e) in &s.bad {
            out.push_str(&format!("    page {id}: {}\n", problem(e)));
        }
        if s.bad_count > s.bad.len() as u64 {
            out.push_str(&format!(
                "    ... and {} more\n",
                s.bad_count - s.bad.len() as u64
            ));
        }
    }
    out
}

/// `jdb verify --json`.
#[derive(Serialize)]
struct VerifyJson {
    file: String,
    pages: u64,
    bytes: u64,
    clean: bool,
    bad_count: u64,
    good_by_type: ByType,
    never_written: u64,
    foreign: u64,
    bad_pages: Vec<BadPageJson>,
    bad_pages_truncated: bool,
}

/// Good pages of each type.
#[derive(Serialize)]
pub struct ByType {
    /// Data (slotted) pages.
    pub data: u64,
    /// Meta pages.
    pub meta: u64,
    /// Free pages.
    pub free: u64,
    /// Pages of another type.
    pub other: u64,
}

/// One bad page, for JSON.
#[derive(Serialize)]
pub struct BadPageJson {
    /// Its id.
    pub page: PageId,
    /// What is wrong, as a word: see [`kind`].
    pub kind: &'static str,
    /// What is wrong, in words (as the text report says it).
    pub problem: String,
}

impl BadPageJson {
    /// `bad` at page `page`.
    pub fn new(page: PageId, bad: &BadPage) -> Self {
        Self {
            page,
            kind: kind(bad),
            problem: problem(bad),
        }
    }
}

impl VerifyJson {
    fn new(path: &Path, s: &Summary) -> Self {
        Self {
            file: path.display().to_string(),
            pages: s.pages,
            bytes: s.pages * PAGE_SIZE as u64,
            clean: s.bad_count == 0,
            bad_count: s.bad_count,
            good_by_type: ByType {
                data: s.data,
                meta: s.meta,
                free: s.free,
                other: s.other,
            },
            never_written: s.never_written,
            foreign: s.foreign,
            bad_pages: s
                .bad
                .iter()
                .map(|(id, bad)| BadPageJson::new(*id, bad))
                .collect(),
            bad_pages_truncated: s.bad_count > s.bad.len() as u64,
        }
    }
}

/// What is wrong with a page, as one word: `never_written`, `foreign`, `checksum_mismatch`,
/// `unsupported_version`, `misdirected`, `bad_page_type`, `slot_layout` or `other`.
pub fn kind(bad: &BadPage) -> &'static str {
    match bad {
        BadPage::SlotLayout(_) => "slot_layout",
        BadPage::Page(e) => match e {
            PageError::NeverWritten { .. } => "never_written",
            PageError::Foreign { .. } => "foreign",
            PageError::ChecksumMismatch { .. } => "checksum_mismatch",
            PageError::UnsupportedVersion { .. } => "unsupported_version",
            PageError::Misdirected { .. } => "misdirected",
            PageError::BadPageType { .. } => "bad_page_type",
            _ => "other",
        },
    }
}

/// What is wrong with a page, in words, without repeating its id.
pub fn problem(bad: &BadPage) -> String {
    match bad {
        BadPage::Page(e) => page_problem(e),
        BadPage::SlotLayout(e) => format!("checksum ok, but the slot directory is invalid: {e}"),
    }
}

fn page_problem(e: &PageError) -> String {
    match e {
        PageError::NeverWritten { .. } => "never written (all zero)".to_string(),
        PageError::Foreign { magic, .. } => format!(
            "not a jdb page (magic {} instead of \"JDBP\")",
            output::escape_bytes(magic, 4)
        ),
        PageError::ChecksumMismatch {
            stored, computed, ..
        } => format!("checksum mismatch (stored {stored:#010x}, computed {computed:#010x})"),
        PageError::UnsupportedVersion { version, .. } => {
            format!("unsupported format version {version}")
        }
        PageError::Misdirected { found, .. } => {
            format!("misdirected: the header says page {found}")
        }
        PageError::BadPageType { value } => format!("invalid page type byte {value}"),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn summary(pages: u64, foreign: u64, never_written: u64) -> Summary {
        Summary {
            pages,
            foreign,
            never_written,
            ..Summary::default()
        }
    }

    #[test]
    fn foreign_is_decided_on_the_whole_file() {
        assert!(!summary(0, 0, 0).is_foreign(), "empty file is a jdb file");
        assert!(summary(1, 1, 0).is_foreign());
        assert!(summary(4, 0, 4).is_foreign(), "all zero: no magic anywhere");
        assert!(
            !summary(100, 1, 0).is_foreign(),
            "one damaged magic is a bad page"
        );
        assert!(summary(100, 51, 0).is_foreign());
        assert!(!summary(100, 50, 0).is_foreign());
    }
}
