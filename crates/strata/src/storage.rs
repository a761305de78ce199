//! The one storage boundary: every byte strata reads or writes passes through [`Storage`].
//!
//! No other module touches `object_store` directly, so the assumptions the commit protocol
//! makes about the store (`protocol/PROTOCOL.md#storage-assumptions`) are all exercised here:
//! commits use `PutMode::Create`, and `AlreadyExists` is turned into a commit race in exactly
//! one place ([`Storage::put_if_absent`]).
//!
//! Paths: an `add.path` is a URI; it is percent-decoded once (`protocol::paths::decode_path`) and the result is
//! used verbatim as the object key (`Path::parse`, never `Path::from`, which would encode `%` a
//! second time and miss Hive-escaped partition directories such as `p=a%3Ab`).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use bytes::Bytes;
use futures::future::BoxFuture;
use futures::{FutureExt, TryStreamExt};
/// The object path and payload types of this module's API (object_store's), re-exported so
/// that no other module names object_store.
pub use object_store::PutPayload;
pub use object_store::path::Path;
use object_store::{ObjectMeta, ObjectStore, ObjectStoreExt, PutMode, PutOptions};
use parquet::errors::ParquetError;
use parquet::file::metadata::{ParquetMetaData, ParquetMetaDataReader};
use url::Url;

use crate::error::{Error, Result};
use crate::protocol::paths::{LOG_DIR, decode_path, encode_path};

/// The outcome of a put-if-absent: the store either created the object or already had one.
/// A value, not an error: losing the race is an expected outcome of optimistic concurrency.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PutOutcome {
    /// This call created the object.
    Created,
    /// An object already existed at the path (another writer, or our own earlier attempt
    /// whose acknowledgement was lost).
    AlreadyExists,
}

/// One object found by [`Storage::list_table`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListedObject {
    /// Path relative to the table root, as stored (percent-encoded where the store encodes).
    pub relative: String,
    /// The object's path in the store.
    pub location: Path,
    /// Size in bytes.
    pub size: u64,
    /// Last modification, milliseconds since the epoch.
    pub modified_ms: i64,
}

/// A table root on an object store.
#[derive(Clone)]
pub struct Storage {
    store: Arc<dyn ObjectStore>,
    root: Path,
    location: String,
    /// `_delta_log/` as a local directory, when the table is on local disk (listing fast path).
    local_log_dir: Option<Arc<std::path::Path>>,
}

impl std::fmt::Debug for Storage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Storage")
            .field("location", &self.location)
            .finish()
    }
}

/// `memory://` stores live for the process, keyed by their host, so that a table created on
/// `memory://t` can be opened again by another handle (tests reopen tables constantly).
fn memory_store(name: &str) -> Arc<dyn ObjectStore> {
    static STORES: OnceLock<Mutex<HashMap<String, Arc<dyn ObjectStore>>>> = OnceLock::new();
    let stores = STORES.get_or_init(Default::default);
    let mut stores = stores.lock().unwrap_or_else(|p| p.into_inner());
    stores
        .entry(name.to_string())
        .or_insert_with(|| Arc::new(object_store::memory::InMemory::new()))
        .clone()
}

impl Storage {
    /// Resolves a table location: a local path (relative or absolute), `file://`,
    /// `memory://NAME/…`, or, with the matching cargo feature, `s3://`, `gs://`, `az://`/
    /// `abfss://`. Cloud stores read the usual environment variables (`AWS_*`,
    /// `GOOGLE_*`, `AZURE_*`); `options` overrides them with the same keys object_store uses.
    ///
    /// # Errors
    /// [`Error::InvalidLocation`] for an unparsable location, an unknown scheme, or a scheme
    /// whose feature is not compiled in.
    pub fn open(location: &str, options: &HashMap<String, String>) -> Result<Storage> {
        let invalid = |reason: String| Error::InvalidLocation {
            location: location.to_string(),
            reason,
        };
        let url = match Url::parse(location) {
            Ok(url) if url.scheme().len() > 1 => url,
            // A relative path, or a Windows drive letter parsed as a scheme.
            _ => return Self::local(location),
        };
        match url.scheme() {
            "file" => {
                let path = url
                    .to_file_path()
                    .map_err(|_| invalid("not a local file URL".into()))?;
                Self::local(&path.to_string_lossy())
            }
            "memory" => {
                let root = parse_root(url.path()).map_err(invalid)?;
                let name = url.host_str().unwrap_or_default();
                Ok(Storage {
                    store: memory_store(name),
                    root,
                    location: location.trim_end_matches('/').to_string(),
                    local_log_dir: None,
                })
            }
            scheme => {
                let store = cloud_store(scheme, &url, options).map_err(invalid)?;
                let root = parse_root(url.path()).map_err(invalid)?;
                Ok(Storage {
                    store,
                    root,
                    location: location.trim_end_matches('/').to_string(),
                    local_log_dir: None,
                })
            }
        }
    }

