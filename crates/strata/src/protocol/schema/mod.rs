//! Delta table schemas: the JSON "Schema Serialization Format" and its mapping to Arrow.
//!
//! A table's schema travels as a JSON string inside the `metaData` action
//! (`schemaString`), in the format Spark uses for its `StructType` (see
//! `protocol/PROTOCOL.md#schema`). [`StructType::parse`] and
//! [`StructType::to_json_string`] read and write that format,
//! [`StructType::to_arrow`] and [`StructType::try_from_arrow`] translate to and from
//! the Arrow schemas that readers and writers work with, and
//! [`StructType::check_write_compatible`] decides whether Arrow data may be appended
//! to a table.
//!
//! Parsing goes through [`serde_json::Value`] and a hand-written walker instead of
//! derived `Deserialize` impls so that every error can name the offending column by
//! its dotted path (`a.b.element`), and so that no input string can cause a panic or
//! unbounded recursion (serde_json caps nesting depth while building the `Value`).

use std::collections::{BTreeMap, HashSet};
use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use arrow_schema::DataType as ArrowDataType;
use serde::ser::SerializeStruct;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;

/// Largest decimal precision Delta allows (the range of a 128-bit decimal).
const MAX_DECIMAL_PRECISION: u8 = 38;

pub mod conform;
mod ddl;
pub(crate) mod validate;

/// Arrow reserves metadata keys with this prefix (extension types and the like);
/// they describe the in-memory representation, not the table, so they never reach
/// a Delta schema.
const ARROW_METADATA_PREFIX: &str = "ARROW:";

/// Errors from parsing, converting or comparing schemas.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SchemaError {
    /// The schema string is not well-formed JSON.
    #[error("the table schema is not valid JSON ({message}); the table metadata may be corrupt")]
    InvalidJson {
        /// What the JSON parser complained about.
        message: String,
    },

    /// The JSON is well-formed but does not follow the Delta schema format.
    #[error("the table schema is malformed{}: {message}", in_column(.field))]
    InvalidSchema {
        /// Dotted path of the column where the problem was found; empty for the
        /// top-level struct.
        field: String,
        /// What is wrong.
        message: String,
    },

    /// The schema uses a type name this library does not understand (for example
    /// `variant` or `interval`).
    #[error(
        "unsupported type `{type_name}`{}; reading this table needs a newer version of \
         this library",
        in_column(.field)
    )]
    UnsupportedType {
        /// Dotted path of the column; empty when parsing a lone type.
        field: String,
        /// The type name as it appears in the schema.
        type_name: String,
    },

    /// A decimal type whose precision or scale is out of range.
    #[error(
        "decimal({precision},{scale}) is not a valid Delta type{}: the precision must be \
         between 1 and 38 and the scale between 0 and the precision",
        in_column(.field)
    )]
    InvalidDecimal {
        /// Dotted path of the column; empty when no column is involved.
        field: String,
        /// The requested precision.
        precision: u32,
        /// The requested scale.
        scale: i32,
    },

    /// An Arrow type with no Delta equivalent.
    #[error(
        "Arrow type {arrow_type}{} has no Delta equivalent; cast it to a supported type first",
        in_column(.field)
    )]
    UnsupportedArrowType {
        /// Dotted path of the column; empty when converting a lone type.
        field: String,
        /// The Arrow type, as Arrow displays it.
        arrow_type: String,
    },

    /// A schema written as text (`name type, ...`) does not parse.
    #[error(
        "the schema does not parse at position {position}: {message}; write it as `name type [NOT NULL], ...`, e.g. `id long not null, name string`"
    )]
    InvalidDdl {
        /// 1-based character position of the problem.
        position: usize,
        /// What was expected there.
        message: String,
    },

    /// Two columns of the same struct share a name.
    #[error("column `{field}` appears more than once; column names must be unique")]
    DuplicateField {
        /// Dotted path of the duplicated column.
        field: String,
    },

    /// Data cannot be written to a table because its schema does not match.
    #[error(
        "the data does not match the table schema: {}. Cast, rename or drop the offending \
         columns, or change the table schema first",
        .problems.join("; ")
    )]
    Mismatch {
        /// One sentence per problem found; every problem is listed, not just the first.
        problems: Vec<String>,
    },
}

fn in_column(field: &str) -> String {
    if field.is_empty() {
        String::new()
    } else {
        format!(" in column `{field}`")
    }
}

/// Dotted path of a child; the top-level struct has the empty path.
fn child_path(parent: &str, name: &str) -> String {
    if parent.is_empty() {
        name.to_string()
    } else {
        format!("{parent}.{name}")
    }
}

// ---------------------------------------------------------------------------
// Types
// ---------------------------------------------------------------------------

/// A struct type: the schema of a whole table, or of a nested struct column
/// (`protocol/PROTOCOL.md#schema`).
///
/// Serializes as `{"type":"struct","fields":[...]}`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct StructType {
    /// The columns, in table order.
    pub fields: Vec<StructField>,
}

/// One column of a [`StructType`] (`protocol/PROTOCOL.md#schema`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StructField {
    /// Column name (case-sensitive here; Delta writers keep names unique).
    pub name: String,
    /// Column type; serialized under the JSON key `type`.
    pub data_type: DataType,
    /// Whether the column may contain nulls.
    pub nullable: bool,
    /// Arbitrary column metadata, such as `delta.columnMapping.id` or `comment`.
    pub metadata: BTreeMap<String, Value>,
}

/// The type of a column or of a nested element.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DataType {
    /// A primitive, serialized as a plain string such as `"long"`.
    Primitive(PrimitiveType),
    /// A nested struct.
    Struct(Box<StructType>),
    /// A variable-length list.
    Array(Box<ArrayType>),
    /// A key/value map.
    Map(Box<MapType>),
}

/// Primitive types (`protocol/PROTOCOL.md#schema`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PrimitiveType {
    /// UTF-8 text (`string`).
    String,
    /// 64-bit signed integer (`long`).
    Long,
    /// 32-bit signed integer (`integer`).
    Integer,
    /// 16-bit signed integer (`short`).
    Short,
    /// 8-bit signed integer (`byte`).
    Byte,
    /// 32-bit IEEE float (`float`).
    Float,
    /// 64-bit IEEE float (`double`).
    Double,
    /// `boolean`.
    Boolean,
    /// Arbitrary bytes (`binary`).
    Binary,
    /// Calendar date without time zone (`date`).
    Date,
    /// Microsecond instant, stored relative to UTC (`timestamp`).
    Timestamp,
    /// Microsecond wall-clock time without time zone (`timestamp_ntz`).
    TimestampNtz,
    /// Fixed-point decimal (`decimal(precision,scale)`), precision 1..=38,
    /// scale 0..=precision.
    Decimal {
        /// Total number of digits.
        precision: u8,
        /// Digits after the decimal point.
        scale: u8,
    },
}

/// An array type (`protocol/PROTOCOL.md#schema`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArrayType {
    /// Type of the elements; JSON key `elementType`.
    pub element_type: DataType,
    /// Whether elements may be null; JSON key `containsNull`.
    pub contains_null: bool,
}

/// A map type (`protocol/PROTOCOL.md#schema`). Keys are never null.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MapType {
    /// Type of the keys; JSON key `keyType`.
    pub key_type: DataType,
    /// Type of the values; JSON key `valueType`.
    pub value_type: DataType,
    /// Whether values may be null; JSON key `valueContainsNull`.
    pub value_contains_null: bool,
}

// ---------------------------------------------------------------------------
// Constructors and accessors
// ---------------------------------------------------------------------------

impl StructType {
    /// Creates a struct type with the given columns.
    pub fn new(fields: Vec<StructField>) -> Self {
        Self { fields }
    }

    /// Parses a schema string as found in `metaData.schemaString`.
    ///
    /// Unknown type names produce [`SchemaError::UnsupportedType`] naming the column;
    /// duplicate column names within a struct are rejected. Never panics.
    pub fn parse(schema_string: &str) -> Result<Self, SchemaError> {
        let value: Value =
            serde_json::from_str(schema_string).map_err(|e| SchemaError::InvalidJson {
                message: e.to_string(),
            })?;
        struct_from_json(&value, "")
    }

    /// Serializes to the compact JSON form Delta stores in `metaData.schemaString`,
    /// with keys in the order Spark writes them.
    pub fn to_json_string(&self) -> String {
        // Every map key is a string and `Value` cannot hold NaN, so serde_json has
        // nothing to reject here.
        serde_json::to_string(self).expect("a Delta schema always serializes to JSON")
    }

    /// The column called `name` (exact, case-sensitive match), if any.
    pub fn field(&self, name: &str) -> Option<&StructField> {
        self.fields.iter().find(|f| f.name == name)
    }

    /// Position of the column called `name`, if any.
    pub fn index_of(&self, name: &str) -> Option<usize> {
        self.fields.iter().position(|f| f.name == name)
    }

    /// Column names, in table order.
    pub fn field_names(&self) -> impl Iterator<Item = &str> {
        self.fields.iter().map(|f| f.name.as_str())
    }

    /// Converts to the Arrow schema used for reading and writing data files.
    ///
    /// Fails only for decimals with out-of-range precision or scale, which
    /// [`StructType::parse`] never produces but hand-built types can contain.
    pub fn to_arrow(&self) -> Result<arrow_schema::Schema, SchemaError> {
        Ok(arrow_schema::Schema::new(struct_fields_to_arrow(self, "")?))
    }

    /// Converts an Arrow schema to a Delta schema, widening Arrow-only encodings to
    /// their Delta type (e.g. `Utf8View` becomes `string`, `Dictionary(_, V)` becomes
    /// the type of `V`). Arrow types with no Delta equivalent (unsigned integers,
    /// `Float16`, `Duration`, ...) produce [`SchemaError::UnsupportedArrowType`].
    pub fn try_from_arrow(schema: &arrow_schema::Schema) -> Result<Self, SchemaError> {
        struct_from_arrow_fields(schema.fields(), "")
    }

    /// Checks that data with Arrow schema `data` may be appended to a table with this
    /// schema.
    ///
    /// Columns are matched by exact name, recursing into structs; array elements and
    /// map keys/values are matched by position. Every data column must exist in the
    /// table with the same Delta type (after the widening of
    /// [`StructType::try_from_arrow`]); table columns may be absent from the data only
    /// if nullable. Nullable data for a non-nullable column is accepted here because
    /// only the actual values can show whether it holds nulls. All problems are
    /// reported together in [`SchemaError::Mismatch`].
    pub fn check_write_compatible(&self, data: &arrow_schema::Schema) -> Result<(), SchemaError> {
        let mut problems = Vec::new();
        compare_struct(self, data.fields(), "", &mut problems);
        if problems.is_empty() {
            Ok(())
        } else {
            Err(SchemaError::Mismatch { problems })
        }
    }
}

