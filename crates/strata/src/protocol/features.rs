//! The protocol gate: which reader/writer versions and table features strata honours.
//!
//! `protocol/PROTOCOL.md#supported-features` is the human version of these tables; keep them
//! in step. Pure functions over parsed actions, so the gate is unit tested without I/O.
//!
//! Some writer features are honoured only while the table does not use them (for example
//! `invariants` is fine on a legacy writer-2 table until a column actually declares one):
//! strata then has nothing to enforce, so it can write without ever producing a file another
//! writer would consider a violation. When the table does use such a feature, writing is
//! refused by name.

use std::collections::BTreeSet;

use crate::protocol::actions::{Metadata, Protocol};
use crate::protocol::schema::{DataType, StructType};

/// Reader features strata implements when reading.
pub const SUPPORTED_READER_FEATURES: &[&str] = &[
    "timestampNtz",
    "v2Checkpoint",
    "vacuumProtocolCheck",
    "typeWidening",
    "typeWidening-preview",
];

/// Writer features strata implements when writing (see the module docs for conditional ones).
pub const SUPPORTED_WRITER_FEATURES: &[&str] = &[
    "appendOnly",
    "invariants",
    "checkConstraints",
    "changeDataFeed",
    "generatedColumns",
    "columnMapping",
    "identityColumns",
    "timestampNtz",
    "domainMetadata",
    "vacuumProtocolCheck",
    "inCommitTimestamp",
    "typeWidening",
    "typeWidening-preview",
    "v2Checkpoint",
];

/// The highest legacy versions strata knows, and the explicit-feature versions.
pub const MAX_READER_VERSION: i32 = 3;
/// See [`MAX_READER_VERSION`].
pub const MAX_WRITER_VERSION: i32 = 7;

/// Features implied by a legacy (pre-features) writer version.
fn legacy_writer_features(version: i32) -> &'static [&'static str] {
    match version {
        ..=1 => &[],
        2 => &["appendOnly", "invariants"],
        3 => &["appendOnly", "invariants", "checkConstraints"],
        4 => &[
            "appendOnly",
            "invariants",
            "checkConstraints",
            "changeDataFeed",
            "generatedColumns",
        ],
        5 => &[
            "appendOnly",
            "invariants",
            "checkConstraints",
            "changeDataFeed",
            "generatedColumns",
            "columnMapping",
        ],
        _ => &[
            "appendOnly",
            "invariants",
            "checkConstraints",
            "changeDataFeed",
            "generatedColumns",
            "columnMapping",
            "identityColumns",
        ],
    }
}

/// The protocol with writer feature `feature` added, or `None` when the protocol already has
/// it. A legacy writer version becomes 7 with its implied features listed explicitly; the
/// reader version is unchanged, so readers are unaffected by a writer-only feature.
pub fn with_writer_feature(protocol: &Protocol, feature: &str) -> Option<Protocol> {
    let mut writer = writer_features(protocol);
    if writer.contains(feature) {
        return None;
    }
    writer.insert(feature.to_string());
    Some(Protocol {
        min_reader_version: protocol.min_reader_version,
        min_writer_version: 7,
        reader_features: protocol.reader_features.clone(),
        writer_features: Some(writer.into_iter().collect()),
    })
}

/// The reader features a protocol requires, legacy versions expressed as feature names.
pub fn reader_features(protocol: &Protocol) -> BTreeSet<String> {
    match protocol.min_reader_version {
        ..=1 => BTreeSet::new(),
        2 => BTreeSet::from(["columnMapping".to_string()]),
        _ => protocol.reader_features.iter().flatten().cloned().collect(),
    }
}

/// The writer features a protocol requires, legacy versions expressed as feature names.
pub fn writer_features(protocol: &Protocol) -> BTreeSet<String> {
    match protocol.min_writer_version {
        7 => protocol.writer_features.iter().flatten().cloned().collect(),
        v => legacy_writer_features(v)
            .iter()
            .map(|s| s.to_string())
            .collect(),
    }
}

fn column_mapping_mode(metadata: &Metadata) -> &str {
    metadata
        .configuration
        .get("delta.columnMapping.mode")
        .map(String::as_str)
        .unwrap_or("none")
}

