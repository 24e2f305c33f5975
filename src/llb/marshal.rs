//! Turns a state's graph into the `pb::Definition` BuildKit solves.
//!
//! Ops are written in dependency order (inputs first), each once. A vertex's digest
//! is the sha256 of exactly the bytes placed in `def`, and metadata is keyed by it.
//! The last entry is the bare return op that points at the state's output.

use std::collections::{BTreeMap, HashMap};
use std::ops::Range;
use std::sync::Arc;

use bytes::Bytes;

use prost::Message;
use sha2::{Digest, Sha256};

use crate::proto::pb;

use super::caps::LlbCap;
use super::encoded::{self, Encoded, Locations, OpMetadata};
use super::state::{Body, Output, Platform, State, Vertex, VertexMeta};

/// The file a definition's ops come from, sent as its source map.
#[derive(Debug, Clone, Copy)]
pub struct SourceFile<'a> {
    pub name: &'a str,
    pub text: &'a str,
    /// Shown by newer engines in error snippets (`HCL`).
    pub language: &'a str,
}

/// The definition of `state`. Scratch gives an empty definition, which the
/// engine solves to an empty result. `ignore_cache` rebuilds every op (`--no-cache`).
pub fn definition(state: &State, ignore_cache: bool) -> pb::Definition {
    definition_with_source(state, ignore_cache, None)
}

/// The definition of `state` with a source map: each op that has a location
/// points at its line in `source`, so the engine's errors (and progress
/// warnings) show that line, as they do for a Dockerfile.
pub fn definition_with_source(state: &State, ignore_cache: bool, source: Option<SourceFile<'_>>) -> pb::Definition {
    let Some(root) = state.output() else {
        return pb::Definition::default();
    };
    let mut writer = Writer { ignore_cache, ..Default::default() };
    if let Some(file) = source {
        writer.infos.push(pb::SourceInfo {
            filename: file.name.to_string(),
            data: file.text.as_bytes().to_vec(),
            definition: None,
            language: file.language.to_string(),
        });
    }
    let root_digest = writer.vertex(&root.vertex);
    let start = writer.buf.len();
    encode_inputs(&[(root_digest, root.index)], &mut writer.buf);
    writer.push(start, |buf| encoded::encode_metadata(false, &mut [], &mut [LlbCap::Constraints.id(), LlbCap::Platform.id()], buf));
    fill_in(&mut writer.metadata, writer.metadata_buf, &writer.our_metadata);
    fill_in(&mut writer.locations, writer.locations_buf, &writer.our_locations);
    let source = (!writer.locations.is_empty()).then_some(pb::Source { locations: writer.locations, infos: writer.infos });
    let ours = Bytes::from(writer.buf);
    let def = writer
        .ops
        .into_iter()
        .map(|op| match op {
            Written::Ours(range) => ours.slice(range),
            Written::Embedded(bytes) => bytes,
        })
        .collect();
    pb::Definition { def, metadata: writer.metadata, source }
}

/// `sha256:<hex>` of `bytes`.
pub fn digest_of(bytes: &[u8]) -> String {
    OpDigest::of(bytes).as_str().to_string()
}

/// The output a definition's return op points at: `(digest, index)`.
pub fn root_of(def: &pb::Definition) -> Option<(String, i64)> {
    let last = def.def.last()?;
    let op = pb::Op::decode(&last[..]).ok()?;
    op.inputs.first().map(|i| (i.digest.clone(), i.index))
}

/// `sha256:<hex>` of an op's bytes, kept inline: an op's digest is written into
/// the ops that read it and keys its metadata, and only the key needs a `String`.
#[derive(Clone, Copy, PartialEq, Eq)]
struct OpDigest([u8; OpDigest::LEN]);

impl OpDigest {
    const LEN: usize = 7 + 64;

