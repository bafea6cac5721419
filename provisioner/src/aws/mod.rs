//! AWS access: the SDK clients built from the standard config chain, the
//! up-front credentials and region check, and API errors worded for users.
//!
//! Every command goes through [`connect`], which resolves the region and
//! asks the credentials chain for credentials *before* the first API call,
//! so a missing login is one clear message instead of an SDK stack trace
//! halfway through `up`. Endpoint overrides (`AWS_ENDPOINT_URL`, used by
//! the tests to reach moto) come from the SDK's own config loader.
//! Clients for later commands (CloudWatch for alarms and credits) are
//! created here too, from the same `SdkConfig`.

pub mod alerts;
pub mod console;
pub mod dlm;
pub mod iam;
pub mod inventory;
pub mod logs;
pub mod metrics;
pub mod parameters;
pub mod snapshots;
pub mod tags;
pub mod type_info;
pub mod usage;

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_ec2::config::ProvideCredentials;
use aws_sdk_ec2::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use std::time::SystemTime;

/// How to provide credentials; shown whenever they are missing or rejected.
pub const CREDENTIALS_HELP: &str = "\
Provide AWS credentials in one of these ways, then run the command again:
  - environment variables AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY
    (plus AWS_SESSION_TOKEN for temporary credentials)
  - a profile in ~/.aws/credentials or ~/.aws/config: `aws configure`,
    selected with AWS_PROFILE=<name> if it is not `default`
  - IAM Identity Center (SSO): `aws sso login --profile <name>` and AWS_PROFILE=<name>";

/// How to provide a region.
pub const REGION_HELP: &str = "\
Set a region in one of these ways, then run the command again:
  - `region: us-east-1` in skiff.yaml, or `--region us-east-1`
  - the environment variable AWS_REGION=us-east-1
  - `aws configure set region us-east-1` (writes ~/.aws/config)";

/// Why we could not even start talking to AWS.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error("no AWS region is configured.\n{REGION_HELP}")]
    NoRegion,
    #[error("no AWS credentials found{}.\n{CREDENTIALS_HELP}", detail_suffix(.detail))]
    NoCredentials { detail: String },
    #[error("the AWS credentials expired (at {expired_at}).\n{CREDENTIALS_HELP}")]
    Expired { expired_at: String },
}

/// The SDK clients of one command run.
#[derive(Clone, Debug)]
pub struct Clients {
    pub sdk: SdkConfig,
    pub region: String,
    pub ec2: aws_sdk_ec2::Client,
    pub ssm: aws_sdk_ssm::Client,
}

impl Clients {
    /// CloudWatch (alarms in `status`, later credits and alerts). Built on
    /// demand: most commands do not need it.
    pub fn cloudwatch(&self) -> aws_sdk_cloudwatch::Client {
        aws_sdk_cloudwatch::Client::new(&self.sdk)
    }

    /// SNS (the alert topic). Built on demand like CloudWatch.
    pub fn sns(&self) -> aws_sdk_sns::Client {
        aws_sdk_sns::Client::new(&self.sdk)
    }

    /// IAM (the instance role and the lifecycle policy's role).
    pub fn iam(&self) -> aws_sdk_iam::Client {
        aws_sdk_iam::Client::new(&self.sdk)
    }

    /// CloudWatch Logs (the broker's log group).
    pub fn logs(&self) -> aws_sdk_cloudwatchlogs::Client {
        aws_sdk_cloudwatchlogs::Client::new(&self.sdk)
    }

    /// Data Lifecycle Manager (the backup schedule).
    pub fn dlm(&self) -> aws_sdk_dlm::Client {
        aws_sdk_dlm::Client::new(&self.sdk)
    }
}

