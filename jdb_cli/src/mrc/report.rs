//! What `jdb mrc` prints (a table, or JSON as docs/json.md describes) and draws.

use jdb_fs::PAGE_SIZE;
use jdb_page::PolicyKind;
use serde::{Serialize, Serializer, ser::SerializeMap};

use super::{
    curves::{Curves, Point},
    sample::{MIN_SAMPLED_CACHE, SIGMAS},
};
use crate::{
    output::{mib, thousands},
    plot::{self, Axis, Chart, Series},
};

/// Everything `jdb mrc` found.
pub struct Report {
    /// The trace file, or the workload in words.
    pub source: String,
    /// Distinct pages requested.
    pub working_set: u64,
    /// `--sample`.
    pub sample_rate: Option<f64>,
    /// The marked size.
    pub mark: usize,
    /// The curves.
    pub curves: Curves,
    /// Seconds taken (reading or generating the trace, and the curves).
    pub secs: f64,
}

/// The `"curves"` object: policy name to points, in the order the policies were asked for.
struct CurveMap<'a>(&'a [(PolicyKind, Vec<Point>)]);

impl Serialize for CurveMap<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.0.len()))?;
        for (kind, points) in self.0 {
            map.serialize_entry(kind.name(), points)?;
        }
        map.end()
    }
}

#[derive(Serialize)]
struct SampleJson {
    rate: f64,
    requests: u64,
    min_sampled_cache: usize,
    controlled: bool,
    sigmas: f64,
    error: String,
}

#[derive(Serialize)]
struct Json<'a> {
    requests: u64,
    curves: CurveMap<'a>,
    source: &'a str,
    working_set: u64,
    sizes: Vec<usize>,
    mark: usize,
    page_size: usize,
    sample: Option<SampleJson>,
    secs: f64,
}

impl Report {
    fn sizes(&self) -> Vec<usize> {
        self.curves
            .curves
            .first()
            .map(|(_, points)| points.iter().map(|p| p.size).collect())
            .unwrap_or_default()
    }

    fn error_statement(&self, rate: f64) -> String {
        let how = if self.curves.controlled {
            format!(
                "each sampled point is LRU's exact misses at its size plus the sampled pages' \
             difference between the policy and LRU (both simulated at the scaled size), scaled by \
             1/rate; the bound is {SIGMAS} standard errors of that difference as a sample of pages \
             (Horvitz-Thompson variance, from the sampled pages' own differences): what the \
             sample changes in both policies alike (which hot pages it holds, the coarser scaled \
             cache) cancels; lru points are exact"
            )
        } else {
            format!(
                "each sampled point is the sampled pages' misses scaled by 1/rate; the bound is {SIGMAS} \
             standard errors of that sum as a sample of pages (Horvitz-Thompson variance, from \
             the sampled pages' own misses); it does not cover how the scaled cache differs \
             from the full one (no exact LRU to control for it: the trace is too long)"
            )
        };
        format!(
            "{how}; not covered: how a scaled cache of sampled pages behaves unlike the full one \
             beyond what LRU shares (at rate {rate}; largest error seen on zipf, uniform and \
             mixed traces of 1 M requests: 0.9 of the bound); points whose scaled cache would be under {MIN_SAMPLED_CACHE} pages are \
             simulated exactly"
        )
    }

    /// One JSON object and a newline.
    pub fn to_json(&self) -> anyhow::Result<String> {
        let sample = self.sample_rate.map(|rate| SampleJson {
            rate,
            requests: self.curves.sampled_requests.unwrap_or(0),
            min_sampled_cache: MIN_SAMPLED_CACHE,
            controlled: self.curves.controlled,
            sigmas: SIGMAS,
            error: self.error_statement(rate),
        });
        let json = Json {
            requests: self.curves.requests,
            curves: CurveMap(&self.curves.curves),
            source: &self.source,
            working_set: self.working_set,
            sizes: self.sizes(),
            mark: self.mark,
            page_size: PAGE_SIZE,
            sample,
            secs: self.secs,
        };
        Ok(serde_json::to_string_pretty(&json)? + "\n")
    }

