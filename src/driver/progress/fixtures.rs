//! Status messages for tests, on a clock in milliseconds from a round second.
//! The local clock is taken to match the daemon's.

use prost_types::Timestamp;

use crate::proto::control::{StatusResponse, Vertex, VertexLog, VertexStatus, VertexWarning};

use super::time::UnixNanos;

const ORIGIN_SECONDS: i64 = 1_700_000_000;

pub(crate) fn at(ms: i64) -> Option<Timestamp> {
    Some(Timestamp { seconds: ORIGIN_SECONDS + ms.div_euclid(1000), nanos: (ms.rem_euclid(1000) * 1_000_000) as i32 })
}

pub(crate) fn local(ms: i64) -> UnixNanos {
    at(ms).as_ref().map(UnixNanos::from_proto).unwrap_or_default()
}

pub(crate) fn started(digest: &str, name: &str, start: i64) -> Vertex {
    Vertex { digest: digest.into(), name: name.into(), started: at(start), ..Default::default() }
}

pub(crate) fn done(digest: &str, name: &str, start: i64, stop: i64) -> Vertex {
    Vertex { completed: at(stop), ..started(digest, name, start) }
}

pub(crate) fn cached(digest: &str, name: &str, when: i64) -> Vertex {
    Vertex { cached: true, ..done(digest, name, when, when) }
}

pub(crate) fn failed(digest: &str, name: &str, start: i64, stop: i64, error: &str) -> Vertex {
    Vertex { error: error.into(), ..done(digest, name, start, stop) }
}

pub(crate) fn log(digest: &str, when: i64, text: &str) -> VertexLog {
    VertexLog { vertex: digest.into(), timestamp: at(when), stream: 1, msg: text.as_bytes().to_vec() }
}

pub(crate) fn transfer(digest: &str, id: &str, (current, total): (i64, i64), when: i64, start: i64, stop: Option<i64>) -> VertexStatus {
    VertexStatus {
        id: id.into(),
        vertex: digest.into(),
        current,
        total,
        timestamp: at(when),
        started: at(start),
        completed: stop.and_then(at),
        ..Default::default()
    }
}

pub(crate) fn warning(digest: &str, short: &str) -> VertexWarning {
    VertexWarning { vertex: digest.into(), level: 1, short: short.as_bytes().to_vec(), ..Default::default() }
}

pub(crate) fn vertexes(vertexes: Vec<Vertex>) -> StatusResponse {
    StatusResponse { vertexes, ..Default::default() }
}

pub(crate) fn logs(logs: Vec<VertexLog>) -> StatusResponse {
    StatusResponse { logs, ..Default::default() }
}

pub(crate) fn statuses(statuses: Vec<VertexStatus>) -> StatusResponse {
    StatusResponse { statuses, ..Default::default() }
}
