//! The GGUF file format (version 2 and 3, as llama.cpp writes it): a header of typed metadata
//! (the model's configuration, its tokenizer and chat template) and a table of tensors whose
//! data follow, aligned. The file is mapped, not read; every count and size the header claims is
//! checked against the bytes that remain before anything is reserved, so a damaged file is an
//! error naming the byte where it went wrong, never a panic or a gigantic allocation.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::quant::{QuantMatrix, SUPPORTED_TYPES, TensorType};
use crate::lm::error::{LmError, Result};

const MAGIC: &[u8; 4] = b"GGUF";
const DEFAULT_ALIGNMENT: u64 = 32;
/// Dimensions a tensor may have (ggml's `GGML_MAX_DIMS`).
const MAX_DIMS: u32 = 4;
/// Nesting of arrays in metadata: GGUF writers use one level; more is refused (a damaged file
/// could otherwise recurse without end).
const MAX_ARRAY_DEPTH: usize = 2;

/// A metadata value.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    U8(u8),
    I8(i8),
    U16(u16),
    I16(i16),
    U32(u32),
    I32(i32),
    U64(u64),
    I64(i64),
    F32(f32),
    F64(f64),
    Bool(bool),
    String(String),
    Array(Vec<Value>),
}

impl Value {
    /// The value as an unsigned integer, when it is a non-negative integer of any width.
    pub fn as_u64(&self) -> Option<u64> {
        match *self {
            Value::U8(v) => Some(v as u64),
            Value::U16(v) => Some(v as u64),
            Value::U32(v) => Some(v as u64),
            Value::U64(v) => Some(v),
            Value::I8(v) => u64::try_from(v).ok(),
            Value::I16(v) => u64::try_from(v).ok(),
            Value::I32(v) => u64::try_from(v).ok(),
            Value::I64(v) => u64::try_from(v).ok(),
            _ => None,
        }
    }

