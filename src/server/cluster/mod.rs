//! Several portals processes serving one room, through Redis (`--redis-url`).
//!
//! - **One owner per room.** A room is run by the one process that holds its lease in Redis
//!   (`portals:room:<room>`, set with an expiry and renewed each heartbeat): that process's hub
//!   is the room's only writer, as in a single process. A lease whose holder has stopped
//!   beating is taken over by the next process that needs the room, whose hub then restores
//!   the ids of the tokens it is shown ([`Input::Adopt`](crate::signalling::Input)).
//! - **The edge keeps the socket.** The process that accepted a WebSocket keeps it, its pings,
//!   decoding and message budget, and forwards what it admits to the owner's channel; the owner
//!   publishes what its hub decides for that socket to the edge's channel ([`envelope`]).
//! - **Heartbeats.** Each process sets `portals:alive:<id>` every heartbeat with an expiry of
//!   three; each watches the processes it shares connections with, and cuts those connections
//!   when one stops beating ([`Switchboard::processes_lost`]).
//! - **Redis down.** What crossed Redis is lost, so every connection that crosses is cut: the
//!   owner's hub keeps those members in grace, the edge closes their sockets with 1013, and
//!   they come back (to any process) when Redis does. Rooms run by the process that holds all
//!   their sockets do not need Redis and keep working.
//!
//! The `redis` crate's `ConnectionManager` (RESP3) reconnects and resubscribes by itself; one
//! task publishes everything this process sends on it, in order.

pub mod envelope;
pub mod routes;

use std::{
    collections::HashMap,
    sync::{
        atomic::{AtomicBool, AtomicU64, Ordering},
        Arc,
    },
    time::{Duration, Instant},
};

use redis::{
    aio::{ConnectionManager, ConnectionManagerConfig},
    IntoConnectionInfo, ProtocolVersion, PushInfo, PushKind, RedisResult, Script, Value,
};
use tokio::sync::mpsc::{self, UnboundedReceiver};

use super::{outbox::Frame, switchboard::Switchboard};
use crate::signalling::{
    ClientMessage, CloseCode, JoinQuery, RoomId, RoomName, RoomSummary, ServerMessage,
};
use envelope::{heartbeat_prefix, lease_key, processes_key, Envelope, ProcessId};
use routes::Routes;

/// Where a new socket's room is run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Placement {
    /// By this process (which adopts the room if its hub does not run it yet: see
    /// [`Switchboard::connect`]).
    Here,
    /// By another process: the socket is forwarded there.
    At(ProcessId),
    /// Nobody can tell (Redis is unreachable and the room is not run here), or nobody may take
    /// the room yet (Redis has just come back): closed with 1013, to come back later.
    Unavailable,
}

/// Takes the room's lease when it is free or its holder has stopped beating (unless ARGV[4] is
/// 0: then it answers an empty holder), renews it when it is ours; returns the holder.
const CLAIM: &str = r"
local holder = redis.call('GET', KEYS[1])
if holder == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return holder
end
if holder and redis.call('EXISTS', ARGV[3] .. holder) == 1 then
  return holder
end
if ARGV[4] == '0' then
  return ''
end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return ARGV[1]
";

/// What a claim on a room's lease found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Claim {
    /// This process holds the lease (its hub adopts the room if it does not run it yet).
    Mine,
    Theirs(ProcessId),
    /// Nobody holds it, but Redis has only just come back: the room's owner may not have
    /// beaten since, so nobody takes it yet.
    Wait,
}

