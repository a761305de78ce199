//! Making Arrow data match the table's Arrow schema.
//!
//! Used on both sides of the data path: the writer conforms incoming batches (string views,
//! other timestamp units or zones, reordered struct fields) to the table schema so every file
//! strata writes has the canonical types; the scan conforms what each file holds (INT96 or
//! millisecond timestamps, columns added after the file was written, narrower types from type
//! widening) to the table schema so every batch it yields has one schema.
//! Columns and struct fields are found by name, or, on a table with column mapping, by physical
//! name or field id ([`ColumnLookup`]), recursively, and take the table's (logical) names;
//! map entries and list elements are matched by position; anything else goes through Arrow's
//! cast.

use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, ListArray, MapArray, RecordBatch, StructArray, new_null_array,
};
use arrow::compute::{CastOptions, cast_with_options};
use arrow::datatypes::{DataType, Field, Fields, SchemaRef};
use arrow::error::ArrowError;

use super::column_mapping::{ColumnLookup, find_field};

/// Casting must never silently turn a value into null: out-of-range values are errors.
const STRICT: CastOptions<'static> = CastOptions {
    safe: false,
    format_options: arrow::util::display::FormatOptions::new(),
};

/// Conforms one column to `target`'s type. Missing nested struct fields become nulls.
pub fn conform_array(
    array: &ArrayRef,
    target: &Field,
    lookup: ColumnLookup,
) -> Result<ArrayRef, ArrowError> {
    match (array.data_type(), target.data_type()) {
        (a, b) if a == b && !lookup.is_mapped() => Ok(array.clone()),
        (DataType::Struct(_), DataType::Struct(target_fields)) => {
            conform_struct(array, target_fields, lookup)
        }
        (DataType::Map(_, _), DataType::Map(entries, sorted)) => {
            conform_map(array, entries, *sorted, lookup)
        }
        (DataType::List(_), DataType::List(element)) => conform_list(array, element, lookup),
        (DataType::Timestamp(_, zone), DataType::Timestamp(unit, target_zone)) => {
            // Arrow timestamps with a zone hold UTC instants, and Delta's naive-in-file
            // `timestamp` values (INT96, or INT64 without isAdjustedToUTC) are UTC instants too:
            // change the unit, then relabel the zone. (A cast through the zone would need the
            // tz database and would shift naive values.)
            let rescaled =
                cast_with_options(array, &DataType::Timestamp(*unit, zone.clone()), &STRICT)?;
            let data = rescaled
                .to_data()
                .into_builder()
                .data_type(DataType::Timestamp(*unit, target_zone.clone()));
            Ok(arrow::array::make_array(data.build()?))
        }
        (DataType::Dictionary(_, _), _) => {
            let plain = arrow::compute::cast(array, target.data_type())?;
            conform_array(&plain, target, lookup)
        }
        (a, b) if a == b => Ok(array.clone()),
        _ => cast_with_options(array, target.data_type(), &STRICT),
    }
}

fn conform_struct(
    array: &ArrayRef,
    target_fields: &Fields,
    lookup: ColumnLookup,
) -> Result<ArrayRef, ArrowError> {
    let Some(source) = array.as_any().downcast_ref::<StructArray>() else {
        return Err(ArrowError::CastError(format!(
            "expected a struct, found {}",
            array.data_type()
        )));
    };
    let columns = target_fields
        .iter()
        .map(|field| match find_field(source.fields(), field, lookup) {
            Some((i, _)) => conform_array(source.column(i), field, lookup),
            None => Ok(new_null_array(field.data_type(), source.len())),
        })
        .collect::<Result<Vec<_>, _>>()?;
    let nulls = source.nulls().cloned();
    Ok(Arc::new(StructArray::try_new(
        target_fields.clone(),
        columns,
        nulls,
    )?))
}

/// Maps are conformed by position (key, value): writers name the entry fields differently
/// (`key_value`/`key`/`value` in Delta and Spark, `entries`/`key`/`value` in pyarrow).
fn conform_map(
    array: &ArrayRef,
    entries: &arrow::datatypes::FieldRef,
    sorted: bool,
    lookup: ColumnLookup,
) -> Result<ArrayRef, ArrowError> {
    let (Some(source), DataType::Struct(target_fields)) = (
        array.as_any().downcast_ref::<MapArray>(),
        entries.data_type(),
    ) else {
        return Err(ArrowError::CastError(format!(
            "cannot conform {} to {}",
            array.data_type(),
            entries.data_type()
        )));
    };
    if target_fields.len() != 2 {
        return Err(ArrowError::CastError(
            "map entries must have a key and a value".into(),
        ));
    }
    let keys = conform_array(source.keys(), &target_fields[0], lookup)?;
    let values = conform_array(source.values(), &target_fields[1], lookup)?;
    let struct_array = StructArray::try_new(target_fields.clone(), vec![keys, values], None)?;
    let map = MapArray::try_new(
        entries.clone(),
        source.offsets().clone(),
        struct_array,
        source.nulls().cloned(),
        sorted,
    )?;
    Ok(Arc::new(map))
}

