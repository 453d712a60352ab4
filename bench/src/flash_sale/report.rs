//! `report.md`: the scenario, the checks, and the figures.

use std::fmt::Write;

use super::charts::{self, Line};
use super::checks::quantile;
use super::sale::{Check, Outcome};
use super::scenario::Scenario;

pub(crate) fn checks_table(checks: &[Check]) -> String {
    let mut out = String::from("| check | result | violations | detail |\n|---|---|---:|---|\n");
    for c in checks {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} |",
            c.name,
            if c.passed() { "pass" } else { "FAIL" },
            c.violations,
            c.detail
        );
    }
    out
}

pub(crate) fn markdown(s: &Scenario, o: &Outcome) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "# Flash sale report\n");
    let _ = writeln!(
        out,
        "{} fans for {} seats in {} sections; admission {}/s, maxActive {} (Little's law from a \
         {:.0} s checkout, +50 %), session TTL {} s, hold TTL {} s. Arrivals: {:.0} % within {:.0} s, \
         the rest over {:.0} s. Shares: push {:.0} %, leave {:.0} %, second tab {:.0} %, declined \
         {:.0} %, abandoned checkout {:.0} %; think time × {}. Seed {}. The sale took {:.1} s.\n",
        s.fans,
        o.total_seats,
        s.sections,
        s.admission_rate_per_sec,
        o.max_active,
        s.checkout_secs,
        s.session_ttl_sec,
        s.hold_ttl_sec,
        s.spike_share * 100.0,
        s.spike_secs,
        s.tail_secs,
        s.push_share * 100.0,
        s.leave_share * 100.0,
        s.second_tab_share * 100.0,
        s.decline_share * 100.0,
        s.abandon_share * 100.0,
        s.think_scale,
        s.seed,
        o.duration_s,
    );
    let _ = writeln!(out, "## Checks\n\n{}", checks_table(&o.checks));

    let _ = writeln!(out, "## Joins during the spike\n");
    let l = &o.join_latency_ms;
    let _ = writeln!(
        out,
        "| joins | joins/s | p50 ms | p99 ms | p99.9 ms |\n|---:|---:|---:|---:|---:|\n| {} | {:.0} | {:.1} | {:.1} | {:.1} |\n",
        o.spike_joins,
        o.spike_joins as f64 / s.spike_secs.max(0.001),
        quantile(l, 0.5),
        quantile(l, 0.99),
        quantile(l, 0.999),
    );
    let _ = writeln!(
        out,
        "Latency is from the fan's intended arrival to the answer, so time a join waited in \
         the client counts too (no coordinated omission).\n"
    );

    let _ = writeln!(out, "## Errors by request, status and code\n");
    if o.errors.is_empty() {
        let _ = writeln!(out, "None.\n");
    } else {
        let _ = writeln!(out, "| request: status code | count |\n|---|---:|");
        for (k, n) in &o.errors {
            let _ = writeln!(out, "| {k} | {n} |");
        }
        let _ = writeln!(
            out,
            "\n409 `seat_unavailable` on a hold is the seat fight a sale is, not a fault.\n"
        );
    }
    if !o.unavailable_ms.is_empty() {
        let l = &o.unavailable_ms;
        let _ = writeln!(
            out,
            "503 answers (an outage refused): {}, latency p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms; \
             without `Retry-After`: {}.\n",
            l.len(),
            quantile(l, 0.5),
            quantile(l, 0.99),
            l.last().copied().unwrap_or(0.0),
            o.unavailable_without_retry_after
        );
    }

    let _ = writeln!(out, "## ETA accuracy\n");
    let _ = writeln!(
        out,
        "| predicted | fans | mean absolute error % | p90 % |\n|---|---:|---:|---:|\n| at join | {} | {:.1} | {:.1} |\n| at half of the wait | {} | {:.1} | {:.1} |\n",
        o.eta_at_join.2,
        o.eta_at_join.0,
        o.eta_at_join.1,
        o.eta_at_half.2,
        o.eta_at_half.0,
        o.eta_at_half.1,
    );
    let _ = writeln!(
        out,
        "Against the actual wait of each admitted fan (its admission time on the server minus its \
         join), for waits of 5 s or more (the ETA is in whole seconds). At half of the wait: the \
         ETA the fan heard nearest half of its wait, when that was between a quarter and three \
         quarters of it and 5 s or more remained; a fan that heard nothing then is not counted. \
         Every admitted fan's figures are in `waits.csv`.\n"
    );

    let _ = writeln!(out, "## Admission and checkout\n");
    let t = &o.admission_to_ticket_ms;
    let admitted = o.admission_offsets_s.len();
    let tickets = o.ends.get("tickets").copied().unwrap_or(0);
    let _ = writeln!(
        out,
        "| figure | value |\n|---|---:|\n| first admission | {} |\n| admissions seen | {} |\n| admission rate achieved | {:.1}/s of {}/s |\n| admission → tickets p50 / p99 | {:.1} s / {:.1} s |\n| checkout conversion (tickets / admitted) | {:.1} % |\n| sell-out | {} |\n",
        o.first_admission_s
            .map_or("none".to_string(), |s| format!("{s:.2} s")),
        admitted,
        o.admission_rate_achieved,
        s.admission_rate_per_sec,
        quantile(t, 0.5) / 1000.0,
        quantile(t, 0.99) / 1000.0,
        if admitted > 0 {
            tickets as f64 / admitted as f64 * 100.0
        } else {
            0.0
        },
        o.sell_out_s
            .map_or("not sold out".to_string(), |s| format!("{s:.1} s")),
    );

    let _ = writeln!(out, "## How fans ended\n\n| end | fans |\n|---|---:|");
    for (end, n) in &o.ends {
        let _ = writeln!(out, "| {end} | {n} |");
    }
    out.push('\n');

    if !o.cpu.is_empty() {
        let _ = writeln!(
            out,
            "## CPU of the system under test\n\n| process | cores (mean over the sale) |\n|---|---:|"
        );
        for (name, cores) in &o.cpu {
            let _ = writeln!(out, "| {name} | {cores:.2} |");
        }
        out.push('\n');
    }

    let _ = writeln!(
        out,
        "## Over time (one line per 5 s)\n\n| s | waiting | active | seats sold |\n|---:|---:|---:|---:|"
    );
    let mut next = 0.0;
    for (t, waiting, active, sold) in &o.samples {
        if *t >= next {
            let _ = writeln!(out, "| {t:.0} | {waiting} | {active} | {sold} |");
            next = t + 5.0;
        }
    }
    out
}