impl FromStr for StructType {
    type Err = SchemaError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl FromIterator<StructField> for StructType {
    fn from_iter<I: IntoIterator<Item = StructField>>(iter: I) -> Self {
        Self::new(iter.into_iter().collect())
    }
}

impl TryFrom<&arrow_schema::Schema> for StructType {
    type Error = SchemaError;

    fn try_from(schema: &arrow_schema::Schema) -> Result<Self, Self::Error> {
        Self::try_from_arrow(schema)
    }
}

impl TryFrom<&StructType> for arrow_schema::Schema {
    type Error = SchemaError;

    fn try_from(schema: &StructType) -> Result<Self, Self::Error> {
        schema.to_arrow()
    }
}

impl StructField {
    /// Creates a column with no metadata.
    pub fn new(name: impl Into<String>, data_type: impl Into<DataType>, nullable: bool) -> Self {
        Self {
            name: name.into(),
            data_type: data_type.into(),
            nullable,
            metadata: BTreeMap::new(),
        }
    }

    /// Adds metadata entries, replacing existing values for the same keys.
    pub fn with_metadata<K, V>(mut self, metadata: impl IntoIterator<Item = (K, V)>) -> Self
    where
        K: Into<String>,
        V: Into<Value>,
    {
        self.metadata
            .extend(metadata.into_iter().map(|(k, v)| (k.into(), v.into())));
        self
    }

    /// Converts to an Arrow field, carrying metadata over as described on
    /// [`StructType::to_arrow`].
    pub fn to_arrow(&self) -> Result<arrow_schema::Field, SchemaError> {
        field_to_arrow(self, &self.name)
    }

    /// Converts an Arrow field, with the widening rules of
    /// [`StructType::try_from_arrow`].
    pub fn try_from_arrow(field: &arrow_schema::Field) -> Result<Self, SchemaError> {
        field_from_arrow(field, field.name())
    }
}

impl DataType {
    /// `string`.
    pub const STRING: DataType = DataType::Primitive(PrimitiveType::String);
    /// `long`.
    pub const LONG: DataType = DataType::Primitive(PrimitiveType::Long);
    /// `integer`.
    pub const INTEGER: DataType = DataType::Primitive(PrimitiveType::Integer);
    /// `short`.
    pub const SHORT: DataType = DataType::Primitive(PrimitiveType::Short);
    /// `byte`.
    pub const BYTE: DataType = DataType::Primitive(PrimitiveType::Byte);
    /// `float`.
    pub const FLOAT: DataType = DataType::Primitive(PrimitiveType::Float);
    /// `double`.
    pub const DOUBLE: DataType = DataType::Primitive(PrimitiveType::Double);
    /// `boolean`.
    pub const BOOLEAN: DataType = DataType::Primitive(PrimitiveType::Boolean);
    /// `binary`.
    pub const BINARY: DataType = DataType::Primitive(PrimitiveType::Binary);
    /// `date`.
    pub const DATE: DataType = DataType::Primitive(PrimitiveType::Date);
    /// `timestamp`.
    pub const TIMESTAMP: DataType = DataType::Primitive(PrimitiveType::Timestamp);
    /// `timestamp_ntz`.
    pub const TIMESTAMP_NTZ: DataType = DataType::Primitive(PrimitiveType::TimestampNtz);

    /// `decimal(precision,scale)`, validated like a parsed schema.
    pub fn decimal(precision: u8, scale: u8) -> Result<DataType, SchemaError> {
        PrimitiveType::decimal(precision, scale).map(DataType::Primitive)
    }

    /// An array of `element_type`.
    pub fn array(element_type: impl Into<DataType>, contains_null: bool) -> DataType {
        ArrayType::new(element_type, contains_null).into()
    }

    /// A map from `key_type` to `value_type`.
    pub fn map(
        key_type: impl Into<DataType>,
        value_type: impl Into<DataType>,
        value_contains_null: bool,
    ) -> DataType {
        MapType::new(key_type, value_type, value_contains_null).into()
    }

    /// A nested struct with the given columns.
    pub fn struct_type(fields: Vec<StructField>) -> DataType {
        StructType::new(fields).into()
    }

    /// The primitive type, if this is one.
    pub fn as_primitive(&self) -> Option<&PrimitiveType> {
        match self {
            DataType::Primitive(p) => Some(p),
            _ => None,
        }
    }

    /// The struct type, if this is one.
    pub fn as_struct(&self) -> Option<&StructType> {
        match self {
            DataType::Struct(s) => Some(s),
            _ => None,
        }
    }

    /// Converts to the Arrow type used for data files (see [`StructType::to_arrow`]).
    pub fn to_arrow(&self) -> Result<ArrowDataType, SchemaError> {
        data_type_to_arrow(self, "")
    }

    /// Converts an Arrow type, with the widening rules of
    /// [`StructType::try_from_arrow`]. Errors use an empty column path.
    pub fn try_from_arrow(data_type: &ArrowDataType) -> Result<Self, SchemaError> {
        data_type_from_arrow(data_type, "")
    }
}

impl PrimitiveType {
    /// `decimal(precision,scale)`, rejecting precision outside 1..=38 or scale above
    /// the precision.
    pub fn decimal(precision: u8, scale: u8) -> Result<PrimitiveType, SchemaError> {
        check_decimal(u32::from(precision), i32::from(scale), "")
    }

    /// The name used in the JSON schema, e.g. `"timestamp_ntz"` or `"decimal(10,2)"`.
    pub fn type_name(&self) -> String {
        self.to_string()
    }
}

impl FromStr for PrimitiveType {
    type Err = SchemaError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        primitive_from_str(s, "")
    }
}

impl ArrayType {
    /// Creates an array type.
    pub fn new(element_type: impl Into<DataType>, contains_null: bool) -> Self {
        Self {
            element_type: element_type.into(),
            contains_null,
        }
    }
}

impl MapType {
    /// Creates a map type.
    pub fn new(
        key_type: impl Into<DataType>,
        value_type: impl Into<DataType>,
        value_contains_null: bool,
    ) -> Self {
        Self {
            key_type: key_type.into(),
            value_type: value_type.into(),
            value_contains_null,
        }
    }
}

impl From<PrimitiveType> for DataType {
    fn from(p: PrimitiveType) -> Self {
        DataType::Primitive(p)
    }
}

impl From<StructType> for DataType {
    fn from(s: StructType) -> Self {
        DataType::Struct(Box::new(s))
    }
}

impl From<ArrayType> for DataType {
    fn from(a: ArrayType) -> Self {
        DataType::Array(Box::new(a))
    }
}

impl From<MapType> for DataType {
    fn from(m: MapType) -> Self {
        DataType::Map(Box::new(m))
    }
}

// ---------------------------------------------------------------------------
// Display: Spark's "simple string" form, used in error messages
// ---------------------------------------------------------------------------

impl fmt::Display for PrimitiveType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match self {
            PrimitiveType::String => "string",
            PrimitiveType::Long => "long",
            PrimitiveType::Integer => "integer",
            PrimitiveType::Short => "short",
            PrimitiveType::Byte => "byte",
            PrimitiveType::Float => "float",
            PrimitiveType::Double => "double",
            PrimitiveType::Boolean => "boolean",
            PrimitiveType::Binary => "binary",
            PrimitiveType::Date => "date",
            PrimitiveType::Timestamp => "timestamp",
            PrimitiveType::TimestampNtz => "timestamp_ntz",
            PrimitiveType::Decimal { precision, scale } => {
                return write!(f, "decimal({precision},{scale})");
            }
        };
        f.write_str(name)
    }
}

/// Renders as `struct<a:long,b:array<string>>`, the notation Spark users know.
impl fmt::Display for StructType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("struct<")?;
        for (i, field) in self.fields.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{}:{}", field.name, field.data_type)?;
        }
        f.write_str(">")
    }
}

/// Renders as `long`, `array<string>`, `map<string,long>` or `struct<...>`.
impl fmt::Display for DataType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DataType::Primitive(p) => p.fmt(f),
            DataType::Struct(s) => s.fmt(f),
            DataType::Array(a) => write!(f, "array<{}>", a.element_type),
            DataType::Map(m) => write!(f, "map<{},{}>", m.key_type, m.value_type),
        }
    }
}

// ---------------------------------------------------------------------------
// JSON serialization. Hand-written to fix the key order to Spark's.
// ---------------------------------------------------------------------------

impl Serialize for StructType {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut s = serializer.serialize_struct("StructType", 2)?;
        s.serialize_field("type", "struct")?;
        s.serialize_field("fields", &self.fields)?;
        s.end()
    }
}

impl Serialize for StructField {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut s = serializer.serialize_struct("StructField", 4)?;
        s.serialize_field("name", &self.name)?;
        s.serialize_field("type", &self.data_type)?;
        s.serialize_field("nullable", &self.nullable)?;
        s.serialize_field("metadata", &self.metadata)?;
        s.end()
    }
}

impl Serialize for DataType {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            DataType::Primitive(p) => p.serialize(serializer),
            DataType::Struct(s) => s.serialize(serializer),
            DataType::Array(a) => a.serialize(serializer),
            DataType::Map(m) => m.serialize(serializer),
        }
    }
}

impl Serialize for PrimitiveType {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl Serialize for ArrayType {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut s = serializer.serialize_struct("ArrayType", 3)?;
        s.serialize_field("type", "array")?;
        s.serialize_field("elementType", &self.element_type)?;
        s.serialize_field("containsNull", &self.contains_null)?;
        s.end()
    }
}

impl Serialize for MapType {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut s = serializer.serialize_struct("MapType", 4)?;
        s.serialize_field("type", "map")?;
        s.serialize_field("keyType", &self.key_type)?;
        s.serialize_field("valueType", &self.value_type)?;
        s.serialize_field("valueContainsNull", &self.value_contains_null)?;
        s.end()
    }
}

/// Deserializes through a [`Value`] so that the same validating walker (and the
/// same error messages) serve both [`StructType::parse`] and embedding in other
/// serde types.
macro_rules! deserialize_via_value {
    ($ty:ty, $walker:expr) => {
        impl<'de> Deserialize<'de> for $ty {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let value = Value::deserialize(deserializer)?;
                $walker(&value).map_err(serde::de::Error::custom)
            }
        }
    };
}

