//! Clustered tables (`protocol/PROTOCOL.md#clustered-tables`): the `delta.clustering` domain
//! names the clustering columns (physical names on a table with column mapping), and every
//! file a writer adds must have statistics for them.

use serde_json::Value;

use super::actions::DomainMetadata;

/// The domain naming a clustered table's clustering columns.
pub const CLUSTERING_DOMAIN: &str = "delta.clustering";

/// The clustering columns a `delta.clustering` domain names, each as a path of (physical) field
/// names. Spark writes each column as a list of path segments (`[["a"], ["s", "b"]]`), the
/// spec's example as a plain name (`["a"]`); both are read.
///
/// # Errors
/// A description of what is wrong when the domain is not `{"clusteringColumns": [...]}`.
pub fn clustering_columns(domain: &DomainMetadata) -> Result<Vec<Vec<String>>, String> {
    let config: Value = serde_json::from_str(&domain.configuration)
        .map_err(|e| format!("the {CLUSTERING_DOMAIN} domain is not JSON: {e}"))?;
    let columns = config
        .get("clusteringColumns")
        .and_then(Value::as_array)
        .ok_or_else(|| {
            format!(
                "the {CLUSTERING_DOMAIN} domain has no clusteringColumns list: {}",
                domain.configuration
            )
        })?;
    columns
        .iter()
        .map(|column| match column {
            Value::String(name) => Ok(vec![name.clone()]),
            Value::Array(path) => path
                .iter()
                .map(|s| s.as_str().map(str::to_string))
                .collect::<Option<Vec<_>>>()
                .filter(|p| !p.is_empty())
                .ok_or_else(|| format!("bad clustering column {column} in {CLUSTERING_DOMAIN}")),
            other => Err(format!(
                "bad clustering column {other} in {CLUSTERING_DOMAIN}"
            )),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn domain(configuration: &str) -> DomainMetadata {
        DomainMetadata {
            domain: CLUSTERING_DOMAIN.into(),
            configuration: configuration.into(),
            removed: false,
        }
    }

    #[test]
    fn both_spellings_of_the_columns_are_read() {
        assert_eq!(
            clustering_columns(&domain(r#"{"clusteringColumns":[["a"],["s","b"]]}"#)).unwrap(),
            [vec!["a".to_string()], vec!["s".into(), "b".into()]]
        );
        assert_eq!(
            clustering_columns(&domain(r#"{"clusteringColumns":["col-1","col-2"]}"#)).unwrap(),
            [vec!["col-1".to_string()], vec!["col-2".into()]]
        );
        for bad in [
            "{}",
            "[",
            r#"{"clusteringColumns":[1]}"#,
            r#"{"clusteringColumns":[[]]}"#,
        ] {
            assert!(clustering_columns(&domain(bad)).is_err(), "{bad}");
        }
    }
}