/// [`CLAIM`] for every room a process runs, at each heartbeat; returns the (1-based) indices of
/// the rooms another live process holds.
const RENEW: &str = r"
local taken = {}
for i, key in ipairs(KEYS) do
  local holder = redis.call('GET', key)
  if holder == ARGV[1] or not holder or redis.call('EXISTS', ARGV[3] .. holder) == 0 then
    redis.call('SET', key, ARGV[1], 'PX', ARGV[2])
  else
    taken[#taken + 1] = i
  end
end
return taken
";

/// Whether Redis answers, as the tasks that talk to it last found.
#[derive(Default)]
pub struct Health {
    down: AtomicBool,
    outages: AtomicU64,
    /// When Redis last came back after an outage.
    recovered: std::sync::Mutex<Option<Instant>>,
}

impl Health {
    pub fn is_up(&self) -> bool {
        !self.down.load(Ordering::Relaxed)
    }

    pub fn outages(&self) -> u64 {
        self.outages.load(Ordering::Relaxed)
    }
}

/// What the last heartbeat saw of the whole cluster.
#[derive(Default)]
struct View {
    processes: usize,
    rooms: Vec<RoomSummary>,
}

pub struct Cluster {
    pub me: ProcessId,
    /// Written in the heartbeat, one more after each time this process found Redis away: it
    /// then cut what crossed, and what it told the others of it may not have reached them, so
    /// they cut too when they see the number change.
    incarnation: AtomicU64,
    /// The incarnation each peer beat with when last looked at.
    peers_seen: std::sync::Mutex<HashMap<ProcessId, u64>>,
    view: std::sync::Mutex<View>,
    redis: ConnectionManager,
    heartbeat: Duration,
    pub health: Health,
    claim: Script,
    renew: Script,
}

/// What the cluster's tasks read: envelopes to publish ([`Cluster::publish`]) and what Redis
/// pushes ([`receive`]).
pub struct Inboxes {
    pub outgoing: UnboundedReceiver<(ProcessId, Envelope)>,
    pub pushed: UnboundedReceiver<PushInfo>,
}

impl Cluster {
    /// Connects lazily: the first heartbeat opens the connection, and a Redis that is not up
    /// yet is only a cluster that is down for now.
    pub fn new(
        url: &str,
        heartbeat: Duration,
        me: ProcessId,
    ) -> RedisResult<(Self, Routes, Inboxes)> {
        let info = url.into_connection_info()?;
        let settings = info
            .redis_settings()
            .clone()
            .set_protocol(ProtocolVersion::RESP3);
        let client = redis::Client::open(info.set_redis_settings(settings))?;
        let (push_sender, pushed) = mpsc::unbounded_channel();
        let config = ConnectionManagerConfig::new()
            .set_push_sender(push_sender)
            .set_automatic_resubscription()
            .set_number_of_retries(1)
            // As long as a lease lasts: one slow answer is not yet Redis gone.
            .set_connection_timeout(Some(heartbeat * 3))
            .set_response_timeout(Some(heartbeat * 3));
        let redis = ConnectionManager::new_lazy_with_config(client, config)?;
        let (outgoing, outgoing_inbox) = mpsc::unbounded_channel();
        let cluster = Self {
            me,
            incarnation: AtomicU64::new(0),
            peers_seen: std::sync::Mutex::default(),
            view: std::sync::Mutex::default(),
            redis,
            heartbeat,
            health: Health::default(),
            claim: Script::new(CLAIM),
            renew: Script::new(RENEW),
        };
        let inboxes = Inboxes {
            outgoing: outgoing_inbox,
            pushed,
        };
        Ok((cluster, Routes::new(me, outgoing), inboxes))
    }

    /// How long a heartbeat or a lease lasts without renewal: three beats.
    fn ttl_ms(&self) -> u64 {
        u64::try_from(self.heartbeat.as_millis().saturating_mul(3)).unwrap_or(u64::MAX)
    }

    /// Whether a free lease, or one whose holder is not beating, may be taken. Not for three
    /// beats after Redis came back: every lease and heartbeat may have lapsed in the outage
    /// (or gone with a Redis that restarted empty), and a room's owner, which kept running it
    /// with the members on its own process, needs a beat to take its lease again. Taken by
    /// someone else first, the room would move, and its members with it.
    fn may_take_over(&self) -> bool {
        let recovered = *self
            .health
            .recovered
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        recovered.is_none_or(|at| at.elapsed() >= self.heartbeat * 3)
    }

    /// Where a socket that asks for this room goes: the edge asks when the socket opens, and
    /// the owner asks again when the edge forwards it (the lease may have lapsed since, the
    /// room having emptied).
    pub async fn place(&self, switchboard: &Switchboard, query: &JoinQuery) -> Placement {
        // A room the hub refuses (no name, a bad one) is refused here, where it was asked for.
        let Ok(room) = query.room_id() else {
            return Placement::Here;
        };
        // Running it already: its lease is renewed each beat, and one lost is found there; no
        // round trip holds the socket (or, at the owner, what comes after it) up.
        if switchboard.runs(&room) {
            return Placement::Here;
        }
        if !self.health.is_up() {
            // No lease can be checked, nor taken: a room's owner elsewhere may be running it.
            return Placement::Unavailable;
        }
        match self.claim(&room).await {
            Ok(Claim::Mine) => Placement::Here,
            Ok(Claim::Theirs(holder)) => Placement::At(holder),
            Ok(Claim::Wait) => Placement::Unavailable,
            Err(error) => {
                self.failed(switchboard, &error);
                Placement::Unavailable
            }
        }
    }

    async fn claim(&self, room: &RoomId) -> RedisResult<Claim> {
        let holder: String = self
            .claim
            .key(lease_key(room))
            .arg(self.me.to_string())
            .arg(self.ttl_ms())
            .arg(heartbeat_prefix())
            .arg(u8::from(self.may_take_over()))
            .invoke_async(&mut self.redis.clone())
            .await?;
        if holder.is_empty() {
            return Ok(Claim::Wait);
        }
        let holder = ProcessId::parse(&holder).ok_or_else(|| {
            redis::RedisError::from((redis::ErrorKind::Parse, "a lease holds no process id"))
        })?;
        Ok(if holder == self.me {
            Claim::Mine
        } else {
            Claim::Theirs(holder)
        })
    }

    /// Whatever failed may have lost an envelope, so what crosses is cut every time (a cut
    /// finds nothing left to cut when nothing crossed since); the log and the count only
    /// mark the start of an outage.
    fn failed(&self, switchboard: &Switchboard, error: &redis::RedisError) {
        if !self.health.down.swap(true, Ordering::Relaxed) {
            self.health.outages.fetch_add(1, Ordering::Relaxed);
            self.incarnation.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(%error, "redis is down: connections across processes are cut until it is back");
        }
        switchboard.cluster_down();
    }

    fn succeeded(&self) {
        if self.health.down.swap(false, Ordering::Relaxed) {
            tracing::info!("redis is reachable again");
            *self
                .health
                .recovered
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner()) = Some(Instant::now());
        }
    }

    /// The cluster's public rooms as of the last heartbeat; this process's own while Redis is
    /// away. Read from what the heartbeat keeps, so that a request costs Redis nothing.
    pub fn rooms(&self, switchboard: &Switchboard) -> Vec<RoomSummary> {
        if self.health.is_up() {
            self.view().rooms.clone()
        } else {
            switchboard.rooms()
        }
    }

    /// How many processes were beating at the last heartbeat; `None` while Redis is away.
    pub fn processes(&self) -> Option<usize> {
        self.health.is_up().then(|| self.view().processes)
    }

    fn view(&self) -> std::sync::MutexGuard<'_, View> {
        self.view
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Reads every live process's rooms (their lists expire with their heartbeats) and
    /// forgets the processes whose lists have expired.
    async fn refresh_view(
        &self,
        redis: &mut ConnectionManager,
        members: Vec<String>,
    ) -> RedisResult<()> {
        let processes: Vec<ProcessId> = members
            .iter()
            .filter_map(|member| ProcessId::parse(member))
            .chain(std::iter::once(self.me))
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect();
        let keys: Vec<String> = processes
            .iter()
            .map(|process| process.rooms_key())
            .collect();
        let lists: Vec<Option<String>> = redis::cmd("MGET").arg(&keys).query_async(redis).await?;
        let mut merged = std::collections::BTreeMap::<RoomName, usize>::new();
        let mut gone = Vec::new();
        let mut live = 0;
        for (process, list) in processes.iter().zip(lists) {
            let Some(list) = list else {
                gone.push(process.to_string());
                continue;
            };
            live += 1;
            let rooms: Vec<RoomSummary> = serde_json::from_str(&list).unwrap_or_default();
            for room in rooms {
                *merged.entry(room.name).or_default() += room.members;
            }
        }
        if !gone.is_empty() {
            redis::cmd("SREM")
                .arg(processes_key())
                .arg(gone)
                .exec_async(redis)
                .await?;
        }
        *self.view() = View {
            processes: live,
            rooms: merged
                .into_iter()
                .map(|(name, members)| RoomSummary { name, members })
                .collect(),
        };
        Ok(())
    }

    /// The first beat, before the server takes a socket: until this process is subscribed and
    /// beating, another would take over any lease it took, and miss what it is sent.
    pub async fn join(&self, switchboard: &Switchboard) {
        match self.beat(switchboard).await {
            Ok(()) => tracing::info!(process = %self.me, "joined the cluster"),
            Err(error) => self.failed(switchboard, &error),
        }
    }

    /// Beats, renews the leases of the rooms this process runs, publishes its rooms, and cuts
    /// the connections it shares with processes that stopped beating; once a heartbeat.
    pub async fn keep(self: Arc<Self>, switchboard: Arc<Switchboard>) {
        let mut ticks =
            tokio::time::interval_at(tokio::time::Instant::now() + self.heartbeat, self.heartbeat);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            match self.beat(&switchboard).await {
                Ok(()) => self.succeeded(),
                Err(error) => self.failed(&switchboard, &error),
            }
        }
    }

    async fn beat(&self, switchboard: &Switchboard) -> RedisResult<()> {
        let mut redis = self.redis.clone();
        let ttl = self.ttl_ms();
        // Subscribing again is cheap and makes sure of it after a reconnection.
        redis.subscribe(self.me.channel()).await?;
        let rooms = switchboard.room_ids();
        let summaries = serde_json::to_string(&switchboard.rooms()).unwrap_or_default();
        let peers: Vec<ProcessId> = switchboard.peers().into_iter().collect();
        let mut renew = self.renew.prepare_invoke();
        for room in &rooms {
            renew.key(lease_key(room));
        }
        renew
            .arg(self.me.to_string())
            .arg(ttl)
            .arg(heartbeat_prefix());
        let mut pipe = redis::pipe();
        pipe.cmd("SET")
            .arg(self.me.heartbeat_key())
            .arg(self.incarnation.load(Ordering::Relaxed))
            .arg("PX")
            .arg(ttl)
            .ignore();
        pipe.cmd("SET")
            .arg(self.me.rooms_key())
            .arg(summaries)
            .arg("PX")
            .arg(ttl)
            .ignore();
        pipe.cmd("SADD")
            .arg(processes_key())
            .arg(self.me.to_string())
            .ignore();
        pipe.cmd("SMEMBERS").arg(processes_key());
        for peer in &peers {
            pipe.cmd("GET").arg(peer.heartbeat_key());
        }
        let mut replies: Vec<Value> = pipe.query_async(&mut redis).await?;
        let beating: Vec<Option<u64>> = replies
            .split_off(1.min(replies.len()))
            .into_iter()
            .map(redis::from_redis_value)
            .collect::<Result<_, _>>()?;
        let members: Vec<String> = match replies.pop() {
            Some(members) => redis::from_redis_value(members)?,
            None => Vec::new(),
        };
        let taken: Vec<usize> = renew.invoke_async(&mut redis).await?;
        self.refresh_view(&mut redis, members).await?;
        let lost = self.lost_peers(&peers, beating);
        if !lost.is_empty() {
            tracing::info!(
                ?lost,
                "processes stopped beating: cutting what crossed to them"
            );
            switchboard.processes_lost(&lost);
        }
        for index in taken {
            if let Some(room) = index.checked_sub(1).and_then(|index| rooms.get(index)) {
                // Another process took the room while this one could not renew (Redis was
                // away): its members here move there.
                tracing::warn!(%room, "another process runs this room now: moving its members there");
                switchboard.evict(room, CloseCode::SERVICE_RESTART);
            }
        }
        Ok(())
    }

    fn lost_peers(&self, peers: &[ProcessId], beating: Vec<Option<u64>>) -> Vec<ProcessId> {
        let mut seen = self
            .peers_seen
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        lost_peers(&mut seen, peers, beating)
    }

    /// Publishes what this process sends the others, in the order it was decided, batching
    /// whatever queued up while the last batch was on its way.
    pub async fn publish(
        self: Arc<Self>,
        switchboard: Arc<Switchboard>,
        mut outgoing: UnboundedReceiver<(ProcessId, Envelope)>,
    ) {
        let mut redis = self.redis.clone();
        let mut batch = Vec::new();
        while outgoing.recv_many(&mut batch, 256).await > 0 {
            let mut pipe = redis::pipe();
            for (to, envelope) in &batch {
                pipe.cmd("PUBLISH").arg(to.channel()).arg(envelope.encode());
            }
            match pipe.query_async::<Vec<u64>>(&mut redis).await {
                Ok(receivers) => {
                    // A process that heard nothing is not listening (gone, or between two
                    // subscriptions): whatever it was told is lost, so what crosses to it is
                    // cut rather than left waiting for an answer.
                    let mut deaf: Vec<ProcessId> = batch
                        .iter()
                        .zip(receivers)
                        .filter(|(_, receivers)| *receivers == 0)
                        .map(|((to, _), _)| *to)
                        .collect();
                    deaf.sort_unstable();
                    deaf.dedup();
                    if !deaf.is_empty() {
                        tracing::info!(
                            ?deaf,
                            "processes that heard nothing: cutting what crossed to them"
                        );
                        switchboard.processes_lost(&deaf);
                    }
                }
                // What was in the batch is lost: cutting what crosses makes both sides agree.
                Err(error) => self.failed(&switchboard, &error),
            }
            batch.clear();
        }
    }

    /// Tells the others at once that this process is going, rather than a heartbeat later.
    pub async fn leave(&self) {
        let mut redis = self.redis.clone();
        let _: RedisResult<()> = tokio::time::timeout(
            self.heartbeat,
            redis::cmd("DEL")
                .arg(self.me.heartbeat_key())
                .arg(self.me.rooms_key())
                .exec_async(&mut redis),
        )
        .await
        .unwrap_or(Ok(()));
    }

    async fn handle(&self, switchboard: &Switchboard, envelope: Envelope) {
        match envelope {
            Envelope::Connect {
                edge,
                connection,
                query,
            } => match self.place(switchboard, &query).await {
                Placement::Here => switchboard.remote_connect(edge, connection, &query),
                Placement::At(_) => {
                    switchboard.refuse_remote(edge, connection, CloseCode::SERVICE_RESTART);
                }
                Placement::Unavailable => {
                    switchboard.refuse_remote(edge, connection, CloseCode::TRY_AGAIN_LATER);
                }
            },
            Envelope::Message {
                edge,
                connection,
                text,
            } => match ClientMessage::decode(&text) {
                Ok(message) => switchboard.remote_message(edge, connection, message),
                Err(error) => tracing::warn!(%error, "a forwarded message does not decode"),
            },
            Envelope::Disconnect {
                edge,
                connection,
                departure,
            } => switchboard.remote_disconnect(edge, connection, departure),
            Envelope::Send {
                owner,
                connection,
                text,
            } => match ServerMessage::decode(&text) {
                Ok(message) => switchboard.deliver(owner, connection, Frame::Text(message)),
                Err(error) => {
                    tracing::warn!(%error, "a message from a room's owner does not decode")
                }
            },
            Envelope::Close {
                owner,
                connection,
                code,
            } => {
                switchboard.deliver(owner, connection, Frame::Close(CloseCode(code)));
            }
        }
    }
}