deserialize_via_value!(StructType, |v| struct_from_json(v, ""));
deserialize_via_value!(StructField, |v| field_from_json(v, "", 0));
deserialize_via_value!(DataType, |v| type_from_json(v, ""));
deserialize_via_value!(ArrayType, |v| array_from_json(v, ""));
deserialize_via_value!(MapType, |v| map_from_json(v, ""));
deserialize_via_value!(PrimitiveType, |v: &Value| match v {
    Value::String(s) => primitive_from_str(s, ""),
    other => Err(invalid(
        "",
        format!("expected a primitive type name, found {}", describe(other)),
    )),
});

// ---------------------------------------------------------------------------
// JSON parsing
// ---------------------------------------------------------------------------

fn invalid(field: &str, message: impl Into<String>) -> SchemaError {
    SchemaError::InvalidSchema {
        field: field.to_string(),
        message: message.into(),
    }
}

fn describe(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a JSON array",
        Value::Object(_) => "an object",
    }
}

/// Checks that `value` is an object whose `"type"` is `expected`.
fn typed_object<'a>(
    value: &'a Value,
    expected: &str,
    path: &str,
) -> Result<&'a serde_json::Map<String, Value>, SchemaError> {
    let obj = value.as_object().ok_or_else(|| {
        invalid(
            path,
            format!(
                "expected a {expected} type object, found {}",
                describe(value)
            ),
        )
    })?;
    match obj.get("type") {
        Some(Value::String(t)) if t == expected => Ok(obj),
        Some(Value::String(t)) => Err(invalid(
            path,
            format!("expected \"type\": \"{expected}\", found \"{t}\""),
        )),
        _ => Err(invalid(path, format!("expected \"type\": \"{expected}\""))),
    }
}

fn required_bool(
    obj: &serde_json::Map<String, Value>,
    key: &str,
    path: &str,
) -> Result<bool, SchemaError> {
    match obj.get(key) {
        Some(Value::Bool(b)) => Ok(*b),
        Some(other) => Err(invalid(
            path,
            format!("\"{key}\" must be true or false, found {}", describe(other)),
        )),
        None => Err(invalid(path, format!("\"{key}\" is missing"))),
    }
}

fn required<'a>(
    obj: &'a serde_json::Map<String, Value>,
    key: &str,
    path: &str,
) -> Result<&'a Value, SchemaError> {
    obj.get(key)
        .ok_or_else(|| invalid(path, format!("\"{key}\" is missing")))
}

fn struct_from_json(value: &Value, path: &str) -> Result<StructType, SchemaError> {
    let obj = typed_object(value, "struct", path)?;
    let fields = match required(obj, "fields", path)? {
        Value::Array(fields) => fields,
        other => {
            return Err(invalid(
                path,
                format!("\"fields\" must be a JSON array, found {}", describe(other)),
            ));
        }
    };
    let mut seen = HashSet::with_capacity(fields.len());
    let mut out = Vec::with_capacity(fields.len());
    for (index, field) in fields.iter().enumerate() {
        let field = field_from_json(field, path, index)?;
        if !seen.insert(field.name.clone()) {
            return Err(SchemaError::DuplicateField {
                field: child_path(path, &field.name),
            });
        }
        out.push(field);
    }
    Ok(StructType::new(out))
}

/// `parent` is the path of the enclosing struct and `index` the field's position,
/// used to locate fields whose name is unreadable.
fn field_from_json(value: &Value, parent: &str, index: usize) -> Result<StructField, SchemaError> {
    let obj = value.as_object().ok_or_else(|| {
        invalid(
            parent,
            format!(
                "field number {} must be an object, found {}",
                index + 1,
                describe(value)
            ),
        )
    })?;
    let name = match obj.get("name") {
        Some(Value::String(name)) => name,
        _ => {
            return Err(invalid(
                parent,
                format!("field number {} has no \"name\" string", index + 1),
            ));
        }
    };
    let path = child_path(parent, name);
    let data_type = type_from_json(required(obj, "type", &path)?, &path)?;
    let nullable = required_bool(obj, "nullable", &path)?;
    // Spark always writes "metadata", but other writers omit it when empty.
    let metadata = match obj.get("metadata") {
        None | Some(Value::Null) => BTreeMap::new(),
        Some(Value::Object(m)) => m.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
        Some(other) => {
            return Err(invalid(
                &path,
                format!("\"metadata\" must be an object, found {}", describe(other)),
            ));
        }
    };
    Ok(StructField {
        name: name.clone(),
        data_type,
        nullable,
        metadata,
    })
}

fn type_from_json(value: &Value, path: &str) -> Result<DataType, SchemaError> {
    match value {
        Value::String(name) => primitive_from_str(name, path).map(DataType::Primitive),
        Value::Object(obj) => match obj.get("type") {
            Some(Value::String(t)) => match t.as_str() {
                "struct" => struct_from_json(value, path).map(DataType::from),
                "array" => array_from_json(value, path).map(DataType::from),
                "map" => map_from_json(value, path).map(DataType::from),
                other => Err(SchemaError::UnsupportedType {
                    field: path.to_string(),
                    type_name: other.to_string(),
                }),
            },
            _ => Err(invalid(path, "the type object has no \"type\" name")),
        },
        other => Err(invalid(
            path,
            format!(
                "\"type\" must be a type name or a type object, found {}",
                describe(other)
            ),
        )),
    }
}

fn array_from_json(value: &Value, path: &str) -> Result<ArrayType, SchemaError> {
    let obj = typed_object(value, "array", path)?;
    let element_path = child_path(path, "element");
    Ok(ArrayType {
        element_type: type_from_json(required(obj, "elementType", path)?, &element_path)?,
        contains_null: required_bool(obj, "containsNull", path)?,
    })
}

fn map_from_json(value: &Value, path: &str) -> Result<MapType, SchemaError> {
    let obj = typed_object(value, "map", path)?;
    Ok(MapType {
        key_type: type_from_json(required(obj, "keyType", path)?, &child_path(path, "key"))?,
        value_type: type_from_json(
            required(obj, "valueType", path)?,
            &child_path(path, "value"),
        )?,
        value_contains_null: required_bool(obj, "valueContainsNull", path)?,
    })
}

fn primitive_from_str(name: &str, path: &str) -> Result<PrimitiveType, SchemaError> {
    Ok(match name {
        "string" => PrimitiveType::String,
        "long" => PrimitiveType::Long,
        "integer" => PrimitiveType::Integer,
        "short" => PrimitiveType::Short,
        "byte" => PrimitiveType::Byte,
        "float" => PrimitiveType::Float,
        "double" => PrimitiveType::Double,
        "boolean" => PrimitiveType::Boolean,
        "binary" => PrimitiveType::Binary,
        "date" => PrimitiveType::Date,
        "timestamp" => PrimitiveType::Timestamp,
        "timestamp_ntz" => PrimitiveType::TimestampNtz,
        // Spark reads a bare "decimal" as its default decimal(10,0).
        "decimal" => PrimitiveType::Decimal {
            precision: 10,
            scale: 0,
        },
        _ => match parse_decimal(name) {
            Some((precision, scale)) => return check_decimal(precision, scale, path),
            None => {
                return Err(SchemaError::UnsupportedType {
                    field: path.to_string(),
                    type_name: name.to_string(),
                });
            }
        },
    })
}

/// Parses `decimal(p,s)` with optional spaces around the numbers, as Spark's
/// `decimal\(\s*(\d+)\s*,\s*(-?\d+)\s*\)` does. Range checks come later so that an
/// out-of-range decimal gets its own error rather than "unsupported type".
fn parse_decimal(name: &str) -> Option<(u32, i32)> {
    let inner = name.strip_prefix("decimal(")?.strip_suffix(')')?;
    let (precision, scale) = inner.split_once(',')?;
    let (precision, scale) = (precision.trim(), scale.trim());
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    let scale_digits = scale.strip_prefix('-').unwrap_or(scale);
    if !digits(precision) || !digits(scale_digits) {
        return None;
    }
    Some((precision.parse().ok()?, scale.parse().ok()?))
}

fn check_decimal(precision: u32, scale: i32, path: &str) -> Result<PrimitiveType, SchemaError> {
    let valid = (1..=u32::from(MAX_DECIMAL_PRECISION)).contains(&precision)
        && scale >= 0
        && scale.unsigned_abs() <= precision;
    match (valid, u8::try_from(precision), u8::try_from(scale)) {
        (true, Ok(precision), Ok(scale)) => Ok(PrimitiveType::Decimal { precision, scale }),
        _ => Err(SchemaError::InvalidDecimal {
            field: path.to_string(),
            precision,
            scale,
        }),
    }
}

// ---------------------------------------------------------------------------
// Delta -> Arrow
// ---------------------------------------------------------------------------

