//! Errors the HCL core reports in its own words ("Unknown variable",
//! "Unsupported attribute", a parser's position), said again in the spec's:
//! what the spec has and the closest name, where the mistake is.

use crate::hcl::syntax::{for_each_traversal, Body, Expr, Op};
use crate::hcl::{Diagnostic, SourceFile};

use super::parse::closest;

/// The names expressions can use, known from the spec's blocks before anything
/// is evaluated (borrowed from them: they are needed only for an error's hint).
pub(super) struct Names<'a> {
    pub variables: Vec<&'a str>,
    pub stages: Vec<&'a str>,
    pub users: Vec<&'a str>,
    pub services: Vec<&'a str>,
}

impl<'a> Names<'a> {
    pub(super) fn of(body: &'a Body) -> Names<'a> {
        let labels = |kinds: &[&str]| -> Vec<&'a str> {
            body.blocks()
                .filter(|b| kinds.iter().any(|k| b.has_ident(k)))
                .filter_map(|b| b.labels.first().map(|l| l.as_str()))
                .collect()
        };
        let mut variables = vec!["HOST_UID", "HOST_GID"];
        variables.extend(labels(&["variable"]));
        Names { variables, stages: labels(&["stage", "image"]), users: labels(&["user"]), services: labels(&["service"]) }
    }
}

/// `d` in the spec's terms when it is about a name the spec does not have.
pub(super) fn explain(d: Diagnostic, file: &SourceFile, body: &Body, names: &Names<'_>) -> Diagnostic {
    if let Some(name) = quoted_after(&d.message, "Unknown variable: There is no variable named ") {
        return unknown_variable(d.clone(), &name, names);
    }
    let Some(attr) = quoted_after(&d.message, "Unsupported attribute: This object does not have an attribute named ") else { return d };
    let Some((path, index)) = traversal_at(file, body, (d.line, d.column)) else { return d };
    let root = path.split('.').next().unwrap_or_default().to_string();
    let (list, kind, example) = match root.as_str() {
        "stage" | "image" => (&names.stages, "stage or image", "stage \"NAME\" { … }"),
        "user" => (&names.users, "user", "user \"NAME\" {}"),
        "service" => (&names.services, "service", "service \"NAME\" { image = … }"),
        _ => return d,
    };
    let what = |message: String, options: &[&str]| {
        let hint = match closest(&attr, options.iter()) {
            Some(near) => format!("did you mean {path}.{near}?"),
            None if options.is_empty() => format!("declare one with {example}"),
            None => format!("it has: {}", options.join(", ")),
        };
        Diagnostic { message, hint: Some(hint), ..d.clone() }
    };
    match index {
        0 => {
            let options: Vec<&str> = list.clone();
            what(format!("the spec has no {kind} \"{attr}\""), &options)
        }
        1 if root == "user" => what(format!("a user has no \"{attr}\""), &["name", "uid", "gid"]),
        1 if root == "service" => what(format!("a service has no \"{attr}\""), &["name", "host"]),
        _ => d,
    }
}

fn unknown_variable(d: Diagnostic, name: &str, names: &Names<'_>) -> Diagnostic {
    if names.variables.contains(&name) {
        // Defaults are evaluated in order: a later variable is not known yet.
        return Diagnostic {
            message: format!("variable \"{name}\" is used before it is declared"),
            hint: Some(format!("move variable \"{name}\" above the variable that uses it")),
            ..d
        };
    }
    let mut options: Vec<&str> = names.variables.clone();
    options.extend(["user", "stage", "image", "service"]);
    let hint = match closest(name, options.iter()) {
        Some(near) => format!("did you mean {near}?"),
        None => format!("declare it with variable \"{name}\" {{ default = … }}; the spec has {}", names.variables.join(", ")),
    };
    Diagnostic { message: format!("unknown variable \"{name}\""), hint: Some(hint), ..d }
}

/// The quoted name in `message` right after `prefix`.
fn quoted_after(message: &str, prefix: &str) -> Option<String> {
    let rest = message.strip_prefix(prefix)?.strip_prefix('"')?;
    rest.split_once('"').map(|(name, _)| name.to_string())
}

