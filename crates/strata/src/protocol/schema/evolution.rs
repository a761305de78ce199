//! Changing a table's schema (`protocol/PROTOCOL.md#schema-evolution`): merging the columns of
//! written data into it, and the `ALTER TABLE` edits (add, rename, drop, nullability,
//! comments, type widening). Pure functions from one schema to the next; each error is a
//! sentence naming the column.
//!
//! Columns are addressed by paths of field names (`["address", "city"]`), matched exactly.

use super::column_mapping::{COLUMN_ID_KEY, PHYSICAL_NAME_KEY, assign_column_mapping_with};
use super::{DataType, PrimitiveType, StructField, StructType};

/// The field metadata key of a column comment, as Spark stores it.
pub const COMMENT_KEY: &str = "comment";
/// The field metadata key type widening records past changes in (`typeWidening`).
pub const TYPE_CHANGES_KEY: &str = "delta.typeChanges";

/// Where an added column goes among its siblings.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum ColumnPosition {
    /// After the last column (the default).
    #[default]
    Last,
    /// Before every other column.
    First,
    /// Right after the named sibling.
    After(String),
}

/// True when a value of `from` always fits `to` exactly, so data of type `from` may be
/// written to a column of type `to` (and a column may be widened from one to the other):
/// integers to wider integers, `float` to `double`, integers to `double`, and a decimal to one
/// with at least as many integer and fraction digits (`protocol/PROTOCOL.md#schema-evolution`).
pub fn is_widening(from: &DataType, to: &DataType) -> bool {
    use PrimitiveType as P;
    let (DataType::Primitive(from), DataType::Primitive(to)) = (from, to) else {
        return false;
    };
    let int_rank = |p: &P| match p {
        P::Byte => Some(1),
        P::Short => Some(2),
        P::Integer => Some(3),
        P::Long => Some(4),
        _ => None,
    };
    match (from, to) {
        (a, b) if a == b => false,
        (P::Float, P::Double) => true,
        (P::Byte | P::Short | P::Integer, P::Double) => true,
        (
            P::Decimal {
                precision: p1,
                scale: s1,
            },
            P::Decimal {
                precision: p2,
                scale: s2,
            },
        ) => s2 >= s1 && (p2 - s2) >= (p1 - s1),
        (a, b) => matches!((int_rank(a), int_rank(b)), (Some(x), Some(y)) if x < y),
    }
}

/// `table` with the columns of `data` it lacks added (nullable, at the end of their struct),
/// recursing into structs present in both: what a write with schema mode `merge` commits. A
/// column whose type differs is an error unless the data's type widens to the table's.
///
/// # Errors
/// Every conflicting column, one sentence each.
pub fn merge_schema(table: &StructType, data: &StructType) -> Result<StructType, Vec<String>> {
    let mut problems = Vec::new();
    let merged = merge_struct(table, data, "", &mut problems);
    if problems.is_empty() {
        Ok(merged)
    } else {
        Err(problems)
    }
}

fn merge_struct(
    table: &StructType,
    data: &StructType,
    prefix: &str,
    problems: &mut Vec<String>,
) -> StructType {
    let mut fields = table.fields.clone();
    for incoming in &data.fields {
        let path = join(prefix, &incoming.name);
        match fields.iter_mut().find(|f| f.name == incoming.name) {
            Some(existing) => {
                if let (DataType::Struct(have), DataType::Struct(add)) =
                    (&existing.data_type, &incoming.data_type)
                {
                    existing.data_type =
                        DataType::Struct(Box::new(merge_struct(have, add, &path, problems)));
                } else if existing.data_type != incoming.data_type
                    && !is_widening(&incoming.data_type, &existing.data_type)
                    && !same_shape(&existing.data_type, &incoming.data_type)
                {
                    problems.push(format!(
                        "column `{path}` has type {} in the data but {} in the table; schema merging adds columns but does not change types (widen the column first)",
                        incoming.data_type, existing.data_type
                    ));
                }
            }
            None => fields.push(as_new_column(incoming)),
        }
    }
    StructType::new(fields)
}

