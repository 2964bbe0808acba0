//! `vigilctl analyze plot`: a self-contained SVG boot chart, one bar per
//! early-boot step and per unit on a time axis, coloured by phase, with
//! names and times, in the spirit of `systemd-analyze plot`.

use std::fmt::Write as _;

use super::analyze::{activation, secs, start_of};
use super::protocol::{Timeline, UnitState, UnitTimes};

const ROW: f64 = 22.0;
const BAR: f64 = 16.0;
const LEFT: f64 = 30.0;
const TOP: f64 = 90.0;
const LABEL_ROOM: f64 = 320.0;

/// Colours of the phases (also the legend).
const EARLY_BOOT: &str = "#8e7cc3";
const WAITING: &str = "#d9d9d9";
const STARTING: &str = "#f6b26b";
const UP: &str = "#93c47d";
const FAILED: &str = "#e06666";

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// A tick step that gives about ten ticks over `span` seconds.
fn tick_step(span: f64) -> f64 {
    let steps = [
        0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0, 300.0,
    ];
    steps
        .iter()
        .copied()
        .find(|s| span / s <= 12.0)
        .unwrap_or(600.0)
}

/// The units the chart shows: those that started by the end of the boot
/// (a unit started by hand an hour later would squash the rest), in
/// start order.
fn boot_units(t: &Timeline, horizon: f64) -> Vec<&UnitTimes> {
    let mut units: Vec<&UnitTimes> = t
        .units
        .iter()
        .filter(|u| u.requested_secs.is_some_and(|r| r <= horizon))
        .collect();
    units.sort_by(|a, b| {
        let key = |u: &UnitTimes| start_of(u).unwrap_or(f64::MAX);
        key(a).total_cmp(&key(b)).then_with(|| a.name.cmp(&b.name))
    });
    units
}

