//! One consumer group's state machine (Kafka's classic group protocol):
//! members, generations, protocol selection, the join and sync barriers, and
//! the deadlines (session, rebalance, initial delay) that the group's timer
//! acts on.
//!
//! Pure and synchronous: callers hold the group's lock for one call. Waiting
//! requests park a oneshot sender in their member; the call that completes a
//! barrier (the last rejoin, the leader's assignment, a timer) answers them
//! all at once, so nothing polls. The broker never computes assignments: the
//! leader's are stored and handed out as opaque bytes.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use bytes::Bytes;
use kafka_protocol::error::ResponseError;
use tokio::sync::oneshot;

use super::types::{JoinRequest, JoinResult, Reply, State, SyncRequest, SyncResult};
use crate::config::GroupConfig;
use crate::protocol::NONE;

#[derive(Debug)]
pub struct Member {
    pub id: String,
    pub instance_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    pub session_timeout: Duration,
    pub rebalance_timeout: Duration,
    pub protocol_type: String,
    pub protocols: Vec<(String, Bytes)>,
    pub assignment: Bytes,
    join: Option<oneshot::Sender<JoinResult>>,
    sync: Option<oneshot::Sender<SyncResult>>,
    deadline: Instant,
}

impl Member {
    /// This member's metadata for `protocol`.
    pub fn metadata(&self, protocol: &str) -> Bytes {
        self.protocols
            .iter()
            .find(|(n, _)| n == protocol)
            .map(|(_, m)| m.clone())
            .unwrap_or_default()
    }

    fn same_protocols(&self, protocols: &[(String, Bytes)]) -> bool {
        self.protocols == protocols
    }
}

/// One group. `members` is in join order; the leader is kept across
/// rebalances while it stays a member.
#[derive(Debug)]
pub struct Group {
    pub id: String,
    pub state: State,
    pub generation: i32,
    pub protocol_type: Option<String>,
    pub protocol_name: Option<String>,
    pub leader: Option<String>,
    pub members: Vec<Member>,
    /// When the group last had no member (its creation, or its last
    /// member's leaving): committed offsets expire
    /// `SKIFF_OFFSETS_RETENTION_MS` after it.
    pub empty_since: Instant,
    /// instance id → member id (KIP-345).
    statics: HashMap<String, String>,
    /// Member ids handed out with MEMBER_ID_REQUIRED, until they rejoin or
    /// their session timeout passes.
    pending: HashMap<String, Instant>,
    rebalance_deadline: Option<Instant>,
    initial_until: Option<Instant>,
    config: GroupConfig,
}

fn new_member_id(client_id: &str, instance_id: Option<&str>) -> String {
    let prefix = instance_id.unwrap_or(client_id);
    // Bounded: a client id can be long, the member id need not be.
    let prefix: String = prefix.chars().take(64).collect();
    format!("{prefix}-{}", uuid::Uuid::new_v4())
}

