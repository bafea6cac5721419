//! AlterConfigs (v0-2, the whole set of overrides is replaced) and
//! IncrementalAlterConfigs (v0-1, SET and DELETE of single keys) for topics,
//! with validate_only. Values are checked against the configs Skiff knows
//! before anything is written.

use std::collections::BTreeMap;

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::{
    alter_configs_response, incremental_alter_configs_response, AlterConfigsResponse,
    IncrementalAlterConfigsResponse,
};

use super::describe_configs::RESOURCE_TOPIC;
use super::str;
use crate::broker::Broker;
use crate::protocol::reader::{Reader, Result};
use crate::storage::ConfigChange;
use crate::topic_config::TopicConfig;

const OP_SET: i8 = 0;
const OP_DELETE: i8 = 1;

pub struct Resource {
    pub kind: i8,
    pub name: String,
    /// (name, operation, value); the operation is SET for AlterConfigs.
    pub configs: Vec<(String, i8, Option<String>)>,
}

pub struct AlterConfigsRequest {
    pub resources: Vec<Resource>,
    pub validate_only: bool,
}

impl AlterConfigsRequest {
    pub fn decode(r: &mut Reader, _version: i16, incremental: bool) -> Result<Self> {
        let resources = r.array("resources", |r| {
            let kind = r.i8()?;
            let name = r.string("resource name")?;
            let configs = r.array("configs", |r| {
                let name = r.string("config name")?;
                let op = if incremental { r.i8()? } else { OP_SET };
                let value = r.nullable_string()?;
                r.tagged_fields()?;
                Ok((name, op, value))
            })?;
            r.tagged_fields()?;
            Ok(Resource {
                kind,
                name,
                configs,
            })
        })?;
        let validate_only = r.bool()?;
        r.tagged_fields()?;
        Ok(AlterConfigsRequest {
            resources,
            validate_only,
        })
    }
}

/// Applies one resource's change; the error code and message if refused.
async fn alter(
    broker: &Broker,
    res: Resource,
    incremental: bool,
    validate_only: bool,
) -> std::result::Result<(), (i16, String)> {
    if res.kind != RESOURCE_TOPIC {
        return Err((
            ResponseError::InvalidRequest.code(),
            format!(
                "resource type {} cannot be altered; Skiff alters topic (2) configs",
                res.kind
            ),
        ));
    }
    let Some(topic) = broker.catalog.get(&res.name) else {
        return Err((
            ResponseError::UnknownTopicOrPartition.code(),
            format!("topic '{}' does not exist", res.name),
        ));
    };
    let change = if incremental {
        let mut ops = Vec::with_capacity(res.configs.len());
        for (name, op, value) in res.configs {
            match (op, value) {
                (OP_SET, Some(v)) => ops.push((name, Some(v))),
                (OP_DELETE, _) => ops.push((name, None)),
                (OP_SET, None) => {
                    return Err((
                        ResponseError::InvalidConfig.code(),
                        format!("SET of '{name}' needs a value"),
                    ))
                }
                (op, _) => {
                    return Err((
                        ResponseError::InvalidConfig.code(),
                        format!("operation {op} on '{name}' is not supported (SET and DELETE are)"),
                    ))
                }
            }
        }
        ConfigChange::Incremental(ops)
    } else {
        ConfigChange::Replace(
            res.configs
                .into_iter()
                .filter_map(|(k, _, v)| v.map(|v| (k, v)))
                .collect::<BTreeMap<_, _>>(),
        )
    };
    // Check the result before anything is written (the writer checks again).
    let preview = change.apply(&topic.config().overrides);
    TopicConfig::from_overrides(preview)
        .map_err(|e| (ResponseError::InvalidConfig.code(), e.to_string()))?;
    if validate_only {
        return Ok(());
    }
    broker
        .storage
        .alter_config(&res.name, change)
        .await
        .map_err(|e| (e.kafka_code(), e.to_string()))
}

/// A topic needs ALTER_CONFIGS on it (the broker's configs are read-only).
fn refusal(
    broker: &Broker,
    conn: &crate::connection::ConnectionState,
    res: &Resource,
) -> Option<(i16, String)> {
    use crate::security::acl::Operation;
    let ok = if res.kind == RESOURCE_TOPIC {
        super::topic_allowed(broker, conn, Operation::AlterConfigs, &res.name)
    } else {
        super::cluster_allowed(broker, conn, Operation::AlterConfigs)
    };
    (!ok).then(|| {
        let code = if res.kind == RESOURCE_TOPIC {
            super::TOPIC_AUTHORIZATION_FAILED
        } else {
            super::CLUSTER_AUTHORIZATION_FAILED
        };
        (code, "ALTER_CONFIGS is needed on this resource".to_string())
    })
}

pub async fn handle(
    broker: &Broker,
    conn: &crate::connection::ConnectionState,
    req: AlterConfigsRequest,
) -> AlterConfigsResponse {
    let mut responses = Vec::with_capacity(req.resources.len());
    for res in req.resources {
        let r = alter_configs_response::AlterConfigsResourceResponse::default()
            .with_resource_type(res.kind)
            .with_resource_name(str(&res.name));
        if let Some((code, msg)) = refusal(broker, conn, &res) {
            responses.push(r.with_error_code(code).with_error_message(Some(str(msg))));
            continue;
        }
        responses.push(match alter(broker, res, false, req.validate_only).await {
            Ok(()) => r,
            Err((code, msg)) => r.with_error_code(code).with_error_message(Some(str(msg))),
        });
    }
    AlterConfigsResponse::default().with_responses(responses)
}

pub async fn handle_incremental(
    broker: &Broker,
    conn: &crate::connection::ConnectionState,
    req: AlterConfigsRequest,
) -> IncrementalAlterConfigsResponse {
    let mut responses = Vec::with_capacity(req.resources.len());
    for res in req.resources {
        let r = incremental_alter_configs_response::AlterConfigsResourceResponse::default()
            .with_resource_type(res.kind)
            .with_resource_name(str(&res.name));
        if let Some((code, msg)) = refusal(broker, conn, &res) {
            responses.push(r.with_error_code(code).with_error_message(Some(str(msg))));
            continue;
        }
        responses.push(match alter(broker, res, true, req.validate_only).await {
            Ok(()) => r,
            Err((code, msg)) => r.with_error_code(code).with_error_message(Some(str(msg))),
        });
    }
    IncrementalAlterConfigsResponse::default().with_responses(responses)
}
