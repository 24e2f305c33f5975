//! The OCI/Docker image config: read from base images, written for the result.
//!
//! Fields we do not interpret (rootfs, history, and anything newer) are kept as they
//! came, as their JSON text, so a base image's config passes through unchanged where
//! we do not touch it. They are shared between copies of a config until one changes
//! them: every stage built on a base starts from a copy of its config, and a base's
//! history is the biggest part of it.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde::{Deserialize, Serialize, Serializer};
use serde_json::value::RawValue;

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ImageConfig {
    #[serde(skip_serializing_if = "String::is_empty")]
    pub architecture: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub os: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
    pub config: RunConfig,
    #[serde(flatten)]
    pub rest: Fields,
}

/// What `docker run` uses: the part of the config a spec sets.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct RunConfig {
    #[serde(skip_serializing_if = "String::is_empty")]
    pub user: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub env: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub entrypoint: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cmd: Option<Vec<String>>,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub working_dir: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub labels: Option<BTreeMap<String, String>>,
    #[serde(flatten)]
    pub rest: Fields,
}

/// Uninterpreted fields, in key order, each kept as its JSON text: one
/// allocation per field, where a parsed tree takes one per string, array and
/// object in it. The text is written back as it is; a change parses only what
/// it changes, or (a history growing) appends to the text.
///
/// The text is compact: whitespace between tokens is dropped when a field is
/// read, so a config a registry pretty-printed still gives compact output, as
/// it did when it was parsed and written again. What is inside strings (and so
/// every escape) stays as it came, as do numbers and repeated keys of nested
/// objects (Go's JSON reader, the engine's, takes the last, as serde_json's
/// did when these fields were parsed).
///
/// Copies share the map until one of them inserts or removes a field; then the
/// map and its texts are copied (one allocation each, however big the text).
#[derive(Clone, Default)]
pub struct Fields(Option<Arc<BTreeMap<String, Box<RawValue>>>>);

impl Fields {
    fn map(&self) -> Option<&BTreeMap<String, Box<RawValue>>> {
        self.0.as_deref()
    }

    fn map_mut(&mut self) -> &mut BTreeMap<String, Box<RawValue>> {
        Arc::make_mut(self.0.get_or_insert_with(Default::default))
    }

    /// A field's JSON text.
    pub fn get(&self, key: &str) -> Option<&RawValue> {
        self.map()?.get(key).map(|v| &**v)
    }

    pub fn contains_key(&self, key: &str) -> bool {
        self.get(key).is_some()
    }

    /// Sets a field to `value`, written as compact JSON.
    pub fn insert(&mut self, key: &str, value: &impl Serialize) {
        let text = serde_json::value::to_raw_value(value).expect("a field's value serializes to JSON");
        self.map_mut().insert(key.to_string(), text);
    }

    /// Removes a field; a config without it is left as it is (still shared).
    pub fn remove(&mut self, key: &str) -> Option<Box<RawValue>> {
        if !self.contains_key(key) {
            return None;
        }
        self.map_mut().remove(key)
    }

    /// Appends `items` to the array `key`, which is created when absent; a
    /// field that is not an array is left as it is. The text is extended, not
    /// parsed: the entries already there stay as they came.
    pub fn extend_array<T: Serialize>(&mut self, key: &str, items: &[T]) {
        let old = self.get(key).map_or("[]", RawValue::get);
        let Some(entries) = old.strip_prefix('[').and_then(|a| a.strip_suffix(']')) else { return };
        let mut text = Vec::with_capacity(old.len() + 128 * items.len());
        text.push(b'[');
        text.extend_from_slice(entries.as_bytes());
        for (i, item) in items.iter().enumerate() {
            if i > 0 || !entries.is_empty() {
                text.push(b',');
            }
            serde_json::to_writer(&mut text, item).expect("an entry serializes to JSON");
        }
        text.push(b']');
        let text = String::from_utf8(text).expect("JSON text is UTF-8");
        let text = RawValue::from_string(text).expect("an array with entries appended is JSON");
        self.map_mut().insert(key.to_string(), text);
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &RawValue)> {
        self.map().into_iter().flatten().map(|(k, v)| (k.as_str(), &**v))
    }