    fn of(bytes: &[u8]) -> OpDigest {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let raw: [u8; 32] = Sha256::digest(bytes).into();
        let mut text = [0; OpDigest::LEN];
        text[..7].copy_from_slice(b"sha256:");
        for (pair, byte) in text[7..].chunks_exact_mut(2).zip(raw) {
            pair[0] = HEX[usize::from(byte >> 4)];
            pair[1] = HEX[usize::from(byte & 0xf)];
        }
        OpDigest(text)
    }

    fn as_str(&self) -> &str {
        std::str::from_utf8(&self.0).expect("sha256: and hex digits are ASCII")
    }
}

/// What an op's input points at: one of our ops, or the root an embedded
/// definition's return op names (its own text, whatever algorithm it uses).
#[derive(Clone)]
enum InputDigest {
    Op(OpDigest),
    Embedded(Arc<str>),
}

impl InputDigest {
    fn as_str(&self) -> &str {
        match self {
            InputDigest::Op(digest) => digest.as_str(),
            InputDigest::Embedded(text) => text,
        }
    }
}

/// One op of the definition being written.
enum Written {
    /// Marshalled by us, into the writer's buffer.
    Ours(Range<usize>),
    /// An embedded definition's, as it came.
    Embedded(Bytes),
}

#[derive(Default)]
struct Writer {
    ignore_cache: bool,
    /// The ops written, in order; their digests are the keys of `metadata`,
    /// so an op whose bytes are already there is not written twice.
    ops: Vec<Written>,
    /// Every op we marshal, one after another: the definition's ops are slices of it.
    buf: Vec<u8>,
    metadata: BTreeMap<String, OpMetadata>,
    /// The metadata of every op we marshal, one after another, and where each
    /// op's is: its entry in `metadata` becomes that slice once all are written.
    metadata_buf: Vec<u8>,
    our_metadata: Vec<(InputDigest, Range<usize>)>,
    /// What each vertex already walked marshalled to, so a shared one is walked once.
    digests: HashMap<*const Vertex, InputDigest>,
    /// The inputs of the ops being written, innermost op's last: each op
    /// pushes its inputs, encodes them from its tail, and pops them.
    inputs: Vec<(InputDigest, i64)>,
    /// Source files of the map: ours first (when given), then those of embedded definitions.
    infos: Vec<pb::SourceInfo>,
    locations: BTreeMap<String, Locations>,
    /// Locations as `metadata_buf` holds metadata: an op's entry in `locations`
    /// is the concatenation of its slices (an op made in two places has two).
    locations_buf: Vec<u8>,
    our_locations: Vec<(InputDigest, Range<usize>)>,
}

impl Writer {
    fn vertex(&mut self, vertex: &Arc<Vertex>) -> InputDigest {
        let key = Arc::as_ptr(vertex);
        if let Some(d) = self.digests.get(&key) {
            return d.clone();
        }
        let digest = match &vertex.body {
            Body::Op(op) => InputDigest::Op(self.op(vertex, op)),
            Body::Embedded(definition) => self.embed(definition),
        };
        self.digests.insert(key, digest.clone());
        digest
    }

    fn op(&mut self, vertex: &Vertex, op: &pb::op::Op) -> OpDigest {
        let start = self.inputs.len();
        for input in &vertex.inputs {
            self.input(input);
        }
        let at = self.buf.len();
        encode_op(&self.inputs[start..], op, vertex.platform.as_deref(), &mut self.buf);
        self.inputs.truncate(start);
        let ignore_cache = self.ignore_cache;
        let digest = self.push(at, |buf| op_metadata(&vertex.meta, ignore_cache, buf));
        if let (Some(at), false) = (vertex.meta.location, self.infos.is_empty()) {
            let from = self.locations_buf.len();
            encoded::encode_location(0, at.line as i32, at.column.saturating_sub(1) as i32, &mut self.locations_buf);
            self.locate(InputDigest::Op(digest), from);
        }
        digest
    }