/// Checks that strata can read a table; returns the unsupported features by name.
///
/// `columnMapping` is accepted while the table's mapping mode is `none` (physical names are
/// then the logical names, so reading by name is correct).
pub fn check_read(protocol: &Protocol, metadata: &Metadata) -> Result<(), Vec<String>> {
    if protocol.min_reader_version > MAX_READER_VERSION {
        return Err(vec![format!(
            "readerVersion{}",
            protocol.min_reader_version
        )]);
    }
    let unsupported: Vec<String> = reader_features(protocol)
        .into_iter()
        .filter(|f| {
            if f == "columnMapping" {
                return column_mapping_mode(metadata) != "none";
            }
            !SUPPORTED_READER_FEATURES.contains(&f.as_str())
        })
        .collect();
    if unsupported.is_empty() {
        Ok(())
    } else {
        Err(unsupported)
    }
}

/// Checks that strata can write a table; returns the unsupported or in-use-but-unenforced
/// features by name (e.g. `invariants (column price)`).
pub fn check_write(
    protocol: &Protocol,
    metadata: &Metadata,
    schema: &StructType,
) -> Result<(), Vec<String>> {
    if protocol.min_writer_version > MAX_WRITER_VERSION {
        return Err(vec![format!(
            "writerVersion{}",
            protocol.min_writer_version
        )]);
    }
    check_read(protocol, metadata)?;
    let mut problems = Vec::new();
    for feature in writer_features(protocol) {
        if !SUPPORTED_WRITER_FEATURES.contains(&feature.as_str()) {
            problems.push(feature);
            continue;
        }
        if let Some(reason) = feature_in_use(&feature, metadata, schema) {
            problems.push(format!("{feature} ({reason})"));
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems)
    }
}

/// For conditionally supported features: why the table's use of it blocks writing.
fn feature_in_use(feature: &str, metadata: &Metadata, schema: &StructType) -> Option<String> {
    let column_with = |key_prefix: &str| {
        let mut found = None;
        visit_fields(schema, "", &mut |path, meta_keys| {
            if found.is_none() && meta_keys.iter().any(|k| k.starts_with(key_prefix)) {
                found = Some(path.to_string());
            }
        });
        found
    };
    match feature {
        "invariants" => {
            column_with("delta.invariants").map(|c| format!("column {c} declares an invariant"))
        }
        "generatedColumns" => {
            column_with("delta.generationExpression").map(|c| format!("column {c} is generated"))
        }
        "identityColumns" => {
            column_with("delta.identity").map(|c| format!("column {c} is an identity column"))
        }
        "checkConstraints" => metadata
            .configuration
            .keys()
            .find(|k| k.starts_with("delta.constraints."))
            .map(|k| format!("constraint {k} is defined")),
        "columnMapping" => {
            let mode = column_mapping_mode(metadata);
            (mode != "none").then(|| format!("mapping mode {mode}"))
        }
        _ => None,
    }
}

fn visit_fields(schema: &StructType, prefix: &str, f: &mut dyn FnMut(&str, Vec<&String>)) {
    for field in &schema.fields {
        let path = if prefix.is_empty() {
            field.name.clone()
        } else {
            format!("{prefix}.{}", field.name)
        };
        f(&path, field.metadata.keys().collect());
        if let DataType::Struct(inner) = &field.data_type {
            visit_fields(inner, &path, f);
        }
    }
}

fn schema_has_ntz(data_type: &DataType) -> bool {
    use crate::protocol::schema::PrimitiveType;
    match data_type {
        DataType::Primitive(p) => *p == PrimitiveType::TimestampNtz,
        DataType::Struct(s) => s.fields.iter().any(|f| schema_has_ntz(&f.data_type)),
        DataType::Array(a) => schema_has_ntz(&a.element_type),
        DataType::Map(m) => schema_has_ntz(&m.key_type) || schema_has_ntz(&m.value_type),
    }
}