    fn local(path: &str) -> Result<Storage> {
        let invalid = |reason: String| Error::InvalidLocation {
            location: path.to_string(),
            reason,
        };
        let abs = std::path::absolute(path).map_err(|e| invalid(e.to_string()))?;
        // `..` and `.` resolved by name (as a shell's `cd -L` does), since object paths have
        // no such segments: `lake/../lake/t` is `lake/t`.
        let abs = lexically_normal(&abs);
        if abs.is_file() {
            return Err(invalid(
                "it is a file; a table location is the directory holding `_delta_log/`".into(),
            ));
        }
        let text = abs
            .to_str()
            .ok_or_else(|| invalid("path is not valid UTF-8".into()))?;
        let root = parse_root(text).map_err(invalid)?;
        let store: Arc<dyn ObjectStore> = Arc::new(object_store::local::LocalFileSystem::new());
        Ok(Storage {
            store,
            root,
            location: text.trim_end_matches('/').to_string(),
            local_log_dir: Some(abs.join(LOG_DIR).into()),
        })
    }

    /// A table rooted at `root` on a caller-supplied store (test doubles, custom stores).
    pub fn from_store(
        store: Arc<dyn ObjectStore>,
        root: &str,
        location: impl Into<String>,
    ) -> Result<Storage> {
        let location = location.into();
        let root = parse_root(root).map_err(|reason| Error::InvalidLocation {
            location: location.clone(),
            reason,
        })?;
        Ok(Storage {
            store,
            root,
            location,
            local_log_dir: None,
        })
    }

    /// The table location as given, for messages.
    pub fn location(&self) -> &str {
        &self.location
    }

    /// Path of a file in `_delta_log/`.
    pub fn log_path(&self, name: &str) -> Path {
        self.root.clone().join(LOG_DIR).join(name)
    }

    /// Path of a file given relative to `_delta_log/`, possibly in a subdirectory
    /// (`_sidecars/NAME`).
    pub fn log_file(&self, relative: &str) -> Path {
        relative
            .split('/')
            .filter(|s| !s.is_empty())
            .fold(self.root.clone().join(LOG_DIR), |p, s| p.join(s))
    }

    /// Resolves an `add.path`/`remove.path` URI (as written in the log) to an object path,
    /// refusing anything that would leave the table root (`..`, or an absolute URI elsewhere).
    ///
    /// # Errors
    /// [`Error::PathEscapesTable`] naming the path and the version whose log held it.
    pub fn data_path(&self, uri: &str, version: i64) -> Result<Path> {
        let escapes = || Error::PathEscapesTable {
            location: self.location.clone(),
            version,
            path: uri.to_string(),
        };
        let relative = match Url::parse(uri) {
            Ok(abs) if abs.scheme().len() > 1 => {
                self.relative_from_absolute(&abs).ok_or_else(escapes)?
            }
            _ => decode_path(uri),
        };
        if relative.starts_with('/')
            || relative
                .split('/')
                .any(|s| s == ".." || s == "." || s.is_empty())
        {
            return Err(escapes());
        }
        let full = if self.root.as_ref().is_empty() {
            relative
        } else {
            format!("{}/{}", self.root.as_ref(), relative)
        };
        Path::parse(full).map_err(|_| escapes())
    }

    /// An absolute URI inside the table root becomes relative; anything else is refused.
    fn relative_from_absolute(&self, abs: &Url) -> Option<String> {
        let decoded = decode_path(abs.path());
        let root = format!("/{}/", self.root.as_ref());
        decoded.strip_prefix(&root).map(str::to_string)
    }

