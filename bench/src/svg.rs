//! Two small SVG charts, written by hand so the report needs no plotting dependency: a line
//! chart (throughput against concurrency) and grouped horizontal bars on a log scale (latency
//! per query).

use std::fmt::Write;

/// The colour of a series, by target name, the same in every chart.
pub fn colour(name: &str) -> &'static str {
    match name {
        n if n.starts_with("ours-sqlite") => "#1f6fb4",
        n if n.starts_with("ours-postgres") => "#2ca02c",
        n if n.starts_with("hfs-sqlite") => "#d62728",
        n if n.starts_with("hfs-postgres") => "#ff7f0e",
        _ => "#7f7f7f",
    }
}

/// Tail percentiles are drawn lighter than medians of the same target.
fn opacity(name: &str) -> f64 {
    if name.ends_with("p99") { 0.4 } else { 1.0 }
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// A "nice" upper bound for an axis: 1, 2 or 5 times a power of ten.
fn nice_ceiling(v: f64) -> f64 {
    if v <= 0.0 {
        return 1.0;
    }
    let p = 10f64.powf(v.log10().floor());
    for m in [1.0, 2.0, 5.0, 10.0] {
        if v <= m * p {
            return m * p;
        }
    }
    10.0 * p
}

fn label(v: f64) -> String {
    if v >= 1000.0 {
        format!("{:.0}k", v / 1000.0)
    } else if v >= 1.0 || v == 0.0 {
        format!("{v:.0}")
    } else {
        format!("{v}")
    }
}

/// Lines of `(x, y)` points per series; x on a log2 scale (concurrency 1, 4, 16, 64 …).
pub fn line_chart(
    title: &str,
    x_label: &str,
    y_label: &str,
    series: &[(String, Vec<(f64, f64)>)],
) -> String {
    let (w, h, left, right, top, bottom) = (720.0, 420.0, 80.0, 190.0, 40.0, 50.0);
    let xs: Vec<f64> = series
        .iter()
        .flat_map(|(_, p)| p.iter().map(|(x, _)| *x))
        .collect();
    let (x_min, x_max) = xs.iter().fold((f64::MAX, f64::MIN), |(a, b), &x| {
        (a.min(x.max(1.0)), b.max(x.max(1.0)))
    });
    let (lx_min, lx_max) = (x_min.log2(), x_max.log2().max(x_min.log2() + 1.0));
    let y_max = nice_ceiling(
        series
            .iter()
            .flat_map(|(_, p)| p.iter().map(|(_, y)| *y))
            .fold(0.0, f64::max),
    );
    let plot_w = w - left - right;
    let plot_h = h - top - bottom;
    let px = |x: f64| left + (x.max(1.0).log2() - lx_min) / (lx_max - lx_min) * plot_w;
    let py = |y: f64| top + plot_h - y / y_max * plot_h;
    let mut s = String::new();
    let _ = write!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" font-family="sans-serif" font-size="12"><rect width="100%" height="100%" fill="white"/><text x="{}" y="22" font-size="15" text-anchor="middle">{}</text>"#,
        left + plot_w / 2.0,
        escape(title)
    );
    for i in 0..=5 {
        let y = y_max * i as f64 / 5.0;
        let (x2, yy, tx, ty, text) = (left + plot_w, py(y), left - 6.0, py(y) + 4.0, label(y));
        let _ = write!(
            s,
            r##"<line x1="{left}" x2="{x2}" y1="{yy}" y2="{yy}" stroke="#ddd"/><text x="{tx}" y="{ty}" text-anchor="end">{text}</text>"##
        );
    }
    let mut ticks: Vec<f64> = xs.clone();
    ticks.sort_by(f64::total_cmp);
    ticks.dedup();
    for x in ticks {
        let _ = write!(
            s,
            r##"<line x1="{0}" x2="{0}" y1="{top}" y2="{1}" stroke="#eee"/><text x="{0}" y="{2}" text-anchor="middle">{3}</text>"##,
            px(x),
            top + plot_h,
            top + plot_h + 16.0,
            label(x)
        );
    }
    let _ = write!(
        s,
        r##"<rect x="{left}" y="{top}" width="{plot_w}" height="{plot_h}" fill="none" stroke="#333"/><text x="{}" y="{}" text-anchor="middle">{}</text><text transform="translate(18,{}) rotate(-90)" text-anchor="middle">{}</text>"##,
        left + plot_w / 2.0,
        h - 12.0,
        escape(x_label),
        top + plot_h / 2.0,
        escape(y_label)
    );
    for (k, (name, points)) in series.iter().enumerate() {
        let dashed = if name.contains("vread") {
            r#" stroke-dasharray="6 4""#
        } else {
            ""
        };
        let path: Vec<String> = points
            .iter()
            .map(|(x, y)| format!("{:.1},{:.1}", px(*x), py(*y)))
            .collect();
        let c = colour(name);
        let _ = write!(
            s,
            r#"<polyline points="{}" fill="none" stroke="{c}" stroke-width="2.5"{dashed}/>"#,
            path.join(" ")
        );
        for (x, y) in points {
            let _ = write!(
                s,
                r#"<circle cx="{:.1}" cy="{:.1}" r="3.5" fill="{c}"/>"#,
                px(*x),
                py(*y)
            );
        }
        let ly = top + 10.0 + k as f64 * 20.0;
        let lx = left + plot_w + 14.0;
        let _ = write!(
            s,
            r#"<line x1="{lx}" x2="{}" y1="{ly}" y2="{ly}" stroke="{c}" stroke-width="2.5"{dashed}/><text x="{}" y="{}">{}</text>"#,
            lx + 24.0,
            lx + 30.0,
            ly + 4.0,
            escape(name)
        );
    }
    s.push_str("</svg>\n");
    s
}