/// Hands what Redis pushes (messages on this process's channel, news of a lost connection)
/// to the switchboard, one at a time and in order.
pub async fn receive(
    cluster: Arc<Cluster>,
    switchboard: Arc<Switchboard>,
    mut pushed: UnboundedReceiver<PushInfo>,
) {
    while let Some(push) = pushed.recv().await {
        match push.kind {
            PushKind::Message => {
                let Some(Value::BulkString(payload)) = push.data.get(1) else {
                    continue;
                };
                match Envelope::decode(payload) {
                    Some(envelope) => cluster.handle(&switchboard, envelope).await,
                    None => tracing::warn!("an envelope from another process does not decode"),
                }
            }
            PushKind::Disconnection => {
                let error = redis::RedisError::from((
                    redis::ErrorKind::Io,
                    "the connection to redis dropped",
                ));
                cluster.failed(&switchboard, &error);
            }
            _ => {}
        }
    }
}

/// The peers that stopped beating (`None`), or beat with another incarnation than when last
/// seen; `seen` becomes what the others beat with now.
fn lost_peers(
    seen: &mut HashMap<ProcessId, u64>,
    peers: &[ProcessId],
    beating: Vec<Option<u64>>,
) -> Vec<ProcessId> {
    let mut lost = Vec::new();
    let mut now_seen = HashMap::new();
    for (peer, incarnation) in peers.iter().zip(beating) {
        match incarnation {
            Some(incarnation) if seen.get(peer).is_none_or(|last| *last == incarnation) => {
                now_seen.insert(*peer, incarnation);
            }
            _ => lost.push(*peer),
        }
    }
    *seen = now_seen;
    lost
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_peer_is_lost_when_it_stops_beating_or_comes_back_as_another_incarnation() {
        let (a, b, c) = (ProcessId(1), ProcessId(2), ProcessId(3));
        let mut seen = HashMap::new();
        // First sight: nobody lost but the one not beating.
        assert_eq!(
            lost_peers(&mut seen, &[a, b, c], vec![Some(0), Some(4), None]),
            [c]
        );
        // The same incarnations: nobody.
        assert!(lost_peers(&mut seen, &[a, b], vec![Some(0), Some(4)]).is_empty());
        // B found Redis away and cut its side meanwhile: it beats with the next number.
        assert_eq!(lost_peers(&mut seen, &[a, b], vec![Some(0), Some(5)]), [b]);
        // Seen anew once it is a peer again.
        assert!(lost_peers(&mut seen, &[a, b], vec![Some(0), Some(5)]).is_empty());
    }
}
