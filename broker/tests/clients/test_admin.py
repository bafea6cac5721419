"""Topic administration through confluent-kafka's AdminClient and
kafka-python's KafkaAdminClient."""

import time

import pytest
from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import (
    AlterConfigOpType,
    ConfigEntry,
    ConfigResource,
    ConfigSource,
    NewPartitions,
    NewTopic,
)

from helpers import admin, consume_n, create_topic, produce_ok, producer

KAFKA_TOPIC_DEFAULTS = {
    "retention.ms": "604800000",
    "retention.bytes": "-1",
    "max.message.bytes": "1048588",
    "message.timestamp.type": "CreateTime",
    "cleanup.policy": "delete",
    "segment.bytes": "1073741824",
    "segment.ms": "604800000",
}


def describe_topic_configs(a, name):
    res = ConfigResource(ConfigResource.Type.TOPIC, name)
    return a.describe_configs([res], request_timeout=10)[res].result(timeout=15)


def partition_count(a, name):
    md = a.list_topics(topic=name, timeout=10)
    t = md.topics[name]
    assert t.error is None, f"metadata error for {name}: {t.error}"
    return len(t.partitions)


def create_error(a, topic: NewTopic, **kw):
    """Runs one CreateTopics and returns the KafkaError code it failed with
    (None if it succeeded)."""
    fut = a.create_topics([topic], request_timeout=15, **kw)[topic.topic]
    try:
        fut.result(timeout=20)
        return None
    except KafkaException as e:
        return e.args[0].code()


def test_create_list_describe_topics(broker, topic_name):
    """Topics created with partition counts and config overrides appear in
    Metadata with those partitions, and DescribeConfigs shows the overrides
    as dynamic topic configs and Kafka's defaults for everything else."""
    a = admin(broker)
    t1, t2 = topic_name + "-a", topic_name + "-b"
    futs = a.create_topics(
        [
            NewTopic(t1, num_partitions=3, replication_factor=1, config={"retention.ms": "3600000"}),
            NewTopic(t2, num_partitions=1, replication_factor=-1, config={"max.message.bytes": "2000"}),
        ],
        request_timeout=15,
    )
    for f in futs.values():
        f.result(timeout=20)

    md = a.list_topics(timeout=10)
    assert {t1, t2} <= set(md.topics)
    assert partition_count(a, t1) == 3
    assert partition_count(a, t2) == 1
    assert len(md.brokers) == 1
    (b,) = md.brokers.values()
    assert (b.host, b.port) == ("127.0.0.1", broker.port)
    for p in md.topics[t1].partitions.values():
        assert p.leader == b.id and list(p.replicas) == [b.id] and list(p.isrs) == [b.id]

    c1 = describe_topic_configs(a, t1)
    for k, v in KAFKA_TOPIC_DEFAULTS.items():
        assert k in c1, f"{k} missing from DescribeConfigs: {sorted(c1)}"
    assert c1["retention.ms"].value == "3600000"
    assert c1["retention.ms"].source == ConfigSource.DYNAMIC_TOPIC_CONFIG.value
    assert not c1["retention.ms"].is_default
    for k, v in KAFKA_TOPIC_DEFAULTS.items():
        if k != "retention.ms":
            assert c1[k].value == v, f"{k}={c1[k].value}, Kafka default is {v}"
            assert c1[k].is_default, f"{k} should be reported as default"

    c2 = describe_topic_configs(a, t2)
    assert c2["max.message.bytes"].value == "2000"
    assert c2["retention.ms"].value == KAFKA_TOPIC_DEFAULTS["retention.ms"]


def test_describe_configs_unknown_topic(broker, topic_name):
    """DescribeConfigs of a topic that does not exist fails with
    UNKNOWN_TOPIC_OR_PARTITION rather than inventing defaults."""
    a = admin(broker)
    res = ConfigResource(ConfigResource.Type.TOPIC, topic_name + "-missing")
    with pytest.raises(KafkaException) as e:
        a.describe_configs([res], request_timeout=10)[res].result(timeout=15)
    assert e.value.args[0].code() == KafkaError.UNKNOWN_TOPIC_OR_PART


