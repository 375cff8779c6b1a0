//! One run: connect, join, send, drain, report.

use std::{
    collections::BTreeMap,
    net::IpAddr,
    sync::{
        atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering},
        Arc, Mutex,
    },
    time::{Duration, Instant},
};

use futures_util::{SinkExt, StreamExt};
use tokio::{
    net::TcpStream,
    sync::{watch, Notify, Semaphore},
    time::{interval_at, timeout, MissedTickBehavior},
};
use tokio_tungstenite::{
    tungstenite::{protocol::WebSocketConfig, Message},
    MaybeTlsStream, WebSocketStream,
};

use crate::{
    args::Args,
    page,
    payload::{read_stamp, Frames, Stamp},
    report::{Measured, Report},
};

type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// After sending stops, how long to wait for messages still on their way.
const DRAIN: Duration = Duration::from_secs(2);
const JOIN_TIMEOUT: Duration = Duration::from_secs(20);

/// What all connections share while the load runs.
struct Shared {
    start: Instant,
    /// Latencies before this (nanoseconds since start) are warm-up and not recorded.
    record_after_ns: u64,
    stop: AtomicBool,
    sent: AtomicU64,
    received: AtomicU64,
    /// Messages each connection has in flight (sent, not yet received by their target).
    in_flight: Vec<AtomicU32>,
    wake: Vec<Notify>,
    errors: Mutex<BTreeMap<String, u64>>,
    latencies_ns: Mutex<Vec<u64>>,
    frames: Frames,
    /// Connections still open; the server closing one counts against it.
    held: AtomicU32,
}

impl Shared {
    fn now_ns(&self) -> u64 {
        u64::try_from(self.start.elapsed().as_nanos()).unwrap_or(u64::MAX)
    }

    fn count_error(&self, code: String) {
        let mut errors = self
            .errors
            .lock()
            .unwrap_or_else(|poison| poison.into_inner());
        *errors.entry(code).or_default() += 1;
    }
}

/// A joined connection: its index, room and the id the server gave it.
struct Joined {
    index: u32,
    room: u32,
    id: String,
    socket: Socket,
}

pub async fn run(args: Args) -> Result<Report, String> {
    for url in &args.url {
        check_loopback(url).await?;
    }
    if let Some(page) = &args.page {
        check_loopback(page).await?;
    }
    let connect_started = Instant::now();
    let (joined, connect_failures) = connect_all(&args).await;
    let connect_seconds = connect_started.elapsed().as_secs_f64();
    if joined.is_empty() {
        return Err(format!(
            "no connection could join (failures: {connect_failures:?})"
        ));
    }

    // A script measuring a server it did not start (its memory, say) waits for this line to know
    // that every connection is in.
    eprintln!("portals-load: {} connections joined", joined.len());

    // Every member learns the ids of the others in its room.
    let mut rooms: BTreeMap<u32, Vec<String>> = BTreeMap::new();
    for connection in &joined {
        rooms
            .entry(connection.room)
            .or_default()
            .push(connection.id.clone());
    }
    let shared = Arc::new(Shared {
        start: Instant::now(),
        record_after_ns: u64::try_from(args.warmup.as_nanos()).unwrap_or(u64::MAX),
        stop: AtomicBool::new(false),
        sent: AtomicU64::new(0),
        received: AtomicU64::new(0),
        in_flight: (0..args.connections).map(|_| AtomicU32::new(0)).collect(),
        wake: (0..args.connections).map(|_| Notify::new()).collect(),
        errors: Mutex::new(BTreeMap::new()),
        latencies_ns: Mutex::new(Vec::new()),
        frames: Frames::new(),
        held: AtomicU32::new(0),
    });
    let joined_count = joined.len() as u32;
    let per_connection_interval = (args.rate > 0)
        .then(|| Duration::from_secs_f64(f64::from(joined_count) / f64::from(args.rate)));

    let (finish, finished) = watch::channel(false);
    let mut tasks = Vec::with_capacity(joined.len());
    for connection in joined {
        let targets: Vec<String> = rooms[&connection.room]
            .iter()
            .filter(|id| **id != connection.id)
            .cloned()
            .collect();
        let plan = SendPlan {
            idle: args.idle || targets.is_empty(),
            interval: per_connection_interval,
            window: args.window,
            descriptions_percent: u64::from(args.descriptions_percent),
        };
        tasks.push(tokio::spawn(drive(
            connection.index,
            connection.socket,
            targets,
            plan,
            Arc::clone(&shared),
            finished.clone(),
        )));
    }

    let page_timing = args
        .page
        .clone()
        .map(|url| tokio::spawn(page::time_requests(url, args.page_requests, args.duration)));

    tokio::time::sleep(args.duration).await;
    let sending_seconds = shared.start.elapsed().as_secs_f64();
    shared.stop.store(true, Ordering::SeqCst);
    let received_at_stop = shared.received.load(Ordering::SeqCst);
    tokio::time::sleep(DRAIN).await;
    let connections_held = shared.held.load(Ordering::SeqCst);
    // Leave properly (close 1000), so the server frees the seats at once.
    let _ = finish.send(true);
    for task in tasks {
        let _ = timeout(Duration::from_secs(5), task).await;
    }
    let page = match page_timing {
        Some(task) => Some(task.await.map_err(|error| error.to_string())??),
        None => None,
    };

    let latencies = std::mem::take(
        &mut *shared
            .latencies_ns
            .lock()
            .unwrap_or_else(|poison| poison.into_inner()),
    );
    let errors = shared
        .errors
        .lock()
        .unwrap_or_else(|poison| poison.into_inner())
        .clone();
    let sent = shared.sent.load(Ordering::SeqCst);
    let received = shared.received.load(Ordering::SeqCst);
    Ok(Report::new(
        &args,
        Measured {
            joined: joined_count,
            held: connections_held,
            connect_failures,
            connect_seconds,
            sending_seconds,
            received_at_stop,
            sent,
            received,
            latencies_ns: latencies,
            errors,
            page,
        },
    ))
}

