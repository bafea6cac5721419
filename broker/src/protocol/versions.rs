//! Which APIs, at which versions, Skiff implements: the single table that both
//! ApiVersions advertises and the dispatcher enforces, so the broker never
//! advertises something it does not serve.

use kafka_protocol::messages::ApiKey;

/// An API and the inclusive range of versions Skiff serves.
#[derive(Debug, Clone, Copy)]
pub struct Supported {
    pub api: ApiKey,
    pub min: i16,
    pub max: i16,
}

const fn s(api: ApiKey, min: i16, max: i16) -> Supported {
    Supported { api, min, max }
}

/// Produce advertises a minimum of 0 because librdkafka disables compression
/// when the minimum is above 0 (KAFKA-18659); versions 0-2 (message formats
/// v0/v1) are then refused by the handler. Fetch stops at 12 so no client
/// needs topic ids; Metadata at 12 for the same reason.
pub const SUPPORTED: &[Supported] = &[
    s(ApiKey::Produce, 0, 10),
    s(ApiKey::Fetch, 4, 12),
    s(ApiKey::ListOffsets, 0, 9),
    s(ApiKey::Metadata, 0, 12),
    s(ApiKey::ApiVersions, 0, 4),
    s(ApiKey::CreateTopics, 0, 7),
    s(ApiKey::DeleteTopics, 0, 6),
    s(ApiKey::DeleteRecords, 0, 2),
    s(ApiKey::InitProducerId, 0, 4),
    s(ApiKey::DescribeConfigs, 0, 4),
    s(ApiKey::AlterConfigs, 0, 2),
    s(ApiKey::CreatePartitions, 0, 3),
    s(ApiKey::IncrementalAlterConfigs, 0, 1),
    s(ApiKey::DescribeCluster, 0, 1),
    // Consumer groups (the coordinator).
    s(ApiKey::FindCoordinator, 0, 6),
    s(ApiKey::JoinGroup, 0, 9),
    s(ApiKey::SyncGroup, 0, 5),
    s(ApiKey::Heartbeat, 0, 4),
    s(ApiKey::LeaveGroup, 0, 5),
    s(ApiKey::OffsetCommit, 0, 9),
    s(ApiKey::OffsetFetch, 0, 9),
    s(ApiKey::ListGroups, 0, 5),
    s(ApiKey::DescribeGroups, 0, 5),
    s(ApiKey::DeleteGroups, 0, 2),
    s(ApiKey::OffsetDelete, 0, 0),
    // Transactions (the versions Kafka 3.9 serves to producers; the
    // brokers' AddPartitionsToTxn v4+ and the KIP-890 part 2 versions
    // are not served).
    s(ApiKey::AddPartitionsToTxn, 0, 3),
    s(ApiKey::AddOffsetsToTxn, 0, 3),
    s(ApiKey::TxnOffsetCommit, 0, 3),
    s(ApiKey::EndTxn, 0, 3),
    s(ApiKey::DescribeTransactions, 0, 0),
    s(ApiKey::ListTransactions, 0, 1),
    // Security.
    s(ApiKey::SaslHandshake, 0, 1),
    s(ApiKey::SaslAuthenticate, 0, 2),
    s(ApiKey::DescribeAcls, 0, 3),
    s(ApiKey::CreateAcls, 0, 3),
    s(ApiKey::DeleteAcls, 0, 3),
    s(ApiKey::DescribeUserScramCredentials, 0, 0),
    s(ApiKey::AlterUserScramCredentials, 0, 0),
];

/// The supported range of `api`, if Skiff serves it at all.
pub fn supported(api: ApiKey) -> Option<Supported> {
    SUPPORTED.iter().copied().find(|s| s.api == api)
}

/// Whether requests of this API and version use the flexible encodings.
#[cfg(test)]
pub fn is_flexible(api: ApiKey, version: i16) -> bool {
    api.request_header_version(version) >= 2
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_advertised_version_is_encodable_by_the_response_library_or_by_hand() {
        use super::super::legacy;
        for s in SUPPORTED {
            let lib = s.api.valid_versions();
            let min = if s.api == ApiKey::Produce { 3 } else { s.min };
            assert!(s.max <= lib.max, "{:?}", s.api);
            for v in min..lib.min {
                assert!(
                    legacy::hand_encoded(s.api, v) || legacy::body_version(s.api, v) >= lib.min,
                    "{:?} v{v} has no encoder",
                    s.api
                );
            }
        }
    }
}
