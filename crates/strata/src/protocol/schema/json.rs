//! The Delta schema JSON ("Schema Serialization Format", `protocol/PROTOCOL.md#schema`):
//! serialization with Spark's key order, and parsing through [`serde_json::Value`] by a walker
//! that names the offending column by its dotted path in every error.

use super::*;

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

pub(super) fn invalid(field: &str, message: impl Into<String>) -> SchemaError {
    SchemaError::InvalidSchema {
        field: field.to_string(),
        message: message.into(),
    }
}

pub(super) fn describe(value: &Value) -> &'static str {
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
pub(super) fn typed_object<'a>(
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

pub(super) fn required_bool(
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

pub(super) fn required<'a>(
    obj: &'a serde_json::Map<String, Value>,
    key: &str,
    path: &str,
) -> Result<&'a Value, SchemaError> {
    obj.get(key)
        .ok_or_else(|| invalid(path, format!("\"{key}\" is missing")))
}

pub(super) fn struct_from_json(value: &Value, path: &str) -> Result<StructType, SchemaError> {
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
pub(super) fn field_from_json(
    value: &Value,
    parent: &str,
    index: usize,
) -> Result<StructField, SchemaError> {
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

pub(super) fn type_from_json(value: &Value, path: &str) -> Result<DataType, SchemaError> {
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

pub(super) fn array_from_json(value: &Value, path: &str) -> Result<ArrayType, SchemaError> {
    let obj = typed_object(value, "array", path)?;
    let element_path = child_path(path, "element");
    Ok(ArrayType {
        element_type: type_from_json(required(obj, "elementType", path)?, &element_path)?,
        contains_null: required_bool(obj, "containsNull", path)?,
    })
}

pub(super) fn map_from_json(value: &Value, path: &str) -> Result<MapType, SchemaError> {
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

pub(super) fn primitive_from_str(name: &str, path: &str) -> Result<PrimitiveType, SchemaError> {
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
        "void" => PrimitiveType::Void,
        "variant" => PrimitiveType::Variant,
        // Spark reads a bare "decimal" as its default decimal(10,0).
        "decimal" => PrimitiveType::Decimal {
            precision: 10,
            scale: 0,
        },
        _ => match parse_decimal_type(name) {
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
fn parse_decimal_type(name: &str) -> Option<(u32, i32)> {
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

pub(super) fn check_decimal(
    precision: u32,
    scale: i32,
    path: &str,
) -> Result<PrimitiveType, SchemaError> {
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
