//! Messages of a definition kept as the bytes they are sent as.
//!
//! Every op of a definition has metadata and most have a place in the source
//! map. As prost's generated structs those are maps of `String`s and vectors
//! of vectors: several allocations an op to build, and each walked twice more
//! to encode. Ours are written straight into the marshal's buffers ([`encode_metadata`],
//! [`encode_location`]) and shared from there, so building and sending them
//! allocate nothing; a definition that arrives (an embedded one) keeps their
//! fields exactly as they came. [`Encoded::fields`] decodes one where something
//! reads it (progress JSON, error locations, tests).

use std::collections::BTreeMap;
use std::marker::PhantomData;

use bytes::{Buf, BufMut, Bytes};
use prost::encoding::{self, DecodeContext, WireType};
use prost::DecodeError;

use crate::proto::pb;

/// A message of type `T` as its encoded body (build.rs maps `pb.OpMetadata`
/// and `pb.Locations` to these).
pub struct Encoded<T> {
    encoded: Bytes,
    fields: PhantomData<fn() -> T>,
}

/// One op's metadata (`pb.OpMetadata`).
pub type OpMetadata = Encoded<MetadataFields>;

/// Where in the source files one op comes from (`pb.Locations`).
pub type Locations = Encoded<LocationList>;

/// The fields of `pb.OpMetadata`, decoded.
#[derive(Clone, PartialEq, prost::Message)]
pub struct MetadataFields {
    #[prost(bool, tag = "1")]
    pub ignore_cache: bool,
    #[prost(btree_map = "string, string", tag = "2")]
    pub description: BTreeMap<String, String>,
    #[prost(message, optional, tag = "4")]
    pub export_cache: Option<pb::ExportCache>,
    #[prost(btree_map = "string, bool", tag = "5")]
    pub caps: BTreeMap<String, bool>,
    #[prost(message, optional, tag = "6")]
    pub progress_group: Option<pb::ProgressGroup>,
}

/// The fields of `pb.Locations`, decoded.
#[derive(Clone, PartialEq, prost::Message)]
pub struct LocationList {
    #[prost(message, repeated, tag = "1")]
    pub locations: Vec<pb::Location>,
}

impl<T> Encoded<T> {
    /// The message whose body is `encoded`.
    pub fn from_encoded(encoded: Bytes) -> Encoded<T> {
        Encoded { encoded, fields: PhantomData }
    }

    /// The message body.
    pub fn as_bytes(&self) -> &Bytes {
        &self.encoded
    }
}

impl<T: prost::Message + Default> Encoded<T> {
    /// The fields, decoded. Bytes that do not decode (they came from elsewhere
    /// and were never checked) read as an empty message.
    pub fn fields(&self) -> T {
        T::decode(&self.encoded[..]).unwrap_or_default()
    }
}

impl<T: prost::Message> From<&T> for Encoded<T> {
    fn from(fields: &T) -> Encoded<T> {
        Encoded::from_encoded(fields.encode_to_vec().into())
    }
}

impl<T> Clone for Encoded<T> {
    fn clone(&self) -> Encoded<T> {
        Encoded::from_encoded(self.encoded.clone())
    }
}

impl<T> Default for Encoded<T> {
    fn default() -> Encoded<T> {
        Encoded::from_encoded(Bytes::new())
    }
}

impl<T> PartialEq for Encoded<T> {
    fn eq(&self, other: &Encoded<T>) -> bool {
        self.encoded == other.encoded
    }
}

impl<T> Eq for Encoded<T> {}

impl<T: prost::Message + Default + std::fmt::Debug> std::fmt::Debug for Encoded<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.fields().fmt(f)
    }
}

impl<T: prost::Message + Default> prost::Message for Encoded<T> {
    fn encode_raw(&self, buf: &mut impl BufMut) {
        buf.put_slice(&self.encoded);
    }