    /// Writes another definition's ops (not its return op) as they are, with their
    /// metadata, and gives the digest its return op points at.
    fn embed(&mut self, definition: &pb::Definition) -> InputDigest {
        let (root, _) = root_of(definition).unwrap_or_default();
        // Its source map comes along, its file indexes shifted past ours.
        if let Some(source) = &definition.source {
            let offset = self.infos.len() as i32;
            self.infos.extend(source.infos.iter().cloned());
            for (digest, locations) in &source.locations {
                let from = self.locations_buf.len();
                for location in locations.fields().locations {
                    let shifted = pb::Location { source_index: location.source_index + offset, ..location };
                    prost::encoding::message::encode(1, &shifted, &mut self.locations_buf);
                }
                self.locate(InputDigest::Embedded(digest.as_str().into()), from);
            }
        }
        let ops = definition.def.len().saturating_sub(1);
        for bytes in &definition.def[..ops] {
            let digest = OpDigest::of(bytes);
            if !self.metadata.contains_key(digest.as_str()) {
                let metadata = definition.metadata.get(digest.as_str()).cloned().unwrap_or_default();
                self.ops.push(Written::Embedded(bytes.clone()));
                self.metadata.insert(digest.as_str().to_string(), metadata);
            }
        }
        InputDigest::Embedded(root.into())
    }

    /// Gives `digest` the locations written to `locations_buf` from `from` on.
    fn locate(&mut self, digest: InputDigest, from: usize) {
        if !self.locations.contains_key(digest.as_str()) {
            self.locations.insert(digest.as_str().to_string(), Locations::default());
        }
        self.our_locations.push((digest, from..self.locations_buf.len()));
    }

    /// Pushes the digest and index of `output` onto the inputs being gathered.
    fn input(&mut self, output: &Output) {
        let digest = self.vertex(&output.vertex);
        self.inputs.push((digest, output.index));
    }

    /// Adds the op marshalled at `start..` of the buffer, with the metadata
    /// `metadata` writes, or takes it back out when identical bytes were already added.
    fn push(&mut self, start: usize, metadata: impl FnOnce(&mut Vec<u8>)) -> OpDigest {
        let digest = OpDigest::of(&self.buf[start..]);
        if self.metadata.contains_key(digest.as_str()) {
            self.buf.truncate(start);
        } else {
            let from = self.metadata_buf.len();
            metadata(&mut self.metadata_buf);
            self.our_metadata.push((InputDigest::Op(digest), from..self.metadata_buf.len()));
            self.metadata.insert(digest.as_str().to_string(), OpMetadata::default());
            self.ops.push(Written::Ours(start..self.buf.len()));
        }
        digest
    }
}

/// Sets each entry of `map` named in `written` to its slices of `buf`, in order.
fn fill_in<T>(map: &mut BTreeMap<String, Encoded<T>>, buf: Vec<u8>, written: &[(InputDigest, Range<usize>)]) {
    let buf = Bytes::from(buf);
    for (digest, range) in written {
        let Some(entry) = map.get_mut(digest.as_str()) else { continue };
        let slice = buf.slice(range.clone());
        *entry = if entry.as_bytes().is_empty() {
            Encoded::from_encoded(slice)
        } else {
            Encoded::from_encoded([&entry.as_bytes()[..], &slice[..]].concat().into())
        };
    }
}

/// The length of `inputs` as `pb::Op`'s repeated field 1.
fn inputs_len(inputs: &[(InputDigest, i64)]) -> usize {
    use prost::encoding::{encoded_len_varint, key_len};
    inputs
        .iter()
        .map(|input| {
            let body = input_body_len(input);
            key_len(1) + encoded_len_varint(body as u64) + body
        })
        .sum()
}

/// The length of one `pb::Input { digest, index }` (proto3 leaves a zero index out).
fn input_body_len((digest, index): &(InputDigest, i64)) -> usize {
    use prost::encoding::{encoded_len_varint, key_len};
    let digest = digest.as_str().len();
    let index = if *index == 0 { 0 } else { key_len(2) + encoded_len_varint(*index as u64) };
    key_len(1) + encoded_len_varint(digest as u64) + digest + index
}

