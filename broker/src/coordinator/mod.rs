//! The consumer-group coordinator: the registry of groups, each group's
//! timer, and the operations the group APIs call (join, sync, heartbeat,
//! leave, offsets, list/describe/delete).
//!
//! Every group has its own lock and, only while it has something to time
//! (members' sessions, a rebalance), its own timer task sleeping until the
//! earliest deadline: idle groups without members cost no task and no CPU,
//! and a group with members wakes about once per session timeout. Joins and
//! syncs complete from the request (or timer) that completes the barrier,
//! never by polling. Committed offsets are written through the storage writer
//! and mirrored in `offsets::OffsetCache` after the commit.

pub mod group;
pub mod offsets;
pub mod types;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use bytes::Bytes;
use kafka_protocol::error::ResponseError;
use tokio::sync::Notify;

use std::net::SocketAddr;

use crate::config::GroupConfig;
use crate::protocol::{Reader, NONE};
use crate::refusals;
use crate::storage::{OffsetRow, Storage, WriteError};
pub use group::Group;
use offsets::OffsetCache;
pub use types::{JoinRequest, JoinResult, Reply, State, SyncRequest, SyncResult};

/// Largest metadata string stored with a committed offset (Kafka's
/// offset.metadata.max.bytes).
pub const MAX_OFFSET_METADATA: usize = 4096;

/// The limit's name in refusal logs.
pub const GROUP_LIMIT: &str = "SKIFF_MAX_GROUPS";

/// One group behind its lock, with its timer's wake-up.
pub struct GroupHandle {
    group: Mutex<Group>,
    wake: Notify,
    timer_running: AtomicBool,
}

impl GroupHandle {
    pub fn lock(&self) -> MutexGuard<'_, Group> {
        self.group.lock().expect("group lock")
    }
}

/// What DescribeGroups/ListGroups show of a group.
#[derive(Debug, Clone)]
pub struct GroupSummary {
    pub id: String,
    pub state: &'static str,
    pub protocol_type: String,
    pub protocol_name: String,
    /// (member id, instance id, client id, client host, metadata, assignment)
    pub members: Vec<MemberSummary>,
}

#[derive(Debug, Clone)]
pub struct MemberSummary {
    pub member_id: String,
    pub instance_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    pub metadata: Bytes,
    pub assignment: Bytes,
}

type Registry = Arc<Mutex<HashMap<String, Arc<GroupHandle>>>>;

pub struct Coordinator {
    config: GroupConfig,
    groups: Registry,
    pub offsets: Arc<OffsetCache>,
    /// The last exact count of groups near the limit: (registry size,
    /// offsets' group count, the count, when taken). Reused while both sizes
    /// are unchanged, for at most `COUNT_REUSE`, so refusals at the limit
    /// (an attacker inventing group ids) cost one lookup, not a pass over
    /// every group under the registry's lock.
    exact_count: Mutex<Option<(usize, usize, usize, std::time::Instant)>>,
}

/// How long an exact group count is reused while nothing changed its inputs'
/// sizes (a group replaced by another of the same sizes is seen this late).
const COUNT_REUSE: std::time::Duration = std::time::Duration::from_secs(1);

impl Coordinator {
    pub fn new(config: GroupConfig, committed: Vec<(String, OffsetRow)>) -> Self {
        Coordinator {
            config,
            groups: Arc::new(Mutex::new(HashMap::new())),
            offsets: Arc::new(OffsetCache::load(committed)),
            exact_count: Mutex::new(None),
        }
    }

