//! Amazon Data Lifecycle Manager: the EBS lifecycle policy behind
//! `backup_schedule`. It snapshots the volumes carrying the tag
//! `skiff:backup-schedule=<deployment>` (only the deployment's data volume
//! has it) on a schedule and keeps the newest N. The policy's request is
//! built by [`details`], a pure function the unit tests read.
//!
//! The target is one tag on purpose: a policy with several target tags
//! targets the resources that carry *any* of them (Amazon EBS User Guide,
//! "Create an Amazon Data Lifecycle Manager custom policy for EBS
//! snapshots": "target tags ... resources that have any of the specified
//! tags"), so `skiff:name=x` plus `skiff:role=data` would snapshot the root
//! volumes and the other deployments' data volumes too.

use super::{api, tags, ApiError, Clients};
use crate::config::{BackupEvery, BackupSchedule};
use aws_sdk_dlm::types::{
    CreateRule, IntervalUnitValues, PolicyDetails, PolicyTypeValues, ResourceTypeValues,
    RetainRule, Schedule, SettablePolicyStateValues, Tag,
};

/// A lifecycle policy of the deployment, as DLM has it.
#[derive(Debug, Clone, PartialEq)]
pub struct Policy {
    pub id: String,
    pub state: String,
    /// Its schedule, as far as skiff can read it back.
    pub schedule: Option<BackupSchedule>,
    pub role_arn: Option<String>,
}

/// The target tag of deployment `name`'s policy (`key=value`, the form
/// GetLifecyclePolicies filters by).
pub fn target_filter(name: &str) -> String {
    format!("{}={name}", tags::SCHEDULE_KEY)
}

/// The policy details for `schedule` on deployment `name`'s data volume.
pub fn details(name: &str, schedule: &BackupSchedule) -> PolicyDetails {
    let (h, m) = schedule.time().unwrap_or((3, 0));
    let create = match schedule.every {
        BackupEvery::Daily => CreateRule::builder()
            .interval(24)
            .interval_unit(IntervalUnitValues::Hours)
            .times(format!("{h:02}:{m:02}"))
            .build(),
        // cron(minutes hours day-of-month month day-of-week year), UTC.
        BackupEvery::Weekly => CreateRule::builder()
            .cron_expression(format!("cron({m} {h} ? * SUN *)"))
            .build(),
    };
    PolicyDetails::builder()
        .policy_type(PolicyTypeValues::EbsSnapshotManagement)
        .resource_types(ResourceTypeValues::Volume)
        .target_tags(Tag::builder().key(tags::SCHEDULE_KEY).value(name).build())
        .schedules(
            Schedule::builder()
                .name(format!("skiff {name} {}", schedule.every.as_str()))
                // The data volume's tags (managed-by, skiff:name,
                // skiff:role) go onto each snapshot: `skiff backups` and
                // `down` find them like manual ones.
                .copy_tags(true)
                .tags_to_add(
                    Tag::builder()
                        .key(tags::BACKUP_KEY)
                        .value("scheduled")
                        .build(),
                )
                .create_rule(create)
                .retain_rule(RetainRule::builder().count(schedule.keep as i32).build())
                .build(),
        )
        .build()
}

/// Reads a schedule back from policy details (None if it is not one skiff
/// makes).
pub fn schedule_of(d: &PolicyDetails) -> Option<BackupSchedule> {
    let s = d.schedules().first()?;
    let keep = u32::try_from(s.retain_rule()?.count()?).ok()?;
    let c = s.create_rule()?;
    let (every, at) = match c.cron_expression() {
        Some(cron) => {
            let inner = cron.strip_prefix("cron(")?.strip_suffix(')')?;
            let f: Vec<&str> = inner.split(' ').collect();
            if f.len() != 6 || f[2..] != ["?", "*", "SUN", "*"] {
                return None;
            }
            let (m, h): (u32, u32) = (f[0].parse().ok()?, f[1].parse().ok()?);
            (BackupEvery::Weekly, format!("{h:02}:{m:02}"))
        }
        None => {
            if c.interval() != Some(24) || c.interval_unit() != Some(&IntervalUnitValues::Hours) {
                return None;
            }
            (BackupEvery::Daily, c.times().first()?.clone())
        }
    };
    Some(BackupSchedule { every, keep, at })
}

fn description(name: &str) -> String {
    // DLM accepts [0-9A-Za-z _-]+ (a deployment name is [a-z0-9-]).
    format!("skiff {name} backups")
}

