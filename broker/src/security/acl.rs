//! Kafka's ACL model and the authorizer that checks requests against it from
//! memory, with Kafka's rules (KRaft's `StandardAuthorizer`):
//!
//! - An ACL binds a resource pattern (type, name, LITERAL or PREFIXED; the
//!   literal name `*` matches every name) to an entry: a principal
//!   (`User:name`, or `User:*` for everyone), a host (`*` or one address), an
//!   operation and ALLOW or DENY.
//! - Super users (`User:a;User:b`) may do everything. Otherwise a matching
//!   DENY wins over any ALLOW, and with no matching ALLOW the answer is no.
//! - ALLOW READ, WRITE, DELETE or ALTER imply DESCRIBE; ALLOW ALTER_CONFIGS
//!   implies DESCRIBE_CONFIGS; ALL matches every operation. DENY implies
//!   nothing: DENY READ does not deny DESCRIBE.
//! - With `SKIFF_AUTHORIZER=none` every request is allowed (every client that
//!   authenticated, when SASL is on, may do everything).
//!
//! Resources: Topic, Group, Cluster (named `kafka-cluster`) and
//! TransactionalId. Delegation tokens and User resources do not exist in
//! Skiff and their ACLs are refused.
//!
//! Cost per check: ACLs are indexed by resource type, then by name (one hash
//! lookup for the literal name, one for the `*` wildcard, one per distinct
//! length of PREFIXED names), so checking every topic of a Metadata request
//! is a few hash lookups per topic whatever the number of ACLs; a
//! [`AclView`] checks many under one read lock. Changes (CreateAcls,
//! DeleteAcls) take the write lock and are applied after the write that backs
//! them has committed.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::fmt;
use std::net::IpAddr;
use std::sync::{RwLock, RwLockReadGuard};

/// The literal resource name and principal name that match everything.
pub const WILDCARD: &str = "*";
/// The principal of clients that did not authenticate (PLAINTEXT, SSL).
pub const ANONYMOUS: &str = "User:ANONYMOUS";
/// Everyone, in an ACL's principal.
pub const WILDCARD_PRINCIPAL: &str = "User:*";
/// The one name of the Cluster resource.
pub const CLUSTER_NAME: &str = "kafka-cluster";
/// Longest resource name stored in an ACL.
pub const MAX_RESOURCE_NAME_LEN: usize = 1024;
/// Longest principal stored in an ACL (`User:` and a user name).
pub const MAX_PRINCIPAL_LEN: usize = 5 + super::scram::MAX_USERNAME_LEN;