/// Arrays and maps are left to the write's own check, which names the inner column.
fn same_shape(a: &DataType, b: &DataType) -> bool {
    matches!(
        (a, b),
        (DataType::Array(_), DataType::Array(_)) | (DataType::Map(_), DataType::Map(_))
    )
}

/// A column as merged in from data: nullable at every level, without column mapping metadata
/// another table gave it.
fn as_new_column(field: &StructField) -> StructField {
    let mut field = field.clone();
    strip_mapping(&mut field);
    make_nullable(&mut field);
    field
}

fn make_nullable(field: &mut StructField) {
    field.nullable = true;
    if let DataType::Struct(inner) = &mut field.data_type {
        inner.fields.iter_mut().for_each(make_nullable);
    }
}

fn strip_mapping(field: &mut StructField) {
    field.metadata.remove(COLUMN_ID_KEY);
    field.metadata.remove(PHYSICAL_NAME_KEY);
    if let DataType::Struct(inner) = &mut field.data_type {
        inner.fields.iter_mut().for_each(strip_mapping);
    }
}

/// `schema` with `field` added to the struct at `parent` (empty for the top level).
///
/// # Errors
/// When the parent is not a struct column, the name is taken, or the `After` column is
/// missing.
pub fn add_column(
    schema: &StructType,
    parent: &[String],
    field: StructField,
    position: &ColumnPosition,
) -> Result<StructType, String> {
    let mut schema = schema.clone();
    let parent_path = parent.join(".");
    let siblings = struct_at(&mut schema, parent)?;
    if siblings
        .fields
        .iter()
        .any(|f| f.name.eq_ignore_ascii_case(&field.name))
    {
        return Err(format!(
            "column `{}` already exists",
            join(&parent_path, &field.name)
        ));
    }
    let index = match position {
        ColumnPosition::Last => siblings.fields.len(),
        ColumnPosition::First => 0,
        ColumnPosition::After(name) => {
            siblings
                .fields
                .iter()
                .position(|f| &f.name == name)
                .ok_or_else(|| {
                    format!(
                        "cannot add `{}` after `{}`: no such column",
                        field.name,
                        join(&parent_path, name)
                    )
                })?
                + 1
        }
    };
    siblings.fields.insert(index, field);
    Ok(schema)
}

/// `schema` with the column at `path` renamed to `new_name` (its physical name, if any,
/// unchanged).
///
/// # Errors
/// When the column is missing or a sibling already has the new name.
pub fn rename_column(
    schema: &StructType,
    path: &[String],
    new_name: &str,
) -> Result<StructType, String> {
    let mut schema = schema.clone();
    let (parent, name) = split(path)?;
    let siblings = struct_at(&mut schema, parent)?;
    if siblings
        .fields
        .iter()
        .any(|f| f.name != *name && f.name.eq_ignore_ascii_case(new_name))
    {
        return Err(format!(
            "cannot rename `{}` to `{new_name}`: that column already exists",
            path.join(".")
        ));
    }
    let field = field_in(siblings, name, path)?;
    field.name = new_name.to_string();
    Ok(schema)
}

/// `schema` without the column at `path`.
///
/// # Errors
/// When the column is missing or is the last column of its struct.
pub fn drop_column(schema: &StructType, path: &[String]) -> Result<StructType, String> {
    let mut schema = schema.clone();
    let (parent, name) = split(path)?;
    let siblings = struct_at(&mut schema, parent)?;
    let index = siblings
        .fields
        .iter()
        .position(|f| &f.name == name)
        .ok_or_else(|| format!("no column `{}`", path.join(".")))?;
    if siblings.fields.len() == 1 {
        return Err(format!(
            "cannot drop `{}`: it is the only column of its struct",
            path.join(".")
        ));
    }
    siblings.fields.remove(index);
    Ok(schema)
}

/// `schema` with a change applied to the column at `path`.
///
/// # Errors
/// When the column is missing.
pub fn update_column(
    schema: &StructType,
    path: &[String],
    change: impl FnOnce(&mut StructField) -> Result<(), String>,
) -> Result<StructType, String> {
    let mut schema = schema.clone();
    let (parent, name) = split(path)?;
    let siblings = struct_at(&mut schema, parent)?;
    change(field_in(siblings, name, path)?)?;
    Ok(schema)
}

