//! `--progress=rawjson`: each status update as one line of JSON, the way Go's
//! `encoding/json` writes BuildKit's `client.SolveStatus` (`client/graph.go`):
//! fields in struct order, `omitempty` ones left out when empty, bytes in
//! base64, times in RFC 3339 with nanoseconds, `<`, `>` and `&` escaped.

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use prost_types::Timestamp;
use serde_json::{Map, Value};

use crate::proto::control::{StatusResponse, Vertex, VertexLog, VertexStatus, VertexWarning};
use crate::llb::encoded::OpMetadata;
use crate::proto::pb::{Definition, Location, Position, ProgressGroup, Range, Source, SourceInfo};

use super::time::UnixNanos;

/// One update as a line without its line end; `None` when a timestamp lies
/// outside what Go can encode (Go's encoder then writes nothing either).
pub(crate) fn encode(status: &StatusResponse) -> Option<String> {
    let mut object = Fields::default();
    object.array("vertexes", status.vertexes.iter().map(vertex).collect::<Option<_>>()?);
    object.array("statuses", status.statuses.iter().map(vertex_status).collect::<Option<_>>()?);
    object.array("logs", status.logs.iter().map(log).collect::<Option<_>>()?);
    object.array("warnings", status.warnings.iter().map(warning).collect());
    let text = serde_json::to_string(&object.into_value()).ok()?;
    Some(crate::go_json::escape_like_go(&text))
}

/// An object under construction, with Go's `omitempty` helpers.
#[derive(Default)]
struct Fields(Map<String, Value>);

impl Fields {
    fn always(&mut self, key: &str, value: Value) {
        self.0.insert(key.to_string(), value);
    }

    fn text(&mut self, key: &str, value: &str) {
        if !value.is_empty() {
            self.always(key, Value::from(value));
        }
    }

    fn number(&mut self, key: &str, value: i64) {
        if value != 0 {
            self.always(key, Value::from(value));
        }
    }

    fn flag(&mut self, key: &str, value: bool) {
        if value {
            self.always(key, Value::from(true));
        }
    }

    fn bytes(&mut self, key: &str, value: &[u8]) {
        if !value.is_empty() {
            self.always(key, base64(value));
        }
    }

    fn object(&mut self, key: &str, value: Option<Value>) {
        if let Some(value) = value {
            self.always(key, value);
        }
    }

    fn time(&mut self, key: &str, value: Option<&Timestamp>) -> Option<()> {
        if let Some(ts) = value {
            self.always(key, time(ts)?);
        }
        Some(())
    }

    /// A slice, left out when empty.
    fn array(&mut self, key: &str, values: Vec<Value>) {
        if !values.is_empty() {
            self.always(key, Value::Array(values));
        }
    }

