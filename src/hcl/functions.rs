//! The function library buildx gives bake files (go-cty's stdlib plus bake's
//! additions), usable from specs too. `try`, `can` and `convert` need their
//! arguments unevaluated and live in the evaluator.

use std::collections::{HashMap, HashSet};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use base64::Engine as _;
use chrono::{DateTime, Datelike, FixedOffset, TimeZone, Timelike, Utc};
use super::syntax::BinaryOp;
use hcl::{Map, Value};
use regex::Regex;
use sha2::Digest as _;

use super::limits::{Budget, Exceeded, MAX_BCRYPT_COST, MAX_ELEMENTS, MAX_FORMAT_WIDTH, MAX_STRING_BYTES};
use super::value::{self, equal, equality_key, format_number, number, set_of, sorted_object, to_bool, to_f64, to_string, type_name};

type Result<T> = std::result::Result<T, String>;

/// Every function `call` knows, with cty's parameter names and, for those that
/// take any number of trailing arguments, the name of that last parameter.
/// The evaluator checks calls against it (as HCL does) before calling, so the
/// functions below may assume their fixed arguments are present.
pub const SIGNATURES: &[(&str, &[&str], Option<&str>)] = &[
    ("absolute", &["num"], None),
    ("add", &["a", "b"], None),
    ("and", &["a", "b"], None),
    ("base64decode", &["str"], None),
    ("base64encode", &["str"], None),
    ("basename", &["path"], None),
    ("bcrypt", &["str"], Some("cost")),
    ("byteslen", &["buf"], None),
    ("bytesslice", &["buf", "offset", "length"], None),
    ("ceil", &["num"], None),
    ("chomp", &["str"], None),
    ("chunklist", &["list", "size"], None),
    ("cidrhost", &["prefix", "hostnum"], None),
    ("cidrnetmask", &["prefix"], None),
    ("cidrsubnet", &["prefix", "newbits", "netnum"], None),
    ("cidrsubnets", &["prefix"], Some("newbits")),
    ("coalesce", &[], Some("vals")),
    ("coalescelist", &[], Some("vals")),
    ("compact", &["list"], None),
    ("concat", &[], Some("seqs")),
    ("contains", &["list", "value"], None),
    ("csvdecode", &["str"], None),
    ("dirname", &["path"], None),
    ("distinct", &["list"], None),
    ("divide", &["a", "b"], None),
    ("element", &["list", "index"], None),
    ("equal", &["a", "b"], None),
    ("flatten", &["list"], None),
    ("floor", &["num"], None),
    ("format", &["format"], Some("args")),
    ("formatdate", &["format", "time"], None),
    ("formattimestamp", &["format", "time"], None),
    ("formatlist", &["format"], Some("args")),
    ("greaterthan", &["a", "b"], None),
    ("greaterthanorequalto", &["a", "b"], None),
    ("hasindex", &["collection", "key"], None),
    ("homedir", &[], None),
    ("indent", &["spaces", "str"], None),
    ("index", &["collection", "key"], None),
    ("indexof", &["list", "value"], None),
    ("int", &["num"], None),
    ("join", &["separator"], Some("lists")),
    ("jsondecode", &["str"], None),
    ("jsonencode", &["val"], None),
    ("keys", &["inputMap"], None),
    ("length", &["collection"], None),
    ("lessthan", &["a", "b"], None),
    ("lessthanorequalto", &["a", "b"], None),
    ("log", &["num", "base"], None),
    ("lookup", &["inputMap", "key"], Some("default")),
    ("lower", &["str"], None),
    ("max", &[], Some("numbers")),
    ("md5", &["str"], None),
    ("merge", &[], Some("maps")),
    ("min", &[], Some("numbers")),
    ("modulo", &["a", "b"], None),
    ("multiply", &["a", "b"], None),
    ("negate", &["num"], None),
    ("not", &["val"], None),
    ("notequal", &["a", "b"], None),
    ("or", &["a", "b"], None),
    ("parseint", &["number", "base"], None),
    ("pow", &["num", "power"], None),
    ("range", &[], Some("params")),
    ("regex_replace", &["str", "substr", "replace"], None),
    ("regex", &["pattern", "string"], None),
    ("regexall", &["pattern", "string"], None),
    ("replace", &["str", "substr", "replace"], None),
    ("reverse", &["str"], None),
    ("reverselist", &["list"], None),
    ("rsadecrypt", &["ciphertext", "privatekey"], None),
    ("sanitize", &["in"], None),
    ("semvercmp", &["version", "constraint"], None),
    ("sethaselement", &["set", "elem"], None),
    ("setintersection", &["first_set"], Some("other_sets")),
    ("setproduct", &[], Some("sets")),
    ("setsubtract", &["a", "b"], None),
    ("setsymmetricdifference", &["first_set"], Some("other_sets")),
    ("setunion", &["first_set"], Some("other_sets")),
    ("sha1", &["str"], None),
    ("sha256", &["str"], None),
    ("sha512", &["str"], None),
    ("signum", &["num"], None),
    ("slice", &["list", "start_index", "end_index"], None),
    ("sort", &["list"], None),
    ("split", &["separator", "str"], None),
    ("strlen", &["str"], None),
    ("substr", &["str", "offset", "length"], None),
    ("subtract", &["a", "b"], None),
    ("timeadd", &["timestamp", "duration"], None),
    ("timestamp", &[], None),
    ("title", &["str"], None),
    ("trim", &["str", "cutset"], None),
    ("trimprefix", &["str", "prefix"], None),
    ("trimspace", &["str"], None),
    ("trimsuffix", &["str", "suffix"], None),
    ("unixtimestampparse", &["unix_timestamp"], None),
    ("upper", &["str"], None),
    ("urlencode", &["str"], None),
    ("uuidv4", &[], None),
    ("uuidv5", &["namespace", "name"], None),
    ("values", &["mapping"], None),
    ("zipmap", &["keys", "values"], None),
];

/// A library function's parameters: the fixed ones and the variadic one.
pub fn signature(name: &str) -> Option<(&'static [&'static str], Option<&'static str>)> {
    SIGNATURES.iter().find(|(n, _, _)| *n == name).map(|&(_, params, variadic)| (params, variadic))
}

/// Calls a library function; `None` when there is no function of that name.
/// Errors are the reason only; the caller adds the position. Functions whose
/// result can be much larger than their arguments check its size before making
/// it and pay `budget` for the work; the caller checks every result.
pub fn call(name: &str, args: &[Value], budget: &Budget) -> Option<Result<Value>> {
    let (params, variadic) = signature(name)?;
    if let Some(wrong) = Arity::check(name, params, variadic.is_some(), args.len()) {
        return Some(Err(wrong.to_string()));
    }
    Some(run(name, args, budget))
}

/// A call with the wrong number of arguments, as HCL words it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Arity {
    #[error("Too many function arguments; Function \"{name}\" expects only {expected} argument(s).")]
    TooMany { name: String, expected: usize },
    #[error("Not enough function arguments; Function \"{name}\" expects {expected} argument(s). Missing value for \"{missing}\".")]
    TooFew { name: String, expected: usize, missing: String },
}

impl Arity {
    /// What is wrong with `given` arguments to a function of these parameters, if anything.
    pub fn check(name: &str, params: &[impl AsRef<str>], variadic: bool, given: usize) -> Option<Arity> {
        let expected = params.len();
        if given < expected {
            let missing = params[given].as_ref().to_string();
            return Some(Arity::TooFew { name: name.to_string(), expected, missing });
        }
        (given > expected && !variadic).then(|| Arity::TooMany { name: name.to_string(), expected })
    }
}

