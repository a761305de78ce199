//! Table constraints as the log states them (`protocol/PROTOCOL.md#constraints`): CHECK
//! constraints in `metaData.configuration` (`delta.constraints.<name>` = a SQL boolean
//! expression, feature `checkConstraints`) and column invariants in a field's metadata
//! (`delta.invariants` = `{"expression": {"expression": "<sql>"}}`, feature `invariants`).
//!
//! Pure: this reads and names them. Enforcing them on rows is the writer's
//! (`crates/strata/src/write/constraints.rs`).

use serde_json::Value;

use super::actions::Metadata;
use super::properties::CONSTRAINTS_PREFIX;
use super::schema::{DataType, StructField, StructType};

/// The field metadata key of a column invariant.
pub const INVARIANTS_KEY: &str = "delta.invariants";

/// Where a constraint comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConstraintKind {
    /// `delta.constraints.<name>` in the table's configuration.
    Check,
    /// `delta.invariants` on the column at this path (`a.b` for a struct field).
    Invariant,
}

/// One constraint every row of the table satisfies: its expression is true (not false, not
/// null), as Delta enforces it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Constraint {
    /// Check or invariant.
    pub kind: ConstraintKind,
    /// The CHECK constraint's name (the property key without `delta.constraints.`), or the
    /// invariant's column path.
    pub name: String,
    /// The SQL expression as the table stores it.
    pub expression: String,
}

impl Constraint {
    /// How messages name it: `CHECK constraint positive_amount`, `the invariant on amount`.
    pub fn label(&self) -> String {
        match self.kind {
            ConstraintKind::Check => format!("CHECK constraint {}", self.name),
            ConstraintKind::Invariant => format!("the invariant on column {}", self.name),
        }
    }
}

/// The constraints of a table: its CHECK constraints (by name) and then its column invariants
/// (in schema order).
///
/// # Errors
/// A sentence naming an invariant whose metadata is not the Delta shape.
pub fn table_constraints(
    metadata: &Metadata,
    schema: &StructType,
) -> Result<Vec<Constraint>, String> {
    let mut checks: Vec<Constraint> = metadata
        .configuration
        .iter()
        .filter_map(|(key, value)| {
            key.strip_prefix(CONSTRAINTS_PREFIX).map(|name| Constraint {
                kind: ConstraintKind::Check,
                name: name.to_string(),
                expression: value.clone(),
            })
        })
        .collect();
    checks.sort_by(|a, b| a.name.cmp(&b.name));
    let mut invariants = Vec::new();
    collect_invariants(&schema.fields, "", &mut invariants)?;
    checks.extend(invariants);
    Ok(checks)
}

/// The field metadata key of a generated column's SQL expression (feature `generatedColumns`).
pub const GENERATION_EXPRESSION_KEY: &str = "delta.generationExpression";

/// A generated column: its value is always its expression over the row's other columns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GeneratedColumn {
    /// The column (top level).
    pub name: String,
    /// The SQL expression, as the table stores it.
    pub expression: String,
}

/// The table's generated columns, in schema order.
///
/// # Errors
/// A sentence naming a nested generated column (Delta allows only top-level ones) or a
/// non-text expression.
pub fn generated_columns(schema: &StructType) -> Result<Vec<GeneratedColumn>, String> {
    let mut found = Vec::new();
    for field in &schema.fields {
        if let Some(value) = field.metadata.get(GENERATION_EXPRESSION_KEY) {
            let expression = value.as_str().ok_or_else(|| {
                format!(
                    "column {} has {GENERATION_EXPRESSION_KEY} {value}, which is not SQL text",
                    field.name
                )
            })?;
            found.push(GeneratedColumn {
                name: field.name.clone(),
                expression: expression.to_string(),
            });
        }
        if let DataType::Struct(inner) = &field.data_type
            && has_nested_generated(inner)
        {
            return Err(format!(
                "a field inside column {} is generated; only top-level columns can be",
                field.name
            ));
        }
    }
    Ok(found)
}

fn has_nested_generated(schema: &StructType) -> bool {
    schema.fields.iter().any(|f| {
        f.metadata.contains_key(GENERATION_EXPRESSION_KEY)
            || matches!(&f.data_type, DataType::Struct(inner) if has_nested_generated(inner))
    })
}

