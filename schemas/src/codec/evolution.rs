//! The rule every schema change follows: each committed version of a topic's schema is
//! backward compatible (readers of the new version read data of the old one) and forward
//! compatible (readers of the old version read data of the new one) with the version before, in
//! full: schema resolution can never fail, whatever the data.
//!
//! In practice: add fields only with a default, remove only fields that had one, never remove
//! or add enum symbols unless the enum declares a default symbol, never narrow a type.

use apache_avro::Schema;
use apache_avro::schema_compatibility::{Compatibility, SchemaCompatibility};

use crate::topic::Topic;

/// Why two schema versions are not fully compatible.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{what}: {reason}")]
pub struct Incompatibility {
    /// Which check failed, in words (`v2 cannot read data written with v1`, ...).
    pub what: String,
    /// What the compatibility checker reported.
    pub reason: String,
}

/// Checks that `newer` may follow `older`: data of either can always be read with the other.
pub fn check_step(older: &Schema, newer: &Schema) -> Result<(), Incompatibility> {
    check_reads(
        older,
        newer,
        "the new version cannot read data written with the old one",
    )?;
    check_reads(
        newer,
        older,
        "the old version cannot read data written with the new one",
    )
}

fn check_reads(writer: &Schema, reader: &Schema, what: &str) -> Result<(), Incompatibility> {
    match SchemaCompatibility::can_read(writer, reader) {
        Ok(Compatibility::Full) => Ok(()),
        Ok(Compatibility::Partial) => Err(Incompatibility {
            what: what.to_owned(),
            reason: "only partially: some values (enum symbols or union branches) of the writer \
                     have no counterpart in the reader"
                .to_owned(),
        }),
        Err(e) => Err(Incompatibility {
            what: what.to_owned(),
            reason: error_chain(&e),
        }),
    }
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

/// Checks every consecutive pair of `versions` (schema texts, oldest first); the error names
/// the first failing pair with 1-based version numbers.
pub fn check_history(versions: &[&str]) -> Result<(), Incompatibility> {
    let parsed = versions
        .iter()
        .zip(1..)
        .map(|(json, n)| {
            Schema::parse_str(json).map_err(|e| Incompatibility {
                what: format!("v{n} does not parse"),
                reason: error_chain(&e),
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    for (n, pair) in (1..).zip(parsed.windows(2)) {
        check_step(&pair[0], &pair[1]).map_err(|e| Incompatibility {
            what: format!("v{} after v{n}: {}", n + 1, e.what),
            reason: e.reason,
        })?;
    }
    Ok(())
}

/// Checks the committed history of `topic` (see [`check_history`]).
pub fn check_topic(topic: Topic) -> Result<(), Incompatibility> {
    check_history(super::schema_versions(topic))
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::path::Path;

    use serde_json::{Value, json};

    use super::*;

    /// Every topic's versions as found on disk right now, oldest first.
    fn versions_on_disk() -> BTreeMap<String, Vec<String>> {
        let avro = Path::new(env!("CARGO_MANIFEST_DIR")).join("avro");
        let mut topics = BTreeMap::new();
        for dir in std::fs::read_dir(avro).unwrap() {
            let dir = dir.unwrap();
            let mut versions: Vec<(u32, String)> = std::fs::read_dir(dir.path())
                .unwrap()
                .filter_map(|f| {
                    let f = f.unwrap();
                    let name = f.file_name().into_string().unwrap();
                    let n = name
                        .strip_prefix('v')?
                        .strip_suffix(".avsc")?
                        .parse()
                        .ok()?;
                    Some((n, std::fs::read_to_string(f.path()).unwrap()))
                })
                .collect();
            versions.sort();
            let numbers: Vec<u32> = versions.iter().map(|(n, _)| *n).collect();
            assert_eq!(
                numbers,
                (1..=numbers.len() as u32).collect::<Vec<_>>(),
                "{:?}: versions must be v1, v2, ... without gaps",
                dir.file_name()
            );
            topics.insert(
                dir.file_name().into_string().unwrap(),
                versions.into_iter().map(|(_, json)| json).collect(),
            );
        }
        topics
    }

    #[test]
    fn the_compiled_table_holds_exactly_the_committed_files() {
        let on_disk = versions_on_disk();
        let compiled: BTreeMap<String, Vec<String>> = Topic::ALL
            .into_iter()
            .map(|t| {
                let versions = super::super::schema_versions(t);
                (
                    t.dir().to_owned(),
                    versions.iter().map(|v| (*v).to_owned()).collect(),
                )
            })
            .collect();
        assert_eq!(
            on_disk, compiled,
            "a folder or version is missing on one side"
        );
    }

    #[test]
    fn every_committed_version_is_compatible_with_the_one_before() {
        for (dir, versions) in versions_on_disk() {
            let versions: Vec<&str> = versions.iter().map(String::as_str).collect();
            check_history(&versions).unwrap_or_else(|e| panic!("schemas/avro/{dir}: {e}"));
        }
    }

    /// The current schema of `topic` as JSON, changed by `edit`.
    fn edited(topic: Topic, edit: impl FnOnce(&mut Value)) -> String {
        let mut schema: Value = serde_json::from_str(super::super::schema_json(topic)).unwrap();
        edit(&mut schema);
        schema.to_string()
    }

    fn fields(schema: &mut Value) -> &mut Vec<Value> {
        schema["fields"].as_array_mut().unwrap()
    }

    fn check(topic: Topic, edit: impl FnOnce(&mut Value), expected: Result<(), &str>) {
        let v1 = super::super::schema_json(topic);
        let v2 = edited(topic, edit);
        let got = check_history(&[v1, &v2]);
        match (&got, expected) {
            (Ok(()), Ok(())) => {}
            (Err(e), Err(want)) => assert!(
                e.to_string().contains(want),
                "expected an error containing {want:?}, got {e}"
            ),
            _ => panic!("expected {expected:?}, got {got:?}"),
        }
    }

    #[test]
    fn the_checker_accepts_compatible_changes() {
        // No change at all.
        check(Topic::Orders, |_| {}, Ok(()));
        // A new optional field with a default.
        check(
            Topic::Orders,
            |s| {
                fields(s).push(json!({
                    "name": "gift_message", "type": ["null", "string"], "default": null
                }));
            },
            Ok(()),
        );
        // A new field with a non-null default, in a nested record.
        check(
            Topic::Orders,
            |s| {
                let line = &mut fields(s).iter_mut().find(|f| f["name"] == "lines").unwrap()["type"]
                    ["items"];
                fields(line)
                    .push(json!({"name": "gift_wrap", "type": "boolean", "default": false}));
            },
            Ok(()),
        );
        // Removing a field that had a default.
        check(
            Topic::Orders,
            |s| fields(s).retain(|f| f["name"] != "pickup_location_id"),
            Ok(()),
        );
        // Docs do not matter.
        check(Topic::PosSales, |s| s["doc"] = json!("Changed."), Ok(()));
    }

    #[test]
    fn the_checker_catches_breaking_changes() {
        // A new field without a default: v2 cannot read v1 data.
        check(
            Topic::Orders,
            |s| fields(s).push(json!({"name": "gift_message", "type": "string"})),
            Err("the new version cannot read data written with the old one"),
        );
        // Removing a field without a default: v1 cannot read v2 data.
        check(
            Topic::Orders,
            |s| fields(s).retain(|f| f["name"] != "customer_id"),
            Err("the old version cannot read data written with the new one"),
        );
        // Removing an enum symbol: v2 cannot read v1 data holding it.
        check(
            Topic::InventoryAdjustments,
            |s| {
                let kind = fields(s).iter_mut().find(|f| f["name"] == "kind").unwrap();
                kind["type"]["symbols"]
                    .as_array_mut()
                    .unwrap()
                    .retain(|symbol| symbol != "FOUND");
            },
            Err("the new version cannot read data written with the old one"),
        );
        // Adding an enum symbol without an enum default: v1 cannot read it.
        check(
            Topic::InventoryAdjustments,
            |s| {
                let kind = fields(s).iter_mut().find(|f| f["name"] == "kind").unwrap();
                kind["type"]["symbols"]
                    .as_array_mut()
                    .unwrap()
                    .push(json!("THEFT"));
            },
            Err("the old version cannot read data written with the new one"),
        );
        // Widening int to long: fine one way only.
        check(
            Topic::InventoryAdjustments,
            |s| {
                let quantity = fields(s)
                    .iter_mut()
                    .find(|f| f["name"] == "quantity")
                    .unwrap();
                quantity["type"] = json!("long");
            },
            Err("the old version cannot read data written with the new one"),
        );
        // Renaming a field (without alias) is removing one and adding one without default.
        check(
            Topic::Receipts,
            |s| {
                let field = fields(s)
                    .iter_mut()
                    .find(|f| f["name"] == "receipt_id")
                    .unwrap();
                field["name"] = json!("receipt_number");
            },
            Err("cannot read"),
        );
    }

    #[test]
    fn the_error_names_the_failing_pair() {
        let v1 = super::super::schema_json(Topic::Returns);
        let v3 = edited(Topic::Returns, |s| {
            fields(s).push(json!({"name": "rma_note", "type": "string"}));
        });
        let err = check_history(&[v1, v1, &v3]).unwrap_err();
        assert!(err.what.starts_with("v3 after v2"), "{err}");
        let err = check_history(&[v1, "{not json"]).unwrap_err();
        assert_eq!(err.what, "v2 does not parse");
    }
}