fn run(name: &str, args: &[Value], budget: &Budget) -> Result<Value> {
    let a = Args { name, args };
    match name {
        // Strings.
        "lower" => a.str(0).map(|s| s.to_lowercase().into()),
        "upper" => a.str(0).map(|s| s.to_uppercase().into()),
        "title" => a.str(0).map(|s| title(&s).into()),
        "trimspace" => a.str(0).map(|s| s.trim().into()),
        "trim" => {
            let cutset = a.str(1)?;
            Ok(a.str(0)?.trim_matches(|c| cutset.contains(c)).into())
        },
        "trimprefix" => {
            let s = a.str(0)?;
            let p = a.str(1)?;
            Ok(s.strip_prefix(p.as_str()).unwrap_or(&s).into())
        },
        "trimsuffix" => {
            let s = a.str(0)?;
            let p = a.str(1)?;
            Ok(s.strip_suffix(p.as_str()).unwrap_or(&s).into())
        },
        "chomp" => a.str(0).map(|s| s.trim_end_matches(['\n', '\r']).into()),
        "indent" => {
            let n = a.int(0)?.max(0).unsigned_abs();
            let s = a.str(1)?;
            let lines = s.matches('\n').count() as u64;
            sized(s.len() as u64 + lines.saturating_mul(n))?;
            Ok(s.replace('\n', &format!("\n{}", " ".repeat(n as usize))).into())
        },
        "strlen" => a.str(0).map(|s| Value::from(s.chars().count() as u64)),
        "substr" => substr(&a.str(0)?, a.int(1)?, a.int(2)?).map(Value::from),
        "reverse" => a.str(0).map(|s| s.chars().rev().collect::<String>().into()),
        "replace" => {
            let (s, old, new) = (a.str(0)?, a.str(1)?, a.str(2)?);
            // An empty `old` matches between every character, and once more.
            let matches = if old.is_empty() { s.chars().count() as u64 + 1 } else { s.matches(old.as_str()).count() as u64 };
            sized((s.len() as u64).saturating_add(matches.saturating_mul(new.len() as u64)))?;
            Ok(s.replace(&old, &new).into())
        },
        "regex_replace" => regex_replace(&a.str(0)?, &regex(&a.str(1)?)?, &a.str(2)?).map(Value::from),
        "regex" => {
            let re = regex(&a.str(0)?)?;
            let s = a.str(1)?;
            let caps = re.captures(&s).ok_or("pattern did not match any part of the given string")?;
            Ok(captures(&re, &caps))
        },
        "regexall" => {
            let re = regex(&a.str(0)?)?;
            let s = a.str(1)?;
            Ok(Value::Array(re.captures_iter(&s).map(|c| captures(&re, &c)).collect()))
        },
        "split" => {
            let sep = a.str(0)?;
            let s = a.str(1)?;
            if s.is_empty() {
                return Ok(Value::Array(vec![Value::from("")]));
            }
            Ok(Value::Array(s.split(sep.as_str()).map(Value::from).collect()))
        },
        "join" => join(&a),
        "format" => a.str(0).and_then(|f| format(&f, &args[1..])).map(Value::from),
        "formatlist" => formatlist(&a, budget),
        "urlencode" => a.str(0).map(|s| urlencode(&s).into()),
        "sanitize" => a.str(0).map(|s| {
            s.chars().map(|c| if c.is_ascii_alphanumeric() || c == '_' || c == '-' { c } else { '_' }).collect::<String>().into()
        }),
        "base64encode" => a.str(0).map(|s| base64::engine::general_purpose::STANDARD.encode(s).into()),
        "base64decode" => a.str(0).and_then(|s| {
            let bytes = base64::engine::general_purpose::STANDARD.decode(s.as_bytes()).map_err(|e| format!("failed to decode base64 data: {e}"))?;
            String::from_utf8(bytes).map(Value::from).map_err(|_| "the result of decoding the provided string is not valid UTF-8".into())
        }),
        // cty's bytes type has no literal, so buildx can never call these successfully.
        "byteslen" | "bytesslice" => Err("Invalid value for \"buf\" parameter: bytes required".into()),
        "md5" => a.str(0).map(|s| hex::encode(md5::Md5::digest(s.as_bytes())).into()),
        "sha1" => a.str(0).map(|s| hex::encode(sha1::Sha1::digest(s.as_bytes())).into()),
        "sha256" => a.str(0).map(|s| hex::encode(sha2::Sha256::digest(s.as_bytes())).into()),
        "sha512" => a.str(0).map(|s| hex::encode(sha2::Sha512::digest(s.as_bytes())).into()),
        "uuidv4" => Ok(uuid::Uuid::new_v4().to_string().into()),
        "uuidv5" => {
            let ns = match a.str(0)?.as_str() {
                "dns" => uuid::Uuid::NAMESPACE_DNS,
                "url" => uuid::Uuid::NAMESPACE_URL,
                "oid" => uuid::Uuid::NAMESPACE_OID,
                "x500" => uuid::Uuid::NAMESPACE_X500,
                other => uuid::Uuid::parse_str(other).map_err(|e| format!("uuidv5() doesn't support namespace {other} ({e})"))?,
            };
            Ok(uuid::Uuid::new_v5(&ns, a.str(1)?.as_bytes()).to_string().into())
        },
        "basename" => a.str(0).map(|s| basename(&s).into()),
        "dirname" => a.str(0).map(|s| dirname(&s).into()),
        "homedir" => Ok(std::env::var("HOME").unwrap_or_default().into()),
        "semvercmp" => super::semver::semvercmp(&a.str(0)?, &a.str(1)?).map(Value::Bool),
        "csvdecode" => a.str(0).and_then(|s| csvdecode(&s)),
        "jsonencode" => serde_json::to_string(&json(&args[0])).map(Value::from).map_err(|e| e.to_string()),
        "jsondecode" => a.str(0).and_then(|s| {
            let j: serde_json::Value = serde_json::from_str(&s).map_err(|e| e.to_string())?;
            Ok(from_json(j))
        }),

        // Numbers.
        "absolute" => a.num(0).map(|n| number(n.abs())),
        "ceil" => a.num(0).map(|n| number(n.ceil())),
        "floor" => a.num(0).map(|n| number(n.floor())),
        "signum" => a.num(0).map(|n| number(if n > 0.0 { 1.0 } else if n < 0.0 { -1.0 } else { 0.0 })),
        "int" => a.num(0).map(|n| number(n.trunc())),
        "negate" => a.num(0).map(|n| number(-n)),
        "log" => Ok(number(a.num(0)?.ln() / a.num(1)?.ln())),
        "pow" => Ok(number(a.num(0)?.powf(a.num(1)?))),
        "max" | "min" => {
            if args.is_empty() {
                Err("must pass at least one number".into())
            } else {
                args.iter().map(to_f64).collect::<Result<Vec<_>>>().map(|ns| {
                    number(ns.into_iter().reduce(|x, y| if (name == "max") == (y > x) { y } else { x }).unwrap_or(0.0))
                })
            }
        }
        "parseint" => {
            let s = a.str(0)?;
            let base = a.int(1)?;
            if !(2..=62).contains(&base) {
                return Err(format!("invalid base {base}"));
            }
            parseint(&s, base as u32).ok_or_else(|| format!("cannot parse {s:?} as a base {base} integer"))
        },
        "add" | "subtract" | "multiply" | "divide" | "modulo" => {
            let op = match name {
                "add" => BinaryOp::Plus,
                "subtract" => BinaryOp::Minus,
                "multiply" => BinaryOp::Mul,
                "divide" => BinaryOp::Div,
                _ => BinaryOp::Mod,
            };
            arithmetic(op, &value::to_number(&args[0])?, &value::to_number(&args[1])?)
        },
        "greaterthan" | "greaterthanorequalto" | "lessthan" | "lessthanorequalto" => {
            let (x, y) = (a.num(0)?, a.num(1)?);
            Ok(Value::Bool(match name {
                "greaterthan" => x > y,
                "greaterthanorequalto" => x >= y,
                "lessthan" => x < y,
                _ => x <= y,
            }))
        },
        "range" => range(&a),

        // Logic.
        "and" => Ok(Value::Bool(to_bool(&args[0])? && to_bool(&args[1])?)),
        "or" => Ok(Value::Bool(to_bool(&args[0])? || to_bool(&args[1])?)),
        "not" => Ok(Value::Bool(!to_bool(&args[0])?)),
        "equal" => Ok(Value::Bool(equal(&args[0], &args[1]))),
        "notequal" => Ok(Value::Bool(!equal(&args[0], &args[1]))),
        "coalesce" => args.iter().find(|v| !v.is_null()).cloned().ok_or_else(|| "no non-null arguments".into()),
        "coalescelist" => args
            .iter()
            .find(|v| matches!(v, Value::Array(items) if !items.is_empty()))
            .cloned()
            .ok_or_else(|| "no non-empty list arguments".into()),

        // Collections.
        // cty's length takes collections only (strings have strlen).
        "length" => match &args[0] {
            Value::Array(items) => Ok(Value::from(items.len() as u64)),
            other => Err(format!("collection must be a list, a map or a tuple, not {}", type_name(other))),
        },
        "concat" => args
            .iter()
            .try_fold(Vec::new(), |mut all, v| match v {
                Value::Array(items) => {
                    all.extend(items.iter().cloned());
                    Ok(all)
                }
                other => Err(format!("all arguments must be lists or tuples; got {}", type_name(other))),
            })
            .map(Value::Array),
        "flatten" => a.list(0).and_then(|items| {
            let mut out = Vec::new();
            flatten(items, &mut out)?;
            Ok(Value::Array(out))
        }),
        "contains" => Ok(Value::Bool(a.list(0)?.iter().any(|v| equal(v, &args[1])))),
        "distinct" => a.list(0).map(|items| Value::Array(value::distinct(items.clone()))),
        "compact" => a.list(0).map(|items| {
            Value::Array(items.iter().filter(|v| !matches!(v, Value::Null) && v.as_str() != Some("")).cloned().collect())
        }),
        "chunklist" => {
            let items = a.list(0)?;
            let size = a.int(1)?;
            if size < 0 {
                return Err("the size argument must be positive".into());
            }
            if size == 0 {
                return Ok(Value::Array(vec![Value::Array(items.clone())]));
            }
            Ok(Value::Array(items.chunks(size as usize).map(|c| Value::Array(c.to_vec())).collect()))
        },
        "element" => {
            let items = a.list(0)?;
            if items.is_empty() {
                return Err("cannot use element function with an empty list".into());
            }
            let i = a.int(1)?;
            if i < 0 {
                return Err("cannot use element function with a negative index".into());
            }
            Ok(items[i as usize % items.len()].clone())
        },
        "index" => index(&args[0], &args[1]),
        "hasindex" => Ok(Value::Bool(index(&args[0], &args[1]).is_ok())),
        "indexof" => {
            let items = a.list(0)?;
            items.iter().position(|v| equal(v, &args[1])).map(|i| Value::from(i as u64)).ok_or_else(|| "item not found".into())
        },
        "keys" => a.map(0).map(|m| {
            let mut keys: Vec<_> = m.keys().cloned().collect();
            keys.sort();
            Value::Array(keys.into_iter().map(Value::String).collect())
        }),
        "values" => a.map(0).map(|m| {
            let mut entries: Vec<_> = m.iter().collect();
            entries.sort_by(|x, y| x.0.cmp(y.0));
            Value::Array(entries.into_iter().map(|(_, v)| v.clone()).collect())
        }),
        "lookup" => {
            if !(2..=3).contains(&args.len()) {
                Err(format!("{name}: expected 2 or 3 arguments, got {}", args.len()))
            } else {
                a.map(0).and_then(|m| {
                    let key = a.str(1)?;
                    match (m.get(&key), args.get(2)) {
                        (Some(v), _) => Ok(v.clone()),
                        (None, Some(default)) => Ok(default.clone()),
                        (None, None) => Err(format!("the given key \"{key}\" does not exist in the map")),
                    }
                })
            }
        }
        "merge" => args
            .iter()
            .try_fold(Map::new(), |mut all, v| match v {
                Value::Object(m) => {
                    all.extend(m.iter().map(|(k, v)| (k.clone(), v.clone())));
                    Ok(all)
                }
                Value::Null => Ok(all),
                other => Err(format!("arguments must be maps or objects, got {}", type_name(other))),
            })
            .map(sorted_object),
        "zipmap" => {
            let keys = a.list(0)?;
            let values = a.list(1)?;
            if keys.len() != values.len() {
                return Err("number of keys and values must match".into());
            }
            let map = keys.iter().map(to_string).zip(values.iter().cloned()).map(|(k, v)| k.map(|k| (k, v))).collect::<Result<Map<_, _>>>()?;
            Ok(sorted_object(map))
        },
        "reverselist" => a.list(0).map(|items| Value::Array(items.iter().rev().cloned().collect())),
        "slice" => {
            let items = a.list(0)?;
            let (start, end) = (a.int(1)?, a.int(2)?);
            if start < 0 || end < start || end as usize > items.len() {
                return Err("the start and end indices are out of range".into());
            }
            Ok(Value::Array(items[start as usize..end as usize].to_vec()))
        },
        "sort" => a.list(0).and_then(|items| {
            let mut strings = items.iter().map(to_string).collect::<Result<Vec<_>>>()?;
            strings.sort();
            Ok(Value::Array(strings.into_iter().map(Value::String).collect()))
        }),
        "sethaselement" => Ok(Value::Bool(a.list(0)?.iter().any(|v| equal(v, &args[1])))),
        "setunion" => sets(&a).map(|s| Value::Array(set_of(s.concat()))),
        "setintersection" => sets(&a).map(|s| {
            let keyed: Vec<HashSet<String>> = s.iter().map(|set| set.iter().map(equality_key).collect()).collect();
            let first = s.first().cloned().unwrap_or_default();
            Value::Array(set_of(first.into_iter().filter(|v| keyed.iter().all(|set| set.contains(&equality_key(v)))).collect()))
        }),
        "setsubtract" => {
            let s = sets(&a)?;
            let taken: HashSet<String> = s[1].iter().map(equality_key).collect();
            Ok(Value::Array(set_of(s[0].iter().filter(|v| !taken.contains(&equality_key(v))).cloned().collect())))
        },
        "setsymmetricdifference" => sets(&a).map(|s| {
            // In how many of the sets each value is; those in an odd number stay.
            let mut count: HashMap<String, usize> = HashMap::new();
            for set in &s {
                for key in set.iter().map(equality_key).collect::<HashSet<_>>() {
                    *count.entry(key).or_default() += 1;
                }
            }
            let all = s.concat();
            Value::Array(set_of(all.into_iter().filter(|v| count[&equality_key(v)] % 2 == 1).collect()))
        }),
        "setproduct" => sets(&a).and_then(|s| {
            let rows = s.iter().try_fold(1usize, |n, set| n.checked_mul(set.len()).filter(|&n| n <= MAX_ELEMENTS));
            let rows = rows.ok_or_else(|| Exceeded::Elements.to_string())?;
            budget.charge((rows * s.len()) as u64).map_err(|e| e.to_string())?;
            let product = s.iter().fold(vec![Vec::new()], |acc: Vec<Vec<Value>>, set| {
                acc.iter().flat_map(|prefix| set.iter().map(move |v| [prefix.clone(), vec![v.clone()]].concat())).collect()
            });
            Ok(Value::Array(product.into_iter().map(Value::Array).collect()))
        }),

        // Networks.
        "cidrhost" => cidrhost(&a.str(0)?, a.int(1)?),
        "cidrnetmask" => a.str(0).and_then(|s| {
            let (addr, bits) = cidr(&s)?;
            match addr {
                IpAddr::V4(_) => Ok(Ipv4Addr::from(u32::MAX.checked_shl(32 - bits).unwrap_or(0)).to_string().into()),
                IpAddr::V6(_) => Err("only IPv4 networks have a netmask".into()),
            }
        }),
        "cidrsubnet" => cidrsubnet(&a.str(0)?, a.int(1)?, a.int(2)?).map(Value::from),
        "cidrsubnets" => {
            if args.is_empty() {
                Err("cidrsubnets: a prefix is required".into())
            } else {
                a.str(0).and_then(|prefix| cidrsubnets(&prefix, &args[1..]))
            }
        }

        // Time.
        "timestamp" => Ok(Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string().into()),
        "formatdate" => formatdate(&a.str(0)?, &parse_rfc3339(&a.str(1)?)?).map(Value::from),
        "formattimestamp" => {
            let t = match &args[1] {
                Value::Number(_) => unix_time(a.int(1)?)?,
                // buildx checks the text itself for "X", and says so differently.
                _ if a.str(0)? == "X" => parse_rfc3339(&a.str(1)?).map_err(|_| "timestamp string must be RFC3339".to_string())?,
                _ => parse_rfc3339(&a.str(1)?)?,
            };
            formatdate(&a.str(0)?, &t).map(Value::from)
        },
        "timeadd" => {
            let t = parse_rfc3339(&a.str(0)?)?;
            let d = go_duration(&a.str(1)?)?;
            let sum = t.checked_add_signed(d).ok_or("the resulting time is out of range")?;
            Ok(rfc3339(&sum).into())
        },
        "unixtimestampparse" => unixtimestampparse(a.int(0)?),

        "bcrypt" => {
            // Go's bcrypt.DefaultCost, which cty uses (the crate's default is 12).
            let cost = if args.len() > 1 { a.int(1) } else { Ok(10) };
            a.str(0).and_then(|s| {
                let cost = cost?;
                if cost > MAX_BCRYPT_COST {
                    return Err(format!("cost {cost} is above leaven's limit of {MAX_BCRYPT_COST} (each step doubles the time)"));
                }
                // Cost 4 (the least bcrypt takes) is about as much work as ten thousand steps.
                budget.charge(10_000u64 << cost.clamp(4, MAX_BCRYPT_COST).saturating_sub(4)).map_err(|e| e.to_string())?;
                let hash = bcrypt::hash_with_result(s, cost.max(0) as u32).map_err(|e| format!("error occurred generating password {e}"))?;
                Ok(hash.format_for_version(bcrypt::Version::TwoA).into())
            })
        }
        "rsadecrypt" => Err("rsadecrypt is not supported by leaven".into()),
        _ => Err(format!("{name} is listed but has no implementation")),
    }
}