    /// The object path of a relative (already decoded) path under the root.
    pub fn relative_path(&self, relative: &str) -> Result<Path> {
        self.data_path(&encode_path(relative), -1)
    }

    /// Lists `_delta_log/`, optionally only names after `offset` (a file name in the log dir).
    /// Returns file names and metadata, sorted by name. Subdirectories are not descended.
    ///
    /// # Errors
    /// [`Error::Storage`] when listing fails.
    pub async fn list_log(&self, offset: Option<&str>) -> Result<Vec<(String, ObjectMeta)>> {
        let prefix = self.root.clone().join(LOG_DIR);
        if let Some(dir) = &self.local_log_dir {
            let (dir, offset) = (dir.clone(), offset.map(str::to_string));
            let listed = tokio::task::spawn_blocking(move || list_local(&dir, offset.as_deref()))
                .await
                .map_err(std::io::Error::other)
                .and_then(|r| r);
            return listed
                .map(|files| {
                    files
                        .into_iter()
                        .map(|(name, size, last_modified)| {
                            let location = prefix.clone().join(name.as_str());
                            let meta = ObjectMeta {
                                location,
                                last_modified,
                                size,
                                e_tag: None,
                                version: None,
                            };
                            (name, meta)
                        })
                        .collect()
                })
                .map_err(|e| Error::Storage {
                    path: prefix.to_string(),
                    source: object_store::Error::Generic {
                        store: "LocalFileSystem",
                        source: Box::new(e),
                    },
                });
        }
        let stream = match offset {
            Some(name) => self
                .store
                .list_with_offset(Some(&prefix), &prefix.clone().join(name)),
            None => self.store.list(Some(&prefix)),
        };
        let mut files = named_under(stream, &prefix).await?;
        files.retain(|(name, _)| !name.contains('/'));
        Ok(files)
    }

    /// Lists `_delta_log/_sidecars/` (V2 checkpoint sidecars): `_delta_log/`-relative names
    /// (`_sidecars/<file>`) and metadata, sorted by name.
    ///
    /// # Errors
    /// [`Error::Storage`] when listing fails.
    pub async fn list_sidecars(&self) -> Result<Vec<(String, ObjectMeta)>> {
        let log = self.root.clone().join(LOG_DIR);
        let prefix = log.clone().join(crate::protocol::paths::SIDECAR_DIR);
        let files = named_under(self.store.list(Some(&prefix)), &log).await?;
        Ok(files)
    }

    /// Lists every object under the table root (log included): its path relative to the root,
    /// its object path, size and modification time. For vacuum.
    ///
    /// # Errors
    /// [`Error::Storage`] when listing fails.
    pub async fn list_table(&self) -> Result<Vec<ListedObject>> {
        self.list_under(&self.root).await
    }

    /// Lists every object under `dir` (a directory relative to the table root, such as
    /// `_strata/tags`), with paths relative to the root; empty when there is none.
    ///
    /// # Errors
    /// [`Error::Storage`] when listing fails.
    pub async fn list_dir(&self, dir: &str) -> Result<Vec<ListedObject>> {
        self.list_under(&self.relative_path(dir)?).await
    }

    async fn list_under(&self, prefix: &Path) -> Result<Vec<ListedObject>> {
        let prefix_len = self.root.as_ref().len() + usize::from(!self.root.as_ref().is_empty());
        self.store
            .list(Some(prefix))
            .map_ok(|m| ListedObject {
                relative: m
                    .location
                    .as_ref()
                    .get(prefix_len..)
                    .unwrap_or_default()
                    .to_string(),
                size: m.size,
                modified_ms: m.last_modified.timestamp_millis(),
                location: m.location,
            })
            .try_collect()
            .await
            .map_err(|source| Error::Storage {
                path: prefix.to_string(),
                source,
            })
    }

    /// Reads a whole object.
    ///
    /// # Errors
    /// [`Error::Storage`]; a missing object is `object_store::Error::NotFound` inside it.
    pub async fn get(&self, path: &Path) -> Result<Bytes> {
        let result = self
            .store
            .get(path)
            .await
            .map_err(|source| self.storage_error(path, source))?;
        result
            .bytes()
            .await
            .map_err(|source| self.storage_error(path, source))
    }