macro_rules! wire_enum {
    ($(#[$doc:meta])* $name:ident { $($variant:ident = $code:literal => $text:literal),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum $name { $($variant),+ }

        impl $name {
            /// The value on the wire.
            pub fn code(self) -> i8 {
                match self { $($name::$variant => $code),+ }
            }
            /// `None` for a code Kafka does not define (treat as UNKNOWN).
            pub fn from_code(code: i8) -> Option<$name> {
                match code { $($code => Some($name::$variant),)+ _ => None }
            }
            /// Kafka's name, as in `kafka-acls` output.
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

wire_enum!(
    /// Kafka's `ResourceType`.
    ResourceType {
        Unknown = 0 => "UNKNOWN",
        Any = 1 => "ANY",
        Topic = 2 => "TOPIC",
        Group = 3 => "GROUP",
        Cluster = 4 => "CLUSTER",
        TransactionalId = 5 => "TRANSACTIONAL_ID",
        DelegationToken = 6 => "DELEGATION_TOKEN",
        User = 7 => "USER",
    }
);

wire_enum!(
    /// Kafka's `PatternType`. MATCH and ANY appear only in filters.
    PatternType {
        Unknown = 0 => "UNKNOWN",
        Any = 1 => "ANY",
        Match = 2 => "MATCH",
        Literal = 3 => "LITERAL",
        Prefixed = 4 => "PREFIXED",
    }
);

wire_enum!(
    /// Kafka's `AclOperation`.
    Operation {
        Unknown = 0 => "UNKNOWN",
        Any = 1 => "ANY",
        All = 2 => "ALL",
        Read = 3 => "READ",
        Write = 4 => "WRITE",
        Create = 5 => "CREATE",
        Delete = 6 => "DELETE",
        Alter = 7 => "ALTER",
        Describe = 8 => "DESCRIBE",
        ClusterAction = 9 => "CLUSTER_ACTION",
        DescribeConfigs = 10 => "DESCRIBE_CONFIGS",
        AlterConfigs = 11 => "ALTER_CONFIGS",
        IdempotentWrite = 12 => "IDEMPOTENT_WRITE",
        CreateTokens = 13 => "CREATE_TOKENS",
        DescribeTokens = 14 => "DESCRIBE_TOKENS",
    }
);

wire_enum!(
    /// Kafka's `AclPermissionType`.
    Permission {
        Unknown = 0 => "UNKNOWN",
        Any = 1 => "ANY",
        Deny = 2 => "DENY",
        Allow = 3 => "ALLOW",
    }
);

impl ResourceType {
    /// The resource types Skiff authorizes.
    fn slot(self) -> Option<usize> {
        match self {
            ResourceType::Topic => Some(0),
            ResourceType::Group => Some(1),
            ResourceType::Cluster => Some(2),
            ResourceType::TransactionalId => Some(3),
            _ => None,
        }
    }
}

/// Why an ACL or a filter was refused (Kafka answers INVALID_REQUEST).
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
#[error("{0}")]
pub struct AclError(pub String);

impl AclError {
    /// Kafka's INVALID_REQUEST.
    pub const CODE: i16 = 42;
}

fn err<T>(msg: impl Into<String>) -> Result<T, AclError> {
    Err(AclError(msg.into()))
}

/// Checks a principal: `User:NAME` with a non-empty name (`User:*` allowed
/// where `wildcard` is).
fn check_principal(p: &str, wildcard: bool) -> Result<(), AclError> {
    if p.len() > MAX_PRINCIPAL_LEN {
        return err(format!(
            "principal of {} bytes is longer than {MAX_PRINCIPAL_LEN}",
            p.len()
        ));
    }
    match p.split_once(':') {
        Some(("User", name)) if !name.is_empty() => {
            if name == WILDCARD && !wildcard {
                return err("User:* is not allowed here");
            }
            Ok(())
        }
        Some((_, "")) | None => err(format!("principal '{p}' is not of the form User:NAME")),
        Some((kind, _)) => err(format!(
            "principal type '{kind}' does not exist in Skiff; use User:NAME"
        )),
    }
}

/// One ACL.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AclBinding {
    pub resource_type: ResourceType,
    pub resource_name: String,
    pub pattern_type: PatternType,
    pub principal: String,
    pub host: String,
    pub operation: Operation,
    pub permission: Permission,
}

impl AclBinding {
    /// Checks an ACL to be created (CreateAcls), with Kafka's rules plus the
    /// resource types Skiff has; the message names the field at fault.
    pub fn validate(&self) -> Result<(), AclError> {
        if self.resource_type.slot().is_none() {
            return err(format!(
                "resource type {} is not supported: use TOPIC, GROUP, CLUSTER or TRANSACTIONAL_ID",
                self.resource_type
            ));
        }
        if !matches!(
            self.pattern_type,
            PatternType::Literal | PatternType::Prefixed
        ) {
            return err(format!(
                "pattern type {} is not allowed in an ACL: use LITERAL or PREFIXED",
                self.pattern_type
            ));
        }
        if self.resource_name.is_empty() {
            return err("the resource name is empty");
        }
        if self.resource_name.len() > MAX_RESOURCE_NAME_LEN {
            return err(format!(
                "resource name of {} bytes is longer than {MAX_RESOURCE_NAME_LEN}",
                self.resource_name.len()
            ));
        }
        if self.resource_type == ResourceType::Cluster
            && !(self.pattern_type == PatternType::Literal
                && (self.resource_name == CLUSTER_NAME || self.resource_name == WILDCARD))
        {
            return err(format!(
                "the only CLUSTER resource is the LITERAL name '{CLUSTER_NAME}'"
            ));
        }
        if matches!(self.operation, Operation::Unknown | Operation::Any) {
            return err(format!(
                "operation {} is not allowed in an ACL",
                self.operation
            ));
        }
        if !matches!(self.permission, Permission::Allow | Permission::Deny) {
            return err(format!(
                "permission {} is not allowed in an ACL: use ALLOW or DENY",
                self.permission
            ));
        }
        check_principal(&self.principal, true)?;
        if self.host != WILDCARD && self.host.parse::<IpAddr>().is_err() {
            return err(format!("host '{}' must be '*' or an IP address", self.host));
        }
        Ok(())
    }
}

impl fmt::Display for AclBinding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {} {}:{} {} from {} {}",
            self.principal,
            self.permission,
            self.resource_type,
            self.resource_name,
            self.pattern_type,
            self.host,
            self.operation
        )
    }
}

/// A DescribeAcls / DeleteAcls filter: `None` and the ANY values match
/// everything; MATCH matches every pattern that applies to the name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AclBindingFilter {
    pub resource_type: ResourceType,
    pub resource_name: Option<String>,
    pub pattern_type: PatternType,
    pub principal: Option<String>,
    pub host: Option<String>,
    pub operation: Operation,
    pub permission: Permission,
}