/// Positional arguments with the conversions cty's parameter types apply.
struct Args<'a> {
    name: &'a str,
    args: &'a [Value],
}

impl Args<'_> {
    fn get(&self, i: usize) -> Result<&Value> {
        let v = self.args.get(i).ok_or_else(|| format!("not enough arguments for {}()", self.name))?;
        if v.is_null() {
            return Err(format!("argument {} must not be null", i + 1));
        }
        Ok(v)
    }
    fn str(&self, i: usize) -> Result<String> {
        to_string(self.get(i)?)
    }
    fn num(&self, i: usize) -> Result<f64> {
        to_f64(self.get(i)?)
    }
    fn int(&self, i: usize) -> Result<i64> {
        let n = self.num(i)?;
        if n.fract() != 0.0 {
            return Err(format!("argument {} must be a whole number", i + 1));
        }
        Ok(n as i64)
    }
    fn list(&self, i: usize) -> Result<&Vec<Value>> {
        match self.get(i)? {
            Value::Array(items) => Ok(items),
            other => Err(format!("list of any single type required, but have {}", type_name(other))),
        }
    }
    fn map(&self, i: usize) -> Result<&Map<String, Value>> {
        match self.get(i)? {
            Value::Object(m) => Ok(m),
            other => Err(format!("map or object required, but have {}", type_name(other))),
        }
    }
}

