//! DescribeConfigs (v1-4): a topic's effective configs, each marked as a
//! topic override or Kafka's default. The broker resource answers with no
//! configs rather than an error, so admin tools that list it keep working.

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::describe_configs_response::{
    DescribeConfigsResourceResult, DescribeConfigsResult,
};
use kafka_protocol::messages::DescribeConfigsResponse;

use super::create_topics::{SOURCE_DEFAULT, SOURCE_TOPIC};
use super::str;
use crate::broker::Broker;
use crate::protocol::reader::{Reader, Result};

pub const RESOURCE_TOPIC: i8 = 2;
pub const RESOURCE_BROKER: i8 = 4;

pub struct DescribeConfigsRequest {
    pub resources: Vec<(i8, String, Option<Vec<String>>)>,
}

impl DescribeConfigsRequest {
    pub fn decode(r: &mut Reader, version: i16) -> Result<Self> {
        let resources = r.array("resources", |r| {
            let kind = r.i8()?;
            let name = r.string("resource name")?;
            let keys = r.nullable_array("configuration keys", |r| r.string("config name"))?;
            r.tagged_fields()?;
            Ok((kind, name, keys))
        })?;
        r.bool()?; // include synonyms
        if version >= 3 {
            r.bool()?; // include documentation
        }
        r.tagged_fields()?;
        Ok(DescribeConfigsRequest { resources })
    }
}

/// A topic needs DESCRIBE_CONFIGS on it, the broker DESCRIBE_CONFIGS on the
/// cluster.
pub fn handle(
    broker: &Broker,
    conn: &crate::connection::ConnectionState,
    req: DescribeConfigsRequest,
) -> DescribeConfigsResponse {
    use crate::security::acl::Operation;
    let results = req
        .resources
        .into_iter()
        .map(|(kind, name, keys)| {
            let result = DescribeConfigsResult::default()
                .with_resource_type(kind)
                .with_resource_name(str(&name));
            let permitted = match kind {
                RESOURCE_TOPIC => {
                    super::topic_allowed(broker, conn, Operation::DescribeConfigs, &name)
                }
                _ => super::cluster_allowed(broker, conn, Operation::DescribeConfigs),
            };
            if !permitted {
                let code = if kind == RESOURCE_TOPIC {
                    super::TOPIC_AUTHORIZATION_FAILED
                } else {
                    super::CLUSTER_AUTHORIZATION_FAILED
                };
                return result.with_error_code(code);
            }
            match kind {
                RESOURCE_TOPIC => match broker.catalog.get(&name) {
                    None => result
                        .with_error_code(ResponseError::UnknownTopicOrPartition.code())
                        .with_error_message(Some(str(format!("topic '{name}' does not exist")))),
                    Some(topic) => result.with_configs(
                        topic
                            .config()
                            .describe()
                            .into_iter()
                            .filter(|(def, _, _)| {
                                keys.as_ref()
                                    .is_none_or(|k| k.iter().any(|k| k == def.name))
                            })
                            .map(|(def, value, is_default)| {
                                DescribeConfigsResourceResult::default()
                                    .with_name(str(def.name))
                                    .with_value(Some(str(value)))
                                    .with_config_source(if is_default {
                                        SOURCE_DEFAULT
                                    } else {
                                        SOURCE_TOPIC
                                    })
                                    .with_config_type(def.type_code())
                            })
                            .collect(),
                    ),
                },
                RESOURCE_BROKER => result,
                _ => result
                    .with_error_code(ResponseError::InvalidRequest.code())
                    .with_error_message(Some(str(format!(
                        "resource type {kind} is not supported; Skiff describes topics (2) and the broker (4)"
                    )))),
            }
        })
        .collect();
    DescribeConfigsResponse::default().with_results(results)
}
