"""Hand-built requests on a raw socket (Python struct): record batch
validation (CRC, lengths, header consistency), max.message.bytes at the
byte, and the partition errors a client sees."""


from helpers import RawClient, consume_n, create_topic, record_batch

CORRUPT_MESSAGE = 2
UNKNOWN_TOPIC_OR_PARTITION = 3
MESSAGE_TOO_LARGE = 10


def test_good_hand_built_batch_is_accepted(broker, topic_name):
    """The hand-built batch (the control for the corrupt cases) is stored
    and confluent-kafka reads it back byte-exact."""
    create_topic(broker, topic_name)
    c = RawClient(broker)
    try:
        assert c.high_watermark(topic_name, 0) == 0
        batch = record_batch([(b"raw-key", b"raw-value", [("h1", b"v1")]), (None, b"second", [])])
        assert c.produce(topic_name, 0, batch) == (0, 0)
        assert c.high_watermark(topic_name, 0) == 2
    finally:
        c.close()
    got = consume_n(broker, topic_name, 2)
    assert [(m.key(), m.value(), m.headers()) for m in got] == [
        (b"raw-key", b"raw-value", [("h1", b"v1")]),
        (None, b"second", None),
    ]


def test_corrupt_crc_is_refused_and_not_stored(broker, topic_name):
    """A batch whose CRC32C is wrong: CORRUPT_MESSAGE (2), high watermark
    unchanged, and the connection stays usable."""
    create_topic(broker, topic_name)
    c = RawClient(broker)
    try:
        assert c.produce(topic_name, 0, record_batch([(b"k", b"ok", [])])) == (0, 0)
        err, base = c.produce(topic_name, 0, record_batch([(b"k", b"bad", [])], corrupt_crc=True))
        assert err == CORRUPT_MESSAGE, f"corrupt CRC answered with error {err}"
        assert base == -1
        assert c.high_watermark(topic_name, 0) == 1

        # One flipped byte in a value, CRC left as computed before the flip.
        good = bytearray(record_batch([(b"k", b"flipped", [])]))
        good[-3] ^= 0x01
        err, _ = c.produce(topic_name, 0, bytes(good))
        assert err == CORRUPT_MESSAGE
        assert c.high_watermark(topic_name, 0) == 1

        # A good batch followed by a corrupt one in the same record set: the
        # whole partition write is refused.
        mixed = record_batch([(b"k", b"good-part", [])]) + record_batch([(b"k", b"bad", [])], corrupt_crc=True)
        err, _ = c.produce(topic_name, 0, mixed)
        assert err == CORRUPT_MESSAGE
        assert c.high_watermark(topic_name, 0) == 1

        assert c.api_versions()  # same connection still answers
    finally:
        c.close()
    (m,) = consume_n(broker, topic_name, 1)
    assert m.value() == b"ok"


def test_truncated_batch_is_refused(broker, topic_name):
    """A batch cut short of its declared length: CORRUPT_MESSAGE, nothing
    stored."""
    create_topic(broker, topic_name)
    c = RawClient(broker)
    try:
        whole = record_batch([(b"k", b"v" * 100, [])])
        err, _ = c.produce(topic_name, 0, whole[:-10])
        assert err == CORRUPT_MESSAGE, f"truncated batch answered with {err}"
        assert c.high_watermark(topic_name, 0) == 0
    finally:
        c.close()


def test_batch_claiming_more_records_than_it_holds_is_refused(broker, topic_name):
    """A batch whose header claims 3 records (lastOffsetDelta 2) but holds
    one, CRC valid: Kafka's validation (LogValidator) refuses it with
    CORRUPT_MESSAGE; nothing may be stored."""
    create_topic(broker, topic_name)
    c = RawClient(broker)
    try:
        liar = record_batch([(b"k", b"only-one", [])], record_count=3, last_offset_delta=2)
        err, base = c.produce(topic_name, 0, liar)
        hwm = c.high_watermark(topic_name, 0)
        assert (err, hwm) == (CORRUPT_MESSAGE, 0), (
            f"batch claiming 3 records but holding 1: error {err}, base offset {base}, high watermark now {hwm}"
        )
    finally:
        c.close()


def test_produce_to_missing_partition(broker, topic_name):
    create_topic(broker, topic_name, partitions=2)
    c = RawClient(broker)
    try:
        err, _ = c.produce(topic_name, 2, record_batch([(None, b"x", [])]))
        assert err == UNKNOWN_TOPIC_OR_PARTITION
        assert c.high_watermark(topic_name, 0) == 0
    finally:
        c.close()


def test_max_message_bytes_boundary(broker, topic_name):
    """max.message.bytes compares with the whole batch size: a batch of
    exactly the limit is accepted, one byte more is MESSAGE_TOO_LARGE (10)."""
    batch = record_batch([(b"k", b"z" * 400, [])])
    size = len(batch)
    exact, over = topic_name + "-exact", topic_name + "-over"
    create_topic(broker, exact, config={"max.message.bytes": str(size)})
    create_topic(broker, over, config={"max.message.bytes": str(size - 1)})
    c = RawClient(broker)
    try:
        assert c.produce(exact, 0, batch) == (0, 0)
        err, _ = c.produce(over, 0, batch)
        assert err == MESSAGE_TOO_LARGE
        assert c.high_watermark(over, 0) == 0
    finally:
        c.close()


def test_produce_v0_to_v2_are_refused_with_an_answer(broker, topic_name):
    """Produce v0-2 (message formats v0/v1) are advertised (librdkafka needs
    the minimum 0) but not served: each partition is answered
    UNSUPPORTED_FOR_MESSAGE_FORMAT in a response of the request's version,
    and nothing is stored, whatever bytes the record set holds."""
    create_topic(broker, topic_name)
    c = RawClient(broker)
    try:
        for version in (0, 1, 2):
            err, base = c.produce(topic_name, 0, record_batch([(None, b"x", [])]), version=version)
            assert (err, base) == (43, -1), version
    finally:
        c.close()
    c = RawClient(broker)
    try:
        assert c.high_watermark(topic_name, 0) == 0
    finally:
        c.close()
