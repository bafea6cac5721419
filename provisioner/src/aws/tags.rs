//! The tags that mark a resource as Skiff's, and the filters that find it.
//!
//! Tags are the only state Skiff keeps: there is no local state file to
//! lose or get out of date. Every resource gets `managed-by=skiff` and
//! `skiff:name=<deployment>` at creation (in the create call itself, so a
//! resource never exists untagged), plus a `Name` for the AWS console.
//! `up` converges and `down` cleans up by searching for these tags.

use aws_sdk_ec2::types::{Filter, ResourceType, Tag, TagSpecification};

pub const MANAGED_BY_KEY: &str = "managed-by";
pub const MANAGED_BY_VALUE: &str = "skiff";
pub const NAME_KEY: &str = "skiff:name";
/// Set on a volume that `down --keep-data` (or a `restore`) preserved.
pub const KEPT_KEY: &str = "skiff:kept";
/// What a volume or snapshot is: `data` (the broker's data volume and its
/// snapshots) or `root`.
pub const ROLE_KEY: &str = "skiff:role";
pub const ROLE_DATA: &str = "data";
pub const ROLE_ROOT: &str = "root";
/// On an instance: the hash of what it was launched with (the rendered
/// user data and the other launch inputs), never the contents. `up`
/// compares it with what it would launch now to decide on a replacement.
pub const LAUNCH_KEY: &str = "skiff:launch";
/// On an instance: the broker image it was launched to run (for the plan's
/// "0.1.0 -> 0.2.0"; left out when longer than a tag value may be).
pub const IMAGE_KEY: &str = "skiff:image";
/// On a snapshot: `manual` (`skiff backup`) or `scheduled` (the lifecycle
/// policy).
pub const BACKUP_KEY: &str = "skiff:backup";
/// On the data volume: the backup schedule the lifecycle policy was made
/// for (`daily-7-0300`). Set before the policy is created and removed after
/// it is deleted, so a policy never exists without it.
pub const SCHEDULE_KEY: &str = "skiff:backup-schedule";

/// The tags of a resource of deployment `name`; `suffix` makes the console
/// `Name` tell the resources apart (`skiff-sg`, `skiff-eip`, ...).
pub fn tags(name: &str, suffix: Option<&str>) -> Vec<Tag> {
    let display = match suffix {
        Some(s) => format!("{name}-{s}"),
        None => name.to_string(),
    };
    vec![
        Tag::builder().key("Name").value(display).build(),
        Tag::builder()
            .key(MANAGED_BY_KEY)
            .value(MANAGED_BY_VALUE)
            .build(),
        Tag::builder().key(NAME_KEY).value(name).build(),
    ]
}

/// A TagSpecification for a create call.
pub fn spec(kind: ResourceType, name: &str, suffix: Option<&str>) -> TagSpecification {
    spec_with(kind, name, suffix, &[])
}

/// [`spec`] with more tags (a role, a launch hash).
pub fn spec_with(
    kind: ResourceType,
    name: &str,
    suffix: Option<&str>,
    extra: &[(&str, &str)],
) -> TagSpecification {
    let mut t = tags(name, suffix);
    t.extend(
        extra
            .iter()
            .map(|(k, v)| Tag::builder().key(*k).value(*v).build()),
    );
    TagSpecification::builder()
        .resource_type(kind)
        .set_tags(Some(t))
        .build()
}

/// The value of tag `key`, if present.
pub fn get<'a>(tags: &'a [Tag], key: &str) -> Option<&'a str> {
    tags.iter()
        .find(|t| t.key() == Some(key))
        .and_then(|t| t.value())
}

/// The filters that select deployment `name`'s resources.
pub fn filters(name: &str) -> Vec<Filter> {
    vec![
        Filter::builder()
            .name(format!("tag:{MANAGED_BY_KEY}"))
            .values(MANAGED_BY_VALUE)
            .build(),
        Filter::builder()
            .name(format!("tag:{NAME_KEY}"))
            .values(name)
            .build(),
    ]
}

/// Prefix of the CloudWatch alarm names of deployment `name` (alarms are
/// found by name, as CloudWatch cannot filter alarms by tag).
pub fn alarm_prefix(name: &str) -> String {
    format!("skiff-{name}-")
}

/// Does this tag list carry `key`?
pub fn has(tags: &[Tag], key: &str) -> bool {
    tags.iter().any(|t| t.key() == Some(key))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_and_filters_agree() {
        let t = tags("prod", Some("sg"));
        assert!(t
            .iter()
            .any(|t| t.key() == Some("Name") && t.value() == Some("prod-sg")));
        assert!(has(&t, MANAGED_BY_KEY) && has(&t, NAME_KEY));
        let f = filters("prod");
        assert_eq!(f[1].name(), Some("tag:skiff:name"));
        assert_eq!(f[1].values(), ["prod".to_string()]);
    }
}
