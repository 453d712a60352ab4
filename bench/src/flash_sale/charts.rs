//! The charts of `report.html`, drawn with plotters as inline SVG so that
//! the report is one self-contained file.

use plotters::coord::types::RangedCoordf64;
use plotters::prelude::*;

const SIZE: (u32, u32) = (760, 300);

/// One line of a chart: its legend, its points, its colour.
pub(crate) struct Line<'a> {
    pub(crate) label: &'a str,
    pub(crate) points: Vec<(f64, f64)>,
    pub(crate) color: RGBColor,
}

fn bounds<'a>(points: impl Iterator<Item = &'a (f64, f64)>) -> (f64, f64) {
    let (mut x, mut y) = (1.0_f64, 1.0_f64);
    for (px, py) in points {
        x = x.max(*px);
        y = y.max(*py);
    }
    (x, y * 1.1)
}

type Chart<'a, 'b> = ChartContext<'a, SVGBackend<'b>, Cartesian2d<RangedCoordf64, RangedCoordf64>>;

/// One chart as SVG: the canvas, the caption, the axes from 0 to the
/// maxima, whatever `draw` puts on it, and the legend of labelled series.
/// A chart that cannot be drawn says so in the page instead of failing the
/// report.
fn chart(
    title: &str,
    axes: (&str, &str),
    max: (f64, f64),
    legend: bool,
    draw: impl FnOnce(&mut Chart<'_, '_>) -> Result<(), String>,
) -> String {
    let mut svg = String::new();
    let drawn = (|| -> Result<(), String> {
        let root = SVGBackend::with_string(&mut svg, SIZE).into_drawing_area();
        root.fill(&WHITE).map_err(|e| e.to_string())?;
        let mut chart = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 18))
            .margin(12)
            .x_label_area_size(36)
            .y_label_area_size(64)
            .build_cartesian_2d(0.0..max.0, 0.0..max.1)
            .map_err(|e| e.to_string())?;
        chart
            .configure_mesh()
            .x_desc(axes.0)
            .y_desc(axes.1)
            .draw()
            .map_err(|e| e.to_string())?;
        draw(&mut chart)?;
        if legend {
            chart
                .configure_series_labels()
                .background_style(WHITE.mix(0.8))
                .border_style(BLACK)
                .draw()
                .map_err(|e| e.to_string())?;
        }
        root.present().map_err(|e| e.to_string())
    })();
    match drawn {
        Ok(()) => svg,
        Err(e) => format!("<p>chart {title:?} could not be drawn: {e}</p>"),
    }
}

/// Lines over a shared x axis.
pub(crate) fn lines(title: &str, x_desc: &str, y_desc: &str, lines: &[Line<'_>]) -> String {
    let max = bounds(lines.iter().flat_map(|l| l.points.iter()));
    chart(title, (x_desc, y_desc), max, true, |chart| {
        for line in lines {
            let color = line.color;
            chart
                .draw_series(LineSeries::new(line.points.iter().copied(), color))
                .map_err(|e| e.to_string())?
                .label(line.label)
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], color));
        }
        Ok(())
    })
}

/// Points, with the line y = x for reference.
pub(crate) fn scatter(title: &str, x_desc: &str, y_desc: &str, points: &[(f64, f64)]) -> String {
    let (x_max, y_max) = bounds(points.iter());
    let max = x_max.max(y_max);
    chart(title, (x_desc, y_desc), (max, max), false, |chart| {
        chart
            .draw_series(LineSeries::new([(0.0, 0.0), (max, max)], BLACK.mix(0.4)))
            .map_err(|e| e.to_string())?;
        chart
            .draw_series(
                points
                    .iter()
                    .map(|&(x, y)| Circle::new((x, y), 2, BLUE.mix(0.5).filled())),
            )
            .map_err(|e| e.to_string())?;
        Ok(())
    })
}

/// A histogram of `values` in `buckets` equal buckets from 0 to the
/// largest value.
pub(crate) fn histogram(title: &str, x_desc: &str, values: &[f64], buckets: usize) -> String {
    let top = values.iter().copied().fold(1.0_f64, f64::max);
    let width = top / buckets as f64;
    let mut counts = vec![0u64; buckets];
    for v in values {
        let i = ((v / width) as usize).min(buckets - 1);
        counts[i] += 1;
    }
    let highest = counts.iter().copied().max().unwrap_or(1).max(1) as f64;
    chart(
        title,
        (x_desc, "count"),
        (top, highest * 1.1),
        false,
        |chart| {
            chart
                .draw_series(counts.iter().enumerate().map(|(i, &c)| {
                    let x0 = i as f64 * width;
                    Rectangle::new([(x0, 0.0), (x0 + width, c as f64)], BLUE.mix(0.6).filled())
                }))
                .map_err(|e| e.to_string())?;
            Ok(())
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn charts_are_svg_without_font_files() {
        let line = lines(
            "t",
            "s",
            "n",
            &[Line {
                label: "waiting",
                points: vec![(0.0, 1.0), (1.0, 3.0)],
                color: BLUE,
            }],
        );
        assert!(line.starts_with("<svg"), "{line}");
        assert!(scatter("e", "a", "p", &[(1.0, 2.0)]).starts_with("<svg"));
        assert!(histogram("h", "ms", &[1.0, 2.0, 2.5], 10).starts_with("<svg"));
    }
}