/// Refuses anything but a loopback target: this tool floods what it is pointed at.
async fn check_loopback(url: &str) -> Result<(), String> {
    let rest = url
        .strip_prefix("ws://")
        .or_else(|| url.strip_prefix("http://"))
        .ok_or_else(|| format!("{url}: only ws:// and http:// URLs (no TLS) are supported"))?;
    let authority = rest.split(['/', '?']).next().unwrap_or_default();
    let host_port = if authority.contains(':') {
        authority.to_string()
    } else {
        format!("{authority}:80")
    };
    let addresses: Vec<IpAddr> = tokio::net::lookup_host(&host_port)
        .await
        .map_err(|error| format!("{url}: {error}"))?
        .map(|address| address.ip())
        .collect();
    if addresses.is_empty() || !addresses.iter().all(IpAddr::is_loopback) {
        return Err(format!(
            "{url}: portals-load only targets loopback addresses"
        ));
    }
    Ok(())
}

/// Opens every connection (a bounded number at a time) and waits for each one's `info`.
async fn connect_all(args: &Args) -> (Vec<Joined>, BTreeMap<String, u64>) {
    let gate = Arc::new(Semaphore::new(args.connect_concurrency));
    let mut attempts = Vec::with_capacity(args.connections as usize);
    for index in 0..args.connections {
        let room = index % args.rooms;
        // The k-th member of each room takes the k-th endpoint, in turn.
        let endpoint = &args.url[(index / args.rooms) as usize % args.url.len()];
        let url = format!(
            "{}?room={}-{}",
            endpoint.trim_end_matches('?'),
            args.room_prefix,
            room
        );
        let gate = Arc::clone(&gate);
        attempts.push(tokio::spawn(async move {
            // The semaphore is never closed, so acquiring only waits.
            let _permit = gate.acquire_owned().await.map_err(|e| e.to_string())?;
            let socket = join(&url).await?;
            Ok::<_, String>((index, room, socket))
        }));
    }
    let mut joined = Vec::new();
    let mut failures = BTreeMap::new();
    for attempt in attempts {
        match attempt.await {
            Ok(Ok((index, room, (id, socket)))) => joined.push(Joined {
                index,
                room,
                id,
                socket,
            }),
            Ok(Err(error)) => *failures.entry(error).or_default() += 1,
            Err(error) => *failures.entry(error.to_string()).or_default() += 1,
        }
    }
    (joined, failures)
}

/// Connects and reads until the server names us in an `info` (a `welcome` is skipped: the
/// base format does not have it).
async fn join(url: &str) -> Result<(String, Socket), String> {
    // Small buffers: a generator holding 10 000 idle sockets must not need gigabytes.
    let config = WebSocketConfig::default()
        .read_buffer_size(4096)
        .write_buffer_size(0);
    let (mut socket, _) = timeout(
        JOIN_TIMEOUT,
        tokio_tungstenite::connect_async_with_config(url, Some(config), true),
    )
    .await
    .map_err(|_| "connect timed out".to_string())?
    .map_err(|error| format!("connect: {error}"))?;
    let id = timeout(JOIN_TIMEOUT, async {
        while let Some(frame) = socket.next().await {
            let Ok(Message::Text(text)) = frame else {
                continue;
            };
            let value: serde_json::Value = match serde_json::from_str(text.as_str()) {
                Ok(value) => value,
                Err(_) => continue,
            };
            match value["type"].as_str() {
                Some("info") => {
                    if let Some(id) = value["info"]["id"].as_str() {
                        return Ok(id.to_string());
                    }
                }
                Some("error") => {
                    return Err(format!(
                        "refused: {}",
                        value["error"]["code"].as_str().unwrap_or("?")
                    ))
                }
                _ => {}
            }
        }
        Err("closed before info".to_string())
    })
    .await
    .map_err(|_| "no info in time".to_string())??;
    Ok((id, socket))
}

