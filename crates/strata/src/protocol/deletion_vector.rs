//! Deletion vectors (`protocol/PROTOCOL.md#deletion-vectors`): which rows of a data file are
//! deleted, without rewriting the file.
//!
//! A `deletionVector` descriptor on an `add` says where the vector is:
//! - storage type `u`: in a file beside the table, named by a UUID. `pathOrInlineDv` is an
//!   optional random prefix (a directory) followed by the UUID in 20 characters of Z85;
//! - `p`: in a file at an absolute path (a URI);
//! - `i`: inline, `pathOrInlineDv` is the serialized vector itself in Z85.
//!
//! A vector is a `RoaringBitmapArray` of 64-bit row indexes (0-based positions in the data
//! file) in Delta's portable form: the magic number 1681511377 (little-endian), then the
//! standard portable 64-bit Roaring format, read with the `roaring` crate. In a DV file it is
//! framed: the file starts with a format version byte (1); a vector starts at `offset` with
//! its size (4 bytes, big-endian), then the `sizeInBytes` bytes of the vector, then a CRC-32
//! of them (4 bytes, big-endian).
//!
//! Pure: the shell reads the bytes (`read/deletion_vectors.rs`) and hands them here.

use roaring::RoaringTreemap;

use super::actions::DeletionVectorDescriptor;

/// The first byte of a deletion vector file.
pub const DV_FILE_FORMAT_VERSION: u8 = 1;

/// The magic number that starts a serialized `RoaringBitmapArray` in its portable form.
pub const PORTABLE_ROARING_BITMAP_MAGIC: u32 = 1_681_511_377;

/// Bytes around a vector in a DV file: its size before it, its checksum after it.
pub const DV_FRAME_OVERHEAD: u64 = 8;

/// Why a deletion vector cannot be used; the shell adds the DV file and the data file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DeletionVectorError {
    /// The descriptor itself is malformed (unknown storage type, bad Z85, bad size).
    #[error("invalid deletion vector descriptor: {0}")]
    Descriptor(String),
    /// The DV file the descriptor names does not exist.
    #[error(
        "the deletion vector file does not exist (deleted by hand, or by a vacuum that did not keep it)"
    )]
    Missing,
    /// The DV file does not start with a version strata reads.
    #[error("unsupported deletion vector file format version {0} (strata reads version 1)")]
    Version(u8),
    /// The bytes end before the vector the descriptor describes.
    #[error("truncated: the vector needs {needed} bytes, {available} are there")]
    Truncated {
        /// Bytes the descriptor asks for.
        needed: u64,
        /// Bytes there are.
        available: u64,
    },
    /// The size stored before the vector differs from the descriptor's `sizeInBytes`.
    #[error("the file says the vector has {stored} bytes, the log says {expected}")]
    Size {
        /// The size in the file.
        stored: u32,
        /// `sizeInBytes` from the log.
        expected: i32,
    },
    /// The CRC-32 after the vector does not match its bytes.
    #[error("checksum mismatch: stored {stored:#010x}, computed {computed:#010x}")]
    Checksum {
        /// The checksum in the file.
        stored: u32,
        /// The checksum of the bytes read.
        computed: u32,
    },
    /// The vector does not start with the portable `RoaringBitmapArray` magic number.
    #[error("bad magic number {0} (expected 1681511377, the portable RoaringBitmapArray format)")]
    Magic(u32),
    /// The bitmap itself cannot be decoded.
    #[error("the bitmap cannot be decoded: {0}")]
    Bitmap(String),
    /// The decoded vector holds a different number of rows than the log's `cardinality`.
    #[error("the vector deletes {actual} rows, the log says {expected}")]
    Cardinality {
        /// Rows in the vector.
        actual: u64,
        /// `cardinality` from the log.
        expected: i64,
    },
}

/// Where a deletion vector's bytes are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DvLocation {
    /// In the descriptor itself: the serialized vector.
    Inline(Vec<u8>),
    /// In a file: its path (relative to the table root for storage type `u`, absolute for
    /// `p`, percent-encoded as a log path is) and where the framed vector starts.
    File {
        /// The file, as a path or URI of the log.
        path: String,
        /// Where the vector's size field starts.
        offset: u64,
    },
}

type DvResult<T> = Result<T, DeletionVectorError>;

fn descriptor_error(reason: impl Into<String>) -> DeletionVectorError {
    DeletionVectorError::Descriptor(reason.into())
}

