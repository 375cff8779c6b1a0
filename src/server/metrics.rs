//! `GET /metrics` in the Prometheus text format, through the `prometheus-client` crate.
//!
//! Counts that the hub and the switchboard keep anyway (members, rooms, relays, refusals,
//! dropped connections) are read at scrape time by a collector instead of being mirrored on
//! every message; only the time spent relaying is recorded as it happens.

use std::{fmt, sync::Arc};

use prometheus_client::{
    collector::Collector,
    encoding::{text::encode, DescriptorEncoder, EncodeMetric},
    metrics::{
        counter::ConstCounter,
        gauge::ConstGauge,
        histogram::{exponential_buckets, Histogram},
    },
    registry::{Registry, Unit},
};

use super::{cluster::Cluster, switchboard::Switchboard};
use crate::signalling::ErrorCode;

pub struct Metrics {
    registry: Registry,
}

/// The histogram of relay times, shared with the switchboard that records it.
pub fn relay_histogram() -> Histogram {
    // 1 µs to 16 ms, doubling.
    Histogram::new(exponential_buckets(1e-6, 2.0, 15))
}

impl Metrics {
    pub fn new(
        switchboard: Arc<Switchboard>,
        relay_seconds: Histogram,
        cluster: Option<Arc<Cluster>>,
    ) -> Self {
        let mut registry = Registry::with_prefix("portals");
        registry.register_with_unit(
            "relay_duration",
            "Server time to relay one description or candidate: lock, checks, queueing",
            Unit::Seconds,
            relay_seconds,
        );
        if let Some(cluster) = cluster {
            registry.register_collector(Box::new(ClusterCollector {
                cluster,
                switchboard: Arc::clone(&switchboard),
            }));
        }
        registry.register_collector(Box::new(HubCollector(switchboard)));
        Self { registry }
    }

    pub fn render(&self) -> Result<String, fmt::Error> {
        let mut text = String::with_capacity(4096);
        encode(&mut text, &self.registry)?;
        Ok(text)
    }
}

/// Reads the hub's own counts at scrape time.
struct HubCollector(Arc<Switchboard>);

impl fmt::Debug for HubCollector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("HubCollector")
    }
}

impl Collector for HubCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), fmt::Error> {
        let snapshot = self.0.snapshot();
        let gauges = [
            (
                "connections",
                "Open signalling WebSockets",
                snapshot.connections,
            ),
            (
                "rooms",
                "Rooms with at least one member",
                snapshot.gauges.rooms,
            ),
            (
                "members",
                "Members of all rooms, connected or in grace",
                snapshot.gauges.members,
            ),
            (
                "sessions_in_grace",
                "Members whose connection dropped, keeping their seat for the grace period",
                snapshot.gauges.in_grace,
            ),
        ];
        for (name, help, value) in gauges {
            let gauge = ConstGauge::new(i64::try_from(value).unwrap_or(i64::MAX));
            gauge.encode(encoder.encode_descriptor(name, help, None, gauge.metric_type())?)?;
        }
        let counters = [
            (
                "messages_relayed",
                "Descriptions and candidates relayed",
                snapshot.counters.relayed,
            ),
            (
                "resumes",
                "Sessions resumed with a token",
                snapshot.counters.resumes,
            ),
            (
                "joins",
                "Members that joined a room",
                snapshot.counters.joins,
            ),
            (
                "leaves",
                "Members that left a room, at once or after their grace period",
                snapshot.counters.leaves,
            ),
            (
                "held_messages_dropped",
                "Messages for a member in grace dropped because too many were waiting",
                snapshot.counters.held_overflow,
            ),
            (
                "tokens_renewed",
                "Fresh resume tokens sent to members connected most of a token's lifetime",
                snapshot.counters.tokens_renewed,
            ),
            (
                "turn_credentials_renewed",
                "Fresh TURN credentials (rtc) sent to members connected most of their lifetime",
                snapshot.counters.ice_refreshes,
            ),
            (
                "infos",
                "Room membership messages (info) sent; churn within a window is told once",
                snapshot.counters.infos,
            ),
            (
                "slow_connections_dropped",
                "Connections dropped because they read slower than their room talked",
                snapshot.slow_drops,
            ),
            (
                "silent_connections_dropped",
                "Connections dropped because they answered no ping for two intervals",
                snapshot.silent_drops,
            ),
        ];
        for (name, help, value) in counters {
            let counter = ConstCounter::new(value);
            counter.encode(encoder.encode_descriptor(
                name,
                help,
                None,
                counter.metric_type(),
            )?)?;
        }
        let mut refused = encoder.encode_descriptor(
            "messages_refused",
            "Errors sent to clients, by protocol error code",
            None,
            prometheus_client::metrics::MetricType::Counter,
        )?;
        for code in ErrorCode::ALL {
            let counter = ConstCounter::new(snapshot.counters.refused(code));
            counter.encode(refused.encode_family(&[("code", code.as_str())])?)?;
        }
        Ok(())
    }
}

/// This process's view of its cluster: metrics stay per process.
struct ClusterCollector {
    cluster: Arc<Cluster>,
    switchboard: Arc<Switchboard>,
}

impl fmt::Debug for ClusterCollector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ClusterCollector")
    }
}

impl Collector for ClusterCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), fmt::Error> {
        let (forwarded, remote) = self.switchboard.crossing();
        let gauges = [
            (
                "redis_up",
                "1 while this process reaches Redis, 0 while it does not",
                usize::from(self.cluster.health.is_up()),
            ),
            (
                "connections_forwarded",
                "Sockets here whose room another process runs",
                forwarded,
            ),
            (
                "connections_remote",
                "Members of rooms run here whose socket another process holds",
                remote,
            ),
        ];
        for (name, help, value) in gauges {
            let gauge = ConstGauge::new(i64::try_from(value).unwrap_or(i64::MAX));
            gauge.encode(encoder.encode_descriptor(name, help, None, gauge.metric_type())?)?;
        }
        let outages = ConstCounter::new(self.cluster.health.outages());
        outages.encode(encoder.encode_descriptor(
            "redis_outages",
            "Times this process found Redis unreachable after reaching it",
            None,
            outages.metric_type(),
        )?)?;
        Ok(())
    }
}
