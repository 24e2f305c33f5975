//! `pb.OpMetadata` kept as the bytes it is sent as.
//!
//! Every op of a definition has metadata, and as prost's generated struct it is
//! two maps of `String`s: five or six allocations an op to build, and each map
//! walked twice more to encode. Ours is written straight into the marshal's
//! buffer ([`encode`]) and shared from there, so building and sending it
//! allocate nothing; a definition that arrives (an embedded one) keeps its
//! metadata's fields exactly as they came. [`OpMetadata::fields`] decodes it
//! where something reads it (progress JSON, tests).

use std::collections::BTreeMap;

use bytes::{Buf, BufMut, Bytes};
use prost::encoding::{self, DecodeContext, WireType};
use prost::DecodeError;

use crate::proto::pb;

/// One op's metadata: its encoded fields (as `pb.OpMetadata`'s message body).
#[derive(Clone, Default, PartialEq, Eq)]
pub struct OpMetadata {
    encoded: Bytes,
}

/// The fields of `pb.OpMetadata`, decoded.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Fields {
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

impl OpMetadata {
    /// Metadata whose message body is `encoded` (as [`encode`] writes it).
    pub fn from_encoded(encoded: Bytes) -> OpMetadata {
        OpMetadata { encoded }
    }

    /// The fields, decoded. Bytes that do not decode (they came from elsewhere
    /// and were never checked) read as no metadata.
    pub fn fields(&self) -> Fields {
        prost::Message::decode(&self.encoded[..]).unwrap_or_default()
    }
}

impl From<&Fields> for OpMetadata {
    fn from(fields: &Fields) -> OpMetadata {
        OpMetadata { encoded: prost::Message::encode_to_vec(fields).into() }
    }
}

impl std::fmt::Debug for OpMetadata {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.fields().fmt(f)
    }
}

impl prost::Message for OpMetadata {
    fn encode_raw(&self, buf: &mut impl BufMut) {
        buf.put_slice(&self.encoded);
    }

    /// Keeps the field as it came, key and all: re-encoded, it is the same
    /// bytes. (pb.OpMetadata has no groups; one would be skipped.)
    fn merge_field(&mut self, tag: u32, wire_type: WireType, buf: &mut impl Buf, ctx: DecodeContext) -> Result<(), DecodeError> {
        let mut field = Vec::with_capacity(self.encoded.len() + 16);
        field.extend_from_slice(&self.encoded);
        match wire_type {
            WireType::Varint => {
                let value = encoding::decode_varint(buf)?;
                encoding::encode_key(tag, wire_type, &mut field);
                encoding::encode_varint(value, &mut field);
            }
            WireType::SixtyFourBit => {
                let mut value = 0u64;
                encoding::fixed64::merge(wire_type, &mut value, buf, ctx)?;
                encoding::fixed64::encode(tag, &value, &mut field);
            }
            WireType::ThirtyTwoBit => {
                let mut value = 0u32;
                encoding::fixed32::merge(wire_type, &mut value, buf, ctx)?;
                encoding::fixed32::encode(tag, &value, &mut field);
            }
            WireType::LengthDelimited => {
                let mut value: Vec<u8> = Vec::new();
                encoding::bytes::merge(wire_type, &mut value, buf, ctx)?;
                encoding::bytes::encode(tag, &value, &mut field);
            }
            WireType::StartGroup | WireType::EndGroup => return encoding::skip_field(wire_type, tag, buf, ctx),
        }
        self.encoded = field.into();
        Ok(())
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
pub fn encode(ignore_cache: bool, description: &mut [(&str, &str)], caps: &mut [&str], buf: &mut Vec<u8>) {
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
        encode(ignore_cache, &mut description.to_vec(), &mut caps.to_vec(), &mut buf);
        buf
    }

    #[test]
    fn writes_what_prost_writes_for_the_same_maps() {
        let fields = Fields {
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
            metadata: [("sha256:x".to_string(), OpMetadata::from(&Fields { ignore_cache: true, caps: [("source.image".to_string(), true)].into(), ..Default::default() }))].into(),
            source: None,
        };
        let bytes = prost::Message::encode_to_vec(&def);
        let back: pb::Definition = prost::Message::decode(&bytes[..]).unwrap();
        assert_eq!(back, def);
        assert_eq!(prost::Message::encode_to_vec(&back), bytes);
        assert!(back.metadata["sha256:x"].fields().ignore_cache);
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