    pub fn as_f64(&self) -> Option<f64> {
        match *self {
            Value::F32(v) => Some(v as f64),
            Value::F64(v) => Some(v),
            _ => self.as_u64().map(|v| v as f64),
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_array(&self) -> Option<&[Value]> {
        match self {
            Value::Array(v) => Some(v),
            _ => None,
        }
    }

    /// A short description for error messages ("a string", "an array of 3").
    pub fn describe(&self) -> String {
        match self {
            Value::String(s) => format!("the string {s:?}"),
            Value::Array(v) => format!("an array of {}", v.len()),
            Value::Bool(b) => format!("the boolean {b}"),
            other => format!("{other:?}"),
        }
    }
}

/// One tensor's entry in the table.
#[derive(Debug, Clone)]
pub struct TensorInfo {
    pub name: String,
    /// ggml order: `dims[0]` is the length of a row (the innermost dimension).
    pub dims: Vec<u64>,
    pub ty: TensorType,
    /// Absolute byte offset of the data in the file.
    pub offset: usize,
    pub bytes: usize,
}

impl TensorInfo {
    pub fn elements(&self) -> usize {
        self.dims.iter().product::<u64>() as usize
    }
    /// Rows and row length of the tensor seen as a matrix (a vector is one row).
    pub fn matrix_shape(&self) -> (usize, usize) {
        let cols = self.dims.first().copied().unwrap_or(1) as usize;
        (self.elements() / cols.max(1), cols)
    }
}

/// A parsed header: metadata, tensors, where the data start.
#[derive(Debug, Clone)]
pub struct Header {
    pub version: u32,
    pub metadata: BTreeMap<String, Value>,
    pub tensors: Vec<TensorInfo>,
}

/// A GGUF file, mapped, with its header.
pub struct GgufFile {
    pub path: PathBuf,
    pub header: Header,
    data: Arc<dyn AsRef<[u8]> + Send + Sync>,
}

struct Mapped(memmap2::Mmap);

impl AsRef<[u8]> for Mapped {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

impl GgufFile {
    /// Maps and parses `path`.
    pub fn open(path: &Path) -> Result<GgufFile> {
        let file = std::fs::File::open(path).map_err(|source| LmError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        // SAFETY: the map is read-only and private to this process; a file changed on disk
        // while mapped would give other weights, not undefined behaviour of ours beyond that —
        // the same contract every GGUF reader (llama.cpp) accepts for multi-gigabyte models.
        let map = unsafe { memmap2::Mmap::map(&file) }.map_err(|source| LmError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        Self::from_data(path, Arc::new(Mapped(map)))
    }

    /// A file already in memory (tests, fuzzing).
    pub fn from_bytes(path: &Path, bytes: Vec<u8>) -> Result<GgufFile> {
        Self::from_data(path, Arc::new(bytes))
    }

    fn from_data(path: &Path, data: Arc<dyn AsRef<[u8]> + Send + Sync>) -> Result<GgufFile> {
        let header = parse((*data).as_ref()).map_err(|message| LmError::Parse {
            path: path.to_path_buf(),
            message,
        })?;
        Ok(GgufFile {
            path: path.to_path_buf(),
            header,
            data,
        })
    }

    pub fn metadata(&self, key: &str) -> Option<&Value> {
        self.header.metadata.get(key)
    }

    pub fn tensor(&self, name: &str) -> Option<&TensorInfo> {
        self.header.tensors.iter().find(|t| t.name == name)
    }

    /// The raw bytes of a tensor.
    pub fn tensor_bytes(&self, info: &TensorInfo) -> &[u8] {
        &(*self.data).as_ref()[info.offset..info.offset + info.bytes]
    }

    /// A tensor as a matrix kept in its blocks (no copy).
    pub fn matrix(&self, info: &TensorInfo) -> Result<QuantMatrix> {
        let (rows, cols) = info.matrix_shape();
        QuantMatrix::new(info.ty, rows, cols, self.data.clone(), info.offset).ok_or_else(|| {
            LmError::Parse {
                path: self.path.clone(),
                message: format!("tensor `{}` does not fit its data", info.name),
            }
        })
    }

    /// A tensor dequantized to f32 (row-major, rows of `dims[0]` values).
    pub fn dequantize(&self, info: &TensorInfo) -> Result<Vec<f32>> {
        Ok(self.matrix(info)?.dequantize())
    }
}

/// A cursor over the header that refuses to read past the end.
struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize, what: &str) -> std::result::Result<&'a [u8], String> {
        let end = self
            .at
            .checked_add(n)
            .filter(|&end| end <= self.bytes.len());
        match end {
            Some(end) => {
                let slice = &self.bytes[self.at..end];
                self.at = end;
                Ok(slice)
            }
            None => Err(format!(
                "truncated: {what} at byte {} needs {n} bytes, but the file has {} left",
                self.at,
                self.bytes.len().saturating_sub(self.at)
            )),
        }
    }
    fn array<const N: usize>(&mut self, what: &str) -> std::result::Result<[u8; N], String> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N, what)?);
        Ok(out)
    }
    fn u32(&mut self, what: &str) -> std::result::Result<u32, String> {
        Ok(u32::from_le_bytes(self.array(what)?))
    }
    fn u64(&mut self, what: &str) -> std::result::Result<u64, String> {
        Ok(u64::from_le_bytes(self.array(what)?))
    }
    fn remaining(&self) -> usize {
        self.bytes.len() - self.at
    }
    fn string(&mut self, what: &str) -> std::result::Result<String, String> {
        let at = self.at;
        let len = self.u64(what)?;
        let len = usize::try_from(len)
            .ok()
            .filter(|&len| len <= self.remaining())
            .ok_or_else(|| {
                format!(
                    "{what} at byte {at} claims {len} bytes, more than the file has left ({})",
                    self.remaining()
                )
            })?;
        let bytes = self.take(len, what)?;
        String::from_utf8(bytes.to_vec())
            .map_err(|_| format!("{what} at byte {at} is not valid UTF-8"))
    }

    /// A count of items of at least `min_item_bytes` each, refused when the remaining bytes
    /// could not hold that many (so nothing is reserved from a damaged count).
    fn count(&mut self, what: &str, min_item_bytes: usize) -> std::result::Result<usize, String> {
        let at = self.at;
        let n = self.u64(what)?;
        usize::try_from(n)
            .ok()
            .filter(|&n| n.saturating_mul(min_item_bytes) <= self.remaining())
            .ok_or_else(|| {
                format!(
                    "{what} at byte {at} is {n}, more than the {} bytes left could hold",
                    self.remaining()
                )
            })
    }

    fn value(&mut self, ty: u32, key: &str, depth: usize) -> std::result::Result<Value, String> {
        Ok(match ty {
            0 => Value::U8(self.array::<1>(key)?[0]),
            1 => Value::I8(self.array::<1>(key)?[0] as i8),
            2 => Value::U16(u16::from_le_bytes(self.array(key)?)),
            3 => Value::I16(i16::from_le_bytes(self.array(key)?)),
            4 => Value::U32(self.u32(key)?),
            5 => Value::I32(i32::from_le_bytes(self.array(key)?)),
            6 => Value::F32(f32::from_le_bytes(self.array(key)?)),
            7 => match self.array::<1>(key)?[0] {
                0 => Value::Bool(false),
                1 => Value::Bool(true),
                other => return Err(format!("`{key}`: a boolean stored as {other}")),
            },
            8 => Value::String(self.string(key)?),
            9 => {
                if depth >= MAX_ARRAY_DEPTH {
                    return Err(format!(
                        "`{key}`: arrays nested deeper than {MAX_ARRAY_DEPTH}"
                    ));
                }
                let item_ty = self.u32(key)?;
                let min = value_min_bytes(item_ty)
                    .ok_or_else(|| format!("`{key}`: an array of unknown value type {item_ty}"))?;
                let n = self.count(key, min)?;
                let mut items = Vec::with_capacity(n);
                for _ in 0..n {
                    items.push(self.value(item_ty, key, depth + 1)?);
                }
                Value::Array(items)
            }
            10 => Value::U64(self.u64(key)?),
            11 => Value::I64(i64::from_le_bytes(self.array(key)?)),
            12 => Value::F64(f64::from_le_bytes(self.array(key)?)),
            other => return Err(format!("`{key}`: unknown value type {other}")),
        })
    }
}

