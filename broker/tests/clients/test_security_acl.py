"""ACLs and users against the real binary (SKIFF_AUTHORIZER=acl, SASL_SSL
with SCRAM, as `skiff up` deploys it), driven by confluent-kafka: prefixed
and literal ALLOW and DENY, Kafka's TOPIC/GROUP/CLUSTER_AUTHORIZATION_FAILED,
Metadata without the topics a user may not describe, super users, the
AdminClient's ACL and SCRAM-credential APIs (KIP-554), `skiff-broker user
add/list/remove` with the broker running, and users and ACLs across a
SIGTERM restart and a SIGKILL."""

import gc
import struct
import time
import uuid

import pytest
from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import (
    AclBinding,
    AclBindingFilter,
    AclOperation,
    AclPermissionType,
    AdminClient,
    NewTopic,
    ResourcePatternType,
    ResourceType,
    ScramCredentialInfo,
    ScramMechanism,
    UserScramCredentialDeletion,
    UserScramCredentialUpsertion,
)

from helpers import kstr
from security_helpers import (
    CLUSTER_AUTHORIZATION_FAILED,
    GROUP_AUTHORIZATION_FAILED,
    SASL_AUTHENTICATION_FAILED,
    TOPIC_AUTHORIZATION_FAILED,
    SaslRawClient,
    bootstrap_user,
    ck_conf,
    log_lines,
    make_pki,
    raw_login,
    secure_broker,
    user_cli,
)

ADMIN, ADMIN_PW = "admin", "admin-secret-1"
OPS, OPS_PW = "ops", "ops-secret-2"
MECHANISMS = "SCRAM-SHA-256,SCRAM-SHA-512"
RESOURCE_NOT_FOUND = 91
UNACCEPTABLE_CREDENTIAL = 93


def acl_broker_in(d, start=True):
    return secure_broker(d, pki=make_pki(d), mechanisms=MECHANISMS, authorizer="acl", super_users=[ADMIN, OPS],
                         bootstrap=(ADMIN, "SCRAM-SHA-512", ADMIN_PW), start=start)


@pytest.fixture(scope="module")
def acl_broker(tmp_path_factory):
    b = acl_broker_in(tmp_path_factory.mktemp("acl"))
    try:
        yield b
        gc.collect()
        b.stop()
    finally:
        b.cleanup()


def unique(prefix):
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def admin_of(b, user=ADMIN, password=ADMIN_PW):
    return AdminClient(ck_conf(b, user, password))


def error_code(fut, timeout=20):
    """The Kafka error code a future fails with (0 if it succeeds)."""
    try:
        fut.result(timeout=timeout)
        return 0
    except KafkaException as e:
        return e.args[0].code()


def create_user(b, name, password, mechanism=ScramMechanism.SCRAM_SHA_512, iterations=4096):
    """Through AlterUserScramCredentials as the super user."""
    up = UserScramCredentialUpsertion(name, ScramCredentialInfo(mechanism, iterations), password.encode())
    a = admin_of(b)  # held until the futures resolve: a collected client fails them
    a.alter_user_scram_credentials([up])[name].result(timeout=20)


def create_topics(b, *names):
    a = admin_of(b)
    futs = a.create_topics([NewTopic(n, num_partitions=1, replication_factor=1) for n in names])
    for n in names:
        futs[n].result(timeout=20)


def acl(restype, name, pattern, principal, op, permission=AclPermissionType.ALLOW):
    return AclBinding(restype, name, pattern, principal, "*", op, permission)


def grant(b, *bindings):
    a = admin_of(b)
    futs = a.create_acls(list(bindings))
    for binding, f in futs.items():
        f.result(timeout=20)


def produce_reports(conf, topic, values, timeout=20):
    """Delivery reports (message or KafkaError) of values produced to topic."""
    p = Producer({**conf, "linger.ms": 0, "message.timeout.ms": 10000})
    reports = []
    for v in values:
        p.produce(topic, v, partition=0, on_delivery=lambda err, msg: reports.append(err or msg))
    assert p.flush(timeout) == 0, "records neither delivered nor failed"
    return reports


def read_all(conf, topic, n, timeout=20):
    c = Consumer({**conf, "group.id": unique("reader"), "enable.auto.commit": False})
    try:
        c.assign([TopicPartition(topic, 0, 0)])
        got, deadline = [], time.monotonic() + timeout
        while len(got) < n and time.monotonic() < deadline:
            for m in c.consume(n - len(got), timeout=1):
                assert not m.error(), m.error()
                got.append(m.value())
        return got
    finally:
        c.close()


