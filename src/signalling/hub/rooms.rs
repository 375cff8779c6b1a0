//! Rooms and their members: who is in which room, as what, and on which connection.
//!
//! The one owner of three views of the same facts (rooms → members in join order, members →
//! their record, connections → their member), kept in step here and nowhere else. Whether a
//! member away from its connection is coming back is the sessions' business, not this.

use std::collections::HashMap;

use super::schedule::Schedule;
use crate::signalling::{
    private_room::RoomId,
    protocol::{Info, MemberId, Peer, Role, ServerMessage},
    ConnectionId, Timestamp,
};

#[derive(Clone, Debug)]
pub struct Member {
    pub room: RoomId,
    /// Told to the others in `info`: whether this member waits for a newcomer's offer, as
    /// its newest connection said.
    pub newcomer_offers: bool,
    /// Told to the others in `info`, as its newest connection said.
    pub role: Role,
    /// `None` while the member is away (in its grace period).
    pub connection: Option<ConnectionId>,
    /// The room's version in the last `info` this member was sent.
    pub told: u64,
}

#[derive(Default)]
struct Room {
    /// In join order, which is the order `info` lists them in.
    members: Vec<MemberId>,
    /// Counts the room's changes: a member told an older one is owed an `info`.
    version: u64,
    /// When the room last told its members who is in it, for coalescing.
    announced: Option<Timestamp>,
    /// When the room owes its members an `info` it held back, if it does.
    owed: Option<Timestamp>,
}

#[derive(Default)]
pub struct Rooms {
    rooms: HashMap<RoomId, Room>,
    members: HashMap<MemberId, Member>,
    connections: HashMap<ConnectionId, MemberId>,
    /// Rooms that owe an `info`, by when: the earliest is a deadline of the hub.
    owed: Schedule<RoomId>,
}

impl Rooms {
    pub fn member(&self, id: &MemberId) -> Option<&Member> {
        self.members.get(id)
    }

    pub fn contains(&self, id: &MemberId) -> bool {
        self.members.contains_key(id)
    }

    /// The member a connection is the live link of.
    pub fn member_on(&self, connection: ConnectionId) -> Option<&MemberId> {
        self.connections.get(&connection)
    }

    pub fn members_of(&self, room: &RoomId) -> &[MemberId] {
        self.rooms
            .get(room)
            .map_or(&[], |room| room.members.as_slice())
    }

    /// Adds a member, live on `connection`, at the end of its room.
    pub fn add(&mut self, id: MemberId, mut member: Member) {
        if let Some(connection) = member.connection {
            self.connections.insert(connection, id.clone());
        }
        let room = self.rooms.entry(member.room.clone());
        // The member keeps the room's own name rather than the one parsed from its query: one
        // allocation per room, not one per member (32 bytes of each idle connection).
        member.room = room.key().clone();
        room.or_default().members.push(id.clone());
        self.members.insert(id, member);
    }

    /// Makes `connection` the member's live link; returns the one it replaces, if any.
    pub fn attach(&mut self, id: &MemberId, connection: ConnectionId) -> Option<ConnectionId> {
        let member = self.members.get_mut(id)?;
        let replaced = member.connection.replace(connection);
        if let Some(replaced) = replaced {
            self.connections.remove(&replaced);
        }
        self.connections.insert(connection, id.clone());
        replaced
    }

    /// The connection is gone; its member, if it had one, stays in its room, away.
    pub fn detach(&mut self, connection: ConnectionId) -> Option<MemberId> {
        let id = self.connections.remove(&connection)?;
        if let Some(member) = self.members.get_mut(&id) {
            member.connection = None;
        }
        Some(id)
    }

    /// Takes a member out of its room (and the room away once empty); returns what it was.
    pub fn remove(&mut self, id: &MemberId) -> Option<Member> {
        let member = self.members.remove(id)?;
        if let Some(connection) = member.connection {
            self.connections.remove(&connection);
        }
        if let Some(room) = self.rooms.get_mut(&member.room) {
            room.members.retain(|other| other != id);
            if room.members.is_empty() {
                if let Some(owed) = room.owed {
                    self.owed.remove(owed, &member.room);
                }
                self.rooms.remove(&member.room);
            }
        }
        Some(member)
    }

    /// Records what a member's newest connection says it does; whether that changed.
    pub fn describe(&mut self, id: &MemberId, role: Role, newcomer_offers: bool) -> bool {
        let Some(member) = self.members.get_mut(id) else {
            return false;
        };
        let changed = member.role != role || member.newcomer_offers != newcomer_offers;
        member.role = role;
        member.newcomer_offers = newcomer_offers;
        changed
    }

    /// How many of the room's members, other than `except`, hold a seat of each kind:
    /// (watching, sending).
    pub fn seats_taken(&self, room: &RoomId, except: Option<&MemberId>) -> (usize, usize) {
        self.members_of(room)
            .iter()
            .filter(|id| except != Some(*id))
            .filter_map(|id| self.members.get(id))
            .fold((0, 0), |(watching, sending), member| {
                (
                    watching + usize::from(member.role.receives()),
                    sending + usize::from(member.role.sends()),
                )
            })
    }

    /// The `info` for `receiver`: everyone else in its room, in join order. It is recorded as
    /// told.
    pub fn info_for(&mut self, receiver: &MemberId) -> Option<ServerMessage> {
        let room = self.members.get(receiver)?.room.clone();
        let version = self.rooms.get(&room)?.version;
        if let Some(member) = self.members.get_mut(receiver) {
            member.told = version;
        }
        let room = &room;
        Some(ServerMessage::Info(Info {
            id: receiver.clone(),
            members: self
                .members_of(room)
                .iter()
                .filter(|member| *member != receiver)
                .filter_map(|id| {
                    let member = self.members.get(id)?;
                    Some(Peer {
                        id: id.clone(),
                        polite: receiver.is_polite_towards(id),
                        newcomer_offers: member.newcomer_offers,
                        role: member.role,
                    })
                })
                .collect(),
        }))
    }

