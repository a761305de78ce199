//! Schemas written as text the way Spark's `StructType.fromDDL` reads them:
//! `id long not null, name string, price decimal(10,2), tags array<string>,
//! attrs map<string,long>, addr struct<city:string,zip:int>`.
//!
//! Type names are Delta's (`protocol/PROTOCOL.md#schema`) plus the SQL spellings
//! Spark also accepts (`int`, `bigint`, `smallint`, `tinyint`, `bool`, `real`, `varchar(n)`,
//! `char(n)`, `text`), case-insensitively. Columns are nullable unless followed by
//! `NOT NULL`; array elements and map values may be null. Names may be backquoted to hold any
//! character (a doubled backquote is a literal one). A `COMMENT '...'` after a column is kept
//! as the column's `comment` metadata, as Spark keeps it.

use super::{
    ArrayType, DataType, MapType, PrimitiveType, SchemaError, StructField, StructType,
    check_decimal,
};

impl StructType {
    /// Parses a schema written as `name type [NOT NULL] [COMMENT '...'], ...` (see the module
    /// docs). Duplicate column names are refused.
    ///
    /// # Errors
    /// [`SchemaError::InvalidDdl`] naming the position and what was expected;
    /// [`SchemaError::InvalidDecimal`],
    /// [`SchemaError::DuplicateField`].
    pub fn from_ddl(text: &str) -> Result<StructType, SchemaError> {
        let mut parser = Parser { text, pos: 0 };
        let fields = parser.fields(None, "")?;
        parser.skip_ws();
        if parser.pos < text.len() {
            return Err(parser.error("`,` or the end of the schema"));
        }
        if fields.is_empty() {
            return Err(parser.error("at least one column"));
        }
        Ok(StructType::new(fields))
    }
}

struct Parser<'a> {
    text: &'a str,
    pos: usize,
}