/// The column at `path`, if any.
pub fn column_at<'a>(schema: &'a StructType, path: &[String]) -> Option<&'a StructField> {
    let (first, rest) = path.split_first()?;
    let mut field = schema.field(first)?;
    for name in rest {
        field = field.data_type.as_struct()?.field(name)?;
    }
    Some(field)
}

/// Records a type change in the field's `delta.typeChanges` as the `typeWidening` feature
/// specifies: `{"fromType": …, "toType": …}` appended to the list.
pub fn record_type_change(field: &mut StructField, from: &DataType, to: &DataType) {
    let entry = serde_json::json!({
        "fromType": from.to_string(),
        "toType": to.to_string(),
    });
    let mut changes = match field.metadata.get(TYPE_CHANGES_KEY) {
        Some(serde_json::Value::Array(list)) => list.clone(),
        _ => Vec::new(),
    };
    changes.push(entry);
    field.metadata.insert(
        TYPE_CHANGES_KEY.to_string(),
        serde_json::Value::Array(changes),
    );
}

/// `schema` prepared for column mapping mode `name` on a table that had none: every field
/// (at every depth) gets a column id and, so that the existing data files still resolve, its
/// current name as its physical name, as Delta upgrades a table; returns the schema and the
/// new `delta.columnMapping.maxColumnId`.
pub fn upgrade_to_column_mapping(schema: &StructType) -> (StructType, i64) {
    upgrade_to_column_mapping_above(schema, 0)
}

/// [`upgrade_to_column_mapping`] with column ids above `max_column_id`: a restore to a
/// version from before the table turned column mapping on keeps it on, and must not hand
/// out ids already used.
pub fn upgrade_to_column_mapping_above(
    schema: &StructType,
    max_column_id: i64,
) -> (StructType, i64) {
    assign_column_mapping_with(&without_mapping(schema), max_column_id, &|field| {
        field.name.clone()
    })
}

/// `schema` without column ids and physical names (a table without column mapping may still
/// carry them from another writer; an upgrade assigns them afresh).
fn without_mapping(schema: &StructType) -> StructType {
    let mut schema = schema.clone();
    for field in &mut schema.fields {
        strip_mapping(field);
    }
    schema
}

fn join(prefix: &str, name: &str) -> String {
    if prefix.is_empty() {
        name.to_string()
    } else {
        format!("{prefix}.{name}")
    }
}

fn split(path: &[String]) -> Result<(&[String], &String), String> {
    let (name, parent) = path
        .split_last()
        .ok_or_else(|| "a column path is empty".to_string())?;
    Ok((parent, name))
}

/// The struct holding the fields at `path` (the top level for an empty path).
fn struct_at<'a>(
    schema: &'a mut StructType,
    path: &[String],
) -> Result<&'a mut StructType, String> {
    let mut current = schema;
    for (i, name) in path.iter().enumerate() {
        let so_far = path[..=i].join(".");
        let field = current
            .fields
            .iter_mut()
            .find(|f| &f.name == name)
            .ok_or_else(|| format!("no column `{so_far}`"))?;
        current = match &mut field.data_type {
            DataType::Struct(inner) => inner,
            other => return Err(format!("column `{so_far}` is a {other}, not a struct")),
        };
    }
    Ok(current)
}