/// `+ - * / %` on two numbers, exact on integers where cty would be.
pub fn arithmetic(op: BinaryOp, a: &Value, b: &Value) -> Result<Value> {
    let (Value::Number(x), Value::Number(y)) = (a, b) else { return Err("numbers are required".into()) };
    if let (Some(x), Some(y)) = (x.as_i64(), y.as_i64()) {
        let exact = match op {
            BinaryOp::Plus => x.checked_add(y),
            BinaryOp::Minus => x.checked_sub(y),
            BinaryOp::Mul => x.checked_mul(y),
            // i64::MIN / -1 does not fit: it is computed as a float below.
            BinaryOp::Div if y != 0 && x.wrapping_rem(y) == 0 => x.checked_div(y),
            BinaryOp::Mod if y != 0 => Some(x.wrapping_rem(y)),
            _ => None,
        };
        if let Some(n) = exact {
            return Ok(Value::from(n));
        }
    }
    let (x, y) = (x.as_f64().unwrap_or(0.0), y.as_f64().unwrap_or(0.0));
    Ok(number(match op {
        BinaryOp::Plus => x + y,
        BinaryOp::Minus => x - y,
        BinaryOp::Mul => x * y,
        BinaryOp::Div if y == 0.0 => return Err("can't divide by zero".into()),
        BinaryOp::Div => x / y,
        BinaryOp::Mod if y == 0.0 => return Err("can't use modulo by zero".into()),
        _ => x % y,
    }))
}

fn title(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut start = true;
    for c in s.chars() {
        if start && c.is_alphabetic() {
            out.extend(c.to_uppercase());
        } else {
            out.push(c);
        }
        start = !c.is_alphanumeric();
    }
    out
}

fn substr(s: &str, offset: i64, length: i64) -> Result<String> {
    let chars: Vec<char> = s.chars().collect();
    let n = chars.len() as i64;
    let start = if offset < 0 { (n + offset).max(0) } else { offset.min(n) };
    let end = if length < 0 { n } else { start.saturating_add(length).min(n) };
    Ok(chars[start as usize..end.max(start) as usize].iter().collect())
}

fn regex(pattern: &str) -> Result<Regex> {
    // The parser's message draws the pattern over several lines; its last line says what is wrong.
    Regex::new(pattern).map_err(|e| {
        let text = e.to_string();
        let what = text.lines().last().unwrap_or_default().trim_start_matches("error: ");
        format!("invalid regular expression pattern: {what}")
    })
}

/// One match as cty's regex functions return it: the match, a list of groups,
/// or an object of named groups.
fn captures(re: &Regex, caps: &regex::Captures) -> Value {
    let group = |m: Option<regex::Match>| m.map(|m| Value::from(m.as_str())).unwrap_or(Value::Null);
    if re.captures_len() == 1 {
        return group(caps.get(0));
    }
    if re.capture_names().flatten().next().is_some() {
        let map = re.capture_names().enumerate().filter_map(|(i, n)| n.map(|n| (n.to_string(), group(caps.get(i))))).collect();
        return sorted_object(map);
    }
    Value::Array((1..re.captures_len()).map(|i| group(caps.get(i))).collect())
}

fn join(a: &Args) -> Result<Value> {
    let sep = a.str(0)?;
    let mut parts = Vec::new();
    for i in 1..a.args.len() {
        for v in a.list(i)? {
            parts.push(to_string(v).map_err(|_| "Invalid template interpolation value: Cannot include a null value in a string template".to_string())?);
        }
    }
    if a.args.len() < 2 {
        return Err("at least one list is required".into());
    }
    let seps = parts.len().saturating_sub(1) as u64;
    sized(parts.iter().map(|p| p.len() as u64).sum::<u64>().saturating_add(seps.saturating_mul(sep.len() as u64)))?;
    Ok(parts.join(&sep).into())
}

/// Go-style `format`: `%s %d %f %t %v %q %%`, with width and precision.
fn format(spec: &str, args: &[Value]) -> Result<String> {
    let mut out = String::new();
    let mut chars = spec.chars().peekable();
    let mut next = 0;
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        let mut flags = String::new();
        while let Some(&f) = chars.peek() {
            if f.is_ascii_digit() || f == '.' || f == '-' || f == '+' || f == '#' || f == ' ' {
                flags.push(f);
                chars.next();
            } else {
                break;
            }
        }
        let verb = chars.next().ok_or("unterminated format verb")?;
        if verb == '%' {
            out.push('%');
            continue;
        }
        let arg = args.get(next).ok_or_else(|| format!("not enough arguments for %{verb}"))?;
        next += 1;
        let (width, precision) = match flags.trim_start_matches(['-', '+', '#', ' ']).split_once('.') {
            Some((w, p)) => (format_number_flag(w)?, format_number_flag(p)?),
            None => (format_number_flag(flags.trim_start_matches(['-', '+', '#', ' ']))?, None),
        };
        let text = match verb {
            's' => to_string(arg)?,
            'q' => serde_json::to_string(&to_string(arg)?).map_err(|e| e.to_string())?,
            'd' => format!("{}", to_f64(arg)?.trunc() as i64),
            'f' => fixed(to_f64(arg)?, precision.unwrap_or(6)),
            't' => to_bool(arg)?.to_string(),
            'v' => match arg {
                Value::String(_) | Value::Number(_) | Value::Bool(_) => to_string(arg)?,
                other => serde_json::to_string(&json(other)).map_err(|e| e.to_string())?,
            },
            other => return Err(format!("unsupported format verb %{other}")),
        };
        let pad = width.unwrap_or(0).saturating_sub(text.chars().count());
        sized((out.len() + pad + text.len()) as u64)?;
        if flags.trim_start_matches(['+', '#', ' ']).starts_with('0') {
            let (sign, digits) = text.split_at(usize::from(text.starts_with('-')));
            out.push_str(sign);
            out.push_str(&"0".repeat(pad));
            out.push_str(digits);
        } else if flags.starts_with('-') {
            out.push_str(&text);
            out.push_str(&" ".repeat(pad));
        } else {
            out.push_str(&" ".repeat(pad));
            out.push_str(&text);
        }
    }
    Ok(out)
}

/// A width or precision in a format verb: digits, at most Go's limit.
fn format_number_flag(digits: &str) -> Result<Option<usize>> {
    if digits.is_empty() {
        return Ok(None);
    }
    match digits.parse::<usize>() {
        Ok(n) if n <= MAX_FORMAT_WIDTH => Ok(Some(n)),
        _ => Err(format!("width or precision {digits} is above the limit of {MAX_FORMAT_WIDTH}")),
    }
}

