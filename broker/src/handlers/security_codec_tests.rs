//! Differential tests of the security APIs' request decoders (companion of
//! `codec_tests.rs`): each version encoded by the `kafka-protocol` crate as a
//! client would, decoded by Skiff (header and body), the fields compared; and
//! every truncation of a valid request is an error.

use bytes::{Bytes, BytesMut};
use kafka_protocol::messages::*;
use kafka_protocol::protocol::Encodable;

use super::codec_tests::{s, whole};
use super::{
    alter_user_scram_credentials, create_acls, delete_acls, describe_acls,
    describe_user_scram_credentials, sasl_authenticate, sasl_handshake,
};
use crate::protocol::reader::Result;
use crate::protocol::{DecodeError, Reader, RequestHeader};
use crate::security::acl::{AclBinding, Operation, PatternType, Permission, ResourceType};

type Decoder<T> = fn(&mut Reader, i16) -> Result<T>;

fn decode_frame<T>(frame: Bytes, decode: Decoder<T>) -> Result<T> {
    let (header, mut body) = RequestHeader::decode(frame)?;
    decode(&mut body, header.api_version)
}

/// Decodes the crate's encoding of `req` as a whole frame, checks that every
/// truncation fails, and returns the decoded request.
fn round_trip<R: Encodable, T>(api: ApiKey, v: i16, req: &R, decode: Decoder<T>) -> T {
    let full = whole(api, v, req);
    for cut in 0..full.len() {
        assert!(
            decode_frame(full.slice(..cut), decode).is_err(),
            "{api:?} v{v} cut at {cut} of {}",
            full.len()
        );
    }
    decode_frame(full, decode).unwrap()
}

#[test]
fn sasl_handshake_v0_v1() {
    for v in 0..=1 {
        let req = SaslHandshakeRequest::default().with_mechanism(s("SCRAM-SHA-512"));
        let got = round_trip(
            ApiKey::SaslHandshake,
            v,
            &req,
            sasl_handshake::SaslHandshakeRequest::decode,
        );
        assert_eq!(got.mechanism, "SCRAM-SHA-512", "v{v}");
    }
}

#[test]
fn sasl_authenticate_v0_to_v2() {
    for v in 0..=2 {
        let token = Bytes::from_static(b"n,,n=user,r=rOprNGfwEbeRWgbNEkqO");
        let req = SaslAuthenticateRequest::default().with_auth_bytes(token.clone());
        let got = round_trip(
            ApiKey::SaslAuthenticate,
            v,
            &req,
            sasl_authenticate::SaslAuthenticateRequest::decode,
        );
        assert_eq!(got.auth_bytes, token, "v{v}");
        // An empty token is a valid frame (the mechanism refuses it).
        let empty = SaslAuthenticateRequest::default();
        let got = round_trip(
            ApiKey::SaslAuthenticate,
            v,
            &empty,
            sasl_authenticate::SaslAuthenticateRequest::decode,
        );
        assert!(got.auth_bytes.is_empty());
    }
}

#[test]
fn describe_user_scram_credentials_v0() {
    use describe_user_scram_credentials_request::UserName;
    let named = DescribeUserScramCredentialsRequest::default().with_users(Some(vec![
        UserName::default().with_name(s("alice")),
        UserName::default().with_name(s("bob")),
    ]));
    let decode = describe_user_scram_credentials::DescribeUserScramCredentialsRequest::decode;
    let got = round_trip(ApiKey::DescribeUserScramCredentials, 0, &named, decode);
    assert_eq!(
        got.users,
        Some(vec!["alice".to_string(), "bob".to_string()])
    );
    let all = DescribeUserScramCredentialsRequest::default().with_users(None);
    let got = round_trip(ApiKey::DescribeUserScramCredentials, 0, &all, decode);
    assert_eq!(got.users, None);
}

