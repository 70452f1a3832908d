//! Checks every tensor of a record file while it is decoded, before burn converts it: its
//! bytes must be exactly its shape's element count times its element size. burn 0.21's record
//! decoder converts a tensor whose element type differs from the precision it wants by its
//! claimed shape, before it compares the shape with the bytes, so a damaged file made it
//! reserve up to exabytes and abort (found by fuzzing, `fuzz/regressions/weights`).
//!
//! A record's item is a type derived per module, so the check sits in the decoder: `Checked`
//! wraps a serde deserializer and every visitor, sequence, map and enum it hands out, and does
//! one thing of its own: a `TensorData` is read, checked and handed to burn's visitor.

use std::fmt;

use bincode::de::read::SliceReader;
use bincode::serde::OwnedSerdeDecoder;
use burn::tensor::{DType, TensorData};
use serde::Deserialize;
use serde::de::{self, DeserializeSeed, Deserializer, Error as _, Visitor};

/// A deserializer that checks each tensor it meets.
pub struct Checked<D>(pub D);

/// A visitor whose deserializers, sequences, maps and enums are wrapped in turn.
struct Wrap<V>(V);

/// A seed, sequence, map, enum or variant access whose deserializers are wrapped.
struct Access<A>(A);

/// Forwards `deserialize_*` methods that take only a visitor.
macro_rules! forward_deserialize {
    ($($method:ident)*) => {$(
        fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, D::Error> {
            self.0.$method(Wrap(visitor))
        }
    )*};
}

impl<'de, D: Deserializer<'de>> Deserializer<'de> for Checked<D> {
    type Error = D::Error;

    forward_deserialize! {
        deserialize_any deserialize_bool deserialize_i8 deserialize_i16 deserialize_i32
        deserialize_i64 deserialize_i128 deserialize_u8 deserialize_u16 deserialize_u32
        deserialize_u64 deserialize_u128 deserialize_f32 deserialize_f64 deserialize_char
        deserialize_str deserialize_string deserialize_bytes deserialize_byte_buf
        deserialize_option deserialize_unit deserialize_seq deserialize_map
        deserialize_identifier deserialize_ignored_any
    }

    fn deserialize_unit_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        visitor: V,
    ) -> Result<V::Value, D::Error> {
        self.0.deserialize_unit_struct(name, Wrap(visitor))
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        visitor: V,
    ) -> Result<V::Value, D::Error> {
        self.0.deserialize_newtype_struct(name, Wrap(visitor))
    }

    fn deserialize_tuple<V: Visitor<'de>>(
        self,
        len: usize,
        visitor: V,
    ) -> Result<V::Value, D::Error> {
        self.0.deserialize_tuple(len, Wrap(visitor))
    }

    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        len: usize,
        visitor: V,
    ) -> Result<V::Value, D::Error> {
        self.0.deserialize_tuple_struct(name, len, Wrap(visitor))
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, D::Error> {
        if name == "TensorData" {
            return checked_tensor(self.0, fields, visitor);
        }
        self.0.deserialize_struct(name, fields, Wrap(visitor))
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        name: &'static str,
        variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, D::Error> {
        self.0.deserialize_enum(name, variants, Wrap(visitor))
    }

    fn is_human_readable(&self) -> bool {
        self.0.is_human_readable()
    }
}

/// Reads a `TensorData` as itself (its own decoding reserves only what the file holds),
/// checks it, then replays it to burn's visitor, which converts it.
fn checked_tensor<'de, D: Deserializer<'de>, V: Visitor<'de>>(
    inner: D,
    fields: &'static [&'static str],
    visitor: V,
) -> Result<V::Value, D::Error> {
    let data = TensorData::deserialize(inner)?;
    check(&data).map_err(D::Error::custom)?;
    let config = bincode::config::standard();
    let encoded = bincode::serde::encode_to_vec(&data, config).map_err(D::Error::custom)?;
    drop(data);
    let mut replay = OwnedSerdeDecoder::from_reader(SliceReader::new(&encoded), config);
    replay
        .as_deserializer()
        .deserialize_struct("TensorData", fields, visitor)
        .map_err(D::Error::custom)
}

