//! Several server processes sharing one Redis (`--redis-url`): a room whose members are on
//! different processes works as in one, and survives any one process, or Redis, going away.
//!
//! Each test starts its own `redis-server` on a free loopback port (Debian's package, which
//! `make setup` installs) and servers in this process, or as processes of their own where the
//! test kills one with SIGKILL.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::{
    io::{BufRead, BufReader},
    net::{SocketAddr, TcpListener as StdListener},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use common::{candidate, offer, Client, Ending, TestServer, PATIENCE};
use futures_util::StreamExt;
use portals::signalling::{protocol::Info, MemberId, ServerMessage};
use serde_json::json;
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
    time::{sleep, timeout},
};
use tokio_tungstenite::tungstenite::Message;

/// Short, so that deaths are noticed within a second: three missed beats.
const HEARTBEAT: Duration = Duration::from_millis(200);
const GRACE: Duration = Duration::from_secs(3);

struct Redis {
    port: u16,
    child: Child,
}

impl Redis {
    async fn start() -> Self {
        let port = free_port();
        Self::start_on(port).await
    }

    async fn start_on(port: u16) -> Self {
        let child = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .spawn()
            .expect("redis-server is installed (make setup)");
        let redis = Self { port, child };
        let deadline = Instant::now() + PATIENCE;
        while !redis.answers().await {
            assert!(Instant::now() < deadline, "redis-server did not come up");
            sleep(Duration::from_millis(20)).await;
        }
        redis
    }

    async fn answers(&self) -> bool {
        let Ok(mut stream) = TcpStream::connect(("127.0.0.1", self.port)).await else {
            return false;
        };
        let mut reply = [0; 7];
        stream.write_all(b"PING\r\n").await.is_ok()
            && timeout(PATIENCE, stream.read_exact(&mut reply))
                .await
                .is_ok_and(|read| read.is_ok())
            && &reply == b"+PONG\r\n"
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        self.stop();
    }
}

