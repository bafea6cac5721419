"""Edge cases a client runs into: fetching inside a batch, fetch size
limits, out-of-range offsets, topic name and config validation, topic ids,
broker configs, state surviving restarts."""

import struct

import pytest
from confluent_kafka import KafkaError, KafkaException, TopicCollection
from confluent_kafka.admin import AlterConfigOpType, ConfigEntry, ConfigResource, ConfigSource, NewPartitions, NewTopic

from helpers import RawClient, admin, consume_n, create_topic, kp_consume_n, kstr, produce_ok, producer, record_batch

OFFSET_OUT_OF_RANGE = 1
INVALID_REQUIRED_ACKS = 21


def test_consume_from_the_middle_of_a_batch(broker, topic_name):
    """Ten records in one batch; assigning at offset 6 yields exactly 6..9
    (both clients), though the broker serves the whole batch."""
    create_topic(broker, topic_name)
    p = producer(broker, **{"linger.ms": 500})
    produce_ok(p, topic_name, [{"value": b"mid-%d" % i} for i in range(10)])
    got = consume_n(broker, topic_name, 4, offset=6)
    assert [(m.offset(), m.value()) for m in got] == [(i, b"mid-%d" % i) for i in range(6, 10)]

    from kafka import KafkaConsumer
    from kafka import TopicPartition as KTP

    kc = KafkaConsumer(bootstrap_servers=broker.bootstrap, group_id=None, consumer_timeout_ms=1000)
    try:
        tp = KTP(topic_name, 0)
        kc.assign([tp])
        kc.seek(tp, 6)
        recs = []
        for _ in range(10):
            for rs in kc.poll(timeout_ms=500).values():
                recs.extend(rs)
            if len(recs) >= 4:
                break
        assert [(r.offset, r.value) for r in recs] == [(i, b"mid-%d" % i) for i in range(6, 10)]
    finally:
        kc.close()


def test_fetch_returns_a_batch_larger_than_max_bytes(broker, topic_name):
    """KIP-74: a batch larger than the fetch's max bytes still comes back
    whole (so a consumer with small fetch limits makes progress)."""
    create_topic(broker, topic_name)
    big = b"B" * 200_000
    produce_ok(producer(broker), topic_name, [{"value": big}, {"value": b"after"}])
    c = RawClient(broker)
    try:
        body = (
            struct.pack(">iiiib", -1, 100, 1, 1000, 0)
            + struct.pack(">i", 1)
            + struct.pack(">h", len(topic_name))
            + topic_name.encode()
            + struct.pack(">i", 1)
            + struct.pack(">iqi", 0, 0, 1000)
        )
        err, hwm, recs = c.parse_fetch_v4(c.request(1, 4, body))
        assert err == 0 and hwm == 2
        assert len(recs) > 200_000, f"fetch with max bytes 1000 returned {len(recs)} bytes"
    finally:
        c.close()
    got = consume_n(
        broker,
        topic_name,
        2,
        **{
            "fetch.max.bytes": 1000,
            "message.max.bytes": 1000,
            "max.partition.fetch.bytes": 1000,
            "receive.message.max.bytes": 300_000,
        },
    )
    assert [m.value() for m in got] == [big, b"after"]


def test_fetch_out_of_range(broker, topic_name):
    """Fetch past the end answers OFFSET_OUT_OF_RANGE; a confluent consumer
    assigned there with auto.offset.reset=earliest starts over at 0."""
    create_topic(broker, topic_name)
    produce_ok(producer(broker), topic_name, [{"value": b"r%d" % i} for i in range(3)])
    c = RawClient(broker)
    try:
        err, hwm, recs = c.parse_fetch_v4(c.request(1, 4, c.fetch_body(topic_name, 0, 50, 100)))
        assert err == OFFSET_OUT_OF_RANGE and recs == b""
        err, hwm, recs = c.parse_fetch_v4(c.request(1, 4, c.fetch_body(topic_name, 0, -5, 100)))
        assert err == OFFSET_OUT_OF_RANGE
        # Fetching exactly at the high watermark is not out of range.
        err, hwm, recs = c.parse_fetch_v4(c.request(1, 4, c.fetch_body(topic_name, 0, 3, 100)))
        assert (err, hwm, recs) == (0, 3, b"")
    finally:
        c.close()
    got = consume_n(broker, topic_name, 3, offset=50, **{"auto.offset.reset": "earliest"})
    assert [m.offset() for m in got] == [0, 1, 2]


def test_invalid_acks_refused(broker, topic_name):
    create_topic(broker, topic_name)
    c = RawClient(broker)
    try:
        err, _ = c.produce(topic_name, 0, record_batch([(None, b"x", [])]), acks=2)
        assert err == INVALID_REQUIRED_ACKS
        assert c.high_watermark(topic_name, 0) == 0
    finally:
        c.close()