/// `inputs` as `pb::Op`'s repeated field 1, as prost writes a `Vec<pb::Input>`,
/// without building one.
fn encode_inputs(inputs: &[(InputDigest, i64)], buf: &mut Vec<u8>) {
    use prost::encoding::{encode_key, encode_varint, WireType};
    for input in inputs {
        encode_key(1, WireType::LengthDelimited, buf);
        encode_varint(input_body_len(input) as u64, buf);
        let (digest, index) = input;
        let digest = digest.as_str();
        encode_key(1, WireType::LengthDelimited, buf);
        encode_varint(digest.len() as u64, buf);
        buf.extend_from_slice(digest.as_bytes());
        if *index != 0 {
            encode_key(2, WireType::Varint, buf);
            encode_varint(*index as u64, buf);
        }
    }
}

/// The bytes of `pb::Op { inputs, op, platform, constraints: empty }` exactly as
/// Go's deterministic marshal writes them, without copying the op into a message.
///
/// BuildKit re-marshals every op it receives that way and keys the vertex by the
/// digest of *those* bytes: ours must be identical, or the engine renames every
/// vertex and the definition's source map (keyed by our digests) finds nothing.
/// Go writes the `op` oneof after the plain fields (prost would write it by tag
/// number, between inputs and platform), and always sends (possibly empty) constraints.
fn encode_op(inputs: &[(InputDigest, i64)], op: &pb::op::Op, platform: Option<&Platform>, buf: &mut Vec<u8>) {
    use prost::encoding::message;
    let constraints = pb::WorkerConstraints::default();
    let len = inputs_len(inputs)
        + op.encoded_len()
        + platform.map_or(0, |p| platform_field_len(p, 10))
        + message::encoded_len(11, &constraints);
    buf.reserve(len);
    encode_inputs(inputs, buf);
    if let Some(p) = platform {
        encode_platform_field(p, 10, buf);
    }
    message::encode(11, &constraints, buf);
    op.encode(buf);
}

/// A platform's `pb::Platform` fields that are set (proto3 leaves empty strings out).
fn platform_strings(p: &Platform) -> [(u32, &str); 3] {
    [(1, p.architecture.as_str()), (2, p.os.as_str()), (3, p.variant.as_deref().unwrap_or(""))]
}

fn platform_body_len(p: &Platform) -> usize {
    use prost::encoding::{encoded_len_varint, key_len};
    platform_strings(p)
        .iter()
        .filter(|(_, v)| !v.is_empty())
        .map(|(tag, v)| key_len(*tag) + encoded_len_varint(v.len() as u64) + v.len())
        .sum()
}

fn platform_field_len(p: &Platform, tag: u32) -> usize {
    let body = platform_body_len(p);
    prost::encoding::key_len(tag) + prost::encoding::encoded_len_varint(body as u64) + body
}

/// `p` as the `pb::Platform` message field `tag`, written without building one.
fn encode_platform_field(p: &Platform, tag: u32, buf: &mut Vec<u8>) {
    use prost::encoding::{encode_key, encode_varint, WireType};
    encode_key(tag, WireType::LengthDelimited, buf);
    encode_varint(platform_body_len(p) as u64, buf);
    for (field, value) in platform_strings(p) {
        if !value.is_empty() {
            encode_key(field, WireType::LengthDelimited, buf);
            encode_varint(value.len() as u64, buf);
            buf.extend_from_slice(value.as_bytes());
        }
    }
}