impl DeletionVectorDescriptor {
    /// Where the vector is (`protocol/PROTOCOL.md#deletion-vectors`).
    ///
    /// # Errors
    /// [`DeletionVectorError::Descriptor`] for an unknown storage type, a UUID that is not 20
    /// characters of Z85, or a negative offset or size.
    pub(crate) fn location(&self) -> DvResult<DvLocation> {
        let size = self.size()?;
        let offset = || -> DvResult<u64> {
            let offset = self.offset.unwrap_or(1);
            u64::try_from(offset).map_err(|_| descriptor_error(format!("offset {offset}")))
        };
        match self.storage_type.as_str() {
            "i" => {
                let mut bytes = decode_z85(&self.path_or_inline_dv)?;
                if bytes.len() < size {
                    return Err(descriptor_error(format!(
                        "inline vector of {} bytes, sizeInBytes is {size}",
                        bytes.len()
                    )));
                }
                bytes.truncate(size);
                Ok(DvLocation::Inline(bytes))
            }
            "u" => {
                let text = &self.path_or_inline_dv;
                let split = text
                    .len()
                    .checked_sub(20)
                    .filter(|&i| text.is_char_boundary(i))
                    .ok_or_else(|| descriptor_error(format!("{text:?} is shorter than a UUID")))?;
                let (prefix, encoded) = text.split_at(split);
                let uuid = decode_z85(encoded)?;
                let uuid = uuid::Uuid::from_slice(&uuid)
                    .map_err(|e| descriptor_error(format!("UUID {encoded:?}: {e}")))?;
                let name = format!("deletion_vector_{uuid}.bin");
                let path = if prefix.is_empty() {
                    name
                } else {
                    format!("{prefix}/{name}")
                };
                Ok(DvLocation::File {
                    path,
                    offset: offset()?,
                })
            }
            "p" => Ok(DvLocation::File {
                path: self.path_or_inline_dv.clone(),
                offset: offset()?,
            }),
            other => Err(descriptor_error(format!(
                "storage type {other:?} (expected u, i or p)"
            ))),
        }
    }

    /// `sizeInBytes` as a length.
    fn size(&self) -> DvResult<usize> {
        usize::try_from(self.size_in_bytes)
            .map_err(|_| descriptor_error(format!("sizeInBytes {}", self.size_in_bytes)))
    }

    /// The deleted row indexes, from the bytes at the vector's location: the framed bytes
    /// fetched from a DV file (size, vector, checksum), or the inline vector.
    ///
    /// # Errors
    /// A [`DeletionVectorError`] naming what does not hold: size, checksum, magic number,
    /// bitmap, or cardinality.
    pub(crate) fn decode(
        &self,
        location: &DvLocation,
        framed: Option<&[u8]>,
    ) -> DvResult<RoaringTreemap> {
        let vector = match (location, framed) {
            (DvLocation::Inline(bytes), _) => bytes.as_slice(),
            (DvLocation::File { .. }, Some(framed)) => unframe(framed, self.size_in_bytes)?,
            (DvLocation::File { .. }, None) => {
                return Err(descriptor_error("a file vector without its bytes"));
            }
        };
        let rows = decode_bitmap(vector)?;
        let actual = rows.len();
        if i64::try_from(actual).ok() != Some(self.cardinality) {
            return Err(DeletionVectorError::Cardinality {
                actual,
                expected: self.cardinality,
            });
        }
        Ok(rows)
    }
}

/// Checks a DV file's version byte.
///
/// # Errors
/// [`DeletionVectorError::Version`] for anything but version 1, [`DeletionVectorError::Truncated`]
/// for an empty file.
pub fn check_file_version(first: Option<u8>) -> DvResult<()> {
    match first {
        Some(DV_FILE_FORMAT_VERSION) => Ok(()),
        Some(other) => Err(DeletionVectorError::Version(other)),
        None => Err(DeletionVectorError::Truncated {
            needed: 1,
            available: 0,
        }),
    }
}

/// The vector inside its frame (size, vector, checksum), checked.
fn unframe(framed: &[u8], size_in_bytes: i32) -> DvResult<&[u8]> {
    let size = usize::try_from(size_in_bytes)
        .map_err(|_| descriptor_error(format!("sizeInBytes {size_in_bytes}")))?;
    let needed = size + DV_FRAME_OVERHEAD as usize;
    if framed.len() < needed {
        return Err(DeletionVectorError::Truncated {
            needed: needed as u64,
            available: framed.len() as u64,
        });
    }
    let be = |at: usize| {
        u32::from_be_bytes([framed[at], framed[at + 1], framed[at + 2], framed[at + 3]])
    };
    let stored_size = be(0);
    if i64::from(stored_size) != i64::from(size_in_bytes) {
        return Err(DeletionVectorError::Size {
            stored: stored_size,
            expected: size_in_bytes,
        });
    }
    let vector = &framed[4..4 + size];
    let stored = be(4 + size);
    let computed = crc32fast::hash(vector);
    if stored != computed {
        return Err(DeletionVectorError::Checksum { stored, computed });
    }
    Ok(vector)
}

