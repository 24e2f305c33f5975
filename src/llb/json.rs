//! A definition as JSON for people: ops in order with their digests, inputs,
//! mounts and file actions. What `leaven llb` prints and golden tests compare.

use prost::Message;
use serde_json::{json, Map, Value};

use crate::proto::pb;

use super::marshal::digest_of;

/// Every op of `def` (the return op last, as `return`), in the order sent.
pub fn definition_json(def: &pb::Definition) -> Value {
    let mut ops = Vec::new();
    let mut ret = Value::Null;
    for (index, bytes) in def.def.iter().enumerate() {
        let digest = digest_of(bytes);
        let Ok(op) = pb::Op::decode(&bytes[..]) else {
            ops.push(json!({ "digest": digest, "error": "does not decode as an op" }));
            continue;
        };
        if index + 1 == def.def.len() && op.op.is_none() {
            ret = op.inputs.first().map(input_json).unwrap_or(Value::Null);
            continue;
        }
        let mut entry = Map::new();
        entry.insert("digest".into(), json!(digest));
        let meta = def.metadata.get(&digest).map(|m| m.fields());
        if let Some(meta) = &meta {
            if let Some(name) = meta.description.get("llb.customname") {
                entry.insert("name".into(), json!(name));
            }
        }
        if !op.inputs.is_empty() {
            entry.insert("inputs".into(), Value::Array(op.inputs.iter().map(input_json).collect()));
        }
        if let Some(p) = &op.platform {
            entry.insert("platform".into(), json!(format!("{}/{}", p.os, p.architecture)));
        }
        let (kind, body) = match &op.op {
            Some(pb::op::Op::Exec(e)) => ("exec", exec_json(e)),
            Some(pb::op::Op::Source(s)) => ("source", json!({ "identifier": s.identifier, "attrs": s.attrs })),
            Some(pb::op::Op::File(f)) => ("file", Value::Array(f.actions.iter().map(action_json).collect())),
            Some(pb::op::Op::Merge(m)) => ("merge", json!(m.inputs.iter().map(|i| i.input).collect::<Vec<_>>())),
            Some(pb::op::Op::Diff(d)) => (
                "diff",
                json!({ "lower": d.lower.as_ref().map(|l| l.input), "upper": d.upper.as_ref().map(|u| u.input) }),
            ),
            None => ("none", Value::Null),
        };
        entry.insert(kind.into(), body);
        if let Some(meta) = &meta {
            if meta.ignore_cache {
                entry.insert("ignore_cache".into(), json!(true));
            }
            entry.insert("caps".into(), json!(meta.caps.keys().collect::<Vec<_>>()));
        }
        ops.push(Value::Object(entry));
    }
    json!({ "ops": ops, "return": ret })
}

fn input_json(input: &pb::Input) -> Value {
    json!({ "digest": input.digest, "index": input.index })
}

fn octal(mode: i64) -> Value {
    if mode < 0 {
        Value::Null
    } else {
        json!(format!("0{mode:o}"))
    }
}

fn exec_json(exec: &pb::ExecOp) -> Value {
    let meta = exec.meta.clone().unwrap_or_default();
    let mounts: Vec<Value> = exec
        .mounts
        .iter()
        .map(|m| {
            let mut mount = json!({
                "dest": m.dest,
                "type": pb::MountType::try_from(m.mount_type).map(|t| t.as_str_name()).unwrap_or("?"),
                "input": m.input,
                "output": m.output,
            });
            if !m.selector.is_empty() {
                mount["selector"] = json!(m.selector);
            }
            if m.readonly {
                mount["readonly"] = json!(true);
            }
            if let Some(c) = &m.cache_opt {
                let sharing = pb::CacheSharingOpt::try_from(c.sharing).map(|s| s.as_str_name()).unwrap_or("?");
                mount["cache"] = json!({ "id": c.id, "sharing": sharing });
            }
            if let Some(s) = &m.secret_opt {
                mount["secret"] = json!({ "id": s.id, "uid": s.uid, "gid": s.gid, "mode": octal(s.mode.into()), "optional": s.optional });
            }
            if let Some(s) = &m.ssh_opt {
                mount["ssh"] = json!({ "id": s.id, "uid": s.uid, "gid": s.gid, "mode": octal(s.mode.into()), "optional": s.optional });
            }
            if let Some(t) = &m.tmpfs_opt {
                mount["tmpfs"] = json!({ "size": t.size });
            }
            mount
        })
        .collect();
    let mut value = json!({
        "args": meta.args,
        "env": meta.env,
        "cwd": meta.cwd,
        "user": meta.user,
        "mounts": mounts,
    });
    if exec.network != 0 {
        value["network"] = json!(pb::NetMode::try_from(exec.network).map(|n| n.as_str_name()).unwrap_or("?"));
    }
    if !exec.secretenv.is_empty() {
        value["secretenv"] =
            Value::Array(exec.secretenv.iter().map(|s| json!({ "name": s.name, "id": s.id, "optional": s.optional })).collect());
    }
    value
}

fn owner_json(owner: &Option<pb::ChownOpt>) -> Value {
    let user = |u: &Option<pb::UserOpt>| match u.as_ref().and_then(|u| u.user.as_ref()) {
        Some(pb::user_opt::User::ById(id)) => json!({ "id": id }),
        Some(pb::user_opt::User::ByName(n)) => json!({ "name": n.name, "input": n.input }),
        None => Value::Null,
    };
    match owner {
        Some(c) => json!({ "user": user(&c.user), "group": user(&c.group) }),
        None => Value::Null,
    }
}

fn action_json(action: &pb::FileAction) -> Value {
    use pb::file_action::Action;
    let mut value = json!({ "input": action.input, "secondary_input": action.secondary_input, "output": action.output });
    let (kind, body) = match &action.action {
        Some(Action::Copy(c)) => (
            "copy",
            json!({
                "src": c.src, "dest": c.dest, "owner": owner_json(&c.owner), "mode": octal(c.mode.into()),
                "follow_symlink": c.follow_symlink, "dir_copy_contents": c.dir_copy_contents,
                "create_dest_path": c.create_dest_path, "allow_wildcard": c.allow_wildcard,
                "allow_empty_wildcard": c.allow_empty_wildcard, "timestamp": c.timestamp,
                "include": c.include_patterns, "exclude": c.exclude_patterns,
            }),
        ),
        Some(Action::Mkdir(d)) => (
            "mkdir",
            json!({ "path": d.path, "mode": octal(d.mode.into()), "parents": d.make_parents, "owner": owner_json(&d.owner) }),
        ),
        Some(Action::Mkfile(f)) => (
            "mkfile",
            json!({ "path": f.path, "mode": octal(f.mode.into()), "data": String::from_utf8_lossy(&f.data), "owner": owner_json(&f.owner) }),
        ),
        Some(Action::Rm(r)) => ("rm", json!({ "path": r.path, "allow_not_found": r.allow_not_found, "allow_wildcard": r.allow_wildcard })),
        Some(Action::Symlink(s)) => ("symlink", json!({ "oldpath": s.oldpath, "newpath": s.newpath })),
        None => ("none", Value::Null),
    };
    value[kind] = body;
    value
}