impl Parser<'_> {
    fn rest(&self) -> &str {
        &self.text[self.pos..]
    }

    fn skip_ws(&mut self) {
        let trimmed = self.rest().trim_start();
        self.pos = self.text.len() - trimmed.len();
    }

    fn error(&self, expected: &str) -> SchemaError {
        let found: String = self.rest().chars().take(20).collect();
        SchemaError::InvalidDdl {
            position: self.text[..self.pos].chars().count() + 1,
            message: if found.is_empty() {
                format!("expected {expected} but the schema ended")
            } else {
                format!("expected {expected} at {found:?}")
            },
        }
    }

    /// Consumes `c` (after whitespace) if it is next.
    fn eat(&mut self, c: char) -> bool {
        self.skip_ws();
        if self.rest().starts_with(c) {
            self.pos += c.len_utf8();
            true
        } else {
            false
        }
    }

    fn expect(&mut self, c: char) -> Result<(), SchemaError> {
        if self.eat(c) {
            Ok(())
        } else {
            Err(self.error(&format!("`{c}`")))
        }
    }

    /// A bare word: letters, digits and `_`.
    fn word(&mut self) -> Option<&str> {
        self.skip_ws();
        let len = self
            .rest()
            .find(|c: char| !(c.is_alphanumeric() || c == '_'))
            .unwrap_or(self.rest().len());
        if len == 0 {
            return None;
        }
        let start = self.pos;
        self.pos += len;
        Some(&self.text[start..self.pos])
    }

    /// Consumes the keyword `kw` (case-insensitive) if it is the next word.
    fn eat_keyword(&mut self, kw: &str) -> bool {
        let saved = self.pos;
        match self.word() {
            Some(w) if w.eq_ignore_ascii_case(kw) => true,
            _ => {
                self.pos = saved;
                false
            }
        }
    }

    fn name(&mut self) -> Result<String, SchemaError> {
        self.skip_ws();
        if !self.rest().starts_with('`') {
            return self
                .word()
                .map(str::to_string)
                .ok_or_else(|| self.error("a column name"));
        }
        self.pos += 1;
        let mut name = String::new();
        loop {
            let Some(c) = self.rest().chars().next() else {
                return Err(self.error("a closing backquote"));
            };
            self.pos += c.len_utf8();
            if c == '`' {
                if !self.rest().starts_with('`') {
                    return Ok(name);
                }
                self.pos += 1;
            }
            name.push(c);
        }
    }

    fn string_literal(&mut self) -> Result<String, SchemaError> {
        self.skip_ws();
        let Some(quote) = self
            .rest()
            .chars()
            .next()
            .filter(|c| *c == '\'' || *c == '"')
        else {
            return Err(self.error("a quoted comment"));
        };
        self.pos += 1;
        let mut value = String::new();
        loop {
            let Some(c) = self.rest().chars().next() else {
                return Err(self.error("the end of the comment"));
            };
            self.pos += c.len_utf8();
            match c {
                '\\' => match self.rest().chars().next() {
                    Some(escaped) => {
                        self.pos += escaped.len_utf8();
                        value.push(match escaped {
                            'n' => '\n',
                            't' => '\t',
                            'r' => '\r',
                            other => other,
                        });
                    }
                    None => return Err(self.error("the end of the comment")),
                },
                c if c == quote => return Ok(value),
                c => value.push(c),
            }
        }
    }

    /// After `GENERATED`: `ALWAYS AS (expr)` (a generated column,
    /// `delta.generationExpression`) or `{ALWAYS | BY DEFAULT} AS IDENTITY [(START WITH n
    /// INCREMENT BY m)]` (an identity column, `delta.identity.*`), as Spark writes them.
    fn generated(&mut self) -> Result<Vec<(&'static str, serde_json::Value)>, SchemaError> {
        let always = if self.eat_keyword("always") {
            true
        } else if self.eat_keyword("by") && self.eat_keyword("default") {
            false
        } else {
            return Err(self.error("ALWAYS or BY DEFAULT after GENERATED"));
        };
        if !self.eat_keyword("as") {
            return Err(self.error("AS"));
        }
        if self.eat_keyword("identity") {
            let (mut start, mut step) = (1i64, 1i64);
            if self.eat('(') {
                loop {
                    if self.eat_keyword("start") && self.eat_keyword("with") {
                        start = self.integer()?;
                    } else if self.eat_keyword("increment") && self.eat_keyword("by") {
                        step = self.integer()?;
                    } else {
                        return Err(self.error("START WITH n or INCREMENT BY n"));
                    }
                    if self.eat(')') {
                        break;
                    }
                }
            }
            if step == 0 {
                return Err(self.error("a non-zero INCREMENT BY"));
            }
            return Ok(vec![
                ("delta.identity.start", start.into()),
                ("delta.identity.step", step.into()),
                ("delta.identity.allowExplicitInsert", (!always).into()),
            ]);
        }
        if !always {
            return Err(self.error("ALWAYS AS (expression) for a generated column"));
        }
        self.expect('(')?;
        let start = self.pos;
        let (mut depth, mut quote) = (1usize, None::<char>);
        for (i, c) in self.rest().char_indices() {
            match (quote, c) {
                (Some(q), c) if c == q => quote = None,
                (Some(_), _) => {}
                (None, '\'' | '"' | '`') => quote = Some(c),
                (None, '(') => depth += 1,
                (None, ')') => {
                    depth -= 1;
                    if depth == 0 {
                        let expression = self.text[start..start + i].trim().to_string();
                        self.pos = start + i + 1;
                        if expression.is_empty() {
                            return Err(self.error("an expression"));
                        }
                        return Ok(vec![("delta.generationExpression", expression.into())]);
                    }
                }
                _ => {}
            }
        }
        Err(self.error("`)` closing the generation expression"))
    }

    fn integer(&mut self) -> Result<i64, SchemaError> {
        self.skip_ws();
        let negative = self.eat('-');
        let parsed = self.word().map(|digits| digits.parse::<i64>());
        let Some(Ok(value)) = parsed else {
            return Err(self.error("an integer"));
        };
        Ok(if negative { -value } else { value })
    }

    /// Columns up to `close` (or the end when `None`); struct fields use `name: type`.
    fn fields(&mut self, close: Option<char>, path: &str) -> Result<Vec<StructField>, SchemaError> {
        let mut fields: Vec<StructField> = Vec::new();
        loop {
            self.skip_ws();
            if close.is_some_and(|c| self.rest().starts_with(c)) || self.rest().is_empty() {
                break;
            }
            let name = self.name()?;
            let field_path = super::child_path(path, &name);
            if close.is_some() {
                self.eat(':');
            }
            let data_type = self.data_type(&field_path)?;
            let nullable = !(self.eat_keyword("not") && {
                if !self.eat_keyword("null") {
                    return Err(self.error("NULL after NOT"));
                }
                true
            });
            let mut field = StructField::new(name, data_type, nullable);
            if self.eat_keyword("generated") {
                field = field.with_metadata(self.generated()?);
            }
            if self.eat_keyword("comment") {
                let comment = self.string_literal()?;
                field = field.with_metadata([("comment", serde_json::Value::String(comment))]);
            }
            if fields.iter().any(|f| f.name == field.name) {
                return Err(SchemaError::DuplicateField { field: field_path });
            }
            fields.push(field);
            if !self.eat(',') {
                break;
            }
            self.skip_ws();
            if self.rest().is_empty() || close.is_some_and(|c| self.rest().starts_with(c)) {
                return Err(self.error("a column after `,`"));
            }
        }
        Ok(fields)
    }

    fn data_type(&mut self, path: &str) -> Result<DataType, SchemaError> {
        self.skip_ws();
        let start = self.pos;
        let Some(word) = self.word().map(str::to_ascii_lowercase) else {
            return Err(self.error("a type"));
        };
        match word.as_str() {
            "array" => {
                self.expect('<')?;
                let element = self.data_type(&format!("{path}.element"))?;
                self.expect('>')?;
                Ok(ArrayType::new(element, true).into())
            }
            "map" => {
                self.expect('<')?;
                let key = self.data_type(&format!("{path}.key"))?;
                self.expect(',')?;
                let value = self.data_type(&format!("{path}.value"))?;
                self.expect('>')?;
                Ok(MapType::new(key, value, true).into())
            }
            "struct" => {
                self.expect('<')?;
                let fields = self.fields(Some('>'), path)?;
                self.expect('>')?;
                Ok(StructType::new(fields).into())
            }
            "decimal" | "dec" | "numeric" => {
                if !self.eat('(') {
                    return Ok(PrimitiveType::Decimal {
                        precision: 10,
                        scale: 0,
                    }
                    .into());
                }
                let precision = self.number()?;
                let scale = if self.eat(',') { self.number()? } else { 0 };
                self.expect(')')?;
                Ok(check_decimal(precision, scale as i32, path)?.into())
            }
            "varchar" | "char" => {
                // Spark stores both as string; the length is not enforced by Delta.
                self.expect('(')?;
                self.number()?;
                self.expect(')')?;
                Ok(PrimitiveType::String.into())
            }
            other => primitive(other).map(DataType::from).ok_or_else(|| {
                self.pos = start;
                self.error(&format!(
                    "a type for `{path}` (`{other}` is not one; types are string, long, integer, short, byte, double, float, boolean, binary, date, timestamp, timestamp_ntz, decimal(p,s), array<T>, map<K,V>, struct<name:T,...>)"
                ))
            }),
        }
    }

    fn number(&mut self) -> Result<u32, SchemaError> {
        let saved = self.pos;
        match self.word().map(str::parse::<u32>) {
            Some(Ok(n)) => Ok(n),
            _ => {
                self.pos = saved;
                Err(self.error("a number"))
            }
        }
    }
}

