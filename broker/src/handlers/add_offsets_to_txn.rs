//! AddOffsetsToTxn (v0-3): the group's offsets may be committed in the
//! producer's ongoing transaction (TxnOffsetCommit follows), as
//! `send_offsets_to_transaction` does.

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::AddOffsetsToTxnResponse;

use crate::broker::Broker;
use crate::protocol::reader::{Reader, Result};
use crate::protocol::NONE;
use crate::security::acl::{Operation, ResourceType};

pub struct AddOffsetsToTxnRequest {
    pub transactional_id: String,
    pub producer_id: i64,
    pub producer_epoch: i16,
    pub group_id: String,
}

impl AddOffsetsToTxnRequest {
    pub fn decode(r: &mut Reader, _version: i16) -> Result<Self> {
        let transactional_id = r.string("transactional id")?;
        let producer_id = r.i64()?;
        let producer_epoch = r.i16()?;
        let group_id = r.string("group id")?;
        r.tagged_fields()?;
        Ok(AddOffsetsToTxnRequest {
            transactional_id,
            producer_id,
            producer_epoch,
            group_id,
        })
    }
}

/// Needs WRITE on the transactional id and READ on the group.
pub async fn handle(
    broker: &Broker,
    conn: &crate::connection::ConnectionState,
    req: AddOffsetsToTxnRequest,
) -> AddOffsetsToTxnResponse {
    let code = if !super::allowed(
        broker,
        conn,
        Operation::Write,
        ResourceType::TransactionalId,
        &req.transactional_id,
    ) {
        ResponseError::TransactionalIdAuthorizationFailed.code()
    } else if !super::group_allowed(broker, conn, Operation::Read, &req.group_id) {
        super::GROUP_AUTHORIZATION_FAILED
    } else {
        match broker
            .storage
            .txn_add_offsets(
                &req.transactional_id,
                (req.producer_id, req.producer_epoch),
                &req.group_id,
            )
            .await
        {
            Ok(()) => NONE,
            Err(e) => e.kafka_code(),
        }
    };
    AddOffsetsToTxnResponse::default().with_error_code(code)
}