/// The chart as an SVG document.
pub fn plot(t: &Timeline) -> String {
    let origin = if t.pid1 { 0.0 } else { t.started_secs };
    let boot_end = t.target_done_secs.unwrap_or(t.now_secs).max(
        t.steps
            .iter()
            .map(|s| s.start_secs + s.duration_secs)
            .fold(0.0, f64::max),
    );
    let units = boot_units(t, boot_end);
    let last = units
        .iter()
        .filter_map(|u| u.ready_secs.or(u.ended_secs))
        .filter(|e| *e <= boot_end * 1.5 + 1.0)
        .fold(boot_end, f64::max);
    let span = (last - origin).max(0.001) * 1.05;
    let scale = (1200.0 / span).clamp(50.0, 20000.0);
    let x = |s: f64| LEFT + (s - origin).max(0.0) * scale;
    let rows = t.steps.len() + units.len();
    let width = x(origin + span) + LABEL_ROOM;
    let height = TOP + rows as f64 * ROW + 30.0;

    let mut svg = String::new();
    let _ = writeln!(
        svg,
        r#"<?xml version="1.0" encoding="UTF-8"?>
<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0}" height="{height:.0}" viewBox="0 0 {width:.0} {height:.0}" font-family="sans-serif" font-size="12">"#
    );
    let _ = writeln!(
        svg,
        r##"<rect width="100%" height="100%" fill="#ffffff"/>"##
    );
    let title = super::analyze::summary(t);
    let _ = writeln!(
        svg,
        r#"<text x="{LEFT}" y="20" font-size="15" font-weight="bold">vigil boot chart</text>"#
    );
    for (i, line) in title.lines().enumerate() {
        let _ = writeln!(
            svg,
            r#"<text x="{LEFT}" y="{}">{}</text>"#,
            38 + 15 * i,
            escape(line)
        );
    }
    // Legend.
    let legend = [
        (EARLY_BOOT, "early boot"),
        (WAITING, "waiting for dependencies"),
        (STARTING, "starting"),
        (UP, "up"),
        (FAILED, "failed"),
    ];
    let mut lx = LEFT;
    for (colour, label) in legend {
        let _ = writeln!(
            svg,
            r#"<rect x="{lx}" y="66" width="12" height="12" fill="{colour}"/><text x="{}" y="76">{label}</text>"#,
            lx + 16.0
        );
        lx += 36.0 + label.len() as f64 * 6.5;
    }
    // Time axis: a grid line and a label per tick.
    let step = tick_step(span);
    let grid_bottom = TOP + rows as f64 * ROW;
    let mut tick = 0.0;
    while tick <= span {
        let gx = x(origin + tick);
        let _ = writeln!(
            svg,
            r##"<line x1="{gx:.1}" y1="{}" x2="{gx:.1}" y2="{grid_bottom:.1}" stroke="#eeeeee"/><text x="{gx:.1}" y="{}" fill="#666666" text-anchor="middle">{}</text>"##,
            TOP - 4.0,
            grid_bottom + 14.0,
            secs(tick)
        );
        tick += step;
    }
    let mut row = 0usize;
    let bar = |svg: &mut String,
               row: usize,
               span: (f64, f64),
               colour: &str,
               class: &str,
               name: &str| {
        let y = TOP + row as f64 * ROW + (ROW - BAR) / 2.0;
        let w = ((span.1 - span.0) * scale).max(1.0);
        let _ = writeln!(
            svg,
            r#"<rect class="{class}" data-name="{}" x="{:.1}" y="{y:.1}" width="{w:.1}" height="{BAR}" fill="{colour}"/>"#,
            escape(name),
            x(span.0)
        );
    };
    for s in &t.steps {
        let colour = if s.ok { EARLY_BOOT } else { FAILED };
        bar(
            &mut svg,
            row,
            (s.start_secs, s.start_secs + s.duration_secs),
            colour,
            "step",
            &s.name,
        );
        let y = TOP + row as f64 * ROW + ROW - 7.0;
        let status = if s.ok { "" } else { " (failed)" };
        let _ = writeln!(
            svg,
            r#"<text x="{:.1}" y="{y:.1}">{} {}{status}</text>"#,
            x(s.start_secs + s.duration_secs) + 4.0,
            escape(&s.name),
            secs(s.duration_secs)
        );
        row += 1;
    }
    for u in &units {
        let requested = u.requested_secs.unwrap_or(origin);
        let start = start_of(u).unwrap_or(requested);
        let failed = u.state == UnitState::Failed;
        // A run that goes on is drawn to the chart's right edge.
        let chart_end = origin + span;
        let end_of_run = u.ended_secs.unwrap_or(chart_end).min(chart_end);
        if u.kind == "target" {
            // A target has no process: it only waits for its units.
            let ready = u.ready_secs.unwrap_or(end_of_run);
            bar(
                &mut svg,
                row,
                (requested, ready),
                WAITING,
                "waiting",
                &u.name,
            );
            bar(
                &mut svg,
                row,
                (ready, end_of_run.max(ready)),
                UP,
                "up",
                &u.name,
            );
            let y = TOP + row as f64 * ROW + ROW - 7.0;
            let _ = writeln!(
                svg,
                r#"<text x="{:.1}" y="{y:.1}">{} (target) up at {}</text>"#,
                x(ready) + 4.0,
                escape(&u.name),
                secs(ready - origin)
            );
            row += 1;
            continue;
        }
        if start > requested {
            bar(
                &mut svg,
                row,
                (requested, start),
                WAITING,
                "waiting",
                &u.name,
            );
        }
        match u.ready_secs {
            Some(ready) => {
                if ready > start {
                    bar(&mut svg, row, (start, ready), STARTING, "starting", &u.name);
                }
                let colour = if failed { FAILED } else { UP };
                bar(
                    &mut svg,
                    row,
                    (ready, end_of_run.max(ready)),
                    colour,
                    "up",
                    &u.name,
                );
            }
            None => {
                let colour = if failed { FAILED } else { STARTING };
                let class = if failed { "failed" } else { "starting" };
                bar(
                    &mut svg,
                    row,
                    (start, end_of_run.max(start)),
                    colour,
                    class,
                    &u.name,
                );
            }
        }
        let y = TOP + row as f64 * ROW + ROW - 7.0;
        let took = activation(u)
            .map(|d| format!(" {}", secs(d)))
            .unwrap_or_default();
        let state = if failed { " (failed)" } else { "" };
        // Beside the bar's start of "up" (or its start), never off the chart.
        let label_x = (u.ready_secs.map_or(x(start), x) + 4.0).min(x(origin + span));
        let _ = writeln!(
            svg,
            r#"<text x="{label_x:.1}" y="{y:.1}">{}{took}{state}</text>"#,
            escape(&u.name)
        );
        row += 1;
    }
    svg.push_str("</svg>\n");
    svg
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::control::analyze::tests::sample;

    #[test]
    fn the_chart_is_xml_with_a_bar_per_step_and_per_unit() {
        let svg = plot(&sample());
        let doc = roxmltree::Document::parse(&svg).unwrap();
        let rects: Vec<_> = doc
            .descendants()
            .filter(|n| n.has_tag_name("rect"))
            .collect();
        let named = |class: &str| {
            let mut names: Vec<&str> = rects
                .iter()
                .filter(|r| r.attribute("class") == Some(class))
                .filter_map(|r| r.attribute("data-name"))
                .collect();
            names.sort();
            names.dedup();
            names
        };
        assert_eq!(named("step"), ["essential-mounts", "fstab"]);
        assert_eq!(named("up"), ["db", "default", "net", "slow", "web"]);
        // db waited for net: a waiting bar from 1.5 s to 1.9 s, then starting.
        assert_eq!(named("waiting"), ["db", "default", "web"]);
        let texts: String = doc.descendants().filter_map(|n| n.text()).collect();
        assert!(texts.contains("db 500ms"), "{texts}");
        assert!(texts.contains("fstab 300ms (failed)"));
    }
}
