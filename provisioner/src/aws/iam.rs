//! IAM calls behind Skiff's two roles: the instance role (its profile lets
//! the broker's Docker log driver write to the deployment's log group, see
//! `deploy::access`) and the role the backup schedule's lifecycle policy
//! runs as (`deploy::schedule`). Roles are found by their fixed names and
//! touched only when they carry the Skiff tags, so a role of the same name
//! that someone else made is never changed or deleted.

use super::{api, tags, ApiError, Clients};
use aws_sdk_iam::types::Tag;

/// A role as IAM has it.
#[derive(Debug, Clone, PartialEq)]
pub struct Role {
    pub name: String,
    pub arn: String,
    /// Tagged `managed-by=skiff` and `skiff:name=<deployment>`.
    pub ours: bool,
}

impl Role {
    /// `(partition, account)` from the role's ARN
    /// (`arn:PARTITION:iam::ACCOUNT:role/...`).
    pub fn partition_and_account(&self) -> Option<(&str, &str)> {
        let mut parts = self.arn.split(':');
        let (arn, partition, service, _, account) = (
            parts.next()?,
            parts.next()?,
            parts.next()?,
            parts.next()?,
            parts.next()?,
        );
        let ok = arn == "arn"
            && service == "iam"
            && !partition.is_empty()
            && account.len() == 12
            && account.bytes().all(|b| b.is_ascii_digit());
        ok.then_some((partition, account))
    }
}

fn skiff_tags(deployment: &str, what: &str) -> Vec<Tag> {
    tags::tags(deployment, Some(what))
        .into_iter()
        .filter_map(|t| {
            Tag::builder()
                .key(t.key().unwrap_or_default())
                .value(t.value().unwrap_or_default())
                .build()
                .ok()
        })
        .collect()
}

fn is_ours(deployment: &str, tags: &[Tag]) -> bool {
    let has = |k: &str, v: &str| tags.iter().any(|t| t.key() == k && t.value() == v);
    has(tags::MANAGED_BY_KEY, tags::MANAGED_BY_VALUE) && has(tags::NAME_KEY, deployment)
}

/// The role `name`, if it exists.
pub async fn role(c: &Clients, deployment: &str, name: &str) -> Result<Option<Role>, ApiError> {
    match c
        .iam()
        .get_role()
        .role_name(name)
        .send()
        .await
        .map_err(api("read the IAM role"))
    {
        Ok(out) => Ok(out.role().map(|r| Role {
            name: r.role_name().to_string(),
            arn: r.arn().to_string(),
            ours: is_ours(deployment, r.tags()),
        })),
        Err(e) if e.code_is("NoSuchEntity") => Ok(None),
        Err(e) => Err(e),
    }
}

/// Creates role `name` that `service` (e.g. `ec2.amazonaws.com`) may
/// assume, tagged for `deployment`.
pub async fn create_role(
    c: &Clients,
    deployment: &str,
    name: &str,
    service: &str,
    description: &str,
) -> Result<Role, ApiError> {
    let trust = serde_json::json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Effect": "Allow",
            "Principal": {"Service": service},
            "Action": "sts:AssumeRole"
        }]
    });
    let out = c
        .iam()
        .create_role()
        .role_name(name)
        .path("/skiff/")
        .description(description)
        .assume_role_policy_document(trust.to_string())
        .set_tags(Some(skiff_tags(deployment, "role")))
        .send()
        .await
        .map_err(api("create the IAM role"))?;
    let arn = out.role().map(|r| r.arn().to_string()).unwrap_or_default();
    Ok(Role {
        name: name.to_string(),
        arn,
        ours: true,
    })
}

/// The role's inline policy `policy`, as JSON (IAM returns it URL-encoded).
pub async fn inline_policy(
    c: &Clients,
    role: &str,
    policy: &str,
) -> Result<Option<serde_json::Value>, ApiError> {
    match c
        .iam()
        .get_role_policy()
        .role_name(role)
        .policy_name(policy)
        .send()
        .await
        .map_err(api("read the IAM role's policy"))
    {
        Ok(out) => {
            let text = out.policy_document();
            let decoded = if text.trim_start().starts_with('{') {
                text.to_string()
            } else {
                percent_decode(text)
            };
            Ok(serde_json::from_str(&decoded).ok())
        }
        Err(e) if e.code_is("NoSuchEntity") => Ok(None),
        Err(e) => Err(e),
    }
}

/// Sets the role's inline policy `policy` to `document`.
pub async fn put_inline_policy(
    c: &Clients,
    role: &str,
    policy: &str,
    document: &serde_json::Value,
) -> Result<(), ApiError> {
    c.iam()
        .put_role_policy()
        .role_name(role)
        .policy_name(policy)
        .policy_document(document.to_string())
        .send()
        .await
        .map_err(api("set the IAM role's policy"))?;
    Ok(())
}

/// Is the managed policy `arn` attached to `role`?
pub async fn has_managed_policy(c: &Clients, role: &str, arn: &str) -> Result<bool, ApiError> {
    let out = c
        .iam()
        .list_attached_role_policies()
        .role_name(role)
        .send()
        .await
        .map_err(api("list the IAM role's policies"))?;
    Ok(out
        .attached_policies()
        .iter()
        .any(|p| p.policy_arn() == Some(arn)))
}

