//! The protocol gate: which reader/writer versions and table features strata honours
//! (`protocol/PROTOCOL.md#supported-features`).
//!
//! Features are a [`TableFeature`] enum named as the spec names them; legacy protocol versions
//! are expressed as the features they imply, so every check is one set operation. The
//! supported lists below are the code form of `protocol/PROTOCOL.md#supported-features`; keep
//! the two in step. Pure functions over parsed actions, so the gate is unit tested without I/O.
//!
//! Some writer features are honoured only while the table does not use them (for example
//! `invariants` is fine on a legacy writer-2 table until a column actually declares one):
//! strata then has nothing to enforce, so it can write without ever producing a file another
//! writer would consider a violation. When the table does use such a feature, writing is
//! refused by name.

use std::cmp::Ordering;
use std::collections::{BTreeSet, HashMap};
use std::fmt;

use crate::protocol::actions::{Metadata, Protocol};
use crate::protocol::constraints::GENERATION_EXPRESSION_KEY;
use crate::protocol::properties::{CONSTRAINTS_PREFIX, ColumnMappingMode, TableProperties};
use crate::protocol::schema::{DataType, PrimitiveType, StructType};

/// A table feature (`protocol/PROTOCOL.md#supported-features`), by its name in
/// `readerFeatures` / `writerFeatures`. Features strata does not know are kept by name
/// ([`TableFeature::Unknown`]), so the gate can name them when it refuses a table.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TableFeature {
    /// `appendOnly`
    AppendOnly,
    /// `invariants`
    Invariants,
    /// `checkConstraints`
    CheckConstraints,
    /// `changeDataFeed`
    ChangeDataFeed,
    /// `generatedColumns`
    GeneratedColumns,
    /// `columnMapping`
    ColumnMapping,
    /// `identityColumns`
    IdentityColumns,
    /// `deletionVectors`
    DeletionVectors,
    /// `rowTracking`
    RowTracking,
    /// `timestampNtz`
    TimestampNtz,
    /// `domainMetadata`
    DomainMetadata,
    /// `v2Checkpoint`
    V2Checkpoint,
    /// `icebergCompatV1`
    IcebergCompatV1,
    /// `icebergCompatV2`
    IcebergCompatV2,
    /// `clustering`
    Clustering,
    /// `vacuumProtocolCheck`
    VacuumProtocolCheck,
    /// `inCommitTimestamp`
    InCommitTimestamp,
    /// `typeWidening`
    TypeWidening,
    /// `typeWidening-preview`
    TypeWideningPreview,
    /// `variantType`
    VariantType,
    /// `variantType-preview`
    VariantTypePreview,
    /// A feature strata does not know, by name.
    Unknown(String),
}

/// Every known feature with its spec name (one table, read both ways).
const NAMES: &[(TableFeature, &str)] = &[
    (TableFeature::AppendOnly, "appendOnly"),
    (TableFeature::Invariants, "invariants"),
    (TableFeature::CheckConstraints, "checkConstraints"),
    (TableFeature::ChangeDataFeed, "changeDataFeed"),
    (TableFeature::GeneratedColumns, "generatedColumns"),
    (TableFeature::ColumnMapping, "columnMapping"),
    (TableFeature::IdentityColumns, "identityColumns"),
    (TableFeature::DeletionVectors, "deletionVectors"),
    (TableFeature::RowTracking, "rowTracking"),
    (TableFeature::TimestampNtz, "timestampNtz"),
    (TableFeature::DomainMetadata, "domainMetadata"),
    (TableFeature::V2Checkpoint, "v2Checkpoint"),
    (TableFeature::IcebergCompatV1, "icebergCompatV1"),
    (TableFeature::IcebergCompatV2, "icebergCompatV2"),
    (TableFeature::Clustering, "clustering"),
    (TableFeature::VacuumProtocolCheck, "vacuumProtocolCheck"),
    (TableFeature::InCommitTimestamp, "inCommitTimestamp"),
    (TableFeature::TypeWidening, "typeWidening"),
    (TableFeature::TypeWideningPreview, "typeWidening-preview"),
    (TableFeature::VariantType, "variantType"),
    (TableFeature::VariantTypePreview, "variantType-preview"),
];

impl TableFeature {
    /// The feature named `name` (exactly as the spec spells it).
    pub fn from_name(name: &str) -> TableFeature {
        NAMES.iter().find(|(_, n)| *n == name).map_or_else(
            || TableFeature::Unknown(name.to_string()),
            |(f, _)| f.clone(),
        )
    }