impl Group {
    pub fn new(id: String, config: GroupConfig) -> Self {
        Group {
            id,
            state: State::Empty,
            generation: 0,
            protocol_type: None,
            protocol_name: None,
            leader: None,
            members: Vec::new(),
            empty_since: Instant::now(),
            statics: HashMap::new(),
            pending: HashMap::new(),
            rebalance_deadline: None,
            initial_until: None,
            config,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.members.is_empty()
    }

    fn index(&self, member_id: &str) -> Option<usize> {
        self.members.iter().position(|m| m.id == member_id)
    }

    pub fn member(&self, member_id: &str) -> Option<&Member> {
        self.members.iter().find(|m| m.id == member_id)
    }

    /// Protocols every member supports, in the first member's order of
    /// preference. Linear in the protocols offered: each member's names are
    /// counted once in a hash map (the decoder caps a member's protocols).
    fn candidates(&self) -> Vec<String> {
        let Some(first) = self.members.first() else {
            return Vec::new();
        };
        let mut support: HashMap<&str, usize> = HashMap::new();
        for m in &self.members {
            let mut seen: HashSet<&str> = HashSet::with_capacity(m.protocols.len());
            for (n, _) in &m.protocols {
                if seen.insert(n.as_str()) {
                    *support.entry(n.as_str()).or_default() += 1;
                }
            }
        }
        let mut seen: HashSet<&str> = HashSet::new();
        first
            .protocols
            .iter()
            .map(|(n, _)| n.as_str())
            .filter(|n| support.get(n) == Some(&self.members.len()) && seen.insert(n))
            .map(str::to_string)
            .collect()
    }

    /// Kafka's selection: each member votes for its most preferred candidate;
    /// the most votes win (ties to the first member's preference). Linear,
    /// as `candidates`.
    fn select_protocol(&self) -> Option<String> {
        let candidates = self.candidates();
        let mut votes: HashMap<&str, usize> = candidates.iter().map(|c| (c.as_str(), 0)).collect();
        for m in &self.members {
            if let Some((name, _)) = m
                .protocols
                .iter()
                .find(|(n, _)| votes.contains_key(n.as_str()))
            {
                if let Some(v) = votes.get_mut(name.as_str()) {
                    *v += 1;
                }
            }
        }
        let mut best: Option<(&str, usize)> = None;
        for c in &candidates {
            let n = votes.get(c.as_str()).copied().unwrap_or(0);
            if best.is_none_or(|(_, b)| n > b) {
                best = Some((c.as_str(), n));
            }
        }
        best.map(|(c, _)| c.to_string())
    }

    /// Kafka's order: a static member whose instance id now belongs to
    /// another member id is fenced, before any unknown-member check.
    fn check_fenced(&self, member_id: &str, instance_id: Option<&str>) -> Option<i16> {
        match self.statics.get(instance_id?) {
            Some(id) if id != member_id => Some(ResponseError::FencedInstanceId.code()),
            _ => None,
        }
    }

    /// The join result for a member of the current generation.
    fn current_join(&self, member_id: &str) -> JoinResult {
        let leader = self.leader.clone().unwrap_or_default();
        let is_leader = leader == member_id;
        let protocol = self.protocol_name.clone().unwrap_or_default();
        JoinResult {
            error: NONE,
            generation: self.generation,
            protocol_type: self.protocol_type.clone(),
            protocol_name: self.protocol_name.clone(),
            leader,
            member_id: member_id.to_string(),
            members: if is_leader {
                self.members
                    .iter()
                    .map(|m| (m.id.clone(), m.instance_id.clone(), m.metadata(&protocol)))
                    .collect()
            } else {
                Vec::new()
            },
            skip_assignment: false,
        }
    }

    pub fn join(&mut self, req: JoinRequest, now: Instant) -> Reply<JoinResult> {
        let fail = |code: i16| Reply::Now(JoinResult::error(code, &req.member_id));
        if self.state == State::Dead {
            return fail(ResponseError::CoordinatorNotAvailable.code());
        }
        if req.session_timeout_ms < self.config.min_session_timeout_ms
            || req.session_timeout_ms > self.config.max_session_timeout_ms
        {
            return fail(ResponseError::InvalidSessionTimeout.code());
        }
        if req.protocol_type.is_empty() || req.protocols.is_empty() {
            return fail(ResponseError::InconsistentGroupProtocol.code());
        }
        if !self.members.is_empty() {
            let candidates: HashSet<String> = self.candidates().into_iter().collect();
            if self.protocol_type.as_deref() != Some(req.protocol_type.as_str())
                || !req.protocols.iter().any(|(n, _)| candidates.contains(n))
            {
                return fail(ResponseError::InconsistentGroupProtocol.code());
            }
        }
        if req.member_id.is_empty() {
            self.join_unknown(req, now)
        } else {
            self.join_known(req, now)
        }
    }

    fn join_unknown(&mut self, req: JoinRequest, now: Instant) -> Reply<JoinResult> {
        if let Some(inst) = req.instance_id.clone() {
            if let Some(old) = self.statics.get(&inst).cloned() {
                return self.replace_static(old, req, now);
            }
        }
        if self.members.len() + self.pending.len() >= self.config.max_size {
            return Reply::Now(JoinResult::error(
                ResponseError::GroupMaxSizeReached.code(),
                "",
            ));
        }
        let id = new_member_id(&req.client_id, req.instance_id.as_deref());
        if req.instance_id.is_none() && req.require_known_member_id {
            let session = Duration::from_millis(req.session_timeout_ms as u64);
            self.pending.insert(id.clone(), now + session);
            return Reply::Now(JoinResult::error(
                ResponseError::MemberIdRequired.code(),
                &id,
            ));
        }
        self.add_member(id, req, now)
    }

    fn join_known(&mut self, req: JoinRequest, now: Instant) -> Reply<JoinResult> {
        let Some(i) = self.index(&req.member_id) else {
            if let Some(inst) = &req.instance_id {
                if self.statics.contains_key(inst) {
                    return Reply::Now(JoinResult::error(
                        ResponseError::FencedInstanceId.code(),
                        &req.member_id,
                    ));
                }
            }
            if self.pending.remove(&req.member_id).is_some() {
                if self.members.len() >= self.config.max_size {
                    return Reply::Now(JoinResult::error(
                        ResponseError::GroupMaxSizeReached.code(),
                        &req.member_id,
                    ));
                }
                let id = req.member_id.clone();
                return self.add_member(id, req, now);
            }
            return Reply::Now(JoinResult::error(
                ResponseError::UnknownMemberId.code(),
                &req.member_id,
            ));
        };
        if let Some(code) = self.check_fenced(&req.member_id, req.instance_id.as_deref()) {
            return Reply::Now(JoinResult::error(code, &req.member_id));
        }
        let unchanged = self.members[i].same_protocols(&req.protocols);
        let is_leader = self.leader.as_deref() == Some(req.member_id.as_str());
        match self.state {
            State::CompletingRebalance if unchanged => {
                Reply::Now(self.current_join(&req.member_id))
            }
            State::Stable if unchanged && !is_leader => {
                Reply::Now(self.current_join(&req.member_id))
            }
            _ => {
                self.update_member(i, &req);
                let rx = self.park_join(i);
                if self.state == State::PreparingRebalance {
                    self.try_complete_join(now);
                } else {
                    self.prepare_rebalance(now);
                }
                Reply::Wait(rx)
            }
        }
    }

    fn update_member(&mut self, i: usize, req: &JoinRequest) {
        let m = &mut self.members[i];
        m.protocols = req.protocols.clone();
        m.protocol_type = req.protocol_type.clone();
        m.session_timeout = Duration::from_millis(req.session_timeout_ms as u64);
        m.rebalance_timeout = Duration::from_millis(req.rebalance_timeout_ms.max(0) as u64);
        m.client_id = req.client_id.clone();
        m.client_host = req.client_host.clone();
    }

    fn park_join(&mut self, i: usize) -> oneshot::Receiver<JoinResult> {
        let (tx, rx) = oneshot::channel();
        // A member that joins again while a join is parked replaces it; the
        // older request is told to rejoin.
        if let Some(old) = self.members[i].join.replace(tx) {
            let _ = old.send(JoinResult::error(
                ResponseError::RebalanceInProgress.code(),
                &self.members[i].id,
            ));
        }
        rx
    }

    fn add_member(&mut self, id: String, req: JoinRequest, now: Instant) -> Reply<JoinResult> {
        if self.members.is_empty() {
            self.protocol_type = Some(req.protocol_type.clone());
        }
        if let Some(inst) = &req.instance_id {
            self.statics.insert(inst.clone(), id.clone());
        }
        let session = Duration::from_millis(req.session_timeout_ms as u64);
        self.members.push(Member {
            id,
            instance_id: req.instance_id.clone(),
            client_id: req.client_id.clone(),
            client_host: req.client_host.clone(),
            session_timeout: session,
            rebalance_timeout: Duration::from_millis(req.rebalance_timeout_ms.max(0) as u64),
            protocol_type: req.protocol_type,
            protocols: req.protocols,
            assignment: Bytes::new(),
            join: None,
            sync: None,
            deadline: now + session,
        });
        let i = self.members.len() - 1;
        let rx = self.park_join(i);
        if self.state == State::PreparingRebalance {
            self.try_complete_join(now);
        } else {
            self.prepare_rebalance(now);
        }
        Reply::Wait(rx)
    }

    /// KIP-345: a static member restarted with a new member id. The old id
    /// is fenced; in a stable group with unchanged protocols the member gets
    /// the current generation back without a rebalance of the others.
    fn replace_static(&mut self, old: String, req: JoinRequest, now: Instant) -> Reply<JoinResult> {
        let Some(i) = self.index(&old) else {
            self.statics
                .remove(req.instance_id.as_deref().unwrap_or_default());
            return self.add_member(
                new_member_id(&req.client_id, req.instance_id.as_deref()),
                req,
                now,
            );
        };
        let new_id = new_member_id(&req.client_id, req.instance_id.as_deref());
        let unchanged = self.members[i].same_protocols(&req.protocols);
        {
            let m = &mut self.members[i];
            if let Some(j) = m.join.take() {
                let _ = j.send(JoinResult::error(
                    ResponseError::FencedInstanceId.code(),
                    &old,
                ));
            }
            if let Some(s) = m.sync.take() {
                let _ = s.send(SyncResult::error(ResponseError::FencedInstanceId.code()));
            }
            m.id = new_id.clone();
            m.deadline = now + Duration::from_millis(req.session_timeout_ms as u64);
        }
        if let Some(inst) = &req.instance_id {
            self.statics.insert(inst.clone(), new_id.clone());
        }
        if self.leader.as_deref() == Some(old.as_str()) {
            self.leader = Some(new_id.clone());
        }
        self.update_member(i, &req);
        match self.state {
            State::Stable if unchanged => Reply::Now(self.current_join(&new_id)),
            State::PreparingRebalance => {
                let rx = self.park_join(i);
                self.try_complete_join(now);
                Reply::Wait(rx)
            }
            _ => {
                let rx = self.park_join(i);
                self.prepare_rebalance(now);
                Reply::Wait(rx)
            }
        }
    }

    /// Starts a rebalance: parked syncs are told to rejoin; members learn of
    /// it from their next heartbeat.
    fn prepare_rebalance(&mut self, now: Instant) {
        if self.state == State::CompletingRebalance {
            for m in &mut self.members {
                if let Some(s) = m.sync.take() {
                    let _ = s.send(SyncResult::error(ResponseError::RebalanceInProgress.code()));
                }
            }
        }
        if self.state == State::Empty {
            self.initial_until = Some(now + self.config.initial_rebalance_delay);
        }
        self.state = State::PreparingRebalance;
        let timeout = self
            .members
            .iter()
            .map(|m| m.rebalance_timeout)
            .max()
            .unwrap_or_default();
        self.rebalance_deadline = Some(now + timeout);
        self.try_complete_join(now);
    }

    fn try_complete_join(&mut self, now: Instant) {
        if self.state != State::PreparingRebalance {
            return;
        }
        if let Some(t) = self.initial_until {
            if now < t {
                return;
            }
            // Passed: cleared, or the timer would see it as due forever.
            self.initial_until = None;
        }
        if self.members.iter().all(|m| m.join.is_some()) {
            self.complete_join(now);
        }
    }

    /// Ends the join phase: members that did not rejoin are removed, the
    /// generation advances, the leader gets everyone's metadata.
    fn complete_join(&mut self, now: Instant) {
        let gone: Vec<String> = self
            .members
            .iter()
            .filter(|m| m.join.is_none())
            .map(|m| m.id.clone())
            .collect();
        for id in gone {
            self.drop_member(&id, now);
        }
        self.rebalance_deadline = None;
        self.initial_until = None;
        self.generation += 1;
        if self.members.is_empty() {
            self.state = State::Empty;
            self.protocol_name = None;
            self.leader = None;
            return;
        }
        self.protocol_name = self.select_protocol();
        if !self
            .leader
            .as_ref()
            .is_some_and(|l| self.members.iter().any(|m| &m.id == l))
        {
            self.leader = Some(self.members[0].id.clone());
        }
        self.state = State::CompletingRebalance;
        let results: Vec<JoinResult> = self
            .members
            .iter()
            .map(|m| self.current_join(&m.id))
            .collect();
        for (m, result) in self.members.iter_mut().zip(results) {
            m.deadline = now + m.session_timeout;
            m.assignment = Bytes::new();
            if let Some(tx) = m.join.take() {
                let _ = tx.send(result);
            }
        }
    }

    fn drop_member(&mut self, id: &str, now: Instant) {
        if let Some(i) = self.index(id) {
            let m = self.members.remove(i);
            if self.members.is_empty() {
                self.empty_since = now;
            }
            if let Some(inst) = &m.instance_id {
                if self.statics.get(inst).map(String::as_str) == Some(id) {
                    self.statics.remove(inst);
                }
            }
        }
    }

    /// A member left or expired: the others rebalance at once.
    fn remove_member(&mut self, id: &str, now: Instant) {
        self.drop_member(id, now);
        match self.state {
            State::Stable | State::CompletingRebalance => self.prepare_rebalance(now),
            State::PreparingRebalance => self.try_complete_join(now),
            State::Empty | State::Dead => {}
        }
    }

    pub fn sync(&mut self, req: SyncRequest<'_>, now: Instant) -> Reply<SyncResult> {
        let SyncRequest {
            member_id,
            instance_id,
            generation,
            protocol_type,
            protocol_name,
            assignments,
        } = req;
        let fail = |c| Reply::Now(SyncResult::error(c));
        if self.state == State::Dead {
            return fail(ResponseError::CoordinatorNotAvailable.code());
        }
        if let Some(c) = self.check_fenced(member_id, instance_id) {
            return fail(c);
        }
        let Some(i) = self.index(member_id) else {
            return fail(ResponseError::UnknownMemberId.code());
        };
        if generation != self.generation {
            return fail(ResponseError::IllegalGeneration.code());
        }
        if protocol_type.is_some_and(|t| Some(t) != self.protocol_type.as_deref())
            || protocol_name.is_some_and(|n| Some(n) != self.protocol_name.as_deref())
        {
            return fail(ResponseError::InconsistentGroupProtocol.code());
        }
        self.members[i].deadline = now + self.members[i].session_timeout;
        match self.state {
            State::Empty | State::Dead => fail(ResponseError::UnknownMemberId.code()),
            State::PreparingRebalance => fail(ResponseError::RebalanceInProgress.code()),
            State::Stable => Reply::Now(self.sync_result(i)),
            State::CompletingRebalance => {
                let (tx, rx) = oneshot::channel();
                self.members[i].sync = Some(tx);
                if self.leader.as_deref() == Some(member_id) {
                    // One pass over the leader's list (the first entry of a
                    // member counts; ids of no member are skipped), not one
                    // per member, and a map no larger than the group.
                    let mut given: HashMap<&str, Option<&Bytes>> =
                        self.members.iter().map(|m| (m.id.as_str(), None)).collect();
                    for (id, a) in &assignments {
                        if let Some(slot @ None) = given.get_mut(id.as_str()) {
                            *slot = Some(a);
                        }
                    }
                    // Copied out: a slice would pin the leader's whole
                    // SyncGroup frame.
                    let copies: Vec<Bytes> = self
                        .members
                        .iter()
                        .map(|m| {
                            given
                                .get(m.id.as_str())
                                .copied()
                                .flatten()
                                .map(|a| Bytes::copy_from_slice(a))
                                .unwrap_or_default()
                        })
                        .collect();
                    drop(given);
                    for (m, a) in self.members.iter_mut().zip(copies) {
                        m.assignment = a;
                    }
                    self.state = State::Stable;
                    let results: Vec<SyncResult> = (0..self.members.len())
                        .map(|j| self.sync_result(j))
                        .collect();
                    for (m, r) in self.members.iter_mut().zip(results) {
                        if let Some(tx) = m.sync.take() {
                            let _ = tx.send(r);
                        }
                        m.deadline = now + m.session_timeout;
                    }
                }
                Reply::Wait(rx)
            }
        }
    }

    fn sync_result(&self, i: usize) -> SyncResult {
        SyncResult {
            error: NONE,
            protocol_type: self.protocol_type.clone(),
            protocol_name: self.protocol_name.clone(),
            assignment: self.members[i].assignment.clone(),
        }
    }

    pub fn heartbeat(
        &mut self,
        member_id: &str,
        instance_id: Option<&str>,
        generation: i32,
        now: Instant,
    ) -> i16 {
        if self.state == State::Dead {
            return ResponseError::CoordinatorNotAvailable.code();
        }
        if let Some(c) = self.check_fenced(member_id, instance_id) {
            return c;
        }
        let Some(i) = self.index(member_id) else {
            return ResponseError::UnknownMemberId.code();
        };
        if generation != self.generation {
            return ResponseError::IllegalGeneration.code();
        }
        self.members[i].deadline = now + self.members[i].session_timeout;
        match self.state {
            State::PreparingRebalance => ResponseError::RebalanceInProgress.code(),
            State::Empty | State::Dead => ResponseError::UnknownMemberId.code(),
            _ => NONE,
        }
    }

    /// LeaveGroup for one member identity; the group rebalances at once.
    pub fn leave(&mut self, member_id: &str, instance_id: Option<&str>, now: Instant) -> i16 {
        if self.state == State::Dead {
            return ResponseError::CoordinatorNotAvailable.code();
        }
        let id = match instance_id {
            Some(inst) => match self.statics.get(inst) {
                None => return ResponseError::UnknownMemberId.code(),
                Some(id) if !member_id.is_empty() && id != member_id => {
                    return ResponseError::FencedInstanceId.code()
                }
                Some(id) => id.clone(),
            },
            None => member_id.to_string(),
        };
        if self.pending.remove(&id).is_some() {
            return NONE;
        }
        if self.index(&id).is_none() {
            return ResponseError::UnknownMemberId.code();
        }
        self.remove_member(&id, now);
        NONE
    }

    /// Validates an OffsetCommit against the group's membership (Kafka's
    /// rules for classic groups).
    pub fn check_commit(&self, member_id: &str, instance_id: Option<&str>, generation: i32) -> i16 {
        if self.state == State::Dead {
            return ResponseError::CoordinatorNotAvailable.code();
        }
        if generation < 0 && self.state == State::Empty {
            return NONE;
        }
        if self.state == State::CompletingRebalance {
            return ResponseError::RebalanceInProgress.code();
        }
        if let Some(c) = self.check_fenced(member_id, instance_id) {
            return c;
        }
        if self.index(member_id).is_none() {
            return ResponseError::UnknownMemberId.code();
        }
        if generation != self.generation {
            return ResponseError::IllegalGeneration.code();
        }
        NONE
    }

    /// The earliest moment the timer must look at this group, if any.
    pub fn next_deadline(&self) -> Option<Instant> {
        let mut next: Option<Instant> = None;
        let mut consider = |t: Instant| {
            next = Some(next.map_or(t, |n: Instant| n.min(t)));
        };
        for t in self.pending.values() {
            consider(*t);
        }
        for m in &self.members {
            if m.join.is_none() && m.sync.is_none() {
                consider(m.deadline);
            }
        }
        if self.state == State::PreparingRebalance {
            if let Some(t) = self.rebalance_deadline {
                consider(t);
            }
            if let Some(t) = self.initial_until {
                consider(t);
            }
        }
        next
    }

    /// Acts on every deadline that has passed: expired sessions leave, an
    /// expired rebalance completes without the members that did not rejoin.
    pub fn on_timer(&mut self, now: Instant) {
        self.pending.retain(|_, t| *t > now);
        let expired: Vec<String> = self
            .members
            .iter()
            .filter(|m| m.join.is_none() && m.sync.is_none() && m.deadline <= now)
            .map(|m| m.id.clone())
            .collect();
        for id in expired {
            tracing::info!(group = %self.id, member = %id, "session timeout: member removed");
            self.remove_member(&id, now);
        }
        if self.state == State::PreparingRebalance {
            if self.rebalance_deadline.is_some_and(|t| t <= now) {
                self.complete_join(now);
            } else {
                self.try_complete_join(now);
            }
        }
    }

    /// Marks the group deleted; parked requests are told to find the
    /// coordinator again.
    pub fn kill(&mut self) {
        self.state = State::Dead;
        for m in &mut self.members {
            if let Some(j) = m.join.take() {
                let _ = j.send(JoinResult::error(
                    ResponseError::CoordinatorNotAvailable.code(),
                    &m.id,
                ));
            }
            if let Some(s) = m.sync.take() {
                let _ = s.send(SyncResult::error(
                    ResponseError::CoordinatorNotAvailable.code(),
                ));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> GroupConfig {
        GroupConfig {
            initial_rebalance_delay: Duration::ZERO,
            min_session_timeout_ms: 1,
            max_session_timeout_ms: 100_000,
            max_size: 3,
            empty_retention: Duration::from_secs(600),
            max_groups: 10,
            offsets_retention: Duration::from_secs(600),
        }
    }

    fn req(member: &str, protocols: &[&str]) -> JoinRequest {
        JoinRequest {
            member_id: member.into(),
            instance_id: None,
            client_id: "c".into(),
            client_host: String::new(),
            session_timeout_ms: 1000,
            rebalance_timeout_ms: 1000,
            protocol_type: "consumer".into(),
            protocols: protocols
                .iter()
                .map(|p| (p.to_string(), Bytes::new()))
                .collect(),
            require_known_member_id: false,
        }
    }

    fn now_result(r: Reply<JoinResult>) -> JoinResult {
        match r {
            Reply::Now(r) => r,
            Reply::Wait(mut rx) => rx.try_recv().expect("completed"),
        }
    }

    #[test]
    fn protocol_is_chosen_by_vote_among_common_ones() {
        let t = Instant::now();
        let mut g = Group::new("g".into(), config());
        let a = now_result(g.join(req("", &["range", "roundrobin"]), t));
        assert_eq!(a.protocol_name.as_deref(), Some("range"));
        // b prefers roundrobin; c supports only roundrobin and range.
        let Reply::Wait(_b) = g.join(req("", &["roundrobin", "range"]), t) else {
            panic!("b waits for a")
        };
        let Reply::Wait(_c) = g.join(req("", &["roundrobin"]), t) else {
            panic!("c waits for a")
        };
        let Reply::Wait(mut ra) = g.join(req(&a.member_id, &["range", "roundrobin"]), t) else {
            panic!("a rejoins")
        };
        let ra = ra.try_recv().unwrap();
        assert_eq!(ra.generation, 2);
        assert_eq!(ra.protocol_name.as_deref(), Some("roundrobin"));
        // The group is full; a protocol nobody supports is inconsistent.
        assert_eq!(
            now_result(g.join(req("", &["roundrobin"]), t)).error,
            ResponseError::GroupMaxSizeReached.code()
        );
        assert_eq!(
            now_result(g.join(req("x", &["sticky"]), t)).error,
            ResponseError::InconsistentGroupProtocol.code()
        );
    }

    #[test]
    fn selection_among_many_members_and_protocols_is_a_vote() {
        // 1000 members of 64 protocols each: a few hundred thousand hash
        // operations, where the quadratic search made billions of compares.
        let t = Instant::now();
        let mut g = Group::new(
            "g".into(),
            GroupConfig {
                max_size: 1000,
                ..config()
            },
        );
        let names: Vec<String> = (0..64).map(|i| format!("p{i}")).collect();
        let mut waiting = Vec::new();
        for i in 0..1000 {
            // Every member supports all 64; 600 prefer p1, 400 prefer p0.
            let mut order: Vec<&str> = names.iter().map(String::as_str).collect();
            if i % 5 < 3 {
                order.swap(0, 1);
            }
            let mut r = req("", &order);
            // The last member also offers one nobody else has.
            if i == 999 {
                r.protocols.push(("only-mine".into(), Bytes::new()));
            }
            waiting.push(g.join(r, t));
        }
        let members: Vec<String> = g.members.iter().map(|m| m.id.clone()).collect();
        assert_eq!(members.len(), 1000);
        assert_eq!(g.candidates().len(), 64);
        assert_eq!(g.select_protocol().as_deref(), Some("p1"));
    }

    #[test]
    fn an_empty_group_has_nothing_to_time() {
        let t = Instant::now();
        let mut g = Group::new("g".into(), config());
        assert_eq!(g.next_deadline(), None);
        let a = now_result(g.join(req("", &["range"]), t));
        assert!(g.next_deadline().is_some());
        assert_eq!(g.leave(&a.member_id, None, t), NONE);
        assert_eq!(g.state, State::Empty);
        assert_eq!(g.next_deadline(), None);
    }

    #[test]
    fn expiry_removes_a_silent_member_and_rebalances() {
        let t = Instant::now();
        let mut g = Group::new("g".into(), config());
        let a = now_result(g.join(req("", &["range"]), t));
        g.on_timer(t + Duration::from_millis(999));
        assert_eq!(g.members.len(), 1);
        assert_eq!(
            g.heartbeat(&a.member_id, None, 1, t + Duration::from_millis(999)),
            0
        );
        g.on_timer(t + Duration::from_millis(1500));
        assert_eq!(g.members.len(), 1, "the heartbeat moved the deadline");
        g.on_timer(t + Duration::from_millis(2000));
        assert!(g.members.is_empty());
        assert_eq!(g.state, State::Empty);
    }
}