/// Grouped horizontal bars: one group per category, one bar per series; log-scale x axis
/// (milliseconds). A missing value leaves a gap marked "n/a".
pub fn bar_chart(
    title: &str,
    x_label: &str,
    categories: &[String],
    series: &[(String, Vec<Option<f64>>)],
) -> String {
    let bar = 7.0;
    let group = bar * series.len() as f64 + 8.0;
    let (left, right, top, bottom) = (330.0, 170.0, 40.0, 46.0);
    let plot_h = group * categories.len() as f64;
    let (w, h) = (1000.0, top + plot_h + bottom);
    let plot_w = w - left - right;
    let values: Vec<f64> = series
        .iter()
        .flat_map(|(_, v)| v.iter().flatten().copied())
        .filter(|v| *v > 0.0)
        .collect();
    let lo = values
        .iter()
        .copied()
        .fold(f64::MAX, f64::min)
        .max(0.01)
        .log10()
        .floor();
    let hi = values
        .iter()
        .copied()
        .fold(0.0, f64::max)
        .max(1.0)
        .log10()
        .ceil()
        .max(lo + 1.0);
    let px = |v: f64| left + (v.max(10f64.powf(lo)).log10() - lo) / (hi - lo) * plot_w;
    let mut s = String::new();
    let _ = write!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" font-family="sans-serif" font-size="11"><rect width="100%" height="100%" fill="white"/><text x="{}" y="22" font-size="15" text-anchor="middle">{}</text>"#,
        left + plot_w / 2.0,
        escape(title)
    );
    let mut e = lo;
    while e <= hi {
        let x = px(10f64.powf(e));
        let _ = write!(
            s,
            r##"<line x1="{x}" x2="{x}" y1="{top}" y2="{}" stroke="#ddd"/><text x="{x}" y="{}" text-anchor="middle">{}</text>"##,
            top + plot_h,
            top + plot_h + 15.0,
            label(10f64.powf(e))
        );
        e += 1.0;
    }
    for (i, category) in categories.iter().enumerate() {
        let gy = top + i as f64 * group + 4.0;
        let _ = write!(
            s,
            r#"<text x="{}" y="{}" text-anchor="end">{}</text>"#,
            left - 6.0,
            gy + group / 2.0,
            escape(&truncate(category, 52))
        );
        for (k, (name, values)) in series.iter().enumerate() {
            let y = gy + k as f64 * bar;
            match values.get(i).copied().flatten() {
                Some(v) if v > 0.0 => {
                    let _ = write!(
                        s,
                        r#"<rect x="{left}" y="{y:.1}" width="{:.1}" height="{}" fill="{}" fill-opacity="{}"/>"#,
                        (px(v) - left).max(1.0),
                        bar - 1.0,
                        colour(name),
                        opacity(name)
                    );
                }
                _ => {
                    let _ = write!(
                        s,
                        r##"<text x="{}" y="{:.1}" font-size="8" fill="#888">n/a</text>"##,
                        left + 2.0,
                        y + bar - 1.0
                    );
                }
            }
        }
    }
    let _ = write!(
        s,
        r##"<rect x="{left}" y="{top}" width="{plot_w}" height="{plot_h}" fill="none" stroke="#333"/><text x="{}" y="{}" text-anchor="middle">{}</text>"##,
        left + plot_w / 2.0,
        h - 10.0,
        escape(x_label)
    );
    for (k, (name, _)) in series.iter().enumerate() {
        let ly = top + 10.0 + k as f64 * 20.0;
        let lx = left + plot_w + 14.0;
        let _ = write!(
            s,
            r#"<rect x="{lx}" y="{}" width="18" height="10" fill="{}" fill-opacity="{}"/><text x="{}" y="{}">{}</text>"#,
            ly - 5.0,
            colour(name),
            opacity(name),
            lx + 24.0,
            ly + 4.0,
            escape(name)
        );
    }
    s.push_str("</svg>\n");
    s
}

fn truncate(text: &str, n: usize) -> String {
    if text.chars().count() <= n {
        text.to_owned()
    } else {
        format!("{}…", text.chars().take(n - 1).collect::<String>())
    }
}