# ------------------------------------------------------------------ topics


def test_prefixed_write_allows_orders_and_refuses_payments(acl_broker):
    """WRITE on the prefix `orders.`: produce to orders.eu is delivered (and
    reads back); produce to payments fails with TOPIC_AUTHORIZATION_FAILED;
    a literal DENY on orders.secret wins over the prefixed ALLOW."""
    b = acl_broker
    create_user(b, "writer", "writer-pw")
    create_topics(b, "orders.eu", "payments", "orders.secret")
    grant(
        b,
        acl(ResourceType.TOPIC, "orders.", ResourcePatternType.PREFIXED, "User:writer", AclOperation.WRITE),
        acl(ResourceType.TOPIC, "orders.secret", ResourcePatternType.LITERAL, "User:writer", AclOperation.WRITE,
            AclPermissionType.DENY),
    )
    conf = ck_conf(b, "writer", "writer-pw")
    ok = produce_reports(conf, "orders.eu", [b"order-1", b"order-2"])
    assert [r.offset() if not isinstance(r, KafkaError) else r for r in ok] == [0, 1]
    assert read_all(ck_conf(b, ADMIN, ADMIN_PW), "orders.eu", 2) == [b"order-1", b"order-2"]

    for topic in ("payments", "orders.secret"):
        (r,) = produce_reports(conf, topic, [b"refused"])
        assert isinstance(r, KafkaError) and r.code() == KafkaError.TOPIC_AUTHORIZATION_FAILED, (topic, r)
    assert read_all(ck_conf(b, ADMIN, ADMIN_PW), "payments", 0) == []


def test_read_without_group_acl_gets_group_authorization_failed(acl_broker):
    """READ on a topic but nothing on the group: a group consumer gets
    GROUP_AUTHORIZATION_FAILED; once READ on the group is granted, the same
    user consumes in it."""
    b = acl_broker
    topic, group = unique("readable"), unique("group")
    create_user(b, "reader", "reader-pw")
    create_topics(b, topic)
    produce_reports(ck_conf(b, ADMIN, ADMIN_PW), topic, [b"a", b"b", b"c"])
    grant(b, acl(ResourceType.TOPIC, topic, ResourcePatternType.LITERAL, "User:reader", AclOperation.READ))

    errors = []
    conf = ck_conf(b, "reader", "reader-pw", error_cb=errors.append)
    c = Consumer({**conf, "group.id": group, "auto.offset.reset": "earliest"})
    try:
        c.subscribe([topic])
        deadline = time.monotonic() + 15
        seen = None
        while seen is None and time.monotonic() < deadline:
            m = c.poll(0.5)
            if m is not None and m.error() and m.error().code() == GROUP_AUTHORIZATION_FAILED:
                seen = m.error()
            assert m is None or m.error(), f"consumed {m.value()!r} without READ on the group"
            seen = seen or next((e for e in errors if e.code() == GROUP_AUTHORIZATION_FAILED), None)
        assert seen is not None, f"no GROUP_AUTHORIZATION_FAILED; errors seen: {errors}"
    finally:
        c.close()

    grant(b, acl(ResourceType.GROUP, group, ResourcePatternType.LITERAL, "User:reader", AclOperation.READ))
    c = Consumer({**ck_conf(b, "reader", "reader-pw"), "group.id": group, "auto.offset.reset": "earliest"})
    try:
        c.subscribe([topic])
        got, deadline = [], time.monotonic() + 20
        while len(got) < 3 and time.monotonic() < deadline:
            m = c.poll(0.5)
            if m is not None:
                assert not m.error(), m.error()
                got.append(m.value())
        assert got == [b"a", b"b", b"c"]
    finally:
        c.close()


def test_metadata_hides_undescribable_topics(acl_broker):
    """A user with DESCRIBE on one topic lists only that one (the super user
    lists all); asking for another by name gets TOPIC_AUTHORIZATION_FAILED,
    and asking for a missing one does not auto-create it."""
    b = acl_broker
    visible, hidden, missing = unique("visible"), unique("hidden"), unique("never-created")
    create_user(b, "describer", "describer-pw")
    create_topics(b, visible, hidden)
    grant(b, acl(ResourceType.TOPIC, visible, ResourcePatternType.LITERAL, "User:describer", AclOperation.DESCRIBE))

    a = admin_of(b, "describer", "describer-pw")
    names = set(a.list_topics(timeout=10).topics)
    assert visible in names and hidden not in names, sorted(names)
    md = a.list_topics(topic=hidden, timeout=10)
    assert md.topics[hidden].error is not None and md.topics[hidden].error.code() == TOPIC_AUTHORIZATION_FAILED
    p = Producer(ck_conf(b, "describer", "describer-pw", **{"message.timeout.ms": 3000}))
    p.produce(missing, b"x")
    p.flush(5)
    everything = set(admin_of(b).list_topics(timeout=10).topics)
    assert {visible, hidden} <= everything
    assert missing not in everything, "a user without CREATE auto-created a topic through Metadata"