pub async fn attach_managed_policy(c: &Clients, role: &str, arn: &str) -> Result<(), ApiError> {
    c.iam()
        .attach_role_policy()
        .role_name(role)
        .policy_arn(arn)
        .send()
        .await
        .map_err(api("attach a policy to the IAM role"))?;
    Ok(())
}

/// The roles in instance profile `name`, or None if it does not exist.
pub async fn profile_roles(c: &Clients, name: &str) -> Result<Option<Vec<String>>, ApiError> {
    match c
        .iam()
        .get_instance_profile()
        .instance_profile_name(name)
        .send()
        .await
        .map_err(api("read the instance profile"))
    {
        Ok(out) => Ok(Some(
            out.instance_profile()
                .map(|p| {
                    p.roles()
                        .iter()
                        .map(|r| r.role_name().to_string())
                        .collect()
                })
                .unwrap_or_default(),
        )),
        Err(e) if e.code_is("NoSuchEntity") => Ok(None),
        Err(e) => Err(e),
    }
}

pub async fn create_profile(c: &Clients, deployment: &str, name: &str) -> Result<(), ApiError> {
    c.iam()
        .create_instance_profile()
        .instance_profile_name(name)
        .path("/skiff/")
        .set_tags(Some(skiff_tags(deployment, "profile")))
        .send()
        .await
        .map_err(api("create the instance profile"))?;
    Ok(())
}

pub async fn add_role_to_profile(c: &Clients, profile: &str, role: &str) -> Result<(), ApiError> {
    c.iam()
        .add_role_to_instance_profile()
        .instance_profile_name(profile)
        .role_name(role)
        .send()
        .await
        .map_err(api("put the role in the instance profile"))?;
    Ok(())
}

/// Deletes instance profile `profile` (if given and present) and role
/// `name` with its policies, if the role is tagged as this deployment's.
/// Returns what was deleted.
pub async fn delete_role(
    c: &Clients,
    deployment: &str,
    name: &str,
    profile: Option<&str>,
) -> Result<Vec<String>, ApiError> {
    let mut done = Vec::new();
    let found = role(c, deployment, name).await?;
    if let Some(r) = &found {
        if !r.ours {
            tracing::warn!("IAM role {name} is not tagged as skiff's {deployment}: left alone");
            return Ok(done);
        }
    }
    if let Some(p) = profile {
        if let Some(roles) = profile_roles(c, p).await? {
            for r in roles {
                c.iam()
                    .remove_role_from_instance_profile()
                    .instance_profile_name(p)
                    .role_name(&r)
                    .send()
                    .await
                    .map_err(api("take the role out of the instance profile"))?;
            }
            ignore_missing(
                c.iam()
                    .delete_instance_profile()
                    .instance_profile_name(p)
                    .send()
                    .await
                    .map(|_| ())
                    .map_err(api("delete the instance profile")),
            )?;
            done.push(format!("instance profile {p}"));
        }
    }
    if found.is_none() {
        return Ok(done);
    }
    let inline = c
        .iam()
        .list_role_policies()
        .role_name(name)
        .send()
        .await
        .map_err(api("list the IAM role's policies"))?;
    for p in inline.policy_names() {
        ignore_missing(
            c.iam()
                .delete_role_policy()
                .role_name(name)
                .policy_name(p)
                .send()
                .await
                .map(|_| ())
                .map_err(api("delete the IAM role's policy")),
        )?;
    }
    let attached = c
        .iam()
        .list_attached_role_policies()
        .role_name(name)
        .send()
        .await
        .map_err(api("list the IAM role's policies"))?;
    for p in attached.attached_policies() {
        if let Some(arn) = p.policy_arn() {
            ignore_missing(
                c.iam()
                    .detach_role_policy()
                    .role_name(name)
                    .policy_arn(arn)
                    .send()
                    .await
                    .map(|_| ())
                    .map_err(api("detach a policy from the IAM role")),
            )?;
        }
    }
    ignore_missing(
        c.iam()
            .delete_role()
            .role_name(name)
            .send()
            .await
            .map(|_| ())
            .map_err(api("delete the IAM role")),
    )?;
    done.push(format!("IAM role {name}"));
    Ok(done)
}

fn ignore_missing(r: Result<(), ApiError>) -> Result<(), ApiError> {
    match r {
        Err(e) if e.code_is("NoSuchEntity") => Ok(()),
        r => r,
    }
}

/// RFC 3986 percent-decoding (IAM's encoding of policy documents).
fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            if let Some(v) = b
                .get(i + 1..i + 3)
                .and_then(|h| std::str::from_utf8(h).ok())
                .and_then(|h| u8::from_str_radix(h, 16).ok())
            {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arn_parts_and_decoding() {
        let r = Role {
            name: "x".into(),
            arn: "arn:aws:iam::123456789012:role/skiff/x".into(),
            ours: true,
        };
        assert_eq!(r.partition_and_account(), Some(("aws", "123456789012")));
        let bad = Role {
            arn: "arn:aws:iam::12:role/x".into(),
            ..r.clone()
        };
        assert_eq!(bad.partition_and_account(), None);
        assert_eq!(percent_decode("%7B%22a%22%3A1%7D"), "{\"a\":1}".to_string());
        assert_eq!(percent_decode("100%"), "100%");
        assert_eq!(percent_decode("%zz%4"), "%zz%4");
    }
}