/// The protocol strata writes for a new table: the lowest versions that express what the
/// schema and properties need, so older readers stay able to read it
/// (`protocol/PROTOCOL.md#protocol-strata-writes`).
pub fn protocol_for_new_table(
    schema: &StructType,
    properties: &std::collections::HashMap<String, String>,
) -> Protocol {
    let enabled = |k: &str| {
        properties
            .get(k)
            .is_some_and(|v| v.eq_ignore_ascii_case("true"))
    };
    let needs_ntz = schema.fields.iter().any(|f| schema_has_ntz(&f.data_type));
    let needs_ict = enabled("delta.enableInCommitTimestamps");
    let needs_cdf = enabled("delta.enableChangeDataFeed");
    let needs_v2_checkpoint = properties
        .get("delta.checkpointPolicy")
        .is_some_and(|v| v.eq_ignore_ascii_case("v2"));
    if !needs_ntz && !needs_ict && !needs_v2_checkpoint {
        return Protocol {
            min_reader_version: 1,
            min_writer_version: if needs_cdf { 4 } else { 2 },
            reader_features: None,
            writer_features: None,
        };
    }
    let mut writer: Vec<String> = legacy_writer_features(if needs_cdf { 4 } else { 2 })
        .iter()
        .map(|s| s.to_string())
        .collect();
    let mut reader = Vec::new();
    if needs_ntz {
        writer.push("timestampNtz".into());
        reader.push("timestampNtz".to_string());
    }
    if needs_ict {
        writer.push("inCommitTimestamp".into());
    }
    if needs_v2_checkpoint {
        writer.push("v2Checkpoint".into());
        reader.push("v2Checkpoint".to_string());
    }
    let reader_version = if reader.is_empty() { 1 } else { 3 };
    Protocol {
        min_reader_version: reader_version,
        min_writer_version: 7,
        reader_features: (reader_version == 3).then_some(reader),
        writer_features: Some(writer),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::schema::{PrimitiveType, StructField};
    use std::collections::HashMap;

    fn meta(config: &[(&str, &str)]) -> Metadata {
        Metadata {
            id: "x".into(),
            name: None,
            description: None,
            format: Default::default(),
            schema_string: "{}".into(),
            partition_columns: vec![],
            created_time: None,
            configuration: config
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        }
    }

    fn proto(r: i32, w: i32, rf: Option<&[&str]>, wf: Option<&[&str]>) -> Protocol {
        let own = |f: Option<&[&str]>| f.map(|v| v.iter().map(|s| s.to_string()).collect());
        Protocol {
            min_reader_version: r,
            min_writer_version: w,
            reader_features: own(rf),
            writer_features: own(wf),
        }
    }

    #[test]
    fn read_gate_names_unsupported_features() {
        let m = meta(&[]);
        assert!(check_read(&proto(1, 2, None, None), &m).is_ok());
        assert!(
            check_read(
                &proto(3, 7, Some(&["timestampNtz"]), Some(&["timestampNtz"])),
                &m
            )
            .is_ok()
        );
        let err = check_read(
            &proto(3, 7, Some(&["deletionVectors", "timestampNtz"]), Some(&[])),
            &m,
        )
        .unwrap_err();
        assert_eq!(err, vec!["deletionVectors"]);
        assert_eq!(
            check_read(&proto(4, 7, None, None), &m).unwrap_err(),
            vec!["readerVersion4"]
        );
        assert!(
            check_read(&proto(2, 5, None, None), &m).is_ok(),
            "column mapping mode none reads by name"
        );
        assert_eq!(
            check_read(
                &proto(2, 5, None, None),
                &meta(&[("delta.columnMapping.mode", "name")])
            )
            .unwrap_err(),
            vec!["columnMapping"]
        );
    }

    #[test]
    fn write_gate_refuses_features_in_use() {
        let schema = StructType::new(vec![StructField::new("a", PrimitiveType::Long, true)]);
        assert!(check_write(&proto(1, 4, None, None), &meta(&[]), &schema).is_ok());
        let err = check_write(
            &proto(1, 3, None, None),
            &meta(&[("delta.constraints.pos", "a > 0")]),
            &schema,
        )
        .unwrap_err();
        assert!(err[0].starts_with("checkConstraints"), "{err:?}");
        let err = check_write(
            &proto(1, 7, None, Some(&["rowTracking", "appendOnly"])),
            &meta(&[]),
            &schema,
        )
        .unwrap_err();
        assert_eq!(err, vec!["rowTracking"]);
    }

    #[test]
    fn new_table_protocol_is_minimal() {
        let schema = StructType::new(vec![StructField::new("a", PrimitiveType::Long, true)]);
        assert_eq!(
            protocol_for_new_table(&schema, &HashMap::new()),
            proto(1, 2, None, None)
        );
        let ntz = StructType::new(vec![StructField::new(
            "t",
            PrimitiveType::TimestampNtz,
            true,
        )]);
        let p = protocol_for_new_table(&ntz, &HashMap::new());
        assert_eq!((p.min_reader_version, p.min_writer_version), (3, 7));
        assert!(
            p.reader_features
                .unwrap()
                .contains(&"timestampNtz".to_string())
        );
        assert!(
            check_write(
                &protocol_for_new_table(&ntz, &HashMap::new()),
                &meta(&[]),
                &ntz
            )
            .is_ok()
        );
    }
}
