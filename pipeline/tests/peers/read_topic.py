"""Reads an allot topic with clients no one on the project wrote: confluent-kafka for the
broker protocol, fastavro for the Avro body of the Confluent wire format.

usage: read_topic.py BOOTSTRAP TOPIC SCHEMA.avsc [--idle-ms N]

Reads the topic from the beginning (read_committed) until it has been idle for N ms, and
prints one JSON line per message: {"key", "partition", "offset", "schema_id", "value"}.
Bytes fields are printed as lists of ints; timestamps as epoch milliseconds.
"""
import io
import json
import struct
import sys
import time

import fastavro
from confluent_kafka import Consumer, KafkaError


def main():
    if len(sys.argv) < 4:
        sys.exit(__doc__)
    bootstrap, topic, schema_path = sys.argv[1:4]
    idle_ms = 3000
    if "--idle-ms" in sys.argv:
        idle_ms = int(sys.argv[sys.argv.index("--idle-ms") + 1])
    with open(schema_path) as f:
        schema = fastavro.parse_schema(json.load(f))
    consumer = Consumer({
        "bootstrap.servers": bootstrap,
        "group.id": f"peer-reader-{time.time_ns()}",
        "auto.offset.reset": "earliest",
        "enable.auto.commit": False,
        "isolation.level": "read_committed",
    })
    consumer.subscribe([topic])
    last = time.monotonic()
    while (time.monotonic() - last) * 1000 < idle_ms:
        msg = consumer.poll(0.2)
        if msg is None:
            continue
        if msg.error():
            if msg.error().code() == KafkaError._PARTITION_EOF:
                continue
            sys.exit(f"consume error: {msg.error()}")
        last = time.monotonic()
        raw = msg.value()
        if raw is None or len(raw) < 5 or raw[0] != 0:
            sys.exit(f"{topic}[{msg.partition()}]@{msg.offset()}: not Confluent-framed")
        schema_id = struct.unpack(">I", raw[1:5])[0]
        value = fastavro.schemaless_reader(io.BytesIO(raw[5:]), schema, return_record_name=False)
        print(json.dumps({
            "key": msg.key().decode() if msg.key() else None,
            "partition": msg.partition(),
            "offset": msg.offset(),
            "schema_id": schema_id,
            "value": value,
        }, default=to_json))
    consumer.close()


def to_json(v):
    if isinstance(v, (bytes, bytearray)):
        return list(v)
    if hasattr(v, "timestamp"):
        return int(v.timestamp() * 1000)
    raise TypeError(f"cannot print {type(v)}")


if __name__ == "__main__":
    main()