pub(super) fn primitive(name: &str) -> Option<PrimitiveType> {
    Some(match name {
        "string" | "text" => PrimitiveType::String,
        "long" | "bigint" => PrimitiveType::Long,
        "integer" | "int" => PrimitiveType::Integer,
        "short" | "smallint" => PrimitiveType::Short,
        "byte" | "tinyint" => PrimitiveType::Byte,
        "float" | "real" => PrimitiveType::Float,
        "double" => PrimitiveType::Double,
        "boolean" | "bool" => PrimitiveType::Boolean,
        "binary" => PrimitiveType::Binary,
        "date" => PrimitiveType::Date,
        "timestamp" | "timestamp_ltz" => PrimitiveType::Timestamp,
        "timestamp_ntz" => PrimitiveType::TimestampNtz,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ddl(text: &str) -> StructType {
        StructType::from_ddl(text).unwrap_or_else(|e| panic!("{text}: {e}"))
    }

    #[test]
    fn reads_every_kind_of_type() {
        let schema = ddl(
            "id BIGINT NOT NULL, name string, price decimal(10, 2), tags array<string>, \
             attrs map<string,long>, addr struct<city: string, zip:int not null>, \
             `odd name` timestamp_ntz, d DATE",
        );
        assert_eq!(
            schema.to_string(),
            "struct<id:long,name:string,price:decimal(10,2),tags:array<string>,\
             attrs:map<string,long>,addr:struct<city:string,zip:integer>,\
             odd name:timestamp_ntz,d:date>"
        );
        assert!(!schema.field("id").unwrap().nullable);
        assert!(schema.field("name").unwrap().nullable);
        let addr = schema.field("addr").unwrap().data_type.as_struct().unwrap();
        assert!(!addr.field("zip").unwrap().nullable);
    }

    #[test]
    fn keeps_comments_as_metadata() {
        let schema = ddl("id long comment 'the key', x int COMMENT \"it's\\n2 lines\"");
        let metadata = &schema.field("id").unwrap().metadata;
        assert_eq!(metadata.get("comment"), Some(&serde_json::json!("the key")));
        let x = &schema.field("x").unwrap().metadata;
        assert_eq!(x.get("comment"), Some(&serde_json::json!("it's\n2 lines")));
    }

    #[test]
    fn errors_name_the_position() {
        let err = StructType::from_ddl("id long, name").unwrap_err();
        assert!(err.to_string().contains("position 14"), "{err}");
        let err = StructType::from_ddl("id long not nul").unwrap_err();
        assert!(err.to_string().contains("NULL after NOT"), "{err}");
        let err = StructType::from_ddl("id long, id int").unwrap_err();
        assert!(matches!(err, SchemaError::DuplicateField { .. }), "{err}");
        let err = StructType::from_ddl("id long, v variant").unwrap_err();
        assert!(err.to_string().contains("position 12"), "{err}");
        assert!(err.to_string().contains("`variant` is not one"), "{err}");
        let err = StructType::from_ddl("d decimal(40,2)").unwrap_err();
        assert!(matches!(err, SchemaError::InvalidDecimal { .. }), "{err}");
        assert!(StructType::from_ddl("  ").is_err());
        assert!(StructType::from_ddl("a array<int").is_err());
        assert!(StructType::from_ddl("`a int").is_err());
        assert!(StructType::from_ddl("a int,").is_err());
        assert!(StructType::from_ddl("s struct<a:int,>").is_err());
    }
}

#[cfg(test)]
mod generated_tests {
    use super::*;

    #[test]
    fn generated_and_identity_columns_parse_as_spark_writes_them() {
        let schema = StructType::from_ddl(
            "id long generated always as identity (start with 10 increment by -2), \
             ts timestamp, day date not null generated always as (CAST(ts AS DATE)) comment 'd', \
             label string generated always as (concat('(', upper(`x)y`), ')')), \
             n long generated by default as identity",
        )
        .unwrap();
        let meta = |name: &str, key: &str| schema.field(name).unwrap().metadata[key].clone();
        assert_eq!(meta("id", "delta.identity.start"), 10);
        assert_eq!(meta("id", "delta.identity.step"), -2);
        assert_eq!(meta("id", "delta.identity.allowExplicitInsert"), false);
        assert_eq!(meta("n", "delta.identity.allowExplicitInsert"), true);
        assert_eq!(
            meta("day", "delta.generationExpression"),
            "CAST(ts AS DATE)"
        );
        assert_eq!(meta("day", "comment"), "d");
        assert!(!schema.field("day").unwrap().nullable);
        assert_eq!(
            meta("label", "delta.generationExpression"),
            "concat('(', upper(`x)y`), ')')"
        );
        for bad in [
            "a long generated",
            "a long generated always as (1",
            "a long generated by default as (1)",
            "a long generated always as identity (increment by 0)",
        ] {
            assert!(StructType::from_ddl(bad).is_err(), "{bad}");
        }
    }
}