    /// Keeps the field as it came: appended, key and all, to the body read so
    /// far (whose buffer is reused, so a long message is not copied per field).
    /// pb.OpMetadata and pb.Locations have no groups; one would be skipped.
    fn merge_field(&mut self, tag: u32, wire_type: WireType, buf: &mut impl Buf, ctx: DecodeContext) -> Result<(), DecodeError> {
        if matches!(wire_type, WireType::StartGroup | WireType::EndGroup) {
            return encoding::skip_field(wire_type, tag, buf, ctx);
        }
        let mut field = Vec::from(std::mem::take(&mut self.encoded));
        let read = match wire_type {
            WireType::Varint => encoding::decode_varint(buf).map(|value| {
                encoding::encode_key(tag, wire_type, &mut field);
                encoding::encode_varint(value, &mut field);
            }),
            WireType::SixtyFourBit => {
                let mut value = 0u64;
                encoding::fixed64::merge(wire_type, &mut value, buf, ctx).map(|()| encoding::fixed64::encode(tag, &value, &mut field))
            }
            WireType::ThirtyTwoBit => {
                let mut value = 0u32;
                encoding::fixed32::merge(wire_type, &mut value, buf, ctx).map(|()| encoding::fixed32::encode(tag, &value, &mut field))
            }
            _ => {
                let mut value = Bytes::new();
                encoding::bytes::merge(wire_type, &mut value, buf, ctx).map(|()| encoding::bytes::encode(tag, &value, &mut field))
            }
        };
        self.encoded = field.into();
        read
    }

    fn encoded_len(&self) -> usize {
        self.encoded.len()
    }

    fn clear(&mut self) {
        self.encoded = Bytes::new();
    }
}

/// Writes the message body of an op's metadata to `buf`, as prost would
/// encode a `pb.OpMetadata` holding these maps: entries in key order, a key
/// given twice keeping its last value, and default values left out. Both
/// lists are sorted here, in place.
pub fn encode_metadata(ignore_cache: bool, description: &mut [(&str, &str)], caps: &mut [&str], buf: &mut Vec<u8>) {
    if ignore_cache {
        encoding::bool::encode(1, &true, buf);
    }
    // Stable: of equal keys the last given stays last, and is the one kept.
    description.sort_by_key(|(key, _)| *key);
    for (i, (key, value)) in description.iter().enumerate() {
        if description.get(i + 1).is_some_and(|(next, _)| next == key) {
            continue;
        }
        let len = string_field_len(1, key) + string_field_len(2, value);
        encoding::encode_key(2, WireType::LengthDelimited, buf);
        encoding::encode_varint(len as u64, buf);
        string_field(1, key, buf);
        string_field(2, value, buf);
    }
    caps.sort_unstable();
    for (i, cap) in caps.iter().enumerate() {
        if caps.get(i + 1) == Some(cap) {
            continue;
        }
        let len = string_field_len(1, cap) + 2;
        encoding::encode_key(5, WireType::LengthDelimited, buf);
        encoding::encode_varint(len as u64, buf);
        string_field(1, cap, buf);
        encoding::bool::encode(2, &true, buf);
    }
}

/// Appends one location to the message body of a `pb.Locations` in `buf`:
/// line and character (0-based) of `source_index`, as a one-point range, as
/// prost would encode that `pb.Location` (zeros left out, messages kept).
pub fn encode_location(source_index: i32, line: i32, character: i32, buf: &mut Vec<u8>) {
    let position_len = int32_len(1, line) + int32_len(2, character);
    let range_len = 2 * (2 + position_len);
    let location_len = int32_len(1, source_index) + 1 + encoding::encoded_len_varint(range_len as u64) + range_len;
    encoding::encode_key(1, WireType::LengthDelimited, buf);
    encoding::encode_varint(location_len as u64, buf);
    int32_field(1, source_index, buf);
    encoding::encode_key(2, WireType::LengthDelimited, buf);
    encoding::encode_varint(range_len as u64, buf);
    for tag in [1, 2] {
        encoding::encode_key(tag, WireType::LengthDelimited, buf);
        encoding::encode_varint(position_len as u64, buf);
        int32_field(1, line, buf);
        int32_field(2, character, buf);
    }
}

