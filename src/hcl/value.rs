//! go-cty's value rules over `hcl::Value`: how values print, convert and compare.
//!
//! HCL's reference implementation (go-cty) converts implicitly where hcl-rs does
//! not: `"5" > 3` is true, numbers and bools become strings in templates and
//! string attributes, and a string of digits is a number where one is required.

use hcl::{Map, Number, Value};

/// The cty-style name of a value's type, as error messages show it.
pub fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "tuple",
        Value::Object(_) => "object",
    }
}

/// A number as cty prints it: integers without a fraction, others in the
/// shortest form that reads back the same.
pub fn format_number(n: &Number) -> String {
    if n.is_f64() {
        return format_f64(n.as_f64().unwrap_or(0.0));
    }
    if let Some(i) = n.as_i64() {
        return i.to_string();
    }
    if let Some(u) = n.as_u64() {
        return u.to_string();
    }
    format_f64(n.as_f64().unwrap_or(0.0))
}

fn format_f64(f: f64) -> String {
    if f == 0.0 && f.is_sign_negative() {
        return "-0".into();
    }
    if f.fract() == 0.0 && f.abs() < 1e21 {
        return format!("{f:.0}");
    }
    // cty computes in 512-bit decimal floats, so `0.1 + 0.2` prints `0.3`; rounding
    // f64 results to 15 significant digits gives the same text for all but
    // long expansions (`10/3` prints 15 digits here, about 150 in buildx).
    let rounded: f64 = format!("{f:.14e}").parse().unwrap_or(f);
    format!("{rounded}")
}

/// A number from an f64, kept an integer when it is one so it prints and
/// compares like cty's exact numbers.
pub fn number(f: f64) -> Value {
    if f.fract() == 0.0 && f.abs() < 9.007_199_254_740_992e15 && !(f == 0.0 && f.is_sign_negative()) {
        Value::from(f as i64)
    } else {
        Number::from_f64(f).map(Value::Number).unwrap_or(Value::Null)
    }
}

/// Converts to a string the way cty does for string parameters and templates.
pub fn to_string(value: &Value) -> Result<String, String> {
    match value {
        Value::String(s) => Ok(s.clone()),
        Value::Number(n) => Ok(format_number(n)),
        Value::Bool(b) => Ok(b.to_string()),
        Value::Null => Err("a null value is not allowed here".into()),
        other => Err(format!("string required, but have {}", type_name(other))),
    }
}

/// Parses text as a cty number (decimal, optionally with exponent).
pub fn parse_number(text: &str) -> Option<Value> {
    let trimmed = text.trim();
    if trimmed.is_empty() {
        return None;
    }
    if let Ok(i) = trimmed.parse::<i64>() {
        return Some(Value::from(i));
    }
    if let Ok(u) = trimmed.parse::<u64>() {
        return Some(Value::from(u));
    }
    let f: f64 = trimmed.parse().ok()?;
    f.is_finite().then(|| number(f))
}

pub fn to_number(value: &Value) -> Result<Value, String> {
    match value {
        Value::Number(_) => Ok(value.clone()),
        Value::String(s) => parse_number(s).ok_or_else(|| format!("a number is required, but \"{s}\" is not one")),
        Value::Null => Err("a null value is not allowed here".into()),
        other => Err(format!("number required, but have {}", type_name(other))),
    }
}

pub fn to_f64(value: &Value) -> Result<f64, String> {
    match to_number(value)? {
        Value::Number(n) => Ok(n.as_f64().unwrap_or(0.0)),
        _ => unreachable!("to_number returns numbers"),
    }
}

pub fn to_bool(value: &Value) -> Result<bool, String> {
    match value {
        Value::Bool(b) => Ok(*b),
        Value::String(s) if s == "true" => Ok(true),
        Value::String(s) if s == "false" => Ok(false),
        Value::Null => Err("a null value is not allowed here".into()),
        other => Err(format!("bool required, but have {}", type_name(other))),
    }
}

/// cty equality: same type and same content; numbers compare by value.
pub fn equal(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => match (x.as_i64(), y.as_i64()) {
            (Some(x), Some(y)) => x == y,
            _ => x.as_f64() == y.as_f64(),
        },
        (Value::Array(x), Value::Array(y)) => x.len() == y.len() && x.iter().zip(y).all(|(x, y)| equal(x, y)),
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| equal(v, w)))
        }
        _ => a == b,
    }
}

/// An object with its keys sorted, as cty objects and maps always are.
pub fn sorted_object(mut map: Map<String, Value>) -> Value {
    map.sort_keys();
    Value::Object(map)
}

/// A type constraint from a variable's `type = …` or `convert(v, type)`.
#[derive(Debug, Clone, PartialEq)]
pub enum Type {
    Any,
    String,
    Number,
    Bool,
    List(Box<Type>),
    Set(Box<Type>),
    Map(Box<Type>),
    Tuple(Vec<Type>),
    Object(Vec<(String, Type)>),
}

impl Type {
    /// The friendly name `--list variables` shows (`list of string`).
    pub fn friendly_name(&self) -> String {
        match self {
            Type::Any => "any".into(),
            Type::String => "string".into(),
            Type::Number => "number".into(),
            Type::Bool => "bool".into(),
            Type::List(t) => format!("list of {}", t.friendly_name()),
            Type::Set(t) => format!("set of {}", t.friendly_name()),
            Type::Map(t) => format!("map of {}", t.friendly_name()),
            Type::Tuple(_) => "tuple".into(),
            Type::Object(_) => "object".into(),
        }
    }

    pub fn is_primitive(&self) -> bool {
        matches!(self, Type::String | Type::Number | Type::Bool)
    }