# --------------------------------------------------------- cluster and users


def test_cluster_operations_need_cluster_acls_or_a_super_user(acl_broker):
    """A user without ACLs: CreateTopics → TOPIC_AUTHORIZATION_FAILED,
    CreateAcls, DescribeAcls and AlterUserScramCredentials →
    CLUSTER_AUTHORIZATION_FAILED. The second super user from
    SKIFF_SUPER_USERS may do all of it without any ACL; CREATE on the
    cluster lets the first user create topics."""
    b = acl_broker
    create_user(b, "nobody", "nobody-pw")
    create_user(b, OPS, OPS_PW)
    topic = unique("needs-create")
    a = admin_of(b, "nobody", "nobody-pw")
    assert error_code(a.create_topics([NewTopic(topic, 1, 1)])[topic]) == TOPIC_AUTHORIZATION_FAILED
    binding = acl(ResourceType.TOPIC, topic, ResourcePatternType.LITERAL, "User:nobody", AclOperation.ALL)
    assert error_code(a.create_acls([binding])[binding]) == CLUSTER_AUTHORIZATION_FAILED
    # Someone else's ACL, which the listing below must not show.
    grant(b, acl(ResourceType.TOPIC, topic, ResourcePatternType.LITERAL, "User:someone", AclOperation.READ))
    any_filter = AclBindingFilter(ResourceType.ANY, None, ResourcePatternType.ANY, None, None, AclOperation.ANY,
                                  AclPermissionType.ANY)
    # librdkafka drops DescribeAcls' error code (rd_kafka_DescribeAclsResponse_parse returns
    # no error whatever the broker said), so confluent-kafka shows an empty listing; the
    # code itself is read at the wire.
    assert a.describe_acls(any_filter).result(timeout=20) == []
    raw = SaslRawClient(b)
    try:
        assert raw.login("SCRAM-SHA-512", "nobody", "nobody-pw") == (0, None)
        body = struct.pack(">b", 1) + kstr(None) + struct.pack(">b", 1) + kstr(None) + kstr(None)
        resp = raw.request(29, 1, body + struct.pack(">bb", 1, 1))  # DescribeAcls v1: ANY everything
        _throttle, err = struct.unpack(">ih", resp[:6])
        assert err == CLUSTER_AUTHORIZATION_FAILED, err
    finally:
        raw.close()
    up = UserScramCredentialUpsertion("nobody", ScramCredentialInfo(ScramMechanism.SCRAM_SHA_512, 4096), b"mine")
    assert error_code(a.alter_user_scram_credentials([up])["nobody"]) == CLUSTER_AUTHORIZATION_FAILED
    assert raw_login(b, "SCRAM-SHA-512", "nobody", "nobody-pw") == (0, None), "a refused change took effect"

    ops = admin_of(b, OPS, OPS_PW)
    ops_topic = unique("by-ops")
    assert error_code(ops.create_topics([NewTopic(ops_topic, 1, 1)])[ops_topic]) == 0
    # confluent-kafka calls the Cluster resource (type 4) BROKER.
    grant_by_ops = acl(ResourceType.BROKER, "kafka-cluster", ResourcePatternType.LITERAL, "User:nobody",
                       AclOperation.CREATE)
    assert error_code(ops.create_acls([grant_by_ops])[grant_by_ops]) == 0
    assert error_code(a.create_topics([NewTopic(topic, 1, 1)])[topic]) == 0
    assert topic in admin_of(b).list_topics(timeout=10).topics


