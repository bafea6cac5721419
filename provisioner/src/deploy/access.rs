//! `up` step 4: what the instance may do in AWS, in one place. Today that
//! is only writing the broker's log lines: an IAM role (trusted by EC2)
//! whose one inline policy allows `logs:CreateLogStream` and
//! `logs:PutLogEvents` on the deployment's log group `/skiff/<name>` and
//! nothing else, its instance profile (the launch names it), and the log
//! group itself with the configured retention. Docker's awslogs driver on
//! the instance takes the role's credentials from the instance metadata.
//! Anything else the instance will need (the security issue's parameters,
//! say) is one more statement in [`policy`], not another role.
//!
//! Role and profile are named `skiff-<name>-<region>` (IAM names are
//! account-wide; the same deployment name in two regions gets two roles)
//! and touched only when tagged as this deployment's. `log_retention_days:
//! 0` turns the whole step off: no role, the broker logs on the instance.

use crate::aws::{iam, logs, Clients};
use crate::config::Config;
use crate::printer::Progress;
use crate::render::{log_group, LogSettings};
use crate::runner::{Impact, Outcome};
use anyhow::{bail, Context, Result};

/// The name of the role's inline policy.
pub const POLICY_NAME: &str = "skiff-broker-logs";

/// The role's (and instance profile's) name.
pub fn role_name(name: &str, region: &str) -> String {
    format!("skiff-{name}-{region}")
}

/// The instance role's permissions: writing log lines into the
/// deployment's log group, nothing more. (Both ARN forms: CreateLogStream
/// is authorized on the group, PutLogEvents on its streams.)
pub fn policy(partition: &str, region: &str, account: &str, name: &str) -> serde_json::Value {
    let group = format!(
        "arn:{partition}:logs:{region}:{account}:log-group:{}",
        log_group(name)
    );
    serde_json::json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Sid": "BrokerLogs",
            "Effect": "Allow",
            "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
            "Resource": [group.clone(), format!("{group}:*")]
        }]
    })
}

/// What the launch needs from this step.
#[derive(Debug, Clone)]
pub struct Access {
    /// The instance profile to launch with.
    pub profile: String,
    pub logs: LogSettings,
}

/// Converges role, profile and log group; None when logs are off.
pub async fn ensure(
    clients: &Clients,
    config: &Config,
    dry_run: bool,
    ui: &Progress,
) -> Result<(Option<Access>, Outcome)> {
    let name = &config.name;
    if config.log_retention_days == 0 {
        return Ok((
            None,
            Outcome::found(
                "off (log_retention_days: 0): the broker logs on the instance; `skiff logs --boot` shows the console",
            ),
        ));
    }
    let settings = LogSettings::new(name, &clients.region)?;
    let role_name = role_name(name, &clients.region);
    let group = settings.group().to_string();
    let mut done: Vec<String> = Vec::new();
    let verb = |now: &str, would: &str| if dry_run { would } else { now }.to_string();

    ui.set("IAM role");
    let role = iam::role(clients, name, &role_name).await?;
    let role = match role {
        Some(r) if !r.ours => bail!(
            "an IAM role named {role_name} exists but is not tagged as skiff deployment `{name}`'s; \
             delete or rename it, or use another deployment name"
        ),
        Some(r) => Some(r),
        None if dry_run => {
            done.push(format!(
                "would create IAM role {role_name} (logs:CreateLogStream and logs:PutLogEvents on {group} only) and its instance profile"
            ));
            None
        }
        None => {
            let r = iam::create_role(
                clients,
                name,
                &role_name,
                "ec2.amazonaws.com",
                &format!("skiff deployment {name}: the broker's instance writes its logs to {group}"),
            )
            .await?;
            done.push(format!(
                "created IAM role {role_name} (logs:CreateLogStream and logs:PutLogEvents on {group} only)"
            ));
            Some(r)
        }
    };
    if let Some(r) = &role {
        let (partition, account) = r
            .partition_and_account()
            .with_context(|| format!("cannot read the account from role ARN {}", r.arn))?;
        let want = policy(partition, &clients.region, account, name);
        let have = iam::inline_policy(clients, &role_name, POLICY_NAME).await?;
        if have.as_ref() != Some(&want) {
            if !dry_run {
                iam::put_inline_policy(clients, &role_name, POLICY_NAME, &want).await?;
            }
            if have.is_some() {
                done.push(verb(
                    "reset the role's policy",
                    "would reset the role's policy",
                ));
            }
        }
        ui.set("instance profile");
        match iam::profile_roles(clients, &role_name).await? {
            Some(roles) if roles.contains(&role_name) => {}
            Some(_) => {
                if !dry_run {
                    iam::add_role_to_profile(clients, &role_name, &role_name).await?;
                }
                done.push(verb(
                    "put the role in its instance profile",
                    "would put the role in its instance profile",
                ));
            }
            None => {
                if !dry_run {
                    iam::create_profile(clients, name, &role_name).await?;
                    iam::add_role_to_profile(clients, &role_name, &role_name).await?;
                }
                done.push(verb(
                    "created instance profile",
                    "would create instance profile",
                ));
            }
        }
    }

    ui.set("log group");
    match logs::group(clients, &group).await? {
        None => {
            if !dry_run {
                logs::create_group(clients, name, &group).await?;
                logs::set_retention(clients, &group, config.log_retention_days).await?;
            }
            done.push(format!(
                "{} log group {group} ({} days)",
                verb("created", "would create"),
                config.log_retention_days
            ));
        }
        Some(g) => {
            if !logs::is_ours(clients, name, &g).await? {
                bail!(
                    "a CloudWatch Logs group {group} exists but is not tagged as skiff deployment `{name}`'s; \
                     delete it, or set log_retention_days: 0"
                );
            }
            if g.retention_days != Some(config.log_retention_days as i32) {
                if !dry_run {
                    logs::set_retention(clients, &group, config.log_retention_days).await?;
                }
                done.push(format!(
                    "{} {group}'s retention {} -> {} days",
                    verb("changed", "would change"),
                    g.retention_days
                        .map(|d| d.to_string())
                        .unwrap_or_else(|| "forever".into()),
                    config.log_retention_days
                ));
            }
        }
    }

    let access = Access {
        profile: role_name.clone(),
        logs: settings,
    };
    if done.is_empty() {
        return Ok((
            Some(access),
            Outcome::found(format!(
                "role {role_name} may write to {group} ({} days)",
                config.log_retention_days
            )),
        ));
    }
    let impact = if role.is_none() {
        Impact::Create
    } else {
        Impact::InPlace
    };
    Ok((Some(access), Outcome::with(impact, done.join("; "))))
}