    /// The room's membership changed at `now`. Returns whether its members are to be told
    /// now: the first change after a quiet `window` is told at once, later ones within the
    /// window are owed and told together when it ends, so that a burst of joins and leaves
    /// costs each member one `info` per window rather than one per change.
    pub fn changed(&mut self, room_name: &RoomId, now: Timestamp, window_ms: u64) -> bool {
        let Some(room) = self.rooms.get_mut(room_name) else {
            return false;
        };
        room.version += 1;
        let quiet = room
            .announced
            .is_none_or(|announced| now >= announced.plus_ms(window_ms));
        if quiet && room.owed.is_none() {
            room.announced = Some(now);
            return true;
        }
        if room.owed.is_none() {
            let due = room.announced.unwrap_or(now).plus_ms(window_ms).max(now);
            room.owed = Some(due);
            self.owed.insert(due, room_name.clone());
        }
        false
    }

    /// Settles the `info` a room owes, if it owes one: returns whether its members are to be
    /// told now. Called when the window ends, and before anything else reaches the room's
    /// members, so that no one hears from a member before hearing that it is there.
    pub fn settle(&mut self, room_name: &RoomId, now: Timestamp) -> bool {
        let Some(room) = self.rooms.get_mut(room_name) else {
            return false;
        };
        let Some(owed) = room.owed.take() else {
            return false;
        };
        self.owed.remove(owed, room_name);
        room.announced = Some(now);
        true
    }

    /// Rooms whose window has ended with an `info` owed.
    pub fn owing_by(&self, now: Timestamp) -> Vec<RoomId> {
        self.owed.due_by(now)
    }

    /// The room's connected members told an older version than its own, and their
    /// connections: those an `info` is for.
    pub fn behind(&self, room_name: &RoomId) -> Vec<(MemberId, ConnectionId)> {
        let Some(room) = self.rooms.get(room_name) else {
            return Vec::new();
        };
        room.members
            .iter()
            .filter_map(|id| {
                let member = self.members.get(id)?;
                let connection = member.connection?;
                (member.told < room.version).then(|| (id.clone(), connection))
            })
            .collect()
    }

    pub fn next_owed(&self) -> Option<Timestamp> {
        self.owed.next()
    }

    pub fn room_names(&self) -> impl Iterator<Item = &RoomId> {
        self.rooms.keys()
    }

    pub fn room_count(&self) -> usize {
        self.rooms.len()
    }

    pub fn member_count(&self) -> usize {
        self.members.len()
    }

    pub fn connection_count(&self) -> usize {
        self.connections.len()
    }

    pub fn ids(&self) -> impl Iterator<Item = &MemberId> {
        self.members.keys()
    }

    /// Panics unless every connected member of a room that owes no `info` has been told the
    /// room as it is.
    pub fn check_told(&self) {
        for (name, room) in &self.rooms {
            if room.owed.is_some() {
                continue;
            }
            for id in &room.members {
                let member = self.members.get(id).expect("a listed member exists");
                if member.connection.is_some() {
                    assert_eq!(member.told, room.version, "{id:?} in {name} is up to date");
                }
            }
        }
    }

    /// Panics if the three views disagree.
    pub fn check_invariants(&self) {
        for (connection, id) in &self.connections {
            let member = self.members.get(id).expect("a connection's member exists");
            assert_eq!(
                member.connection,
                Some(*connection),
                "a connection is its member's live link"
            );
        }
        for (id, member) in &self.members {
            let room = self
                .rooms
                .get(&member.room)
                .expect("a member's room exists");
            assert_eq!(
                room.members.iter().filter(|m| *m == id).count(),
                1,
                "a member is in its room once"
            );
            if let Some(connection) = member.connection {
                assert_eq!(self.connections.get(&connection), Some(id));
            }
        }
        let mut listed = 0;
        for (name, room) in &self.rooms {
            assert!(!room.members.is_empty(), "empty rooms are removed");
            for id in &room.members {
                let member = self.members.get(id).expect("a listed member exists");
                assert_eq!(&member.room, name, "no member in two rooms");
            }
            listed += room.members.len();
            if let Some(owed) = room.owed {
                assert!(self.owed.contains(owed, name));
            }
        }
        assert_eq!(listed, self.members.len(), "every member is listed once");
        for (_, name) in self.owed.iter() {
            assert!(
                self.rooms.get(name).is_some_and(|room| room.owed.is_some()),
                "only rooms that exist owe an info"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::signalling::protocol::{Role, RoomName};

    fn member(room: &str, connection: u64) -> Member {
        Member {
            room: RoomId::public(RoomName::parse(room).unwrap()),
            newcomer_offers: false,
            role: Role::Both,
            connection: Some(ConnectionId(connection)),
            told: 0,
        }
    }

    #[test]
    fn the_members_of_a_room_share_its_name() {
        let mut rooms = Rooms::default();
        rooms.add(MemberId::new("a"), member("home", 1));
        rooms.add(MemberId::new("b"), member("home", 2));
        let name = |id| {
            rooms
                .member(&MemberId::new(id))
                .unwrap()
                .room
                .name
                .as_str()
                .as_ptr()
        };
        assert_eq!(name("a"), name("b"), "one allocation of \"home\"");
    }
}