def test_admin_client_create_describe_delete_acls(acl_broker):
    """confluent-kafka's create_acls / describe_acls / delete_acls: what is
    created is described back exactly, filters select, what a filter deletes
    is returned, and a deleted ALLOW stops allowing."""
    b = acl_broker
    user = unique("acl-user")
    principal = f"User:{user}"
    create_user(b, user, "pw-acl")
    topic = unique("acl-api.topic")
    create_topics(b, topic)
    bindings = [
        acl(ResourceType.TOPIC, "acl-api.", ResourcePatternType.PREFIXED, principal, AclOperation.WRITE),
        acl(ResourceType.TOPIC, topic, ResourcePatternType.LITERAL, principal, AclOperation.READ),
        acl(ResourceType.TOPIC, topic, ResourcePatternType.LITERAL, principal, AclOperation.DELETE,
            AclPermissionType.DENY),
        acl(ResourceType.GROUP, "team-", ResourcePatternType.PREFIXED, principal, AclOperation.READ),
    ]
    grant(b, *bindings)
    a = admin_of(b)
    mine = AclBindingFilter(ResourceType.ANY, None, ResourcePatternType.ANY, principal, None, AclOperation.ANY,
                            AclPermissionType.ANY)
    assert sorted(a.describe_acls(mine).result(timeout=20)) == sorted(bindings)
    topics_only = AclBindingFilter(ResourceType.TOPIC, None, ResourcePatternType.ANY, principal, None,
                                   AclOperation.ANY, AclPermissionType.ANY)
    assert sorted(a.describe_acls(topics_only).result(timeout=20)) == sorted(bindings[:3])
    prefixed_topic = AclBindingFilter(ResourceType.TOPIC, None, ResourcePatternType.PREFIXED, principal, None,
                                      AclOperation.ANY, AclPermissionType.ANY)
    assert a.describe_acls(prefixed_topic).result(timeout=20) == [bindings[0]]
    # MATCH: every pattern that applies to this topic name.
    match = AclBindingFilter(ResourceType.TOPIC, topic, ResourcePatternType.MATCH, principal, None,
                             AclOperation.ANY, AclPermissionType.ANY)
    assert sorted(a.describe_acls(match).result(timeout=20)) == sorted(bindings[:3])

    conf = ck_conf(b, user, "pw-acl")
    (r,) = produce_reports(conf, topic, [b"allowed"])
    assert not isinstance(r, KafkaError), r
    deleted = a.delete_acls([prefixed_topic])[prefixed_topic].result(timeout=20)
    assert deleted == [bindings[0]]
    assert sorted(a.describe_acls(mine).result(timeout=20)) == sorted(bindings[1:])
    (r,) = produce_reports(conf, topic, [b"refused"])
    assert isinstance(r, KafkaError) and r.code() == KafkaError.TOPIC_AUTHORIZATION_FAILED, r
    everything_of_user = a.delete_acls([mine])[mine].result(timeout=20)
    assert sorted(everything_of_user) == sorted(bindings[1:])
    assert a.describe_acls(mine).result(timeout=20) == []


def test_admin_client_describe_and_alter_scram_credentials(acl_broker):
    """describe_user_scram_credentials / alter_user_scram_credentials: a
    user made with both mechanisms (and the iterations asked for) logs in
    with both; deleting one mechanism leaves the other; an unknown user is
    RESOURCE_NOT_FOUND; too few iterations are UNACCEPTABLE_CREDENTIAL."""
    b = acl_broker
    a = admin_of(b)
    user = unique("bob")
    ups = [
        UserScramCredentialUpsertion(user, ScramCredentialInfo(ScramMechanism.SCRAM_SHA_256, 8192), b"bob-pw"),
        UserScramCredentialUpsertion(user, ScramCredentialInfo(ScramMechanism.SCRAM_SHA_512, 4096), b"bob-pw",
                                     b"a salt of our own"),
    ]
    a.alter_user_scram_credentials(ups)[user].result(timeout=20)
    desc = a.describe_user_scram_credentials([user])[user].result(timeout=20)
    assert desc.user == user
    assert sorted((i.mechanism, i.iterations) for i in desc.scram_credential_infos) == [
        (ScramMechanism.SCRAM_SHA_256, 8192), (ScramMechanism.SCRAM_SHA_512, 4096)]
    assert raw_login(b, "SCRAM-SHA-256", user, "bob-pw") == (0, None)
    assert raw_login(b, "SCRAM-SHA-512", user, "bob-pw") == (0, None)

    everyone = a.describe_user_scram_credentials().result(timeout=20)
    assert {ADMIN, user} <= set(everyone)

    a.alter_user_scram_credentials([UserScramCredentialDeletion(user, ScramMechanism.SCRAM_SHA_256)])[user].result(
        timeout=20)
    desc = a.describe_user_scram_credentials([user])[user].result(timeout=20)
    assert [i.mechanism for i in desc.scram_credential_infos] == [ScramMechanism.SCRAM_SHA_512]
    assert raw_login(b, "SCRAM-SHA-256", user, "bob-pw")[0] == SASL_AUTHENTICATION_FAILED
    assert raw_login(b, "SCRAM-SHA-512", user, "bob-pw") == (0, None)

    ghost = unique("ghost")
    assert error_code(a.describe_user_scram_credentials([ghost])[ghost]) == RESOURCE_NOT_FOUND
    weak = UserScramCredentialUpsertion(ghost, ScramCredentialInfo(ScramMechanism.SCRAM_SHA_512, 1024), b"pw")
    assert error_code(a.alter_user_scram_credentials([weak])[ghost]) == UNACCEPTABLE_CREDENTIAL
    assert error_code(a.describe_user_scram_credentials([ghost])[ghost]) == RESOURCE_NOT_FOUND


