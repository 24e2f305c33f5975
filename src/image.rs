//! The OCI/Docker image config: read from base images, written for the result.
//!
//! Fields we do not interpret (rootfs, history, and anything newer) are kept as they
//! came, so a base image's config passes through unchanged where we do not touch it.
//! They are shared between copies of a config until one changes them: every stage
//! built on a base starts from a copy of its config, and a base's history is the
//! biggest part of it.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde::{Deserialize, Serialize, Serializer};
use serde_json::Value;

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
    pub rest: BTreeMap<String, Value>,
}

/// Uninterpreted top-level fields, in key order. Copies share the map and its
/// values until one of them inserts or removes a field; then only the map is
/// copied, never the values (a history of many entries stays shared).
#[derive(Clone, Default, PartialEq)]
pub struct Fields(Arc<BTreeMap<String, Arc<Value>>>);

impl Fields {
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.0.get(key).map(|v| &**v)
    }

    pub fn contains_key(&self, key: &str) -> bool {
        self.0.contains_key(key)
    }

    pub fn insert(&mut self, key: String, value: Value) -> Option<Value> {
        Arc::make_mut(&mut self.0).insert(key, Arc::new(value)).map(Arc::unwrap_or_clone)
    }

    /// A field to change in place, inserted from `default` when absent; only
    /// this value is copied out of what other configs share.
    pub fn get_mut_or_insert_with(&mut self, key: &str, default: impl FnOnce() -> Value) -> &mut Value {
        let map = Arc::make_mut(&mut self.0);
        if !map.contains_key(key) {
            map.insert(key.to_string(), Arc::new(default()));
        }
        Arc::make_mut(map.get_mut(key).expect("inserted above"))
    }

    /// Removes a field; a config without it is left as it is (still shared).
    pub fn remove(&mut self, key: &str) -> Option<Value> {
        if !self.0.contains_key(key) {
            return None;
        }
        Arc::make_mut(&mut self.0).remove(key).map(Arc::unwrap_or_clone)
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &Value)> {
        self.0.iter().map(|(k, v)| (k.as_str(), &**v))
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Fields {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

impl Serialize for Fields {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_map(self.iter())
    }
}

impl FromIterator<(String, Value)> for Fields {
    fn from_iter<I: IntoIterator<Item = (String, Value)>>(items: I) -> Fields {
        Fields(Arc::new(items.into_iter().map(|(k, v)| (k, Arc::new(v))).collect()))
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
                let mut rest = BTreeMap::new();
                while let Some(key) = next_key(&mut map, field)? {
                    match key {
                        Key::Field(ImageField::Architecture) => once(&mut map, &mut architecture, "architecture")?,
                        Key::Field(ImageField::Os) => once(&mut map, &mut os, "os")?,
                        Key::Field(ImageField::Variant) => once(&mut map, &mut variant, "variant")?,
                        Key::Field(ImageField::Config) => once(&mut map, &mut config, "config")?,
                        Key::Other(name) => {
                            rest.insert(name.into_owned(), Arc::new(map.next_value::<Value>()?));
                        }
                    }
                }
                Ok(ImageConfig {
                    architecture: architecture.unwrap_or_default(),
                    os: os.unwrap_or_default(),
                    variant: variant.unwrap_or_default(),
                    config: config.unwrap_or_default(),
                    rest: Fields(Arc::new(rest)),
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
                let mut rest = BTreeMap::new();
                while let Some(key) = next_key(&mut map, field)? {
                    match key {
                        Key::Field(RunField::User) => once(&mut map, &mut user, "User")?,
                        Key::Field(RunField::Env) => once(&mut map, &mut env, "Env")?,
                        Key::Field(RunField::Entrypoint) => once(&mut map, &mut entrypoint, "Entrypoint")?,
                        Key::Field(RunField::Cmd) => once(&mut map, &mut cmd, "Cmd")?,
                        Key::Field(RunField::WorkingDir) => once(&mut map, &mut working_dir, "WorkingDir")?,
                        Key::Field(RunField::Labels) => once(&mut map, &mut labels, "Labels")?,
                        Key::Other(name) => {
                            rest.insert(name.into_owned(), map.next_value::<Value>()?);
                        }
                    }
                }
                Ok(RunConfig {
                    user: user.unwrap_or_default(),
                    env: env.unwrap_or_default(),
                    entrypoint: entrypoint.unwrap_or_default(),
                    cmd: cmd.unwrap_or_default(),
                    working_dir: working_dir.unwrap_or_default(),
                    labels: labels.unwrap_or_default(),
                    rest,
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
        serde_json::to_vec(self).expect("an image config always serializes")
    }

    /// The config's environment as pairs, in order, borrowed from it (an entry
    /// without `=` is a name with an empty value).
    pub fn env_pairs(&self) -> impl Iterator<Item = (&str, &str)> {
        self.config.env.iter().map(|kv| kv.split_once('=').unwrap_or((kv.as_str(), "")))
    }

    pub fn set_env<K: AsRef<str>, V: AsRef<str>>(&mut self, pairs: &[(K, V)]) {
        self.config.env = pairs.iter().map(|(k, v)| format!("{}={}", k.as_ref(), v.as_ref())).collect();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
        assert!(copy.rest.remove("absent").is_none());
        assert!(Arc::ptr_eq(&copy.rest.0, &base.rest.0), "removing nothing copies nothing");
        assert_eq!(copy.rest.remove("created"), Some(Value::from("x")));
        assert!(Arc::ptr_eq(&copy.rest.0["history"], &base.rest.0["history"]), "values stay shared");
        assert_eq!(base.rest.get("created"), Some(&Value::from("x")));
        assert_eq!(copy.rest.len(), 1);
    }
}
