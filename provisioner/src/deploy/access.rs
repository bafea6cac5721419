//! `up` step 5: what the instance may do in AWS, in one place: an IAM role
//! (trusted by EC2) with one inline policy, and its instance profile (the
//! launch names it). The policy allows exactly what the instance needs:
//! with broker logs on, `logs:CreateLogStream` and `logs:PutLogEvents` on
//! the deployment's log group `/skiff/<name>` (and the log group itself,
//! with the configured retention); with `security: sasl_ssl`,
//! `ssm:GetParameter` on the one parameter holding the broker's TLS key,
//! `/skiff/<name>/tls-key`, so start-broker.sh can fetch it at boot (no
//! `kms:Decrypt`: the AWS-managed key `aws/ssm` lets every principal of the
//! account decrypt, see `crate::aws::parameters`). Docker's awslogs driver
//! and the AWS CLI on the instance take the role's credentials from the
//! instance metadata.
//!
//! Role and profile are named `skiff-<name>-<region>` (IAM names are
//! account-wide; the same deployment name in two regions gets two roles)
//! and touched only when tagged as this deployment's. The role exists
//! whenever the instance needs either permission: only with
//! `log_retention_days: 0` and `security: plaintext` together is there no
//! role (the broker logs on the instance).

use crate::aws::{iam, logs, parameters, Clients};
use crate::config::{Config, Security};
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

/// What the instance's role is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Needs {
    /// Writing the broker's log lines to CloudWatch Logs.
    pub logs: bool,
    /// Reading the broker's TLS key parameter.
    pub tls_key: bool,
}

impl Needs {
    pub fn of(config: &Config) -> Needs {
        Needs {
            logs: config.log_retention_days > 0,
            tls_key: config.security == Security::SaslSsl,
        }
    }

    fn any(self) -> bool {
        self.logs || self.tls_key
    }

    fn describe(self, name: &str) -> String {
        let mut parts = Vec::new();
        if self.logs {
            parts.push(format!(
                "logs:CreateLogStream and logs:PutLogEvents on {}",
                log_group(name)
            ));
        }
        if self.tls_key {
            parts.push(format!(
                "ssm:GetParameter on {} and {}",
                parameters::key_name(name),
                parameters::cert_name(name)
            ));
        }
        format!("{} only", parts.join(", "))
    }
}

/// The instance role's permissions: writing log lines into the
/// deployment's log group and reading its TLS key and chain parameters, as `needs`
/// says, nothing more. (Both log ARN forms: CreateLogStream is authorized
/// on the group, PutLogEvents on its streams.)
pub fn policy(
    partition: &str,
    region: &str,
    account: &str,
    name: &str,
    needs: Needs,
) -> serde_json::Value {
    let mut statements = Vec::new();
    if needs.logs {
        let group = format!(
            "arn:{partition}:logs:{region}:{account}:log-group:{}",
            log_group(name)
        );
        statements.push(serde_json::json!({
            "Sid": "BrokerLogs",
            "Effect": "Allow",
            "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
            "Resource": [group.clone(), format!("{group}:*")]
        }));
    }
    if needs.tls_key {
        statements.push(serde_json::json!({
            "Sid": "BrokerTlsKey",
            "Effect": "Allow",
            "Action": ["ssm:GetParameter"],
            "Resource": [
                parameters::arn(partition, region, account, &parameters::key_name(name)),
                parameters::arn(partition, region, account, &parameters::cert_name(name))
            ]
        }));
    }
    serde_json::json!({
        "Version": "2012-10-17",
        "Statement": statements
    })
}

/// What the launch needs from this step.
#[derive(Debug, Clone)]
pub struct Access {
    /// The instance profile to launch with.
    pub profile: String,
    /// None: logs are off.
    pub logs: Option<LogSettings>,
}

/// Converges role, profile and log group; None when the instance needs
/// no role (logs off and security off).
pub async fn ensure(
    clients: &Clients,
    config: &Config,
    dry_run: bool,
    ui: &Progress,
) -> Result<(Option<Access>, Outcome)> {
    let name = &config.name;
    let needs = Needs::of(config);
    if !needs.any() {
        return Ok((
            None,
            Outcome::found(
                "none (log_retention_days: 0 and security: plaintext): the broker logs on the instance; `skiff logs --boot` shows the console",
            ),
        ));
    }
    let settings = LogSettings::new(name, &clients.region)?;
    let role_name = role_name(name, &clients.region);
    let group = settings.group().to_string();
    let allows = needs.describe(name);
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
                "would create IAM role {role_name} ({allows}) and its instance profile"
            ));
            None
        }
        None => {
            let r = iam::create_role(
                clients,
                name,
                &role_name,
                "ec2.amazonaws.com",
                &format!("skiff deployment {name}: the broker's instance ({allows})"),
            )
            .await?;
            done.push(format!("created IAM role {role_name} ({allows})"));
            Some(r)
        }
    };
    if let Some(r) = &role {
        let (partition, account) = r
            .partition_and_account()
            .with_context(|| format!("cannot read the account from role ARN {}", r.arn))?;
        let want = policy(partition, &clients.region, account, name, needs);
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
    let group_found = if needs.logs {
        logs::group(clients, &group).await?
    } else {
        None
    };
    match group_found {
        None if !needs.logs => {}
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
        logs: needs.logs.then_some(settings),
    };
    if done.is_empty() {
        let mut may = Vec::new();
        if needs.logs {
            may.push(format!(
                "write to {group} ({} days)",
                config.log_retention_days
            ));
        }
        if needs.tls_key {
            may.push(format!(
                "read {} and {}",
                parameters::key_name(name),
                parameters::cert_name(name)
            ));
        }
        return Ok((
            Some(access),
            Outcome::found(format!("role {role_name} may {}", may.join(" and "))),
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
        let logs_only = Needs {
            logs: true,
            tls_key: false,
        };
        let p = policy("aws", "eu-west-1", "123456789012", "prod", logs_only);
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

        // With security on: one more statement, the one parameter.
        let both = Needs {
            logs: true,
            tls_key: true,
        };
        let p = policy("aws", "eu-west-1", "123456789012", "prod", both);
        let st = p["Statement"].as_array().unwrap();
        assert_eq!(st.len(), 2);
        assert_eq!(st[1]["Action"], serde_json::json!(["ssm:GetParameter"]));
        assert_eq!(
            st[1]["Resource"],
            serde_json::json!([
                "arn:aws:ssm:eu-west-1:123456789012:parameter/skiff/prod/tls-key",
                "arn:aws:ssm:eu-west-1:123456789012:parameter/skiff/prod/tls-cert"
            ])
        );
        let key_only = Needs {
            logs: false,
            tls_key: true,
        };
        let p = policy("aws", "eu-west-1", "123456789012", "prod", key_only);
        assert_eq!(p["Statement"].as_array().unwrap().len(), 1);
        assert_eq!(p["Statement"][0]["Sid"], "BrokerTlsKey");
        assert!(role_name(&"x".repeat(32), "ap-southeast-2").len() <= 64);
    }
}