def test_user_cli_with_the_broker_running(tmp_path):
    """`skiff-broker user add` (password on stdin) while the broker runs: the
    new user logs in within a few seconds; `user list` shows the users and
    their mechanisms, never a password; `--mechanism SCRAM-SHA-256` makes
    only that one; `user remove` locks the user out within a few seconds."""
    b = acl_broker_in(tmp_path)
    try:
        password = "carol's stdin password"
        r = user_cli(b, "add", "carol", password=password)
        assert r.returncode == 0, r
        assert password.encode() not in r.stdout + r.stderr
        wait_for_login(b, "SCRAM-SHA-512", "carol", password, expect=0)
        assert raw_login(b, "SCRAM-SHA-256", "carol", password) == (0, None)

        r = user_cli(b, "add", "dave", "--mechanism", "SCRAM-SHA-256", password="dave-pw")
        assert r.returncode == 0, r
        wait_for_login(b, "SCRAM-SHA-256", "dave", "dave-pw", expect=0)
        assert raw_login(b, "SCRAM-SHA-512", "dave", "dave-pw")[0] == SASL_AUTHENTICATION_FAILED

        r = user_cli(b, "list")
        assert r.returncode == 0, r
        out = r.stdout.decode()
        rows = {line.split()[0]: line for line in out.splitlines() if line.strip()}
        assert {"admin", "carol", "dave"} <= set(rows), out
        assert "SCRAM-SHA-256" in rows["carol"] and "SCRAM-SHA-512" in rows["carol"], out
        assert "SCRAM-SHA-256" in rows["dave"] and "SCRAM-SHA-512" not in rows["dave"], out
        assert password not in out and "dave-pw" not in out

        r = user_cli(b, "remove", "carol")
        assert r.returncode == 0, r
        wait_for_login(b, "SCRAM-SHA-512", "carol", password, expect=SASL_AUTHENTICATION_FAILED)
        r = user_cli(b, "list")
        assert "carol" not in r.stdout.decode()
        r = user_cli(b, "remove", "carol")
        assert r.returncode != 0 and b"carol" in r.stderr, r
        assert password not in "\n".join(log_lines(b))
        gc.collect()
        b.stop()
    finally:
        b.cleanup()


def wait_for_login(b, mechanism, user, password, expect, within=5.0):
    """Polls (every 0.5 s, few attempts: each failure counts against the
    address's limit) until a login gets `expect` (0 or an error code)."""
    deadline = time.monotonic() + within
    while True:
        err, msg = raw_login(b, mechanism, user, password)
        if err == expect:
            return
        assert time.monotonic() < deadline, f"{user} login still gives {err} ({msg}) after {within} s"
        time.sleep(0.5)


# ------------------------------------------------------------------ restart


