//! The deployment's SSM parameters: `/skiff/<name>/tls-key`, a SecureString
//! holding the broker's TLS private key, and `/skiff/<name>/tls-cert`, a
//! String holding its certificate chain (public; kept next to the key so
//! `up` can render the same user data again and check the pair).
//!
//! Standard tier: no charge, values up to 4 KB (an ECDSA P-256 key is
//! about 250 bytes) (Systems Manager User Guide, "Managing parameter
//! tiers", https://docs.aws.amazon.com/systems-manager/latest/userguide/parameter-store-advanced-parameters.html).
//! The SecureString is encrypted with the AWS-managed key `aws/ssm`: no key
//! to create or pay for, and its key policy lets every principal of the
//! account that may read the parameter decrypt it, so the instance role
//! needs `ssm:GetParameter` on the one parameter and no `kms:Decrypt`
//! ("The AWS managed key for Parameter Store (aws/ssm) grants Decrypt
//! permission to all IAM principals in the AWS account", Systems Manager
//! User Guide, "Restricting decryption of SecureString parameter values",
//! https://docs.aws.amazon.com/systems-manager/latest/userguide/ps-restrict-decryption.html).
//!
//! Created with the deployment's tags (`managed-by`, `skiff:name`); the
//! names are the deployment's own, so a parameter there is taken as ours.
//! An error that quotes a value is never shown (it could be the key).

use super::{api, ApiError, Clients};
use aws_sdk_ssm::types::{ParameterTier, ParameterType, Tag};

/// The parameter holding deployment `name`'s TLS private key.
pub fn key_name(name: &str) -> String {
    format!("/skiff/{name}/tls-key")
}

/// The parameter holding deployment `name`'s certificate chain.
pub fn cert_name(name: &str) -> String {
    format!("/skiff/{name}/tls-cert")
}

/// The ARN of parameter `param` (a name starting with `/`).
pub fn arn(partition: &str, region: &str, account: &str, param: &str) -> String {
    format!("arn:{partition}:ssm:{region}:{account}:parameter{param}")
}

fn redact(mut e: ApiError) -> ApiError {
    if e.detail.contains("PRIVATE KEY") || e.detail.contains("BEGIN") {
        e.detail = format!(
            "{} (message withheld: it quoted the parameter's value)",
            e.code.as_deref().unwrap_or("error")
        );
    }
    e
}

/// The value of `param` (decrypted), None if there is none.
pub async fn get(clients: &Clients, param: &str) -> Result<Option<String>, ApiError> {
    match clients
        .ssm
        .get_parameter()
        .name(param)
        .with_decryption(true)
        .send()
        .await
    {
        Ok(o) => Ok(o.parameter().and_then(|p| p.value()).map(str::to_string)),
        Err(e) => {
            let e = redact(api("read SSM parameter")(e));
            if e.code_is("ParameterNotFound") {
                Ok(None)
            } else {
                Err(e)
            }
        }
    }
}

/// Creates or overwrites `param`. A new parameter is created with the
/// deployment's tags (PutParameter takes tags only on create).
pub async fn put(
    clients: &Clients,
    deployment: &str,
    param: &str,
    value: &str,
    secret: bool,
    exists: bool,
) -> Result<(), ApiError> {
    let kind = if secret {
        ParameterType::SecureString
    } else {
        ParameterType::String
    };
    let mut req = clients
        .ssm
        .put_parameter()
        .name(param)
        .value(value)
        .r#type(kind)
        .tier(ParameterTier::Standard)
        .description(format!("skiff deployment {deployment}"));
    if exists {
        req = req.overwrite(true);
    } else {
        for (k, v) in [
            (super::tags::MANAGED_BY_KEY, super::tags::MANAGED_BY_VALUE),
            (super::tags::NAME_KEY, deployment),
        ] {
            req = req.tags(
                Tag::builder()
                    .key(k)
                    .value(v)
                    .build()
                    .expect("key and value"),
            );
        }
    }
    req.send()
        .await
        .map(|_| ())
        .map_err(|e| redact(api("write SSM parameter")(e)))
}

/// Deletes `param`; false if there was none.
pub async fn delete(clients: &Clients, param: &str) -> Result<bool, ApiError> {
    match clients.ssm.delete_parameter().name(param).send().await {
        Ok(_) => Ok(true),
        Err(e) => {
            let e = api("delete SSM parameter")(e);
            if e.code_is("ParameterNotFound") {
                Ok(false)
            } else {
                Err(e)
            }
        }
    }
}
