//! The schema module's tests: JSON, Arrow mapping, write compatibility, properties.

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
        serde_json::from_value(json!({"name": "x", "type": "short", "nullable": false})).unwrap();
    assert_eq!(field, StructField::new("x", DataType::SHORT, false));
    let p: PrimitiveType = serde_json::from_value(json!("timestamp_ntz")).unwrap();
    assert_eq!(p, PrimitiveType::TimestampNtz);

    let err = serde_json::from_value::<DataType>(json!("geography")).unwrap_err();
    assert!(err.to_string().contains("geography"), "{err}");
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
    let top = r#"{"type":"struct","fields":[{"name":"v","type":"geography","nullable":true,"metadata":{}}]}"#;
    assert_eq!(unsupported(top), ("v".into(), "geography".into()));

    let nested = r#"{"type":"struct","fields":[{"name":"a","type":{"type":"struct","fields":[
        {"name":"b","type":{"type":"array","elementType":"interval","containsNull":true},"nullable":true}
    ]},"nullable":true}]}"#;
    assert_eq!(
        unsupported(nested),
        ("a.b.element".into(), "interval".into())
    );

    let map_key = r#"{"type":"struct","fields":[{"name":"m","type":{"type":"map","keyType":"interval","valueType":"long","valueContainsNull":true},"nullable":true}]}"#;
    assert_eq!(unsupported(map_key), ("m.key".into(), "interval".into()));

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
        "unsupported type `geography` in column `v`; reading this table needs a newer \
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
        deep_struct.push_str(r#"{"type":"struct","fields":[{"name":"a","nullable":true,"type":"#);
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
        "geography"
            .parse::<PrimitiveType>()
            .unwrap_err()
            .to_string(),
        "unsupported type `geography`; reading this table needs a newer version of this library"
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
    let md = |pairs: &[(&str, &str)]| -> std::collections::HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
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
    let md: std::collections::HashMap<String, String> = [
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
    .map(|(k, v)| (k.to_string(), v.to_string()))
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
    let path_of = |dt: ArrowDataType| match StructType::try_from_arrow(&arrow_schema(vec![afield(
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
    let data = arrow_schema(vec![afield("id", ArrowDataType::Utf8, false)]);
    assert_eq!(
        problems(table().check_write_compatible(&data)),
        ["column `id` has type string in the data but long in the table"]
    );
    // A narrower integer widens exactly; a wider one does not fit.
    let data = arrow_schema(vec![afield("id", ArrowDataType::Int32, false)]);
    assert!(table().check_write_compatible(&data).is_ok());
    let data = arrow_schema(vec![afield("id", ArrowDataType::Float64, false)]);
    assert_eq!(
        problems(table().check_write_compatible(&data)),
        ["column `id` has type double in the data but long in the table"]
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
