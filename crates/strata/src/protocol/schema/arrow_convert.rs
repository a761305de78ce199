//! Delta types to and from Arrow (`protocol/PROTOCOL.md#schema`): the mapping readers and
//! writers use, field metadata included.

use super::*;
use std::collections::HashMap;

/// Delta metadata values are arbitrary JSON, Arrow's are strings. Strings are kept
/// raw so Arrow consumers see `comment` and `delta.generationExpression` as
/// written; everything else becomes compact JSON text. A string that would itself
/// parse as JSON (say `"42"`, or a `delta.invariants` document) is stored as a
/// quoted JSON string instead, otherwise the way back would turn it into a number
/// or object and the round trip would change the table's metadata.
pub(super) fn metadata_to_arrow(metadata: &BTreeMap<String, Value>) -> HashMap<String, String> {
    metadata
        .iter()
        .map(|(key, value)| {
            let text = match value {
                Value::String(s) if serde_json::from_str::<Value>(s).is_err() => s.clone(),
                other => other.to_string(),
            };
            (key.clone(), text)
        })
        .collect()
}

pub(super) fn field_to_arrow(
    field: &StructField,
    path: &str,
) -> Result<arrow_schema::Field, SchemaError> {
    Ok(arrow_schema::Field::new(
        field.name.clone(),
        data_type_to_arrow(&field.data_type, path)?,
        field.nullable,
    )
    .with_metadata(metadata_to_arrow(&field.metadata)))
}

pub(super) fn struct_fields_to_arrow(
    st: &StructType,
    path: &str,
) -> Result<arrow_schema::Fields, SchemaError> {
    st.fields
        .iter()
        .map(|f| field_to_arrow(f, &child_path(path, &f.name)))
        .collect()
}

pub(super) fn data_type_to_arrow(
    data_type: &DataType,
    path: &str,
) -> Result<ArrowDataType, SchemaError> {
    use arrow_schema::{Field, TimeUnit};
    Ok(match data_type {
        DataType::Primitive(p) => match p {
            PrimitiveType::String => ArrowDataType::Utf8,
            PrimitiveType::Long => ArrowDataType::Int64,
            PrimitiveType::Integer => ArrowDataType::Int32,
            PrimitiveType::Short => ArrowDataType::Int16,
            PrimitiveType::Byte => ArrowDataType::Int8,
            PrimitiveType::Float => ArrowDataType::Float32,
            PrimitiveType::Double => ArrowDataType::Float64,
            PrimitiveType::Boolean => ArrowDataType::Boolean,
            PrimitiveType::Binary => ArrowDataType::Binary,
            PrimitiveType::Date => ArrowDataType::Date32,
            PrimitiveType::Timestamp => {
                ArrowDataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()))
            }
            PrimitiveType::TimestampNtz => ArrowDataType::Timestamp(TimeUnit::Microsecond, None),
            PrimitiveType::Void => ArrowDataType::Null,
            // Unshredded Variant, as Parquet stores it and delta-kernel-rs reads it.
            PrimitiveType::Variant => ArrowDataType::Struct(
                vec![
                    Field::new("metadata", ArrowDataType::Binary, false),
                    Field::new("value", ArrowDataType::Binary, false),
                ]
                .into(),
            ),
            PrimitiveType::Decimal { precision, scale } => {
                // The variant is public, so re-check what parse would have rejected.
                check_decimal(u32::from(*precision), i32::from(*scale), path)?;
                ArrowDataType::Decimal128(*precision, (*scale).cast_signed())
            }
        },
        DataType::Struct(st) => ArrowDataType::Struct(struct_fields_to_arrow(st, path)?),
        DataType::Array(at) => {
            let element = data_type_to_arrow(&at.element_type, &child_path(path, "element"))?;
            // "element" matches the Parquet LIST convention Delta writers use.
            ArrowDataType::List(Arc::new(Field::new("element", element, at.contains_null)))
        }
        DataType::Map(mt) => {
            let key = data_type_to_arrow(&mt.key_type, &child_path(path, "key"))?;
            let value = data_type_to_arrow(&mt.value_type, &child_path(path, "value"))?;
            let entries = ArrowDataType::Struct(
                vec![
                    Field::new("key", key, false),
                    Field::new("value", value, mt.value_contains_null),
                ]
                .into(),
            );
            ArrowDataType::Map(Arc::new(Field::new("key_value", entries, false)), false)
        }
    })
}

/// Inverse of [`metadata_to_arrow`]: text that parses as JSON becomes that JSON
/// value, anything else a JSON string.
pub(super) fn metadata_from_arrow(metadata: &HashMap<String, String>) -> BTreeMap<String, Value> {
    metadata
        .iter()
        .filter(|(key, _)| !key.starts_with(ARROW_METADATA_PREFIX))
        .map(|(key, text)| {
            let value =
                serde_json::from_str(text).unwrap_or_else(|_| Value::String(text.to_string()));
            (key.clone(), value)
        })
        .collect()
}