    pub fn len(&self) -> usize {
        self.map().map_or(0, BTreeMap::len)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl PartialEq for Fields {
    fn eq(&self, other: &Fields) -> bool {
        self.len() == other.len() && self.iter().zip(other.iter()).all(|((k, v), (l, w))| k == l && v.get() == w.get())
    }
}

impl fmt::Debug for Fields {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.iter().map(|(k, v)| (k, v.get()))).finish()
    }
}

impl Serialize for Fields {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_map(self.iter())
    }
}

/// Reads the fields of an object that the struct does not name.
#[derive(Default)]
struct FieldsReader(BTreeMap<String, Box<RawValue>>);

impl FieldsReader {
    fn read<'de, A: MapAccess<'de>>(&mut self, map: &mut A, key: std::borrow::Cow<'de, str>) -> Result<(), A::Error> {
        let text = compact(map.next_value::<Box<RawValue>>()?);
        self.0.insert(key.into_owned(), text);
        Ok(())
    }

    fn finish(self) -> Fields {
        Fields(Some(self.0).filter(|m| !m.is_empty()).map(Arc::new))
    }
}

/// `raw` without whitespace between its tokens; itself when it has none (the
/// usual case: registries and the engine write compact JSON). `raw` is JSON
/// serde_json has read, so a string's end is its first unescaped quote.
fn compact(raw: Box<RawValue>) -> Box<RawValue> {
    let text = raw.get();
    let bytes = text.as_bytes();
    let mut out: Option<String> = None;
    let (mut copied, mut i) = (0, 0);
    while i < bytes.len() {
        match bytes[i] {
            b'"' => {
                // Past the string: it ends at its first quote not escaped.
                i += 1;
                while let Some(at) = bytes.get(i..).and_then(|rest| memchr::memchr2(b'"', b'\\', rest)) {
                    i += at + 1;
                    if bytes[i - 1] == b'"' {
                        break;
                    }
                    i += 1;
                }
            }
            b' ' | b'\t' | b'\n' | b'\r' => {
                let out = out.get_or_insert_with(|| String::with_capacity(text.len()));
                out.push_str(&text[copied..i]);
                while i < bytes.len() && matches!(bytes[i], b' ' | b'\t' | b'\n' | b'\r') {
                    i += 1;
                }
                copied = i;
            }
            _ => i += 1,
        }
    }
    match out {
        None => raw,
        Some(mut out) => {
            out.push_str(&text[copied..]);
            RawValue::from_string(out).expect("JSON without the whitespace between its tokens is JSON")
        }
    }
}

/// A config's key: one of the struct's fields, or another to keep as it came.
/// Read from the JSON text without a copy when it has no escapes.
enum Key<'de, F> {
    Field(F),
    Other(std::borrow::Cow<'de, str>),
}

struct KeyVisitor<F>(fn(&str) -> Option<F>);

impl<'de, F> Visitor<'de> for KeyVisitor<F> {
    type Value = Key<'de, F>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a field name")
    }

    fn visit_borrowed_str<E: de::Error>(self, key: &'de str) -> Result<Self::Value, E> {
        Ok(self.0(key).map(Key::Field).unwrap_or(Key::Other(key.into())))
    }

    fn visit_str<E: de::Error>(self, key: &str) -> Result<Self::Value, E> {
        Ok(self.0(key).map(Key::Field).unwrap_or_else(|| Key::Other(key.to_string().into())))
    }
}

