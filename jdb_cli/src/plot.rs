//! Line charts as SVG or PNG files (plotters), for `jdb mrc` and `jdb bench --svg`: one line per
//! series, a legend, log or linear axes, and an optional vertical mark.
//!
//! A log axis is drawn as a linear axis of `log10(value)` whose ticks are labelled with the
//! values, so both kinds of axis go through one code path and the ticks are exactly the ones
//! chosen here. Text is set in DejaVu Sans Mono, which the binary carries
//! (`jdb_cli/assets/`, Bitstream Vera licence), so a PNG needs no system font.

use std::{
    path::{Path, PathBuf},
    sync::OnceLock,
};

use anyhow::{Context, anyhow};
use plotters::{
    coord::{
        Shift,
        ranged1d::{DefaultFormatting, KeyPointHint},
    },
    prelude::*,
};

/// The font every label is drawn in.
static FONT: &[u8] = include_bytes!("../assets/DejaVuSansMono.ttf");
/// Width and height of a picture, pixels.
const SIZE: (u32, u32) = (960, 600);
/// Line colours, one per series (a colour-blind-safe palette).
const COLOURS: [RGBColor; 6] = [
    RGBColor(0, 114, 178),
    RGBColor(213, 94, 0),
    RGBColor(0, 158, 115),
    RGBColor(204, 121, 167),
    RGBColor(86, 180, 233),
    RGBColor(230, 159, 0),
];

/// A file to draw into, by its extension's meaning.
#[derive(Debug, Clone)]
pub enum Picture {
    /// An SVG file.
    Svg(PathBuf),
    /// A PNG file.
    Png(PathBuf),
}

impl Picture {
    fn path(&self) -> &Path {
        match self {
            Self::Svg(p) | Self::Png(p) => p,
        }
    }
}

/// One axis: its label, range, scale and ticks (in the data's units).
pub struct Axis {
    /// What the axis shows, with its unit.
    pub label: String,
    /// Smallest and largest value shown.
    pub range: (f64, f64),
    /// Log scale (base 10) instead of linear.
    pub log: bool,
    /// Where the ticks are.
    pub ticks: Vec<f64>,
    /// A tick's label.
    pub tick_label: fn(f64) -> String,
}

impl Axis {
    fn chart_at(&self, v: f64) -> f64 {
        if self.log {
            v.max(f64::MIN_POSITIVE).log10()
        } else {
            v
        }
    }

    fn value_at(&self, v: f64) -> f64 {
        if self.log { 10f64.powf(v) } else { v }
    }
}

/// One line.
pub struct Series {
    /// Its name in the legend.
    pub label: String,
    /// Its points, in the data's units, in drawing order.
    pub points: Vec<(f64, f64)>,
}

/// A chart.
pub struct Chart {
    /// The title above it.
    pub title: String,
    /// The horizontal axis.
    pub x: Axis,
    /// The vertical axis.
    pub y: Axis,
    /// The lines.
    pub series: Vec<Series>,
    /// A vertical line at this x, with this label.
    pub mark: Option<(f64, String)>,
    /// Draw a dot at each point too (for curves of a few points).
    pub dots: bool,
}

