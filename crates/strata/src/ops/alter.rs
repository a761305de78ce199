//! `ALTER TABLE` (`protocol/PROTOCOL.md#schema-evolution`, `#constraints`,
//! `#table-properties`): schema edits, table properties, constraints and comments, any number
//! of them in one commit with the new `metaData` and, when they need a feature the protocol
//! lacks, the upgraded `protocol`, as Delta upgrades a table:
//! - renaming or dropping a column turns on column mapping in `name` mode (reader 2, writer 5)
//!   if the table has none, keeping every existing column's name as its physical name, so no
//!   data file is rewritten;
//! - widening a type turns on `typeWidening` and records the change in `delta.typeChanges`;
//! - a CHECK constraint needs writer 3 (or `checkConstraints`);
//! - properties such as `delta.enableDeletionVectors` add their features.
//!
//! A constraint added, or a column made NOT NULL, is first checked against every live row;
//! the commit then reads the whole table, so a concurrent append of violating rows makes one
//! of the two fail ([`crate::ConflictReason`]) and the table never holds a violating row.

use std::collections::{BTreeMap, HashMap};

use futures::TryStreamExt;

use crate::error::{Error, Result};
use crate::expr::Expr;
use crate::protocol::actions::{Action, Metadata};
use crate::protocol::constraints::{
    Constraint, ConstraintKind, constraint_key, validate_constraint_name,
};
use crate::protocol::features::{merged_protocol, protocol_for_new_table};
use crate::protocol::properties::{
    COLUMN_MAPPING_MAX_COLUMN_ID, COLUMN_MAPPING_MODE, CONSTRAINTS_PREFIX, ColumnMappingMode,
    ENABLE_IN_COMMIT_TIMESTAMPS, ENABLE_ROW_TRACKING, ENABLE_TYPE_WIDENING, TableProperties,
};
use crate::protocol::schema::column_mapping::{assign_column_mapping, max_column_id};
use crate::protocol::schema::evolution::{
    COMMENT_KEY, ColumnPosition, add_column, column_at, drop_column, is_widening,
    record_type_change, rename_column, update_column, upgrade_to_column_mapping,
};
use crate::protocol::schema::validate::check_names;
use crate::protocol::schema::{DataType, StructField, StructType};
use crate::snapshot::Snapshot;
use crate::snapshot::latest::LatestSnapshot;
use crate::transaction::Transaction;
use crate::write::constraints::ConstraintChecker;

/// A column to add: its path (`address.zip` adds `zip` to the struct `address`), type,
/// nullability, comment and position.
#[derive(Debug, Clone, PartialEq)]
pub struct NewColumn {
    path: Vec<String>,
    data_type: DataType,
    nullable: bool,
    comment: Option<String>,
    position: ColumnPosition,
}

impl NewColumn {
    /// A nullable column at `path` (dot-separated) of `data_type`, added last.
    pub fn new(path: &str, data_type: impl Into<DataType>) -> NewColumn {
        NewColumn {
            path: split_path(path),
            data_type: data_type.into(),
            nullable: true,
            comment: None,
            position: ColumnPosition::Last,
        }
    }

    /// Makes it `NOT NULL` (only on a table without rows: existing rows would be null).
    pub fn not_null(mut self) -> NewColumn {
        self.nullable = false;
        self
    }

    /// Sets its comment.
    pub fn with_comment(mut self, comment: impl Into<String>) -> NewColumn {
        self.comment = Some(comment.into());
        self
    }

    /// Puts it first, last or after a sibling.
    pub fn at(mut self, position: ColumnPosition) -> NewColumn {
        self.position = position;
        self
    }

