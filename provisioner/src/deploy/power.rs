//! The instance's life cycle calls: stop, change the type, re-apply the
//! credit mode, start, and the waits between them. `up` starts a stopped
//! instance; `resize` is made of all of them. Each looks at the state it
//! is given first, so a flow interrupted between two of them resumes.

use crate::aws::inventory::Instance;
use crate::aws::{api, Clients};
use crate::printer::Progress;
use crate::runner::Outcome;
use anyhow::{anyhow, bail, Context, Result};
use aws_sdk_ec2::client::Waiters;
use aws_sdk_ec2::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_ec2::types::{AttributeValue, InstanceCreditSpecificationRequest, InstanceStateName};
use std::time::Duration;

/// Waits until instance `id` is running.
pub async fn wait_running(clients: &Clients, id: &str, timeout: Duration) -> Result<()> {
    clients
        .ec2
        .wait_until_instance_running()
        .instance_ids(id)
        .wait(timeout)
        .await
        .map_err(|e| anyhow!("{}", DisplayErrorContext(e)))
        .with_context(|| format!("waiting for {id} to be running"))?;
    Ok(())
}

/// Waits until instance `id` is stopped.
pub async fn wait_stopped(clients: &Clients, id: &str, timeout: Duration) -> Result<()> {
    clients
        .ec2
        .wait_until_instance_stopped()
        .instance_ids(id)
        .wait(timeout)
        .await
        .map_err(|e| anyhow!("{}", DisplayErrorContext(e)))
        .with_context(|| format!("waiting for {id} to stop"))?;
    Ok(())
}

/// Starts instance `id` (StartInstances; no wait).
pub async fn start(clients: &Clients, id: &str) -> Result<()> {
    clients
        .ec2
        .start_instances()
        .instance_ids(id)
        .send()
        .await
        .map_err(api("start the instance"))?;
    Ok(())
}

/// Stops the instance and waits until it is stopped (if it is not yet).
/// A pending instance cannot be stopped: it is waited for first.
pub async fn stop(
    clients: &Clients,
    instance: &Instance,
    timeout: Duration,
    ui: &Progress,
) -> Result<Outcome> {
    let id = &instance.id;
    match instance.state {
        InstanceStateName::Stopped => {
            return Ok(Outcome::found(format!("{id} is already stopped")))
        }
        InstanceStateName::Running | InstanceStateName::Pending => {
            if instance.state == InstanceStateName::Pending {
                ui.set("waiting until running before stopping");
                wait_running(clients, id, timeout).await?;
            }
            ui.set("stopping");
            clients
                .ec2
                .stop_instances()
                .instance_ids(id)
                .send()
                .await
                .map_err(api("stop the instance"))?;
        }
        _ => {}
    }
    ui.set("waiting until stopped");
    wait_stopped(clients, id, timeout).await?;
    Ok(Outcome::changed(format!("stopped {id}")))
}

/// Changes the type of the (stopped) instance `id` (ModifyInstanceAttribute).
pub async fn set_type(clients: &Clients, id: &str, instance_type: &str) -> Result<()> {
    clients
        .ec2
        .modify_instance_attribute()
        .instance_id(id)
        .instance_type(AttributeValue::builder().value(instance_type).build())
        .send()
        .await
        .map_err(api("change the instance type"))?;
    Ok(())
}

/// An HTTP 500 that carries no AWS error code: the endpoint does not
/// implement the call (moto's answer to ModifyInstanceCreditSpecification).
/// AWS's own 500s carry a code (InternalError) and stay errors.
fn is_unimplemented<E: ProvideErrorMetadata>(
    e: &SdkError<E, aws_sdk_ec2::config::http::HttpResponse>,
) -> bool {
    match e {
        SdkError::ServiceError(se) => {
            se.raw().status().as_u16() == 500 && se.err().code().is_none()
        }
        SdkError::ResponseError(re) => re.raw().status().as_u16() == 500,
        _ => false,
    }
}

/// Sets the credit mode `mode` (ModifyInstanceCreditSpecification), on a
/// running or stopped instance. An endpoint that does not implement the
/// call is a warning, not an error. Returns whether it was applied, and
/// what to say.
pub async fn apply_credit_mode(
    clients: &Clients,
    id: &str,
    mode: &str,
    ui: &Progress,
) -> Result<(bool, String)> {
    let result = clients
        .ec2
        .modify_instance_credit_specification()
        .instance_credit_specifications(
            InstanceCreditSpecificationRequest::builder()
                .instance_id(id)
                .cpu_credits(mode)
                .build(),
        )
        .send()
        .await;
    match result {
        Ok(out) => {
            if let Some(u) = out.unsuccessful_instance_credit_specifications().first() {
                let err = u.error();
                bail!(
                    "setting credit mode {mode} on {id} failed: {}: {}",
                    err.and_then(|e| e.code())
                        .map(|c| c.as_str())
                        .unwrap_or("unknown"),
                    err.and_then(|e| e.message()).unwrap_or("no message")
                );
            }
            Ok((true, format!("{mode} (applied)")))
        }
        Err(e) if is_unimplemented(&e) => {
            ui.warn(format!(
                "could not re-apply credit mode {mode}: the EC2 endpoint answered \
                 ModifyInstanceCreditSpecification with HTTP 500 and no AWS error (it does not \
                 implement the call; the moto emulator does this); the instance keeps its \
                 current mode, see `skiff status`"
            ));
            Ok((
                false,
                format!("{mode} NOT applied (endpoint does not implement it)"),
            ))
        }
        Err(e) => Err(api("set the credit mode")(e).into()),
    }
}

/// The instance's credit mode as EC2 reports it
/// (DescribeInstanceCreditSpecifications), if it says.
pub async fn credit_mode(clients: &Clients, id: &str) -> Result<Option<String>> {
    let out = clients
        .ec2
        .describe_instance_credit_specifications()
        .instance_ids(id)
        .send()
        .await
        .map_err(api("read the credit specification"))?;
    Ok(out
        .instance_credit_specifications()
        .first()
        .and_then(|c| c.cpu_credits())
        .filter(|m| matches!(*m, "standard" | "unlimited"))
        .map(str::to_string))
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_ec2::config::http::HttpResponse;
    use aws_sdk_ec2::error::ErrorMetadata;
    use aws_sdk_ec2::operation::modify_instance_credit_specification::ModifyInstanceCreditSpecificationError as E;
    use aws_smithy_types::body::SdkBody;

    fn error(status: u16, code: Option<&str>) -> SdkError<E, HttpResponse> {
        let mut meta = ErrorMetadata::builder().message("boom");
        if let Some(c) = code {
            meta = meta.code(c);
        }
        SdkError::service_error(
            E::generic(meta.build()),
            HttpResponse::new(status.try_into().unwrap(), SdkBody::empty()),
        )
    }

    #[test]
    fn only_a_500_without_aws_error_code_counts_as_unimplemented() {
        assert!(is_unimplemented(&error(500, None)));
        assert!(!is_unimplemented(&error(500, Some("InternalError"))));
        assert!(!is_unimplemented(&error(400, None)));
        assert!(!is_unimplemented(&error(
            403,
            Some("UnauthorizedOperation")
        )));
    }
}