    /// Reads an object whole, `None` when it does not exist.
    ///
    /// # Errors
    /// [`Error::Storage`] for any other failure.
    pub async fn get_if_exists(&self, path: &Path) -> Result<Option<Bytes>> {
        match self.store.get(path).await {
            Ok(result) => result
                .bytes()
                .await
                .map(Some)
                .map_err(|source| self.storage_error(path, source)),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(source) => Err(self.storage_error(path, source)),
        }
    }

    /// Object metadata (size, modification time).
    ///
    /// # Errors
    /// [`Error::Storage`].
    pub async fn head(&self, path: &Path) -> Result<ObjectMeta> {
        self.store
            .head(path)
            .await
            .map_err(|source| self.storage_error(path, source))
    }

    /// Writes an object, replacing any existing one (data files have unique names;
    /// `_last_checkpoint` is a hint that may be overwritten).
    ///
    /// # Errors
    /// [`Error::Storage`].
    pub async fn put(&self, path: &Path, bytes: impl Into<PutPayload>) -> Result<()> {
        self.store
            .put(path, bytes.into())
            .await
            .map(|_| ())
            .map_err(|source| self.storage_error(path, source))
    }

    /// Creates an object only if none exists: the atomic step of every commit
    /// (`protocol/PROTOCOL.md#commit-protocol`).
    ///
    /// # Errors
    /// [`Error::Storage`] for any failure other than the object already existing.
    pub async fn put_if_absent(&self, path: &Path, bytes: Bytes) -> Result<PutOutcome> {
        let opts = PutOptions {
            mode: PutMode::Create,
            ..Default::default()
        };
        match self
            .store
            .put_opts(path, PutPayload::from(bytes), opts)
            .await
        {
            Ok(_) => Ok(PutOutcome::Created),
            Err(object_store::Error::AlreadyExists { .. }) => Ok(PutOutcome::AlreadyExists),
            Err(source) => Err(self.storage_error(path, source)),
        }
    }

    /// Whether an object exists.
    ///
    /// # Errors
    /// [`Error::Storage`] for failures other than "not found".
    pub async fn exists(&self, path: &Path) -> Result<bool> {
        match self.store.head(path).await {
            Ok(_) => Ok(true),
            Err(object_store::Error::NotFound { .. }) => Ok(false),
            Err(source) => Err(self.storage_error(path, source)),
        }
    }

    /// Deletes an object; a missing object is not an error.
    ///
    /// # Errors
    /// [`Error::Storage`].
    pub async fn delete(&self, path: &Path) -> Result<()> {
        match self.store.delete(path).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(source) => Err(self.storage_error(path, source)),
        }
    }

    /// An async Parquet reader for a data file of known size (the size comes from the log, so
    /// the footer is fetched without a HEAD request).
    pub fn parquet_reader(&self, path: &Path, size: u64) -> DataFileReader {
        DataFileReader {
            store: self.store.clone(),
            path: path.clone(),
            size,
        }
    }

    fn storage_error(&self, path: &Path, source: object_store::Error) -> Error {
        Error::Storage {
            path: self.display_path(path),
            source,
        }
    }

    /// An object path as the user named the table: the location (`/data/lake/t`,
    /// `s3://bucket/t`) and the path within it, for messages. Object paths have no leading
    /// `/` and no scheme, so printed bare they name the wrong thing.
    pub fn display_path(&self, path: &Path) -> String {
        let full = path.as_ref();
        let root = self.root.as_ref();
        let rest = if root.is_empty() {
            Some(full)
        } else {
            full.strip_prefix(root).and_then(|r| {
                if r.is_empty() {
                    Some(r)
                } else {
                    r.strip_prefix('/')
                }
            })
        };
        match rest {
            Some("") => self.location.clone(),
            Some(rest) => format!("{}/{rest}", self.location.trim_end_matches('/')),
            None => full.to_string(),
        }
    }
}