def test_alter_configs_and_incremental_alter_configs(broker, topic_name):
    """AlterConfigs replaces a topic's override set; IncrementalAlterConfigs
    SET adds one and DELETE reverts one to Kafka's default."""
    a = admin(broker)
    create_topic(broker, topic_name, config={"retention.ms": "1000000"})

    # Full replace (AlterConfigs): retention.ms is dropped, segment.ms set.
    res = ConfigResource(ConfigResource.Type.TOPIC, topic_name, set_config={"segment.ms": "7200000"})
    a.alter_configs([res], request_timeout=10)[res].result(timeout=15)
    c = describe_topic_configs(a, topic_name)
    assert c["segment.ms"].value == "7200000" and not c["segment.ms"].is_default
    assert c["retention.ms"].value == KAFKA_TOPIC_DEFAULTS["retention.ms"]
    assert c["retention.ms"].is_default

    # Incremental SET keeps segment.ms and adds retention.bytes.
    res = ConfigResource(
        ConfigResource.Type.TOPIC,
        topic_name,
        incremental_configs=[ConfigEntry("retention.bytes", "123456789", incremental_operation=AlterConfigOpType.SET)],
    )
    a.incremental_alter_configs([res], request_timeout=10)[res].result(timeout=15)
    c = describe_topic_configs(a, topic_name)
    assert c["retention.bytes"].value == "123456789"
    assert c["segment.ms"].value == "7200000"

    # Incremental DELETE reverts segment.ms to the default.
    res = ConfigResource(
        ConfigResource.Type.TOPIC,
        topic_name,
        incremental_configs=[ConfigEntry("segment.ms", None, incremental_operation=AlterConfigOpType.DELETE)],
    )
    a.incremental_alter_configs([res], request_timeout=10)[res].result(timeout=15)
    c = describe_topic_configs(a, topic_name)
    assert c["segment.ms"].value == KAFKA_TOPIC_DEFAULTS["segment.ms"] and c["segment.ms"].is_default
    assert c["retention.bytes"].value == "123456789"

    # An invalid value is refused and changes nothing.
    res = ConfigResource(
        ConfigResource.Type.TOPIC,
        topic_name,
        incremental_configs=[ConfigEntry("cleanup.policy", "compact", incremental_operation=AlterConfigOpType.SET)],
    )
    with pytest.raises(KafkaException) as e:
        a.incremental_alter_configs([res], request_timeout=10)[res].result(timeout=15)
    assert e.value.args[0].code() == KafkaError.INVALID_CONFIG
    assert describe_topic_configs(a, topic_name)["cleanup.policy"].value == "delete"


def test_altered_max_message_bytes_takes_effect(broker, topic_name):
    """Lowering max.message.bytes with IncrementalAlterConfigs applies to the
    next produce without a restart."""
    a = admin(broker)
    create_topic(broker, topic_name)
    p = producer(broker)
    produce_ok(p, topic_name, [{"value": b"x" * 3000}])
    res = ConfigResource(
        ConfigResource.Type.TOPIC,
        topic_name,
        incremental_configs=[ConfigEntry("max.message.bytes", "1000", incremental_operation=AlterConfigOpType.SET)],
    )
    a.incremental_alter_configs([res], request_timeout=10)[res].result(timeout=15)
    from helpers import produce_all

    (r,) = produce_all(producer(broker), topic_name, [{"value": b"x" * 3000}])
    assert isinstance(r, KafkaError) and r.code() == KafkaError.MSG_SIZE_TOO_LARGE, r


def test_create_partitions(broker, topic_name):
    """CreatePartitions grows a topic; the new partition takes records; a
    decrease is refused with INVALID_PARTITIONS."""
    a = admin(broker)
    create_topic(broker, topic_name, partitions=2)
    a.create_partitions([NewPartitions(topic_name, 5)], request_timeout=10)[topic_name].result(timeout=15)
    deadline = time.monotonic() + 10
    while partition_count(a, topic_name) != 5 and time.monotonic() < deadline:
        time.sleep(0.2)
    assert partition_count(a, topic_name) == 5
    (m,) = produce_ok(producer(broker), topic_name, [{"value": b"into-4"}], partition=4)
    assert (m.partition(), m.offset()) == (4, 0)
    (got,) = consume_n(broker, topic_name, 1, partitions=(4,))
    assert got.value() == b"into-4"

    with pytest.raises(KafkaException) as e:
        a.create_partitions([NewPartitions(topic_name, 3)], request_timeout=10)[topic_name].result(timeout=15)
    assert e.value.args[0].code() == KafkaError.INVALID_PARTITIONS
    assert partition_count(a, topic_name) == 5


def test_delete_one_topic_keeps_the_others(broker, topic_name):
    """DeleteTopics removes exactly the named topic: the others keep their
    records, and the deleted name can be created again, empty."""
    a = admin(broker)
    names = [f"{topic_name}-{i}" for i in range(3)]
    for n in names:
        create_topic(broker, n)
    p = producer(broker)
    for n in names:
        produce_ok(p, n, [{"value": n.encode()}])
    a.delete_topics([names[1]], request_timeout=10)[names[1]].result(timeout=15)
    deadline = time.monotonic() + 10
    while names[1] in a.list_topics(timeout=10).topics and time.monotonic() < deadline:
        time.sleep(0.2)
    topics = a.list_topics(timeout=10).topics
    assert names[1] not in topics
    assert names[0] in topics and names[2] in topics
    for n in (names[0], names[2]):
        (m,) = consume_n(broker, n, 1)
        assert m.value() == n.encode()

    # Re-created under the same name: starts empty at offset 0.
    create_topic(broker, names[1])
    (m,) = produce_ok(p, names[1], [{"value": b"again"}])
    assert m.offset() == 0
    (got,) = consume_n(broker, names[1], 1)
    assert got.value() == b"again"