fn free_port() -> u16 {
    StdListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn cluster_flags(redis: &Redis) -> Vec<String> {
    [
        "--redis-url",
        &redis.url(),
        "--secret",
        "cluster test secret",
        "--redis-heartbeat",
        "200ms",
        "--grace-period",
        "3s",
    ]
    .map(String::from)
    .to_vec()
}

async fn server_in_this_process(redis: &Redis) -> TestServer {
    let flags = cluster_flags(redis);
    let flags: Vec<&str> = flags.iter().map(String::as_str).collect();
    TestServer::start(&flags).await
}

/// A server as a process of its own, to be killed.
struct Process {
    child: Child,
    server: TestServer,
}

impl Process {
    fn start(redis: &Redis) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_portals"))
            .args(["--addr", "127.0.0.1:0", "--log", "warn"])
            .args(cluster_flags(redis))
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let mut lines = BufReader::new(stdout).lines();
        let addr: SocketAddr = loop {
            let line = lines.next().expect("the banner").unwrap();
            if let Some(addr) = line.strip_prefix("portals listening on ") {
                break addr.parse().unwrap();
            }
        };
        // The rest of the banner is not read: a full pipe would block the process.
        std::thread::spawn(move || for _ in lines {});
        Self {
            child,
            server: TestServer::at(addr),
        }
    }

    fn kill(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn ids(info: &Info) -> Vec<&MemberId> {
    info.members.iter().map(|peer| &peer.id).collect()
}

/// Reads messages until an `info` that satisfies `done`, within `within`.
async fn info_until(client: &mut Client, within: Duration, done: impl Fn(&Info) -> bool) -> Info {
    timeout(within, async {
        loop {
            if let ServerMessage::Info(info) = client.recv().await {
                if done(&info) {
                    return info;
                }
            }
        }
    })
    .await
    .expect("the info came in time")
}

async fn join(server: &TestServer, query: &str) -> (Client, MemberId, String, Info) {
    let (client, welcome, info) = Client::join_with(server, query).await;
    (client, welcome.id, welcome.token.as_str().to_string(), info)
}

#[tokio::test]
async fn members_on_two_processes_see_and_reach_each_other() {
    let redis = Redis::start().await;
    let first = server_in_this_process(&redis).await;
    let second = server_in_this_process(&redis).await;

    let (mut a, a_id, _, info) = join(&first, "room=home").await;
    assert!(info.members.is_empty());
    let (mut b, b_id, _, b_info) = join(&second, "room=home").await;
    assert_eq!(ids(&b_info), [&a_id]);
    let a_info = a.info().await;
    assert_eq!(ids(&a_info), [&b_id]);
    // One of the pair is polite, whichever process its socket is on.
    assert_ne!(a_info.members[0].polite, b_info.members[0].polite);

    a.send(offer(b_id.as_str())).await;
    let relayed = b.recv_json().await;
    assert_eq!(relayed["type"], "description");
    assert_eq!(relayed["from"], a_id.as_str());
    b.send(candidate(a_id.as_str())).await;
    let relayed = a.recv_json().await;
    assert_eq!(relayed["type"], "candidate");
    assert_eq!(relayed["from"], b_id.as_str());
    a.expect_nothing_queued().await;
    b.expect_nothing_queued().await;

    // Both processes list the room with both members, though only the first runs it.
    for server in [&first, &second] {
        let deadline = Instant::now() + PATIENCE;
        while server.get_json("/api/rooms").await != json!([{"name": "home", "members": 2}]) {
            assert!(
                Instant::now() < deadline,
                "the cluster's rooms: {}",
                server.get_json("/api/rooms").await
            );
            sleep(HEARTBEAT / 2).await;
        }
    }
    health_becomes(&second, "ok\nredis: reachable\nprocesses: 2\n").await;
}

#[tokio::test]
async fn a_resume_lands_on_another_process_and_keeps_its_id() {
    let redis = Redis::start().await;
    let first = server_in_this_process(&redis).await;
    let second = server_in_this_process(&redis).await;
    let (a, a_id, a_token, _) = join(&first, "room=home").await;
    let (b, b_id, b_token, _) = join(&second, "room=home").await;

    // B's socket was on the second process (an edge); it comes back on the first (the owner).
    b.vanish();
    let (mut b, welcome, info) =
        Client::join_with(&first, &format!("room=home&token={b_token}")).await;
    assert_eq!(welcome.id, b_id);
    assert_eq!(ids(&info), [&a_id]);
    // A's socket was on the owner; it comes back on the edge.
    a.vanish();
    let (mut a, welcome, info) =
        Client::join_with(&second, &format!("room=home&token={a_token}")).await;
    assert_eq!(welcome.id, a_id);
    assert_eq!(ids(&info), [&b_id]);
    a.send(offer(b_id.as_str())).await;
    let relayed = info_skipping(&mut b).await;
    assert_eq!(relayed["from"], a_id.as_str());
}

/// The next message that is not an `info`.
async fn info_skipping(client: &mut Client) -> serde_json::Value {
    loop {
        let message = client.recv_json().await;
        if message["type"] != "info" {
            return message;
        }
    }
}

/// How late a bound may be met on a loaded machine.
const SLACK: Duration = Duration::from_millis(1500);

#[tokio::test]
async fn an_edge_that_dies_leaves_its_members_in_grace_and_they_come_back_anywhere() {
    let redis = Redis::start().await;
    let owner = server_in_this_process(&redis).await;
    let edge = Process::start(&redis);
    let (mut a, _, _, _) = join(&owner, "room=home").await;
    let (_b, b_id, b_token, _) = join(&edge.server, "room=home").await;
    let (_c, _, _, _) = join(&edge.server, "room=home").await;
    info_until(&mut a, PATIENCE, |info| info.members.len() == 2).await;

    let killed = Instant::now();
    edge.kill();
    // B comes back on the owner at once and keeps its id.
    let (_b, welcome, _) = Client::join_with(&owner, &format!("room=home&token={b_token}")).await;
    assert_eq!(welcome.id, b_id);
    // C does not: it leaves A's info once the owner has seen the edge stop beating (three
    // beats) and C's grace period has passed, not before.
    info_until(&mut a, HEARTBEAT * 4 + GRACE + SLACK, |info| {
        ids(info) == [&b_id]
    })
    .await;
    let gone_after = killed.elapsed();
    assert!(
        gone_after >= GRACE,
        "C kept its seat for the grace period: {gone_after:?}"
    );
    assert!(
        gone_after <= HEARTBEAT * 4 + GRACE + SLACK,
        "C left within heartbeat + grace: {gone_after:?}"
    );
}

#[tokio::test]
async fn an_owner_that_dies_hands_its_room_over_and_the_ids_come_back() {
    let redis = Redis::start().await;
    let owner = Process::start(&redis);
    let edge = server_in_this_process(&redis).await;
    let (_a, a_id, a_token, _) = join(&owner.server, "room=home").await;
    let (mut b, b_id, b_token, _) = join(&edge, "room=home").await;

    let killed = Instant::now();
    owner.kill();
    // The edge closes B's socket with 1012 once the owner has stopped beating.
    assert_eq!(b.ending().await, Ending::Closed(1012));
    let noticed = killed.elapsed();
    assert!(
        noticed <= HEARTBEAT * 4 + SLACK,
        "noticed after {noticed:?}"
    );
    // Both come back to the edge, which takes the room over, with their ids.
    let (mut b, welcome, info) =
        Client::join_with(&edge, &format!("room=home&token={b_token}")).await;
    assert_eq!(welcome.id, b_id);
    assert!(info.members.is_empty());
    let (mut a, welcome, info) =
        Client::join_with(&edge, &format!("room=home&token={a_token}")).await;
    assert_eq!(welcome.id, a_id);
    assert_eq!(ids(&info), [&b_id]);
    info_until(&mut b, PATIENCE, |info| ids(info) == [&a_id]).await;
    a.send(offer(b_id.as_str())).await;
    assert_eq!(info_skipping(&mut b).await["from"], a_id.as_str());
}

#[tokio::test]
async fn redis_going_away_cuts_only_what_crosses_it_and_everyone_comes_back() {
    let mut redis = Redis::start().await;
    let port = redis.port;
    let first = server_in_this_process(&redis).await;
    let second = server_in_this_process(&redis).await;
    // "solo" has both its members on the first process; "split" has one on each.
    let (mut c, c_id, _, _) = join(&first, "room=solo").await;
    let (mut d, d_id, _, _) = join(&first, "room=solo").await;
    c.info().await;
    let (mut a, a_id, _, _) = join(&first, "room=split").await;
    let (mut b, b_id, b_token, _) = join(&second, "room=split").await;
    a.info().await;

    redis.stop();
    // The member whose room is run across Redis is told to come back later.
    assert_eq!(b.ending().await, Ending::Closed(1013));
    // The room that does not cross it keeps working.
    c.send(offer(d_id.as_str())).await;
    assert_eq!(info_skipping(&mut d).await["from"], c_id.as_str());
    // A newcomer to a room run on another process cannot be placed.
    let mut late = Client::connect(&second, "room=split").await;
    assert_eq!(late.ending().await, Ending::Closed(1013));
    first.wait_for_metric("portals_redis_up 0").await;
    second.wait_for_metric("portals_redis_up 0").await;
    let health = common::get_url(&second.url("/healthz")).await;
    assert!(
        health.body().starts_with("ok\nredis: unreachable"),
        "{}",
        health.body()
    );

    let _redis = Redis::start_on(port).await;
    first.wait_for_metric("portals_redis_up 1").await;
    second.wait_for_metric("portals_redis_up 1").await;
    // B comes back, still in its grace period, with its id, to the same room.
    let (mut b, welcome, info) =
        Client::join_with(&second, &format!("room=split&token={b_token}")).await;
    assert_eq!(welcome.id, b_id);
    assert_eq!(ids(&info), [&a_id]);
    a.send(offer(b_id.as_str())).await;
    assert_eq!(info_skipping(&mut b).await["from"], a_id.as_str());
    // Nobody twice: four members, all run by the first process.
    first.wait_for_metric("portals_members 4").await;
    second.wait_for_metric("portals_members 0").await;
    health_becomes(&second, "ok\nredis: reachable\nprocesses: 2\n").await;
}

#[tokio::test]
async fn three_processes_serve_one_room_as_one() {
    let redis = Redis::start().await;
    let servers = [
        server_in_this_process(&redis).await,
        server_in_this_process(&redis).await,
        server_in_this_process(&redis).await,
    ];
    let mut members = Vec::new();
    for (i, server) in servers.iter().enumerate() {
        let (client, id, _, info) = join(server, "room=home").await;
        assert_eq!(info.members.len(), i);
        members.push((client, id, info));
    }
    let all: Vec<MemberId> = members.iter().map(|(_, id, _)| id.clone()).collect();
    for (client, id, first_info) in &mut members {
        let mut others: Vec<&MemberId> = all.iter().filter(|other| *other != id).collect();
        others.sort();
        let sees_all = |info: &Info| {
            let mut seen = ids(info);
            seen.sort();
            seen == others
        };
        if !sees_all(first_info) {
            info_until(client, PATIENCE, sees_all).await;
        }
    }
    // Each relays to each, whichever processes the two sockets are on.
    for from in 0..3 {
        for to in 0..3 {
            if from == to {
                continue;
            }
            let target = members[to].1.clone();
            members[from].0.send(offer(target.as_str())).await;
            let relayed = info_skipping(&mut members[to].0).await;
            assert_eq!(relayed["from"], members[from].1.as_str());
        }
    }
    // One process runs the room; the other two only forward.
    servers[0].wait_for_metric("portals_members 3").await;
    servers[0]
        .wait_for_metric("portals_connections_remote 2")
        .await;
    servers[1]
        .wait_for_metric("portals_connections_forwarded 1")
        .await;
    servers[2]
        .wait_for_metric("portals_connections_forwarded 1")
        .await;
}

#[tokio::test]
async fn just_after_redis_comes_back_nobody_takes_a_free_room_for_three_beats() {
    let mut redis = Redis::start().await;
    let port = redis.port;
    // A slower heartbeat than the other tests', so that three beats are long enough to look at.
    let mut flags = cluster_flags(&redis);
    let beat = flags.iter().position(|flag| flag == "200ms").unwrap();
    flags[beat] = "1s".into();
    let flags: Vec<&str> = flags.iter().map(String::as_str).collect();
    let server = TestServer::start(&flags).await;
    server.wait_for_metric("portals_redis_up 1").await;
    redis.stop();
    server.wait_for_metric("portals_redis_up 0").await;
    let _redis = Redis::start_on(port).await;
    // Before the server can have seen it back: the three beats count from later.
    let restarted = Instant::now();
    server.wait_for_metric("portals_redis_up 1").await;
    let back = Instant::now();
    // Every lease went with the Redis that stopped: a room's owner elsewhere may not have
    // beaten since, so the room is nobody's to take yet.
    let mut early = Client::connect(&server, "room=home").await;
    assert_eq!(early.ending().await, Ending::Closed(1013));
    assert!(
        back.elapsed() < Duration::from_secs(3),
        "{:?}",
        back.elapsed()
    );
    // Three beats later, it is.
    let deadline = Instant::now() + PATIENCE;
    loop {
        let mut client = Client::connect(&server, "room=home").await;
        let first = timeout(PATIENCE, client.socket.next()).await.unwrap();
        if let Some(Ok(Message::Text(text))) = first {
            assert!(text.as_str().contains(r#""type":"welcome""#), "{text}");
            break;
        }
        assert!(
            matches!(&first, Some(Ok(Message::Close(_)))),
            "closed, or welcomed: {first:?}"
        );
        assert!(Instant::now() < deadline, "the room never opened");
        sleep(HEARTBEAT).await;
    }
    assert!(
        restarted.elapsed() >= Duration::from_secs(3),
        "{:?}",
        restarted.elapsed()
    );
}

/// Waits until `/healthz` says `expected`: what it tells is as of the last heartbeat.
async fn health_becomes(server: &TestServer, expected: &str) {
    let deadline = Instant::now() + PATIENCE;
    loop {
        let health = common::get_url(&server.url("/healthz")).await;
        if health.body() == expected {
            return;
        }
        assert!(Instant::now() < deadline, "{:?}", health.body());
        sleep(HEARTBEAT / 2).await;
    }
}