/// The deployment's policy, if any (read-only calls).
pub async fn find(c: &Clients, name: &str) -> Result<Option<Policy>, ApiError> {
    let out = c
        .dlm()
        .get_lifecycle_policies()
        .target_tags(target_filter(name))
        .send()
        .await
        .map_err(api("list the backup schedule (lifecycle policies)"))?;
    let Some(id) = out
        .policies()
        .iter()
        .find_map(|p| p.policy_id().map(str::to_string))
    else {
        return Ok(None);
    };
    let out = c
        .dlm()
        .get_lifecycle_policy()
        .policy_id(&id)
        .send()
        .await
        .map_err(api("read the backup schedule"))?;
    let p = out.policy();
    Ok(Some(Policy {
        id,
        state: p
            .and_then(|p| p.state())
            .map(|s| s.as_str().to_string())
            .unwrap_or_default(),
        schedule: p.and_then(|p| p.policy_details()).and_then(schedule_of),
        role_arn: p.and_then(|p| p.execution_role_arn()).map(str::to_string),
    }))
}

pub async fn create(
    c: &Clients,
    name: &str,
    role_arn: &str,
    schedule: &BackupSchedule,
) -> Result<String, ApiError> {
    let mut req = c
        .dlm()
        .create_lifecycle_policy()
        .execution_role_arn(role_arn)
        .description(description(name))
        .state(SettablePolicyStateValues::Enabled)
        .policy_details(details(name, schedule));
    for t in tags::tags(name, Some("backups")) {
        req = req.tags(t.key().unwrap_or_default(), t.value().unwrap_or_default());
    }
    let out = req
        .send()
        .await
        .map_err(api("create the backup schedule (lifecycle policy)"))?;
    Ok(out.policy_id().unwrap_or_default().to_string())
}

pub async fn update(
    c: &Clients,
    id: &str,
    name: &str,
    role_arn: &str,
    schedule: &BackupSchedule,
) -> Result<(), ApiError> {
    c.dlm()
        .update_lifecycle_policy()
        .policy_id(id)
        .execution_role_arn(role_arn)
        .description(description(name))
        .state(SettablePolicyStateValues::Enabled)
        .policy_details(details(name, schedule))
        .send()
        .await
        .map_err(api("update the backup schedule"))?;
    Ok(())
}

pub async fn delete(c: &Clients, id: &str) -> Result<(), ApiError> {
    match c
        .dlm()
        .delete_lifecycle_policy()
        .policy_id(id)
        .send()
        .await
        .map_err(api("delete the backup schedule"))
    {
        Err(e) if e.code_is("ResourceNotFoundException") => Ok(()),
        r => r.map(|_| ()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn daily_policy_targets_only_the_deployments_data_volume() {
        let s = BackupSchedule {
            every: BackupEvery::Daily,
            keep: 7,
            at: "03:30".into(),
        };
        let d = details("prod", &s);
        assert_eq!(
            d.policy_type(),
            Some(&PolicyTypeValues::EbsSnapshotManagement)
        );
        assert_eq!(d.resource_types(), [ResourceTypeValues::Volume]);
        let t = d.target_tags();
        assert_eq!(t.len(), 1, "one target tag: several would be OR-ed");
        assert_eq!(
            (t[0].key(), t[0].value()),
            (Some("skiff:backup-schedule"), Some("prod"))
        );
        let sched = &d.schedules()[0];
        assert_eq!(sched.copy_tags(), Some(true));
        assert_eq!(sched.tags_to_add()[0].value(), Some("scheduled"));
        let c = sched.create_rule().unwrap();
        assert_eq!(
            (c.interval(), c.interval_unit(), c.times()),
            (
                Some(24),
                Some(&IntervalUnitValues::Hours),
                &["03:30".to_string()][..]
            )
        );
        assert_eq!(sched.retain_rule().unwrap().count(), Some(7));
        assert_eq!(schedule_of(&d), Some(s));
        assert_eq!(target_filter("prod"), "skiff:backup-schedule=prod");
        assert!(description("my-dep-1")
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || " _-".contains(c)));
    }

    #[test]
    fn weekly_policy_is_a_sunday_cron_and_reads_back() {
        let s = BackupSchedule {
            every: BackupEvery::Weekly,
            keep: 4,
            at: "23:05".into(),
        };
        let d = details("x", &s);
        let c = d.schedules()[0].create_rule().unwrap();
        assert_eq!(c.cron_expression(), Some("cron(5 23 ? * SUN *)"));
        assert_eq!(c.interval(), None);
        assert_eq!(schedule_of(&d), Some(s));
    }
}