/// Draws `chart` into `picture`.
pub fn draw(chart: &Chart, picture: &Picture) -> anyhow::Result<()> {
    register_font()?;
    let path = picture.path();
    let failed = |e: String| anyhow!("drawing {}: {e}", path.display());
    match picture {
        Picture::Svg(_) => {
            let root = SVGBackend::new(path, SIZE).into_drawing_area();
            render(&root, chart).map_err(failed)?;
            root.present().map_err(|e| failed(e.to_string()))?;
        }
        Picture::Png(_) => {
            let root = BitMapBackend::new(path, SIZE).into_drawing_area();
            render(&root, chart).map_err(failed)?;
            root.present().map_err(|e| failed(e.to_string()))?;
        }
    }
    // plotters reports some write errors only by leaving no file behind.
    std::fs::metadata(path).with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

fn register_font() -> anyhow::Result<()> {
    static REGISTERED: OnceLock<bool> = OnceLock::new();
    let ok = *REGISTERED.get_or_init(|| {
        plotters::style::register_font("sans-serif", FontStyle::Normal, FONT).is_ok()
    });
    ok.then_some(())
        .ok_or_else(|| anyhow!("the built-in font does not load"))
}

fn render<DB: DrawingBackend>(root: &DrawingArea<DB, Shift>, chart: &Chart) -> Result<(), String>
where
    DB::ErrorType: 'static,
{
    let e = |e: DrawingAreaErrorKind<DB::ErrorType>| e.to_string();
    root.fill(&WHITE).map_err(e)?;
    let (x, y) = (&chart.x, &chart.y);
    let x_range = x.chart_at(x.range.0)..x.chart_at(x.range.1);
    let y_range = y.chart_at(y.range.0)..y.chart_at(y.range.1);
    let x_ticks: Vec<f64> = x.ticks.iter().map(|&t| x.chart_at(t)).collect();
    let y_ticks: Vec<f64> = y.ticks.iter().map(|&t| y.chart_at(t)).collect();
    let mut context = ChartBuilder::on(root)
        .caption(&chart.title, ("sans-serif", 20))
        .margin(16)
        .x_label_area_size(48)
        .y_label_area_size(84)
        .build_cartesian_2d(
            Ticked {
                range: x_range,
                ticks: x_ticks,
            },
            Ticked {
                range: y_range,
                ticks: y_ticks,
            },
        )
        .map_err(e)?;
    let x_label = |v: &f64| (x.tick_label)(x.value_at(*v));
    let y_label = |v: &f64| (y.tick_label)(y.value_at(*v));
    context
        .configure_mesh()
        .x_desc(x.label.as_str())
        .y_desc(y.label.as_str())
        .x_label_formatter(&x_label)
        .y_label_formatter(&y_label)
        .label_style(("sans-serif", 14))
        .axis_desc_style(("sans-serif", 16))
        .light_line_style(WHITE)
        .bold_line_style(BLACK.mix(0.12))
        .draw()
        .map_err(e)?;
    if let Some((at, label)) = &chart.mark {
        let at = x.chart_at(*at);
        let (bottom, top) = (y.chart_at(y.range.0), y.chart_at(y.range.1));
        context
            .draw_series(LineSeries::new(
                [(at, bottom), (at, top)],
                BLACK.mix(0.5).stroke_width(1),
            ))
            .map_err(e)?;
        context
            .draw_series(std::iter::once(Text::new(
                label.clone(),
                (at, top),
                ("sans-serif", 14).into_font().color(&BLACK.mix(0.7)),
            )))
            .map_err(e)?;
    }
    for (series, colour) in chart.series.iter().zip(COLOURS.iter().cycle()) {
        let points: Vec<(f64, f64)> = series
            .points
            .iter()
            .map(|&(px, py)| (x.chart_at(px), y.chart_at(py)))
            .collect();
        let style = colour.stroke_width(2);
        context
            .draw_series(LineSeries::new(points.iter().copied(), style))
            .map_err(e)?
            .label(series.label.as_str())
            .legend(move |(lx, ly)| PathElement::new([(lx, ly), (lx + 20, ly)], style));
        if chart.dots {
            context
                .draw_series(points.iter().map(|&p| Circle::new(p, 3, colour.filled())))
                .map_err(e)?;
        }
    }
    context
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperRight)
        .label_font(("sans-serif", 14))
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK.mix(0.3))
        .draw()
        .map_err(e)?;
    Ok(())
}

/// A linear f64 axis whose ticks are given.
struct Ticked {
    range: std::ops::Range<f64>,
    ticks: Vec<f64>,
}

impl Ranged for Ticked {
    type FormatOption = DefaultFormatting;
    type ValueType = f64;

    fn map(&self, value: &f64, limit: (i32, i32)) -> i32 {
        let span = self.range.end - self.range.start;
        let t = if span > 0.0 {
            (value - self.range.start) / span
        } else {
            0.5
        };
        limit.0 + (t * f64::from(limit.1 - limit.0)).round() as i32
    }

    fn key_points<Hint: KeyPointHint>(&self, hint: Hint) -> Vec<f64> {
        // Light lines (the second call) are not wanted.
        if hint.max_num_points() == 0 {
            return Vec::new();
        }
        self.ticks.clone()
    }

    fn range(&self) -> std::ops::Range<f64> {
        self.range.clone()
    }
}

/// Ticks at 1, 2 and 5 times the powers of ten from `lo` to `hi`.
pub fn ticks_125(lo: f64, hi: f64) -> Vec<f64> {
    let mut ticks = Vec::new();
    let mut decade = 10f64.powf(lo.max(f64::MIN_POSITIVE).log10().floor());
    while decade <= hi {
        for m in [1.0, 2.0, 5.0] {
            let t = decade * m;
            if t >= lo * (1.0 - 1e-9) && t <= hi * (1.0 + 1e-9) {
                ticks.push(t);
            }
        }
        decade *= 10.0;
    }
    ticks
}

/// `1234` as `1234`, `20000` as `20k`, `3000000` as `3M`: short labels for page counts.
pub fn short_count(v: f64) -> String {
    let v = v.round();
    if v >= 1e6 && (v / 1e6).fract() == 0.0 {
        format!("{}M", v / 1e6)
    } else if v >= 1e4 && (v / 1e3).fract() == 0.0 {
        format!("{}k", v / 1e3)
    } else {
        format!("{v}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_and_labels() {
        assert_eq!(
            ticks_125(3.0, 3000.0),
            [5., 10., 20., 50., 100., 200., 500., 1000., 2000.]
        );
        assert_eq!(ticks_125(1.0, 2.0), [1., 2.]);
        assert_eq!(short_count(20000.0), "20k");
        assert_eq!(short_count(2000.0), "2000");
        assert_eq!(short_count(3e6), "3M");
    }
}