/// What `down` removes: the log group (if tagged as this deployment's),
/// the instance profile and the role.
pub async fn remove(clients: &Clients, name: &str) -> Result<Vec<String>> {
    let mut done = Vec::new();
    let group = log_group(name);
    if let Some(g) = logs::group(clients, &group).await? {
        if logs::is_ours(clients, name, &g).await? {
            logs::delete_group(clients, &group).await?;
            done.push(format!("log group {group}"));
        }
    }
    let role = role_name(name, &clients.region);
    done.extend(iam::delete_role(clients, name, &role, Some(&role)).await?);
    Ok(done)
}

/// What `down` would remove (read-only).
pub async fn existing(clients: &Clients, name: &str) -> Result<Vec<String>> {
    let mut found = Vec::new();
    let group = log_group(name);
    if let Some(g) = logs::group(clients, &group).await? {
        if logs::is_ours(clients, name, &g).await? {
            found.push(format!("log group {group}"));
        }
    }
    let role = role_name(name, &clients.region);
    if let Some(r) = iam::role(clients, name, &role).await? {
        if r.ours {
            found.push(format!("IAM role and instance profile {role}"));
        }
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_policy_allows_only_writing_to_the_deployments_group() {
        let p = policy("aws", "eu-west-1", "123456789012", "prod");
        let st = p["Statement"].as_array().unwrap();
        assert_eq!(st.len(), 1);
        assert_eq!(st[0]["Effect"], "Allow");
        assert_eq!(
            st[0]["Action"],
            serde_json::json!(["logs:CreateLogStream", "logs:PutLogEvents"])
        );
        let res: Vec<&str> = st[0]["Resource"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r.as_str().unwrap())
            .collect();
        assert_eq!(
            res,
            [
                "arn:aws:logs:eu-west-1:123456789012:log-group:/skiff/prod",
                "arn:aws:logs:eu-west-1:123456789012:log-group:/skiff/prod:*"
            ]
        );
        // No wildcard that would reach `/skiff/prod-2`.
        assert!(res.iter().all(|r| !r.contains("prod*")));
        assert_eq!(role_name("prod", "eu-west-1"), "skiff-prod-eu-west-1");
        assert!(role_name(&"x".repeat(32), "ap-southeast-2").len() <= 64);
    }
}