impl AclBindingFilter {
    /// Everything.
    pub fn any() -> Self {
        AclBindingFilter {
            resource_type: ResourceType::Any,
            resource_name: None,
            pattern_type: PatternType::Any,
            principal: None,
            host: None,
            operation: Operation::Any,
            permission: Permission::Any,
        }
    }

    /// Kafka refuses filters with UNKNOWN parts (INVALID_REQUEST).
    pub fn validate(&self) -> Result<(), AclError> {
        if self.resource_type == ResourceType::Unknown {
            return err("the filter's resource type is UNKNOWN");
        }
        if self.pattern_type == PatternType::Unknown {
            return err("the filter's pattern type is UNKNOWN");
        }
        if self.operation == Operation::Unknown {
            return err("the filter's operation is UNKNOWN");
        }
        if self.permission == Permission::Unknown {
            return err("the filter's permission is UNKNOWN");
        }
        Ok(())
    }

    /// Kafka's `AclBindingFilter.matches` (`ResourcePatternFilter` and
    /// `AccessControlEntryFilter`): exact comparisons, no implied operations.
    pub fn matches(&self, b: &AclBinding) -> bool {
        self.matches_pattern(b) && self.matches_entry(b)
    }

    fn matches_pattern(&self, b: &AclBinding) -> bool {
        if self.resource_type != ResourceType::Any && self.resource_type != b.resource_type {
            return false;
        }
        let pt = self.pattern_type;
        if !matches!(pt, PatternType::Any | PatternType::Match) && pt != b.pattern_type {
            return false;
        }
        let Some(name) = &self.resource_name else {
            return true;
        };
        if pt == PatternType::Any || pt == b.pattern_type {
            return *name == b.resource_name;
        }
        // MATCH: the patterns that would apply to a resource of this name.
        match b.pattern_type {
            PatternType::Literal => *name == b.resource_name || b.resource_name == WILDCARD,
            PatternType::Prefixed => name.starts_with(&b.resource_name),
            _ => false,
        }
    }

    fn matches_entry(&self, b: &AclBinding) -> bool {
        self.principal.as_ref().is_none_or(|p| *p == b.principal)
            && self.host.as_ref().is_none_or(|h| *h == b.host)
            && (self.operation == Operation::Any || self.operation == b.operation)
            && (self.permission == Permission::Any || self.permission == b.permission)
    }
}

/// Parses Kafka's `super.users` form, `User:a;User:b` (blank entries
/// ignored). `User:*` is refused: use `SKIFF_AUTHORIZER=none` for that.
pub fn parse_super_users(s: &str) -> Result<HashSet<String>, AclError> {
    let mut out = HashSet::new();
    for p in s.split(';').map(str::trim).filter(|p| !p.is_empty()) {
        check_principal(p, false)?;
        out.insert(p.to_string());
    }
    Ok(out)
}

/// `SKIFF_AUTHORIZER`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthorizerMode {
    /// Every request is allowed.
    None,
    /// Kafka's ACLs.
    Acl,
}

impl AuthorizerMode {
    pub fn parse(s: &str) -> Result<AuthorizerMode, AclError> {
        match s.trim().to_ascii_lowercase().as_str() {
            "none" => Ok(AuthorizerMode::None),
            "acl" => Ok(AuthorizerMode::Acl),
            _ => err(format!("authorizer '{s}' is unknown: use 'none' or 'acl'")),
        }
    }
}

/// One ACL's entry, as the index keeps it for checking.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Entry {
    principal: String,
    /// `None` for `*`.
    host: Option<IpAddr>,
    operation: Operation,
    permission: Permission,
}

fn normalize(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
        v4 => v4,
    }
}

impl Entry {
    fn of(b: &AclBinding) -> Entry {
        Entry {
            principal: b.principal.clone(),
            host: b.host.parse().ok().map(normalize),
            operation: b.operation,
            permission: b.permission,
        }
    }

    /// Kafka's `StandardAuthorizerData.findResult`: `None` when the entry does
    /// not apply, else its permission.
    fn result(&self, principal: &str, host: IpAddr, op: Operation) -> Option<Permission> {
        if self.principal != principal && self.principal != WILDCARD_PRINCIPAL {
            return None;
        }
        if self.host.is_some_and(|h| h != host) {
            return None;
        }
        if self.operation != Operation::All {
            let applies = if self.permission == Permission::Allow {
                match op {
                    Operation::Describe => matches!(
                        self.operation,
                        Operation::Describe
                            | Operation::Read
                            | Operation::Write
                            | Operation::Delete
                            | Operation::Alter
                    ),
                    Operation::DescribeConfigs => matches!(
                        self.operation,
                        Operation::DescribeConfigs | Operation::AlterConfigs
                    ),
                    _ => self.operation == op,
                }
            } else {
                self.operation == op
            };
            if !applies {
                return None;
            }
        }
        Some(self.permission)
    }
}