/// `report.html`: the checks, six charts, and the figures of `report.md`,
/// in one file with nothing to fetch.
pub(crate) fn html(s: &Scenario, o: &Outcome, markdown: &str) -> String {
    use plotters::style::{BLUE, GREEN, RED};
    let t_end = o.samples.last().map_or(1.0, |x| x.0);
    let flat = |y: f64| vec![(0.0, y), (t_end, y)];
    let per_second = {
        let seconds = o.admission_offsets_s.iter().copied().fold(0.0, f64::max) as usize + 1;
        let mut counts = vec![0.0; seconds];
        for t in &o.admission_offsets_s {
            counts[*t as usize] += 1.0;
        }
        counts
            .iter()
            .enumerate()
            .map(|(i, c)| (i as f64, *c))
            .collect::<Vec<_>>()
    };
    let series = |pick: fn(&(f64, u64, u64, u64)) -> u64| {
        o.samples
            .iter()
            .map(|x| (x.0, pick(x) as f64))
            .collect::<Vec<_>>()
    };
    let rate = f64::from(s.admission_rate_per_sec);
    let charts = [
        charts::lines(
            "Queue depth",
            "seconds into the sale",
            "fans waiting",
            &[Line {
                label: "waiting",
                points: series(|x| x.1),
                color: BLUE,
            }],
        ),
        charts::lines(
            "Admissions per second",
            "seconds into the sale",
            "admissions",
            &[
                Line {
                    label: "admitted",
                    points: per_second,
                    color: BLUE,
                },
                Line {
                    label: "configured rate",
                    points: flat(rate),
                    color: RED,
                },
            ],
        ),
        charts::lines(
            "Active sessions",
            "seconds into the sale",
            "sessions",
            &[
                Line {
                    label: "active",
                    points: series(|x| x.2),
                    color: BLUE,
                },
                Line {
                    label: "maxActive",
                    points: flat(f64::from(o.max_active)),
                    color: RED,
                },
            ],
        ),
        charts::scatter(
            "ETA at join against the actual wait",
            "actual wait, s",
            "ETA at join, s",
            &o.eta_pairs,
        ),
        charts::histogram(
            "Join latency during the spike",
            "ms from the intended arrival",
            &o.join_latency_ms,
            40,
        ),
        charts::lines(
            "Seats sold",
            "seconds into the sale",
            "seats",
            &[
                Line {
                    label: "sold",
                    points: series(|x| x.3),
                    color: GREEN,
                },
                Line {
                    label: "seats",
                    points: flat(o.total_seats as f64),
                    color: RED,
                },
            ],
        ),
    ];
    let mut out = String::from(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <title>Flash sale report</title><style>body{font-family:sans-serif;max-width:820px;\
         margin:2em auto;padding:0 1em}table{border-collapse:collapse}td,th{border:1px solid #ccc;\
         padding:2px 8px}.fail{color:#b00;font-weight:bold}pre{white-space:pre-wrap}</style>\
         </head><body><h1>Flash sale report</h1>\n<table><tr><th>check</th><th>result</th>\
         <th>violations</th><th>detail</th></tr>\n",
    );
    for c in &o.checks {
        let _ = writeln!(
            out,
            "<tr><td>{}</td><td class=\"{}\">{}</td><td>{}</td><td>{}</td></tr>",
            escape(c.name),
            if c.passed() { "pass" } else { "fail" },
            if c.passed() { "pass" } else { "FAIL" },
            c.violations,
            escape(&c.detail)
        );
    }
    out.push_str("</table>\n");
    for chart in charts {
        let _ = writeln!(out, "<div>{chart}</div>");
    }
    let _ = writeln!(
        out,
        "<h2>Figures</h2><pre>{}</pre></body></html>",
        escape(markdown)
    );
    out
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}