/// The tensor's bytes are its element count times its element size.
fn check(data: &TensorData) -> Result<(), String> {
    let shape = data.shape.as_slice();
    let dtype = data.dtype;
    if matches!(dtype, DType::QFloat(_)) {
        // reclab writes full-precision records only; a quantized tensor is not its own.
        return Err(format!(
            "a tensor of shape {shape:?} is quantized ({dtype:?}); expected full precision"
        ));
    }
    let expected = shape
        .iter()
        .try_fold(dtype.size(), |total, &dim| total.checked_mul(dim));
    let bytes = data.as_bytes().len();
    if expected != Some(bytes) {
        let expected = expected.map_or_else(|| "more than memory holds".into(), |n| n.to_string());
        return Err(format!(
            "a tensor of shape {shape:?} and element type {dtype:?} holds {bytes} bytes where its shape needs {expected}"
        ));
    }
    Ok(())
}

/// Forwards `visit_*` methods that take one plain value.
macro_rules! forward_visit {
    ($($method:ident($ty:ty))*) => {$(
        fn $method<E: de::Error>(self, value: $ty) -> Result<V::Value, E> {
            self.0.$method(value)
        }
    )*};
}

impl<'de, V: Visitor<'de>> Visitor<'de> for Wrap<V> {
    type Value = V::Value;

    fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.expecting(formatter)
    }

    forward_visit! {
        visit_bool(bool) visit_i8(i8) visit_i16(i16) visit_i32(i32) visit_i64(i64)
        visit_i128(i128) visit_u8(u8) visit_u16(u16) visit_u32(u32) visit_u64(u64)
        visit_u128(u128) visit_f32(f32) visit_f64(f64) visit_char(char) visit_str(&str)
        visit_borrowed_str(&'de str) visit_string(String) visit_bytes(&[u8])
        visit_borrowed_bytes(&'de [u8]) visit_byte_buf(Vec<u8>)
    }

    fn visit_none<E: de::Error>(self) -> Result<V::Value, E> {
        self.0.visit_none()
    }

    fn visit_unit<E: de::Error>(self) -> Result<V::Value, E> {
        self.0.visit_unit()
    }

    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<V::Value, D::Error> {
        self.0.visit_some(Checked(deserializer))
    }

    fn visit_newtype_struct<D: Deserializer<'de>>(
        self,
        deserializer: D,
    ) -> Result<V::Value, D::Error> {
        self.0.visit_newtype_struct(Checked(deserializer))
    }

    fn visit_seq<A: de::SeqAccess<'de>>(self, seq: A) -> Result<V::Value, A::Error> {
        self.0.visit_seq(Access(seq))
    }

    fn visit_map<A: de::MapAccess<'de>>(self, map: A) -> Result<V::Value, A::Error> {
        self.0.visit_map(Access(map))
    }

    fn visit_enum<A: de::EnumAccess<'de>>(self, data: A) -> Result<V::Value, A::Error> {
        self.0.visit_enum(Access(data))
    }
}

impl<'de, S: DeserializeSeed<'de>> DeserializeSeed<'de> for Access<S> {
    type Value = S::Value;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<S::Value, D::Error> {
        self.0.deserialize(Checked(deserializer))
    }
}

impl<'de, A: de::SeqAccess<'de>> de::SeqAccess<'de> for Access<A> {
    type Error = A::Error;

    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, A::Error> {
        self.0.next_element_seed(Access(seed))
    }

    fn size_hint(&self) -> Option<usize> {
        self.0.size_hint()
    }
}