    /// Converts `value` to this type with cty's implicit conversions; null stays null.
    pub fn convert(&self, value: &Value) -> Result<Value, String> {
        if value.is_null() {
            return Ok(Value::Null);
        }
        match self {
            Type::Any => Ok(value.clone()),
            Type::String => to_string(value).map(Value::String),
            Type::Number => to_number(value),
            Type::Bool => to_bool(value).map(Value::Bool),
            Type::List(element) | Type::Set(element) => {
                let Value::Array(items) = value else {
                    return Err(format!("{} required, but have {}", self.friendly_name(), type_name(value)));
                };
                let mut converted = items
                    .iter()
                    .enumerate()
                    .map(|(i, v)| element.convert(v).map_err(|e| format!("element {i}: {e}")))
                    .collect::<Result<Vec<_>, _>>()?;
                if matches!(self, Type::Set(_)) {
                    converted = set_of(converted);
                }
                Ok(Value::Array(converted))
            }
            Type::Map(element) => {
                let Value::Object(entries) = value else {
                    return Err(format!("{} required, but have {}", self.friendly_name(), type_name(value)));
                };
                let map = entries
                    .iter()
                    .map(|(k, v)| element.convert(v).map(|v| (k.clone(), v)).map_err(|e| format!("element \"{k}\": {e}")))
                    .collect::<Result<Map<_, _>, _>>()?;
                Ok(sorted_object(map))
            }
            Type::Tuple(elements) => match value {
                Value::Array(items) if items.len() == elements.len() => Ok(Value::Array(
                    items.iter().zip(elements).map(|(v, t)| t.convert(v)).collect::<Result<_, _>>()?,
                )),
                _ => Err(format!("tuple required, but have {}", type_name(value))),
            },
            Type::Object(attrs) => {
                let Value::Object(entries) = value else {
                    return Err(format!("object required, but have {}", type_name(value)));
                };
                let mut map = Map::new();
                for (name, t) in attrs {
                    let v = entries.get(name).ok_or_else(|| format!("attribute \"{name}\" is required"))?;
                    map.insert(name.clone(), t.convert(v)?);
                }
                Ok(sorted_object(map))
            }
        }
    }
}

/// Deduplicated and ordered as a cty set of primitives is (strings sort lexically,
/// numbers numerically).
pub fn set_of(items: Vec<Value>) -> Vec<Value> {
    let mut out = distinct(items);
    out.sort_by(|a, b| match (a, b) {
        (Value::Number(x), Value::Number(y)) => {
            x.as_f64().partial_cmp(&y.as_f64()).unwrap_or(std::cmp::Ordering::Equal)
        }
        (Value::String(x), Value::String(y)) => x.cmp(y),
        _ => std::cmp::Ordering::Equal,
    });
    out
}

/// The first of each group of [`equal`] values, in order; hashing keeps it
/// linear on large lists.
pub fn distinct(items: Vec<Value>) -> Vec<Value> {
    let mut seen = std::collections::HashSet::with_capacity(items.len());
    items.into_iter().filter(|v| seen.insert(equality_key(v))).collect()
}

/// A text that two values share exactly when they are [`equal`]: the type,
/// then the content, numbers by value.
pub fn equality_key(value: &Value) -> String {
    fn write(v: &Value, out: &mut String) {
        match v {
            Value::Null => out.push('z'),
            Value::Bool(b) => out.push(if *b { 't' } else { 'f' }),
            Value::Number(n) => {
                out.push('n');
                // -0 equals 0.
                let text = format_number(n);
                out.push_str(if text == "-0" { "0" } else { &text });
                out.push(';');
            }
            Value::String(s) => {
                out.push('s');
                out.push_str(&s.len().to_string());
                out.push(':');
                out.push_str(s);
            }
            Value::Array(items) => {
                out.push('[');
                items.iter().for_each(|i| write(i, out));
                out.push(']');
            }
            Value::Object(map) => {
                let mut entries: Vec<_> = map.iter().collect();
                entries.sort_by(|a, b| a.0.cmp(b.0));
                out.push('{');
                for (k, v) in entries {
                    out.push_str(&k.len().to_string());
                    out.push(':');
                    out.push_str(k);
                    write(v, out);
                }
                out.push('}');
            }
        }
    }
    let mut out = String::new();
    write(value, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_print_like_cty() {
        assert_eq!(format_number(&Number::from_f64(1.5).unwrap()), "1.5");
        assert_eq!(format_number(&Number::from_f64(1000.0).unwrap()), "1000");
        assert_eq!(format_number(&Number::from(9007199254740993u64)), "9007199254740993");
        assert_eq!(to_string(&number(0.1 + 0.2)).unwrap(), "0.3");
    }

    #[test]
    fn strings_convert_to_numbers_and_bools() {
        assert!(equal(&to_number(&Value::from("99")).unwrap(), &Value::from(99)));
        assert!(to_bool(&Value::from("true")).unwrap());
        assert!(to_number(&Value::from("x")).is_err());
    }

    #[test]
    fn equality_keys_agree_with_equal() {
        let values = [Value::from(1), Value::from(1.0), Value::from("1"), Value::from(-0.0), Value::from(0), Value::Null, Value::from(vec!["a"])];
        for a in &values {
            for b in &values {
                assert_eq!(equal(a, b), equality_key(a) == equality_key(b), "{a:?} {b:?}");
            }
        }
        assert_eq!(distinct(vec![Value::from("b"), Value::from("a"), Value::from("b")]), vec![Value::from("b"), Value::from("a")]);
    }

    #[test]
    fn list_types_reject_strings() {
        let err = Type::List(Box::new(Type::String)).convert(&Value::from("x")).unwrap_err();
        assert_eq!(err, "list of string required, but have string");
    }
}