    /// Parses `path type [NOT NULL] [COMMENT '…'] [FIRST | AFTER sibling]`, the column DDL
    /// of Spark's `ALTER TABLE … ADD COLUMN` (`address.zip string COMMENT 'postal' AFTER
    /// city`).
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] naming what could not be read.
    pub fn parse(text: &str) -> Result<NewColumn> {
        let text = text.trim();
        let (path, rest) = text.split_once(char::is_whitespace).ok_or_else(|| {
            Error::InvalidArgument(format!(
                "column {text:?} needs a type: write `name type [NOT NULL] [COMMENT '…'] [FIRST|AFTER col]`"
            ))
        })?;
        let (definition, position) = split_position(rest.trim());
        let path = split_path(path);
        let name = path.last().cloned().unwrap_or_default();
        let ddl = format!("`{}` {definition}", name.replace('`', "``"));
        let parsed = StructType::from_ddl(&ddl)
            .map_err(|e| Error::InvalidArgument(format!("column {text:?}: {e}")))?;
        let field = parsed
            .fields
            .into_iter()
            .next()
            .ok_or_else(|| Error::InvalidArgument(format!("column {text:?} has no type")))?;
        Ok(NewColumn {
            path,
            nullable: field.nullable,
            comment: field
                .metadata
                .get(COMMENT_KEY)
                .and_then(|v| v.as_str())
                .map(str::to_string),
            data_type: field.data_type,
            position,
        })
    }

    fn field(&self) -> StructField {
        let mut field = StructField::new(
            self.path.last().cloned().unwrap_or_default(),
            self.data_type.clone(),
            self.nullable,
        );
        if let Some(comment) = &self.comment {
            field = field.with_metadata([(COMMENT_KEY, comment.clone())]);
        }
        field
    }
}

/// `FIRST` / `AFTER x` at the end of a column definition (outside any quoted comment).
fn split_position(definition: &str) -> (&str, ColumnPosition) {
    let upper = unquoted_upper(definition);
    if let Some(stripped) = upper.strip_suffix(" FIRST") {
        return (&definition[..stripped.len()], ColumnPosition::First);
    }
    if let Some(at) = upper.rfind(" AFTER ") {
        let sibling = definition[at + 7..].trim();
        if !sibling.is_empty() && !sibling.contains(char::is_whitespace) {
            return (
                &definition[..at],
                ColumnPosition::After(sibling.trim_matches('`').to_string()),
            );
        }
    }
    (definition, ColumnPosition::Last)
}

/// `text` upper-cased (ASCII) with every character inside quotes or backquotes replaced by
/// `_`, byte for byte, so keyword searches skip quoted text and keep byte offsets.
fn unquoted_upper(text: &str) -> String {
    let mut quote: Option<char> = None;
    text.chars()
        .map(|c| match quote {
            Some(q) if c == q => {
                quote = None;
                c.to_string()
            }
            Some(_) => "_".repeat(c.len_utf8()),
            None => {
                if matches!(c, '\'' | '"' | '`') {
                    quote = Some(c);
                }
                c.to_ascii_uppercase().to_string()
            }
        })
        .collect()
}

fn split_path(path: &str) -> Vec<String> {
    path.split('.')
        .map(|p| p.trim().trim_matches('`').to_string())
        .collect()
}

/// One change of an `ALTER TABLE`.
#[derive(Debug, Clone, PartialEq)]
enum Change {
    AddColumn(NewColumn),
    RenameColumn {
        path: Vec<String>,
        to: String,
    },
    DropColumn(Vec<String>),
    SetNullable {
        path: Vec<String>,
        nullable: bool,
    },
    WidenType {
        path: Vec<String>,
        to: DataType,
    },
    SetColumnComment {
        path: Vec<String>,
        comment: Option<String>,
    },
    SetProperty {
        key: String,
        value: String,
    },
    UnsetProperty(String),
    AddConstraint {
        name: String,
        expression: String,
    },
    DropConstraint(String),
    SetComment(Option<String>),
}

impl Change {
    /// The operation name Delta gives a commit of this change alone.
    fn operation(&self) -> &'static str {
        match self {
            Change::AddColumn(_) => "ADD COLUMNS",
            Change::RenameColumn { .. } => "RENAME COLUMN",
            Change::DropColumn(_) => "DROP COLUMNS",
            Change::SetNullable { .. }
            | Change::WidenType { .. }
            | Change::SetColumnComment { .. } => "CHANGE COLUMN",
            Change::SetProperty { .. } | Change::SetComment(_) => "SET TBLPROPERTIES",
            Change::UnsetProperty(_) => "UNSET TBLPROPERTIES",
            Change::AddConstraint { .. } => "ADD CONSTRAINT",
            Change::DropConstraint(_) => "DROP CONSTRAINT",
        }
    }
}

