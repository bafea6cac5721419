//! EndTxn (v0-3): commits or aborts the producer's ongoing transaction. The
//! writer writes every partition's marker, the aborted-transactions index
//! and (on commit) the group offsets in one SQLite transaction; once it has
//! committed, the offsets join the in-memory mirror OffsetFetch reads and
//! the answer leaves.

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::EndTxnResponse;

use crate::broker::Broker;
use crate::protocol::reader::{Reader, Result};
use crate::protocol::NONE;
use crate::security::acl::{Operation, ResourceType};

pub struct EndTxnRequest {
    pub transactional_id: String,
    pub producer_id: i64,
    pub producer_epoch: i16,
    pub committed: bool,
}

impl EndTxnRequest {
    pub fn decode(r: &mut Reader, _version: i16) -> Result<Self> {
        let transactional_id = r.string("transactional id")?;
        let producer_id = r.i64()?;
        let producer_epoch = r.i16()?;
        let committed = r.bool()?;
        r.tagged_fields()?;
        Ok(EndTxnRequest {
            transactional_id,
            producer_id,
            producer_epoch,
            committed,
        })
    }
}

/// Needs WRITE on the transactional id.
pub async fn handle(
    broker: &Broker,
    conn: &crate::connection::ConnectionState,
    req: EndTxnRequest,
) -> EndTxnResponse {
    if !super::allowed(
        broker,
        conn,
        Operation::Write,
        ResourceType::TransactionalId,
        &req.transactional_id,
    ) {
        return EndTxnResponse::default()
            .with_error_code(ResponseError::TransactionalIdAuthorizationFailed.code());
    }
    let code = match broker
        .storage
        .txn_end(
            &req.transactional_id,
            (req.producer_id, req.producer_epoch),
            req.committed,
        )
        .await
    {
        Ok(offsets) => {
            for (group, rows) in offsets {
                broker.coordinator.offsets.apply(&group, &rows);
            }
            NONE
        }
        Err(e) => e.kafka_code(),
    };
    EndTxnResponse::default().with_error_code(code)
}