/// Writes an op's metadata: its name and further description, whether to
/// ignore its cache, and the caps it needs (with those the metadata itself needs).
fn op_metadata(meta: &VertexMeta, ignore_cache: bool, buf: &mut Vec<u8>) {
    let ignore_cache = ignore_cache || meta.ignore_cache;
    let mut description: smallvec::SmallVec<[(&str, &str); 4]> = meta.description.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    if let Some(name) = &meta.name {
        description.push(("llb.customname", name));
    }
    let mut caps: smallvec::SmallVec<[&str; 8]> = meta.caps.iter().map(LlbCap::id).collect();
    if !description.is_empty() {
        caps.push(LlbCap::MetaDescription.id());
    }
    if ignore_cache {
        caps.push(LlbCap::MetaIgnoreCache.id());
    }
    encoded::encode_metadata(ignore_cache, &mut description, &mut caps, buf);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::llb::*;

    fn sample() -> State {
        let base = ImageSource { reference: "docker.io/library/debian:bookworm".into(), ..Default::default() }.state();
        let ctx = LocalSource { name: "context".into(), session_id: Some("s".into()), ..Default::default() }.state();
        let ran = base
            .env("A", "1")
            .run(Exec {
                args: vec!["/bin/sh".into(), "-c".into(), "echo hi".into()],
                mounts: vec![
                    Mount {
                        dest: "/root/.cache/pip".into(),
                        kind: MountKind::Cache { id: "pip".into(), sharing: CacheSharing::Locked, base: None },
                    },
                    Mount {
                        dest: "/src".into(),
                        kind: MountKind::Bind { source: ctx.clone(), selector: None, readonly: true, discard_writes: false },
                    },
                    Mount { dest: "/out".into(), kind: MountKind::Bind { source: State::scratch(), selector: None, readonly: false, discard_writes: false } },
                    Mount { dest: "/run/secrets/ca".into(), kind: MountKind::Secret { id: "ca".into(), uid: 0, gid: 0, mode: 0o400, optional: false } },
                ],
                ..Default::default()
            })
            .root();
        ran.file(
            FileChain::new()
                .mkdir("/app", 0o755, true, Some(Chown::ids(1000, 1000)))
                .copy(&ctx, "/", "/app", CopyOptions { chown: Some(Chown { user: UserRef::Name("app".into()), group: None }), ..Default::default() }),
            VertexMeta::named("copy"),
        )
    }

    #[test]
    fn embedded_definitions_keep_their_ops_digests_and_metadata() {
        let inner = definition(&sample(), false);
        let (inner_root, inner_index) = root_of(&inner).unwrap();
        let embedded = State::from_definition(inner.clone()).unwrap();
        let outer = definition(&embedded.file(FileChain::new().mkdir("/more", 0o755, true, None), VertexMeta::named("more")), false);
        for (bytes, digest) in inner.def[..inner.def.len() - 1].iter().map(|b| (b, digest_of(b))) {
            assert!(outer.def.contains(bytes), "inner op {digest} is in the outer definition");
            assert_eq!(outer.metadata[&digest], inner.metadata[&digest]);
        }
        // The new op reads the inner root; the outer return op points at the new op.
        let mkdir = pb::Op::decode(&outer.def[outer.def.len() - 2][..]).unwrap();
        assert_eq!(mkdir.inputs, vec![pb::Input { digest: inner_root, index: inner_index }]);
        assert_eq!(outer.def.len(), inner.def.len() + 1, "inner ops once, one new op, one return");
        assert!(State::from_definition(pb::Definition::default()).is_none());
    }

    #[test]
    fn located_ops_are_in_the_source_map() {
        let base = ImageSource { reference: "docker.io/library/debian:bookworm".into(), ..Default::default() }.state();
        let state = base.file(FileChain::new().mkdir("/app", 0o755, true, None), VertexMeta::named("mkdir").at(SourceLocation { line: 7, column: 3 }));
        let file = SourceFile { name: "app.hcl", text: "spec text", language: "HCL" };
        let def = definition_with_source(&state, false, Some(file));
        let source = def.source.expect("a source map");
        assert_eq!(source.infos.len(), 1);
        assert_eq!(source.infos[0].filename, "app.hcl");
        assert_eq!(source.infos[0].data, b"spec text");
        let mkdir = digest_of(&def.def[def.def.len() - 2]);
        let range = &source.locations[&mkdir].fields().locations[0].ranges[0];
        assert_eq!(range.start, Some(pb::Position { line: 7, character: 2 }));
        assert_eq!(source.locations.len(), 1, "only located ops are mapped");
        assert!(definition(&state, false).source.is_none(), "no map without a file");
    }

    #[test]
    fn same_state_marshals_to_identical_bytes() {
        let a = definition(&sample(), false).encode_to_vec();
        let b = definition(&sample(), false).encode_to_vec();
        assert_eq!(a, b);
    }

    #[test]
    fn digests_are_sha256_of_sent_bytes_and_return_op_is_last() {
        let def = definition(&sample(), false);
        for bytes in &def.def {
            assert!(def.metadata.contains_key(&digest_of(bytes)));
        }
        let last = pb::Op::decode(&def.def.last().unwrap()[..]).unwrap();
        assert!(last.op.is_none() && last.platform.is_none() && last.constraints.is_none());
        let (root, index) = root_of(&def).unwrap();
        assert_eq!(index, 0);
        let file_op = def.def.iter().find(|b| digest_of(b) == root).unwrap();
        let file_op = pb::Op::decode(&file_op[..]).unwrap();
        let Some(pb::op::Op::File(f)) = file_op.op else { panic!("root is a file op") };
        // Chained: the copy works on the mkdir's result, which is action 0 after 2 inputs.
        assert_eq!(f.actions[0].output, -1);
        assert_eq!(f.actions[1].input, file_op.inputs.len() as i64);
        assert_eq!(f.actions[1].output, 0);
        let Some(pb::file_action::Action::Copy(c)) = &f.actions[1].action else { panic!() };
        let Some(pb::user_opt::User::ByName(n)) = c.owner.as_ref().unwrap().user.as_ref().unwrap().user.as_ref() else { panic!() };
        // BuildKit looks names up in the op's base input; an earlier action's
        // output index is rejected by current engines (older ones panicked).
        assert_eq!(n.input, 0, "names resolve against the base input");
        assert_ne!(n.input, f.actions[1].input);
    }

    #[test]
    fn exec_mounts_sorted_with_sequential_outputs() {
        let def = definition(&sample(), false);
        let exec = def
            .def
            .iter()
            .filter_map(|b| match pb::Op::decode(&b[..]).unwrap().op {
                Some(pb::op::Op::Exec(e)) => Some(e),
                _ => None,
            })
            .next()
            .unwrap();
        let dests: Vec<_> = exec.mounts.iter().map(|m| (m.dest.as_str(), m.input, m.output)).collect();
        assert_eq!(
            dests,
            vec![("/", 0, 0), ("/out", -1, 1), ("/root/.cache/pip", -1, -1), ("/src", 1, -1), ("/run/secrets/ca", -1, -1)]
        );
        assert_eq!(exec.mounts[2].cache_opt.as_ref().unwrap().sharing, pb::CacheSharingOpt::Locked as i32);
        assert_eq!(exec.meta.unwrap().env, vec!["A=1"]);
    }

    #[test]
    fn shared_vertices_are_written_once() {
        let base = ImageSource { reference: "docker.io/library/debian:bookworm".into(), ..Default::default() }.state();
        let a = base.file(FileChain::new().mkdir("/a", 0o755, false, None), VertexMeta::default());
        let b = base.file(FileChain::new().mkdir("/b", 0o755, false, None), VertexMeta::default());
        let merged = merge(&[a, b], VertexMeta::default());
        let def = definition(&merged, false);
        // image, two mkdirs, merge, return
        assert_eq!(def.def.len(), 5);
    }

    #[test]
    fn ops_decode_to_what_was_built_and_put_the_oneof_last() {
        let def = definition(&sample(), false);
        for bytes in &def.def[..def.def.len() - 1] {
            let op = pb::Op::decode(&bytes[..]).unwrap();
            // Same fields as prost would write, in Go's order: the op oneof after constraints.
            let mut go_order = Vec::new();
            for input in &op.inputs {
                prost::encoding::message::encode(1, input, &mut go_order);
            }
            if let Some(p) = &op.platform {
                prost::encoding::message::encode(10, p, &mut go_order);
            }
            prost::encoding::message::encode(11, &pb::WorkerConstraints::default(), &mut go_order);
            op.op.as_ref().unwrap().encode(&mut go_order);
            assert_eq!(&go_order, bytes);
        }
    }

    /// Docker 28 re-marshals ops with Go's deterministic marshal and keys vertices
    /// by the digest of that: this op's digest is the one the engine reported for it.
    #[test]
    fn digests_are_the_ones_buildkit_computes() {
        let op = pb::op::Op::File(pb::FileOp {
            actions: vec![pb::FileAction {
                input: -1,
                secondary_input: -1,
                output: 0,
                action: Some(pb::file_action::Action::Mkdir(pb::FileActionMkDir { path: "/x".into(), mode: 0o755, make_parents: true, ..Default::default() })),
            }],
        });
        let mut bytes = Vec::new();
        encode_op(&[], &op, None, &mut bytes);
        assert_eq!(digest_of(&bytes), "sha256:75ff2fbc789c7848c39cd1a45bfe1546ff447baf5183950d7360d45048aa04fe");
    }

    #[test]
    fn inputs_encode_as_pb_inputs_do() {
        let ours = InputDigest::Op(OpDigest::of(b"op"));
        let inputs = [(ours.clone(), 0), (ours.clone(), 3), (InputDigest::Embedded("sha512:abc".into()), -1), (ours, i64::MAX)];
        let mut buf = Vec::new();
        encode_inputs(&inputs, &mut buf);
        let as_pb = inputs.iter().map(|(d, index)| pb::Input { digest: d.as_str().into(), index: *index }).collect();
        let theirs = pb::Op { inputs: as_pb, ..Default::default() }.encode_to_vec();
        assert_eq!(buf, theirs);
        assert_eq!(inputs_len(&inputs), theirs.len());
    }

    #[test]
    fn platforms_encode_as_pb_platform_does() {
        for p in [Platform::linux_amd64(), Platform::parse("linux/arm64/v8").unwrap(), Platform { os: String::new(), architecture: "x".into(), variant: Some(String::new()) }] {
            let mut ours = Vec::new();
            encode_platform_field(&p, 10, &mut ours);
            let mut theirs = Vec::new();
            prost::encoding::message::encode(10, &p.to_pb(), &mut theirs);
            assert_eq!(ours, theirs, "{p:?}");
            assert_eq!(platform_field_len(&p, 10), theirs.len());
        }
        assert_eq!(digest_of(b"x"), format!("sha256:{}", hex::encode(Sha256::digest(b"x"))));
    }

    #[test]
    fn scratch_is_an_empty_definition() {
        assert!(definition(&State::scratch(), false).def.is_empty());
    }

    #[test]
    fn merge_falls_back_to_copy_without_the_cap() {
        let base = ImageSource { reference: "docker.io/library/debian:bookworm".into(), ..Default::default() }.state();
        let ctx = LocalSource { name: "context".into(), ..Default::default() }.state();
        let old = Caps::from_ids(["file.base"]);
        let s = merge_or_copy(&base, &ctx, "/", "/app", CopyOptions::default(), &old, VertexMeta::default());
        assert!(matches!(s.output().unwrap().vertex.op(), Some(pb::op::Op::File(_))));
        let s = merge_or_copy(&base, &ctx, "/", "/app", CopyOptions::default(), &Caps::current(), VertexMeta::default());
        assert!(matches!(s.output().unwrap().vertex.op(), Some(pb::op::Op::Merge(_))));
    }
}