fn int32_field(tag: u32, value: i32, buf: &mut Vec<u8>) {
    if value != 0 {
        encoding::int32::encode(tag, &value, buf);
    }
}

fn int32_len(tag: u32, value: i32) -> usize {
    if value == 0 {
        0
    } else {
        encoding::int32::encoded_len(tag, &value)
    }
}

/// A map entry's string field; prost leaves out an empty one.
fn string_field(tag: u32, text: &str, buf: &mut Vec<u8>) {
    if !text.is_empty() {
        encoding::encode_key(tag, WireType::LengthDelimited, buf);
        encoding::encode_varint(text.len() as u64, buf);
        buf.extend_from_slice(text.as_bytes());
    }
}

fn string_field_len(tag: u32, text: &str) -> usize {
    if text.is_empty() {
        0
    } else {
        encoding::key_len(tag) + encoding::encoded_len_varint(text.len() as u64) + text.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn written(ignore_cache: bool, description: &[(&str, &str)], caps: &[&str]) -> Vec<u8> {
        let mut buf = Vec::new();
        encode_metadata(ignore_cache, &mut description.to_vec(), &mut caps.to_vec(), &mut buf);
        buf
    }

    #[test]
    fn writes_what_prost_writes_for_the_same_maps() {
        let fields = MetadataFields {
            ignore_cache: true,
            description: [("llb.customname", "[app] run pip install"), ("com.docker.dockerfile.v1.step", ""), ("a", "b")]
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .into(),
            caps: [("meta.description", true), ("exec.mount.cache", true), ("constraints", true)].map(|(k, v)| (k.to_string(), v)).into(),
            ..Default::default()
        };
        let ours = written(
            true,
            &[("llb.customname", "replaced"), ("a", "b"), ("com.docker.dockerfile.v1.step", ""), ("llb.customname", "[app] run pip install")],
            &["meta.description", "exec.mount.cache", "constraints", "exec.mount.cache"],
        );
        assert_eq!(ours, prost::Message::encode_to_vec(&fields));
        assert_eq!(OpMetadata::from_encoded(ours.into()).fields(), fields);
        assert!(written(false, &[], &[]).is_empty());
    }

    #[test]
    fn metadata_that_arrives_is_sent_on_as_it_came() {
        let def = pb::Definition {
            def: vec![Bytes::from_static(b"op")],
            metadata: [("sha256:x".to_string(), OpMetadata::from(&MetadataFields { ignore_cache: true, caps: [("source.image".to_string(), true)].into(), ..Default::default() }))].into(),
            source: None,
        };
        let bytes = prost::Message::encode_to_vec(&def);
        let back: pb::Definition = prost::Message::decode(&bytes[..]).unwrap();
        assert_eq!(back, def);
        assert_eq!(prost::Message::encode_to_vec(&back), bytes);
        assert!(back.metadata["sha256:x"].fields().ignore_cache);
    }

    #[test]
    fn locations_are_written_as_prost_writes_them() {
        for (index, line, character) in [(0, 12, 4), (2, 1, 0), (-1, 300, 70000)] {
            let position = Some(pb::Position { line, character });
            let location = pb::Location { source_index: index, ranges: vec![pb::Range { start: position, end: position }] };
            let list = LocationList { locations: vec![location.clone(), location] };
            let mut ours = Vec::new();
            encode_location(index, line, character, &mut ours);
            encode_location(index, line, character, &mut ours);
            assert_eq!(ours, prost::Message::encode_to_vec(&list), "{index} {line} {character}");
            assert_eq!(Locations::from_encoded(ours.into()).fields(), list);
        }
    }

    #[test]
    fn a_truncated_field_is_a_decode_error() {
        // metadata entry "sha256:x" whose value claims 9 bytes of a 3-byte body
        let mut bytes = vec![0x12, 0x0f, 0x0a, 0x08];
        bytes.extend_from_slice(b"sha256:x");
        bytes.extend_from_slice(&[0x12, 0x03, 0x2a, 0x09, 0x0a]);
        assert!(<pb::Definition as prost::Message>::decode(&bytes[..]).is_err());
    }
}