@pytest.mark.parametrize("name", ["has space", "slash/name", "..", "x" * 250, ""])
def test_invalid_topic_names_refused(shared_broker, name):
    """Names Kafka refuses (illegal characters, '..', more than 249 chars,
    empty) fail with INVALID_TOPIC_EXCEPTION and create nothing."""
    a = admin(shared_broker)
    try:
        fut = a.create_topics([NewTopic(name, 1, 1)], request_timeout=10)[name]
    except (ValueError, KafkaException) as e:  # refused client-side
        pytest.fail(f"client refused {name!r} before asking the broker: {e}")
    with pytest.raises(KafkaException) as e:
        fut.result(timeout=15)
    assert e.value.args[0].code() == KafkaError.TOPIC_EXCEPTION, e.value
    assert name not in a.list_topics(timeout=10).topics


def test_unknown_and_malformed_configs_refused(broker, topic_name):
    """CreateTopics with an unknown config name or a value of the wrong type
    is refused with INVALID_CONFIG; nothing is created."""
    a = admin(broker)
    cases = {
        "-unknown": {"no.such.config": "1"},
        "-ts-type": {"message.timestamp.type": "WallClock"},
        "-neg-size": {"max.message.bytes": "-5"},
    }
    for suffix, cfg in cases.items():
        name = topic_name + suffix
        fut = a.create_topics([NewTopic(name, 1, 1, config=cfg)], request_timeout=10)[name]
        with pytest.raises(KafkaException) as e:
            fut.result(timeout=15)
        assert e.value.args[0].code() == KafkaError.INVALID_CONFIG, f"{cfg}: {e.value}"
    topics = a.list_topics(timeout=10).topics
    assert not [n for n in topics if n.startswith(topic_name)]


def test_describe_topics_with_topic_id(broker, topic_name):
    """AdminClient.describe_topics (Metadata v12): partitions, leader, and a
    non-zero topic id that stays the same across a restart."""
    create_topic(broker, topic_name, partitions=2)

    def describe():
        a = admin(broker)
        return a.describe_topics(TopicCollection([topic_name]), request_timeout=10)[topic_name].result(timeout=15)

    d = describe()
    assert d.name == topic_name
    assert [p.id for p in d.partitions] == [0, 1]
    assert all(p.leader.id == 0 for p in d.partitions)
    tid = str(d.topic_id)
    assert tid and tid != "AAAAAAAAAAAAAAAAAAAAAA", f"topic id {tid}"
    broker.restart()
    assert str(describe().topic_id) == tid, "topic id changed across a restart"


def test_describe_broker_configs(tmp_path):
    """DescribeConfigs of the broker resource (by node id, from both admin
    clients) answers Skiff's settings under their Kafka names, read-only:
    a setting given at start-up as STATIC_BROKER_CONFIG, one left at its
    default as DEFAULT_CONFIG. Another node id is refused; an unsupported
    resource type (a consumer group) is refused per resource, not by closing
    the connection."""
    from conftest import Broker

    broker = Broker(tmp_path, env={"SKIFF_NUM_PARTITIONS": "3"})
    broker.start()
    try:
        a = admin(broker)
        res = ConfigResource(ConfigResource.Type.BROKER, "0")
        configs = a.describe_configs([res], request_timeout=10)[res].result(timeout=15)
        num = configs["num.partitions"]
        assert (num.value, num.source, num.is_read_only) == ("3", ConfigSource.STATIC_BROKER_CONFIG.value, True)
        auto = configs["auto.create.topics.enable"]
        assert (auto.value, auto.source) == ("true", ConfigSource.DEFAULT_CONFIG.value)
        assert configs["advertised.listeners"].value == f"PLAINTEXT://127.0.0.1:{broker.port}"
        assert configs["listeners"].source == ConfigSource.STATIC_BROKER_CONFIG.value
        assert configs["log.retention.ms"].value == "604800000"
        assert configs["message.max.bytes"].value == "1048588"
        assert configs["socket.request.max.bytes"].value == "104857600"
        assert configs["broker.id"].value == configs["node.id"].value == "0"
        assert configs["log.dirs"].value == str(tmp_path)
        assert all(c.is_read_only for c in configs.values())

        # Another node id (librdkafka would send that to node 5; raw here):
        # DescribeConfigs v1, one resource (4, "5"), all keys, no synonyms.
        raw = RawClient(broker)
        try:
            body = struct.pack(">ib", 1, 4) + kstr("5") + struct.pack(">ib", -1, 0)
            resp = raw.request(32, 1, body)
            _throttle, n, code, msg_len = struct.unpack(">iihh", resp[:12])
            assert (n, code) == (1, 42)  # INVALID_REQUEST
            assert b"not this broker" in resp[12 : 12 + msg_len]
        finally:
            raw.close()
        group = ConfigResource(ConfigResource.Type.GROUP, "g")
        with pytest.raises(KafkaException):
            a.describe_configs([group], request_timeout=10)[group].result(timeout=15)
        assert a.list_topics(timeout=10) is not None

        from kafka.admin import ConfigResource as KConfigResource
        from kafka.admin import ConfigResourceType, KafkaAdminClient

        ka = KafkaAdminClient(bootstrap_servers=broker.bootstrap)
        try:
            got = ka.describe_configs([KConfigResource(ConfigResourceType.BROKER, "0")], config_filter="all")
            num = got["broker"]["0"]["num.partitions"]
            assert (num["value"], num["config_source"], num["read_only"]) == ("3", "STATIC_BROKER_CONFIG", True)
        finally:
            ka.close()
    finally:
        broker.stop()