/// A serialized portable `RoaringBitmapArray`: magic number, then the 64-bit portable format.
fn decode_bitmap(vector: &[u8]) -> DvResult<RoaringTreemap> {
    let magic = vector
        .get(..4)
        .map(|m| u32::from_le_bytes([m[0], m[1], m[2], m[3]]))
        .ok_or(DeletionVectorError::Truncated {
            needed: 4,
            available: vector.len() as u64,
        })?;
    if magic != PORTABLE_ROARING_BITMAP_MAGIC {
        return Err(DeletionVectorError::Magic(magic));
    }
    RoaringTreemap::deserialize_from(&vector[4..])
        .map_err(|e| DeletionVectorError::Bitmap(e.to_string()))
}

/// Z85 (ZeroMQ's base-85) text to bytes; the text's length is a multiple of 5.
fn decode_z85(text: &str) -> DvResult<Vec<u8>> {
    if !text.len().is_multiple_of(5) {
        return Err(descriptor_error(format!(
            "Z85 text of {} characters (not a multiple of 5)",
            text.len()
        )));
    }
    z85::decode(text).map_err(|e| descriptor_error(format!("bad Z85 {text:?}: {e}")))
}

/// A DV file being built: the version byte, then framed vectors one after another, so one
/// file holds every vector a commit writes (`protocol/PROTOCOL.md#deletion-vectors`).
#[derive(Debug)]
pub struct DvFileWriter {
    uuid: uuid::Uuid,
    bytes: Vec<u8>,
}

impl DvFileWriter {
    /// An empty DV file named by a fresh UUID.
    pub fn new() -> DvFileWriter {
        DvFileWriter {
            uuid: uuid::Uuid::new_v4(),
            bytes: vec![DV_FILE_FORMAT_VERSION],
        }
    }

    /// Appends a vector deleting `rows` and returns its `u`-type descriptor (the file's UUID
    /// in Z85, the vector's offset, size and cardinality).
    ///
    /// # Errors
    /// [`DeletionVectorError::Descriptor`] when the file or the vector outgrows the 32-bit
    /// offset and size the descriptor has.
    pub fn push(&mut self, rows: &RoaringTreemap) -> DvResult<DeletionVectorDescriptor> {
        let vector = serialize_bitmap(rows);
        let too_large = |what: &str| descriptor_error(format!("the {what} exceeds 2 GiB"));
        let offset = i32::try_from(self.bytes.len()).map_err(|_| too_large("DV file"))?;
        let size = i32::try_from(vector.len()).map_err(|_| too_large("vector"))?;
        self.bytes.extend_from_slice(&(size as u32).to_be_bytes());
        self.bytes.extend_from_slice(&vector);
        self.bytes
            .extend_from_slice(&crc32fast::hash(&vector).to_be_bytes());
        Ok(DeletionVectorDescriptor {
            storage_type: "u".into(),
            path_or_inline_dv: z85::encode(self.uuid.as_bytes()),
            offset: Some(offset),
            size_in_bytes: size,
            cardinality: rows.len() as i64,
        })
    }

    /// Whether no vector was pushed.
    pub fn is_empty(&self) -> bool {
        self.bytes.len() == 1
    }

    /// The file's name relative to the table root, and its bytes.
    pub fn finish(self) -> (String, Vec<u8>) {
        (format!("deletion_vector_{}.bin", self.uuid), self.bytes)
    }
}

impl Default for DvFileWriter {
    fn default() -> Self {
        DvFileWriter::new()
    }
}