/// The fewest bytes a value of a type takes (a string: its 8-byte length).
fn value_min_bytes(ty: u32) -> Option<usize> {
    Some(match ty {
        0 | 1 | 7 => 1,
        2 | 3 => 2,
        4..=6 => 4,
        8 => 8,
        9 => 12,
        10..=12 => 8,
        _ => return None,
    })
}

/// Parses a GGUF header and checks every tensor's data lies inside `bytes`. The error says what
/// is wrong and at which byte.
pub fn parse(bytes: &[u8]) -> std::result::Result<Header, String> {
    let mut r = Reader { bytes, at: 0 };
    let magic = r.array::<4>("the magic number")?;
    if &magic != MAGIC {
        return Err(format!(
            "not a GGUF file: it starts with {magic:02x?}, a GGUF file with \"GGUF\""
        ));
    }
    let version = r.u32("the version")?;
    if !(2..=3).contains(&version) {
        return Err(format!(
            "GGUF version {version}; this reader knows versions 2 and 3"
        ));
    }
    // A tensor entry takes at least 8 (name) + 4 + 8 (one dim) + 4 + 8 bytes; a pair 8 + 4 + 1.
    let tensor_count = r.count("the tensor count", 32)?;
    let kv_count = r.count("the metadata count", 13)?;
    let mut metadata = BTreeMap::new();
    for _ in 0..kv_count {
        let key = r.string("a metadata key")?;
        let ty = r.u32(&key)?;
        let value = r.value(ty, &key, 0)?;
        metadata.insert(key, value);
    }
    let alignment = match metadata.get("general.alignment") {
        None => DEFAULT_ALIGNMENT,
        Some(v) => v.as_u64().filter(|a| a.is_power_of_two()).ok_or_else(|| {
            format!(
                "`general.alignment` is {}; a power of two was expected",
                v.describe()
            )
        })?,
    };
    let mut entries = Vec::with_capacity(tensor_count);
    for _ in 0..tensor_count {
        let at = r.at;
        let name = r.string("a tensor name")?;
        let n_dims = r.u32(&name)?;
        if n_dims == 0 || n_dims > MAX_DIMS {
            return Err(format!(
                "tensor `{name}` (byte {at}) has {n_dims} dimensions; 1 to {MAX_DIMS} were expected"
            ));
        }
        let mut dims = Vec::with_capacity(n_dims as usize);
        for _ in 0..n_dims {
            dims.push(r.u64(&name)?);
        }
        let code = r.u32(&name)?;
        let ty = TensorType::from_ggml(code).map_err(|type_name| {
            format!(
                "tensor `{name}` is of type {type_name}, which reclab does not read (it reads {SUPPORTED_TYPES})"
            )
        })?;
        let offset = r.u64(&name)?;
        entries.push((name, dims, ty, offset));
    }
    let data_start = (r.at as u64).div_ceil(alignment) * alignment;
    let mut tensors = Vec::with_capacity(entries.len());
    for (name, dims, ty, offset) in entries {
        let elements = dims
            .iter()
            .try_fold(1u64, |acc, &d| acc.checked_mul(d))
            .filter(|&e| e > 0)
            .ok_or_else(|| format!("tensor `{name}` has dimensions {dims:?}"))?;
        let row = dims[0] as usize;
        let row_bytes = ty.row_bytes(row).ok_or_else(|| {
            format!(
                "tensor `{name}`: rows of {row} values are not whole {} blocks of {}",
                ty.name(),
                ty.block_len()
            )
        })?;
        let bytes_len = (elements / dims[0])
            .checked_mul(row_bytes as u64)
            .ok_or_else(|| format!("tensor `{name}` has dimensions {dims:?}"))?;
        let start = data_start
            .checked_add(offset)
            .filter(|s| s.is_multiple_of(alignment) || offset.is_multiple_of(alignment));
        let end = start.and_then(|s| s.checked_add(bytes_len));
        match (start, end) {
            (Some(start), Some(end)) if end <= bytes.len() as u64 => tensors.push(TensorInfo {
                name,
                dims,
                ty,
                offset: start as usize,
                bytes: bytes_len as usize,
            }),
            _ => {
                return Err(format!(
                    "truncated or damaged: tensor `{name}` ({} {dims:?}, {bytes_len} bytes at data offset {offset}) lies beyond the end of the file ({} bytes)",
                    ty.name(),
                    bytes.len()
                ));
            }
        }
    }
    Ok(Header {
        version,
        metadata,
        tensors,
    })
}