/// Reads a Parquet data file through the store: byte ranges for pages, and the footer from
/// the size the log recorded (with a 64 KiB prefetch so one request usually gets it all).
#[derive(Debug, Clone)]
pub struct DataFileReader {
    store: Arc<dyn ObjectStore>,
    path: Path,
    size: u64,
}

/// How much of a file's tail is fetched to find the footer in one request.
const FOOTER_PREFETCH_BYTES: usize = 64 * 1024;

impl parquet::arrow::async_reader::AsyncFileReader for DataFileReader {
    fn get_bytes(
        &mut self,
        range: std::ops::Range<u64>,
    ) -> BoxFuture<'_, parquet::errors::Result<Bytes>> {
        async move {
            self.store
                .get_range(&self.path, range)
                .await
                .map_err(|e| ParquetError::External(Box::new(e)))
        }
        .boxed()
    }

    fn get_byte_ranges(
        &mut self,
        ranges: Vec<std::ops::Range<u64>>,
    ) -> BoxFuture<'_, parquet::errors::Result<Vec<Bytes>>> {
        async move {
            self.store
                .get_ranges(&self.path, &ranges)
                .await
                .map_err(|e| ParquetError::External(Box::new(e)))
        }
        .boxed()
    }

    fn get_metadata<'a>(
        &'a mut self,
        options: Option<&'a parquet::arrow::arrow_reader::ArrowReaderOptions>,
    ) -> BoxFuture<'a, parquet::errors::Result<Arc<ParquetMetaData>>> {
        async move {
            let size = self.size;
            let metadata = ParquetMetaDataReader::new()
                .with_arrow_reader_options(options)
                .with_prefetch_hint(Some(FOOTER_PREFETCH_BYTES))
                .load_and_finish(self, size)
                .await?;
            Ok(Arc::new(metadata))
        }
        .boxed()
    }
}

/// How strata opens every Parquet file it reads (data files, checkpoints): without the Arrow
/// schema a writer may embed (`ARROW:schema`). The Delta schema, not the writer's Arrow types,
/// decides what a column is, and that embedded IPC message is data from storage that the
/// `arrow-ipc` decoder can panic on when it is damaged (a flipped bit made it panic with "Type
/// NONE not supported" in the parser fuzzer, #20). Spark writes no such schema, so this is the
/// path every Spark file takes anyway.
pub fn parquet_read_options() -> parquet::arrow::arrow_reader::ArrowReaderOptions {
    parquet::arrow::arrow_reader::ArrowReaderOptions::new().with_skip_arrow_metadata(true)
}

/// Refuses a Parquet footer whose column chunks have a negative offset or size: the
/// `parquet` crate asserts on those while reading ("column start and length should not be
/// negative"), so a damaged footer would panic instead of failing (found by the parser
/// fuzzer, #20). Called on every file strata reads, right after its footer is parsed.
///
/// # Errors
/// A `ParquetError::General` naming the row group and column.
pub fn check_parquet_metadata(
    metadata: &parquet::file::metadata::ParquetMetaData,
) -> parquet::errors::Result<()> {
    for (rg, row_group) in metadata.row_groups().iter().enumerate() {
        for (c, column) in row_group.columns().iter().enumerate() {
            let start = column
                .dictionary_page_offset()
                .unwrap_or_else(|| column.data_page_offset());
            if start < 0 || column.compressed_size() < 0 || column.data_page_offset() < 0 {
                return Err(ParquetError::General(format!(
                    "row group {rg}, column {c}: negative offset ({start}) or size ({}) in the footer",
                    column.compressed_size()
                )));
            }
        }
    }
    Ok(())
}

/// Lists a local `_delta_log/` directory: one directory read, and a `stat` only for the
/// entries after `offset`. (object_store's `LocalFileSystem` stats every entry even when
/// listing from an offset; on a 10,000-commit log that was a third of opening the table.)
/// Returns regular files as (name, size, modification time), sorted by name; a missing
/// directory lists as empty, as on an object store.
/// A listing's objects named relative to `base` (a prefix of every listed path), sorted by
/// name.
async fn named_under(
    listing: futures::stream::BoxStream<'_, object_store::Result<ObjectMeta>>,
    base: &Path,
) -> Result<Vec<(String, ObjectMeta)>> {
    let metas: Vec<ObjectMeta> = listing
        .try_collect()
        .await
        .map_err(|source| Error::Storage {
            path: base.to_string(),
            source,
        })?;
    let base_len = base.as_ref().len() + 1;
    let mut files: Vec<(String, ObjectMeta)> = metas
        .into_iter()
        .filter_map(|m| Some((m.location.as_ref().get(base_len..)?.to_string(), m)))
        .collect();
    files.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(files)
}

