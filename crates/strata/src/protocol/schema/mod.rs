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

mod arrow_convert;
pub mod column_mapping;
mod compat;
pub mod conform;
mod ddl;
pub mod evolution;
mod json;

use arrow_convert::{
    data_type_from_arrow, data_type_to_arrow, field_from_arrow, field_to_arrow,
    struct_fields_to_arrow, struct_from_arrow_fields,
};
use compat::compare_struct;
use json::{check_decimal, primitive_from_str, struct_from_json};
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
    /// A column that is always null (`void`, Spark's `NullType`); data files do not store it.
    Void,
    /// Semi-structured data in the Variant binary encoding (`variant`,
    /// `protocol/PROTOCOL.md#schema`): Arrow `struct<metadata: binary, value: binary>`.
    Variant,
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
            PrimitiveType::Void => "void",
            PrimitiveType::Variant => "variant",
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

#[cfg(test)]
mod tests;