/// What an `ALTER TABLE` committed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlterResult {
    /// The version committed (the current version when nothing changed).
    pub version: i64,
    /// False when every change was already in effect: nothing was committed.
    pub committed: bool,
    /// The commit's operation (`ADD COLUMNS`, `RENAME COLUMN`, …, or `ALTER TABLE` for a mix).
    pub operation: String,
    /// True when the protocol was upgraded (column mapping, type widening, constraints, …).
    pub protocol_upgraded: bool,
    /// Live rows checked against added constraints or NOT NULL.
    pub rows_checked: u64,
}

/// Schema, property and constraint changes committed together, built by
/// [`crate::Table::alter`].
#[must_use = "an ALTER does nothing until `.execute().await`"]
pub struct AlterBuilder {
    latest: LatestSnapshot,
    changes: Vec<Change>,
}

impl AlterBuilder {
    pub(crate) fn new(latest: LatestSnapshot) -> AlterBuilder {
        AlterBuilder {
            latest,
            changes: Vec::new(),
        }
    }

    fn with(mut self, change: Change) -> Self {
        self.changes.push(change);
        self
    }

    /// Adds a column (`ADD COLUMN`), nested in a struct when its path has several parts.
    pub fn add_column(self, column: NewColumn) -> Self {
        self.with(Change::AddColumn(column))
    }

    /// Renames a column (`RENAME COLUMN a.b TO c`); metadata-only, with column mapping.
    pub fn rename_column(self, path: &str, new_name: &str) -> Self {
        self.with(Change::RenameColumn {
            path: split_path(path),
            to: new_name.to_string(),
        })
    }

    /// Drops a column (`DROP COLUMN`); metadata-only, with column mapping. Its data stays in
    /// the files (and in time travel) until they are rewritten.
    pub fn drop_column(self, path: &str) -> Self {
        self.with(Change::DropColumn(split_path(path)))
    }

    /// Makes a column nullable, or `NOT NULL` after checking no live row holds a null.
    pub fn set_nullable(self, path: &str, nullable: bool) -> Self {
        self.with(Change::SetNullable {
            path: split_path(path),
            nullable,
        })
    }

    /// Widens a column's type (`int` to `long`, `float` to `double`, a wider decimal …) with
    /// the `typeWidening` feature; files keep the old type and are read as the new one.
    pub fn widen_type(self, path: &str, to: impl Into<DataType>) -> Self {
        self.with(Change::WidenType {
            path: split_path(path),
            to: to.into(),
        })
    }

    /// Sets or clears a column's comment.
    pub fn set_column_comment(self, path: &str, comment: Option<&str>) -> Self {
        self.with(Change::SetColumnComment {
            path: split_path(path),
            comment: comment.map(str::to_string),
        })
    }

    /// Sets a table property (`SET TBLPROPERTIES`).
    pub fn set_property(self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.with(Change::SetProperty {
            key: key.into(),
            value: value.into(),
        })
    }

    /// Removes a table property (`UNSET TBLPROPERTIES`); removing one that is not set is a
    /// no-op.
    pub fn unset_property(self, key: impl Into<String>) -> Self {
        self.with(Change::UnsetProperty(key.into()))
    }

    /// Adds a CHECK constraint (`ADD CONSTRAINT name CHECK (expr)`), after checking every
    /// live row satisfies it.
    pub fn add_constraint(self, name: impl Into<String>, expression: impl Into<String>) -> Self {
        self.with(Change::AddConstraint {
            name: name.into(),
            expression: expression.into(),
        })
    }

    /// Drops a CHECK constraint.
    pub fn drop_constraint(self, name: impl Into<String>) -> Self {
        self.with(Change::DropConstraint(name.into()))
    }

    /// Sets or clears the table's comment (`metaData.description`).
    pub fn set_comment(self, comment: Option<&str>) -> Self {
        self.with(Change::SetComment(comment.map(str::to_string)))
    }

