//! The table (Markdown) and the plot (SVG) of a scenario's rows.

use std::fmt::Write as _;
use std::path::Path;

use plotters::prelude::*;

use crate::metrics::Row;
use crate::policy::Policy;

/// The rows as one Markdown table per load.
pub fn table(rows: &[Row]) -> String {
    let mut out = String::new();
    let mut loads: Vec<f64> = rows.iter().map(|r| r.load).collect();
    loads.dedup();
    for load in loads {
        let _ = writeln!(out, "\n**Offered load {load}× capacity**\n");
        out.push_str(
            "| policy | turns | success % | affinity % | cache-hit ratio | p99 added wait (s) \
             | load spread | upstream requests | upstream 429s |\n",
        );
        out.push_str("|---|---:|---:|---:|---:|---:|---:|---:|---:|\n");
        for r in rows.iter().filter(|r| r.load == load) {
            let _ = writeln!(
                out,
                "| {} | {} | {:.2} | {:.2} | {:.3} | {:.1} | {:.2} | {} | {} |",
                r.policy,
                r.turns,
                r.success_pct(),
                r.affinity_pct,
                r.hit_ratio,
                r.p99_wait,
                r.spread,
                r.upstream,
                r.upstream_429,
            );
        }
    }
    out
}

/// Each account's upstream requests (and 429s) per policy, one Markdown table per load.
pub fn accounts(rows: &[Row], emails: &[String]) -> String {
    let mut out = String::new();
    let mut loads: Vec<f64> = rows.iter().map(|r| r.load).collect();
    loads.dedup();
    for load in loads {
        let _ = writeln!(
            out,
            "\n**Upstream requests (429s) per account at {load}× capacity**\n"
        );
        out.push_str("| policy |");
        for e in emails {
            let _ = write!(out, " {e} |");
        }
        out.push_str("\n|---|");
        out.push_str(&"---:|".repeat(emails.len()));
        out.push('\n');
        for r in rows.iter().filter(|r| r.load == load) {
            let _ = write!(out, "| {} |", r.policy);
            for (requests, refused) in &r.per_account {
                let _ = write!(out, " {requests} ({refused}) |");
            }
            out.push('\n');
        }
    }
    out
}

/// A stable colour per policy.
fn colour(policy: Policy, all: &[Policy]) -> RGBColor {
    const PALETTE: [RGBColor; 10] = [
        RGBColor(140, 140, 140),
        RGBColor(188, 189, 34),
        RGBColor(214, 39, 40),
        RGBColor(0, 0, 0),
        RGBColor(31, 119, 180),
        RGBColor(23, 190, 207),
        RGBColor(44, 160, 44),
        RGBColor(152, 223, 138),
        RGBColor(148, 103, 189),
        RGBColor(197, 176, 213),
    ];
    let i = all.iter().position(|p| *p == policy).unwrap_or(0);
    PALETTE[i % PALETTE.len()]
}

/// One panel of the plot: its axis label, the value of a row, the axis' full range.
type Panel<'a> = (&'a str, fn(&Row) -> f64, (f64, f64));

/// Draws cache-hit ratio and client success against offered load, one line per policy, as
/// an SVG at `path`.
pub fn plot(rows: &[Row], title: &str, path: &Path) -> Result<(), Box<dyn std::error::Error>> {
    let mut policies: Vec<Policy> = Vec::new();
    for r in rows {
        if !policies.contains(&r.policy) {
            policies.push(r.policy);
        }
    }
    let (lo, hi) = rows.iter().fold((f64::MAX, f64::MIN), |(lo, hi), r| {
        (lo.min(r.load), hi.max(r.load))
    });
    let (lo, hi) = if lo < hi {
        (lo, hi)
    } else {
        (lo - 0.1, lo + 0.1)
    };
    let root = SVGBackend::new(path, (1100, 480)).into_drawing_area();
    root.fill(&WHITE)?;
    let root = root.titled(title, ("sans-serif", 18))?;
    let (left, right) = root.split_horizontally(550);
    let panels: [Panel<'_>; 2] = [
        ("cache-hit ratio", |r| r.hit_ratio, (0.0, 1.0)),
        ("client success %", Row::success_pct, (0.0, 100.0)),
    ];
    for (i, (area, (label, value, (y0, y1)))) in [&left, &right].into_iter().zip(panels).enumerate()
    {
        let y0 = rows
            .iter()
            .map(value)
            .fold(y1, f64::min)
            .min(y0.max(y1 * 0.5))
            .max(y0);
        let mut chart = ChartBuilder::on(area)
            .margin(12)
            .x_label_area_size(36)
            .y_label_area_size(48)
            .build_cartesian_2d(lo..hi, (y0 - (y1 - y0) * 0.02)..(y1 + (y1 - y0) * 0.02))?;
        chart
            .configure_mesh()
            .light_line_style(WHITE)
            .x_desc("offered load (× capacity)")
            .y_desc(label)
            .draw()?;
        for p in &policies {
            let c = colour(*p, &Policy::all());
            let points: Vec<(f64, f64)> = rows
                .iter()
                .filter(|r| r.policy == *p)
                .map(|r| (r.load, value(r)))
                .collect();
            let style = ShapeStyle::from(&c).stroke_width(2);
            let series = chart.draw_series(LineSeries::new(points.clone(), style))?;
            if i == 1 {
                let name = p.to_string();
                series
                    .label(name)
                    .legend(move |(x, y)| PathElement::new([(x, y), (x + 16, y)], style));
            }
            chart.draw_series(points.into_iter().map(|xy| Circle::new(xy, 3, c.filled())))?;
        }
        if i == 1 {
            chart
                .configure_series_labels()
                .position(SeriesLabelPosition::LowerLeft)
                .background_style(WHITE.mix(0.85))
                .border_style(BLACK)
                .label_font(("sans-serif", 11))
                .draw()?;
        }
    }
    root.present()?;
    Ok(())
}