pub(super) fn field_from_arrow(
    field: &arrow_schema::Field,
    path: &str,
) -> Result<StructField, SchemaError> {
    Ok(StructField {
        name: field.name().clone(),
        data_type: data_type_from_arrow(field.data_type(), path)?,
        nullable: field.is_nullable(),
        metadata: metadata_from_arrow(field.metadata()),
    })
}

pub(super) fn struct_from_arrow_fields(
    fields: &arrow_schema::Fields,
    path: &str,
) -> Result<StructType, SchemaError> {
    let mut seen = HashSet::with_capacity(fields.len());
    let mut out = Vec::with_capacity(fields.len());
    for field in fields {
        let field_path = child_path(path, field.name());
        if !seen.insert(field.name().as_str()) {
            return Err(SchemaError::DuplicateField { field: field_path });
        }
        out.push(field_from_arrow(field, &field_path)?);
    }
    Ok(StructType::new(out))
}

/// The element field of any Arrow list-like type.
pub(super) fn list_element(data_type: &ArrowDataType) -> Option<&arrow_schema::FieldRef> {
    match data_type {
        ArrowDataType::List(f)
        | ArrowDataType::LargeList(f)
        | ArrowDataType::ListView(f)
        | ArrowDataType::LargeListView(f)
        | ArrowDataType::FixedSizeList(f, _) => Some(f),
        _ => None,
    }
}

/// Key and value fields of an Arrow map, whatever its entry fields are called
/// (Arrow's own default is `entries`/`keys`/`values`).
pub(super) fn map_entries(
    data_type: &ArrowDataType,
) -> Option<(&arrow_schema::FieldRef, &arrow_schema::FieldRef)> {
    match data_type {
        ArrowDataType::Map(entries, _) => match entries.data_type() {
            ArrowDataType::Struct(kv) if kv.len() == 2 => Some((&kv[0], &kv[1])),
            _ => None,
        },
        _ => None,
    }
}

pub(super) fn arrow_decimal(precision: u8, scale: i8) -> Option<PrimitiveType> {
    let scale = u8::try_from(scale).ok()?;
    PrimitiveType::decimal(precision, scale).ok()
}

pub(super) fn data_type_from_arrow(
    data_type: &ArrowDataType,
    path: &str,
) -> Result<DataType, SchemaError> {
    let unsupported = || SchemaError::UnsupportedArrowType {
        field: path.to_string(),
        arrow_type: data_type.to_string(),
    };
    if let Some(element) = list_element(data_type) {
        return Ok(DataType::array(
            data_type_from_arrow(element.data_type(), &child_path(path, "element"))?,
            element.is_nullable(),
        ));
    }
    Ok(match data_type {
        ArrowDataType::Utf8 | ArrowDataType::LargeUtf8 | ArrowDataType::Utf8View => {
            DataType::STRING
        }
        ArrowDataType::Int64 => DataType::LONG,
        ArrowDataType::Int32 => DataType::INTEGER,
        ArrowDataType::Int16 => DataType::SHORT,
        ArrowDataType::Int8 => DataType::BYTE,
        ArrowDataType::Float32 => DataType::FLOAT,
        ArrowDataType::Float64 => DataType::DOUBLE,
        ArrowDataType::Boolean => DataType::BOOLEAN,
        ArrowDataType::Binary
        | ArrowDataType::LargeBinary
        | ArrowDataType::BinaryView
        | ArrowDataType::FixedSizeBinary(_) => DataType::BINARY,
        ArrowDataType::Date32 | ArrowDataType::Date64 => DataType::DATE,
        ArrowDataType::Timestamp(_, Some(_)) => DataType::TIMESTAMP,
        ArrowDataType::Timestamp(_, None) => DataType::TIMESTAMP_NTZ,
        ArrowDataType::Decimal32(p, s)
        | ArrowDataType::Decimal64(p, s)
        | ArrowDataType::Decimal128(p, s)
        | ArrowDataType::Decimal256(p, s) => {
            DataType::Primitive(arrow_decimal(*p, *s).ok_or_else(unsupported)?)
        }
        ArrowDataType::Struct(fields) => struct_from_arrow_fields(fields, path)?.into(),
        ArrowDataType::Map(..) => {
            let (key, value) = map_entries(data_type).ok_or_else(unsupported)?;
            DataType::map(
                data_type_from_arrow(key.data_type(), &child_path(path, "key"))?,
                data_type_from_arrow(value.data_type(), &child_path(path, "value"))?,
                value.is_nullable(),
            )
        }
        // Dictionary encoding is a storage detail; the column holds its values.
        ArrowDataType::Dictionary(_, values) => data_type_from_arrow(values, path)?,
        _ => return Err(unsupported()),
    })
}