/// The traversal with an attribute operator at a position (line, column):
/// the path before that operator and the operator's index.
fn traversal_at(file: &SourceFile, body: &Body, at: (usize, usize)) -> Option<(String, usize)> {
    let mut found = None;
    for_each_traversal(body, &mut |root, operators| {
        let Expr::Variable(root) = &root.expr else { return };
        for (index, op) in operators.iter().enumerate() {
            let here = op.span().map(|s| file.position(s.start));
            if here == Some(at) && matches!(op.op, Op::GetAttr(_)) {
                // The path up to the unknown name: `service.db` for `service.db.hots`.
                let mut path = root.to_string();
                for op in &operators[..index] {
                    if let Op::GetAttr(name) = &op.op {
                        path.push('.');
                        path.push_str(name);
                    }
                }
                found = Some((path, index));
            }
        }
    });
    found
}

/// Where a quoted string that does not end on its line starts: the parser
/// reports the place it gave up, often lines later. Comments and heredocs are
/// skipped; `${…}` inside a string may hold strings of its own.
pub(super) fn unterminated_string(text: &str) -> Option<(usize, usize)> {
    #[derive(Clone, Copy, PartialEq)]
    enum In {
        Code,
        Str(usize),
        Interp(usize),
    }
    let mut heredoc: Option<String> = None;
    let mut block_comment = false;
    for (n, line) in text.lines().enumerate() {
        if let Some(marker) = &heredoc {
            if line.trim() == marker {
                heredoc = None;
            }
            continue;
        }
        let chars: Vec<char> = line.chars().collect();
        let mut stack = vec![In::Code];
        let mut i = 0;
        while i < chars.len() {
            let c = chars[i];
            let next = chars.get(i + 1).copied();
            let top = *stack.last().expect("the stack starts with code");
            if block_comment {
                if c == '*' && next == Some('/') {
                    block_comment = false;
                    i += 1;
                }
                i += 1;
                continue;
            }
            match top {
                In::Code | In::Interp(_) => match c {
                    '#' => break,
                    '/' if next == Some('/') => break,
                    '/' if next == Some('*') => {
                        block_comment = true;
                        i += 1;
                    }
                    '"' => stack.push(In::Str(i)),
                    '<' if next == Some('<') && top == In::Code => {
                        let marker: String = chars[i + 2..].iter().skip_while(|c| **c == '-').collect();
                        let marker = marker.trim().to_string();
                        if !marker.is_empty() && marker.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                            heredoc = Some(marker);
                            break;
                        }
                    }
                    '{' => {
                        if let In::Interp(depth) = top {
                            *stack.last_mut().expect("non-empty") = In::Interp(depth + 1);
                        }
                    }
                    '}' => match top {
                        In::Interp(0) => {
                            stack.pop();
                        }
                        In::Interp(depth) => *stack.last_mut().expect("non-empty") = In::Interp(depth - 1),
                        _ => {}
                    },
                    _ => {}
                },
                In::Str(_) => match c {
                    '\\' => i += 1,
                    '"' => {
                        stack.pop();
                    }
                    '$' | '%' if next == Some('{') => {
                        if chars.get(i.wrapping_sub(1)) == Some(&c) {
                            // `$${` and `%%{` are literal.
                        } else {
                            stack.push(In::Interp(0));
                        }
                        i += 1;
                    }
                    _ => {}
                },
            }
            i += 1;
        }
        if let Some(In::Str(start)) = stack.iter().find(|s| matches!(s, In::Str(_))) {
            return Some((n + 1, start + 1));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unclosed_quote_is_found_where_it_opens() {
        assert_eq!(unterminated_string("a = \"x\"\nb = \"open\nc = 1\n"), Some((2, 5)));
        assert_eq!(unterminated_string("a = \"${join(\",\", x)}\" # \"\nb = <<EOT\n\"\nEOT\n"), None);
        assert_eq!(unterminated_string("a = \"$${x\"\n/* \" */\n"), None);
        assert_eq!(unterminated_string("a = \"${b\n"), Some((1, 5)));
    }
}