    /// Applies every change and commits them as one version.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] for a change that does not apply (a missing column, a
    /// narrowing type, an unknown constraint), [`Error::NotAllowed`] for one the table forbids
    /// (dropping a partition column, a column a constraint reads),
    /// [`Error::ConstraintViolation`] when existing rows break an added constraint or NOT NULL,
    /// [`Error::Conflict`] when a concurrent commit changed the table.
    pub async fn execute(self) -> Result<AlterResult> {
        let snapshot = self.latest.get().await?;
        snapshot.require_writable()?;
        let operation = match self.changes.as_slice() {
            [] => {
                return Err(Error::InvalidArgument(
                    "ALTER TABLE without a change".into(),
                ));
            }
            [first, rest @ ..] if rest.iter().all(|c| c.operation() == first.operation()) => {
                first.operation().to_string()
            }
            _ => "ALTER TABLE".to_string(),
        };
        let mut plan = Plan::new(&snapshot);
        for change in &self.changes {
            plan.apply(change)?;
        }
        let Some(metadata) = plan.finish()? else {
            return Ok(AlterResult {
                version: snapshot.version(),
                committed: false,
                operation,
                protocol_upgraded: false,
                rows_checked: 0,
            });
        };
        let required = protocol_for_new_table(
            &StructType::parse(&metadata.schema_string)?,
            &metadata.configuration,
        );
        let upgraded = merged_protocol(snapshot.protocol(), &required);
        // Checked as the table will be: later changes see the names and columns earlier ones
        // gave it.
        // Read with every column nullable: the rows of a column about to become NOT NULL are
        // what is being checked.
        let relaxed = Metadata {
            schema_string: all_nullable(&StructType::parse(&metadata.schema_string)?)
                .to_json_string(),
            ..metadata.clone()
        };
        let altered = snapshot.with_metadata(upgraded.clone(), relaxed)?;
        let rows_checked = validate_rows(&altered, plan.row_checks).await?;
        let mut tx = Transaction::new(&snapshot, operation.clone()).with_parameter(
            "changes",
            serde_json::to_string(&describe(&self.changes)).unwrap_or_default(),
        );
        let protocol_upgraded = upgraded.is_some();
        if let Some(upgraded) = upgraded {
            tx.add_actions([Action::Protocol(upgraded)]);
        }
        tx.add_actions([Action::Metadata(metadata)]);
        let committed = tx.commit().await?;
        self.latest.remember_committed(&committed.snapshot);
        Ok(AlterResult {
            version: committed.version,
            committed: true,
            operation,
            protocol_upgraded,
            rows_checked,
        })
    }
}

/// The changes as `commitInfo.operationParameters.changes` records them.
fn describe(changes: &[Change]) -> Vec<String> {
    changes
        .iter()
        .map(|c| match c {
            Change::AddColumn(col) => {
                format!("ADD COLUMN {} {}", col.path.join("."), col.data_type)
            }
            Change::RenameColumn { path, to } => {
                format!("RENAME COLUMN {} TO {to}", path.join("."))
            }
            Change::DropColumn(path) => format!("DROP COLUMN {}", path.join(".")),
            Change::SetNullable { path, nullable } => format!(
                "ALTER COLUMN {} {} NOT NULL",
                path.join("."),
                if *nullable { "DROP" } else { "SET" }
            ),
            Change::WidenType { path, to } => format!("ALTER COLUMN {} TYPE {to}", path.join(".")),
            Change::SetColumnComment { path, .. } => {
                format!("ALTER COLUMN {} COMMENT", path.join("."))
            }
            Change::SetProperty { key, value } => format!("SET {key}={value}"),
            Change::UnsetProperty(key) => format!("UNSET {key}"),
            Change::AddConstraint { name, expression } => {
                format!("ADD CONSTRAINT {name} CHECK ({expression})")
            }
            Change::DropConstraint(name) => format!("DROP CONSTRAINT {name}"),
            Change::SetComment(_) => "COMMENT".to_string(),
        })
        .collect()
}

/// The table's next metadata, built change by change.
struct Plan<'a> {
    snapshot: &'a Snapshot,
    schema: StructType,
    configuration: HashMap<String, String>,
    partition_columns: Vec<String>,
    description: Option<String>,
    /// Constraints the existing rows must satisfy before the commit.
    row_checks: Vec<Constraint>,
}

