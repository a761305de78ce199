//! Write compatibility: whether Arrow data may be appended to a table of a schema, with every
//! problem named by its column path.

use super::arrow_convert::{list_element, map_entries};
use super::*;

pub(super) fn compare_struct(
    table: &StructType,
    data: &arrow_schema::Fields,
    path: &str,
    problems: &mut Vec<String>,
) {
    let mut seen = HashSet::with_capacity(data.len());
    for field in data {
        let field_path = child_path(path, field.name());
        if !seen.insert(field.name().as_str()) {
            problems.push(format!(
                "column `{field_path}` appears more than once in the data"
            ));
            continue;
        }
        match table.field(field.name()) {
            Some(table_field) => {
                compare_type(
                    &table_field.data_type,
                    field.data_type(),
                    &field_path,
                    problems,
                );
            }
            None => problems.push(format!("column `{field_path}` is not in the table schema")),
        }
    }
    for table_field in &table.fields {
        if !table_field.nullable && !seen.contains(table_field.name.as_str()) {
            problems.push(format!(
                "column `{}` is not nullable but is missing from the data",
                child_path(path, &table_field.name)
            ));
        }
    }
}

pub(super) fn compare_type(
    table: &DataType,
    data: &ArrowDataType,
    path: &str,
    problems: &mut Vec<String>,
) {
    if let ArrowDataType::Dictionary(_, values) = data {
        return compare_type(table, values, path, problems);
    }
    // Recurse where both sides have the same shape so that problems name the
    // innermost column, and nullability differences inside do not count.
    match (table, data) {
        (DataType::Struct(st), ArrowDataType::Struct(fields)) => {
            return compare_struct(st, fields, path, problems);
        }
        (DataType::Array(at), _) => {
            if let Some(element) = list_element(data) {
                let element_path = child_path(path, "element");
                return compare_type(
                    &at.element_type,
                    element.data_type(),
                    &element_path,
                    problems,
                );
            }
        }
        (DataType::Map(mt), _) => {
            if let Some((key, value)) = map_entries(data) {
                compare_type(
                    &mt.key_type,
                    key.data_type(),
                    &child_path(path, "key"),
                    problems,
                );
                compare_type(
                    &mt.value_type,
                    value.data_type(),
                    &child_path(path, "value"),
                    problems,
                );
                return;
            }
        }
        _ => {}
    }
    match data_type_from_arrow(data, path) {
        Ok(data_type) if data_type == *table => {}
        // A narrower type is written as the table's: the conform step casts it exactly.
        Ok(data_type) if super::evolution::is_widening(&data_type, table) => {}
        Ok(data_type) => problems.push(format!(
            "column `{path}` has type {data_type} in the data but {table} in the table"
        )),
        Err(SchemaError::UnsupportedArrowType { field, arrow_type }) => problems.push(format!(
            "column `{field}` has Arrow type {arrow_type} in the data, which has no Delta equivalent"
        )),
        Err(other) => problems.push(other.to_string()),
    }
}