impl<'de, A: de::MapAccess<'de>> de::MapAccess<'de> for Access<A> {
    type Error = A::Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, A::Error> {
        self.0.next_key_seed(Access(seed))
    }

    fn next_value_seed<T: DeserializeSeed<'de>>(&mut self, seed: T) -> Result<T::Value, A::Error> {
        self.0.next_value_seed(Access(seed))
    }

    fn size_hint(&self) -> Option<usize> {
        self.0.size_hint()
    }
}

impl<'de, A: de::EnumAccess<'de>> de::EnumAccess<'de> for Access<A> {
    type Error = A::Error;
    type Variant = Access<A::Variant>;

    fn variant_seed<T: DeserializeSeed<'de>>(
        self,
        seed: T,
    ) -> Result<(T::Value, Self::Variant), A::Error> {
        let (value, variant) = self.0.variant_seed(Access(seed))?;
        Ok((value, Access(variant)))
    }
}

impl<'de, A: de::VariantAccess<'de>> de::VariantAccess<'de> for Access<A> {
    type Error = A::Error;

    fn unit_variant(self) -> Result<(), A::Error> {
        self.0.unit_variant()
    }

    fn newtype_variant_seed<T: DeserializeSeed<'de>>(self, seed: T) -> Result<T::Value, A::Error> {
        self.0.newtype_variant_seed(Access(seed))
    }

    fn tuple_variant<V: Visitor<'de>>(self, len: usize, visitor: V) -> Result<V::Value, A::Error> {
        self.0.tuple_variant(len, Wrap(visitor))
    }

    fn struct_variant<V: Visitor<'de>>(
        self,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, A::Error> {
        self.0.struct_variant(fields, Wrap(visitor))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Serialize;

    #[derive(Serialize, Deserialize, Debug, PartialEq)]
    struct Layer {
        weight: TensorData,
        bias: Option<TensorData>,
        moments: Vec<(u64, TensorData)>,
        kind: Kind,
    }

    #[derive(Serialize, Deserialize, Debug, PartialEq)]
    enum Kind {
        Plain,
        Scaled { by: TensorData },
    }

    fn layer(bias: TensorData) -> Layer {
        Layer {
            weight: TensorData::new(vec![1.0f32, 2.0, 3.0, 4.0, 5.0, 6.0], [2, 3]),
            bias: Some(bias),
            moments: vec![(7, TensorData::new(vec![-3i64, 0, 5, 9], [4]))],
            kind: Kind::Scaled {
                by: TensorData::new(vec![0.25f64], [1]),
            },
        }
    }

    /// Encodes `layer` as burn's recorder does, then decodes it through `Checked`.
    fn round_trip(layer: &Layer) -> Result<Layer, String> {
        let config = bincode::config::standard();
        let bytes = bincode::serde::encode_to_vec(layer, config).unwrap();
        let mut decoder = OwnedSerdeDecoder::from_reader(SliceReader::new(&bytes), config);
        Layer::deserialize(Checked(decoder.as_deserializer())).map_err(|e| e.to_string())
    }

    #[test]
    fn sound_tensors_come_through_unchanged() {
        let layer = layer(TensorData::new(vec![0.5f32, -1.5, 2.5], [3]));
        assert_eq!(round_trip(&layer), Ok(layer));
    }

    #[test]
    fn a_nested_tensor_with_a_tampered_shape_or_type_is_refused() {
        let mut bias = TensorData::new(vec![0.5f32; 3], [3]);
        bias.shape = vec![1usize << 40, 1 << 30].into();
        let message = round_trip(&layer(bias)).unwrap_err();
        assert!(
            message.contains("holds 12 bytes where its shape needs more than memory holds"),
            "{message}"
        );

        let mut bias = TensorData::new(vec![0.5f32; 3], [3]);
        bias.dtype = DType::F64;
        let message = round_trip(&layer(bias)).unwrap_err();
        assert!(
            message.contains("element type F64 holds 12 bytes where its shape needs 24"),
            "{message}"
        );
    }
}