/// Writes a GGUF file (version 3) from metadata and tensors given as bytes of their type: tests
/// and fuzz seeds build their files with it.
pub struct Writer {
    pub metadata: Vec<(String, Value)>,
    pub tensors: Vec<(String, Vec<u64>, TensorType, Vec<u8>)>,
}

fn put_value(out: &mut Vec<u8>, v: &Value) {
    match v {
        Value::U8(x) => out.push(*x),
        Value::I8(x) => out.push(*x as u8),
        Value::U16(x) => out.extend(x.to_le_bytes()),
        Value::I16(x) => out.extend(x.to_le_bytes()),
        Value::U32(x) => out.extend(x.to_le_bytes()),
        Value::I32(x) => out.extend(x.to_le_bytes()),
        Value::U64(x) => out.extend(x.to_le_bytes()),
        Value::I64(x) => out.extend(x.to_le_bytes()),
        Value::F32(x) => out.extend(x.to_le_bytes()),
        Value::F64(x) => out.extend(x.to_le_bytes()),
        Value::Bool(x) => out.push(*x as u8),
        Value::String(s) => {
            out.extend((s.len() as u64).to_le_bytes());
            out.extend(s.as_bytes());
        }
        Value::Array(items) => {
            let ty = items.first().map(type_code).unwrap_or(4);
            out.extend(ty.to_le_bytes());
            out.extend((items.len() as u64).to_le_bytes());
            for item in items {
                put_value(out, item);
            }
        }
    }
}

fn type_code(v: &Value) -> u32 {
    match v {
        Value::U8(_) => 0,
        Value::I8(_) => 1,
        Value::U16(_) => 2,
        Value::I16(_) => 3,
        Value::U32(_) => 4,
        Value::I32(_) => 5,
        Value::F32(_) => 6,
        Value::Bool(_) => 7,
        Value::String(_) => 8,
        Value::Array(_) => 9,
        Value::U64(_) => 10,
        Value::I64(_) => 11,
        Value::F64(_) => 12,
    }
}

