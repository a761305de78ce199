//! Rules a schema must follow to be a table's: column names Delta accepts without column
//! mapping, unique ignoring case at every level (`protocol/PROTOCOL.md#schema`).

use super::{DataType, StructField, StructType};

/// Characters Delta refuses in column names unless column mapping is on (data files then use
/// physical names), because they are not valid in Parquet column names.
const SPECIAL_NAME_CHARS: &[char] = &[' ', ',', ';', '{', '}', '(', ')', '\n', '\t', '='];

/// Column names at every level: not empty, unique ignoring case within a struct (Delta is
/// case-insensitive), and, unless the table maps columns (`mapped`), free of
/// [`SPECIAL_NAME_CHARS`].
pub(crate) fn check_names(
    fields: &[StructField],
    parent: &str,
    mapped: bool,
) -> std::result::Result<(), String> {
    let mut seen = std::collections::HashSet::new();
    for f in fields {
        let path = if parent.is_empty() {
            f.name.clone()
        } else {
            format!("{parent}.{}", f.name)
        };
        if f.name.is_empty() {
            return Err(format!("a column name is empty (in {parent:?})"));
        }
        if !mapped && f.name.contains(SPECIAL_NAME_CHARS) {
            return Err(format!(
                "column name {path:?} contains one of ` ,;{{}}()\\n\\t=`, which Delta allows only with column mapping; rename the column or create the table with delta.columnMapping.mode=name"
            ));
        }
        if !seen.insert(f.name.to_lowercase()) {
            return Err(format!(
                "column {path:?} appears twice (names are case-insensitive in Delta)"
            ));
        }
        for nested in nested_structs(&f.data_type) {
            check_names(&nested.fields, &path, mapped)?;
        }
    }
    Ok(())
}

/// The structs directly inside a type (through arrays and maps).
fn nested_structs(data_type: &DataType) -> Vec<&StructType> {
    match data_type {
        DataType::Primitive(_) => Vec::new(),
        DataType::Struct(s) => vec![s],
        DataType::Array(a) => nested_structs(&a.element_type),
        DataType::Map(m) => {
            let mut all = nested_structs(&m.key_type);
            all.extend(nested_structs(&m.value_type));
            all
        }
    }
}