/// The CHECK constraint property key for `name`.
pub fn constraint_key(name: &str) -> String {
    format!("{CONSTRAINTS_PREFIX}{}", name.to_lowercase())
}

/// Checks a CHECK constraint name as Spark does: letters, digits and underscores, not empty.
///
/// # Errors
/// A sentence saying what is wrong.
pub fn validate_constraint_name(name: &str) -> Result<(), String> {
    if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        return Err(format!(
            "constraint name {name:?} must be letters, digits and underscores"
        ));
    }
    Ok(())
}

fn collect_invariants(
    fields: &[StructField],
    prefix: &str,
    out: &mut Vec<Constraint>,
) -> Result<(), String> {
    for field in fields {
        let path = if prefix.is_empty() {
            field.name.clone()
        } else {
            format!("{prefix}.{}", field.name)
        };
        if let Some(value) = field.metadata.get(INVARIANTS_KEY) {
            out.push(Constraint {
                kind: ConstraintKind::Invariant,
                expression: invariant_expression(value).ok_or_else(|| {
                    format!(
                        "column {path} has {INVARIANTS_KEY} {value} which is not {{\"expression\": {{\"expression\": \"<sql>\"}}}}"
                    )
                })?,
                name: path.clone(),
            });
        }
        if let DataType::Struct(inner) = &field.data_type {
            collect_invariants(&inner.fields, &path, out)?;
        }
    }
    Ok(())
}

/// The SQL text of an invariant: Spark stores the JSON document as a string; a parsed object
/// is taken too.
fn invariant_expression(value: &Value) -> Option<String> {
    let parsed;
    let document = match value {
        Value::String(text) => {
            parsed = serde_json::from_str::<Value>(text).ok()?;
            &parsed
        }
        other => other,
    };
    document
        .get("expression")?
        .get("expression")?
        .as_str()
        .map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::schema::{PrimitiveType, StructField};

    fn metadata(config: &[(&str, &str)]) -> Metadata {
        Metadata::with_configuration(config)
    }

    #[test]
    fn reads_checks_and_invariants_in_both_shapes() {
        let schema = StructType::new(vec![
            StructField::new("a", PrimitiveType::Long, true).with_metadata([(
                INVARIANTS_KEY,
                Value::String(r#"{"expression":{"expression":"a > 0"}}"#.into()),
            )]),
            StructField::new(
                "s",
                DataType::struct_type(vec![
                    StructField::new("b", PrimitiveType::Integer, true).with_metadata([(
                        INVARIANTS_KEY,
                        serde_json::json!({"expression": {"expression": "s.b < 3"}}),
                    )]),
                ]),
                true,
            ),
        ]);
        let found = table_constraints(
            &metadata(&[
                ("delta.constraints.z_last", "a < 100"),
                ("delta.constraints.a_first", "a IS NOT NULL"),
                ("delta.appendOnly", "true"),
            ]),
            &schema,
        )
        .unwrap();
        let names: Vec<(&str, &str)> = found
            .iter()
            .map(|c| (c.name.as_str(), c.expression.as_str()))
            .collect();
        assert_eq!(
            names,
            [
                ("a_first", "a IS NOT NULL"),
                ("z_last", "a < 100"),
                ("a", "a > 0"),
                ("s.b", "s.b < 3")
            ]
        );
        assert_eq!(found[0].label(), "CHECK constraint a_first");
        assert_eq!(found[3].label(), "the invariant on column s.b");
    }

    #[test]
    fn a_malformed_invariant_is_named() {
        let schema = StructType::new(vec![
            StructField::new("a", PrimitiveType::Long, true)
                .with_metadata([(INVARIANTS_KEY, Value::String("a > 0".into()))]),
        ]);
        let err = table_constraints(&metadata(&[]), &schema).unwrap_err();
        assert!(err.contains("column a"), "{err}");
    }

    #[test]
    fn names_are_checked_and_keys_lowercased() {
        assert!(validate_constraint_name("positive_amount").is_ok());
        assert!(validate_constraint_name("bad name").is_err());
        assert!(validate_constraint_name("").is_err());
        assert_eq!(constraint_key("Pos"), "delta.constraints.pos");
    }
}