/// Whether `error` says an object does not exist (so callers outside the storage boundary
/// need not name `object_store`).
pub(crate) fn is_not_found(error: &Error) -> bool {
    matches!(
        error,
        Error::Storage {
            source: object_store::Error::NotFound { .. },
            ..
        }
    )
}

/// Whether a Parquet read failed because its object does not exist.
pub(crate) fn is_parquet_not_found(error: &parquet::errors::ParquetError) -> bool {
    matches!(
        error,
        parquet::errors::ParquetError::External(e)
            if matches!(e.downcast_ref::<object_store::Error>(), Some(object_store::Error::NotFound { .. }))
    )
}

/// `path` (absolute) without `.` and `..` segments, resolved by name.
fn lexically_normal(path: &std::path::Path) -> std::path::PathBuf {
    use std::path::Component;
    let mut out = std::path::PathBuf::new();
    for component in path.components() {
        match component {
            Component::CurDir => {}
            Component::ParentDir => {
                out.pop();
            }
            other => out.push(other.as_os_str()),
        }
    }
    out
}

fn list_local(
    dir: &std::path::Path,
    offset: Option<&str>,
) -> std::io::Result<Vec<(String, u64, chrono::DateTime<chrono::Utc>)>> {
    let entries = match std::fs::read_dir(dir) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        other => other?,
    };
    let mut files = Vec::new();
    for entry in entries {
        let entry = entry?;
        let Ok(name) = entry.file_name().into_string() else {
            continue; // not UTF-8: not a log file
        };
        if offset.is_some_and(|o| name.as_str() <= o) {
            continue;
        }
        let meta = match entry.metadata() {
            Ok(meta) => meta,
            // Removed between the directory read and the stat (log cleanup): not listed.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e),
        };
        if meta.is_file() {
            files.push((name, meta.len(), meta.modified()?.into()));
        }
    }
    files.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(files)
}

fn parse_root(path: &str) -> std::result::Result<Path, String> {
    let decoded = decode_path(path);
    Path::parse(decoded.trim_matches('/')).map_err(|e| e.to_string())
}

fn cloud_store(
    scheme: &str,
    url: &Url,
    options: &HashMap<String, String>,
) -> std::result::Result<Arc<dyn ObjectStore>, String> {
    match scheme {
        "s3" | "s3a" => s3_store(url, options),
        "gs" => gcs_store(url, options),
        "az" | "abfs" | "abfss" | "azure" => azure_store(url, options),
        other => Err(format!(
            "unknown scheme `{other}`; use a local path, file://, memory://, s3://, gs:// or az://"
        )),
    }
}

/// Applies `key=value` options (object_store's config key names, case-insensitive).
#[cfg(any(feature = "s3", feature = "gcs", feature = "azure"))]
fn configure<B, K>(
    mut builder: B,
    options: &HashMap<String, String>,
    set: impl Fn(B, K, &str) -> B,
) -> std::result::Result<B, String>
where
    K: std::str::FromStr<Err = object_store::Error>,
{
    for (k, v) in options {
        let key: K = k
            .to_ascii_lowercase()
            .parse()
            .map_err(|e: object_store::Error| e.to_string())?;
        builder = set(builder, key, v);
    }
    Ok(builder)
}

#[cfg(feature = "s3")]
fn s3_store(
    url: &Url,
    options: &HashMap<String, String>,
) -> std::result::Result<Arc<dyn ObjectStore>, String> {
    use object_store::aws::AmazonS3Builder;
    let builder = AmazonS3Builder::from_env().with_url(url.as_str());
    let builder = configure(builder, options, |b, k, v| b.with_config(k, v))?;
    Ok(Arc::new(builder.build().map_err(|e| e.to_string())?))
}