struct SendPlan {
    idle: bool,
    /// Open loop: one message per interval. `None`: closed loop with `window` in flight.
    interval: Option<Duration>,
    window: u32,
    descriptions_percent: u64,
}

/// Runs one connection: sends per the plan, reads everything, records latencies.
async fn drive(
    index: u32,
    socket: Socket,
    targets: Vec<String>,
    plan: SendPlan,
    shared: Arc<Shared>,
    mut finish: watch::Receiver<bool>,
) {
    shared.held.fetch_add(1, Ordering::SeqCst);
    let (mut sink, mut stream) = socket.split();
    let mut latencies = Vec::new();
    let mut sequence: u64 = 0;
    // Spread the first sends over one interval so that connections do not send in lockstep.
    let period = plan.interval.unwrap_or(Duration::from_secs(3600));
    let offset = period.mul_f64(f64::from(index % 1000) / 1000.0);
    let mut ticks = interval_at(tokio::time::Instant::now() + offset, period);
    ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let me = index as usize;

    let closed_by_server = loop {
        let may_send = !plan.idle && !shared.stop.load(Ordering::Relaxed);
        let window_open = shared.in_flight[me].load(Ordering::Relaxed) < plan.window;
        tokio::select! {
            frame = stream.next() => match frame {
                Some(Ok(Message::Text(text))) => {
                    receive(text.as_str(), &shared, &mut latencies);
                }
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => break true,
                Some(Ok(_)) => {}
            },
            _ = ticks.tick(), if may_send && plan.interval.is_some() => {
                if send(&mut sink, index, &mut sequence, &targets, &plan, &shared).await.is_err() {
                    break true;
                }
            }
            _ = std::future::ready(()), if may_send && plan.interval.is_none() && window_open => {
                if send(&mut sink, index, &mut sequence, &targets, &plan, &shared).await.is_err() {
                    break true;
                }
            }
            _ = shared.wake[me].notified(), if may_send && plan.interval.is_none() && !window_open => {}
            _ = finish.changed() => {
                // A proper closing handshake: read until the server's close, or closing
                // with unread data would reset the connection and lose our close frame.
                let _ = sink.send(Message::Close(None)).await;
                let _ = timeout(Duration::from_secs(2), async {
                    while let Some(Ok(frame)) = stream.next().await {
                        if frame.is_close() {
                            break;
                        }
                    }
                })
                .await;
                break false;
            }
        }
        if shared.stop.load(Ordering::Relaxed) && !latencies.is_empty() {
            flush_latencies(&shared, &mut latencies);
        }
    };
    flush_latencies(&shared, &mut latencies);
    if closed_by_server {
        shared.held.fetch_sub(1, Ordering::SeqCst);
    }
}

async fn send(
    sink: &mut futures_util::stream::SplitSink<Socket, Message>,
    index: u32,
    sequence: &mut u64,
    targets: &[String],
    plan: &SendPlan,
    shared: &Shared,
) -> Result<(), ()> {
    *sequence += 1;
    let target = &targets[(*sequence as usize) % targets.len()];
    let description = (*sequence * 7919) % 100 < plan.descriptions_percent;
    let stamp = Stamp {
        sender: index,
        sequence: *sequence,
        sent_ns: shared.now_ns(),
    };
    let frame = shared.frames.frame(description, stamp, target);
    shared.in_flight[index as usize].fetch_add(1, Ordering::Relaxed);
    shared.sent.fetch_add(1, Ordering::Relaxed);
    sink.send(Message::Text(frame.into())).await.map_err(|_| ())
}

fn receive(text: &str, shared: &Shared, latencies: &mut Vec<u64>) {
    if let Some(stamp) = read_stamp(text) {
        let now = shared.now_ns();
        shared.received.fetch_add(1, Ordering::Relaxed);
        if let Some(sender) = shared.in_flight.get(stamp.sender as usize) {
            // Saturating: a message relayed twice must not wrap the counter.
            let _ = sender.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1));
            shared.wake[stamp.sender as usize].notify_one();
        }
        if stamp.sent_ns >= shared.record_after_ns {
            latencies.push(now.saturating_sub(stamp.sent_ns));
        }
    } else if text.contains(r#""type":"error""#) {
        let code = serde_json::from_str::<serde_json::Value>(text)
            .ok()
            .and_then(|value| value["error"]["code"].as_str().map(str::to_string))
            .unwrap_or_else(|| "unreadable".into());
        shared.count_error(code);
    }
}

fn flush_latencies(shared: &Shared, latencies: &mut Vec<u64>) {
    if latencies.is_empty() {
        return;
    }
    shared
        .latencies_ns
        .lock()
        .unwrap_or_else(|poison| poison.into_inner())
        .append(latencies);
}