def test_admin_changes_survive_restart(broker, topic_name):
    """CreatePartitions, IncrementalAlterConfigs and DeleteTopics done before
    a SIGTERM restart are all still in effect after it; kafka-python reads the
    records of every partition."""
    a = admin(broker)
    gone = topic_name + "-gone"
    create_topic(broker, topic_name, partitions=1)
    create_topic(broker, gone)
    a.create_partitions([NewPartitions(topic_name, 3)], request_timeout=10)[topic_name].result(timeout=15)
    res = ConfigResource(
        ConfigResource.Type.TOPIC,
        topic_name,
        incremental_configs=[ConfigEntry("retention.bytes", "777777", incremental_operation=AlterConfigOpType.SET)],
    )
    a.incremental_alter_configs([res], request_timeout=10)[res].result(timeout=15)
    a.delete_topics([gone], request_timeout=10)[gone].result(timeout=15)
    produce_ok(producer(broker), topic_name, [{"partition": i % 3, "value": b"p%d" % i} for i in range(9)])

    broker.restart()

    a = admin(broker)
    md = a.list_topics(timeout=10)
    assert len(md.topics[topic_name].partitions) == 3
    assert gone not in md.topics
    res = ConfigResource(ConfigResource.Type.TOPIC, topic_name)
    cfg = a.describe_configs([res], request_timeout=10)[res].result(timeout=15)
    assert cfg["retention.bytes"].value == "777777"
    got = kp_consume_n(broker, topic_name, 9, partitions=(0, 1, 2))
    assert sorted(r.value for r in got) == sorted(b"p%d" % i for i in range(9))


def test_idempotent_retry_of_an_older_batch(broker, topic_name):
    """Kafka remembers the last 5 batches of each producer: a retry of the
    second-to-last batch (after a lost response with max.in.flight > 1) is
    answered with its original offset and not stored again."""
    create_topic(broker, topic_name)
    c = RawClient(broker)
    try:
        err, pid, epoch = c.init_producer_id()
        assert err == 0
        batches = [
            record_batch([(None, b"s%d" % s, [])], producer_id=pid, producer_epoch=epoch, base_sequence=s)
            for s in range(3)
        ]
        for s, b in enumerate(batches):
            assert c.produce(topic_name, 0, b) == (0, s)
        err, base = c.produce(topic_name, 0, batches[1])
        hwm = c.high_watermark(topic_name, 0)
        assert hwm == 3, "the retried batch was stored again"
        assert (err, base) == (0, 1), f"retry of sequence 1 answered with error {err}, base offset {base}"
    finally:
        c.close()


def test_idempotent_state_survives_restart(broker, topic_name):
    """After a restart the broker still knows the producer's last sequence:
    a retry of the last batch is not stored twice, and the next sequence is
    accepted."""
    create_topic(broker, topic_name)
    c = RawClient(broker)
    err, pid, epoch = c.init_producer_id()
    b0 = record_batch([(None, b"first", [])], producer_id=pid, producer_epoch=epoch, base_sequence=0)
    assert c.produce(topic_name, 0, b0) == (0, 0)
    c.close()
    broker.restart()
    c = RawClient(broker)
    try:
        err, base = c.produce(topic_name, 0, b0)
        assert c.high_watermark(topic_name, 0) == 1, "retry after restart stored twice"
        assert err == 0 and base == 0, (err, base)
        b1 = record_batch([(None, b"second", [])], producer_id=pid, producer_epoch=epoch, base_sequence=1)
        assert c.produce(topic_name, 0, b1) == (0, 1)
        err2, pid2, _ = c.init_producer_id()
        assert err2 == 0 and pid2 != pid, "producer id reused after restart"
    finally:
        c.close()