/// `%.Nf`: an f64's exact decimal expansion ends within 1100 fractional digits;
/// further ones are zeros (Rust's formatter takes at most 65535).
fn fixed(x: f64, precision: usize) -> String {
    const EXACT: usize = 1100;
    let mut text = format!("{:.*}", precision.min(EXACT), x);
    if x.is_finite() && precision > EXACT {
        text.push_str(&"0".repeat(precision - EXACT));
    }
    text
}

/// Checks that a string result of `bytes` bytes is within the limit, before making it.
fn sized(bytes: u64) -> Result<()> {
    if bytes > MAX_STRING_BYTES as u64 {
        return Err(Exceeded::String.to_string());
    }
    Ok(())
}

/// `regex_replace`, expanding `$1`-style references in `replacement`; the result
/// is checked for size as it grows.
fn regex_replace(s: &str, re: &Regex, replacement: &str) -> Result<String> {
    // Each reference expands to at most the whole match.
    let references = replacement.matches('$').count();
    let mut out = String::new();
    let mut last = 0;
    for caps in re.captures_iter(s) {
        let m = caps.get(0).expect("group 0 is the match");
        out.push_str(&s[last..m.start()]);
        sized((out.len() + replacement.len()) as u64 + (references as u64).saturating_mul(m.len() as u64))?;
        caps.expand(replacement, &mut out);
        last = m.end();
    }
    sized((out.len() + s.len() - last) as u64)?;
    out.push_str(&s[last..]);
    Ok(out)
}

/// cty's `parseint`: Go's `big.Int` digits, `0-9a-z` (either case) up to base 36,
/// then `0-9a-zA-Z` up to 62, with an optional sign.
fn parseint(s: &str, base: u32) -> Option<Value> {
    let (negative, digits) = match s.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, s.strip_prefix('+').unwrap_or(s)),
    };
    if digits.is_empty() {
        return None;
    }
    let mut n: i128 = 0;
    for c in digits.chars() {
        let d = match c {
            '0'..='9' => c as u32 - '0' as u32,
            'a'..='z' => c as u32 - 'a' as u32 + 10,
            'A'..='Z' if base <= 36 => c as u32 - 'A' as u32 + 10,
            'A'..='Z' => c as u32 - 'A' as u32 + 36,
            _ => return None,
        };
        if d >= base {
            return None;
        }
        n = n.checked_mul(base as i128)?.checked_add(d as i128)?;
    }
    let n = if negative { -n } else { n };
    Some(match (i64::try_from(n), u64::try_from(n)) {
        (Ok(i), _) => Value::from(i),
        (_, Ok(u)) => Value::from(u),
        _ => number(n as f64),
    })
}

fn formatlist(a: &Args, budget: &Budget) -> Result<Value> {
    let spec = a.str(0)?;
    let rest = &a.args[1..];
    let len = rest.iter().filter_map(|v| if let Value::Array(items) = v { Some(items.len()) } else { None }).max();
    let Some(len) = len else { return format(&spec, rest).map(|s| Value::Array(vec![Value::from(s)])) };
    let mut out = Vec::with_capacity(len);
    for i in 0..len {
        let row = rest
            .iter()
            .map(|v| match v {
                Value::Array(items) => items.get(i).cloned().ok_or_else(|| "all lists must have the same length".to_string()),
                other => Ok(other.clone()),
            })
            .collect::<Result<Vec<_>>>()?;
        let text = format(&spec, &row)?;
        budget.charge_bytes(text.len()).map_err(|e| e.to_string())?;
        out.push(Value::from(text));
    }
    Ok(Value::Array(out))
}

fn urlencode(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => out.push(b as char),
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// Go's `path/filepath.Base`.
fn basename(path: &str) -> String {
    if path.is_empty() {
        return ".".into();
    }
    let trimmed = path.trim_end_matches('/');
    if trimmed.is_empty() {
        return "/".into();
    }
    trimmed.rsplit('/').next().unwrap_or(trimmed).to_string()
}

/// Go's `path/filepath.Dir`: everything before the last element, cleaned.
fn dirname(path: &str) -> String {
    let dir = match path.rfind('/') {
        Some(i) => &path[..=i],
        None => "",
    };
    clean_path(dir)
}

/// Go's `path.Clean`.
pub fn clean_path(path: &str) -> String {
    if path.is_empty() {
        return ".".into();
    }
    let rooted = path.starts_with('/');
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                if parts.last().is_some_and(|p| *p != "..") {
                    parts.pop();
                } else if !rooted {
                    parts.push("..");
                }
            }
            p => parts.push(p),
        }
    }
    let joined = parts.join("/");
    match (rooted, joined.is_empty()) {
        (true, _) => format!("/{joined}"),
        (false, true) => ".".into(),
        (false, false) => joined,
    }
}

fn csvdecode(text: &str) -> Result<Value> {
    let mut rows = csv_rows(text)?.into_iter();
    let header = rows.next().ok_or("missing header line")?;
    let mut out = Vec::new();
    for row in rows {
        if row.len() != header.len() {
            return Err(format!("wrong number of fields: header has {}, row has {}", header.len(), row.len()));
        }
        out.push(sorted_object(header.iter().cloned().zip(row.into_iter().map(Value::String)).collect()));
    }
    Ok(Value::Array(out))
}

/// RFC 4180 records: quoted fields may hold commas, quotes (doubled) and newlines.
pub fn csv_rows(text: &str) -> Result<Vec<Vec<String>>> {
    let mut rows = Vec::new();
    let mut row = Vec::new();
    let mut field = String::new();
    let mut chars = text.chars().peekable();
    let mut quoted = false;
    let mut any = false;
    while let Some(c) = chars.next() {
        any = true;
        if quoted {
            match c {
                '"' if chars.peek() == Some(&'"') => {
                    field.push('"');
                    chars.next();
                }
                '"' => quoted = false,
                c => field.push(c),
            }
            continue;
        }
        match c {
            '"' if field.is_empty() => quoted = true,
            ',' => row.push(std::mem::take(&mut field)),
            '\r' => {}
            '\n' => {
                row.push(std::mem::take(&mut field));
                rows.push(std::mem::take(&mut row));
                any = false;
            }
            c => field.push(c),
        }
    }
    if quoted {
        return Err("unterminated quoted field".into());
    }
    if any {
        row.push(field);
        rows.push(row);
    }
    Ok(rows)
}

/// A value as JSON (what `jsonencode` and `--print` write).
pub fn json(v: &Value) -> serde_json::Value {
    match v {
        Value::Null => serde_json::Value::Null,
        Value::Bool(b) => serde_json::Value::Bool(*b),
        Value::Number(n) => {
            serde_json::from_str(&format_number(n)).unwrap_or_else(|_| serde_json::Value::String(format_number(n)))
        }
        Value::String(s) => serde_json::Value::String(s.clone()),
        Value::Array(items) => serde_json::Value::Array(items.iter().map(json).collect()),
        Value::Object(map) => {
            let mut entries: Vec<_> = map.iter().collect();
            entries.sort_by(|a, b| a.0.cmp(b.0));
            serde_json::Value::Object(entries.into_iter().map(|(k, v)| (k.clone(), json(v))).collect())
        }
    }
}

pub fn from_json(j: serde_json::Value) -> Value {
    match j {
        serde_json::Value::Null => Value::Null,
        serde_json::Value::Bool(b) => Value::Bool(b),
        serde_json::Value::Number(n) => value::parse_number(&n.to_string()).unwrap_or(Value::Null),
        serde_json::Value::String(s) => Value::String(s),
        serde_json::Value::Array(items) => Value::Array(items.into_iter().map(from_json).collect()),
        serde_json::Value::Object(map) => sorted_object(map.into_iter().map(|(k, v)| (k, from_json(v))).collect()),
    }
}

fn flatten(items: &[Value], out: &mut Vec<Value>) -> Result<()> {
    for v in items {
        match v {
            Value::Array(inner) => flatten(inner, out)?,
            other => out.push(other.clone()),
        }
    }
    Ok(())
}

fn index(collection: &Value, key: &Value) -> Result<Value> {
    match collection {
        Value::Array(items) => {
            let i = to_f64(key)?;
            if i < 0.0 || i.fract() != 0.0 || i as usize >= items.len() {
                return Err("the given index is out of range".into());
            }
            Ok(items[i as usize].clone())
        }
        Value::Object(map) => map.get(&to_string(key)?).cloned().ok_or_else(|| "the given key does not exist".into()),
        other => Err(format!("cannot index a {}", type_name(other))),
    }
}