#[test]
fn alter_user_scram_credentials_v0() {
    use alter_user_scram_credentials_request::{ScramCredentialDeletion, ScramCredentialUpsertion};
    let salt = Bytes::from_static(b"0123456789abcdef");
    let salted = Bytes::from(vec![7u8; 64]);
    let req = AlterUserScramCredentialsRequest::default()
        .with_deletions(vec![ScramCredentialDeletion::default()
            .with_name(s("old"))
            .with_mechanism(1)])
        .with_upsertions(vec![ScramCredentialUpsertion::default()
            .with_name(s("alice"))
            .with_mechanism(2)
            .with_iterations(8192)
            .with_salt(salt.clone())
            .with_salted_password(salted.clone())]);
    let got = round_trip(
        ApiKey::AlterUserScramCredentials,
        0,
        &req,
        alter_user_scram_credentials::AlterUserScramCredentialsRequest::decode,
    );
    assert_eq!(
        got.deletions,
        vec![alter_user_scram_credentials::ScramDeletion {
            name: "old".into(),
            mechanism: 1
        }]
    );
    assert_eq!(
        got.upsertions,
        vec![alter_user_scram_credentials::ScramUpsertion {
            name: "alice".into(),
            mechanism: 2,
            iterations: 8192,
            salt,
            salted_password: salted,
        }]
    );
}

#[test]
fn create_acls_v1_to_v3() {
    for v in 1..=3 {
        let req = CreateAclsRequest::default().with_creations(vec![
            create_acls_request::AclCreation::default()
                .with_resource_type(2)
                .with_resource_name(s("orders."))
                .with_resource_pattern_type(4)
                .with_principal(s("User:alice"))
                .with_host(s("*"))
                .with_operation(4)
                .with_permission_type(3),
            create_acls_request::AclCreation::default()
                .with_resource_type(3)
                .with_resource_name(s("g"))
                .with_resource_pattern_type(3)
                .with_principal(s("User:bob"))
                .with_host(s("192.0.2.1"))
                .with_operation(3)
                .with_permission_type(2),
        ]);
        let got = round_trip(
            ApiKey::CreateAcls,
            v,
            &req,
            create_acls::CreateAclsRequest::decode,
        );
        assert_eq!(got.creations.len(), 2, "v{v}");
        assert_eq!(
            got.creations[0].to_binding().unwrap(),
            AclBinding {
                resource_type: ResourceType::Topic,
                resource_name: "orders.".into(),
                pattern_type: PatternType::Prefixed,
                principal: "User:alice".into(),
                host: "*".into(),
                operation: Operation::Write,
                permission: Permission::Allow,
            },
            "v{v}"
        );
        let deny = got.creations[1].to_binding().unwrap();
        assert_eq!(
            (deny.resource_type, deny.host.as_str(), deny.permission),
            (ResourceType::Group, "192.0.2.1", Permission::Deny)
        );
    }
    // Unknown codes decode, and fail their own creation with a message.
    let bad = create_acls::AclCreation {
        resource_type: 99,
        resource_name: "t".into(),
        pattern_type: 3,
        principal: "User:a".into(),
        host: "*".into(),
        operation: 3,
        permission: 3,
    };
    assert!(bad.to_binding().unwrap_err().0.contains("UNKNOWN"));
}

fn describe_filter() -> DescribeAclsRequest {
    DescribeAclsRequest::default()
        .with_resource_type_filter(2)
        .with_resource_name_filter(Some(s("orders")))
        .with_pattern_type_filter(2)
        .with_principal_filter(None)
        .with_host_filter(Some(s("*")))
        .with_operation(1)
        .with_permission_type(1)
}