fn next_key<'de, A: MapAccess<'de>, F>(map: &mut A, field: fn(&str) -> Option<F>) -> Result<Option<Key<'de, F>>, A::Error> {
    struct Seed<F>(fn(&str) -> Option<F>);
    impl<'de, F> de::DeserializeSeed<'de> for Seed<F> {
        type Value = Key<'de, F>;
        fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
            d.deserialize_str(KeyVisitor(self.0))
        }
    }
    map.next_key_seed(Seed(field))
}

/// Sets a field once; a second value for it is an error, as serde's derive has it.
fn once<'de, A: MapAccess<'de>, T: Deserialize<'de>>(map: &mut A, slot: &mut Option<T>, name: &'static str) -> Result<(), A::Error> {
    if slot.is_some() {
        return Err(de::Error::duplicate_field(name));
    }
    *slot = Some(map.next_value()?);
    Ok(())
}

#[derive(Clone, Copy)]
enum ImageField {
    Architecture,
    Os,
    Variant,
    Config,
}

// Written out rather than derived: serde's `flatten` reads the whole object into
// an intermediate tree first and then converts it, twice the work and the allocations.
impl<'de> Deserialize<'de> for ImageConfig {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<ImageConfig, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = ImageConfig;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an image config object")
            }

            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<ImageConfig, A::Error> {
                let field = |key: &str| match key {
                    "architecture" => Some(ImageField::Architecture),
                    "os" => Some(ImageField::Os),
                    "variant" => Some(ImageField::Variant),
                    "config" => Some(ImageField::Config),
                    _ => None,
                };
                let (mut architecture, mut os, mut variant, mut config) = (None, None, None, None);
                let mut rest = FieldsReader::default();
                while let Some(key) = next_key(&mut map, field)? {
                    match key {
                        Key::Field(ImageField::Architecture) => once(&mut map, &mut architecture, "architecture")?,
                        Key::Field(ImageField::Os) => once(&mut map, &mut os, "os")?,
                        Key::Field(ImageField::Variant) => once(&mut map, &mut variant, "variant")?,
                        Key::Field(ImageField::Config) => once(&mut map, &mut config, "config")?,
                        Key::Other(name) => rest.read(&mut map, name)?,
                    }
                }
                Ok(ImageConfig {
                    architecture: architecture.unwrap_or_default(),
                    os: os.unwrap_or_default(),
                    variant: variant.unwrap_or_default(),
                    config: config.unwrap_or_default(),
                    rest: rest.finish(),
                })
            }
        }
        deserializer.deserialize_map(V)
    }
}

#[derive(Clone, Copy)]
enum RunField {
    User,
    Env,
    Entrypoint,
    Cmd,
    WorkingDir,
    Labels,
}

impl<'de> Deserialize<'de> for RunConfig {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<RunConfig, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = RunConfig;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a run config object")
            }

            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<RunConfig, A::Error> {
                let field = |key: &str| match key {
                    "User" => Some(RunField::User),
                    "Env" => Some(RunField::Env),
                    "Entrypoint" => Some(RunField::Entrypoint),
                    "Cmd" => Some(RunField::Cmd),
                    "WorkingDir" => Some(RunField::WorkingDir),
                    "Labels" => Some(RunField::Labels),
                    _ => None,
                };
                let (mut user, mut env, mut entrypoint, mut cmd, mut working_dir, mut labels) = (None, None, None, None, None, None);
                let mut rest = FieldsReader::default();
                while let Some(key) = next_key(&mut map, field)? {
                    match key {
                        Key::Field(RunField::User) => once(&mut map, &mut user, "User")?,
                        Key::Field(RunField::Env) => once(&mut map, &mut env, "Env")?,
                        Key::Field(RunField::Entrypoint) => once(&mut map, &mut entrypoint, "Entrypoint")?,
                        Key::Field(RunField::Cmd) => once(&mut map, &mut cmd, "Cmd")?,
                        Key::Field(RunField::WorkingDir) => once(&mut map, &mut working_dir, "WorkingDir")?,
                        Key::Field(RunField::Labels) => once(&mut map, &mut labels, "Labels")?,
                        Key::Other(name) => rest.read(&mut map, name)?,
                    }
                }
                Ok(RunConfig {
                    user: user.unwrap_or_default(),
                    env: env.unwrap_or_default(),
                    entrypoint: entrypoint.unwrap_or_default(),
                    cmd: cmd.unwrap_or_default(),
                    working_dir: working_dir.unwrap_or_default(),
                    labels: labels.unwrap_or_default(),
                    rest: rest.finish(),
                })
            }
        }
        deserializer.deserialize_map(V)
    }
}