/// The ACLs of one resource type.
#[derive(Debug, Default)]
struct TypeIndex {
    /// LITERAL patterns by name, the wildcard under `*`.
    literal: HashMap<String, Vec<Entry>>,
    /// PREFIXED patterns by prefix.
    prefixed: HashMap<String, Vec<Entry>>,
    /// Distinct prefix lengths (bytes) and how many prefixes have each.
    prefix_lens: BTreeMap<usize, usize>,
}

impl TypeIndex {
    fn map(&mut self, pt: PatternType) -> &mut HashMap<String, Vec<Entry>> {
        if pt == PatternType::Prefixed {
            &mut self.prefixed
        } else {
            &mut self.literal
        }
    }

    fn add(&mut self, b: &AclBinding) {
        let entries = self.map(b.pattern_type);
        let list = entries.entry(b.resource_name.clone()).or_default();
        list.push(Entry::of(b));
        if b.pattern_type == PatternType::Prefixed && list.len() == 1 {
            *self.prefix_lens.entry(b.resource_name.len()).or_default() += 1;
        }
    }

    fn remove(&mut self, b: &AclBinding) {
        let target = Entry::of(b);
        let entries = self.map(b.pattern_type);
        let Some(list) = entries.get_mut(&b.resource_name) else {
            return;
        };
        list.retain(|e| *e != target);
        if list.is_empty() {
            entries.remove(&b.resource_name);
            if b.pattern_type == PatternType::Prefixed {
                let len = b.resource_name.len();
                if let Some(n) = self.prefix_lens.get_mut(&len) {
                    *n -= 1;
                    if *n == 0 {
                        self.prefix_lens.remove(&len);
                    }
                }
            }
        }
    }

    /// Whether the ACLs allow `op` on some resource of this type (Kafka's
    /// `authorizeByResourceType`, as InitProducerId uses it): an ALLOW
    /// that applies, unless a DENY on every name (literal `*`) applies.
    fn allows_some(&self, principal: &str, host: IpAddr, op: Operation) -> bool {
        let denied_everywhere = self
            .literal
            .get(WILDCARD)
            .into_iter()
            .flatten()
            .any(|e| e.result(principal, host, op) == Some(Permission::Deny));
        !denied_everywhere
            && self
                .literal
                .values()
                .chain(self.prefixed.values())
                .flatten()
                .any(|e| e.result(principal, host, op) == Some(Permission::Allow))
    }

    /// Whether the ACLs allow `op` on `name`: a matching DENY ends the search.
    fn allows(&self, principal: &str, host: IpAddr, op: Operation, name: &str) -> bool {
        let mut allowed = false;
        let mut visit = |list: Option<&Vec<Entry>>| -> bool {
            for e in list.into_iter().flatten() {
                match e.result(principal, host, op) {
                    Some(Permission::Deny) => return true,
                    Some(Permission::Allow) => allowed = true,
                    _ => {}
                }
            }
            false
        };
        if visit(self.literal.get(name)) {
            return false;
        }
        if name != WILDCARD && visit(self.literal.get(WILDCARD)) {
            return false;
        }
        for &len in self.prefix_lens.keys() {
            if len > name.len() {
                break;
            }
            if name.is_char_boundary(len) && visit(self.prefixed.get(&name[..len])) {
                return false;
            }
        }
        allowed
    }
}

/// Every ACL: the set (for DescribeAcls, DeleteAcls, deduplication) and the
/// index the checks use.
#[derive(Debug, Default)]
struct AclIndex {
    all: BTreeSet<AclBinding>,
    by_type: [TypeIndex; 4],
}

/// The authorizer shared by every connection.
#[derive(Debug)]
pub struct Authorizer {
    mode: AuthorizerMode,
    super_users: HashSet<String>,
    acls: RwLock<AclIndex>,
}

impl Authorizer {
    /// An authorizer with the ACLs loaded from the database. Bindings that do
    /// not validate are skipped (they could not have been created).
    pub fn new(
        mode: AuthorizerMode,
        super_users: HashSet<String>,
        bindings: impl IntoIterator<Item = AclBinding>,
    ) -> Self {
        let a = Authorizer {
            mode,
            super_users,
            acls: RwLock::new(AclIndex::default()),
        };
        for b in bindings {
            if b.validate().is_ok() {
                a.add(b);
            }
        }
        a
    }