    fn registry(&self) -> MutexGuard<'_, HashMap<String, Arc<GroupHandle>>> {
        self.groups.lock().expect("group registry lock")
    }

    pub fn get(&self, id: &str) -> Option<Arc<GroupHandle>> {
        self.registry().get(id).cloned()
    }

    /// The group, created if it is new and `SKIFF_MAX_GROUPS` leaves room
    /// for it; `None` when the limit refuses a new group.
    pub fn get_or_create(&self, id: &str) -> Option<Arc<GroupHandle>> {
        let mut registry = self.registry();
        if let Some(h) = registry.get(id) {
            return Some(h.clone());
        }
        if !self.offsets.has_group(id) && self.group_count(&registry) >= self.config.max_groups {
            return None;
        }
        let handle = Arc::new(GroupHandle {
            group: Mutex::new(Group::new(id.to_string(), self.config)),
            wake: Notify::new(),
            timer_running: AtomicBool::new(false),
        });
        registry.insert(id.to_string(), handle.clone());
        Some(handle)
    }

    /// Groups known: in the registry or with committed offsets, each
    /// counted once. The sum of both is an upper bound, so the exact count
    /// (one pass over the offsets' groups) is only taken near the limit.
    fn group_count(&self, registry: &HashMap<String, Arc<GroupHandle>>) -> usize {
        let with_offsets = self.offsets.group_count();
        if registry.len() + with_offsets < self.config.max_groups {
            return registry.len() + with_offsets;
        }
        let mut cached = self.exact_count.lock().expect("group count lock");
        if let Some((r, o, count, at)) = *cached {
            if r == registry.len() && o == with_offsets && at.elapsed() < COUNT_REUSE {
                return count;
            }
        }
        let count = registry.len()
            + self
                .offsets
                .count_groups_where(|g| !registry.contains_key(g));
        *cached = Some((
            registry.len(),
            with_offsets,
            count,
            std::time::Instant::now(),
        ));
        count
    }

    /// The refusal of a new group by `SKIFF_MAX_GROUPS`, logged.
    fn refuse_new_group(&self, group_id: &str, peer: Option<SocketAddr>) -> i16 {
        let shown: String = group_id.chars().take(64).collect();
        refusals::refused(
            GROUP_LIMIT,
            peer,
            &format!(
                "new group '{shown}' refused: the broker holds {} groups (SKIFF_MAX_GROUPS)",
                self.config.max_groups
            ),
        );
        ResponseError::PolicyViolation.code()
    }

    /// Makes sure the group's timer looks at its (possibly earlier) next
    /// deadline: starts the timer task or wakes it.
    pub fn kick(&self, handle: &Arc<GroupHandle>) {
        if handle.timer_running.swap(true, Ordering::SeqCst) {
            handle.wake.notify_one();
        } else {
            tokio::spawn(run_timer(
                handle.clone(),
                self.groups.clone(),
                self.offsets.clone(),
                self.config.empty_retention,
            ));
        }
    }

    pub fn join(
        &self,
        group_id: &str,
        req: JoinRequest,
        peer: Option<SocketAddr>,
    ) -> Reply<JoinResult> {
        if group_id.is_empty() {
            return Reply::Now(JoinResult::error(
                ResponseError::InvalidGroupId.code(),
                &req.member_id,
            ));
        }
        let Some(handle) = self.get_or_create(group_id) else {
            let code = self.refuse_new_group(group_id, peer);
            return Reply::Now(JoinResult::error(code, &req.member_id));
        };
        let reply = handle.lock().join(req, Instant::now());
        self.kick(&handle);
        reply
    }

    pub fn sync(&self, group_id: &str, req: SyncRequest<'_>) -> Reply<SyncResult> {
        let Some(handle) = self.get(group_id) else {
            return Reply::Now(SyncResult::error(ResponseError::UnknownMemberId.code()));
        };
        let reply = handle.lock().sync(req, Instant::now());
        self.kick(&handle);
        reply
    }

    pub fn heartbeat(
        &self,
        group_id: &str,
        member_id: &str,
        instance_id: Option<&str>,
        generation: i32,
    ) -> i16 {
        match self.get(group_id) {
            None => ResponseError::UnknownMemberId.code(),
            Some(h) => h
                .lock()
                .heartbeat(member_id, instance_id, generation, Instant::now()),
        }
    }

    /// Removes each (member id, instance id); one error code per member.
    pub fn leave(&self, group_id: &str, members: &[(String, Option<String>)]) -> Vec<i16> {
        let Some(handle) = self.get(group_id) else {
            return vec![ResponseError::UnknownMemberId.code(); members.len()];
        };
        let now = Instant::now();
        let codes = {
            let mut g = handle.lock();
            members
                .iter()
                .map(|(m, i)| g.leave(m, i.as_deref(), now))
                .collect()
        };
        self.kick(&handle);
        codes
    }

    /// Validates an OffsetCommit's membership; `Ok` to write.
    pub fn check_commit(
        &self,
        group_id: &str,
        member_id: &str,
        instance_id: Option<&str>,
        generation: i32,
        peer: Option<SocketAddr>,
    ) -> i16 {
        if group_id.is_empty() {
            return ResponseError::InvalidGroupId.code();
        }
        if let Some(h) = self.get(group_id) {
            return h.lock().check_commit(member_id, instance_id, generation);
        }
        if generation >= 0 {
            return ResponseError::UnknownMemberId.code();
        }
        // Offsets of groups that do not use group management (or that have
        // not rejoined since a restart) with generation -1: the group is
        // registered, so SKIFF_MAX_GROUPS counts it from now on, and its
        // timer forgets it if no offset is stored.
        match self.get_or_create(group_id) {
            Some(h) => {
                let code = h.lock().check_commit(member_id, instance_id, generation);
                self.kick(&h);
                code
            }
            None => self.refuse_new_group(group_id, peer),
        }
    }

    /// Deletes the committed offsets of every group that has had no member
    /// and no commit for `SKIFF_OFFSETS_RETENTION_MS` (Kafka's
    /// offsets.retention.minutes), and forgets those groups. Run by the
    /// periodic retention pass; answers how many groups' offsets went.
    pub async fn expire_offsets(
        &self,
        storage: &Storage,
        now_ms: i64,
    ) -> Result<usize, WriteError> {
        let retention = self.config.offsets_retention;
        let cutoff = now_ms.saturating_sub(retention.as_millis().min(i64::MAX as u128) as i64);
        let now = Instant::now();
        let idle: Vec<String> = self
            .offsets
            .groups_committed_before(cutoff)
            .into_iter()
            .filter(|id| {
                self.get(id).is_none_or(|h| {
                    let g = h.lock();
                    g.is_empty() && now.saturating_duration_since(g.empty_since) >= retention
                })
            })
            .collect();
        if idle.is_empty() {
            return Ok(0);
        }
        storage.expire_offsets(idle.clone(), cutoff).await?;
        let mut expired = 0;
        for id in &idle {
            // Only if no commit came in meanwhile (the file kept it too).
            if self.offsets.remove_group_if_committed_before(id, cutoff) {
                expired += 1;
                if let Some(h) = self.get(id) {
                    forget_if_unused(&self.groups, &self.offsets, id, &h);
                }
            }
        }
        Ok(expired)
    }

    /// Writes committed offsets and, once they are durable, mirrors them.
    pub async fn commit_offsets(
        &self,
        storage: &Storage,
        group_id: &str,
        rows: Vec<OffsetRow>,
    ) -> Result<(), WriteError> {
        if rows.is_empty() {
            return Ok(());
        }
        let for_cache = rows.clone();
        storage.commit_offsets(group_id, rows).await?;
        self.offsets.apply(group_id, &for_cache);
        Ok(())
    }

    /// Whether the group is known: it has a live state or committed offsets.
    fn exists(&self, group_id: &str) -> bool {
        let live = self.get(group_id).is_some_and(|h| {
            let g = h.lock();
            g.state != State::Dead && !is_forgettable(&g)
        });
        live || self.offsets.has_group(group_id)
    }

    pub fn summary(&self, group_id: &str) -> Option<GroupSummary> {
        let summary = self.get(group_id).and_then(|h| {
            let g = h.lock();
            if g.state == State::Dead || is_forgettable(&g) {
                return None;
            }
            let protocol = g.protocol_name.clone().unwrap_or_default();
            Some(GroupSummary {
                id: g.id.clone(),
                state: g.state.name(),
                protocol_type: g.protocol_type.clone().unwrap_or_default(),
                protocol_name: protocol.clone(),
                members: g
                    .members
                    .iter()
                    .map(|m| MemberSummary {
                        member_id: m.id.clone(),
                        instance_id: m.instance_id.clone(),
                        client_id: m.client_id.clone(),
                        client_host: m.client_host.clone(),
                        metadata: m.metadata(&protocol),
                        assignment: m.assignment.clone(),
                    })
                    .collect(),
            })
        });
        summary.or_else(|| {
            self.offsets.has_group(group_id).then(|| GroupSummary {
                id: group_id.to_string(),
                state: State::Empty.name(),
                protocol_type: String::new(),
                protocol_name: String::new(),
                members: Vec::new(),
            })
        })
    }

    /// Every known group.
    pub fn list(&self) -> Vec<GroupSummary> {
        let mut ids: Vec<String> = self.registry().keys().cloned().collect();
        ids.extend(self.offsets.group_ids());
        ids.sort();
        ids.dedup();
        ids.iter().filter_map(|id| self.summary(id)).collect()
    }

    /// DeleteGroups for one group: only an empty group can go; its offsets
    /// are deleted from the file first.
    pub async fn delete_group(&self, storage: &Storage, group_id: &str) -> i16 {
        if !self.exists(group_id) {
            return ResponseError::GroupIdNotFound.code();
        }
        {
            let mut registry = self.registry();
            if let Some(h) = registry.get(group_id).cloned() {
                let mut g = h.lock();
                if !g.is_empty() {
                    return ResponseError::NonEmptyGroup.code();
                }
                g.kill();
                registry.remove(group_id);
            }
        }
        match storage.delete_group_offsets(group_id).await {
            Ok(()) => {
                self.offsets.remove_group(group_id);
                NONE
            }
            Err(e) => e.kafka_code(),
        }
    }

    /// OffsetDelete: the group must exist; partitions of topics a member is
    /// subscribed to are refused (GROUP_SUBSCRIBED_TO_TOPIC).
    pub fn subscribed_topics(&self, group_id: &str) -> Result<Vec<String>, i16> {
        if !self.exists(group_id) {
            return Err(ResponseError::GroupIdNotFound.code());
        }
        let Some(h) = self.get(group_id) else {
            return Ok(Vec::new());
        };
        let g = h.lock();
        if g.protocol_type.as_deref() != Some("consumer") {
            return Ok(Vec::new());
        }
        let protocol = g.protocol_name.clone().unwrap_or_default();
        let mut topics: Vec<String> = g
            .members
            .iter()
            .flat_map(|m| subscription_topics(m.metadata(&protocol)))
            .collect();
        topics.sort();
        topics.dedup();
        Ok(topics)
    }

    pub async fn delete_offsets(
        &self,
        storage: &Storage,
        group_id: &str,
        partitions: Vec<(String, i32)>,
    ) -> Result<(), WriteError> {
        if partitions.is_empty() {
            return Ok(());
        }
        let for_cache = partitions.clone();
        storage.delete_offsets(group_id, partitions).await?;
        self.offsets.remove_partitions(group_id, &for_cache);
        Ok(())
    }
}

