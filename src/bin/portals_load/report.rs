//! What a run measured, as a table for people or JSON for scripts.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::{args::Args, page::PageTiming};

#[derive(Serialize)]
pub struct Report {
    mode: &'static str,
    url: String,
    connections_requested: u32,
    connections_joined: u32,
    /// Still open when the run ended: the server did not drop them.
    connections_held: u32,
    connect_failures: BTreeMap<String, u64>,
    connect_seconds: f64,
    rooms: u32,
    target_rate: u32,
    sending_seconds: f64,
    sent: u64,
    relayed: u64,
    relayed_per_second: f64,
    /// Sent but never received by their target, after a drain period.
    dropped: u64,
    latency_us: Option<Percentiles>,
    latency_samples: usize,
    errors: BTreeMap<String, u64>,
    page_ms: Option<PagePercentiles>,
    json: bool,
}

#[derive(Serialize)]
struct Percentiles {
    p50: f64,
    p90: f64,
    p99: f64,
    max: f64,
}

#[derive(Serialize)]
struct PagePercentiles {
    requests: u32,
    failures: u32,
    p50: f64,
    p99: f64,
    max: f64,
}

/// The raw figures of a run, before they are summarised.
pub struct Measured {
    pub joined: u32,
    pub held: u32,
    pub connect_failures: BTreeMap<String, u64>,
    pub connect_seconds: f64,
    pub sending_seconds: f64,
    /// Received by the moment sending stopped: the rate is counted over that period only.
    pub received_at_stop: u64,
    pub sent: u64,
    pub received: u64,
    pub latencies_ns: Vec<u64>,
    pub errors: BTreeMap<String, u64>,
    pub page: Option<PageTiming>,
}

impl Report {
    pub fn new(args: &Args, measured: Measured) -> Self {
        let Measured {
            joined,
            held,
            connect_failures,
            connect_seconds,
            sending_seconds,
            received_at_stop,
            sent,
            received,
            mut latencies_ns,
            errors,
            page,
        } = measured;
        latencies_ns.sort_unstable();
        let latency_us = (!latencies_ns.is_empty()).then(|| Percentiles {
            p50: quantile(&latencies_ns, 0.50) / 1000.0,
            p90: quantile(&latencies_ns, 0.90) / 1000.0,
            p99: quantile(&latencies_ns, 0.99) / 1000.0,
            max: latencies_ns.last().copied().unwrap_or_default() as f64 / 1000.0,
        });
        let page_ms = page.map(|mut page| {
            page.durations_ms.sort_by(f64::total_cmp);
            PagePercentiles {
                requests: page.requests,
                failures: page.failures,
                p50: quantile_f64(&page.durations_ms, 0.50),
                p99: quantile_f64(&page.durations_ms, 0.99),
                max: page.durations_ms.last().copied().unwrap_or_default(),
            }
        });
        Self {
            mode: if args.idle {
                "idle"
            } else if args.rate == 0 {
                "saturation"
            } else {
                "rate"
            },
            url: args.url.join(","),
            connections_requested: args.connections,
            connections_joined: joined,
            connections_held: held,
            connect_failures,
            connect_seconds,
            rooms: args.rooms,
            target_rate: args.rate,
            sending_seconds,
            sent,
            relayed: received,
            relayed_per_second: received_at_stop as f64 / sending_seconds.max(1e-9),
            dropped: sent.saturating_sub(received),
            latency_samples: latencies_ns.len(),
            latency_us,
            errors,
            page_ms,
            json: args.json,
        }
    }

    pub fn print(&self) {
        if self.json {
            match serde_json::to_string(self) {
                Ok(json) => println!("{json}"),
                Err(error) => eprintln!("portals-load: {error}"),
            }
            return;
        }
        println!("portals-load {} against {}", self.mode, self.url);
        println!(
            "  connections      {} joined, {} held to the end, of {} ({} rooms), set up in {:.1} s",
            self.connections_joined,
            self.connections_held,
            self.connections_requested,
            self.rooms,
            self.connect_seconds
        );
        for (failure, count) in &self.connect_failures {
            println!("  connect failure  {count} × {failure}");
        }
        if self.mode != "idle" {
            let target = if self.target_rate == 0 {
                "as fast as possible".to_string()
            } else {
                format!("{} msg/s", self.target_rate)
            };
            println!(
                "  relayed          {:.0} msg/s over {:.1} s (target {target}); {} sent, {} received, {} dropped",
                self.relayed_per_second, self.sending_seconds, self.sent, self.relayed, self.dropped
            );
            if let Some(latency) = &self.latency_us {
                println!(
                    "  relay latency    p50 {:.0} µs, p90 {:.0} µs, p99 {:.0} µs, max {:.0} µs ({} samples)",
                    latency.p50, latency.p90, latency.p99, latency.max, self.latency_samples
                );
            }
        }
        if self.errors.is_empty() {
            println!("  errors           none");
        }
        for (code, count) in &self.errors {
            println!("  error            {count} × {code}");
        }
        if let Some(page) = &self.page_ms {
            println!(
                "  page             p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms ({} requests, {} failed)",
                page.p50, page.p99, page.max, page.requests, page.failures
            );
        }
    }
}

fn quantile(sorted: &[u64], q: f64) -> f64 {
    let index = ((sorted.len() as f64 - 1.0) * q).round() as usize;
    sorted.get(index).copied().unwrap_or_default() as f64
}

fn quantile_f64(sorted: &[f64], q: f64) -> f64 {
    let index = ((sorted.len() as f64 - 1.0) * q).round() as usize;
    sorted.get(index).copied().unwrap_or_default()
}
