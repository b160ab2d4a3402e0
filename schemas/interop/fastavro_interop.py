#!/usr/bin/env python3
"""Cross-checks allot's Avro encoding against fastavro, an independent implementation.

The JSON files are the records as Rust's serde_json writes them: enums as their symbol,
unions as null or the bare value, `timestamp-millis` as integer milliseconds, `bytes` as an
array of integers 0..255. This script converts them to and from fastavro's Python values,
guided by the schema.

Usage:
  fastavro_interop.py --write-golden
      Regenerate schemas/golden/<topic>/fastavro.avro from record.json with fastavro.
  fastavro_interop.py --check [DIR ...]
      Check the golden files: fastavro decodes rust.avro and fastavro.avro to record.json,
      fastavro encodes record.json to exactly the bytes of rust.avro, and confluent.bin is
      the magic byte, a schema id and rust.avro.
      Each DIR holds <topic>/<n>.avro with <n>.json beside it (written by the Rust interop
      test): each .avro must decode to its JSON and fastavro must encode the JSON to the same
      bytes; fastavro's encoding is written to <n>.fastavro.avro for Rust to decode.

Prints one line per failure and closes with 'N passed, N failed'; exits 1 on any failure.
"""

import argparse
import datetime
import io
import json
import pathlib
import sys

import fastavro

SCHEMAS = pathlib.Path(__file__).resolve().parent.parent
AVRO = SCHEMAS / "avro"
GOLDEN = SCHEMAS / "golden"
EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)
MILLISECOND = datetime.timedelta(milliseconds=1)


def current_schema(topic):
    """The newest vN.avsc of a topic folder, as JSON."""
    versions = sorted(
        (int(p.stem[1:]), p) for p in (AVRO / topic).glob("v*.avsc") if p.stem[1:].isdigit()
    )
    if not versions:
        raise SystemExit(f"no schema under {AVRO / topic}")
    return json.loads(versions[-1][1].read_text())


class Converter:
    """Walks a schema alongside a value, following references to named types."""

    def __init__(self, schema):
        self.named = {}
        self._collect(schema, None)

    def _collect(self, schema, namespace):
        if isinstance(schema, list):
            for branch in schema:
                self._collect(branch, namespace)
        elif isinstance(schema, dict):
            kind = schema["type"]
            if kind in ("record", "enum", "fixed"):
                namespace = schema.get("namespace", namespace)
                name = schema["name"]
                full = name if "." in name or not namespace else f"{namespace}.{name}"
                self.named[full] = schema
                self.named[full.rsplit(".", 1)[-1]] = schema
            if kind == "record":
                for field in schema["fields"]:
                    self._collect(field["type"], namespace)
            elif kind == "array":
                self._collect(schema["items"], namespace)
            elif kind == "map":
                self._collect(schema["values"], namespace)
            elif isinstance(kind, (dict, list)):
                self._collect(kind, namespace)

    def _resolve(self, schema):
        if isinstance(schema, str) and schema in self.named:
            return self.named[schema]
        if isinstance(schema, dict) and not isinstance(schema["type"], str):
            return self._resolve(schema["type"])
        if isinstance(schema, dict) and schema["type"] in self.named:
            return self.named[schema["type"]]
        return schema

    def _kind(self, schema):
        schema = self._resolve(schema)
        if isinstance(schema, list):
            return "union", schema
        if isinstance(schema, str):
            return schema, schema
        if schema.get("logicalType") == "timestamp-millis":
            return "timestamp-millis", schema
        return schema["type"], schema

    def from_json(self, schema, value):
        """JSON value (as serde_json writes it) to the Python value fastavro writes."""
        kind, schema = self._kind(schema)
        if kind == "union":
            if value is None:
                return None
            branches = [b for b in schema if self._kind(b)[0] != "null"]
            if len(branches) != 1:
                raise ValueError(f"union {schema} has several non-null branches")
            return self.from_json(branches[0], value)
        if kind == "record":
            return {f["name"]: self.from_json(f["type"], value[f["name"]]) for f in schema["fields"]}
        if kind == "array":
            return [self.from_json(schema["items"], v) for v in value]
        if kind == "bytes":
            return bytes(value)
        return value

    def to_json(self, schema, value):
        """A value fastavro read to the JSON value serde_json would write."""
        kind, schema = self._kind(schema)
        if kind == "union":
            if value is None:
                return None
            branches = [b for b in schema if self._kind(b)[0] != "null"]
            return self.to_json(branches[0], value)
        if kind == "record":
            return {f["name"]: self.to_json(f["type"], value[f["name"]]) for f in schema["fields"]}
        if kind == "array":
            return [self.to_json(schema["items"], v) for v in value]
        if kind == "bytes":
            return list(value)
        if kind == "timestamp-millis" and isinstance(value, datetime.datetime):
            return (value - EPOCH) // MILLISECOND
        return value