    /// The name the protocol action uses.
    pub fn name(&self) -> &str {
        match self {
            TableFeature::Unknown(name) => name,
            known => NAMES
                .iter()
                .find(|(f, _)| f == known)
                .map_or("", |(_, n)| n),
        }
    }
}

impl fmt::Display for TableFeature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Ordered by name, so feature lists strata writes are sorted as before the enum existed.
impl Ord for TableFeature {
    fn cmp(&self, other: &Self) -> Ordering {
        self.name().cmp(other.name())
    }
}

impl PartialOrd for TableFeature {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

use TableFeature as F;

/// Reader features strata implements when reading.
pub const SUPPORTED_READER_FEATURES: &[TableFeature] = &[
    F::DeletionVectors,
    F::TimestampNtz,
    F::V2Checkpoint,
    F::VacuumProtocolCheck,
    F::TypeWidening,
    F::TypeWideningPreview,
    F::VariantType,
    F::VariantTypePreview,
];

/// Writer features strata implements when writing (see the module docs for conditional ones).
pub const SUPPORTED_WRITER_FEATURES: &[TableFeature] = &[
    F::AppendOnly,
    F::Invariants,
    F::CheckConstraints,
    F::ChangeDataFeed,
    F::GeneratedColumns,
    F::ColumnMapping,
    F::IdentityColumns,
    F::TimestampNtz,
    F::DomainMetadata,
    F::VacuumProtocolCheck,
    F::InCommitTimestamp,
    F::TypeWidening,
    F::TypeWideningPreview,
    F::V2Checkpoint,
    F::DeletionVectors,
    F::RowTracking,
    F::Clustering,
];

/// The highest legacy versions strata knows, and the explicit-feature versions.
pub const MAX_READER_VERSION: i32 = 3;
/// See [`MAX_READER_VERSION`].
pub const MAX_WRITER_VERSION: i32 = 7;

/// Features implied by a legacy (pre-features) writer version.
fn legacy_writer_features(version: i32) -> &'static [TableFeature] {
    const ALL: &[TableFeature] = &[
        F::AppendOnly,
        F::Invariants,
        F::CheckConstraints,
        F::ChangeDataFeed,
        F::GeneratedColumns,
        F::ColumnMapping,
        F::IdentityColumns,
    ];
    match version {
        ..=1 => &[],
        2 => &ALL[..2],
        3 => &ALL[..3],
        4 => &ALL[..5],
        5 => &ALL[..6],
        _ => ALL,
    }
}

/// The protocol with writer feature `feature` added, or `None` when the protocol already has
/// it. A legacy writer version becomes 7 with its implied features listed explicitly; the
/// reader version is unchanged, so readers are unaffected by a writer-only feature.
#[cfg(test)]
pub fn with_writer_feature(protocol: &Protocol, feature: TableFeature) -> Option<Protocol> {
    let mut writer = writer_features(protocol);
    if !writer.insert(feature) {
        return None;
    }
    Some(Protocol {
        min_reader_version: protocol.min_reader_version,
        min_writer_version: 7,
        reader_features: protocol.reader_features.clone(),
        writer_features: Some(writer.iter().map(|f| f.name().to_string()).collect()),
    })
}

/// The protocol without writer feature `feature`, or `None` when it does not list it: for
/// dropping a writer-only feature nothing uses any more (`protocol/PROTOCOL.md#tags`). When the
/// reader version is legacy and the remaining writer features are exactly what a legacy writer
/// version implies, the protocol goes back to that version, so clients that predate table
/// features can write again.
pub fn without_writer_feature(protocol: &Protocol, feature: TableFeature) -> Option<Protocol> {
    if protocol.min_writer_version < 7 {
        return None;
    }
    let mut writer = writer_features(protocol);
    if !writer.remove(&feature) {
        return None;
    }
    if protocol.min_reader_version < 3 {
        let legacy = (1..=6).find(|&v| {
            let implied: BTreeSet<TableFeature> =
                legacy_writer_features(v).iter().cloned().collect();
            implied == writer
        });
        if let Some(version) = legacy {
            return Some(Protocol {
                min_reader_version: protocol.min_reader_version,
                min_writer_version: version,
                reader_features: None,
                writer_features: None,
            });
        }
    }
    Some(Protocol {
        min_reader_version: protocol.min_reader_version,
        min_writer_version: 7,
        reader_features: protocol.reader_features.clone(),
        writer_features: Some(writer.iter().map(|f| f.name().to_string()).collect()),
    })
}