#[cfg(feature = "gcs")]
fn gcs_store(
    url: &Url,
    options: &HashMap<String, String>,
) -> std::result::Result<Arc<dyn ObjectStore>, String> {
    use object_store::gcp::GoogleCloudStorageBuilder;
    let builder = GoogleCloudStorageBuilder::from_env().with_url(url.as_str());
    let builder = configure(builder, options, |b, k, v| b.with_config(k, v))?;
    Ok(Arc::new(builder.build().map_err(|e| e.to_string())?))
}

#[cfg(feature = "azure")]
fn azure_store(
    url: &Url,
    options: &HashMap<String, String>,
) -> std::result::Result<Arc<dyn ObjectStore>, String> {
    use object_store::azure::MicrosoftAzureBuilder;
    let builder = MicrosoftAzureBuilder::from_env().with_url(url.as_str());
    let builder = configure(builder, options, |b, k, v| b.with_config(k, v))?;
    Ok(Arc::new(builder.build().map_err(|e| e.to_string())?))
}

#[cfg(not(all(feature = "s3", feature = "gcs", feature = "azure")))]
fn not_compiled(url: &Url, feature: &str) -> std::result::Result<Arc<dyn ObjectStore>, String> {
    Err(format!(
        "the `{}` store is not compiled in; build strata with `--features {feature}` (or `cloud`)",
        url.scheme()
    ))
}

#[cfg(not(feature = "s3"))]
fn s3_store(
    url: &Url,
    _: &HashMap<String, String>,
) -> std::result::Result<Arc<dyn ObjectStore>, String> {
    not_compiled(url, "s3")
}

#[cfg(not(feature = "gcs"))]
fn gcs_store(
    url: &Url,
    _: &HashMap<String, String>,
) -> std::result::Result<Arc<dyn ObjectStore>, String> {
    not_compiled(url, "gcs")
}

#[cfg(not(feature = "azure"))]
fn azure_store(
    url: &Url,
    _: &HashMap<String, String>,
) -> std::result::Result<Arc<dyn ObjectStore>, String> {
    not_compiled(url, "azure")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_paths_resolve_dot_dot_by_name() {
        let dir = tempfile::tempdir().unwrap();
        let plain = Storage::open(dir.path().join("t").to_str().unwrap(), &HashMap::new()).unwrap();
        let dotted = dir.path().join("x/../t/./");
        let storage = Storage::open(dotted.to_str().unwrap(), &HashMap::new()).unwrap();
        assert_eq!(storage.location(), plain.location());
        assert!(!storage.location().contains(".."), "{}", storage.location());
    }

    #[test]
    fn paths_decode_once_and_never_escape() {
        let s = Storage::open("memory://t/tables/a", &HashMap::new()).unwrap();
        assert_eq!(
            s.data_path("p=a%253Ab/x.parquet", 1).unwrap().as_ref(),
            "tables/a/p=a%3Ab/x.parquet"
        );
        assert_eq!(
            s.data_path("p=a%20b/x.parquet", 1).unwrap().as_ref(),
            "tables/a/p=a b/x.parquet"
        );
        for bad in [
            "../x.parquet",
            "a/../../x",
            "/etc/passwd",
            "%2E%2E/x",
            "s3://other/x.parquet",
        ] {
            assert!(
                matches!(
                    s.data_path(bad, 3),
                    Err(Error::PathEscapesTable { version: 3, .. })
                ),
                "{bad}"
            );
        }
        assert_eq!(
            s.data_path("memory://t/tables/a/x%20y.parquet", 1)
                .unwrap()
                .as_ref(),
            "tables/a/x y.parquet"
        );
    }

    #[test]
    fn encode_decode_round_trip() {
        for p in ["p=a%3Ab/f.parquet", "p=ü ber/f", "x#y?z/[1]"] {
            assert_eq!(decode_path(&encode_path(p)), p);
        }
        assert_eq!(encode_path("p=a%3Ab/f"), "p=a%253Ab/f");
    }

    #[test]
    fn unknown_scheme_is_refused() {
        assert!(matches!(
            Storage::open("ftp://x/y", &HashMap::new()),
            Err(Error::InvalidLocation { .. })
        ));
    }
}