    /// The table.
    pub fn to_text(&self) -> String {
        let c = &self.curves;
        let pages_mib = |pages: u64| mib(pages * PAGE_SIZE as u64);
        let mut out = format!("jdb mrc: {}\n", self.source);
        out.push_str(&format!(
            "  {} requests, {} distinct pages (the working set, {:.1} MiB)\n",
            thousands(c.requests),
            thousands(self.working_set),
            pages_mib(self.working_set)
        ));
        let names: Vec<&str> = c.curves.iter().map(|(k, _)| k.name()).collect();
        let others: Vec<&str> = names.iter().copied().filter(|&n| n != "lru").collect();
        let mut how = Vec::new();
        if names.contains(&"lru") {
            how.push("lru exact from stack distances".to_string());
        }
        if !others.is_empty() {
            how.push(format!(
                "{} simulated at each size (the pool's policy code)",
                others.join(", ")
            ));
        }
        out.push_str(&format!("  {}\n", how.join("; ")));
        if let Some(rate) = self.sample_rate {
            out.push_str(&format!(
                "  sampled: {} of the requests ({} % of the pages by hash), caches scaled by \
                 {rate}, misses by 1/{rate}; ± is the error bound ({SIGMAS} standard errors), * an \
                 exact point (scaled cache under {MIN_SAMPLED_CACHE} pages, or exact lru)\n",
                thousands(c.sampled_requests.unwrap_or(0)),
                rate * 100.0
            ));
        }
        out.push_str("\nmiss ratio by pool size:\n");
        let mut header = vec!["pages".to_string(), "MiB".to_string()];
        header.extend(names.iter().map(|n| n.to_string()));
        let mut rows = vec![header];
        let sizes = self.sizes();
        for (i, &size) in sizes.iter().enumerate() {
            let marked = if size == self.mark { "> " } else { "" };
            let mut row = vec![
                format!("{marked}{}", thousands(size as u64)),
                format!("{:.2}", pages_mib(size as u64)),
            ];
            for (_, points) in &c.curves {
                row.push(cell(&points[i]));
            }
            rows.push(row);
        }
        out.push_str(&aligned(&rows));
        if let Some(i) = sizes.iter().position(|&s| s == self.mark) {
            let best = c
                .curves
                .iter()
                .min_by(|a, b| a.1[i].miss_ratio.total_cmp(&b.1[i].miss_ratio));
            if let Some((kind, points)) = best {
                let lru = c.curves.iter().find(|(k, _)| *k == PolicyKind::Lru);
                let versus = match lru {
                    Some((_, p)) if *kind != PolicyKind::Lru => {
                        format!(" (lru {:.2} %)", p[i].miss_ratio * 100.0)
                    }
                    _ => String::new(),
                };
                out.push_str(&format!(
                    "\n> marked size {} pages ({:.1} MiB): lowest miss ratio {kind} {:.2} %{versus}\n",
                    thousands(self.mark as u64),
                    pages_mib(self.mark as u64),
                    points[i].miss_ratio * 100.0
                ));
            }
        }
        if let Some(rate) = self.sample_rate {
            out.push_str(&format!("\nerror: {}\n", self.error_statement(rate)));
        }
        out.push_str(&format!("\ncomputed in {:.2} s\n", self.secs));
        out
    }

    /// Miss ratio against pool size, one line per policy, the marked size as a vertical line.
    pub fn chart(&self) -> Chart {
        let sizes = self.sizes();
        let (first, last) = (
            sizes.first().copied().unwrap_or(1) as f64,
            sizes.last().copied().unwrap_or(1) as f64,
        );
        let (lo, hi) = (
            (first.min(self.mark as f64) / 1.2).max(0.5),
            last.max(self.mark as f64) * 1.2,
        );
        let top = self
            .curves
            .curves
            .iter()
            .flat_map(|(_, p)| p.iter().map(|p| p.miss_ratio))
            .fold(0.0, f64::max);
        let top = ((top * 10.0).ceil() / 10.0).clamp(0.1, 1.0);
        let sampled = self
            .sample_rate
            .map_or(String::new(), |r| format!(", sampled at {r}"));
        Chart {
            title: format!("jdb mrc: {}{sampled}", short_source(&self.source)),
            x: Axis {
                label: "pool size, pages (log scale)".to_string(),
                range: (lo, hi),
                log: true,
                ticks: plot::ticks_125(lo, hi),
                tick_label: plot::short_count,
            },
            y: Axis {
                label: "miss ratio".to_string(),
                range: (0.0, top),
                log: false,
                ticks: (0..=(top * 10.0).round() as u32)
                    .map(|i| f64::from(i) / 10.0)
                    .collect(),
                tick_label: |v| format!("{:.0} %", v * 100.0),
            },
            series: self
                .curves
                .curves
                .iter()
                .map(|(kind, points)| Series {
                    label: kind.name().to_string(),
                    points: points
                        .iter()
                        .map(|p| (p.size as f64, p.miss_ratio))
                        .collect(),
                })
                .collect(),
            mark: Some((
                self.mark as f64,
                format!(
                    " {} pages ({:.1} MiB)",
                    thousands(self.mark as u64),
                    mib(self.mark as u64 * PAGE_SIZE as u64)
                ),
            )),
            dots: true,
        }
    }
}

/// A trace's file name rather than its whole path, for a title.
fn short_source(source: &str) -> &str {
    if source.starts_with("--") {
        return source;
    }
    source.rsplit('/').next().unwrap_or(source)
}

/// A point's miss ratio as a percentage, with its error bound when sampled.
fn cell(p: &Point) -> String {
    match (p.sampled, p.error_bound) {
        (Some(true), Some(bound)) => {
            format!("{:.2} ±{:.2} %", p.miss_ratio * 100.0, bound * 100.0)
        }
        (Some(false), _) => format!("{:.2} %*", p.miss_ratio * 100.0),
        _ => format!("{:.2} %", p.miss_ratio * 100.0),
    }
}

/// Rows as lines: every column right-aligned, two spaces apart.
fn aligned(rows: &[Vec<String>]) -> String {
    let columns = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..columns)
        .map(|i| {
            rows.iter()
                .map(|r| r.get(i).map_or(0, |c| c.chars().count()))
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    for row in rows {
        let line: Vec<String> = row
            .iter()
            .zip(&widths)
            .map(|(cell, &w)| format!("{cell:>w$}"))
            .collect();
        out.push_str("  ");
        out.push_str(line.join("  ").trim_end());
        out.push('\n');
    }
    out
}