#[test]
fn describe_acls_v1_to_v3() {
    for v in 1..=3 {
        let got = round_trip(
            ApiKey::DescribeAcls,
            v,
            &describe_filter(),
            describe_acls::DescribeAclsRequest::decode,
        );
        let f = got.filter.to_filter().unwrap();
        assert_eq!(f.resource_type, ResourceType::Topic, "v{v}");
        assert_eq!(f.resource_name.as_deref(), Some("orders"));
        assert_eq!(f.pattern_type, PatternType::Match);
        assert_eq!(f.principal, None);
        assert_eq!(f.host.as_deref(), Some("*"));
        assert_eq!(
            (f.operation, f.permission),
            (Operation::Any, Permission::Any)
        );
        let all = DescribeAclsRequest::default()
            .with_resource_type_filter(1)
            .with_resource_name_filter(None)
            .with_pattern_type_filter(1)
            .with_operation(1)
            .with_permission_type(1);
        let got = round_trip(
            ApiKey::DescribeAcls,
            v,
            &all,
            describe_acls::DescribeAclsRequest::decode,
        );
        assert_eq!(got.filter.resource_name, None);
        got.filter.to_filter().unwrap();
    }
}

#[test]
fn delete_acls_v1_to_v3() {
    for v in 1..=3 {
        let req = DeleteAclsRequest::default().with_filters(vec![
            delete_acls_request::DeleteAclsFilter::default()
                .with_resource_type_filter(2)
                .with_resource_name_filter(Some(s("orders.")))
                .with_pattern_type_filter(4)
                .with_principal_filter(Some(s("User:alice")))
                .with_host_filter(None)
                .with_operation(4)
                .with_permission_type(3),
            delete_acls_request::DeleteAclsFilter::default()
                .with_resource_type_filter(1)
                .with_pattern_type_filter(0)
                .with_operation(1)
                .with_permission_type(1),
        ]);
        let got = round_trip(
            ApiKey::DeleteAcls,
            v,
            &req,
            delete_acls::DeleteAclsRequest::decode,
        );
        assert_eq!(got.filters.len(), 2, "v{v}");
        let f = got.filters[0].to_filter().unwrap();
        assert_eq!(f.principal.as_deref(), Some("User:alice"));
        assert_eq!(f.pattern_type, PatternType::Prefixed);
        assert_eq!(f.host, None);
        // An UNKNOWN pattern type is refused by validation, not by decoding.
        assert!(got.filters[1].to_filter().is_err());
    }
}

/// Counts and lengths that claim more than the frame holds are errors before
/// any allocation, in classic and compact encodings.
#[test]
fn hostile_counts_and_lengths() {
    let r = |bytes: &'static [u8], flexible| Reader::new(Bytes::from_static(bytes), flexible);
    fn count<T>(res: Result<T>) -> bool {
        matches!(res, Err(DecodeError::CountTooLarge { .. }))
    }
    assert!(count(delete_acls::DeleteAclsRequest::decode(
        &mut r(&[0x7f, 0xff, 0xff, 0xff, 0], false),
        1
    )));
    assert!(count(create_acls::CreateAclsRequest::decode(
        &mut r(&[0xff, 0xff, 0xff, 0xff, 0x0f], true),
        2
    )));
    assert!(count(
        describe_user_scram_credentials::DescribeUserScramCredentialsRequest::decode(
            &mut r(&[0xff, 0xff, 0xff, 0xff, 0x0f], true),
            0
        )
    ));
    assert!(count(
        alter_user_scram_credentials::AlterUserScramCredentialsRequest::decode(
            &mut r(&[0x01, 0xff, 0xff, 0xff, 0x7f], true),
            0
        )
    ));
    // A 2 GiB SASL token in a 9-byte body.
    assert!(matches!(
        sasl_authenticate::SaslAuthenticateRequest::decode(
            &mut r(&[0x7f, 0xff, 0xff, 0xff, 1, 2, 3, 4, 5], false),
            0
        ),
        Err(DecodeError::Truncated { .. })
    ));
    assert!(matches!(
        sasl_handshake::SaslHandshakeRequest::decode(&mut r(&[0xff, 0xfe], false), 0),
        Err(DecodeError::NegativeLength { .. })
    ));
    // Zero-byte elements cannot make a loop longer than the frame.
    let mut b = BytesMut::new();
    b.extend_from_slice(&[0, 0, 0, 3]);
    b.extend_from_slice(&[0; 3]);
    assert!(
        delete_acls::DeleteAclsRequest::decode(&mut Reader::new(b.freeze(), false), 1).is_err()
    );
}
