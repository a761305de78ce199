//! strata's internal derive macro: an action's checkpoint struct column, derived from its serde
//! struct.
//!
//! A Parquet checkpoint holds one struct column per action, whose fields are the action's JSON
//! fields (`protocol/PROTOCOL.md#checkpoints`). Writing one by hand beside the serde structs
//! meant every new action field was declared twice; `#[derive(ToArrowFields)]` reads the
//! struct instead, so the serde struct is the single declaration of each field.
//!
//! The generated code names `crate::protocol::arrow_fields` and `::arrow`: the derive is for
//! use inside the `strata` crate only. The Rust-type → Arrow-type rules (and Spark's
//! nullability) live there, as trait impls, not here.

#![forbid(unsafe_code)]

use proc_macro::TokenStream;
use proc_macro2::TokenStream as TokenStream2;
use quote::{quote, quote_spanned};
use syn::ext::IdentExt;
use syn::punctuated::Punctuated;
use syn::spanned::Spanned;
use syn::{
    Attribute, Data, DeriveInput, Error, Expr, ExprLit, Field, Fields, Lit, LitStr, Meta, Token,
    parse_macro_input,
};

/// Serde field attributes that change what a field serializes to. The checkpoint writer
/// decodes the actions' JSON with the derived schema, so a column derived from the Rust type
/// would not match what these write.
const UNFOLLOWED_SERDE: [&str; 5] = [
    "flatten",
    "skip",
    "skip_serializing",
    "serialize_with",
    "with",
];

/// Derives `ToArrowFields` (the struct's fields, in declaration order) and `ToArrowType` (the
/// struct as a nullable Arrow struct, so it can be nested in another action) for a struct with
/// named fields.
///
/// - **Names** are the JSON names serde writes: the struct's `#[serde(rename_all =
///   "camelCase")]` and a field's `#[serde(rename = "...")]` are read, not restated.
/// - **Types and nullability** come from each field type's `ToArrowType` impl.
/// - **`#[checkpoint(skip)]`** on a field leaves it out: the action has it in commits but the
///   checkpoint schema does not (`remove.stats`, `remove.tags`).
///
/// Enums, tuple structs, generic structs and serde attributes that change a field's JSON shape
/// are refused with a compile error.
#[proc_macro_derive(ToArrowFields, attributes(checkpoint))]
pub fn derive_to_arrow_fields(input: TokenStream) -> TokenStream {
    let input = parse_macro_input!(input as DeriveInput);
    expand(&input)
        .unwrap_or_else(Error::into_compile_error)
        .into()
}

fn expand(input: &DeriveInput) -> syn::Result<TokenStream2> {
    let fields = match &input.data {
        Data::Struct(data) => match &data.fields {
            Fields::Named(named) => &named.named,
            other => {
                return Err(Error::new_spanned(
                    other,
                    "ToArrowFields needs named fields",
                ));
            }
        },
        _ => {
            return Err(Error::new_spanned(
                &input.ident,
                "ToArrowFields can only be derived for a struct with named fields",
            ));
        }
    };
    if !input.generics.params.is_empty() {
        return Err(Error::new_spanned(
            &input.generics,
            "ToArrowFields cannot be derived for a generic struct",
        ));
    }
    if let Some(attr) = input.attrs.iter().find(|a| a.path().is_ident("checkpoint")) {
        return Err(Error::new_spanned(
            attr,
            "#[checkpoint(...)] goes on a field, not on the struct",
        ));
    }
    let camel_case = rename_all_camel_case(&input.attrs)?;

    let root = quote!(crate::protocol::arrow_fields);
    let mut columns = Vec::with_capacity(fields.len());
    for field in fields {
        if is_skipped(field)? {
            continue;
        }
        let name = column_name(field, camel_case)?;
        let ty = &field.ty;
        // Spanned on the type, so an unsupported type is reported at the field.
        columns.push(quote_spanned! {ty.span()=>
            ::arrow::datatypes::Field::new(
                #name,
                <#ty as #root::ToArrowType>::arrow_type(),
                <#ty as #root::ToArrowType>::NULLABLE,
            )
        });
    }

    let ident = &input.ident;
    Ok(quote! {
        impl #root::ToArrowFields for #ident {
            fn arrow_fields() -> ::std::vec::Vec<::arrow::datatypes::Field> {
                ::std::vec![#(#columns),*]
            }
        }

        impl #root::ToArrowType for #ident {
            // Spark's rule: a nested struct (a case class) is nullable.
            const NULLABLE: bool = true;

            fn arrow_type() -> ::arrow::datatypes::DataType {
                ::arrow::datatypes::DataType::Struct(
                    <Self as #root::ToArrowFields>::arrow_fields().into(),
                )
            }
        }
    })
}

/// Every entry of every `#[serde(...)]` attribute (`default`, `rename = "x"`, `bound(...)`).
fn serde_entries(attrs: &[Attribute]) -> syn::Result<Vec<Meta>> {
    let mut entries = Vec::new();
    for attr in attrs.iter().filter(|a| a.path().is_ident("serde")) {
        entries.extend(attr.parse_args_with(Punctuated::<Meta, Token![,]>::parse_terminated)?);
    }
    Ok(entries)
}