impl Writer {
    /// The file's bytes.
    pub fn bytes(&self) -> Vec<u8> {
        let mut out = b"GGUF".to_vec();
        out.extend(3u32.to_le_bytes());
        out.extend((self.tensors.len() as u64).to_le_bytes());
        out.extend((self.metadata.len() as u64).to_le_bytes());
        for (key, value) in &self.metadata {
            put_value(&mut out, &Value::String(key.clone()));
            out.extend(type_code(value).to_le_bytes());
            put_value(&mut out, value);
        }
        let mut offset = 0u64;
        let mut offsets = Vec::new();
        for (name, dims, ty, data) in &self.tensors {
            put_value(&mut out, &Value::String(name.clone()));
            out.extend((dims.len() as u32).to_le_bytes());
            for d in dims {
                out.extend(d.to_le_bytes());
            }
            out.extend(ty.ggml_code().to_le_bytes());
            out.extend(offset.to_le_bytes());
            offsets.push(offset);
            offset = (offset + data.len() as u64).div_ceil(32) * 32;
        }
        while !out.len().is_multiple_of(32) {
            out.push(0);
        }
        let start = out.len();
        for ((_, _, _, data), off) in self.tensors.iter().zip(offsets) {
            out.resize(start + off as usize, 0);
            out.extend(data);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn small() -> Writer {
        let weights: Vec<u8> = (0..6).flat_map(|i| (i as f32).to_le_bytes()).collect();
        Writer {
            metadata: vec![
                ("general.architecture".into(), Value::String("llama".into())),
                ("llama.block_count".into(), Value::U32(2)),
                (
                    "tokenizer.ggml.tokens".into(),
                    Value::Array(vec![Value::String("a".into()), Value::String("b".into())]),
                ),
            ],
            tensors: vec![("w".into(), vec![3, 2], TensorType::F32, weights)],
        }
    }

    #[test]
    fn a_written_file_reads_back() {
        let file = GgufFile::from_bytes(Path::new("t.gguf"), small().bytes()).unwrap();
        assert_eq!(
            file.metadata("general.architecture")
                .and_then(Value::as_str),
            Some("llama")
        );
        assert_eq!(
            file.metadata("llama.block_count").and_then(Value::as_u64),
            Some(2)
        );
        let w = file.tensor("w").unwrap();
        assert_eq!(w.matrix_shape(), (2, 3));
        assert_eq!(file.dequantize(w).unwrap(), vec![0., 1., 2., 3., 4., 5.]);
    }

    #[test]
    fn every_truncation_is_an_error_not_a_panic() {
        let bytes = small().bytes();
        for len in 0..bytes.len() {
            let err = parse(&bytes[..len]).unwrap_err();
            assert!(
                err.contains("truncated")
                    || err.contains("not a GGUF")
                    || err.contains("more than"),
                "{len}: {err}"
            );
        }
    }

    #[test]
    fn a_huge_claimed_count_is_refused_before_reserving() {
        let mut bytes = small().bytes();
        // The metadata count (bytes 16..24) claims 2^60 entries.
        bytes[16..24].copy_from_slice(&(1u64 << 60).to_le_bytes());
        let err = parse(&bytes).unwrap_err();
        assert!(err.contains("the metadata count at byte 16"), "{err}");
    }

    #[test]
    fn an_unsupported_tensor_type_is_named() {
        let mut bytes = small().bytes();
        // The entry: name (u64 length 1, "w"), n_dims (u32), two u64 dims, then the type code.
        let name_at = bytes
            .windows(9)
            .position(|w| w == [1, 0, 0, 0, 0, 0, 0, 0, b'w'])
            .unwrap();
        let type_at = name_at + 9 + 4 + 16;
        assert_eq!(bytes[type_at..type_at + 4], 0u32.to_le_bytes());
        bytes[type_at..type_at + 4].copy_from_slice(&13u32.to_le_bytes());
        let err = parse(&bytes).unwrap_err();
        assert!(err.contains("Q5_K") && err.contains("Q4_K"), "{err}");
    }
}
