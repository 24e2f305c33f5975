//! `--metadata-file`: what each target's solve answered, in buildx's shape,
//! written only when the whole run succeeded, and atomically.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;

use base64::Engine as _;
use serde_json::{Map, Value};

use super::TargetReport;

/// One exporter response value as buildx decodes it: `result.json` is raw JSON;
/// otherwise base64 that holds a JSON object (or a list of objects) becomes that
/// JSON, and anything else stays the string it was.
fn decode(key: &str, value: &str) -> Value {
    if key == "result.json" {
        return serde_json::from_str(value).unwrap_or_else(|_| Value::String(value.to_string()));
    }
    let decoded = base64::engine::general_purpose::STANDARD.decode(value).ok().and_then(|b| serde_json::from_slice::<Value>(&b).ok());
    match decoded {
        Some(Value::Object(o)) if !o.is_empty() => Value::Object(o),
        Some(Value::Array(a)) if !a.is_empty() && a.iter().all(Value::is_object) => Value::Array(a),
        _ => Value::String(value.to_string()),
    }
}

/// The metadata JSON of a run: `{ "<target>": { <response keys>, "buildx.build.ref": … } }`;
/// a target split over nodes has the joined index's `containerimage.digest`
/// (as buildx writes it) and `leaven.nodes`, each platform's node.
pub fn document(targets: &[TargetReport], builder: &str) -> Value {
    let mut top = Map::new();
    for t in targets {
        let mut entry: BTreeMap<String, Value> = t.exporter_response.iter().map(|(k, v)| (k.clone(), decode(k, v))).collect();
        if !t.platform_nodes.is_empty() {
            // A split target: where each platform was built (leaven's own key).
            let nodes: Map<String, Value> = t.platform_nodes.iter().map(|(p, n)| (p.clone(), Value::String(n.clone()))).collect();
            entry.insert("leaven.nodes".into(), Value::Object(nodes));
        }
        if !t.build_ref.is_empty() {
            entry.insert("buildx.build.ref".into(), Value::String(format!("{builder}/{}", t.build_ref)));
        }
        top.insert(t.name.clone(), Value::Object(entry.into_iter().collect()));
    }
    Value::Object(top)
}

/// Writes `bytes` to a temporary file beside `path`, then renames it into place:
/// a reader never sees half a file, and a failure leaves the old one.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "file".into());
    let temp = path.with_file_name(format!(".{name}.leaven-{}.tmp", std::process::id()));
    let written = (|| {
        let mut file = std::fs::File::create(&temp)?;
        file.write_all(bytes)?;
        file.sync_all()
    })();
    match written.and_then(|()| std::fs::rename(&temp, path)) {
        Ok(()) => Ok(()),
        Err(e) => {
            let _ = std::fs::remove_file(&temp);
            Err(e)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::driver::{TargetEnd, TargetReport};

    #[test]
    fn responses_decode_as_buildx_does() {
        let descriptor = base64::engine::general_purpose::STANDARD.encode(r#"{"mediaType":"m","digest":"sha256:1","size":2}"#);
        let report = TargetReport {
            name: "web".into(),
            end: TargetEnd::Built(Default::default()),
            duration: Default::default(),
            exporter_response: BTreeMap::from([
                ("containerimage.descriptor".to_string(), descriptor),
                ("containerimage.digest".to_string(), "sha256:abc".to_string()),
                ("image.name".to_string(), "web:1".to_string()),
            ]),
            build_ref: "r1".into(),
            node: None,
            platform_nodes: vec![("linux/arm64".into(), "b".into())],
        };
        let doc = document(&[report], "default/default");
        assert_eq!(doc["web"]["containerimage.descriptor"]["digest"], "sha256:1");
        assert_eq!(doc["web"]["containerimage.digest"], "sha256:abc");
        assert_eq!(doc["web"]["image.name"], "web:1");
        assert_eq!(doc["web"]["buildx.build.ref"], "default/default/r1");
        assert_eq!(doc["web"]["leaven.nodes"]["linux/arm64"], "b");
    }

    #[test]
    fn atomic_writes_leave_no_temporary_file() {
        let dir = std::env::temp_dir().join(format!("leaven-meta-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("m.json");
        write_atomically(&path, b"{}").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"{}");
        assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 1);
        assert!(write_atomically(&dir.join("missing/m.json"), b"{}").is_err());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