/// The protocol that has everything `current` and `required` have, or `None` when `current`
/// already does (`protocol/PROTOCOL.md#protocol-strata-writes`). Two legacy protocols merge to
/// the higher versions; otherwise the result lists features (writer version 7, and reader
/// version 3 when either side uses reader features), legacy versions expressed as the
/// features they imply, as Delta upgrades a table when a property needs a feature.
pub fn merged_protocol(current: &Protocol, required: &Protocol) -> Option<Protocol> {
    let (cr, rr) = (reader_features(current), reader_features(required));
    let (cw, rw) = (writer_features(current), writer_features(required));
    let covered = rr.is_subset(&cr)
        && rw.is_subset(&cw)
        && required.min_reader_version <= current.min_reader_version
        && required.min_writer_version <= current.min_writer_version;
    if covered {
        return None;
    }
    let legacy = |p: &Protocol| p.min_reader_version < 3 && p.min_writer_version < 7;
    if legacy(current) && legacy(required) {
        return Some(Protocol {
            min_reader_version: current.min_reader_version.max(required.min_reader_version),
            min_writer_version: current.min_writer_version.max(required.min_writer_version),
            reader_features: None,
            writer_features: None,
        });
    }
    let names = |set: BTreeSet<TableFeature>| set.iter().map(|f| f.name().to_string()).collect();
    let reader: BTreeSet<TableFeature> = cr.union(&rr).cloned().collect();
    let writer: BTreeSet<TableFeature> = cw.union(&rw).cloned().collect();
    let reader_version = if current.min_reader_version >= 3 || required.min_reader_version >= 3 {
        3
    } else {
        current.min_reader_version.max(required.min_reader_version)
    };
    Some(Protocol {
        min_reader_version: reader_version,
        min_writer_version: 7,
        reader_features: (reader_version == 3).then(|| names(reader)),
        writer_features: Some(names(writer)),
    })
}

/// The reader features a protocol requires, legacy versions expressed as feature names.
pub fn reader_features(protocol: &Protocol) -> BTreeSet<TableFeature> {
    match protocol.min_reader_version {
        ..=1 => BTreeSet::new(),
        2 => BTreeSet::from([F::ColumnMapping]),
        _ => named(&protocol.reader_features),
    }
}

/// The writer features a protocol requires, legacy versions expressed as feature names.
pub fn writer_features(protocol: &Protocol) -> BTreeSet<TableFeature> {
    match protocol.min_writer_version {
        7 => named(&protocol.writer_features),
        v => legacy_writer_features(v).iter().cloned().collect(),
    }
}

fn named(list: &Option<Vec<String>>) -> BTreeSet<TableFeature> {
    list.iter()
        .flatten()
        .map(|n| TableFeature::from_name(n))
        .collect()
}

/// Column mapping is read in every mode the spec defines (`none`, `name`, `id`); an unknown
/// mode is refused.
fn column_mapping_readable(metadata: &Metadata) -> bool {
    !matches!(
        TableProperties::from_configuration(&metadata.configuration).column_mapping_mode,
        ColumnMappingMode::Unknown(_)
    )
}

/// Checks that strata can read a table; returns the unsupported features by name.
///
/// `columnMapping` is accepted in modes `none`, `name` and `id` (`protocol/PROTOCOL.md#column-mapping`).
pub fn check_read(protocol: &Protocol, metadata: &Metadata) -> Result<(), Vec<String>> {
    if protocol.min_reader_version > MAX_READER_VERSION {
        return Err(vec![format!(
            "readerVersion{}",
            protocol.min_reader_version
        )]);
    }
    let unsupported: Vec<String> = reader_features(protocol)
        .into_iter()
        .filter(|f| match f {
            F::ColumnMapping => !column_mapping_readable(metadata),
            f => !SUPPORTED_READER_FEATURES.contains(f),
        })
        .map(|f| f.name().to_string())
        .collect();
    if unsupported.is_empty() {
        Ok(())
    } else {
        Err(unsupported)
    }
}

/// Checks that strata can write a table; returns the unsupported features by name. (What a
/// supported feature's metadata asks of each write, constraints, generated and identity
/// columns, is checked when the write starts, in `crates/strata/src/write/`.)
pub fn check_write(protocol: &Protocol, metadata: &Metadata) -> Result<(), Vec<String>> {
    if protocol.min_writer_version > MAX_WRITER_VERSION {
        return Err(vec![format!(
            "writerVersion{}",
            protocol.min_writer_version
        )]);
    }
    check_read(protocol, metadata)?;
    let problems: Vec<String> = writer_features(protocol)
        .into_iter()
        .filter(|f| !SUPPORTED_WRITER_FEATURES.contains(f))
        .map(|f| f.name().to_string())
        .collect();
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems)
    }
}

