//! The actions as Arrow fields: each action's struct column of the checkpoint schema
//! (`protocol/PROTOCOL.md#checkpoints`), derived from its serde struct in `actions.rs` with
//! `#[derive(ToArrowFields)]`, so an action field is declared once and the checkpoint follows.
//!
//! The mapping is Spark's, because the Delta spec's checkpoint schema is what Spark derives
//! from its Scala case classes: a primitive (`Long`, `Int`, `Boolean`) cannot be null, every
//! reference type can.
//!
//! | field type           | Arrow type                                           | nullable |
//! |----------------------|------------------------------------------------------|----------|
//! | `i64`, `i32`, `bool` | `Int64`, `Int32`, `Boolean`                          | no       |
//! | `String`             | `Utf8`                                               | yes      |
//! | `Vec<T>`             | `List` of `element: T`                               | yes      |
//! | `HashMap<String, V>` | `Map` of `key_value: {key: Utf8 non-null, value: V}` | yes      |
//! | a deriving struct    | `Struct` of its fields                               | yes      |
//! | `Option<T>`          | `T`'s type                                           | yes      |
//!
//! So `add.size` is required but `add.path` is nullable, and `Option` only matters for
//! primitives (`remove.size`). List elements and map values take their own type's nullability
//! (a `String` element is nullable, as Spark's `containsNull`/`valueContainsNull`). The names
//! are Parquet's for maps and lists (`key_value`, `element`), as Spark writes them.

use std::collections::HashMap;
use std::sync::Arc;

use arrow::datatypes::{DataType, Field};

pub(crate) use strata_derive::ToArrowFields;

/// A struct whose fields are checkpoint columns. Derive it (`#[derive(ToArrowFields)]`, which
/// also implements [`ToArrowType`] so the struct can be nested); never implement it by hand,
/// or the struct and its schema drift apart again.
pub(crate) trait ToArrowFields {
    /// The struct's fields in declaration order, named as serde writes them to JSON, minus
    /// those marked `#[checkpoint(skip)]`.
    fn arrow_fields() -> Vec<Field>;
}

/// The Arrow type of a field's Rust type, and whether such a field is nullable within its
/// struct (the table in the module docs).
#[diagnostic::on_unimplemented(
    message = "`{Self}` has no checkpoint column type",
    note = "supported: i32, i64, bool, String, Option<T>, Vec<T>, HashMap<String, V> and \
            structs that derive ToArrowFields; mark a field #[checkpoint(skip)] if it has no \
            checkpoint column"
)]
pub(crate) trait ToArrowType {
    /// Whether a struct field of this type may be null (Spark: unless it is a primitive).
    const NULLABLE: bool;

    /// The Arrow type of a field of this type.
    fn arrow_type() -> DataType;
}

impl ToArrowType for i64 {
    const NULLABLE: bool = false;

    fn arrow_type() -> DataType {
        DataType::Int64
    }
}

impl ToArrowType for i32 {
    const NULLABLE: bool = false;

    fn arrow_type() -> DataType {
        DataType::Int32
    }
}

impl ToArrowType for bool {
    const NULLABLE: bool = false;

    fn arrow_type() -> DataType {
        DataType::Boolean
    }
}

impl ToArrowType for String {
    const NULLABLE: bool = true;

    fn arrow_type() -> DataType {
        DataType::Utf8
    }
}

impl<T: ToArrowType> ToArrowType for Option<T> {
    const NULLABLE: bool = true;

    fn arrow_type() -> DataType {
        T::arrow_type()
    }
}

impl<T: ToArrowType> ToArrowType for Vec<T> {
    const NULLABLE: bool = true;

    fn arrow_type() -> DataType {
        DataType::List(Arc::new(Field::new(
            "element",
            T::arrow_type(),
            T::NULLABLE,
        )))
    }
}

/// `map<string, V>`: a key is never null; a value takes `V`'s nullability, so a string value
/// may be null (Spark's `valueContainsNull = true`), as a null partition value is.
impl<V: ToArrowType> ToArrowType for HashMap<String, V> {
    const NULLABLE: bool = true;

    fn arrow_type() -> DataType {
        let entries = DataType::Struct(
            vec![
                Field::new("key", String::arrow_type(), false),
                Field::new("value", V::arrow_type(), V::NULLABLE),
            ]
            .into(),
        );
        DataType::Map(Arc::new(Field::new("key_value", entries, false)), false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn option_only_changes_nullability() {
        assert_eq!((i64::NULLABLE, <Option<i64>>::NULLABLE), (false, true));
        assert_eq!(<Option<i64>>::arrow_type(), i64::arrow_type());
        assert_eq!(
            <HashMap<String, String>>::arrow_type(),
            <HashMap<String, Option<String>>>::arrow_type(),
        );
    }
}