impl<'a> Plan<'a> {
    fn new(snapshot: &'a Snapshot) -> Plan<'a> {
        let metadata = snapshot.metadata();
        Plan {
            snapshot,
            schema: snapshot.schema().clone(),
            configuration: metadata.configuration.clone(),
            partition_columns: metadata.partition_columns.clone(),
            description: metadata.description.clone(),
            row_checks: Vec::new(),
        }
    }

    fn invalid(&self, reason: String) -> Error {
        Error::InvalidArgument(format!(
            "ALTER TABLE {}: {reason}",
            self.snapshot.storage().location()
        ))
    }

    fn not_allowed(&self, operation: &str, reason: String) -> Error {
        Error::NotAllowed {
            location: self.snapshot.storage().location().to_string(),
            operation: operation.to_string(),
            reason,
        }
    }

    fn mapping_mode(&self) -> ColumnMappingMode {
        TableProperties::from_configuration(&self.configuration).column_mapping_mode
    }

    fn apply(&mut self, change: &Change) -> Result<()> {
        match change {
            Change::AddColumn(column) => self.add_column(column),
            Change::RenameColumn { path, to } => self.rename_column(path, to),
            Change::DropColumn(path) => self.drop_column(path),
            Change::SetNullable { path, nullable } => self.set_nullable(path, *nullable),
            Change::WidenType { path, to } => self.widen_type(path, to),
            Change::SetColumnComment { path, comment } => {
                self.schema = update_column(&self.schema, path, |f| {
                    match comment {
                        Some(c) => f.metadata.insert(COMMENT_KEY.into(), c.clone().into()),
                        None => f.metadata.remove(COMMENT_KEY),
                    };
                    Ok(())
                })
                .map_err(|e| self.invalid(e))?;
                Ok(())
            }
            Change::SetProperty { key, value } => self.set_property(key, value),
            Change::UnsetProperty(key) => self.unset_property(key),
            Change::AddConstraint { name, expression } => self.add_constraint(name, expression),
            Change::DropConstraint(name) => {
                let key = constraint_key(name);
                if self.configuration.remove(&key).is_none() {
                    return Err(self.invalid(format!(
                        "no CHECK constraint {name:?}; the table has [{}]",
                        self.constraint_names().join(", ")
                    )));
                }
                self.row_checks.retain(|c| c.name != name.to_lowercase());
                Ok(())
            }
            Change::SetComment(comment) => {
                self.description = comment.clone();
                Ok(())
            }
        }
    }

    fn constraint_names(&self) -> Vec<String> {
        let mut names: Vec<String> = self
            .configuration
            .keys()
            .filter_map(|k| k.strip_prefix(CONSTRAINTS_PREFIX).map(str::to_string))
            .collect();
        names.sort();
        names
    }

    fn add_column(&mut self, column: &NewColumn) -> Result<()> {
        if !column.nullable && self.snapshot.num_files() > 0 {
            return Err(self.invalid(format!(
                "cannot add NOT NULL column `{}` to a table with data: its existing rows would be null. Add it nullable, fill it with UPDATE, then make it NOT NULL",
                column.path.join(".")
            )));
        }
        let (parent, _) = column
            .path
            .split_last()
            .map(|(_, parent)| (parent, ()))
            .ok_or_else(|| self.invalid("a column needs a name".into()))?;
        self.schema = add_column(&self.schema, parent, column.field(), &column.position)
            .map_err(|e| self.invalid(e))?;
        Ok(())
    }

    /// Rename and drop keep the data files as they are: the table needs column mapping.
    fn require_column_mapping(&mut self) {
        if self.mapping_mode() != ColumnMappingMode::None {
            return;
        }
        let (schema, max_id) = upgrade_to_column_mapping(&self.schema);
        self.schema = schema;
        self.configuration
            .insert(COLUMN_MAPPING_MODE.into(), "name".into());
        self.configuration
            .insert(COLUMN_MAPPING_MAX_COLUMN_ID.into(), max_id.to_string());
    }

    fn rename_column(&mut self, path: &[String], to: &str) -> Result<()> {
        self.refuse_if_constrained(path, "rename")?;
        self.require_column_mapping();
        self.schema = rename_column(&self.schema, path, to).map_err(|e| self.invalid(e))?;
        if let [name] = path
            && let Some(p) = self.partition_columns.iter_mut().find(|p| *p == name)
        {
            *p = to.to_string();
        }
        Ok(())
    }

    fn drop_column(&mut self, path: &[String]) -> Result<()> {
        let dotted = path.join(".");
        if let [name] = path
            && self.partition_columns.contains(name)
        {
            return Err(
                self.not_allowed("drop column", format!("`{dotted}` is a partition column"))
            );
        }
        self.refuse_if_constrained(path, "drop")?;
        self.require_column_mapping();
        self.schema = drop_column(&self.schema, path).map_err(|e| self.invalid(e))?;
        Ok(())
    }

    /// A column a CHECK constraint reads cannot be renamed or dropped (as in Delta): the
    /// constraint's text names it.
    fn refuse_if_constrained(&self, path: &[String], what: &str) -> Result<()> {
        let dotted = path.join(".").to_lowercase();
        for (key, expression) in &self.configuration {
            let Some(name) = key.strip_prefix(CONSTRAINTS_PREFIX) else {
                continue;
            };
            let reads = Expr::parse(expression).map_or(true, |expr| {
                expr.columns().iter().any(|c| {
                    let column = c.join(".").to_lowercase();
                    column == dotted
                        || column.starts_with(&format!("{dotted}."))
                        || dotted.starts_with(&format!("{column}."))
                })
            });
            if reads {
                return Err(self.not_allowed(
                    &format!("{what} column"),
                    format!(
                        "CHECK constraint {name} ({expression}) reads `{}`; drop the constraint first",
                        path.join(".")
                    ),
                ));
            }
        }
        Ok(())
    }

    fn set_nullable(&mut self, path: &[String], nullable: bool) -> Result<()> {
        let dotted = path.join(".");
        let current = column_at(&self.schema, path)
            .ok_or_else(|| self.invalid(format!("no column `{dotted}`")))?;
        if !nullable && current.nullable {
            self.row_checks.push(Constraint {
                kind: ConstraintKind::Check,
                name: format!("NOT NULL on {dotted}"),
                expression: format!("{} IS NOT NULL", quoted(path)),
            });
        }
        self.schema = update_column(&self.schema, path, |f| {
            f.nullable = nullable;
            Ok(())
        })
        .map_err(|e| self.invalid(e))?;
        Ok(())
    }

    fn widen_type(&mut self, path: &[String], to: &DataType) -> Result<()> {
        let dotted = path.join(".");
        let current = column_at(&self.schema, path)
            .ok_or_else(|| self.invalid(format!("no column `{dotted}`")))?
            .data_type
            .clone();
        if current == *to {
            return Ok(());
        }
        if !is_widening(&current, to) {
            return Err(self.invalid(format!(
                "cannot change `{dotted}` from {current} to {to}: only widening that keeps every value exactly is supported (byte→short→int→long, float→double, integers→double, a decimal with at least as many integer and fraction digits)"
            )));
        }
        self.configuration
            .insert(ENABLE_TYPE_WIDENING.into(), "true".into());
        self.schema = update_column(&self.schema, path, |f| {
            record_type_change(f, &current, to);
            f.data_type = to.clone();
            Ok(())
        })
        .map_err(|e| self.invalid(e))?;
        Ok(())
    }

    fn set_property(&mut self, key: &str, value: &str) -> Result<()> {
        if let Some(name) = key.strip_prefix(CONSTRAINTS_PREFIX) {
            if self.configuration.get(key).map(String::as_str) == Some(value) {
                return Ok(());
            }
            return self.add_constraint(name, value);
        }
        if key == COLUMN_MAPPING_MODE {
            let wanted = value.trim().to_ascii_lowercase();
            return match (self.mapping_mode(), wanted.as_str()) {
                (ColumnMappingMode::None, "name") => {
                    self.require_column_mapping();
                    Ok(())
                }
                (ColumnMappingMode::Name, "name") | (ColumnMappingMode::None, "none") => Ok(()),
                (ColumnMappingMode::Id, "id") => Ok(()),
                (from, _) => Err(self.not_allowed(
                    "set properties",
                    format!(
                        "{key} cannot change from {from:?} to {value}: strata upgrades a table from none to name only"
                    ),
                )),
            };
        }
        if key == ENABLE_ROW_TRACKING || key == ENABLE_IN_COMMIT_TIMESTAMPS {
            if self.configuration.get(key).map(String::as_str) == Some(value) {
                return Ok(());
            }
            return Err(self.not_allowed(
                "set properties",
                format!(
                    "{key} can be set only when the table is created in strata (enabling it later needs a backfill strata does not do yet)"
                ),
            ));
        }
        if key == COLUMN_MAPPING_MAX_COLUMN_ID {
            return Err(
                self.not_allowed("set properties", format!("{key} is maintained by strata"))
            );
        }
        validate_known_property(key, value).map_err(|e| self.invalid(e))?;
        self.configuration.insert(key.into(), value.into());
        Ok(())
    }

    fn unset_property(&mut self, key: &str) -> Result<()> {
        if let Some(name) = key.strip_prefix(CONSTRAINTS_PREFIX) {
            self.row_checks.retain(|c| c.name != name);
            self.configuration.remove(key);
            return Ok(());
        }
        if matches!(
            key,
            COLUMN_MAPPING_MODE
                | COLUMN_MAPPING_MAX_COLUMN_ID
                | ENABLE_ROW_TRACKING
                | ENABLE_IN_COMMIT_TIMESTAMPS
        ) && self.configuration.contains_key(key)
        {
            return Err(self.not_allowed(
                "unset properties",
                format!("{key} cannot be removed from a table that has it"),
            ));
        }
        self.configuration.remove(key);
        Ok(())
    }

    fn add_constraint(&mut self, name: &str, expression: &str) -> Result<()> {
        validate_constraint_name(name).map_err(|e| self.invalid(e))?;
        let key = constraint_key(name);
        if self.configuration.contains_key(&key) {
            return Err(self.invalid(format!(
                "CHECK constraint {name:?} already exists ({}); drop it first",
                self.configuration[&key]
            )));
        }
        Expr::parse(expression)
            .map_err(|e| self.invalid(format!("CHECK constraint {name}: {e}")))?;
        self.configuration.insert(key, expression.to_string());
        self.row_checks.push(Constraint {
            kind: ConstraintKind::Check,
            name: name.to_lowercase(),
            expression: expression.to_string(),
        });
        Ok(())
    }

    /// The new `metaData`, or `None` when nothing changed.
    fn finish(&mut self) -> Result<Option<Metadata>> {
        let mode = self.mapping_mode();
        let mapped = matches!(mode, ColumnMappingMode::Name | ColumnMappingMode::Id);
        if mapped {
            // Added columns get ids above every id the table ever used, and fresh physical
            // names, so a dropped column's data is never read as a new one's.
            let floor = self
                .configuration
                .get(COLUMN_MAPPING_MAX_COLUMN_ID)
                .and_then(|v| v.parse::<i64>().ok())
                .unwrap_or(0)
                .max(max_column_id(&self.schema));
            let (schema, max_id) = assign_column_mapping(&self.schema, floor);
            self.schema = schema;
            self.configuration
                .insert(COLUMN_MAPPING_MAX_COLUMN_ID.into(), max_id.to_string());
        }
        check_names(&self.schema.fields, "", mapped).map_err(|e| self.invalid(e))?;
        for p in &self.partition_columns {
            if self.schema.field(p).is_none() {
                return Err(self.invalid(format!("partition column {p:?} is missing")));
            }
        }
        self.schema.to_arrow()?;
        let current = self.snapshot.metadata();
        let metadata = Metadata {
            schema_string: self.schema.to_json_string(),
            partition_columns: self.partition_columns.clone(),
            configuration: self.configuration.clone(),
            description: self.description.clone(),
            ..current.clone()
        };
        let unchanged = self.schema == *self.snapshot.schema()
            && metadata.configuration == current.configuration
            && metadata.partition_columns == current.partition_columns
            && metadata.description == current.description;
        Ok((!unchanged).then_some(metadata))
    }
}

/// `schema` with every field nullable, at every depth.
fn all_nullable(schema: &StructType) -> StructType {
    fn relax(field: &StructField) -> StructField {
        let mut field = field.clone();
        field.nullable = true;
        if let DataType::Struct(inner) = &field.data_type {
            field.data_type = DataType::Struct(Box::new(all_nullable(inner)));
        }
        field
    }
    StructType::new(schema.fields.iter().map(relax).collect())
}

/// A column path as expression text, each part backquoted.
fn quoted(path: &[String]) -> String {
    path.iter()
        .map(|p| format!("`{}`", p.replace('`', "``")))
        .collect::<Vec<_>>()
        .join(".")
}

/// The `delta.*` properties strata interprets must hold values it can read.
fn validate_known_property(key: &str, value: &str) -> std::result::Result<(), String> {
    let configuration = HashMap::from([(key.to_string(), value.to_string())]);
    let bool_keys = [
        crate::protocol::properties::APPEND_ONLY,
        crate::protocol::properties::ENABLE_CHANGE_DATA_FEED,
        crate::protocol::properties::ENABLE_DELETION_VECTORS,
        ENABLE_TYPE_WIDENING,
    ];
    if bool_keys.contains(&key)
        && !matches!(value.trim().to_ascii_lowercase().as_str(), "true" | "false")
    {
        return Err(format!("{key} must be true or false, not {value:?}"));
    }
    let properties = TableProperties::from_configuration(&configuration);
    use crate::protocol::properties::PropertyValue;
    for (name, parsed) in [
        (
            crate::protocol::properties::LOG_RETENTION_DURATION,
            &properties.log_retention_ms,
        ),
        (
            crate::protocol::properties::DELETED_FILE_RETENTION_DURATION,
            &properties.deleted_file_retention_ms,
        ),
        (
            crate::protocol::properties::IN_FLIGHT_GRACE,
            &properties.in_flight_grace_ms,
        ),
    ] {
        if name == key && matches!(parsed, PropertyValue::Invalid(_)) {
            return Err(format!(
                "{key} must be an interval such as `interval 7 days`, not {value:?}"
            ));
        }
    }
    if key == crate::protocol::properties::CHECKPOINT_INTERVAL
        && value.trim().parse::<i64>().map_or(true, |v| v <= 0)
    {
        return Err(format!("{key} must be a positive integer, not {value:?}"));
    }
    crate::stats::IndexedColumns::from_properties(&configuration).map_err(|e| e.to_string())?;
    Ok(())
}

/// Checks every live row against `checks` (constraints added, columns made NOT NULL); returns
/// the rows read.
async fn validate_rows(snapshot: &Snapshot, checks: Vec<Constraint>) -> Result<u64> {
    if checks.is_empty() {
        return Ok(0);
    }
    // Bound even on an empty table: a constraint naming a missing column is refused.
    let checker = ConstraintChecker::new(snapshot, checks).map_err(|e| match e {
        Error::UnsupportedWriterFeatures { features, .. } => Error::InvalidArgument(format!(
            "ALTER TABLE {}: {}",
            snapshot.storage().location(),
            features.join("; ")
        )),
        other => other,
    })?;
    if snapshot.num_files() == 0 {
        return Ok(0);
    }
    let mut stream = snapshot.scan().execute()?;
    let mut rows = 0u64;
    while let Some(batch) = stream.try_next().await? {
        checker.check(&batch, "add constraint")?;
        rows += batch.num_rows() as u64;
    }
    Ok(rows)
}

/// Sets table properties in one commit; returns the version committed (the current one when
/// every property already has its value).
pub(crate) async fn set_properties(
    latest: &LatestSnapshot,
    properties: BTreeMap<String, String>,
) -> Result<i64> {
    let mut builder = AlterBuilder::new(latest.clone());
    for (key, value) in properties {
        builder = builder.set_property(key, value);
    }
    if builder.changes.is_empty() {
        return Ok(latest.get().await?.version());
    }
    Ok(builder.execute().await?.version)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn column_definitions_parse_with_positions_outside_quotes() {
        let c =
            NewColumn::parse("address.zip string NOT NULL COMMENT 'postal' AFTER city").unwrap();
        assert_eq!(c.path, ["address", "zip"]);
        assert_eq!(c.data_type, DataType::STRING);
        assert!(!c.nullable);
        assert_eq!(c.comment.as_deref(), Some("postal"));
        assert_eq!(c.position, ColumnPosition::After("city".into()));
        let c = NewColumn::parse("c int COMMENT 'runs AFTER x'").unwrap();
        assert_eq!(c.comment.as_deref(), Some("runs AFTER x"));
        assert_eq!(c.position, ColumnPosition::Last);
        let c = NewColumn::parse("c int COMMENT 'goes first' first").unwrap();
        assert_eq!(c.position, ColumnPosition::First);
        assert_eq!(c.comment.as_deref(), Some("goes first"));
        assert!(NewColumn::parse("lonely").is_err());
        assert!(NewColumn::parse("c nosuchtype").is_err());
    }
}