fn schema_has_ntz(data_type: &DataType) -> bool {
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
    configuration: &HashMap<String, String>,
) -> Protocol {
    let properties = TableProperties::from_configuration(configuration);
    let needs_ntz = schema.fields.iter().any(|f| schema_has_ntz(&f.data_type));
    let needs_ict = properties.enable_in_commit_timestamps;
    let needs_cdf = properties.enable_change_data_feed;
    let needs_v2_checkpoint = properties.checkpoint_policy_v2;
    let needs_row_tracking = properties.enable_row_tracking;
    let needs_deletion_vectors = properties.enable_deletion_vectors;
    let needs_column_mapping = matches!(
        properties.column_mapping_mode,
        ColumnMappingMode::Name | ColumnMappingMode::Id
    );
    let needs_checks = configuration
        .keys()
        .any(|k| k.starts_with(CONSTRAINTS_PREFIX));
    let needs_type_widening = properties.enable_type_widening;
    let needs_generated = schema
        .fields
        .iter()
        .any(|f| f.metadata.contains_key(GENERATION_EXPRESSION_KEY));
    let needs_identity = schema
        .fields
        .iter()
        .any(|f| f.metadata.keys().any(|k| k.starts_with("delta.identity.")));
    let legacy_writer = if needs_identity {
        6
    } else if needs_column_mapping {
        5
    } else if needs_cdf || needs_generated {
        4
    } else if needs_checks {
        3
    } else {
        2
    };
    if !needs_type_widening
        && !needs_ntz
        && !needs_ict
        && !needs_v2_checkpoint
        && !needs_row_tracking
        && !needs_deletion_vectors
    {
        // Legacy versions where they suffice: the most readers read them (column mapping is
        // reader version 2, writer version 5).
        return Protocol {
            min_reader_version: if needs_column_mapping { 2 } else { 1 },
            min_writer_version: legacy_writer,
            reader_features: None,
            writer_features: None,
        };
    }
    let mut writer: Vec<TableFeature> = legacy_writer_features(legacy_writer).to_vec();
    let mut reader = Vec::new();
    if needs_ntz {
        writer.push(F::TimestampNtz);
        reader.push(F::TimestampNtz);
    }
    if needs_ict {
        writer.push(F::InCommitTimestamp);
    }
    if needs_v2_checkpoint {
        writer.push(F::V2Checkpoint);
        reader.push(F::V2Checkpoint);
    }
    if needs_row_tracking {
        writer.push(F::DomainMetadata);
        writer.push(F::RowTracking);
    }
    if needs_deletion_vectors {
        writer.push(F::DeletionVectors);
        reader.push(F::DeletionVectors);
    }
    if needs_column_mapping {
        // Already among the legacy writer-5 features.
        reader.push(F::ColumnMapping);
    }
    if needs_type_widening {
        writer.push(F::TypeWidening);
        reader.push(F::TypeWidening);
    }
    let names = |list: Vec<TableFeature>| list.iter().map(|f| f.name().to_string()).collect();
    let reader_version = if reader.is_empty() { 1 } else { 3 };
    Protocol {
        min_reader_version: reader_version,
        min_writer_version: 7,
        reader_features: (reader_version == 3).then(|| names(reader)),
        writer_features: Some(names(writer)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::schema::StructField;

    fn meta(config: &[(&str, &str)]) -> Metadata {
        Metadata::with_configuration(config)
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
            &proto(
                3,
                7,
                Some(&["variantShredding-preview", "timestampNtz"]),
                Some(&[]),
            ),
            &m,
        )
        .unwrap_err();
        assert_eq!(err, vec!["variantShredding-preview"]);
        assert_eq!(
            check_read(&proto(4, 7, None, None), &m).unwrap_err(),
            vec!["readerVersion4"]
        );
        assert!(
            check_read(&proto(2, 5, None, None), &m).is_ok(),
            "column mapping mode none reads by name"
        );
        for mode in ["name", "id"] {
            assert!(
                check_read(
                    &proto(2, 5, None, None),
                    &meta(&[("delta.columnMapping.mode", mode)])
                )
                .is_ok(),
                "column mapping mode {mode} reads through physical names"
            );
        }
        assert_eq!(
            check_read(
                &proto(2, 5, None, None),
                &meta(&[("delta.columnMapping.mode", "magic")])
            )
            .unwrap_err(),
            vec!["columnMapping"]
        );
    }

    #[test]
    fn write_gate_refuses_unsupported_features() {
        assert!(check_write(&proto(1, 4, None, None), &meta(&[])).is_ok());
        // Constraints, invariants, generated and identity columns are enforced by the writer.
        assert!(
            check_write(
                &proto(1, 3, None, None),
                &meta(&[("delta.constraints.pos", "a > 0")]),
            )
            .is_ok()
        );
        assert!(check_write(&proto(1, 6, None, None), &meta(&[])).is_ok());
        let err = check_write(
            &proto(1, 7, None, Some(&["icebergCompatV2", "appendOnly"])),
            &meta(&[]),
        )
        .unwrap_err();
        assert_eq!(err, vec!["icebergCompatV2"]);
    }

    #[test]
    fn features_are_named_as_the_spec_names_them() {
        for (feature, name) in NAMES {
            assert_eq!(TableFeature::from_name(name), *feature);
            assert_eq!(feature.name(), *name);
        }
        assert_eq!(
            TableFeature::from_name("futureFeature"),
            TableFeature::Unknown("futureFeature".into())
        );
        let upgraded = with_writer_feature(&proto(1, 2, None, None), F::DomainMetadata).unwrap();
        assert_eq!(
            upgraded.writer_features.unwrap(),
            vec!["appendOnly", "domainMetadata", "invariants"]
        );
    }

    #[test]
    fn dropping_a_writer_feature_returns_to_the_legacy_version_it_came_from() {
        let tagged = with_writer_feature(&proto(1, 2, None, None), F::DomainMetadata).unwrap();
        assert_eq!(
            without_writer_feature(&tagged, F::DomainMetadata),
            Some(proto(1, 2, None, None))
        );
        let tagged = with_writer_feature(&proto(1, 4, None, None), F::DomainMetadata).unwrap();
        assert_eq!(
            without_writer_feature(&tagged, F::DomainMetadata),
            Some(proto(1, 4, None, None))
        );
        assert_eq!(
            without_writer_feature(
                &proto(1, 7, None, Some(&["domainMetadata"])),
                F::DomainMetadata
            ),
            Some(proto(1, 1, None, None))
        );
        // Reader features keep writer version 7, listing what remains.
        let dv = proto(
            3,
            7,
            Some(&["deletionVectors"]),
            Some(&["deletionVectors", "domainMetadata"]),
        );
        assert_eq!(
            without_writer_feature(&dv, F::DomainMetadata),
            Some(proto(
                3,
                7,
                Some(&["deletionVectors"]),
                Some(&["deletionVectors"])
            ))
        );
        // A set no legacy version implies stays explicit.
        let odd = proto(1, 7, None, Some(&["appendOnly", "domainMetadata"]));
        assert_eq!(
            without_writer_feature(&odd, F::DomainMetadata),
            Some(proto(1, 7, None, Some(&["appendOnly"])))
        );
        assert_eq!(
            without_writer_feature(&proto(1, 2, None, None), F::DomainMetadata),
            None
        );
        assert_eq!(without_writer_feature(&odd, F::ChangeDataFeed), None);
    }

    #[test]
    fn new_table_protocol_is_minimal() {
        let schema = StructType::new(vec![StructField::new("a", PrimitiveType::Long, true)]);
        assert_eq!(
            protocol_for_new_table(&schema, &HashMap::new()),
            proto(1, 2, None, None)
        );
        let config = |k: &str, v: &str| HashMap::from([(k.to_string(), v.to_string())]);
        assert_eq!(
            protocol_for_new_table(&schema, &config("delta.columnMapping.mode", "id")),
            proto(2, 5, None, None)
        );
        let tracked = protocol_for_new_table(&schema, &config("delta.enableRowTracking", "true"));
        assert_eq!(
            (tracked.min_reader_version, tracked.min_writer_version),
            (1, 7)
        );
        let writer = tracked.writer_features.unwrap();
        assert!(writer.contains(&"rowTracking".to_string()), "{writer:?}");
        assert!(writer.contains(&"domainMetadata".to_string()), "{writer:?}");
        let dv = protocol_for_new_table(&schema, &config("delta.enableDeletionVectors", "true"));
        assert_eq!((dv.min_reader_version, dv.min_writer_version), (3, 7));
        assert_eq!(dv.reader_features.unwrap(), ["deletionVectors"]);
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
        assert!(check_write(&protocol_for_new_table(&ntz, &HashMap::new()), &meta(&[])).is_ok());
    }
}
