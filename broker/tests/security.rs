//! SASL at the wire level, where no Python client reaches: the v0 handshake
//! with bare tokens, requests before authentication, a wrong password and
//! the order rules of the exchange (SASL_PLAINTEXT, so the frames can be
//! read; TLS is exercised by the real clients in tests/clients).

use bytes::{BufMut, BytesMut};
use kafka_protocol::messages::{
    ApiKey, ApiVersionsRequest, ApiVersionsResponse, MetadataRequest, SaslAuthenticateRequest,
    SaslAuthenticateResponse, SaslHandshakeRequest, SaslHandshakeResponse,
};
use kafka_protocol::protocol::StrBytes;
use skiff_broker::security::scram::{Mechanism, ScramClient};
use skiff_broker::security::users;

use crate::common::{Client, TestBroker};

const PASSWORD: &str = "correct horse";

async fn sasl_broker() -> TestBroker {
    let verifier = users::verifier("alice", Mechanism::Sha512, PASSWORD, 4096).unwrap();
    TestBroker::start_with(|s| {
        s.security_protocol = "SASL_PLAINTEXT".into();
        s.sasl_enabled_mechanisms = "SCRAM-SHA-512,PLAIN".into();
        s.bootstrap_user = Some(verifier);
    })
    .await
}

fn handshake(mechanism: &str) -> SaslHandshakeRequest {
    SaslHandshakeRequest::default().with_mechanism(StrBytes::from_string(mechanism.into()))
}

#[tokio::test]
async fn before_authentication_only_api_versions_and_sasl_are_served() {
    let broker = sasl_broker().await;
    let mut c = broker.client().await;
    let versions: ApiVersionsResponse = c
        .call(ApiKey::ApiVersions, 3, &ApiVersionsRequest::default())
        .await;
    assert_eq!(versions.error_code, 0);
    assert!(versions
        .api_keys
        .iter()
        .any(|k| k.api_key == ApiKey::SaslAuthenticate as i16 && k.max_version == 2));
    let frame = Client::frame(ApiKey::Metadata, 12, 7, &MetadataRequest::default());
    c.send_raw(&frame).await;
    assert!(
        c.is_closed().await,
        "Metadata before SASL closes the connection"
    );
}

#[tokio::test]
async fn scram_over_sasl_authenticate_then_requests_are_served() {
    let broker = sasl_broker().await;
    let mut c = broker.client().await;
    let hs: SaslHandshakeResponse = c
        .call(ApiKey::SaslHandshake, 1, &handshake("SCRAM-SHA-512"))
        .await;
    assert_eq!(hs.error_code, 0);
    assert!(hs.mechanisms.iter().any(|m| m.as_str() == "PLAIN"));
    let mut scram = ScramClient::new(Mechanism::Sha512, "alice", PASSWORD.as_bytes()).unwrap();
    let first: SaslAuthenticateResponse = c
        .call(
            ApiKey::SaslAuthenticate,
            2,
            &SaslAuthenticateRequest::default().with_auth_bytes(scram.client_first().into()),
        )
        .await;
    assert_eq!(first.error_code, 0);
    let fin = scram.client_final(&first.auth_bytes).unwrap();
    let done: SaslAuthenticateResponse = c
        .call(
            ApiKey::SaslAuthenticate,
            2,
            &SaslAuthenticateRequest::default().with_auth_bytes(fin.into()),
        )
        .await;
    assert_eq!(done.error_code, 0, "{:?}", done.error_message);
    scram.verify_server_final(&done.auth_bytes).unwrap();
    let meta: kafka_protocol::messages::MetadataResponse = c
        .call(ApiKey::Metadata, 12, &MetadataRequest::default())
        .await;
    assert_eq!(meta.brokers.len(), 1);
    // A second handshake on an authenticated connection is refused.
    let again: SaslHandshakeResponse = c
        .call(ApiKey::SaslHandshake, 1, &handshake("SCRAM-SHA-512"))
        .await;
    assert_eq!(again.error_code, 34, "ILLEGAL_SASL_STATE");
    assert!(c.is_closed().await);
}

#[tokio::test]
async fn a_wrong_password_is_answered_at_once_then_the_connection_closes() {
    let broker = sasl_broker().await;
    let mut c = broker.client().await;
    let _: SaslHandshakeResponse = c.call(ApiKey::SaslHandshake, 1, &handshake("PLAIN")).await;
    let started = std::time::Instant::now();
    let bad: SaslAuthenticateResponse = c
        .call(
            ApiKey::SaslAuthenticate,
            2,
            &SaslAuthenticateRequest::default()
                .with_auth_bytes(bytes::Bytes::from_static(b"\0alice\0Tr0ub4dor")),
        )
        .await;
    assert_eq!(bad.error_code, 58, "SASL_AUTHENTICATION_FAILED");
    let message = bad.error_message.unwrap().to_string();
    assert!(message.contains("Authentication failed"), "{message}");
    assert!(
        !message.contains("Tr0ub4dor"),
        "the password is never echoed"
    );
    assert!(started.elapsed() < std::time::Duration::from_secs(1));
    assert!(c.is_closed().await);
    // An unknown or disabled mechanism: UNSUPPORTED_SASL_MECHANISM.
    let mut c = broker.client().await;
    let hs: SaslHandshakeResponse = c
        .call(ApiKey::SaslHandshake, 1, &handshake("SCRAM-SHA-256"))
        .await;
    assert_eq!(hs.error_code, 33);
    assert!(c.is_closed().await);
}

/// After a v0 handshake the tokens travel as bare size-prefixed frames.
#[tokio::test]
async fn a_v0_handshake_exchanges_bare_tokens() {
    let broker = sasl_broker().await;
    let mut c = broker.client().await;
    let hs: SaslHandshakeResponse = c
        .call(ApiKey::SaslHandshake, 0, &handshake("SCRAM-SHA-512"))
        .await;
    assert_eq!(hs.error_code, 0);
    let mut scram = ScramClient::new(Mechanism::Sha512, "alice", PASSWORD.as_bytes()).unwrap();
    let bare = |token: &[u8]| {
        let mut f = BytesMut::new();
        f.put_i32(token.len() as i32);
        f.put_slice(token);
        f
    };
    c.send_raw(&bare(&scram.client_first())).await;
    let server_first = c.read_frame().await.expect("server-first");
    let fin = scram.client_final(&server_first).unwrap();
    c.send_raw(&bare(&fin)).await;
    let server_final = c.read_frame().await.expect("server-final");
    scram.verify_server_final(&server_final).unwrap();
    let meta: kafka_protocol::messages::MetadataResponse = c
        .call(ApiKey::Metadata, 12, &MetadataRequest::default())
        .await;
    assert_eq!(meta.brokers.len(), 1);
}