    pub fn mode(&self) -> AuthorizerMode {
        self.mode
    }

    pub fn is_super_user(&self, principal: &str) -> bool {
        self.super_users.contains(principal)
    }

    fn read(&self) -> RwLockReadGuard<'_, AclIndex> {
        // Every change is applied whole under the write lock; a panic there
        // is a bug, not a half-updated index, so poisoning is ignored.
        self.acls.read().unwrap_or_else(|e| e.into_inner())
    }

    /// A consistent view for checking many resources (one read lock).
    pub fn view(&self) -> AclView<'_> {
        AclView {
            authorizer: self,
            acls: (self.mode == AuthorizerMode::Acl).then(|| self.read()),
        }
    }

    /// Whether `principal` connecting from `host` may do `op` on the resource.
    pub fn authorize(
        &self,
        principal: &str,
        host: IpAddr,
        op: Operation,
        resource_type: ResourceType,
        name: &str,
    ) -> bool {
        self.view()
            .authorize(principal, host, op, resource_type, name)
    }

    /// Whether `principal` may do `op` on at least one resource of the type.
    pub fn allows_some(
        &self,
        principal: &str,
        host: IpAddr,
        op: Operation,
        resource_type: ResourceType,
    ) -> bool {
        if self.mode == AuthorizerMode::None || self.is_super_user(principal) {
            return true;
        }
        match resource_type.slot() {
            Some(slot) => self.read().by_type[slot].allows_some(principal, normalize(host), op),
            None => false,
        }
    }

    /// Replaces every ACL at once (after another process changed the table);
    /// checks see the old set or the new one, never a mix.
    pub fn replace_all(&self, bindings: impl IntoIterator<Item = AclBinding>) {
        let mut fresh = AclIndex::default();
        for b in bindings {
            if let (Ok(()), Some(slot)) = (b.validate(), b.resource_type.slot()) {
                if !fresh.all.contains(&b) {
                    fresh.by_type[slot].add(&b);
                    fresh.all.insert(b);
                }
            }
        }
        *self.acls.write().unwrap_or_else(|e| e.into_inner()) = fresh;
    }

    /// Adds a validated ACL; `false` if it was already there.
    pub fn add(&self, b: AclBinding) -> bool {
        let mut acls = self.acls.write().unwrap_or_else(|e| e.into_inner());
        let Some(slot) = b.resource_type.slot() else {
            return false;
        };
        if acls.all.contains(&b) {
            return false;
        }
        acls.by_type[slot].add(&b);
        acls.all.insert(b);
        true
    }

    /// Removes an ACL; `false` if it was not there.
    pub fn remove(&self, b: &AclBinding) -> bool {
        let mut acls = self.acls.write().unwrap_or_else(|e| e.into_inner());
        if !acls.all.remove(b) {
            return false;
        }
        if let Some(slot) = b.resource_type.slot() {
            acls.by_type[slot].remove(b);
        }
        true
    }

    /// The ACLs a filter matches, in a stable order (DescribeAcls; DeleteAcls
    /// deletes these).
    pub fn matching(&self, filter: &AclBindingFilter) -> Vec<AclBinding> {
        self.read()
            .all
            .iter()
            .filter(|b| filter.matches(b))
            .cloned()
            .collect()
    }

    pub fn len(&self) -> usize {
        self.read().all.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The authorizer under one read lock.
pub struct AclView<'a> {
    authorizer: &'a Authorizer,
    /// `None` when the authorizer is `none`.
    acls: Option<RwLockReadGuard<'a, AclIndex>>,
}

