//! EBS snapshots of the data volume: the deployment's backups. Found by
//! the Skiff tags among the account's own snapshots (owner `self`: moto and
//! AWS also list public images' snapshots otherwise), created tagged in the
//! CreateSnapshot call itself, deleted by id.

use super::{api, tags, ApiError, Clients};
use aws_sdk_ec2::types::ResourceType;

/// Most snapshots listed: pages of 1,000 and at most 10 pages.
pub const MAX_LISTED: usize = 10_000;

/// A backup.
#[derive(Debug, Clone, PartialEq)]
pub struct Snapshot {
    pub id: String,
    pub volume_id: String,
    /// `pending`, `completed`, `error`, ...
    pub state: String,
    /// Size of the volume it was taken of, GiB.
    pub volume_gib: i32,
    /// Bytes the full snapshot holds, when AWS reports it.
    pub full_bytes: Option<i64>,
    /// Seconds since the epoch.
    pub started: i64,
    /// `manual`, `scheduled`, or what its tag says.
    pub kind: String,
    pub name: String,
    /// `skiff:name` (the deployment it was taken of).
    pub deployment: Option<String>,
    /// Made of a Skiff data volume.
    pub is_data: bool,
}

fn from_ec2(s: &aws_sdk_ec2::types::Snapshot) -> Snapshot {
    let t = s.tags();
    Snapshot {
        id: s.snapshot_id().unwrap_or_default().to_string(),
        volume_id: s.volume_id().unwrap_or_default().to_string(),
        state: s
            .state()
            .map(|x| x.as_str().to_string())
            .unwrap_or_default(),
        volume_gib: s.volume_size().unwrap_or(0),
        full_bytes: s.full_snapshot_size_in_bytes(),
        started: s.start_time().map(|t| t.secs()).unwrap_or(0),
        kind: tags::get(t, tags::BACKUP_KEY)
            .unwrap_or("other")
            .to_string(),
        name: tags::get(t, "Name").unwrap_or_default().to_string(),
        deployment: tags::get(t, tags::NAME_KEY).map(str::to_string),
        is_data: tags::get(t, tags::MANAGED_BY_KEY) == Some(tags::MANAGED_BY_VALUE)
            && tags::get(t, tags::ROLE_KEY) == Some(tags::ROLE_DATA),
    }
}

/// The deployment's snapshots, oldest first.
pub async fn list(c: &Clients, deployment: &str) -> Result<Vec<Snapshot>, ApiError> {
    let mut found = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let out = c
            .ec2
            .describe_snapshots()
            .owner_ids("self")
            .set_filters(Some(tags::filters(deployment)))
            .max_results(1000)
            .set_next_token(token)
            .send()
            .await
            .map_err(api("list the backups (snapshots)"))?;
        found.extend(out.snapshots().iter().map(from_ec2));
        token = out.next_token().map(str::to_string);
        if token.is_none() || found.len() >= MAX_LISTED {
            break;
        }
    }
    found.sort_by_key(|s| (s.started, s.id.clone()));
    Ok(found)
}

/// Snapshot `id` (owned by this account), if it exists.
pub async fn get(c: &Clients, id: &str) -> Result<Option<Snapshot>, ApiError> {
    match c
        .ec2
        .describe_snapshots()
        .snapshot_ids(id)
        .owner_ids("self")
        .send()
        .await
        .map_err(api("describe the snapshot"))
    {
        Ok(out) => Ok(out.snapshots().first().map(from_ec2)),
        Err(e) if e.code_is("InvalidSnapshot.NotFound") => Ok(None),
        Err(e) => Err(e),
    }
}

/// Snapshots data volume `volume_id` of `deployment`, named
/// `skiff-<deployment>-<stamp>` and tagged as a manual backup.
pub async fn create(
    c: &Clients,
    deployment: &str,
    volume_id: &str,
    stamp: &str,
) -> Result<Snapshot, ApiError> {
    let name = format!("skiff-{deployment}-{stamp}");
    let mut spec = tags::spec_with(
        ResourceType::Snapshot,
        deployment,
        None,
        &[
            (tags::ROLE_KEY, tags::ROLE_DATA),
            (tags::BACKUP_KEY, "manual"),
        ],
    );
    // The console name is the backup's own, not the deployment's.
    let mut t = spec.tags().to_vec();
    for tag in t.iter_mut() {
        if tag.key() == Some("Name") {
            *tag = aws_sdk_ec2::types::Tag::builder()
                .key("Name")
                .value(&name)
                .build();
        }
    }
    spec = aws_sdk_ec2::types::TagSpecification::builder()
        .resource_type(ResourceType::Snapshot)
        .set_tags(Some(t))
        .build();
    let out = c
        .ec2
        .create_snapshot()
        .volume_id(volume_id)
        .description(format!(
            "skiff backup of deployment {deployment} (data volume {volume_id}) at {stamp}"
        ))
        .tag_specifications(spec)
        .send()
        .await
        .map_err(api("create the snapshot"))?;
    Ok(Snapshot {
        id: out.snapshot_id().unwrap_or_default().to_string(),
        volume_id: volume_id.to_string(),
        state: out
            .state()
            .map(|s| s.as_str().to_string())
            .unwrap_or_default(),
        volume_gib: out.volume_size().unwrap_or(0),
        full_bytes: None,
        started: out.start_time().map(|t| t.secs()).unwrap_or(0),
        kind: "manual".into(),
        name,
        deployment: Some(deployment.to_string()),
        is_data: true,
    })
}

pub async fn delete(c: &Clients, id: &str) -> Result<(), ApiError> {
    match c
        .ec2
        .delete_snapshot()
        .snapshot_id(id)
        .send()
        .await
        .map_err(api("delete the snapshot"))
    {
        Err(e) if e.code_is("InvalidSnapshot.NotFound") => Ok(()),
        r => r.map(|_| ()),
    }
}

/// A snapshot id as EC2 prints it: `snap-` and 8 or 17 lowercase hex
/// digits (checked before any call; the message echoes at most 40 chars).
pub fn parse_id(s: &str) -> Result<String, String> {
    let hex = s.strip_prefix("snap-").unwrap_or_default();
    let ok = matches!(hex.len(), 8 | 17)
        && hex
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
    if ok {
        Ok(s.to_string())
    } else {
        Err(format!(
            "`{}` is not a snapshot id: expected `snap-` and 17 (or 8) lowercase hex digits, e.g. snap-0123456789abcdef0 (see `skiff backups`)",
            s.chars().take(40).collect::<String>()
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snapshot_ids_are_checked() {
        assert!(parse_id("snap-0123456789abcdef0").is_ok());
        assert!(parse_id("snap-1a2b3c4d").is_ok());
        for bad in [
            "",
            "snap-",
            "vol-0123456789abcdef0",
            "snap-0123456789ABCDEF0",
            "snap-x; rm",
        ] {
            let e = parse_id(bad).unwrap_err();
            assert!(e.contains("snap-0123456789abcdef0"), "{e}");
        }
        assert!(parse_id(&"snap-".repeat(1000)).unwrap_err().len() < 300);
    }
}
