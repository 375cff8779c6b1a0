//! Command-line arguments, with the bounds that keep every run finite.

use std::time::Duration;

use clap::{builder::TypedValueParser, Parser};

/// Load generator for portals-compatible signalling servers.
///
/// Opens CONNECTIONS WebSockets spread evenly over ROOMS rooms, waits until each has its `info`,
/// then has every member send `description` (an SDP of about 4 KiB) and `candidate` (about
/// 200 B) messages to the other members of its room, at RATE messages per second in total, for
/// DURATION. Each message carries its send time; the receiver computes the relay latency
/// (sender → server → receiver). Then it reports connections held, messages relayed per second,
/// latency percentiles, errors and drops.
///
/// Only the base wire format is used (no `welcome`, no tokens), so any compatible server can be
/// measured. The target must be a loopback address; the run stops by itself.
#[derive(Clone, Debug, Parser)]
#[command(name = "portals-load", version, about, long_about)]
pub struct Args {
    /// The signalling endpoint, e.g. ws://127.0.0.1:3000/portal. Loopback only. Several,
    /// comma-separated (the processes of a cluster): each room's members take them in turn, so
    /// that every room of two or more spans them.
    #[arg(
        long,
        default_value = "ws://127.0.0.1:3000/portal",
        value_delimiter = ','
    )]
    pub url: Vec<String>,

    /// WebSocket connections to open (at most 60000).
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..=60_000))]
    pub connections: u32,

    /// Rooms to spread them over; each room gets connections/rooms members. Keep rooms at or
    /// under the server's member limit (12 by default) or joins are refused.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..=60_000))]
    pub rooms: u32,

    /// Messages per second to send, in total. 0 sends as fast as the server relays them, with
    /// --window messages in flight per connection: that measures saturation.
    #[arg(long, default_value_t = 1_000, value_parser = clap::value_parser!(u32).range(0..=10_000_000))]
    pub rate: u32,

    /// How long to send (at most 10 minutes).
    #[arg(long, default_value = "10s", value_parser = bounded_duration)]
    pub duration: Duration,

    /// Time at the start of the sending whose latencies are not counted (connections warm up).
    #[arg(long, default_value = "1s", value_parser = humantime::parse_duration)]
    pub warmup: Duration,

    /// Share of `description` messages, in percent; the rest are `candidate`s.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u8).range(0..=100))]
    pub descriptions_percent: u8,

    /// With --rate 0: messages each connection may have in flight.
    #[arg(long, default_value_t = 16, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub window: u32,

    /// Only open the connections and hold them for --duration, sending nothing (for memory
    /// measurements of an idle server).
    #[arg(long)]
    pub idle: bool,

    /// While the load runs, also GET this page sequentially and time it, e.g.
    /// http://127.0.0.1:3000/?room=home. Loopback only.
    #[arg(long)]
    pub page: Option<String>,

    /// How many page requests to time with --page.
    #[arg(long, default_value_t = 200, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub page_requests: u32,

    /// Prefix of the room names, so runs do not meet other rooms.
    #[arg(long, default_value = "load")]
    pub room_prefix: String,

    /// Worker threads of the generator itself.
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u32).range(1..=64).map(|n| n as usize))]
    pub threads: usize,

    /// Connections opened at the same time during set-up.
    #[arg(long, default_value_t = 128, value_parser = clap::value_parser!(u32).range(1..=4096).map(|n| n as usize))]
    pub connect_concurrency: usize,

    /// Print the report as one JSON object (for scripts) instead of a table.
    #[arg(long)]
    pub json: bool,
}

fn bounded_duration(text: &str) -> Result<Duration, String> {
    let duration = humantime::parse_duration(text).map_err(|error| error.to_string())?;
    if duration > Duration::from_secs(600) {
        return Err("at most 10 minutes".into());
    }
    if duration.is_zero() {
        return Err("must be longer than zero".into());
    }
    Ok(duration)
}