class Topic:
    """A topic's schema, parsed for fastavro and for conversions."""

    def __init__(self, name):
        self.name = name
        self.json = current_schema(name)
        self.parsed = fastavro.parse_schema(self.json)
        self.converter = Converter(self.json)

    def decode(self, body):
        reader = io.BytesIO(body)
        datum = fastavro.schemaless_reader(reader, self.parsed, None)
        if reader.tell() != len(body):
            raise ValueError(f"{len(body) - reader.tell()} bytes left after the record")
        return self.converter.to_json(self.json, datum)

    def encode(self, record_json):
        out = io.BytesIO()
        datum = self.converter.from_json(self.json, record_json)
        fastavro.schemaless_writer(out, self.parsed, datum, strict=True)
        return out.getvalue()


class Tally:
    def __init__(self):
        self.passed = 0
        self.failed = 0

    def check(self, what, ok, detail=""):
        if ok:
            self.passed += 1
        else:
            self.failed += 1
            print(f"FAIL {what}{': ' + detail if detail else ''}")

    def attempt(self, what, fn):
        try:
            return fn()
        except Exception as e:  # noqa: BLE001 - any failure of fastavro is a finding
            self.check(what, False, f"{type(e).__name__}: {e}")
            return None


def golden_topics():
    return sorted(p.name for p in GOLDEN.iterdir() if p.is_dir())


def write_golden():
    for name in golden_topics():
        topic = Topic(name)
        record = json.loads((GOLDEN / name / "record.json").read_text())
        (GOLDEN / name / "fastavro.avro").write_bytes(topic.encode(record))
        print(f"wrote {GOLDEN / name / 'fastavro.avro'}")


def check_golden(tally):
    names = golden_topics()
    tally.check("golden folders exist for every schema folder",
                names == sorted(p.name for p in AVRO.iterdir() if p.is_dir()),
                f"golden {names}")
    for name in names:
        folder = GOLDEN / name
        topic = Topic(name)
        record = json.loads((folder / "record.json").read_text())
        rust = (folder / "rust.avro").read_bytes()
        for file in ("rust.avro", "fastavro.avro"):
            decoded = tally.attempt(f"{name}/{file} decodes",
                                    lambda f=file: topic.decode((folder / f).read_bytes()))
            if decoded is not None:
                tally.check(f"{name}/{file} decodes to record.json", decoded == record,
                            json.dumps(decoded, ensure_ascii=False))
        encoded = tally.attempt(f"{name}/record.json encodes", lambda: topic.encode(record))
        if encoded is not None:
            tally.check(f"{name}: fastavro encodes record.json to the bytes of rust.avro",
                        encoded == rust, f"{encoded.hex()} != {rust.hex()}")
        framed = (folder / "confluent.bin").read_bytes()
        tally.check(f"{name}/confluent.bin is magic byte, id, rust.avro",
                    framed[:1] == b"\0" and framed[5:] == rust)


def check_dir(tally, root):
    for folder in sorted(p for p in root.iterdir() if p.is_dir()):
        topic = Topic(folder.name)
        for body_file in sorted(folder.glob("*.avro")):
            if body_file.name.endswith(".fastavro.avro"):
                continue
            what = f"{folder.name}/{body_file.name}"
            record = json.loads(body_file.with_suffix(".json").read_text())
            body = body_file.read_bytes()
            decoded = tally.attempt(f"{what} decodes", lambda: topic.decode(body))
            if decoded is not None:
                tally.check(f"{what} decodes to its JSON", decoded == record,
                            json.dumps(decoded, ensure_ascii=False))
            encoded = tally.attempt(f"{what}: its JSON encodes", lambda: topic.encode(record))
            if encoded is not None:
                tally.check(f"{what}: fastavro encodes its JSON to the same bytes",
                            encoded == body, f"{encoded.hex()} != {body.hex()}")
                body_file.with_name(body_file.stem + ".fastavro.avro").write_bytes(encoded)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--write-golden", action="store_true")
    mode.add_argument("--check", nargs="*", metavar="DIR", type=pathlib.Path)
    args = parser.parse_args()
    if args.write_golden:
        write_golden()
        return 0
    tally = Tally()
    check_golden(tally)
    for root in args.check:
        check_dir(tally, root)
    print(f"fastavro {fastavro.__version__}")
    print(f"fastavro: {tally.passed} passed, {tally.failed} failed")
    return 1 if tally.failed else 0


if __name__ == "__main__":
    sys.exit(main())