/// The PATH the engine gives a process when the image sets none.
pub const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

impl ImageConfig {
    pub fn parse(json: &[u8]) -> Result<ImageConfig, serde_json::Error> {
        serde_json::from_slice(json)
    }

    pub fn to_json(&self) -> Vec<u8> {
        // Room for the kept fields' text and the rest, so that the buffer is
        // allocated once rather than grown several times.
        let kept: usize = self.rest.iter().chain(self.config.rest.iter()).map(|(k, v)| k.len() + v.get().len() + 4).sum();
        let env: usize = self.config.env.iter().map(|e| e.len() + 3).sum();
        let mut out = Vec::with_capacity(kept + env + 512);
        serde_json::to_writer(&mut out, self).expect("an image config always serializes");
        out
    }

    /// The config's environment as pairs, in order, borrowed from it (an entry
    /// without `=` is a name with an empty value).
    pub fn env_pairs(&self) -> impl Iterator<Item = (&str, &str)> {
        self.config.env.iter().map(|kv| kv.split_once('=').unwrap_or((kv.as_str(), "")))
    }

    /// Sets the environment to `pairs`, in order; an entry the config already
    /// has (one a base set, in a copy of its config) is kept, not written again.
    pub fn set_env<K: AsRef<str>, V: AsRef<str>>(&mut self, pairs: &[(K, V)]) {
        let mut old = std::mem::take(&mut self.config.env);
        self.config.env = pairs
            .iter()
            .map(|(k, v)| {
                let (k, v) = (k.as_ref(), v.as_ref());
                let same = |e: &String| e.len() == k.len() + 1 + v.len() && e.starts_with(k) && e[k.len()..].starts_with('=') && e.ends_with(v);
                match old.iter_mut().find(|e| same(e)) {
                    Some(kept) => std::mem::take(kept),
                    None => format!("{k}={v}"),
                }
            })
            .collect();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    #[test]
    fn unknown_fields_pass_through() {
        let json = br#"{"architecture":"amd64","os":"linux","config":{"Env":["A=1"],"Shell":["/bin/bash"]},"rootfs":{"type":"layers"}}"#;
        let cfg = ImageConfig::parse(json).unwrap();
        assert_eq!(cfg.env_pairs().collect::<Vec<_>>(), [("A", "1")]);
        let back: Value = serde_json::from_slice(&cfg.to_json()).unwrap();
        assert_eq!(back["config"]["Shell"][0], "/bin/bash");
        assert_eq!(back["rootfs"]["type"], "layers");
    }

    #[test]
    fn reads_like_serde_derive_and_writes_fields_in_key_order() {
        let json = br#"{"os":"linux","zeta":1,"alpha":{"b":2,"a":[null,true]},"config":{"Entrypoint":null,"Labels":null,"Env":["A=1"],"OnBuild":null,"Shell":["/bin/bash"]},"variant":null,"architecture":"arm64"}"#;
        let cfg = ImageConfig::parse(json).unwrap();
        assert_eq!((cfg.config.entrypoint.clone(), cfg.config.labels.clone(), cfg.variant.clone()), (None, None, None));
        assert_eq!(
            String::from_utf8(cfg.to_json()).unwrap(),
            r#"{"architecture":"arm64","os":"linux","config":{"Env":["A=1"],"OnBuild":null,"Shell":["/bin/bash"]},"alpha":{"b":2,"a":[null,true]},"zeta":1}"#
        );
        for bad in [&br#"{"config":{"Env":null}}"#[..], br#"{"architecture":null}"#, br#"[]"#, br#"{"os":"a","os":"b"}"#] {
            assert!(ImageConfig::parse(bad).is_err(), "{}", String::from_utf8_lossy(bad));
        }
    }

    #[test]
    fn copies_share_fields_until_one_changes() {
        let base = ImageConfig::parse(br#"{"created":"x","history":[{"created_by":"a"}]}"#).unwrap();
        let mut copy = base.clone();
        let shared = |a: &ImageConfig, b: &ImageConfig| Arc::ptr_eq(a.rest.0.as_ref().unwrap(), b.rest.0.as_ref().unwrap());
        assert!(shared(&copy, &base), "a copy shares the fields");
        assert!(copy.rest.remove("absent").is_none());
        assert!(shared(&copy, &base), "removing nothing copies nothing");
        assert_eq!(copy.rest.remove("created").as_deref().map(RawValue::get), Some(r#""x""#));
        assert_eq!(base.rest.get("created").map(RawValue::get), Some(r#""x""#));
        assert_eq!((copy.rest.len(), base.rest.len()), (1, 2));
        assert!(ImageConfig::parse(br#"{"config":{}}"#).unwrap().config.rest.0.is_none(), "no fields, no map");
    }

    #[test]
    fn a_pretty_printed_config_is_written_compact_with_its_history_intact() {
        let json = br#"{
  "architecture": "amd64",
  "config": {
    "Env": [ "A=1" ],
    "Shell": [ "/bin/sh", "-c" ]
  },
  "history": [
    { "created_by": "RUN echo \"a  b\"\t# {\"x\" : 1}", "empty_layer": true },
    {"comment" :"x y" },
    { }
  ],
  "rootfs": {
    "type": "layers",
    "diff_ids": [ "sha256:1", "sha256:2" ]
  },
  "zeta": [ 1.50, -2e3, null, true ]
}
"#;
        let cfg = ImageConfig::parse(json).unwrap();
        assert_eq!(
            String::from_utf8(cfg.to_json()).unwrap(),
            r#"{"architecture":"amd64","config":{"Env":["A=1"],"Shell":["/bin/sh","-c"]},"history":[{"created_by":"RUN echo \"a  b\"\t# {\"x\" : 1}","empty_layer":true},{"comment":"x y"},{}],"rootfs":{"type":"layers","diff_ids":["sha256:1","sha256:2"]},"zeta":[1.50,-2e3,null,true]}"#
        );
    }

    #[test]
    fn escapes_in_kept_fields_come_out_as_they_came() {
        let history = r#"[{"created_by":"RUN a 2\u003e/dev/null \u0026\u0026 b \/ \\ \" \u00e9 é \ud83d\ude00","comment":"\n"}]"#;
        let json = format!(r#"{{"config":{{"Healthcheck":{{"Test":["CMD","a\tb"]}}}},"history":{history}}}"#);
        let cfg = ImageConfig::parse(json.as_bytes()).unwrap();
        let out = String::from_utf8(cfg.to_json()).unwrap();
        assert_eq!(out, format!(r#"{{"config":{{"Healthcheck":{{"Test":["CMD","a\tb"]}}}},"history":{history}}}"#));
        let back: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(back["history"][0]["created_by"], "RUN a 2>/dev/null && b / \\ \" é é 😀");
    }

    #[test]
    fn bad_json_in_a_kept_field_is_an_error() {
        for bad in [&br#"{"history":[1,]}"#[..], br#"{"rootfs":{"a" 1}}"#, b"{\"x\":\"\xff\"}", b"{\"x\":\"a\nb\"}", br#"{"config":{"Shell":[}}"#] {
            assert!(ImageConfig::parse(bad).is_err(), "{}", String::from_utf8_lossy(bad));
        }
    }
}