impl AclView<'_> {
    pub fn authorize(
        &self,
        principal: &str,
        host: IpAddr,
        op: Operation,
        resource_type: ResourceType,
        name: &str,
    ) -> bool {
        let Some(acls) = &self.acls else {
            return true;
        };
        if self.authorizer.is_super_user(principal) {
            return true;
        }
        match resource_type.slot() {
            Some(slot) => acls.by_type[slot].allows(principal, normalize(host), op, name),
            None => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Operation::*;
    use PatternType::{Literal, Prefixed};
    use Permission::{Allow, Deny};
    use ResourceType::{Cluster, Group, Topic, TransactionalId};

    fn acl(
        rt: ResourceType,
        name: &str,
        pt: PatternType,
        principal: &str,
        host: &str,
        op: Operation,
        perm: Permission,
    ) -> AclBinding {
        AclBinding {
            resource_type: rt,
            resource_name: name.into(),
            pattern_type: pt,
            principal: principal.into(),
            host: host.into(),
            operation: op,
            permission: perm,
        }
    }

    fn topic(
        name: &str,
        pt: PatternType,
        principal: &str,
        op: Operation,
        perm: Permission,
    ) -> AclBinding {
        acl(Topic, name, pt, principal, "*", op, perm)
    }

    const HOST: &str = "192.0.2.10";

    fn host() -> IpAddr {
        HOST.parse().unwrap()
    }

    fn authz(bindings: Vec<AclBinding>) -> Authorizer {
        Authorizer::new(
            AuthorizerMode::Acl,
            parse_super_users("User:admin").unwrap(),
            bindings,
        )
    }

    fn can(a: &Authorizer, who: &str, op: Operation, rt: ResourceType, name: &str) -> bool {
        a.authorize(who, host(), op, rt, name)
    }

    #[test]
    fn no_acl_means_denied_and_super_users_pass() {
        let a = authz(vec![]);
        assert!(!can(&a, "User:alice", Read, Topic, "t"));
        assert!(can(&a, "User:admin", Read, Topic, "t"));
        assert!(can(&a, "User:admin", ClusterAction, Cluster, CLUSTER_NAME));
        let none = Authorizer::new(AuthorizerMode::None, HashSet::new(), vec![]);
        assert!(none.authorize(ANONYMOUS, host(), Delete, Topic, "t"));
    }

    #[test]
    fn literal_prefixed_and_wildcard_patterns() {
        let a = authz(vec![
            topic("orders.", Prefixed, "User:alice", Write, Allow),
            topic("payments", Literal, "User:alice", Read, Allow),
            topic("*", Literal, "User:bob", Read, Allow),
        ]);
        assert!(can(&a, "User:alice", Write, Topic, "orders.eu"));
        assert!(can(&a, "User:alice", Write, Topic, "orders."));
        assert!(!can(&a, "User:alice", Write, Topic, "orders"));
        assert!(!can(&a, "User:alice", Write, Topic, "payments"));
        assert!(can(&a, "User:alice", Read, Topic, "payments"));
        assert!(!can(&a, "User:alice", Read, Topic, "payments2"));
        assert!(can(&a, "User:bob", Read, Topic, "anything"));
        assert!(!can(&a, "User:bob", Write, Topic, "anything"));
        // A prefix ACL on topics says nothing about groups of the same name.
        assert!(!can(&a, "User:alice", Read, Group, "orders.eu"));
        // Prefixes compare bytes at character boundaries.
        let u = authz(vec![topic("é", Prefixed, "User:u", Read, Allow)]);
        assert!(can(&u, "User:u", Read, Topic, "été"));
        assert!(!can(&u, "User:u", Read, Topic, "e"));
    }

    #[test]
    fn deny_wins_over_allow_from_any_pattern() {
        let a = authz(vec![
            topic("*", Literal, "User:*", All, Allow),
            topic("secret.", Prefixed, "User:alice", Read, Deny),
        ]);
        assert!(can(&a, "User:alice", Read, Topic, "public"));
        assert!(!can(&a, "User:alice", Read, Topic, "secret.keys"));
        // DENY READ does not deny DESCRIBE (no implication for DENY).
        assert!(can(&a, "User:alice", Describe, Topic, "secret.keys"));
        assert!(can(&a, "User:bob", Read, Topic, "secret.keys"));
        // A DENY ALL denies everything, super users excepted.
        let b = authz(vec![
            topic("t", Literal, "User:alice", Read, Allow),
            topic("*", Literal, "User:*", All, Deny),
        ]);
        assert!(!can(&b, "User:alice", Read, Topic, "t"));
        assert!(can(&b, "User:admin", Read, Topic, "t"));
    }

    #[test]
    fn implied_operations_follow_kafka() {
        for op in [Read, Write, Delete, Alter, Describe] {
            let a = authz(vec![topic("t", Literal, "User:u", op, Allow)]);
            assert!(
                can(&a, "User:u", Describe, Topic, "t"),
                "{op} implies DESCRIBE"
            );
        }
        for op in [Create, AlterConfigs, DescribeConfigs] {
            let a = authz(vec![topic("t", Literal, "User:u", op, Allow)]);
            assert!(
                !can(&a, "User:u", Describe, Topic, "t"),
                "{op} does not imply DESCRIBE"
            );
        }
        let a = authz(vec![topic("t", Literal, "User:u", AlterConfigs, Allow)]);
        assert!(can(&a, "User:u", DescribeConfigs, Topic, "t"));
        assert!(!can(&a, "User:u", Alter, Topic, "t"));
        let a = authz(vec![topic("t", Literal, "User:u", Read, Allow)]);
        assert!(
            !can(&a, "User:u", Write, Topic, "t"),
            "READ does not imply WRITE"
        );
        let a = authz(vec![topic("t", Literal, "User:u", All, Allow)]);
        for op in [
            Read,
            Write,
            Create,
            Delete,
            Alter,
            Describe,
            DescribeConfigs,
            AlterConfigs,
        ] {
            assert!(can(&a, "User:u", op, Topic, "t"), "ALL covers {op}");
        }
    }

    #[test]
    fn principals_and_hosts() {
        let a = authz(vec![
            acl(Group, "g", Literal, "User:*", "*", Read, Allow),
            acl(
                TransactionalId,
                "tx",
                Literal,
                "User:u",
                "192.0.2.99",
                Write,
                Allow,
            ),
            acl(
                TransactionalId,
                "tx6",
                Literal,
                "User:u",
                "2001:db8::1",
                Write,
                Allow,
            ),
        ]);
        assert!(can(&a, "User:anyone", Read, Group, "g"));
        assert!(can(&a, ANONYMOUS, Read, Group, "g"));
        assert!(
            !can(&a, "User:u", Write, TransactionalId, "tx"),
            "other host"
        );
        assert!(a.authorize(
            "User:u",
            "192.0.2.99".parse().unwrap(),
            Write,
            TransactionalId,
            "tx"
        ));
        // An IPv4 client seen through an IPv6 socket is the IPv4 address.
        assert!(a.authorize(
            "User:u",
            "::ffff:192.0.2.99".parse().unwrap(),
            Write,
            TransactionalId,
            "tx"
        ));
        // IPv6 compares addresses, not spellings.
        assert!(a.authorize(
            "User:u",
            "2001:db8:0::1".parse().unwrap(),
            Write,
            TransactionalId,
            "tx6"
        ));
    }

    #[test]
    fn add_remove_and_the_index_stay_consistent() {
        let a = authz(vec![]);
        let b1 = topic("ord", Prefixed, "User:u", Read, Allow);
        let b2 = topic("orders.", Prefixed, "User:u", Write, Allow);
        assert!(a.add(b1.clone()));
        assert!(!a.add(b1.clone()), "duplicates are not added twice");
        assert!(a.add(b2.clone()));
        assert!(can(&a, "User:u", Read, Topic, "orders.x"));
        assert!(can(&a, "User:u", Write, Topic, "orders.x"));
        assert!(a.remove(&b1));
        assert!(!a.remove(&b1));
        assert!(!can(&a, "User:u", Read, Topic, "orders.x"));
        assert!(can(&a, "User:u", Write, Topic, "orders.x"));
        assert!(a.remove(&b2));
        assert!(a.is_empty());
        {
            let idx = a.read();
            assert!(idx.by_type[0].prefixed.is_empty() && idx.by_type[0].prefix_lens.is_empty());
        }
        a.replace_all(vec![b1.clone(), b1.clone(), b2.clone()]);
        assert_eq!(a.len(), 2);
        assert!(can(&a, "User:u", Read, Topic, "orders.x"));
        a.replace_all(vec![b2]);
        assert!(!can(&a, "User:u", Read, Topic, "orders.x"));
        assert!(can(&a, "User:u", Write, Topic, "orders.x"));
    }

    #[test]
    fn validation_refuses_what_kafka_refuses_and_what_skiff_lacks() {
        let ok = topic("t", Literal, "User:u", Read, Allow);
        ok.validate().unwrap();
        let bad = |f: fn(&mut AclBinding)| {
            let mut b = ok.clone();
            f(&mut b);
            b.validate().unwrap_err().0
        };
        assert!(bad(|b| b.resource_type = ResourceType::Any).contains("resource type ANY"));
        assert!(bad(|b| b.resource_type = ResourceType::DelegationToken).contains("not supported"));
        assert!(bad(|b| b.pattern_type = PatternType::Match).contains("MATCH"));
        assert!(bad(|b| b.pattern_type = PatternType::Any).contains("ANY"));
        assert!(bad(|b| b.resource_name.clear()).contains("empty"));
        assert!(bad(|b| b.operation = Operation::Any).contains("operation ANY"));
        assert!(bad(|b| b.permission = Permission::Any).contains("permission ANY"));
        assert!(bad(|b| b.principal = "alice".into()).contains("User:NAME"));
        assert!(bad(|b| b.principal = "Group:x".into()).contains("principal type"));
        assert!(bad(|b| b.principal = "User:".into()).contains("User:NAME"));
        assert!(bad(|b| b.host = "example.com".into()).contains("host"));
        assert!(bad(|b| b.resource_name = "x".repeat(1025)).contains("longer"));
        let mut c = acl(Cluster, "other", Literal, "User:u", "*", Alter, Allow);
        assert!(c.validate().unwrap_err().0.contains(CLUSTER_NAME));
        c.resource_name = CLUSTER_NAME.into();
        c.validate().unwrap();
        assert!(can(&authz(vec![c]), "User:u", Alter, Cluster, CLUSTER_NAME));
    }

    #[test]
    fn filters_follow_kafka_matching() {
        let lit = topic("orders", Literal, "User:a", Read, Allow);
        let wild = topic("*", Literal, "User:b", Write, Deny);
        let pre = topic("ord", Prefixed, "User:a", Read, Allow);
        let grp = acl(Group, "orders", Literal, "User:a", "*", Read, Allow);
        let a = authz(vec![lit.clone(), wild.clone(), pre.clone(), grp.clone()]);
        let f = |rt, name: Option<&str>, pt| AclBindingFilter {
            resource_type: rt,
            resource_name: name.map(String::from),
            pattern_type: pt,
            ..AclBindingFilter::any()
        };
        assert_eq!(a.matching(&AclBindingFilter::any()).len(), 4);
        assert_eq!(a.matching(&f(Topic, None, PatternType::Any)).len(), 3);
        // ANY with a name: exact name, any pattern type.
        assert_eq!(
            a.matching(&f(Topic, Some("orders"), PatternType::Any)),
            vec![lit.clone()]
        );
        // MATCH: everything that applies to a topic named "orders".
        let mut m = a.matching(&f(Topic, Some("orders"), PatternType::Match));
        m.sort();
        let mut want = vec![lit.clone(), wild.clone(), pre.clone()];
        want.sort();
        assert_eq!(m, want);
        assert_eq!(
            a.matching(&f(Topic, Some("ord"), PatternType::Prefixed)),
            vec![pre.clone()]
        );
        assert!(a
            .matching(&f(Topic, Some("orders"), PatternType::Prefixed))
            .is_empty());
        assert_eq!(
            a.matching(&f(ResourceType::Any, Some("orders"), Literal))
                .len(),
            2
        );
        let by_entry = AclBindingFilter {
            principal: Some("User:b".into()),
            permission: Deny,
            ..AclBindingFilter::any()
        };
        assert_eq!(a.matching(&by_entry), vec![wild]);
        let by_op = AclBindingFilter {
            operation: Describe,
            ..AclBindingFilter::any()
        };
        assert!(
            a.matching(&by_op).is_empty(),
            "filters do not imply operations"
        );
        let unknown = AclBindingFilter {
            pattern_type: PatternType::Unknown,
            ..AclBindingFilter::any()
        };
        assert!(unknown.validate().is_err());
        AclBindingFilter::any().validate().unwrap();
    }

    #[test]
    fn super_users_and_modes_parse() {
        let s = parse_super_users(" User:a ; User:b;;").unwrap();
        assert_eq!(s.len(), 2);
        assert!(s.contains("User:a") && s.contains("User:b"));
        assert!(parse_super_users("").unwrap().is_empty());
        assert!(parse_super_users("User:*").is_err());
        assert!(parse_super_users("alice").is_err());
        assert_eq!(AuthorizerMode::parse("ACL").unwrap(), AuthorizerMode::Acl);
        assert!(AuthorizerMode::parse("simple").is_err());
        for code in 0..=14 {
            assert_eq!(Operation::from_code(code).unwrap().code(), code);
        }
        assert_eq!(Operation::from_code(15), None);
        assert_eq!(ResourceType::from_code(-1), None);
    }

    #[test]
    fn checking_many_topics_stays_cheap() {
        // 10 000 topics, 2 000 ACLs of each kind: every check is a few lookups.
        let mut bindings = Vec::new();
        for i in 0..2000 {
            bindings.push(topic(
                &format!("t{i}"),
                Literal,
                &format!("User:u{i}"),
                Read,
                Allow,
            ));
            bindings.push(topic(
                &format!("p{i}."),
                Prefixed,
                &format!("User:u{i}"),
                Write,
                Allow,
            ));
        }
        let a = authz(bindings);
        let view = a.view();
        let visible = (0..10_000)
            .filter(|i| view.authorize("User:u7", host(), Describe, Topic, &format!("t{i}")))
            .count();
        assert_eq!(visible, 1);
        assert!(view.authorize("User:u7", host(), Write, Topic, "p7.x"));
        assert!(!view.authorize("User:u7", host(), Write, Topic, "p8.x"));
    }
}