/// A group object with no members, no offsets and generation 0 was only
/// touched by a failed request: it is not shown.
fn is_forgettable(g: &Group) -> bool {
    g.state == State::Empty && g.generation == 0 && g.members.is_empty()
}

/// The topics of a consumer-protocol subscription (version, topics, ...);
/// nothing if it does not parse.
pub fn subscription_topics(metadata: Bytes) -> Vec<String> {
    let mut r = Reader::new(metadata, false);
    let parsed = (|| {
        r.i16()?;
        r.array("subscription topics", |r| r.string("topic"))
    })();
    parsed.unwrap_or_default()
}

/// A group's timer: sleeps until the group's earliest deadline (or until
/// kicked), acts on it, and ends when the group has nothing left to time. An
/// empty group without committed offsets lingers `empty_retention` (Kafka
/// drops such groups at its next cleanup, every 10 minutes) and is then
/// dropped from the registry, so group ids that come and go leave nothing.
async fn run_timer(
    handle: Arc<GroupHandle>,
    groups: Registry,
    offsets: Arc<OffsetCache>,
    empty_retention: Duration,
) {
    loop {
        let next = {
            let g = handle.lock();
            match g.next_deadline() {
                Some(t) => Some(t),
                None => {
                    let id = g.id.clone();
                    if g.state != State::Empty || !g.is_empty() || offsets.has_group(&id) {
                        // Cleared under the group lock, so a kick that
                        // follows any later change starts a new timer.
                        handle.timer_running.store(false, Ordering::SeqCst);
                        return;
                    }
                    None
                }
            }
        };
        match next {
            Some(t) => {
                tokio::select! {
                    _ = tokio::time::sleep_until(tokio::time::Instant::from_std(t)) => {}
                    _ = handle.wake.notified() => {}
                }
                handle.lock().on_timer(Instant::now());
            }
            None => {
                tokio::select! {
                    _ = tokio::time::sleep(empty_retention) => {
                        let id = handle.lock().id.clone();
                        if forget_if_unused(&groups, &offsets, &id, &handle) {
                            return;
                        }
                    }
                    _ = handle.wake.notified() => {}
                }
            }
        }
    }
}

/// Removes a group that is still empty, untimed and without offsets. Lock
/// order: registry, then group. A request still holding the handle finds it
/// Dead and is sent back to FindCoordinator (COORDINATOR_NOT_AVAILABLE).
fn forget_if_unused(
    groups: &Registry,
    offsets: &OffsetCache,
    id: &str,
    handle: &Arc<GroupHandle>,
) -> bool {
    let mut registry = groups.lock().expect("group registry lock");
    if !registry.get(id).is_some_and(|h| Arc::ptr_eq(h, handle)) {
        return true;
    }
    let mut g = handle.lock();
    if g.state == State::Empty
        && g.is_empty()
        && g.next_deadline().is_none()
        && !offsets.has_group(id)
    {
        g.kill();
        drop(g);
        registry.remove(id);
        return true;
    }
    false
}