def test_users_and_acls_survive_restart_and_kill(tmp_path):
    """Users made through the API and ACLs survive a SIGTERM restart and a
    SIGKILL right after they were made: the user logs in, describe_acls and
    describe_user_scram_credentials list the same. The bootstrap user is
    not overwritten by a start with another verifier for it (a rotated
    password stays rotated)."""
    b = acl_broker_in(tmp_path)
    try:
        create_user(b, "keeper", "keeper-pw")
        binding = acl(ResourceType.TOPIC, "orders.", ResourcePatternType.PREFIXED, "User:keeper", AclOperation.WRITE)
        grant(b, binding)

        def check(label, bindings):
            assert raw_login(b, "SCRAM-SHA-512", "keeper", "keeper-pw") == (0, None), label
            a = admin_of(b)
            assert sorted(a.describe_acls(KEEPER_ACLS).result(timeout=20)) == sorted(bindings), label
            desc = a.describe_user_scram_credentials(["keeper"])["keeper"].result(timeout=20)
            assert [i.mechanism for i in desc.scram_credential_infos] == [ScramMechanism.SCRAM_SHA_512], label

        check("before", [binding])
        gc.collect()
        b.extra_env["SKIFF_BOOTSTRAP_USER"] = bootstrap_user(ADMIN, "SCRAM-SHA-512", "another-password")
        b.restart()
        check("after SIGTERM", [binding])
        assert raw_login(b, "SCRAM-SHA-512", ADMIN, ADMIN_PW) == (0, None)
        assert raw_login(b, "SCRAM-SHA-512", ADMIN, "another-password")[0] == SASL_AUTHENTICATION_FAILED

        second = acl(ResourceType.TOPIC, "payments", ResourcePatternType.LITERAL, "User:keeper", AclOperation.READ)
        grant(b, second)
        a = admin_of(b)
        a.alter_user_scram_credentials([UserScramCredentialUpsertion(
            "late", ScramCredentialInfo(ScramMechanism.SCRAM_SHA_256, 4096), b"late-pw")])["late"].result(timeout=20)
        del a
        gc.collect()
        b.kill()
        b.start()
        check("after SIGKILL", [binding, second])
        assert raw_login(b, "SCRAM-SHA-256", "late", "late-pw") == (0, None), "a user made just before SIGKILL is lost"
        gc.collect()
        b.stop()
    finally:
        b.cleanup()


KEEPER_ACLS = AclBindingFilter(ResourceType.ANY, None, ResourcePatternType.ANY, "User:keeper", None, AclOperation.ANY,
                               AclPermissionType.ANY)


def test_acls_still_enforced_after_restart(tmp_path):
    """After a restart the persisted ACLs still decide: WRITE on `orders.`
    lets the user produce to orders.kept and not to payments."""
    b = acl_broker_in(tmp_path)
    try:
        create_user(b, "keeper", "keeper-pw")
        create_topics(b, "orders.kept", "payments")
        grant(b, acl(ResourceType.TOPIC, "orders.", ResourcePatternType.PREFIXED, "User:keeper", AclOperation.WRITE))
        gc.collect()
        b.restart()
        conf = ck_conf(b, "keeper", "keeper-pw")
        (r,) = produce_reports(conf, "orders.kept", [b"kept"])
        assert not isinstance(r, KafkaError), r
        (r,) = produce_reports(conf, "payments", [b"refused"])
        assert isinstance(r, KafkaError) and r.code() == KafkaError.TOPIC_AUTHORIZATION_FAILED, r
        gc.collect()
        b.stop()
    finally:
        b.cleanup()


# ------------------------------------------------------------ transactions


def test_transactional_id_acls(acl_broker):
    """A transactional producer needs WRITE on its TransactionalId (and on
    the topic): without it init_transactions fails with
    TRANSACTIONAL_ID_AUTHORIZATION_FAILED; with a prefixed grant it commits,
    and a read_committed consumer of that user sees the records."""
    b = acl_broker
    user, pw = unique("txuser"), "tx-secret-3"
    create_user(b, user, pw)
    topic = unique("txacl")
    create_topics(b, topic)
    grant(b, acl(ResourceType.TOPIC, topic, ResourcePatternType.LITERAL, f"User:{user}", AclOperation.WRITE),
          acl(ResourceType.TOPIC, topic, ResourcePatternType.LITERAL, f"User:{user}", AclOperation.READ))
    conf = ck_conf(b, user, pw)
    denied = Producer({**conf, "transactional.id": "app-1"})
    with pytest.raises(KafkaException) as e:
        denied.init_transactions(20)
    assert e.value.args[0].code() == KafkaError.TRANSACTIONAL_ID_AUTHORIZATION_FAILED, e.value
    grant(b, acl(ResourceType.TRANSACTIONAL_ID, "app-", ResourcePatternType.PREFIXED, f"User:{user}",
                 AclOperation.WRITE))
    p = Producer({**conf, "transactional.id": "app-2"})
    p.init_transactions(20)
    p.begin_transaction()
    p.produce(topic, b"in-txn", partition=0)
    p.commit_transaction(20)
    grant(b, acl(ResourceType.GROUP, "reader-", ResourcePatternType.PREFIXED, f"User:{user}", AclOperation.READ))
    assert read_all({**conf, "isolation.level": "read_committed"}, topic, 1) == [b"in-txn"]