def test_delete_unknown_topic(broker, topic_name):
    a = admin(broker)
    with pytest.raises(KafkaException) as e:
        a.delete_topics([topic_name], request_timeout=10)[topic_name].result(timeout=15)
    assert e.value.args[0].code() == KafkaError.UNKNOWN_TOPIC_OR_PART


def test_create_topic_errors(broker, topic_name):
    """TOPIC_ALREADY_EXISTS, INVALID_REPLICATION_FACTOR, INVALID_CONFIG for
    cleanup.policy=compact, and validate_only creating nothing."""
    a = admin(broker)
    create_topic(broker, topic_name, partitions=2)
    assert create_error(a, NewTopic(topic_name, 4, 1)) == KafkaError.TOPIC_ALREADY_EXISTS
    assert partition_count(a, topic_name) == 2, "a failed re-create must not change the topic"

    rf3 = topic_name + "-rf3"
    assert create_error(a, NewTopic(rf3, 1, 3)) == KafkaError.INVALID_REPLICATION_FACTOR
    compact = topic_name + "-compact"
    assert create_error(a, NewTopic(compact, 1, 1, config={"cleanup.policy": "compact"})) == KafkaError.INVALID_CONFIG
    bad_value = topic_name + "-badvalue"
    assert (
        create_error(a, NewTopic(bad_value, 1, 1, config={"retention.ms": "not-a-number"})) == KafkaError.INVALID_CONFIG
    )
    zero = topic_name + "-zero"
    assert create_error(a, NewTopic(zero, 0, 1)) == KafkaError.INVALID_PARTITIONS

    dry = topic_name + "-dry"
    assert create_error(a, NewTopic(dry, 3, 1), validate_only=True) is None
    # validate_only still validates.
    assert create_error(a, NewTopic(dry, 1, 3), validate_only=True) == KafkaError.INVALID_REPLICATION_FACTOR

    topics = a.list_topics(timeout=10).topics
    for n in (rf3, compact, bad_value, zero, dry):
        # list_topics() without a topic never auto-creates.
        assert n not in topics, f"{n} must not have been created"


def test_describe_cluster(broker):
    a = admin(broker)
    d = a.describe_cluster(request_timeout=10).result(timeout=15)
    assert d.cluster_id == "skiff"
    assert len(d.nodes) == 1
    assert (d.nodes[0].host, d.nodes[0].port) == ("127.0.0.1", broker.port)
    assert d.controller is not None and d.controller.id == d.nodes[0].id


def test_kafka_python_admin(broker, topic_name):
    """kafka-python's KafkaAdminClient: create (with configs), list, describe
    configs, alter configs, create partitions, delete, describe cluster."""
    from kafka.admin import ConfigResource as KConfigResource
    from kafka.admin import ConfigResourceType, KafkaAdminClient
    from kafka.admin import NewPartitions as KNewPartitions
    from kafka.admin import NewTopic as KNewTopic
    from kafka.errors import TopicAlreadyExistsError

    a = KafkaAdminClient(bootstrap_servers=broker.bootstrap, request_timeout_ms=15000)
    try:
        keep = topic_name + "-keep"
        a.create_topics(
            [
                KNewTopic(topic_name, 2, 1, topic_configs={"retention.ms": "5000000"}),
                KNewTopic(keep, 1, 1),
            ],
            timeout_ms=10000,
        )
        assert {topic_name, keep} <= set(a.list_topics())

        with pytest.raises(TopicAlreadyExistsError):
            a.create_topics([KNewTopic(keep, 1, 1)], timeout_ms=10000, raise_errors=True)

        def configs(name):
            got = a.describe_configs([KConfigResource(ConfigResourceType.TOPIC, name)], config_filter="all")
            return {k: v["value"] for k, v in got["topic"][name].items()}

        c = configs(topic_name)
        assert c["retention.ms"] == "5000000"
        assert c["cleanup.policy"] == "delete"

        a.alter_configs([KConfigResource(ConfigResourceType.TOPIC, topic_name, configs={"retention.ms": "6000000"})])
        assert configs(topic_name)["retention.ms"] == "6000000"

        a.create_partitions({topic_name: KNewPartitions(4)})
        md = a.describe_topics([topic_name])
        assert len(md[0]["partitions"]) == 4

        a.delete_topics([topic_name], timeout_ms=10000)
        deadline = time.monotonic() + 10
        while topic_name in a.list_topics() and time.monotonic() < deadline:
            time.sleep(0.2)
        topics = set(a.list_topics())
        assert topic_name not in topics and keep in topics

        cluster = a.describe_cluster()
        assert cluster["cluster_id"] == "skiff"
        assert [(b["host"], b["port"]) for b in cluster["brokers"]] == [("127.0.0.1", broker.port)]
    finally:
        a.close()
