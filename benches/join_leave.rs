//! What a join and a leave cost the server, in rooms of 2, 6 and 12 members: the hub's work,
//! queueing every resulting message to its connection, and encoding each to JSON (which the
//! connections' tasks do). Socket writes are the kernel's and are not counted.
//!
//! `cargo bench --features ssr --bench join_leave` (or `scripts/bench.sh join`).

use std::time::{Duration, Instant};

use std::sync::Arc;

use portals::{
    server::{
        cluster::Placement,
        metrics::relay_histogram,
        outbox::{Frame, Outbox},
        switchboard::{now, Switchboard},
    },
    signalling::{ConnectionId, Departure, Hub, HubConfig, JoinQuery},
};

const ROUNDS: usize = 20_000;
const RUNS: usize = 5;

fn main() {
    println!("join and leave, server time per operation (median of {RUNS} runs of {ROUNDS})");
    println!(
        "{:>10} {:>12} {:>12} {:>12} {:>12}",
        "room size", "join p50", "join p99", "leave p50", "leave p99"
    );
    for room_size in [2usize, 6, 12] {
        let mut joins = Vec::new();
        let mut leaves = Vec::new();
        for run in 0..RUNS {
            let (join, leave) = measure(room_size, run as u8);
            joins.push(join);
            leaves.push(leave);
        }
        let median = |mut values: Vec<(Duration, Duration)>,
                      pick: fn(&(Duration, Duration)) -> Duration| {
            values.sort_by_key(pick);
            pick(&values[values.len() / 2])
        };
        println!(
            "{:>10} {:>10.1}µs {:>10.1}µs {:>10.1}µs {:>10.1}µs",
            room_size,
            micros(median(joins.clone(), |v| v.0)),
            micros(median(joins, |v| v.1)),
            micros(median(leaves.clone(), |v| v.0)),
            micros(median(leaves, |v| v.1)),
        );
    }
}

/// Joins as the `room_size`-th member and leaves again, `ROUNDS` times; returns (p50, p99)
/// of joins and of leaves.
fn measure(room_size: usize, seed: u8) -> ((Duration, Duration), (Duration, Duration)) {
    let hub = Hub::new(HubConfig::with_defaults(
        now(),
        b"bench".to_vec(),
        [seed; 32],
    ));
    let board = Switchboard::new(hub, relay_histogram(), None);
    let query = JoinQuery {
        room: Some("bench".into()),
        ..JoinQuery::default()
    };
    let mut outboxes: Vec<Arc<Outbox>> = Vec::new();
    for _ in 1..room_size {
        let outbox = Arc::new(Outbox::default());
        board.connect(Arc::clone(&outbox), &query, Placement::Here);
        outboxes.push(outbox);
    }
    drain(&outboxes);
    let mut join_times = Vec::with_capacity(ROUNDS);
    let mut leave_times = Vec::with_capacity(ROUNDS);
    for _ in 0..ROUNDS {
        let outbox = Arc::new(Outbox::default());
        outboxes.push(Arc::clone(&outbox));
        let started = Instant::now();
        let connection: ConnectionId = board.connect(outbox, &query, Placement::Here);
        drain(&outboxes);
        join_times.push(started.elapsed());

        let started = Instant::now();
        board.disconnect(connection, Departure::Left);
        drain(&outboxes);
        leave_times.push(started.elapsed());
        outboxes.pop();
    }
    (percentiles(join_times), percentiles(leave_times))
}

/// Encodes everything queued, as the connections' tasks would before writing.
fn drain(outboxes: &[Arc<Outbox>]) {
    for outbox in outboxes {
        for frame in outbox.take_queued() {
            if let Frame::Text(message) = frame {
                std::hint::black_box(message.encode());
            }
        }
    }
}

fn percentiles(mut times: Vec<Duration>) -> (Duration, Duration) {
    times.sort();
    (times[times.len() / 2], times[times.len() * 99 / 100])
}

fn micros(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1e6
}