/// A vector serialized as Delta stores it: the magic number, then the portable 64-bit Roaring
/// format.
fn serialize_bitmap(rows: &RoaringTreemap) -> Vec<u8> {
    let mut out = PORTABLE_ROARING_BITMAP_MAGIC.to_le_bytes().to_vec();
    rows.serialize_into(&mut out)
        .expect("writing to a Vec cannot fail");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_written_file_holds_several_vectors_at_their_offsets() {
        let mut writer = DvFileWriter::new();
        assert!(writer.is_empty());
        let first: RoaringTreemap = [0u64, 5, 7].into_iter().collect();
        let second: RoaringTreemap = (1_000u64..3_000).chain([u64::from(u32::MAX) + 9]).collect();
        let a = writer.push(&first).unwrap();
        let b = writer.push(&second).unwrap();
        let (name, bytes) = writer.finish();
        check_file_version(bytes.first().copied()).unwrap();
        for (dv, rows) in [(a, first), (b, second)] {
            let location = dv.location().unwrap();
            let DvLocation::File { path, offset } = &location else {
                panic!("{location:?}")
            };
            assert_eq!(path, &name);
            let framed = &bytes[*offset as usize..];
            assert_eq!(dv.decode(&location, Some(framed)).unwrap(), rows);
        }
    }

    fn descriptor(
        storage: &str,
        path: &str,
        offset: Option<i32>,
        size: i32,
        rows: i64,
    ) -> DeletionVectorDescriptor {
        DeletionVectorDescriptor {
            storage_type: storage.into(),
            path_or_inline_dv: path.into(),
            offset,
            size_in_bytes: size,
            cardinality: rows,
        }
    }

    #[test]
    fn uuid_paths_decode_from_z85_with_and_without_a_prefix() {
        // From a Spark-written table: its DV file is deletion_vector_ae7177f2-….bin.
        let dv = descriptor("u", "U5OWRz5k%CFT.Td}yCPW", Some(1), 38, 3);
        assert_eq!(
            dv.location().unwrap(),
            DvLocation::File {
                path: "deletion_vector_ae7177f2-6d17-4ea8-819b-8d62fa2c5469.bin".into(),
                offset: 1
            }
        );
        let prefixed = descriptor("u", "ab^U5OWRz5k%CFT.Td}yCPW", Some(9), 38, 3);
        assert!(matches!(
            prefixed.location().unwrap(),
            DvLocation::File { path, offset: 9 } if path == "ab^/deletion_vector_ae7177f2-6d17-4ea8-819b-8d62fa2c5469.bin"
        ));
        assert!(descriptor("u", "short", None, 1, 1).location().is_err());
        assert!(
            descriptor("x", "U5OWRz5k%CFT.Td}yCPW", None, 1, 1)
                .location()
                .is_err()
        );
        assert_eq!(
            descriptor("p", "s3://b/t/dv.bin", Some(5), 4, 1)
                .location()
                .unwrap(),
            DvLocation::File {
                path: "s3://b/t/dv.bin".into(),
                offset: 5
            }
        );
    }

    #[test]
    fn inline_vectors_decode_to_their_rows() {
        // From a Spark-written table (cdf-table-with-dv): 4 rows deleted.
        let dv = descriptor(
            "i",
            "^Bg9^0rr910000000000iXQKl0rr91000935c8Xg000311onP9",
            None,
            40,
            4,
        );
        let location = dv.location().unwrap();
        let rows = dv.decode(&location, None).unwrap();
        assert_eq!(rows.len(), 4);
        let wrong = descriptor(
            "i",
            "^Bg9^0rr910000000000iXQKl0rr91000935c8Xg000311onP9",
            None,
            40,
            5,
        );
        assert!(matches!(
            wrong.decode(&location, None),
            Err(DeletionVectorError::Cardinality {
                actual: 4,
                expected: 5
            })
        ));
    }

    fn framed(vector: &[u8]) -> Vec<u8> {
        let mut out = (vector.len() as u32).to_be_bytes().to_vec();
        out.extend_from_slice(vector);
        out.extend_from_slice(&crc32fast::hash(vector).to_be_bytes());
        out
    }

    #[test]
    fn framed_vectors_round_trip_and_every_corruption_is_named() {
        let rows: RoaringTreemap = [0u64, 7, 1 << 33].into_iter().collect();
        let vector = serialize_bitmap(&rows);
        let dv = descriptor("p", "dv.bin", Some(1), vector.len() as i32, 3);
        let location = dv.location().unwrap();
        let good = framed(&vector);
        assert_eq!(dv.decode(&location, Some(&good)).unwrap(), rows);

        let mut bad_crc = good.clone();
        *bad_crc.last_mut().unwrap() ^= 1;
        assert!(matches!(
            dv.decode(&location, Some(&bad_crc)),
            Err(DeletionVectorError::Checksum { .. })
        ));
        let mut bad_size = good.clone();
        bad_size[3] ^= 1;
        assert!(matches!(
            dv.decode(&location, Some(&bad_size)),
            Err(DeletionVectorError::Size { .. })
        ));
        assert!(matches!(
            dv.decode(&location, Some(&good[..good.len() - 1])),
            Err(DeletionVectorError::Truncated { .. })
        ));
        let mut bad_magic = vector.clone();
        bad_magic[0] ^= 1;
        assert!(matches!(
            dv.decode(&location, Some(&framed(&bad_magic))),
            Err(DeletionVectorError::Magic(_))
        ));
        let mut bad_bitmap = vector.clone();
        bad_bitmap.truncate(vector.len() - 2);
        let short = descriptor("p", "dv.bin", Some(1), bad_bitmap.len() as i32, 3);
        assert!(matches!(
            short.decode(&location, Some(&framed(&bad_bitmap))),
            Err(DeletionVectorError::Bitmap(_))
        ));
        assert_eq!(check_file_version(Some(1)), Ok(()));
        assert_eq!(
            check_file_version(Some(2)),
            Err(DeletionVectorError::Version(2))
        );
    }
}