/// Lists are conformed element by element (the element field is named as the target names it).
fn conform_list(
    array: &ArrayRef,
    element: &arrow::datatypes::FieldRef,
    lookup: ColumnLookup,
) -> Result<ArrayRef, ArrowError> {
    let Some(source) = array.as_any().downcast_ref::<ListArray>() else {
        return Err(ArrowError::CastError(format!(
            "expected a list, found {}",
            array.data_type()
        )));
    };
    let values = conform_array(source.values(), element, lookup)?;
    Ok(Arc::new(ListArray::try_new(
        element.clone(),
        source.offsets().clone(),
        values,
        source.nulls().cloned(),
    )?))
}

/// Builds a batch with exactly `schema`'s columns, each found in `batch` by `lookup`, filling
/// absent ones with `fill(field)` (nulls, or a partition value).
pub fn conform_batch(
    batch: &RecordBatch,
    schema: &SchemaRef,
    lookup: ColumnLookup,
    mut fill: impl FnMut(&Field, usize) -> Result<ArrayRef, ArrowError>,
) -> Result<RecordBatch, ArrowError> {
    let source = batch.schema();
    let columns = schema
        .fields()
        .iter()
        .map(|field| match find_field(source.fields(), field, lookup) {
            Some((i, _)) => conform_array(batch.column(i), field, lookup),
            None => fill(field, batch.num_rows()),
        })
        .collect::<Result<Vec<_>, _>>()?;
    let options = arrow::array::RecordBatchOptions::new().with_row_count(Some(batch.num_rows()));
    RecordBatch::try_new_with_options(schema.clone(), columns, &options)
}

/// `batch` with exactly `schema`'s columns, as strata conforms written data and data files to a
/// table's schema: columns taken by name, cast strictly (a value that does not fit is an
/// error, never truncated or null), struct fields and map entries by name, and columns the
/// batch lacks filled with nulls.
///
/// # Errors
/// The Arrow error for a value or type that cannot be cast.
pub fn conform_to_schema(
    batch: &RecordBatch,
    schema: &SchemaRef,
) -> Result<RecordBatch, ArrowError> {
    conform_batch(batch, schema, ColumnLookup::Name, nulls)
}

/// A column of nulls, for a column the data does not have.
pub fn nulls(field: &Field, len: usize) -> Result<ArrayRef, ArrowError> {
    Ok(new_null_array(field.data_type(), len))
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{Int32Array, Int64Array, StringArray, TimestampNanosecondArray};
    use arrow::datatypes::{Schema, TimeUnit};

    #[test]
    fn conforms_by_name_with_missing_and_cast_columns() {
        let batch = RecordBatch::try_from_iter([
            ("b", Arc::new(StringArray::from(vec!["x", "y"])) as ArrayRef),
            ("a", Arc::new(Int32Array::from(vec![1, 2])) as ArrayRef),
            (
                "ts",
                Arc::new(TimestampNanosecondArray::from(vec![1_000, 2_000])) as ArrayRef,
            ),
        ])
        .unwrap();
        let schema = Arc::new(Schema::new(vec![
            Field::new("a", DataType::Int64, true),
            Field::new("b", DataType::Utf8, true),
            Field::new(
                "ts",
                DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
                true,
            ),
            Field::new("c", DataType::Utf8, true),
        ]));
        let out = conform_batch(&batch, &schema, ColumnLookup::Name, nulls).unwrap();
        assert_eq!(out.schema(), schema);
        assert_eq!(
            out.column(0)
                .as_any()
                .downcast_ref::<Int64Array>()
                .unwrap()
                .value(1),
            2
        );
        assert_eq!(out.column(3).null_count(), 2);
    }

    #[test]
    fn struct_fields_match_by_name_and_missing_nested_is_null() {
        let inner = StructArray::from(vec![(
            Arc::new(Field::new("y", DataType::Int32, true)),
            Arc::new(Int32Array::from(vec![7])) as ArrayRef,
        )]);
        let target = Field::new(
            "s",
            DataType::Struct(Fields::from(vec![
                Field::new("x", DataType::Utf8, true),
                Field::new("y", DataType::Int64, true),
            ])),
            true,
        );
        let out =
            conform_array(&(Arc::new(inner) as ArrayRef), &target, ColumnLookup::Name).unwrap();
        let out = out.as_any().downcast_ref::<StructArray>().unwrap();
        assert!(out.column(0).is_null(0));
        assert_eq!(
            out.column(1)
                .as_any()
                .downcast_ref::<Int64Array>()
                .unwrap()
                .value(0),
            7
        );
    }

    #[test]
    fn overflow_is_an_error_not_a_null() {
        let big = Arc::new(Int64Array::from(vec![i64::MAX])) as ArrayRef;
        assert!(
            conform_array(
                &big,
                &Field::new("a", DataType::Int32, true),
                ColumnLookup::Name
            )
            .is_err()
        );
    }
}