    /// A map: left out when empty; Go writes map keys sorted, as a `BTreeMap` iterates.
    fn map<'a, V: 'a>(&mut self, key: &str, entries: impl ExactSizeIterator<Item = (&'a String, V)>, encode: impl Fn(V) -> Value) {
        if entries.len() != 0 {
            self.always(key, Value::Object(entries.map(|(k, v)| (k.clone(), encode(v))).collect()));
        }
    }

    fn into_value(self) -> Value {
        Value::Object(self.0)
    }
}

fn base64(bytes: &[u8]) -> Value {
    Value::from(BASE64.encode(bytes))
}

fn time(ts: &Timestamp) -> Option<Value> {
    UnixNanos::from_proto(ts).rfc3339_nano().map(Value::from)
}

/// Status and log times are plain `time.Time` in Go: a missing one is written as the epoch.
fn required_time(ts: Option<&Timestamp>) -> Option<Value> {
    UnixNanos::from_proto_or_epoch(ts).rfc3339_nano().map(Value::from)
}

fn vertex(v: &Vertex) -> Option<Value> {
    let mut f = Fields::default();
    f.text("digest", &v.digest);
    f.array("inputs", v.inputs.iter().map(|input| Value::from(input.as_str())).collect());
    f.text("name", &v.name);
    f.time("started", v.started.as_ref())?;
    f.time("completed", v.completed.as_ref())?;
    f.flag("cached", v.cached);
    f.text("error", &v.error);
    f.object("progressGroup", v.progress_group.as_ref().map(progress_group));
    Some(f.into_value())
}

fn progress_group(group: &ProgressGroup) -> Value {
    let mut f = Fields::default();
    f.text("id", &group.id);
    f.text("name", &group.name);
    f.flag("weak", group.weak);
    f.into_value()
}

fn vertex_status(s: &VertexStatus) -> Option<Value> {
    let mut f = Fields::default();
    f.always("id", Value::from(s.id.as_str()));
    f.text("vertex", &s.vertex);
    f.text("name", &s.name);
    f.number("total", s.total);
    f.always("current", Value::from(s.current));
    f.always("timestamp", required_time(s.timestamp.as_ref())?);
    f.time("started", s.started.as_ref())?;
    f.time("completed", s.completed.as_ref())?;
    Some(f.into_value())
}

fn log(l: &VertexLog) -> Option<Value> {
    let mut f = Fields::default();
    f.text("vertex", &l.vertex);
    f.number("stream", l.stream);
    // Not omitempty: a nil byte slice is written as null.
    f.always("data", if l.msg.is_empty() { Value::Null } else { base64(&l.msg) });
    f.always("timestamp", required_time(l.timestamp.as_ref())?);
    Some(f.into_value())
}

fn warning(w: &VertexWarning) -> Value {
    let mut f = Fields::default();
    f.text("vertex", &w.vertex);
    f.number("level", w.level);
    f.bytes("short", &w.short);
    f.array("detail", w.detail.iter().map(|line| base64(line)).collect());
    f.text("url", &w.url);
    f.object("sourceInfo", w.info.as_ref().map(source_info));
    f.array("range", w.ranges.iter().map(range).collect());
    f.into_value()
}

fn range(r: &Range) -> Value {
    let mut f = Fields::default();
    f.object("start", r.start.as_ref().map(position));
    f.object("end", r.end.as_ref().map(position));
    f.into_value()
}

fn position(p: &Position) -> Value {
    let mut f = Fields::default();
    f.number("line", i64::from(p.line));
    f.number("character", i64::from(p.character));
    f.into_value()
}

fn source_info(info: &SourceInfo) -> Value {
    let mut f = Fields::default();
    f.text("filename", &info.filename);
    f.bytes("data", &info.data);
    f.object("definition", info.definition.as_ref().map(definition));
    f.text("language", &info.language);
    f.into_value()
}

fn definition(d: &Definition) -> Value {
    let mut f = Fields::default();
    f.array("def", d.def.iter().map(|op| base64(op)).collect());
    f.map("metadata", d.metadata.iter(), op_metadata);
    f.object("Source", d.source.as_ref().map(source));
    f.into_value()
}

fn op_metadata(m: &OpMetadata) -> Value {
    let m = m.fields();
    let mut f = Fields::default();
    f.flag("ignore_cache", m.ignore_cache);
    f.map("description", m.description.iter(), |text| Value::from(text.as_str()));
    f.object(
        "export_cache",
        m.export_cache.as_ref().map(|cache| {
            let mut f = Fields::default();
            f.flag("Value", cache.value);
            f.into_value()
        }),
    );
    f.map("caps", m.caps.iter(), |&on| Value::from(on));
    f.object("progress_group", m.progress_group.as_ref().map(progress_group));
    f.into_value()
}

fn source(s: &Source) -> Value {
    let mut f = Fields::default();
    f.map("locations", s.locations.iter(), |locations| {
        let mut f = Fields::default();
        f.array("locations", locations.fields().locations.iter().map(location).collect());
        f.into_value()
    });
    f.array("infos", s.infos.iter().map(source_info).collect());
    f.into_value()
}

fn location(l: &Location) -> Value {
    let mut f = Fields::default();
    f.number("sourceIndex", i64::from(l.source_index));
    f.array("ranges", l.ranges.iter().map(range).collect());
    f.into_value()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(seconds: i64, nanos: i32) -> Option<Timestamp> {
        Some(Timestamp { seconds, nanos })
    }

    #[test]
    fn an_empty_update_is_an_empty_object() {
        assert_eq!(encode(&StatusResponse::default()).as_deref(), Some("{}"));
    }

    #[test]
    fn vertexes_statuses_and_logs_are_shaped_like_go() {
        let status = StatusResponse {
            vertexes: vec![
                Vertex {
                    digest: "sha256:a".into(),
                    inputs: vec!["sha256:b".into()],
                    name: "[web 1/2] RUN a > b && c".into(),
                    started: at(1_700_000_000, 500_000_000),
                    completed: at(1_700_000_001, 0),
                    cached: false,
                    error: String::new(),
                    progress_group: Some(ProgressGroup { id: "g1".into(), name: "[web] load".into(), weak: false }),
                },
                Vertex { digest: "sha256:b".into(), cached: true, ..Default::default() },
            ],
            statuses: vec![VertexStatus {
                id: "sha256:layer".into(),
                vertex: "sha256:a".into(),
                current: 0,
                total: 2048,
                timestamp: None,
                started: at(1_700_000_000, 123_456_789),
                ..Default::default()
            }],
            logs: vec![
                VertexLog { vertex: "sha256:a".into(), timestamp: at(1_700_000_000, 600_000_000), stream: 1, msg: b"hi\n".to_vec() },
                VertexLog { vertex: "sha256:a".into(), ..Default::default() },
            ],
            warnings: vec![],
        };
        let expected = concat!(
            r#"{"vertexes":[{"digest":"sha256:a","inputs":["sha256:b"],"name":"[web 1/2] RUN a \u003e b \u0026\u0026 c","#,
            r#""started":"2023-11-14T22:13:20.5Z","completed":"2023-11-14T22:13:21Z","progressGroup":{"id":"g1","name":"[web] load"}},"#,
            r#"{"digest":"sha256:b","cached":true}],"#,
            r#""statuses":[{"id":"sha256:layer","vertex":"sha256:a","total":2048,"current":0,"timestamp":"1970-01-01T00:00:00Z","#,
            r#""started":"2023-11-14T22:13:20.123456789Z"}],"#,
            r#""logs":[{"vertex":"sha256:a","stream":1,"data":"aGkK","timestamp":"2023-11-14T22:13:20.6Z"},"#,
            r#"{"vertex":"sha256:a","data":null,"timestamp":"1970-01-01T00:00:00Z"}]}"#,
        );
        assert_eq!(encode(&status).as_deref(), Some(expected));
    }

    #[test]
    fn warnings_carry_source_and_ranges() {
        let status = StatusResponse {
            warnings: vec![VertexWarning {
                vertex: "sha256:a".into(),
                level: 1,
                short: b"Lint: x".to_vec(),
                detail: vec![b"why".to_vec()],
                url: "https://docs.docker.com/go/dockerfile/rule/x/".into(),
                info: Some(SourceInfo {
                    filename: "Dockerfile".into(),
                    data: b"FROM a".to_vec(),
                    definition: Some(Definition {
                        def: vec![bytes::Bytes::from_static(b"op")],
                        metadata: [("sha256:op".to_string(), OpMetadata::from(&crate::llb::encoded::MetadataFields { ignore_cache: true, ..Default::default() }))].into(),
                        source: None,
                    }),
                    language: "Dockerfile".into(),
                }),
                ranges: vec![Range {
                    start: Some(Position { line: 1, character: 0 }),
                    end: Some(Position { line: 1, character: 6 }),
                }],
            }],
            ..Default::default()
        };
        let expected = concat!(
            r#"{"warnings":[{"vertex":"sha256:a","level":1,"short":"TGludDogeA==","detail":["d2h5"],"#,
            r#""url":"https://docs.docker.com/go/dockerfile/rule/x/","sourceInfo":{"filename":"Dockerfile","data":"RlJPTSBh","#,
            r#""definition":{"def":["b3A="],"metadata":{"sha256:op":{"ignore_cache":true}}},"language":"Dockerfile"},"#,
            r#""range":[{"start":{"line":1},"end":{"line":1,"character":6}}]}]}"#,
        );
        assert_eq!(encode(&status).as_deref(), Some(expected));
    }

    #[test]
    fn unencodable_times_drop_the_update() {
        let status = StatusResponse {
            vertexes: vec![Vertex { digest: "sha256:a".into(), started: at(i64::MAX, 0), ..Default::default() }],
            ..Default::default()
        };
        assert_eq!(encode(&status), None);
    }
}