/// Loads the AWS config chain, checks region and credentials, and builds
/// the clients. `region` (from skiff.yaml or `--region`) wins over the chain.
pub async fn connect(region: Option<&str>) -> Result<Clients, ConnectError> {
    let mut loader = aws_config::defaults(BehaviorVersion::latest());
    if let Some(r) = region {
        loader = loader.region(Region::new(r.to_string()));
    }
    let sdk = loader.load().await;
    let region = sdk
        .region()
        .map(|r| r.to_string())
        .ok_or(ConnectError::NoRegion)?;
    let provider = sdk
        .credentials_provider()
        .ok_or_else(|| ConnectError::NoCredentials {
            detail: "no credentials provider".into(),
        })?;
    let creds = provider
        .provide_credentials()
        .await
        .map_err(|e| ConnectError::NoCredentials {
            detail: error_chain(&e),
        })?;
    if let Some(expiry) = creds.expiry() {
        if expiry <= SystemTime::now() {
            let at = aws_sdk_ec2::primitives::DateTime::from(expiry)
                .fmt(aws_sdk_ec2::primitives::DateTimeFormat::DateTime)
                .unwrap_or_else(|_| "an earlier time".into());
            return Err(ConnectError::Expired { expired_at: at });
        }
    }
    tracing::debug!(%region, "AWS credentials resolved");
    Ok(Clients {
        ec2: aws_sdk_ec2::Client::new(&sdk),
        ssm: aws_sdk_ssm::Client::new(&sdk),
        region,
        sdk,
    })
}

/// " (why)" unless the why is just "nothing in the chain".
fn detail_suffix(detail: &str) -> String {
    if detail.is_empty() || detail.contains("no credentials found in chain") {
        String::new()
    } else {
        format!(" ({detail})")
    }
}

/// An error and its sources as one line, without repeats.
fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut cur = Some(e);
    while let Some(err) = cur {
        let s = err.to_string();
        if !parts.iter().any(|p| p.contains(&s)) {
            parts.push(s);
        }
        cur = err.source();
    }
    first_line(&parts.join(": "))
}

fn first_line(s: &str) -> String {
    let s = s.lines().next().unwrap_or("").to_string();
    if s.len() > 300 {
        format!("{}...", &s[..300])
    } else {
        s
    }
}

/// Error codes that mean "your credentials are wrong or expired".
const AUTH_CODES: &[&str] = &[
    "AuthFailure",
    "ExpiredToken",
    "ExpiredTokenException",
    "InvalidClientTokenId",
    "UnrecognizedClientException",
    "RequestExpired",
    "SignatureDoesNotMatch",
];

/// A failed AWS call: what we tried, the AWS error code and its message.
#[derive(Debug)]
pub struct ApiError {
    pub action: String,
    pub code: Option<String>,
    pub detail: String,
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} failed: {}", self.action, self.detail)?;
        if self.is_auth() {
            write!(f, "\nAWS rejected the credentials.\n{CREDENTIALS_HELP}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ApiError {}

impl ApiError {
    pub fn is_auth(&self) -> bool {
        self.code
            .as_deref()
            .is_some_and(|c| AUTH_CODES.contains(&c))
    }

    pub fn code_is(&self, code: &str) -> bool {
        self.code.as_deref() == Some(code)
    }
}

/// Builds a `map_err` adapter naming the action: `.map_err(api("describe instances"))`.
pub fn api<E, R>(action: &str) -> impl FnOnce(SdkError<E, R>) -> ApiError + '_
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    move |e: SdkError<E, R>| {
        let code = match &e {
            SdkError::ServiceError(se) => se.err().code().map(str::to_string),
            _ => None,
        };
        let detail = match &e {
            SdkError::ServiceError(se) => match (se.err().code(), se.err().message()) {
                (Some(c), Some(m)) => format!("{c}: {m}"),
                (Some(c), None) => c.to_string(),
                _ => DisplayErrorContext(&e).to_string(),
            },
            _ => DisplayErrorContext(&e).to_string(),
        };
        ApiError {
            action: action.to_string(),
            code,
            detail,
        }
    }
}