def test_consumer_does_not_auto_create(broker, topic_name):
    """Consumers ask Metadata with allow_auto_topic_creation=false: assigning
    a missing topic must not create it (Kafka creates only for producers /
    plain Metadata requests)."""
    from confluent_kafka import TopicPartition

    from helpers import consumer

    c = consumer(broker, **{"allow.auto.create.topics": False, "topic.metadata.refresh.interval.ms": 500})
    try:
        c.assign([TopicPartition(topic_name, 0, 0)])
        for _ in range(6):
            c.poll(0.25)
    finally:
        c.close()
    # (kafka-python 3.0.12 is not checked here: its consumer sends
    # allow_auto_topic_creation=true whatever allow_auto_create_topics says.)
    # On the wire: Metadata v4 and v12 with allow_auto_topic_creation=false.
    rc = RawClient(broker)
    try:
        for v in (4, 12):
            if v < 9:
                body = struct.pack(">i", 1) + struct.pack(">h", len(topic_name)) + topic_name.encode() + b"\x00"
            else:  # flexible: compact array, uuid, compact nullable string, tagged fields
                n = (topic_name + "-v12").encode()
                body = b"\x02" + b"\x00" * 16 + bytes([len(n) + 1]) + n + b"\x00" + b"\x00" + b"\x00" + b"\x00"
            rc.request(3, v, body, flexible=v >= 9)
    finally:
        rc.close()
    topics = admin(broker).list_topics(timeout=10).topics
    assert topic_name not in topics, "a consumer's metadata request created the topic"
    assert topic_name + "-v12" not in topics, "Metadata v12 with allow_auto_topic_creation=false created the topic"


def test_validate_only_alter_configs_changes_nothing(broker, topic_name):
    a = admin(broker)
    create_topic(broker, topic_name, config={"retention.ms": "1000000"})
    res = ConfigResource(ConfigResource.Type.TOPIC, topic_name, set_config={"retention.ms": "2000000"})
    a.alter_configs([res], request_timeout=10, validate_only=True)[res].result(timeout=15)
    res = ConfigResource(
        ConfigResource.Type.TOPIC,
        topic_name,
        incremental_configs=[ConfigEntry("segment.ms", "5000000", incremental_operation=AlterConfigOpType.SET)],
    )
    a.incremental_alter_configs([res], request_timeout=10, validate_only=True)[res].result(timeout=15)
    a.create_partitions([NewPartitions(topic_name, 4)], request_timeout=10, validate_only=True)[topic_name].result(
        timeout=15
    )
    r = ConfigResource(ConfigResource.Type.TOPIC, topic_name)
    cfg = a.describe_configs([r], request_timeout=10)[r].result(timeout=15)
    assert cfg["retention.ms"].value == "1000000"
    assert cfg["segment.ms"].is_default
    assert len(a.list_topics(timeout=10).topics[topic_name].partitions) == 1


def test_create_topic_with_default_partitions(tmp_path, topic_name):
    """CreateTopics with num_partitions=-1 and replication_factor=-1 (v4+)
    takes the broker's default partition count."""
    from conftest import Broker

    b = Broker(tmp_path, env={"SKIFF_NUM_PARTITIONS": "4"})
    b.start()
    try:
        a = admin(b)
        a.create_topics([NewTopic(topic_name, -1, -1)], request_timeout=10)[topic_name].result(timeout=15)
        assert len(a.list_topics(timeout=10).topics[topic_name].partitions) == 4
        del a
        b.stop()
    finally:
        b.cleanup()


def test_log_append_time_offsets_by_time(broker, topic_name):
    """On a LogAppendTime topic, ListOffsets by timestamp and max timestamp
    use the broker's append times, not the producer's timestamps."""
    import time as _t

    from confluent_kafka import TopicPartition
    from confluent_kafka.admin import OffsetSpec

    create_topic(broker, topic_name, config={"message.timestamp.type": "LogAppendTime"})
    far_future = int(_t.time() * 1000) + 10 * 365 * 86400 * 1000
    p = producer(broker, **{"linger.ms": 0})
    produce_ok(p, topic_name, [{"value": b"future-stamped", "timestamp": far_future}])
    _t.sleep(0.05)
    produce_ok(p, topic_name, [{"value": b"later", "timestamp": 1000}])
    a = admin(broker)
    tp = TopicPartition(topic_name, 0)
    mx = a.list_offsets({tp: OffsetSpec.max_timestamp()}, request_timeout=10)[tp].result(timeout=15)
    assert mx.offset == 1, f"max timestamp offset {mx.offset} (timestamp {mx.timestamp})"
    assert mx.timestamp < far_future
    ft = a.list_offsets({tp: OffsetSpec.for_timestamp(far_future - 1000)}, request_timeout=10)[tp].result(timeout=15)
    assert ft.offset == -1, f"lookup by the producer's future timestamp found offset {ft.offset}"