fn sets(a: &Args) -> Result<Vec<Vec<Value>>> {
    (0..a.args.len()).map(|i| a.list(i).cloned()).collect()
}

fn range(a: &Args) -> Result<Value> {
    let (start, limit, step) = match a.args.len() {
        1 => (0.0, a.num(0)?, 1.0),
        2 => (a.num(0)?, a.num(1)?, 1.0),
        3 => (a.num(0)?, a.num(1)?, a.num(2)?),
        n => return Err(format!("range() takes 1 to 3 arguments, got {n}")),
    };
    let step = if a.args.len() < 3 && limit < start { -1.0 } else { step };
    if step == 0.0 {
        return Err("step must not be zero".into());
    }
    let mut out = Vec::new();
    let mut i = start;
    while (step > 0.0 && i < limit) || (step < 0.0 && i > limit) {
        out.push(number(i));
        i += step;
        if out.len() > 1024 {
            return Err("more than 1024 values were generated".into());
        }
    }
    Ok(Value::Array(out))
}

fn cidr(s: &str) -> Result<(IpAddr, u32)> {
    let (addr, bits) = s.split_once('/').ok_or_else(|| format!("invalid CIDR expression: {s}"))?;
    let addr: IpAddr = addr.parse().map_err(|_| format!("invalid CIDR expression: {s}"))?;
    let bits: u32 = bits.parse().map_err(|_| format!("invalid CIDR expression: {s}"))?;
    let max = if addr.is_ipv4() { 32 } else { 128 };
    if bits > max {
        return Err(format!("invalid CIDR expression: {s}"));
    }
    Ok((addr, bits))
}

fn addr_bits(addr: IpAddr) -> (u128, u32) {
    match addr {
        IpAddr::V4(a) => (u32::from(a) as u128, 32),
        IpAddr::V6(a) => (u128::from(a), 128),
    }
}

fn make_addr(n: u128, width: u32) -> IpAddr {
    if width == 32 {
        IpAddr::V4(Ipv4Addr::from(n as u32))
    } else {
        IpAddr::V6(Ipv6Addr::from(n))
    }
}

fn network(addr: IpAddr, bits: u32) -> (u128, u32) {
    let (n, width) = addr_bits(addr);
    let host_bits = width - bits;
    let mask = if host_bits >= 128 { 0 } else { !((1u128 << host_bits) - 1) };
    (n & mask, width)
}

fn cidrhost(prefix: &str, num: i64) -> Result<Value> {
    let (addr, bits) = cidr(prefix)?;
    let (base, width) = network(addr, bits);
    let size = 1u128.checked_shl(width - bits).unwrap_or(u128::MAX);
    let offset = if num < 0 { size.checked_sub(num.unsigned_abs() as u128) } else { Some(num as u128) };
    match offset {
        Some(o) if o < size => Ok(make_addr(base + o, width).to_string().into()),
        _ => Err(format!("prefix of {bits} bits cannot accommodate a host numbered {num}")),
    }
}

fn cidrsubnet(prefix: &str, newbits: i64, netnum: i64) -> Result<String> {
    let (addr, bits) = cidr(prefix)?;
    let (base, width) = network(addr, bits);
    let new_len = (bits as i64).saturating_add(newbits);
    if newbits < 0 || new_len > width as i64 {
        return Err(format!("insufficient address space to extend prefix of {bits} by {newbits}"));
    }
    if netnum < 0 || 1u128.checked_shl(newbits as u32).is_some_and(|limit| (netnum as u128) >= limit) {
        return Err(format!("prefix extension of {newbits} does not accommodate a subnet numbered {netnum}"));
    }
    let shifted = (netnum as u128).checked_shl((width as i64 - new_len) as u32).unwrap_or(0);
    Ok(format!("{}/{new_len}", make_addr(base | shifted, width)))
}

fn cidrsubnets(prefix: &str, newbits: &[Value]) -> Result<Value> {
    let (addr, bits) = cidr(prefix)?;
    let (base, width) = network(addr, bits);
    let mut next = base;
    let mut out = Vec::new();
    for nb in newbits {
        let nb = to_f64(nb)? as u32;
        let len = bits.saturating_add(nb);
        if len > width {
            return Err(format!("would extend prefix to {len} bits, which is too long"));
        }
        let Some(size) = 1u128.checked_shl(width - len) else {
            return Err(format!("would extend prefix to {len} bits, which is too short"));
        };
        let start = next.div_ceil(size).checked_mul(size).ok_or("not enough remaining address space")?;
        let prefix_end = 1u128.checked_shl(width - bits).map_or(u128::MAX, |n| base + (n - 1));
        if start.checked_add(size - 1).is_none_or(|last| last > prefix_end) {
            return Err(format!("not enough remaining address space for a subnet with a prefix of {len} bits"));
        }
        out.push(Value::from(format!("{}/{len}", make_addr(start, width))));
        next = start.checked_add(size).ok_or("not enough remaining address space")?;
    }
    Ok(Value::Array(out))
}

fn parse_rfc3339(s: &str) -> Result<DateTime<FixedOffset>> {
    DateTime::parse_from_rfc3339(s).map_err(|e| format!("not a valid RFC3339 timestamp: {e}"))
}

fn unix_time(secs: i64) -> Result<DateTime<FixedOffset>> {
    Utc.timestamp_opt(secs, 0).single().map(|t| t.fixed_offset()).ok_or_else(|| "timestamp out of range".into())
}

fn rfc3339(t: &DateTime<FixedOffset>) -> String {
    if t.offset().local_minus_utc() == 0 {
        t.format("%Y-%m-%dT%H:%M:%SZ").to_string()
    } else {
        t.format("%Y-%m-%dT%H:%M:%S%:z").to_string()
    }
}

/// Terraform's date format spec (`YYYY-MM-DD'T'hh:mm:ssZ`).
fn formatdate(spec: &str, t: &DateTime<FixedOffset>) -> Result<String> {
    const MONTHS: [&str; 12] =
        ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October", "November", "December"];
    const DAYS: [&str; 7] = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"];
    if spec == "X" {
        return Ok(t.timestamp().to_string());
    }
    let chars: Vec<char> = spec.chars().collect();
    let mut out = String::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c == '\'' {
            let end = chars[i + 1..].iter().position(|&c| c == '\'').ok_or("unterminated literal")? + i + 1;
            if end == i + 1 {
                out.push('\'');
            } else {
                out.extend(&chars[i + 1..end]);
            }
            i = end + 1;
            continue;
        }
        if !c.is_ascii_alphabetic() {
            out.push(c);
            i += 1;
            continue;
        }
        let n = chars[i..].iter().take_while(|&&d| d == c).count();
        let offset = t.offset().local_minus_utc();
        let (oh, om) = (offset.abs() / 3600, offset.abs() % 3600 / 60);
        let sign = if offset < 0 { '-' } else { '+' };
        let text = match (c, n) {
            ('Y', 4) => format!("{:04}", t.year()),
            ('Y', 2) => format!("{:02}", t.year() % 100),
            ('M', 1) => t.month().to_string(),
            ('M', 2) => format!("{:02}", t.month()),
            ('M', 3) => MONTHS[t.month0() as usize][..3].to_string(),
            ('M', 4) => MONTHS[t.month0() as usize].to_string(),
            ('D', 1) => t.day().to_string(),
            ('D', 2) => format!("{:02}", t.day()),
            ('E', 3) => DAYS[t.weekday().num_days_from_monday() as usize][..3].to_string(),
            ('E', 4) => DAYS[t.weekday().num_days_from_monday() as usize].to_string(),
            ('h', 1) => t.hour().to_string(),
            ('h', 2) => format!("{:02}", t.hour()),
            ('H', 1) => (((t.hour() + 11) % 12) + 1).to_string(),
            ('H', 2) => format!("{:02}", ((t.hour() + 11) % 12) + 1),
            ('A', 2) => if t.hour() < 12 { "AM" } else { "PM" }.to_string(),
            ('a', 2) => if t.hour() < 12 { "am" } else { "pm" }.to_string(),
            ('m', 1) => t.minute().to_string(),
            ('m', 2) => format!("{:02}", t.minute()),
            ('s', 1) => t.second().to_string(),
            ('s', 2) => format!("{:02}", t.second()),
            ('Z', 1) if offset == 0 => "Z".to_string(),
            ('Z', 1) => format!("{sign}{oh:02}:{om:02}"),
            ('Z', 3) => if offset == 0 { "UTC".to_string() } else { format!("{sign}{oh:02}{om:02}") },
            ('Z', 4) => format!("{sign}{oh:02}{om:02}"),
            ('Z', 5) => format!("{sign}{oh:02}:{om:02}"),
            _ => return Err(format!("invalid date format verb {:?}", chars[i..i + n].iter().collect::<String>())),
        };
        out.push_str(&text);
        i += n;
    }
    Ok(out)
}