/// Delta metadata values are arbitrary JSON, Arrow's are strings. Strings are kept
/// raw so Arrow consumers see `comment` and `delta.generationExpression` as
/// written; everything else becomes compact JSON text. A string that would itself
/// parse as JSON (say `"42"`, or a `delta.invariants` document) is stored as a
/// quoted JSON string instead, otherwise the way back would turn it into a number
/// or object and the round trip would change the table's metadata.
fn metadata_to_arrow(metadata: &BTreeMap<String, Value>) -> arrow_schema::Metadata {
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

fn field_to_arrow(field: &StructField, path: &str) -> Result<arrow_schema::Field, SchemaError> {
    Ok(arrow_schema::Field::new(
        field.name.clone(),
        data_type_to_arrow(&field.data_type, path)?,
        field.nullable,
    )
    .with_metadata(metadata_to_arrow(&field.metadata)))
}

fn struct_fields_to_arrow(
    st: &StructType,
    path: &str,
) -> Result<arrow_schema::Fields, SchemaError> {
    st.fields
        .iter()
        .map(|f| field_to_arrow(f, &child_path(path, &f.name)))
        .collect()
}

fn data_type_to_arrow(data_type: &DataType, path: &str) -> Result<ArrowDataType, SchemaError> {
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

// ---------------------------------------------------------------------------
// Arrow -> Delta
// ---------------------------------------------------------------------------

/// Inverse of [`metadata_to_arrow`]: text that parses as JSON becomes that JSON
/// value, anything else a JSON string.
fn metadata_from_arrow(metadata: &arrow_schema::Metadata) -> BTreeMap<String, Value> {
    metadata
        .iter()
        .filter(|(key, _)| !key.starts_with(ARROW_METADATA_PREFIX))
        .map(|(key, text)| {
            let value = serde_json::from_str(text).unwrap_or_else(|_| Value::String(text.clone()));
            (key.clone(), value)
        })
        .collect()
}

fn field_from_arrow(field: &arrow_schema::Field, path: &str) -> Result<StructField, SchemaError> {
    Ok(StructField {
        name: field.name().clone(),
        data_type: data_type_from_arrow(field.data_type(), path)?,
        nullable: field.is_nullable(),
        metadata: metadata_from_arrow(field.metadata()),
    })
}

fn struct_from_arrow_fields(
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
fn list_element(data_type: &ArrowDataType) -> Option<&arrow_schema::FieldRef> {
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
fn map_entries(
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

fn arrow_decimal(precision: u8, scale: i8) -> Option<PrimitiveType> {
    let scale = u8::try_from(scale).ok()?;
    PrimitiveType::decimal(precision, scale).ok()
}

fn data_type_from_arrow(data_type: &ArrowDataType, path: &str) -> Result<DataType, SchemaError> {
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

// ---------------------------------------------------------------------------
// Write compatibility
// ---------------------------------------------------------------------------

fn compare_struct(
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

fn compare_type(table: &DataType, data: &ArrowDataType, path: &str, problems: &mut Vec<String>) {
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
        Ok(data_type) => problems.push(format!(
            "column `{path}` has type {data_type} in the data but {table} in the table"
        )),
        Err(SchemaError::UnsupportedArrowType { field, arrow_type }) => problems.push(format!(
            "column `{field}` has Arrow type {arrow_type} in the data, which has no Delta equivalent"
        )),
        Err(other) => problems.push(other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_schema::{Field, Fields, IntervalUnit, Schema, TimeUnit, UnionFields, UnionMode};
    use serde_json::json;

    // -- helpers ------------------------------------------------------------

    fn arrow_schema(fields: Vec<Field>) -> Schema {
        Schema::new(fields)
    }

    fn afield(name: &str, dt: ArrowDataType, nullable: bool) -> Field {
        Field::new(name, dt, nullable)
    }

    fn alist(element: ArrowDataType, nullable: bool) -> ArrowDataType {
        ArrowDataType::List(Arc::new(Field::new("element", element, nullable)))
    }

    fn amap(key: ArrowDataType, value: ArrowDataType, value_nullable: bool) -> ArrowDataType {
        ArrowDataType::Map(
            Arc::new(Field::new(
                "key_value",
                ArrowDataType::Struct(Fields::from(vec![
                    Field::new("key", key, false),
                    Field::new("value", value, value_nullable),
                ])),
                false,
            )),
            false,
        )
    }

    fn astruct(fields: Vec<Field>) -> ArrowDataType {
        ArrowDataType::Struct(Fields::from(fields))
    }

    fn utc() -> ArrowDataType {
        ArrowDataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()))
    }

    fn problems(result: Result<(), SchemaError>) -> Vec<String> {
        match result {
            Err(SchemaError::Mismatch { problems }) => problems,
            other => panic!("expected a mismatch, got {other:?}"),
        }
    }

    fn dec(precision: u8, scale: u8) -> DataType {
        DataType::decimal(precision, scale).unwrap()
    }

    /// A schema as Spark writes it: every primitive, nested types, metadata.
    const SPARK_SCHEMA: &str = r#"{
      "type": "struct",
      "fields": [
        {"name": "id", "type": "long", "nullable": false,
         "metadata": {"delta.columnMapping.id": 1, "delta.columnMapping.physicalName": "col-5f422f40"}},
        {"name": "name", "type": "string", "nullable": true, "metadata": {"comment": "customer name"}},
        {"name": "i", "type": "integer", "nullable": true, "metadata": {}},
        {"name": "s", "type": "short", "nullable": true, "metadata": {}},
        {"name": "b", "type": "byte", "nullable": true, "metadata": {}},
        {"name": "f", "type": "float", "nullable": true, "metadata": {}},
        {"name": "d", "type": "double", "nullable": true, "metadata": {}},
        {"name": "flag", "type": "boolean", "nullable": false, "metadata": {}},
        {"name": "bin", "type": "binary", "nullable": true, "metadata": {}},
        {"name": "day", "type": "date", "nullable": true, "metadata": {}},
        {"name": "ts", "type": "timestamp", "nullable": true, "metadata": {}},
        {"name": "ts_ntz", "type": "timestamp_ntz", "nullable": true, "metadata": {}},
        {"name": "amount", "type": "decimal(10, 2)", "nullable": true, "metadata": {}},
        {"name": "big", "type": "decimal(38,18)", "nullable": true, "metadata": {}},
        {"name": "plus_one", "type": "long", "nullable": true,
         "metadata": {"delta.generationExpression": "id + 1"}},
        {"name": "address", "type": {"type": "struct", "fields": [
            {"name": "street", "type": "string", "nullable": true, "metadata": {}},
            {"name": "zip", "type": "integer", "nullable": false, "metadata": {"delta.invariants": "{\"expression\":{\"expression\":\"zip > 0\"}}"}}
         ]}, "nullable": true, "metadata": {}},
        {"name": "tags", "type": {"type": "array", "elementType": "string", "containsNull": false},
         "nullable": true, "metadata": {}},
        {"name": "events", "type": {"type": "array", "elementType": {"type": "struct", "fields": [
            {"name": "at", "type": "timestamp", "nullable": false, "metadata": {}},
            {"name": "kind", "type": "string", "nullable": true, "metadata": {}}
         ]}, "containsNull": true}, "nullable": false, "metadata": {}},
        {"name": "props", "type": {"type": "map", "keyType": "string",
            "valueType": {"type": "array", "elementType": "long", "containsNull": true},
            "valueContainsNull": false}, "nullable": true,
         "metadata": {"nested": {"a": [1, 2, null], "b": true}, "pi": 3.5}}
      ]
    }"#;

    fn spark_schema_expected() -> StructType {
        StructType::new(vec![
            StructField::new("id", DataType::LONG, false).with_metadata([
                ("delta.columnMapping.id", json!(1)),
                ("delta.columnMapping.physicalName", json!("col-5f422f40")),
            ]),
            StructField::new("name", DataType::STRING, true)
                .with_metadata([("comment", "customer name")]),
            StructField::new("i", DataType::INTEGER, true),
            StructField::new("s", DataType::SHORT, true),
            StructField::new("b", DataType::BYTE, true),
            StructField::new("f", DataType::FLOAT, true),
            StructField::new("d", DataType::DOUBLE, true),
            StructField::new("flag", DataType::BOOLEAN, false),
            StructField::new("bin", DataType::BINARY, true),
            StructField::new("day", DataType::DATE, true),
            StructField::new("ts", DataType::TIMESTAMP, true),
            StructField::new("ts_ntz", DataType::TIMESTAMP_NTZ, true),
            StructField::new("amount", dec(10, 2), true),
            StructField::new("big", dec(38, 18), true),
            StructField::new("plus_one", DataType::LONG, true)
                .with_metadata([("delta.generationExpression", "id + 1")]),
            StructField::new(
                "address",
                DataType::struct_type(vec![
                    StructField::new("street", DataType::STRING, true),
                    StructField::new("zip", DataType::INTEGER, false).with_metadata([(
                        "delta.invariants",
                        r#"{"expression":{"expression":"zip > 0"}}"#,
                    )]),
                ]),
                true,
            ),
            StructField::new("tags", DataType::array(DataType::STRING, false), true),
            StructField::new(
                "events",
                DataType::array(
                    DataType::struct_type(vec![
                        StructField::new("at", DataType::TIMESTAMP, false),
                        StructField::new("kind", DataType::STRING, true),
                    ]),
                    true,
                ),
                false,
            ),
            StructField::new(
                "props",
                DataType::map(
                    DataType::STRING,
                    DataType::array(DataType::LONG, true),
                    false,
                ),
                true,
            )
            .with_metadata([
                ("nested", json!({"a": [1, 2, null], "b": true})),
                ("pi", json!(3.5)),
            ]),
        ])
    }

    // -- JSON parsing -------------------------------------------------------

    #[test]
    fn parses_realistic_spark_schema() {
        let schema = StructType::parse(SPARK_SCHEMA).unwrap();
        assert_eq!(schema, spark_schema_expected());
        assert_eq!(schema.fields.len(), 19);
        assert_eq!(
            schema.field("amount").unwrap().data_type,
            DataType::Primitive(PrimitiveType::Decimal {
                precision: 10,
                scale: 2
            })
        );
    }

    #[test]
    fn serde_deserialize_matches_parse() {
        let via_serde: StructType = serde_json::from_str(SPARK_SCHEMA).unwrap();
        assert_eq!(via_serde, StructType::parse(SPARK_SCHEMA).unwrap());
        let via_from_str: StructType = SPARK_SCHEMA.parse().unwrap();
        assert_eq!(via_from_str, via_serde);

        let dt: DataType = serde_json::from_value(json!("decimal(5,1)")).unwrap();
        assert_eq!(dt, dec(5, 1));
        let dt: DataType = serde_json::from_value(
            json!({"type": "array", "elementType": "date", "containsNull": true}),
        )
        .unwrap();
        assert_eq!(dt, DataType::array(DataType::DATE, true));
        let field: StructField =
            serde_json::from_value(json!({"name": "x", "type": "short", "nullable": false}))
                .unwrap();
        assert_eq!(field, StructField::new("x", DataType::SHORT, false));
        let p: PrimitiveType = serde_json::from_value(json!("timestamp_ntz")).unwrap();
        assert_eq!(p, PrimitiveType::TimestampNtz);

        let err = serde_json::from_value::<DataType>(json!("variant")).unwrap_err();
        assert!(err.to_string().contains("variant"), "{err}");
        assert!(serde_json::from_value::<PrimitiveType>(json!(5)).is_err());
        let m: MapType = serde_json::from_value(
            json!({"type":"map","keyType":"integer","valueType":"string","valueContainsNull":true}),
        )
        .unwrap();
        assert_eq!(m, MapType::new(DataType::INTEGER, DataType::STRING, true));
    }

    #[test]
    fn serde_serialize_embeds_in_other_json() {
        let schema = StructType::new(vec![StructField::new("a", DataType::LONG, true)]);
        let wrapped = serde_json::to_value(json!({ "schema": schema })).unwrap();
        assert_eq!(
            wrapped,
            json!({"schema": {"type": "struct", "fields": [
                {"name": "a", "type": "long", "nullable": true, "metadata": {}}
            ]}})
        );
    }

    #[test]
    fn compact_json_has_delta_key_order() {
        let schema = StructType::new(vec![
            StructField::new("a", DataType::LONG, false).with_metadata([("comment", "x")]),
            StructField::new("m", DataType::map(DataType::STRING, dec(10, 2), true), true),
            StructField::new("l", DataType::array(DataType::TIMESTAMP_NTZ, false), true),
        ]);
        let expected = concat!(
            r#"{"type":"struct","fields":["#,
            r#"{"name":"a","type":"long","nullable":false,"metadata":{"comment":"x"}},"#,
            r#"{"name":"m","type":{"type":"map","keyType":"string","valueType":"decimal(10,2)","valueContainsNull":true},"nullable":true,"metadata":{}},"#,
            r#"{"name":"l","type":{"type":"array","elementType":"timestamp_ntz","containsNull":false},"nullable":true,"metadata":{}}"#,
            "]}"
        );
        assert_eq!(schema.to_json_string(), expected);
        assert_eq!(StructType::parse(expected).unwrap(), schema);
    }

    #[test]
    fn json_round_trip_is_identity() {
        let schema = StructType::parse(SPARK_SCHEMA).unwrap();
        let text = schema.to_json_string();
        assert!(!text.contains('\n') && !text.contains(": "), "{text}");
        assert_eq!(StructType::parse(&text).unwrap(), schema);
        // The compact form is a fixed point.
        assert_eq!(StructType::parse(&text).unwrap().to_json_string(), text);
        assert!(text.contains(r#""type":"decimal(10,2)""#), "{text}");
        assert!(text.starts_with(
            r#"{"type":"struct","fields":[{"name":"id","type":"long","nullable":false,"metadata":{"#
        ));
    }

    #[test]
    fn decimal_spellings() {
        for (text, p, s) in [
            ("decimal(10,2)", 10, 2),
            ("decimal(10, 2)", 10, 2),
            ("decimal( 38 , 0 )", 38, 0),
            ("decimal(1,1)", 1, 1),
            ("decimal(5,0)", 5, 0),
            ("decimal", 10, 0),
        ] {
            let parsed: PrimitiveType = text.parse().unwrap();
            assert_eq!(
                parsed,
                PrimitiveType::Decimal {
                    precision: p,
                    scale: s
                },
                "{text}"
            );
        }
        assert_eq!(dec(10, 2).to_string(), "decimal(10,2)");
        assert_eq!(PrimitiveType::TimestampNtz.type_name(), "timestamp_ntz");
    }

    #[test]
    fn invalid_decimals_are_rejected() {
        for (text, p, s) in [
            ("decimal(39,0)", 39, 0),
            ("decimal(5,6)", 5, 6),
            ("decimal(0,0)", 0, 0),
            ("decimal(5,-1)", 5, -1),
            ("decimal(300,2)", 300, 2),
        ] {
            let schema = format!(
                r#"{{"type":"struct","fields":[{{"name":"s","type":{{"type":"struct","fields":[{{"name":"d","type":"{text}","nullable":true}}]}},"nullable":true}}]}}"#
            );
            match StructType::parse(&schema) {
                Err(SchemaError::InvalidDecimal {
                    field,
                    precision,
                    scale,
                }) => {
                    assert_eq!((field.as_str(), precision, scale), ("s.d", p, s), "{text}");
                }
                other => panic!("{text}: {other:?}"),
            }
        }
        let err = StructType::parse(
            r#"{"type":"struct","fields":[{"name":"d","type":"decimal(39,0)","nullable":true}]}"#,
        )
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "decimal(39,0) is not a valid Delta type in column `d`: the precision must be \
             between 1 and 38 and the scale between 0 and the precision"
        );
        assert!(matches!(
            DataType::decimal(39, 0),
            Err(SchemaError::InvalidDecimal {
                precision: 39,
                scale: 0,
                ..
            })
        ));
        assert!(DataType::decimal(5, 6).is_err());
        assert!(DataType::decimal(0, 0).is_err());
        assert!(DataType::decimal(38, 38).is_ok());
        // Malformed decimal spellings are simply unknown types.
        for text in [
            "decimal(abc)",
            "decimal(5)",
            "decimal(5,2",
            "decimal(+5,2)",
            "decimal(99999999999,1)",
            "DECIMAL(5,2)",
            "decimal(5,2)x",
        ] {
            match text.parse::<PrimitiveType>() {
                Err(SchemaError::UnsupportedType { field, type_name }) => {
                    assert_eq!((field.as_str(), type_name.as_str()), ("", text));
                }
                other => panic!("{text}: {other:?}"),
            }
        }
    }

    #[test]
    fn metadata_defaults_to_empty() {
        let schema = StructType::parse(
            r#"{"type":"struct","fields":[
                {"name":"a","type":"long","nullable":true},
                {"name":"b","type":"long","nullable":true,"metadata":null},
                {"name":"c","type":"long","nullable":true,"metadata":{}, "extra": "ignored"}
            ]}"#,
        )
        .unwrap();
        assert!(schema.fields.iter().all(|f| f.metadata.is_empty()));
        assert_eq!(schema.field_names().collect::<Vec<_>>(), ["a", "b", "c"]);
        assert_eq!(schema.index_of("b"), Some(1));
        assert!(schema.field("A").is_none(), "lookups are case-sensitive");
        assert_eq!(
            schema.to_json_string(),
            r#"{"type":"struct","fields":[{"name":"a","type":"long","nullable":true,"metadata":{}},{"name":"b","type":"long","nullable":true,"metadata":{}},{"name":"c","type":"long","nullable":true,"metadata":{}}]}"#
        );
    }

    #[test]
    fn empty_struct_is_valid() {
        let schema = StructType::parse(r#"{"type":"struct","fields":[]}"#).unwrap();
        assert!(schema.fields.is_empty());
        assert_eq!(schema.to_json_string(), r#"{"type":"struct","fields":[]}"#);
        assert_eq!(schema.to_arrow().unwrap().fields().len(), 0);
    }

    fn unsupported(schema: &str) -> (String, String) {
        match StructType::parse(schema) {
            Err(SchemaError::UnsupportedType { field, type_name }) => (field, type_name),
            other => panic!("expected UnsupportedType for {schema}: {other:?}"),
        }
    }

    #[test]
    fn unsupported_types_name_the_dotted_path() {
        let top = r#"{"type":"struct","fields":[{"name":"v","type":"variant","nullable":true,"metadata":{}}]}"#;
        assert_eq!(unsupported(top), ("v".into(), "variant".into()));

        let nested = r#"{"type":"struct","fields":[{"name":"a","type":{"type":"struct","fields":[
            {"name":"b","type":{"type":"array","elementType":"interval","containsNull":true},"nullable":true}
        ]},"nullable":true}]}"#;
        assert_eq!(
            unsupported(nested),
            ("a.b.element".into(), "interval".into())
        );

        let map_key = r#"{"type":"struct","fields":[{"name":"m","type":{"type":"map","keyType":"void","valueType":"long","valueContainsNull":true},"nullable":true}]}"#;
        assert_eq!(unsupported(map_key), ("m.key".into(), "void".into()));

        let map_value = r#"{"type":"struct","fields":[{"name":"m","type":{"type":"map","keyType":"string","valueType":{"type":"struct","fields":[{"name":"x","type":"char(3)","nullable":true}]},"valueContainsNull":true},"nullable":true}]}"#;
        assert_eq!(
            unsupported(map_value),
            ("m.value.x".into(), "char(3)".into())
        );

        let udt = r#"{"type":"struct","fields":[{"name":"p","type":{"type":"udt","class":"x.Point","sqlType":"string"},"nullable":true}]}"#;
        assert_eq!(unsupported(udt), ("p".into(), "udt".into()));

        // Type names are case-sensitive, as in Spark.
        let upper = r#"{"type":"struct","fields":[{"name":"x","type":"LONG","nullable":true}]}"#;
        assert_eq!(unsupported(upper), ("x".into(), "LONG".into()));

        let err = StructType::parse(top).unwrap_err();
        assert_eq!(
            err.to_string(),
            "unsupported type `variant` in column `v`; reading this table needs a newer \
             version of this library"
        );
    }

    #[test]
    fn malformed_json_is_invalid_json() {
        for text in [
            "",
            "{",
            "{\"type\":\"struct\",",
            "not json",
            "{\"type\":\"struct\",\"fields\":[}",
            "{} trailing",
        ] {
            assert!(
                matches!(
                    StructType::parse(text),
                    Err(SchemaError::InvalidJson { .. })
                ),
                "{text:?}"
            );
        }
        let err = StructType::parse("{").unwrap_err();
        assert!(
            err.to_string()
                .starts_with("the table schema is not valid JSON ("),
            "{err}"
        );
    }

    #[test]
    fn every_truncation_of_a_real_schema_is_an_error() {
        let full = StructType::parse(SPARK_SCHEMA).unwrap().to_json_string();
        for (end, _) in full.char_indices() {
            assert!(
                StructType::parse(&full[..end]).is_err(),
                "prefix of length {end} parsed"
            );
        }
        assert!(StructType::parse(&full).is_ok());
    }

    fn invalid_schema(text: &str) -> (String, String) {
        match StructType::parse(text) {
            Err(SchemaError::InvalidSchema { field, message }) => (field, message),
            other => panic!("expected InvalidSchema for {text}: {other:?}"),
        }
    }

    #[test]
    fn structurally_wrong_schemas_are_invalid_schema() {
        let cases: &[(&str, &str, &str)] = &[
            ("null", "", "expected a struct type object, found null"),
            (
                "[]",
                "",
                "expected a struct type object, found a JSON array",
            ),
            (
                "\"long\"",
                "",
                "expected a struct type object, found a string",
            ),
            (r#"{"fields":[]}"#, "", "expected \"type\": \"struct\""),
            (
                r#"{"type":"array","elementType":"long","containsNull":true}"#,
                "",
                "expected \"type\": \"struct\", found \"array\"",
            ),
            (r#"{"type":"struct"}"#, "", "\"fields\" is missing"),
            (
                r#"{"type":"struct","fields":{}}"#,
                "",
                "\"fields\" must be a JSON array, found an object",
            ),
            (
                r#"{"type":"struct","fields":[5]}"#,
                "",
                "field number 1 must be an object, found a number",
            ),
            (
                r#"{"type":"struct","fields":[{"name":"a","type":"long","nullable":true},{"type":"long","nullable":true}]}"#,
                "",
                "field number 2 has no \"name\" string",
            ),
            (
                r#"{"type":"struct","fields":[{"name":"a","nullable":true}]}"#,
                "a",
                "\"type\" is missing",
            ),
            (
                r#"{"type":"struct","fields":[{"name":"a","type":5,"nullable":true}]}"#,
                "a",
                "\"type\" must be a type name or a type object, found a number",
            ),
            (
                r#"{"type":"struct","fields":[{"name":"a","type":{},"nullable":true}]}"#,
                "a",
                "the type object has no \"type\" name",
            ),
            (
                r#"{"type":"struct","fields":[{"name":"a","type":"long"}]}"#,
                "a",
                "\"nullable\" is missing",
            ),
            (
                r#"{"type":"struct","fields":[{"name":"a","type":"long","nullable":"yes"}]}"#,
                "a",
                "\"nullable\" must be true or false, found a string",
            ),
            (
                r#"{"type":"struct","fields":[{"name":"a","type":"long","nullable":true,"metadata":[]}]}"#,
                "a",
                "\"metadata\" must be an object, found a JSON array",
            ),
            (
                r#"{"type":"struct","fields":[{"name":"a","type":{"type":"array","elementType":"long"},"nullable":true}]}"#,
                "a",
                "\"containsNull\" is missing",
            ),
            (
                r#"{"type":"struct","fields":[{"name":"a","type":{"type":"array","containsNull":true},"nullable":true}]}"#,
                "a",
                "\"elementType\" is missing",
            ),
            (
                r#"{"type":"struct","fields":[{"name":"a","type":{"type":"map","keyType":"long","valueType":"long"},"nullable":true}]}"#,
                "a",
                "\"valueContainsNull\" is missing",
            ),
            (
                r#"{"type":"struct","fields":[{"name":"a","type":{"type":"map","valueType":"long","valueContainsNull":true},"nullable":true}]}"#,
                "a",
                "\"keyType\" is missing",
            ),
            (
                r#"{"type":"struct","fields":[{"name":"a","type":{"type":"struct","fields":[{"name":"b","type":null,"nullable":true}]},"nullable":true}]}"#,
                "a.b",
                "\"type\" must be a type name or a type object, found null",
            ),
        ];
        for (text, field, message) in cases {
            assert_eq!(
                invalid_schema(text),
                (field.to_string(), message.to_string()),
                "{text}"
            );
        }
        let err = StructType::parse(r#"{"type":"struct","fields":[{"name":"a","type":"long"}]}"#)
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "the table schema is malformed in column `a`: \"nullable\" is missing"
        );
        let err = StructType::parse("[]").unwrap_err();
        assert_eq!(
            err.to_string(),
            "the table schema is malformed: expected a struct type object, found a JSON array"
        );
    }

    #[test]
    fn duplicate_columns_are_rejected() {
        let text = r#"{"type":"struct","fields":[{"name":"s","type":{"type":"struct","fields":[
            {"name":"x","type":"long","nullable":true},{"name":"x","type":"string","nullable":true}
        ]},"nullable":true}]}"#;
        match StructType::parse(text) {
            Err(SchemaError::DuplicateField { field }) => assert_eq!(field, "s.x"),
            other => panic!("{other:?}"),
        }
        // Names differing only in case are distinct here.
        assert!(StructType::parse(
            r#"{"type":"struct","fields":[{"name":"x","type":"long","nullable":true},{"name":"X","type":"long","nullable":true}]}"#
        )
        .is_ok());
    }

    #[test]
    fn pathological_inputs_do_not_panic() {
        let deep_arrays = "[".repeat(100_000);
        assert!(StructType::parse(&deep_arrays).is_err());
        let mut deep_struct = String::new();
        for _ in 0..500 {
            deep_struct
                .push_str(r#"{"type":"struct","fields":[{"name":"a","nullable":true,"type":"#);
        }
        assert!(StructType::parse(&deep_struct).is_err());
        for text in [
            "\u{0}",
            "\"\\ud800\"",
            "1e99999",
            "{\"type\":\"struct\",\"fields\":[{\"name\":\"\u{1F600}\",\"type\":\"decimal(\u{0663},1)\",\"nullable\":true}]}",
        ] {
            let _ = StructType::parse(text);
        }
    }

    #[test]
    fn display_uses_spark_simple_strings() {
        let t = DataType::struct_type(vec![
            StructField::new("a", DataType::LONG, true),
            StructField::new("b", DataType::array(DataType::STRING, true), true),
            StructField::new("c", DataType::map(DataType::STRING, dec(5, 2), true), true),
        ]);
        assert_eq!(
            t.to_string(),
            "struct<a:long,b:array<string>,c:map<string,decimal(5,2)>>"
        );
        assert_eq!(t.as_struct().unwrap().fields.len(), 3);
        assert_eq!(DataType::LONG.as_primitive(), Some(&PrimitiveType::Long));
        assert!(t.as_primitive().is_none());
    }

    #[test]
    fn errors_without_a_column_read_well() {
        assert_eq!(
            "variant".parse::<PrimitiveType>().unwrap_err().to_string(),
            "unsupported type `variant`; reading this table needs a newer version of this library"
        );
        assert_eq!(
            DataType::try_from_arrow(&ArrowDataType::UInt8)
                .unwrap_err()
                .to_string(),
            "Arrow type UInt8 has no Delta equivalent; cast it to a supported type first"
        );
        assert_eq!(
            DataType::decimal(5, 6).unwrap_err().to_string(),
            "decimal(5,6) is not a valid Delta type: the precision must be between 1 and 38 \
             and the scale between 0 and the precision"
        );
    }

    // -- Delta -> Arrow -----------------------------------------------------

    #[test]
    fn to_arrow_maps_every_type() {
        let schema = StructType::parse(SPARK_SCHEMA).unwrap();
        let arrow = schema.to_arrow().unwrap();
        let md = |pairs: &[(&str, &str)]| -> arrow_schema::Metadata {
            pairs.iter().map(|(k, v)| (*k, *v)).collect()
        };
        let expected = arrow_schema(vec![
            afield("id", ArrowDataType::Int64, false).with_metadata(md(&[
                ("delta.columnMapping.id", "1"),
                ("delta.columnMapping.physicalName", "col-5f422f40"),
            ])),
            afield("name", ArrowDataType::Utf8, true)
                .with_metadata(md(&[("comment", "customer name")])),
            afield("i", ArrowDataType::Int32, true),
            afield("s", ArrowDataType::Int16, true),
            afield("b", ArrowDataType::Int8, true),
            afield("f", ArrowDataType::Float32, true),
            afield("d", ArrowDataType::Float64, true),
            afield("flag", ArrowDataType::Boolean, false),
            afield("bin", ArrowDataType::Binary, true),
            afield("day", ArrowDataType::Date32, true),
            afield("ts", utc(), true),
            afield(
                "ts_ntz",
                ArrowDataType::Timestamp(TimeUnit::Microsecond, None),
                true,
            ),
            afield("amount", ArrowDataType::Decimal128(10, 2), true),
            afield("big", ArrowDataType::Decimal128(38, 18), true),
            afield("plus_one", ArrowDataType::Int64, true)
                .with_metadata(md(&[("delta.generationExpression", "id + 1")])),
            afield(
                "address",
                astruct(vec![
                    afield("street", ArrowDataType::Utf8, true),
                    // A string that is itself JSON is stored quoted so it comes back a string.
                    afield("zip", ArrowDataType::Int32, false).with_metadata(md(&[(
                        "delta.invariants",
                        r#""{\"expression\":{\"expression\":\"zip > 0\"}}""#,
                    )])),
                ]),
                true,
            ),
            afield("tags", alist(ArrowDataType::Utf8, false), true),
            afield(
                "events",
                alist(
                    astruct(vec![
                        afield("at", utc(), false),
                        afield("kind", ArrowDataType::Utf8, true),
                    ]),
                    true,
                ),
                false,
            ),
            afield(
                "props",
                amap(
                    ArrowDataType::Utf8,
                    alist(ArrowDataType::Int64, true),
                    false,
                ),
                true,
            )
            .with_metadata(md(&[
                ("nested", r#"{"a":[1,2,null],"b":true}"#),
                ("pi", "3.5"),
            ])),
        ]);
        assert_eq!(arrow, expected);
        assert_eq!(arrow_schema::Schema::try_from(&schema).unwrap(), expected);
    }

    #[test]
    fn map_layout_matches_arrow_conventions() {
        let dt = DataType::map(DataType::INTEGER, DataType::STRING, true)
            .to_arrow()
            .unwrap();
        let ArrowDataType::Map(entries, sorted) = &dt else {
            panic!("{dt:?}")
        };
        assert!(!sorted);
        assert_eq!(entries.name(), "key_value");
        assert!(!entries.is_nullable());
        let ArrowDataType::Struct(kv) = entries.data_type() else {
            panic!()
        };
        assert_eq!((kv[0].name().as_str(), kv[0].is_nullable()), ("key", false));
        assert_eq!(
            (kv[1].name().as_str(), kv[1].is_nullable()),
            ("value", true)
        );
        let non_null = DataType::map(DataType::INTEGER, DataType::STRING, false)
            .to_arrow()
            .unwrap();
        assert_eq!(
            non_null,
            amap(ArrowDataType::Int32, ArrowDataType::Utf8, false)
        );
    }

    #[test]
    fn to_arrow_rejects_hand_built_invalid_decimal() {
        let schema = StructType::new(vec![StructField::new(
            "l",
            DataType::array(
                DataType::Primitive(PrimitiveType::Decimal {
                    precision: 40,
                    scale: 0,
                }),
                true,
            ),
            true,
        )]);
        match schema.to_arrow() {
            Err(SchemaError::InvalidDecimal {
                field,
                precision: 40,
                scale: 0,
            }) => {
                assert_eq!(field, "l.element");
            }
            other => panic!("{other:?}"),
        }
    }

    // -- Arrow round trip ---------------------------------------------------

    #[test]
    fn arrow_round_trip_is_identity_for_every_type() {
        let schema = StructType::parse(SPARK_SCHEMA).unwrap();
        let back = StructType::try_from_arrow(&schema.to_arrow().unwrap()).unwrap();
        assert_eq!(back, schema);
    }

    #[test]
    fn arrow_round_trip_preserves_nested_nullability() {
        let mut fields = Vec::new();
        for (i, (outer, inner)) in [(false, false), (false, true), (true, false), (true, true)]
            .into_iter()
            .enumerate()
        {
            fields.push(StructField::new(
                format!("s{i}"),
                DataType::struct_type(vec![StructField::new("x", DataType::LONG, inner)]),
                outer,
            ));
            fields.push(StructField::new(
                format!("a{i}"),
                DataType::array(DataType::array(DataType::INTEGER, inner), outer),
                outer,
            ));
            fields.push(StructField::new(
                format!("m{i}"),
                DataType::map(
                    DataType::struct_type(vec![StructField::new("k", DataType::STRING, inner)]),
                    DataType::map(DataType::DATE, DataType::BINARY, inner),
                    outer,
                ),
                inner,
            ));
        }
        let schema = StructType::new(fields);
        assert_eq!(
            StructType::try_from_arrow(&schema.to_arrow().unwrap()).unwrap(),
            schema
        );
        assert_eq!(StructType::parse(&schema.to_json_string()).unwrap(), schema);
    }

    #[test]
    fn metadata_round_trips_through_arrow() {
        let field = StructField::new("c", DataType::LONG, true).with_metadata([
            ("delta.columnMapping.id", json!(5)),
            ("comment", json!("x")),
            ("delta.generationExpression", json!("a + 1")),
            ("numeric-looking string", json!("42")),
            ("bool-looking string", json!("true")),
            ("quoted string", json!("\"q\"")),
            ("empty", json!("")),
            ("null", json!(null)),
            ("negative", json!(-7)),
            ("float", json!(1.25)),
            ("object", json!({"k": [1, "two"]})),
        ]);
        let arrow = field.to_arrow().unwrap();
        let md = arrow.metadata();
        assert_eq!(md.get("delta.columnMapping.id").unwrap(), "5");
        assert_eq!(md.get("comment").unwrap(), "x");
        assert_eq!(md.get("delta.generationExpression").unwrap(), "a + 1");
        assert_eq!(md.get("numeric-looking string").unwrap(), "\"42\"");
        assert_eq!(md.get("empty").unwrap(), "");
        assert_eq!(md.get("null").unwrap(), "null");
        assert_eq!(md.get("object").unwrap(), r#"{"k":[1,"two"]}"#);
        assert_eq!(StructField::try_from_arrow(&arrow).unwrap(), field);
    }

    #[test]
    fn metadata_from_foreign_arrow() {
        let md: arrow_schema::Metadata = [
            ("ARROW:extension:name", "arrow.uuid"),
            ("ARROW:extension:metadata", "{}"),
            ("n", "12"),
            ("b", "false"),
            ("o", r#"{"a": 1}"#),
            ("arr", "[1]"),
            ("z", "null"),
            ("s", "plain text"),
            ("q", "\"quoted\""),
            ("partial", "{not json"),
        ]
        .into_iter()
        .collect();
        let field = Field::new("x", ArrowDataType::Utf8, true).with_metadata(md);
        let delta = StructField::try_from_arrow(&field).unwrap();
        let expected: BTreeMap<String, Value> = [
            ("n", json!(12)),
            ("b", json!(false)),
            ("o", json!({"a": 1})),
            ("arr", json!([1])),
            ("z", json!(null)),
            ("s", json!("plain text")),
            ("q", json!("quoted")),
            ("partial", json!("{not json")),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        assert_eq!(delta.metadata, expected);
    }

    // -- Arrow -> Delta -----------------------------------------------------

    #[test]
    fn arrow_widening_table() {
        let utf8_list = |f: fn(Arc<Field>) -> ArrowDataType| {
            f(Arc::new(Field::new("item", ArrowDataType::Int16, true)))
        };
        let cases: Vec<(ArrowDataType, DataType)> = vec![
            (ArrowDataType::Utf8, DataType::STRING),
            (ArrowDataType::LargeUtf8, DataType::STRING),
            (ArrowDataType::Utf8View, DataType::STRING),
            (ArrowDataType::Int64, DataType::LONG),
            (ArrowDataType::Int32, DataType::INTEGER),
            (ArrowDataType::Int16, DataType::SHORT),
            (ArrowDataType::Int8, DataType::BYTE),
            (ArrowDataType::Float32, DataType::FLOAT),
            (ArrowDataType::Float64, DataType::DOUBLE),
            (ArrowDataType::Boolean, DataType::BOOLEAN),
            (ArrowDataType::Binary, DataType::BINARY),
            (ArrowDataType::LargeBinary, DataType::BINARY),
            (ArrowDataType::BinaryView, DataType::BINARY),
            (ArrowDataType::FixedSizeBinary(16), DataType::BINARY),
            (ArrowDataType::Date32, DataType::DATE),
            (ArrowDataType::Date64, DataType::DATE),
            (
                ArrowDataType::Timestamp(TimeUnit::Second, Some("+02:00".into())),
                DataType::TIMESTAMP,
            ),
            (
                ArrowDataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into())),
                DataType::TIMESTAMP,
            ),
            (
                ArrowDataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
                DataType::TIMESTAMP,
            ),
            (
                ArrowDataType::Timestamp(TimeUnit::Nanosecond, Some("America/New_York".into())),
                DataType::TIMESTAMP,
            ),
            (
                ArrowDataType::Timestamp(TimeUnit::Second, None),
                DataType::TIMESTAMP_NTZ,
            ),
            (
                ArrowDataType::Timestamp(TimeUnit::Nanosecond, None),
                DataType::TIMESTAMP_NTZ,
            ),
            (ArrowDataType::Decimal32(9, 2), dec(9, 2)),
            (ArrowDataType::Decimal64(18, 0), dec(18, 0)),
            (ArrowDataType::Decimal128(38, 38), dec(38, 38)),
            (ArrowDataType::Decimal256(20, 4), dec(20, 4)),
            (
                utf8_list(ArrowDataType::List),
                DataType::array(DataType::SHORT, true),
            ),
            (
                utf8_list(ArrowDataType::LargeList),
                DataType::array(DataType::SHORT, true),
            ),
            (
                utf8_list(ArrowDataType::ListView),
                DataType::array(DataType::SHORT, true),
            ),
            (
                utf8_list(ArrowDataType::LargeListView),
                DataType::array(DataType::SHORT, true),
            ),
            (
                ArrowDataType::FixedSizeList(
                    Arc::new(Field::new("x", ArrowDataType::Utf8View, false)),
                    3,
                ),
                DataType::array(DataType::STRING, false),
            ),
            (
                ArrowDataType::Dictionary(
                    Box::new(ArrowDataType::Int32),
                    Box::new(ArrowDataType::Utf8),
                ),
                DataType::STRING,
            ),
            (
                ArrowDataType::Dictionary(
                    Box::new(ArrowDataType::UInt8),
                    Box::new(ArrowDataType::LargeBinary),
                ),
                DataType::BINARY,
            ),
            (
                // Arrow's default map field names differ from the ones we write.
                ArrowDataType::Map(
                    Arc::new(Field::new(
                        "entries",
                        astruct(vec![
                            afield("keys", ArrowDataType::LargeUtf8, false),
                            afield("values", ArrowDataType::Date64, false),
                        ]),
                        false,
                    )),
                    true,
                ),
                DataType::map(DataType::STRING, DataType::DATE, false),
            ),
            (
                astruct(vec![afield("v", ArrowDataType::Utf8View, false)]),
                DataType::struct_type(vec![StructField::new("v", DataType::STRING, false)]),
            ),
        ];
        for (arrow, delta) in cases {
            assert_eq!(DataType::try_from_arrow(&arrow).unwrap(), delta, "{arrow}");
        }
    }

    #[test]
    fn unsupported_arrow_types_are_rejected() {
        let cases = vec![
            ArrowDataType::Null,
            ArrowDataType::UInt8,
            ArrowDataType::UInt16,
            ArrowDataType::UInt32,
            ArrowDataType::UInt64,
            ArrowDataType::Float16,
            ArrowDataType::Time32(TimeUnit::Second),
            ArrowDataType::Time64(TimeUnit::Nanosecond),
            ArrowDataType::Duration(TimeUnit::Microsecond),
            ArrowDataType::Interval(IntervalUnit::MonthDayNano),
            ArrowDataType::Decimal256(39, 0),
            ArrowDataType::Decimal256(76, 10),
            ArrowDataType::Decimal128(10, -2),
            ArrowDataType::Decimal128(5, 6),
            ArrowDataType::Decimal128(0, 0),
            ArrowDataType::Union(UnionFields::empty(), UnionMode::Dense),
            ArrowDataType::RunEndEncoded(
                Arc::new(Field::new("run_ends", ArrowDataType::Int32, false)),
                Arc::new(Field::new("values", ArrowDataType::Utf8, true)),
            ),
            ArrowDataType::Map(
                Arc::new(Field::new("entries", ArrowDataType::Int32, false)),
                false,
            ),
            ArrowDataType::Dictionary(
                Box::new(ArrowDataType::Int8),
                Box::new(ArrowDataType::UInt64),
            ),
        ];
        for dt in cases {
            let schema = arrow_schema(vec![afield("c", dt.clone(), true)]);
            match StructType::try_from_arrow(&schema) {
                Err(SchemaError::UnsupportedArrowType { field, arrow_type }) => {
                    assert_eq!(field, "c");
                    assert!(!arrow_type.is_empty());
                }
                other => panic!("{dt}: {other:?}"),
            }
        }
    }

    #[test]
    fn unsupported_arrow_types_name_the_dotted_path() {
        let path_of =
            |dt: ArrowDataType| match StructType::try_from_arrow(&arrow_schema(vec![afield(
                "a", dt, true,
            )])) {
                Err(SchemaError::UnsupportedArrowType { field, .. }) => field,
                other => panic!("{other:?}"),
            };
        assert_eq!(
            path_of(astruct(vec![afield(
                "b",
                alist(ArrowDataType::UInt8, true),
                true
            )])),
            "a.b.element"
        );
        assert_eq!(
            path_of(amap(ArrowDataType::UInt16, ArrowDataType::Utf8, true)),
            "a.key"
        );
        assert_eq!(
            path_of(amap(
                ArrowDataType::Utf8,
                astruct(vec![afield("x", ArrowDataType::Float16, true)]),
                true
            )),
            "a.value.x"
        );
        let err = StructType::try_from_arrow(&arrow_schema(vec![afield(
            "a",
            astruct(vec![afield("b", ArrowDataType::UInt32, true)]),
            true,
        )]))
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "Arrow type UInt32 in column `a.b` has no Delta equivalent; cast it to a supported \
             type first"
        );
    }

    #[test]
    fn try_from_arrow_rejects_duplicate_names() {
        let schema = arrow_schema(vec![afield(
            "s",
            astruct(vec![
                afield("x", ArrowDataType::Int32, true),
                afield("x", ArrowDataType::Utf8, true),
            ]),
            true,
        )]);
        match StructType::try_from(&schema) {
            Err(SchemaError::DuplicateField { field }) => assert_eq!(field, "s.x"),
            other => panic!("{other:?}"),
        }
    }

    // -- check_write_compatible --------------------------------------------

    fn table() -> StructType {
        StructType::new(vec![
            StructField::new("id", DataType::LONG, false),
            StructField::new("name", DataType::STRING, true),
            StructField::new("ts", DataType::TIMESTAMP, true),
            StructField::new(
                "s",
                DataType::struct_type(vec![
                    StructField::new("x", DataType::INTEGER, false),
                    StructField::new("y", DataType::STRING, true),
                ]),
                true,
            ),
            StructField::new("tags", DataType::array(DataType::STRING, false), true),
            StructField::new(
                "m",
                DataType::map(DataType::STRING, DataType::LONG, true),
                true,
            ),
        ])
    }

    #[test]
    fn compatible_data_is_accepted() {
        let table = table();
        assert!(
            table
                .check_write_compatible(&table.to_arrow().unwrap())
                .is_ok()
        );

        // Arrow-only encodings, reordered columns and extra nullability are all fine.
        let data = arrow_schema(vec![
            afield(
                "m",
                amap(
                    ArrowDataType::Dictionary(
                        Box::new(ArrowDataType::Int8),
                        Box::new(ArrowDataType::Utf8),
                    ),
                    ArrowDataType::Int64,
                    false,
                ),
                true,
            ),
            afield("name", ArrowDataType::Utf8View, true),
            afield("id", ArrowDataType::Int64, true),
            afield(
                "ts",
                ArrowDataType::Timestamp(TimeUnit::Nanosecond, Some("+01:00".into())),
                true,
            ),
            afield(
                "s",
                astruct(vec![
                    afield("y", ArrowDataType::LargeUtf8, true),
                    afield("x", ArrowDataType::Int32, true),
                ]),
                true,
            ),
            afield(
                "tags",
                ArrowDataType::LargeList(Arc::new(Field::new("item", ArrowDataType::Utf8, true))),
                true,
            ),
        ]);
        assert!(table.check_write_compatible(&data).is_ok());
    }

    #[test]
    fn missing_nullable_columns_are_allowed() {
        let data = arrow_schema(vec![
            afield("id", ArrowDataType::Int64, false),
            afield(
                "s",
                astruct(vec![afield("x", ArrowDataType::Int32, false)]),
                true,
            ),
        ]);
        assert!(table().check_write_compatible(&data).is_ok());
    }

    #[test]
    fn extra_column_is_rejected() {
        let data = arrow_schema(vec![
            afield("id", ArrowDataType::Int64, false),
            afield("extra", ArrowDataType::Utf8, true),
        ]);
        let err = table().check_write_compatible(&data).unwrap_err();
        assert_eq!(
            err.to_string(),
            "the data does not match the table schema: column `extra` is not in the table schema. \
             Cast, rename or drop the offending columns, or change the table schema first"
        );
        assert_eq!(
            problems(Err(err)),
            ["column `extra` is not in the table schema"]
        );
    }

    #[test]
    fn wrong_type_is_rejected() {
        let data = arrow_schema(vec![afield("id", ArrowDataType::Int32, false)]);
        assert_eq!(
            problems(table().check_write_compatible(&data)),
            ["column `id` has type integer in the data but long in the table"]
        );
        // Case matters: `ID` is a different column.
        let data = arrow_schema(vec![afield("ID", ArrowDataType::Int64, false)]);
        assert_eq!(
            problems(table().check_write_compatible(&data)),
            [
                "column `ID` is not in the table schema",
                "column `id` is not nullable but is missing from the data"
            ]
        );
    }

    #[test]
    fn missing_non_nullable_column_is_rejected() {
        let data = arrow_schema(vec![afield("name", ArrowDataType::Utf8, true)]);
        assert_eq!(
            problems(table().check_write_compatible(&data)),
            ["column `id` is not nullable but is missing from the data"]
        );
    }

    #[test]
    fn nested_mismatches_name_the_nested_column() {
        let data = arrow_schema(vec![
            afield("id", ArrowDataType::Int64, false),
            afield(
                "s",
                astruct(vec![
                    afield("x", ArrowDataType::Utf8, false),
                    afield("z", ArrowDataType::Boolean, true),
                ]),
                true,
            ),
        ]);
        assert_eq!(
            problems(table().check_write_compatible(&data)),
            [
                "column `s.x` has type string in the data but integer in the table",
                "column `s.z` is not in the table schema",
            ]
        );
        let data = arrow_schema(vec![
            afield("id", ArrowDataType::Int64, false),
            afield(
                "s",
                astruct(vec![afield("y", ArrowDataType::Utf8, true)]),
                true,
            ),
            afield("tags", alist(ArrowDataType::Int64, true), true),
            afield(
                "m",
                amap(ArrowDataType::Int32, ArrowDataType::Float64, true),
                true,
            ),
        ]);
        assert_eq!(
            problems(table().check_write_compatible(&data)),
            [
                "column `s.x` is not nullable but is missing from the data",
                "column `tags.element` has type long in the data but string in the table",
                "column `m.key` has type integer in the data but string in the table",
                "column `m.value` has type double in the data but long in the table",
            ]
        );
    }

    #[test]
    fn shape_mismatches_show_both_types() {
        let data = arrow_schema(vec![
            afield("id", ArrowDataType::Int64, false),
            afield("s", ArrowDataType::Utf8, true),
            afield("tags", ArrowDataType::Utf8, true),
            afield("name", alist(ArrowDataType::Utf8, true), true),
            afield(
                "m",
                astruct(vec![afield("k", ArrowDataType::Int64, true)]),
                true,
            ),
        ]);
        assert_eq!(
            problems(table().check_write_compatible(&data)),
            [
                "column `s` has type string in the data but struct<x:integer,y:string> in the table",
                "column `tags` has type string in the data but array<string> in the table",
                "column `name` has type array<string> in the data but string in the table",
                "column `m` has type struct<k:long> in the data but map<string,long> in the table",
            ]
        );
    }

    #[test]
    fn several_problems_are_collected() {
        let data = arrow_schema(vec![
            afield("name", ArrowDataType::Int32, true),
            afield(
                "ts",
                ArrowDataType::Timestamp(TimeUnit::Microsecond, None),
                true,
            ),
            afield("u", ArrowDataType::UInt32, true),
            afield("extra", ArrowDataType::Utf8, true),
            afield("extra", ArrowDataType::Utf8, true),
            afield("tags", alist(ArrowDataType::Float16, true), true),
        ]);
        assert_eq!(
            problems(table().check_write_compatible(&data)),
            [
                "column `name` has type integer in the data but string in the table",
                "column `ts` has type timestamp_ntz in the data but timestamp in the table",
                "column `u` is not in the table schema",
                "column `extra` is not in the table schema",
                "column `extra` appears more than once in the data",
                "column `tags.element` has Arrow type Float16 in the data, which has no Delta equivalent",
                "column `id` is not nullable but is missing from the data",
            ]
        );
    }

    #[test]
    fn decimal_precision_must_match_exactly() {
        let table = StructType::new(vec![StructField::new("d", dec(10, 2), true)]);
        let ok = arrow_schema(vec![afield("d", ArrowDataType::Decimal64(10, 2), true)]);
        assert!(table.check_write_compatible(&ok).is_ok());
        let bad = arrow_schema(vec![afield("d", ArrowDataType::Decimal128(12, 2), true)]);
        assert_eq!(
            problems(table.check_write_compatible(&bad)),
            ["column `d` has type decimal(12,2) in the data but decimal(10,2) in the table"]
        );
    }

    // -- property tests -----------------------------------------------------

    mod props {
        use super::*;
        use proptest::prelude::*;

        fn primitive() -> impl Strategy<Value = PrimitiveType> {
            prop_oneof![
                Just(PrimitiveType::String),
                Just(PrimitiveType::Long),
                Just(PrimitiveType::Integer),
                Just(PrimitiveType::Short),
                Just(PrimitiveType::Byte),
                Just(PrimitiveType::Float),
                Just(PrimitiveType::Double),
                Just(PrimitiveType::Boolean),
                Just(PrimitiveType::Binary),
                Just(PrimitiveType::Date),
                Just(PrimitiveType::Timestamp),
                Just(PrimitiveType::TimestampNtz),
                (1u8..=38)
                    .prop_flat_map(|p| (Just(p), 0..=p))
                    .prop_map(|(precision, scale)| PrimitiveType::Decimal { precision, scale }),
            ]
        }

        // Floats are left out: serde_json's default float parsing is not
        // guaranteed to round-trip the last bit.
        fn metadata_value() -> impl Strategy<Value = Value> {
            prop_oneof![
                any::<i64>().prop_map(Value::from),
                any::<bool>().prop_map(Value::from),
                Just(Value::Null),
                ".{0,12}".prop_map(Value::from),
                prop_oneof![
                    Just("42"),
                    Just("true"),
                    Just("[1]"),
                    Just("\"x\""),
                    Just(" null ")
                ]
                .prop_map(Value::from),
                prop::collection::vec(any::<i32>(), 0..3).prop_map(|v| json!({ "v": v })),
            ]
        }

        fn data_type() -> impl Strategy<Value = DataType> {
            primitive()
                .prop_map(DataType::Primitive)
                .prop_recursive(4, 48, 4, |inner| {
                    prop_oneof![
                        (inner.clone(), any::<bool>()).prop_map(|(e, n)| DataType::array(e, n)),
                        (inner.clone(), inner.clone(), any::<bool>())
                            .prop_map(|(k, v, n)| DataType::map(k, v, n)),
                        struct_of(inner).prop_map(DataType::from),
                    ]
                })
        }

        fn struct_of(inner: impl Strategy<Value = DataType>) -> impl Strategy<Value = StructType> {
            prop::collection::btree_map(
                "[a-zA-Z_ .é]{1,6}",
                (
                    inner,
                    any::<bool>(),
                    prop::collection::btree_map("[a-z.]{1,8}", metadata_value(), 0..3),
                ),
                0..5,
            )
            .prop_map(|fields| {
                fields
                    .into_iter()
                    .map(|(name, (dt, nullable, md))| {
                        StructField::new(name, dt, nullable).with_metadata(md)
                    })
                    .collect()
            })
        }

        proptest! {
            #[test]
            fn json_round_trip(schema in struct_of(data_type())) {
                let text = schema.to_json_string();
                prop_assert_eq!(StructType::parse(&text).unwrap(), schema);
            }

            #[test]
            fn arrow_round_trip_and_self_compatibility(schema in struct_of(data_type())) {
                let arrow = schema.to_arrow().unwrap();
                prop_assert_eq!(&StructType::try_from_arrow(&arrow).unwrap(), &schema);
                prop_assert!(schema.check_write_compatible(&arrow).is_ok());
            }

            #[test]
            fn arbitrary_strings_never_panic(text in ".{0,200}") {
                let _ = StructType::parse(&text);
            }

            #[test]
            fn corrupted_schemas_never_panic(
                schema in struct_of(data_type()),
                cut in any::<prop::sample::Index>(),
                byte in any::<u8>(),
            ) {
                let mut bytes = schema.to_json_string().into_bytes();
                let i = cut.index(bytes.len());
                bytes[i] = byte;
                let _ = StructType::parse(&String::from_utf8_lossy(&bytes));
                let truncated = String::from_utf8_lossy(&bytes[..i]).into_owned();
                prop_assert!(StructType::parse(&truncated).is_err());
            }
        }
    }
}
