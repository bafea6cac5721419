//! DescribeCluster (v0-1): the cluster id and its one broker, which is also
//! the controller.

use kafka_protocol::messages::describe_cluster_response::DescribeClusterBroker;
use kafka_protocol::messages::{BrokerId, DescribeClusterResponse};

use super::str;
use crate::broker::Broker;
use crate::protocol::reader::{Reader, Result};

pub fn decode(r: &mut Reader, version: i16) -> Result<()> {
    r.bool()?; // include cluster authorized operations
    if version >= 1 {
        r.i8()?; // endpoint type
    }
    r.tagged_fields()
}

pub fn handle(broker: &Broker) -> DescribeClusterResponse {
    let node = BrokerId(broker.config.node_id);
    DescribeClusterResponse::default()
        .with_endpoint_type(1)
        .with_cluster_id(str(&broker.config.cluster_id))
        .with_controller_id(node)
        .with_cluster_authorized_operations(i32::MIN)
        .with_brokers(vec![DescribeClusterBroker::default()
            .with_broker_id(node)
            .with_host(str(&broker.config.advertised.host))
            .with_port(broker.config.advertised.port as i32)])
}