fn field_in<'a>(
    siblings: &'a mut StructType,
    name: &str,
    path: &[String],
) -> Result<&'a mut StructField, String> {
    siblings
        .fields
        .iter_mut()
        .find(|f| f.name == name)
        .ok_or_else(|| format!("no column `{}`", path.join(".")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn path(p: &str) -> Vec<String> {
        p.split('.').map(str::to_string).collect()
    }

    fn schema(ddl: &str) -> StructType {
        StructType::from_ddl(ddl).unwrap()
    }

    #[test]
    fn widening_is_exact_only() {
        let d = |p, s| {
            DataType::Primitive(PrimitiveType::Decimal {
                precision: p,
                scale: s,
            })
        };
        assert!(is_widening(&DataType::INTEGER, &DataType::LONG));
        assert!(is_widening(&DataType::BYTE, &DataType::SHORT));
        assert!(is_widening(&DataType::FLOAT, &DataType::DOUBLE));
        assert!(is_widening(&DataType::INTEGER, &DataType::DOUBLE));
        assert!(is_widening(&d(10, 2), &d(12, 2)));
        assert!(is_widening(&d(10, 2), &d(12, 4)));
        assert!(!is_widening(&d(10, 2), &d(10, 3)), "loses an integer digit");
        assert!(!is_widening(&DataType::LONG, &DataType::INTEGER));
        assert!(
            !is_widening(&DataType::LONG, &DataType::DOUBLE),
            "not exact"
        );
        assert!(!is_widening(&DataType::LONG, &DataType::LONG));
        assert!(!is_widening(&DataType::STRING, &DataType::LONG));
    }

    #[test]
    fn merge_adds_columns_and_nested_fields_nullable() {
        let table = schema("id long not null, addr struct<city:string>");
        let data = schema(
            "id int not null, addr struct<city:string, zip:int not null>, extra string not null",
        );
        let merged = merge_schema(&table, &data).unwrap();
        assert_eq!(
            merged,
            schema("id long not null, addr struct<city:string, zip:int>, extra string")
        );
        let err = merge_schema(&table, &schema("id string")).unwrap_err();
        assert!(err[0].contains("column `id` has type string"), "{err:?}");
    }

    #[test]
    fn add_rename_drop_and_update() {
        let s = schema("a long, s struct<x:int>, c string");
        let added = add_column(
            &s,
            &path("s"),
            StructField::new("y", DataType::STRING, true),
            &ColumnPosition::First,
        )
        .unwrap();
        assert_eq!(added, schema("a long, s struct<y:string, x:int>, c string"));
        let after = add_column(
            &s,
            &[],
            StructField::new("b", DataType::LONG, true),
            &ColumnPosition::After("a".into()),
        )
        .unwrap();
        assert_eq!(
            after.field_names().collect::<Vec<_>>(),
            ["a", "b", "s", "c"]
        );
        assert!(
            add_column(
                &s,
                &[],
                StructField::new("A", DataType::LONG, true),
                &ColumnPosition::Last
            )
            .is_err()
        );
        assert!(
            add_column(
                &s,
                &path("c"),
                StructField::new("z", DataType::LONG, true),
                &ColumnPosition::Last
            )
            .is_err()
        );

        let renamed = rename_column(&s, &path("s.x"), "xx").unwrap();
        assert_eq!(renamed, schema("a long, s struct<xx:int>, c string"));
        assert!(rename_column(&s, &path("a"), "c").is_err());
        assert!(rename_column(&s, &path("nope"), "d").is_err());

        assert_eq!(
            drop_column(&s, &path("c")).unwrap(),
            schema("a long, s struct<x:int>")
        );
        assert!(
            drop_column(&s, &path("s.x")).is_err(),
            "last field of a struct"
        );

        let relaxed = update_column(&schema("a long not null"), &path("a"), |f| {
            f.nullable = true;
            Ok(())
        })
        .unwrap();
        assert_eq!(relaxed, schema("a long"));
        assert_eq!(
            column_at(&s, &path("s.x")).unwrap().data_type,
            DataType::INTEGER
        );
    }

    #[test]
    fn upgrade_keeps_names_as_physical_names() {
        let (upgraded, max) = upgrade_to_column_mapping(&schema("a long, s struct<x:int>"));
        assert_eq!(max, 3);
        let x = column_at(&upgraded, &path("s.x")).unwrap();
        assert_eq!(x.metadata[PHYSICAL_NAME_KEY], "x");
        assert_eq!(x.metadata[COLUMN_ID_KEY], 3);
    }

    #[test]
    fn type_changes_accumulate() {
        let mut f = StructField::new("a", DataType::LONG, true);
        record_type_change(&mut f, &DataType::BYTE, &DataType::INTEGER);
        record_type_change(&mut f, &DataType::INTEGER, &DataType::LONG);
        assert_eq!(
            f.metadata[TYPE_CHANGES_KEY],
            serde_json::json!([
                {"fromType": "byte", "toType": "integer"},
                {"fromType": "integer", "toType": "long"}
            ])
        );
    }
}