/// Go's `time.ParseDuration` (`1h30m`, `-15s`, `1.5h`).
fn go_duration(text: &str) -> Result<chrono::Duration> {
    go_duration_nanos(text).map(chrono::Duration::nanoseconds).ok_or_else(|| format!("invalid duration {text:?}"))
}

/// Go's `time.ParseDuration` in nanoseconds; `None` for text Go rejects. Specs
/// use it too (healthcheck intervals), so both read durations the same way.
pub fn go_duration_nanos(text: &str) -> Option<i64> {
    let (negative, mut rest) = match text.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, text.strip_prefix('+').unwrap_or(text)),
    };
    if rest == "0" {
        return Some(0);
    }
    let mut nanos = 0f64;
    while !rest.is_empty() {
        let num_len = rest.find(|c: char| !(c.is_ascii_digit() || c == '.'))?;
        let n: f64 = rest[..num_len].parse().ok()?;
        rest = &rest[num_len..];
        let unit_len = rest.find(|c: char| c.is_ascii_digit() || c == '.').unwrap_or(rest.len());
        let scale = match &rest[..unit_len] {
            "ns" => 1.0,
            "us" | "µs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            _ => return None,
        };
        nanos += n * scale;
        rest = &rest[unit_len..];
    }
    let nanos = if negative { -nanos } else { nanos };
    (nanos.abs() <= i64::MAX as f64).then_some(nanos as i64)
}