/// The string of `key = "value"`; the per-direction form `key(serialize = ...)` is refused.
fn string_value(entry: &Meta) -> syn::Result<&LitStr> {
    match entry {
        Meta::NameValue(nv) => match &nv.value {
            Expr::Lit(ExprLit {
                lit: Lit::Str(s), ..
            }) => Ok(s),
            other => Err(Error::new_spanned(other, "expected a string literal")),
        },
        _ => Err(Error::new_spanned(
            entry,
            "ToArrowFields supports only the `key = \"value\"` form of this serde attribute",
        )),
    }
}

/// Whether the struct says `#[serde(rename_all = "camelCase")]`, the only renaming the
/// protocol's actions use.
fn rename_all_camel_case(attrs: &[Attribute]) -> syn::Result<bool> {
    let mut camel_case = false;
    for entry in serde_entries(attrs)? {
        if entry.path().is_ident("rename_all") {
            let rule = string_value(&entry)?;
            if rule.value() != "camelCase" {
                return Err(Error::new_spanned(
                    rule,
                    "ToArrowFields supports only rename_all = \"camelCase\"",
                ));
            }
            camel_case = true;
        }
    }
    Ok(camel_case)
}

/// Whether the field carries `#[checkpoint(skip)]`.
fn is_skipped(field: &Field) -> syn::Result<bool> {
    let mut skip = false;
    for attr in field
        .attrs
        .iter()
        .filter(|a| a.path().is_ident("checkpoint"))
    {
        attr.parse_nested_meta(|meta| {
            if meta.path.is_ident("skip") {
                skip = true;
                Ok(())
            } else {
                Err(meta.error("unknown checkpoint attribute; the only one is `skip`"))
            }
        })?;
    }
    Ok(skip)
}

/// The field's JSON name, as serde derives it.
fn column_name(field: &Field, camel_case: bool) -> syn::Result<String> {
    let mut renamed = None;
    for entry in serde_entries(&field.attrs)? {
        let path = entry.path();
        if path.is_ident("rename") {
            renamed = Some(string_value(&entry)?.value());
        } else if UNFOLLOWED_SERDE.iter().any(|key| path.is_ident(key)) {
            return Err(Error::new_spanned(
                &entry,
                "this serde attribute changes what the field serializes to, so its checkpoint \
                 column cannot be derived from its type; mark the field #[checkpoint(skip)] if \
                 it has no checkpoint column",
            ));
        }
    }
    if let Some(name) = renamed {
        return Ok(name);
    }
    let Some(ident) = &field.ident else {
        return Err(Error::new_spanned(
            field,
            "ToArrowFields needs named fields",
        ));
    };
    let name = ident.unraw().to_string();
    Ok(if camel_case {
        to_camel_case(&name)
    } else {
        name
    })
}

/// serde's `camelCase` for a snake_case field: PascalCase, then the first letter lowered.
fn to_camel_case(field: &str) -> String {
    let mut pascal = String::with_capacity(field.len());
    let mut capitalize = true;
    for ch in field.chars() {
        if ch == '_' {
            capitalize = true;
        } else if capitalize {
            pascal.push(ch.to_ascii_uppercase());
            capitalize = false;
        } else {
            pascal.push(ch);
        }
    }
    let mut chars = pascal.chars();
    match chars.next() {
        Some(first) => first.to_ascii_lowercase().to_string() + chars.as_str(),
        None => pascal,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use syn::parse_quote;

    fn error_of(input: DeriveInput) -> String {
        match expand(&input) {
            Ok(tokens) => panic!("expected an error, got {tokens}"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn camel_case_matches_serde() {
        assert_eq!(to_camel_case("min_reader_version"), "minReaderVersion");
        assert_eq!(to_camel_case("path_or_inline_dv"), "pathOrInlineDv");
        assert_eq!(to_camel_case("path"), "path");
        assert_eq!(to_camel_case("_private"), "private");
    }

    #[test]
    fn names_follow_serde_and_skip_is_honoured() {
        let input: DeriveInput = parse_quote! {
            #[serde(rename_all = "camelCase")]
            struct A {
                data_change: bool,
                #[serde(default, rename = "other", skip_serializing_if = "Option::is_none")]
                renamed: Option<i64>,
                #[checkpoint(skip)]
                #[serde(flatten)]
                left_out: String,
                r#type: String,
            }
        };
        let out = expand(&input).map(|t| t.to_string()).unwrap_or_default();
        assert!(out.contains("\"dataChange\""), "{out}");
        assert!(out.contains("\"other\""), "{out}");
        assert!(out.contains("\"type\""), "{out}");
        assert!(!out.contains("leftOut"), "{out}");
    }

    #[test]
    fn unsupported_shapes_are_compile_errors() {
        let cases: [(DeriveInput, &str); 8] = [
            (parse_quote! { enum E { A } }, "struct with named fields"),
            (parse_quote! { struct T(i64); }, "named fields"),
            (parse_quote! { struct G<T> { t: T } }, "generic"),
            (
                parse_quote! { #[serde(rename_all = "snake_case")] struct S { a: i64 } },
                "camelCase",
            ),
            (
                parse_quote! { struct S { #[serde(flatten)] a: i64 } },
                "#[checkpoint(skip)]",
            ),
            (
                parse_quote! { struct S { #[serde(rename(serialize = "b"))] a: i64 } },
                "`key = ",
            ),
            (
                parse_quote! { struct S { #[checkpoint(omit)] a: i64 } },
                "`skip`",
            ),
            (
                parse_quote! { #[checkpoint(skip)] struct S { a: i64 } },
                "on a field",
            ),
        ];
        for (input, expected) in cases {
            let error = error_of(input);
            assert!(error.contains(expected), "{error:?} lacks {expected:?}");
        }
    }
}