fn unixtimestampparse(secs: i64) -> Result<Value> {
    let t = unix_time(secs)?;
    let iso = t.iso_week();
    let fields = [
        ("year", Value::from(t.year())),
        ("year_day", Value::from(t.ordinal())),
        ("day", Value::from(t.day())),
        ("month", Value::from(t.month())),
        ("month_name", Value::from(t.format("%B").to_string())),
        ("weekday", Value::from(t.weekday().num_days_from_sunday())),
        ("weekday_name", Value::from(t.format("%A").to_string())),
        ("hour", Value::from(t.hour())),
        ("minute", Value::from(t.minute())),
        ("second", Value::from(t.second())),
        ("rfc3339", Value::from(rfc3339(&t))),
        ("iso_year", Value::from(iso.year())),
        ("iso_week", Value::from(iso.week())),
    ];
    Ok(sorted_object(fields.into_iter().map(|(k, v)| (k.to_string(), v)).collect()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(name: &str, args: Vec<Value>) -> Value {
        call(name, &args, &Budget::new()).expect("known").unwrap_or_else(|e| panic!("{name}: {e}"))
    }
    fn s(x: &str) -> Value {
        Value::from(x)
    }
    fn l(xs: &[&str]) -> Value {
        Value::from(xs.to_vec())
    }

    #[test]
    fn every_listed_name_is_known() {
        for (name, params, _) in SIGNATURES {
            let args = vec![Value::from("1"); params.len()];
            let result = call(name, &args, &Budget::new()).expect("listed");
            assert!(result.is_ok() || !result.clone().unwrap_err().contains("no implementation"), "{name}");
        }
        let err = call("upper", &[], &Budget::new()).unwrap().unwrap_err();
        assert_eq!(err, "Not enough function arguments; Function \"upper\" expects 1 argument(s). Missing value for \"str\".");
        // buildx's 106, with the evaluator's try, can and convert.
        assert_eq!(SIGNATURES.len() + 3, 106);
    }

    #[test]
    fn strings() {
        assert_eq!(f("lower", vec![s("AbC")]), s("abc"));
        assert_eq!(f("upper", vec![s("abc")]), s("ABC"));
        assert_eq!(f("title", vec![s("hello world")]), s("Hello World"));
        assert_eq!(f("trim", vec![s("?!hi?!"), s("!?")]), s("hi"));
        assert_eq!(f("trimprefix", vec![s("v1.2"), s("v")]), s("1.2"));
        assert_eq!(f("trimsuffix", vec![s("a.hcl"), s(".hcl")]), s("a"));
        assert_eq!(f("trimspace", vec![s("  x \n")]), s("x"));
        assert_eq!(f("chomp", vec![s("x\n\n")]), s("x"));
        assert_eq!(f("indent", vec![Value::from(2), s("a\nb")]), s("a\n  b"));
        assert_eq!(f("strlen", vec![s("héllo")]), Value::from(5));
        assert_eq!(f("substr", vec![s("hello"), Value::from(1), Value::from(3)]), s("ell"));
        assert_eq!(f("reverse", vec![s("abc")]), s("cba"));
        assert_eq!(f("replace", vec![s("a.b.c"), s("."), s("-")]), s("a-b-c"));
        assert_eq!(f("regex_replace", vec![s("v1.2.3"), s("^v(\\d+).*"), s("$1")]), s("1"));
        assert_eq!(f("regex", vec![s("[0-9]+"), s("ab12cd")]), s("12"));
        assert_eq!(f("regexall", vec![s("[0-9]"), s("a1b2")]), l(&["1", "2"]));
        assert_eq!(f("split", vec![s(","), s("a,b")]), l(&["a", "b"]));
        assert_eq!(f("join", vec![s("-"), l(&["a", "b"]), l(&["c"])]), s("a-b-c"));
        assert_eq!(f("format", vec![s("%s-%03d|%5s|%.2f"), s("x"), Value::from(7), s("r"), Value::from(1)]), s("x-007|    r|1.00"));
        assert_eq!(f("formatlist", vec![s("%s=%s"), l(&["a", "b"]), s("v")]), l(&["a=v", "b=v"]));
        assert_eq!(f("urlencode", vec![s("a b/c")]), s("a+b%2Fc"));
        assert_eq!(f("sanitize", vec![s("a/b:c.d")]), s("a_b_c_d"));
        assert_eq!(f("base64encode", vec![s("hi")]), s("aGk="));
        assert_eq!(f("base64decode", vec![s("aGk=")]), s("hi"));
        assert!(call("byteslen", &[s("é")], &Budget::new()).unwrap().is_err());
        assert!(call("bytesslice", &[s("hello"), Value::from(1), Value::from(3)], &Budget::new()).unwrap().is_err());
        assert_eq!(f("md5", vec![s("a")]), s("0cc175b9c0f1b6a831c399e269772661"));
        assert_eq!(f("sha1", vec![s("a")]), s("86f7e437faa5a7fce15d1ddcb9eaeaea377667b8"));
        assert_eq!(f("sha256", vec![s("a")]), s("ca978112ca1bbdcafac231b39a23dc4da786eff8147c4e72b9807785afee48bb"));
        assert_eq!(f("sha512", vec![s("")]).as_str().unwrap().len(), 128);
        assert_eq!(f("uuidv4", vec![]).as_str().unwrap().len(), 36);
        assert_eq!(f("uuidv5", vec![s("dns"), s("example.com")]), s("cfbff0d1-9375-5685-968c-48ce8b15ae17"));
        assert_eq!(f("basename", vec![s("/a/b.txt")]), s("b.txt"));
        assert_eq!(f("dirname", vec![s("/a/b.txt")]), s("/a"));
        assert!(f("homedir", vec![]).as_str().is_some());
        assert_eq!(f("semvercmp", vec![s("1.2.3"), s(">= 1.2, < 2")]), Value::Bool(true));
        assert_eq!(f("semvercmp", vec![s("2.0.0"), s("~1.2")]), Value::Bool(false));
        assert_eq!(json(&f("csvdecode", vec![s("a,b\n1,\"x,y\"\n")])).to_string(), r#"[{"a":"1","b":"x,y"}]"#);
        assert_eq!(f("jsonencode", vec![Value::from(vec![1, 2])]), s("[1,2]"));
        assert_eq!(json(&f("jsondecode", vec![s("{\"b\":1,\"a\":[true]}")])).to_string(), r#"{"a":[true],"b":1}"#);
    }

    #[test]
    fn bcrypt_pays_for_its_cost_before_hashing() {
        let budget = Budget::new();
        budget.charge(crate::hcl::limits::MAX_STEPS - 10_000).unwrap();
        assert!(call("bcrypt", &[s("x"), Value::from(4)], &budget).unwrap().is_ok());
        let err = call("bcrypt", &[s("x"), Value::from(4)], &budget).unwrap().unwrap_err();
        assert!(err.starts_with("Too much work"), "{err}");
    }

    #[test]
    fn extreme_integers_do_not_overflow() {
        assert_eq!(f("substr", vec![s("hello"), Value::from(1), Value::from(i64::MAX)]), s("ello"));
        assert!(call("cidrsubnet", &[s("10.0.0.0/8"), Value::from(i64::MAX), Value::from(1)], &Budget::new()).unwrap().is_err());
        assert_eq!(f("parseint", vec![s("-9223372036854775808"), Value::from(10)]), Value::from(i64::MIN));
        assert_eq!(f("parseint", vec![s("18446744073709551615"), Value::from(10)]), Value::from(u64::MAX));
        assert!(call("parseint", &[s(&"z".repeat(40)), Value::from(36)], &Budget::new()).unwrap().is_err());
        assert_eq!(f("modulo", vec![Value::from(i64::MIN), Value::from(-1)]), Value::from(0));
    }

    #[test]
    fn numbers_and_logic() {
        assert_eq!(f("absolute", vec![Value::from(-3)]), Value::from(3));
        assert_eq!(f("ceil", vec![s("1.2")]), Value::from(2));
        assert_eq!(f("floor", vec![Value::from(-1.5)]), Value::from(-2));
        assert_eq!(f("signum", vec![Value::from(-9)]), Value::from(-1));
        assert_eq!(f("int", vec![Value::from(2.7)]), Value::from(2));
        assert_eq!(f("negate", vec![Value::from(2)]), Value::from(-2));
        assert_eq!(f("log", vec![Value::from(8), Value::from(2)]), Value::from(3));
        assert_eq!(f("pow", vec![Value::from(2), Value::from(10)]), Value::from(1024));
        assert_eq!(f("max", vec![Value::from(1), s("5"), Value::from(3)]), Value::from(5));
        assert_eq!(f("min", vec![Value::from(4), Value::from(2)]), Value::from(2));
        assert_eq!(f("parseint", vec![s("ff"), Value::from(16)]), Value::from(255));
        assert_eq!(f("add", vec![Value::from(1), Value::from(2)]), Value::from(3));
        assert_eq!(f("subtract", vec![Value::from(1), Value::from(2)]), Value::from(-1));
        assert_eq!(f("multiply", vec![Value::from(3), Value::from(2)]), Value::from(6));
        assert_eq!(f("divide", vec![Value::from(6), Value::from(4)]), Value::from(1.5));
        assert_eq!(f("modulo", vec![Value::from(7), Value::from(4)]), Value::from(3));
        assert_eq!(f("greaterthan", vec![Value::from(2), Value::from(1)]), Value::Bool(true));
        assert_eq!(f("greaterthanorequalto", vec![Value::from(1), Value::from(1)]), Value::Bool(true));
        assert_eq!(f("lessthan", vec![Value::from(2), Value::from(1)]), Value::Bool(false));
        assert_eq!(f("lessthanorequalto", vec![Value::from(1), Value::from(1)]), Value::Bool(true));
        assert_eq!(f("range", vec![Value::from(3)]), Value::from(vec![0, 1, 2]));
        assert_eq!(f("and", vec![Value::Bool(true), Value::Bool(false)]), Value::Bool(false));
        assert_eq!(f("or", vec![Value::Bool(true), Value::Bool(false)]), Value::Bool(true));
        assert_eq!(f("not", vec![Value::Bool(true)]), Value::Bool(false));
        assert_eq!(f("equal", vec![Value::from(1), Value::from(1.0)]), Value::Bool(true));
        assert_eq!(f("notequal", vec![s("a"), s("b")]), Value::Bool(true));
        assert_eq!(f("coalesce", vec![Value::Null, s("x")]), s("x"));
        assert_eq!(f("coalescelist", vec![l(&[]), l(&["a"])]), l(&["a"]));
    }

    #[test]
    fn collections() {
        let m = f("jsondecode", vec![s("{\"b\":2,\"a\":1}")]);
        assert_eq!(f("length", vec![l(&["a", "b"])]), Value::from(2));
        let hash = f("bcrypt", vec![s("x")]);
        assert!(hash.as_str().unwrap().starts_with("$2a$10$"), "{hash:?}");
        assert_eq!(f("concat", vec![l(&["a"]), l(&["b"])]), l(&["a", "b"]));
        assert_eq!(f("flatten", vec![Value::Array(vec![l(&["a"]), Value::Array(vec![l(&["b"])])])]), l(&["a", "b"]));
        assert_eq!(f("contains", vec![l(&["a"]), s("a")]), Value::Bool(true));
        assert_eq!(f("distinct", vec![l(&["a", "b", "a"])]), l(&["a", "b"]));
        assert_eq!(f("compact", vec![l(&["a", "", "b"])]), l(&["a", "b"]));
        assert_eq!(json(&f("chunklist", vec![l(&["a", "b", "c"]), Value::from(2)])).to_string(), r#"[["a","b"],["c"]]"#);
        assert_eq!(f("element", vec![l(&["a", "b"]), Value::from(3)]), s("b"));
        assert_eq!(f("index", vec![l(&["a", "b"]), Value::from(1)]), s("b"));
        assert_eq!(f("hasindex", vec![l(&["a"]), Value::from(1)]), Value::Bool(false));
        assert_eq!(f("indexof", vec![l(&["a", "b"]), s("b")]), Value::from(1));
        assert_eq!(f("keys", vec![m.clone()]), l(&["a", "b"]));
        assert_eq!(f("values", vec![m.clone()]), Value::from(vec![1, 2]));
        assert_eq!(f("lookup", vec![m.clone(), s("c"), s("d")]), s("d"));
        assert_eq!(json(&f("merge", vec![m.clone(), f("jsondecode", vec![s("{\"a\":3}")])])).to_string(), r#"{"a":3,"b":2}"#);
        assert_eq!(json(&f("zipmap", vec![l(&["k"]), l(&["v"])])).to_string(), r#"{"k":"v"}"#);
        assert_eq!(f("reverselist", vec![l(&["a", "b"])]), l(&["b", "a"]));
        assert_eq!(f("slice", vec![l(&["a", "b", "c"]), Value::from(1), Value::from(3)]), l(&["b", "c"]));
        assert_eq!(f("sort", vec![l(&["b", "a"])]), l(&["a", "b"]));
        assert_eq!(f("sethaselement", vec![l(&["a"]), s("a")]), Value::Bool(true));
        assert_eq!(f("setunion", vec![l(&["b"]), l(&["a", "b"])]), l(&["a", "b"]));
        assert_eq!(f("setintersection", vec![l(&["a", "b"]), l(&["b"])]), l(&["b"]));
        assert_eq!(f("setsubtract", vec![l(&["a", "b"]), l(&["b"])]), l(&["a"]));
        assert_eq!(f("setsymmetricdifference", vec![l(&["a", "b"]), l(&["b", "c"])]), l(&["a", "c"]));
        assert_eq!(json(&f("setproduct", vec![l(&["a"]), l(&["x", "y"])])).to_string(), r#"[["a","x"],["a","y"]]"#);
    }

    #[test]
    fn networks_and_time() {
        assert_eq!(f("cidrhost", vec![s("10.0.0.0/8"), Value::from(2)]), s("10.0.0.2"));
        assert_eq!(f("cidrnetmask", vec![s("10.0.0.0/12")]), s("255.240.0.0"));
        assert_eq!(f("cidrsubnet", vec![s("10.0.0.0/8"), Value::from(8), Value::from(2)]), s("10.2.0.0/16"));
        assert_eq!(f("cidrsubnets", vec![s("10.0.0.0/8"), Value::from(8), Value::from(4)]), l(&["10.0.0.0/16", "10.16.0.0/12"]));
        assert_eq!(f("timestamp", vec![]).as_str().unwrap().len(), 20);
        assert_eq!(f("formatdate", vec![s("YYYY-MM-DD hh:mm EEE"), s("2024-03-05T07:08:09Z")]), s("2024-03-05 07:08 Tue"));
        assert_eq!(f("formattimestamp", vec![s("X"), s("2024-01-01T00:00:00Z")]), s("1704067200"));
        assert_eq!(f("timeadd", vec![s("2024-01-01T00:00:00Z"), s("1h30m")]), s("2024-01-01T01:30:00Z"));
        let parsed = f("unixtimestampparse", vec![Value::from(1704067200)]);
        assert_eq!(parsed.as_object().unwrap()["rfc3339"], s("2024-01-01T00:00:00Z"));
    }
}
