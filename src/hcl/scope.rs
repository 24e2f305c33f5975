//! Variables and expression evaluation.

use std::collections::BTreeMap;

use hcl::Value;

use super::eval::{follow_attributes, Evaluator, Resolve};
use super::limits::Budget;
use super::syntax::{Block, Body, Expr, Expression};
use super::{Diagnostic, SourceFile};

/// A `variable "NAME" { default = … }` block, with its value once overrides apply.
#[derive(Debug, Clone, PartialEq)]
pub struct Variable {
    pub name: String,
    pub default: Value,
    pub description: Option<String>,
    pub value: Value,
}

/// The names and values expressions can refer to, all known up front (the
/// spec language has no lazy names; bake files resolve theirs in `bake`).
/// Every expression evaluated in one scope shares one work budget.
pub struct Scope {
    names: BTreeMap<String, Value>,
    /// Names that mean another name's value (a spec's `image` is its `stage`).
    aliases: Vec<(&'static str, &'static str)>,
    budget: Budget,
}

impl Resolve for Scope {
    fn variable(&self, name: &str) -> Option<Result<Value, Diagnostic>> {
        self.get(name).cloned().map(Ok)
    }

    fn variable_ref(&self, name: &str) -> Option<&Value> {
        self.get(name)
    }

    fn budget(&self) -> &Budget {
        &self.budget
    }
}

impl Default for Scope {
    fn default() -> Scope {
        Scope::new()
    }
}

impl Scope {
    pub fn new() -> Scope {
        Scope { names: BTreeMap::new(), aliases: Vec::new(), budget: Budget::new() }
    }

    pub fn declare(&mut self, name: &str, value: Value) {
        self.names.insert(name.to_string(), value);
    }

    /// Makes `name` mean whatever `of` means (without a copy of its value).
    pub fn declare_alias(&mut self, name: &'static str, of: &'static str) {
        self.aliases.push((name, of));
    }

    fn get(&self, name: &str) -> Option<&Value> {
        match self.aliases.iter().find(|(alias, _)| *alias == name) {
            Some((_, of)) => self.names.get(*of),
            None => self.names.get(name),
        }
    }

    /// What `expr` reads, in place, when it is a name followed only by attribute
    /// reads that all exist (`stage.app`, `user.app`): nothing is copied. For
    /// anything else, `None`: [`Scope::eval`] evaluates it (and reports it).
    pub fn reached(&self, expr: &Expression) -> Option<&Value> {
        let Expr::Traversal(root, operators) = &expr.expr else { return None };
        let Expr::Variable(name) = &root.expr else { return None };
        let (reached, read) = follow_attributes(self.get(name.as_str())?, operators);
        (read == operators.len()).then_some(reached)
    }

    /// Evaluates an expression; an error points at the part that failed.
    pub fn eval(&self, file: &SourceFile, expr: &Expression) -> Result<Value, Diagnostic> {
        Evaluator::new(file, self).eval(expr)
    }
}

/// Reads every `variable` block of `body`, applies `overrides` (typed after the
/// default: a number default parses the override as a number, a bool as a bool)
/// and declares the results in `scope`. Defaults may refer to earlier variables.
pub fn declared_variables(
    file: &SourceFile,
    body: &Body,
    overrides: &BTreeMap<String, String>,
    scope: &mut Scope,
) -> Result<Vec<Variable>, Diagnostic> {
    let mut variables = Vec::new();
    for block in body.get_blocks("variable") {
        let variable = variable_block(file, block, overrides, scope)?;
        scope.declare(&variable.name, variable.value.clone());
        variables.push(variable);
    }
    Ok(variables)
}

fn variable_block(
    file: &SourceFile,
    block: &Block,
    overrides: &BTreeMap<String, String>,
    scope: &Scope,
) -> Result<Variable, Diagnostic> {
    let [label] = block.labels.as_slice() else {
        return Err(Diagnostic::at(file, block.span(), "a variable block takes exactly one name")
            .with_hint("write variable \"NAME\" { default = \"…\" }"));
    };
    let name = label.as_str().to_string();
    let mut default = Value::String(String::new());
    let mut description = None;
    for attr in block.body.attributes() {
        match attr.key.as_str() {
            "default" => default = scope.eval(file, &attr.value)?,
            "description" => description = scope.eval(file, &attr.value)?.as_str().map(str::to_string),
            other => {
                return Err(Diagnostic::at(file, attr.span(), format!("unknown attribute \"{other}\" in variable \"{name}\""))
                    .with_hint("a variable has default and description"))
            }
        }
    }
    let value = match overrides.get(&name) {
        Some(text) => typed_override(&default, text),
        None => default.clone(),
    };
    Ok(Variable { name, default, description, value })
}

/// An override given as text (build arg, environment), typed after the default.
/// Text that does not parse as the default's type stays a string.
pub fn typed_override(default: &Value, text: &str) -> Value {
    match default {
        Value::Number(_) => text
            .parse::<i64>()
            .map(Value::from)
            .or_else(|_| text.parse::<f64>().map(Value::from))
            .unwrap_or_else(|_| Value::String(text.to_string())),
        Value::Bool(_) => text.parse::<bool>().map(Value::Bool).unwrap_or_else(|_| Value::String(text.to_string())),
        _ => Value::String(text.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(text: &str, overrides: &[(&str, &str)]) -> Result<(Vec<Variable>, Scope), Diagnostic> {
        let file = SourceFile::new("t.hcl", text);
        let body = super::super::parse(&file)?;
        let overrides = overrides.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        let mut scope = Scope::new();
        let v = declared_variables(&file, &body, &overrides, &mut scope)?;
        Ok((v, scope))
    }

    #[test]
    fn overrides_take_the_type_of_the_default() {
        let (v, _) = vars("variable \"UID\" { default = 1000 }\nvariable \"N\" {}\n", &[("UID", "1234")]).unwrap();
        assert_eq!(v[0].value, Value::from(1234));
        assert_eq!(v[1].value, Value::String(String::new()));
    }

    #[test]
    fn defaults_can_use_earlier_variables() {
        let text = "variable \"A\" { default = \"x\" }\nvariable \"B\" { default = \"${A}-y\" }\n";
        let (v, _) = vars(text, &[("A", "z")]).unwrap();
        assert_eq!(v[1].value, Value::String("z-y".into()));
    }

    #[test]
    fn specs_share_the_bake_function_library_and_template_rules() {
        let text = "variable \"A\" { default = upper(join(\"-\", [\"x\", \"y\"])) }\nvariable \"N\" { default = null }\n";
        let (v, scope) = vars(text, &[]).unwrap();
        assert_eq!(v[0].value, Value::String("X-Y".into()));
        let file = SourceFile::new("t.hcl", "x = \"a-${N}\"\n");
        let body = super::super::parse(&file).unwrap();
        let err = scope.eval(&file, &body.get_attribute("x").unwrap().value).unwrap_err();
        assert!(err.message.contains("Cannot include a null value"), "{}", err.message);
    }

    /// Specs evaluate with the bake evaluator, so its fixes and limits hold there too.
    #[test]
    fn spec_variables_have_the_integer_fixes_and_the_limits() {
        let (v, _) = vars("variable \"M\" { default = -9223372036854775808 % -1 }\nvariable \"D\" { default = -9223372036854775808 / -1 }\n", &[]).unwrap();
        assert_eq!((v[0].value.to_string(), v[1].value.to_string()), ("0".to_string(), "9223372036854775808".to_string()));
        let mut doubling = String::from("variable \"V0\" { default = \"x\" }\n");
        for i in 1..=28 {
            doubling.push_str(&format!("variable \"V{i}\" {{ default = \"${{V{p}}}${{V{p}}}\" }}\n", p = i - 1));
        }
        let Err(err) = vars(&doubling, &[]) else { panic!("a 256 MiB string") };
        assert_eq!(err.headline(), "t.hcl:22:37: Value too large: the string would be longer than 1048576 bytes, leaven's limit for one value.");
        let splats = format!("variable \"V\" {{ default = [1]{} }}\n", "[*]".repeat(12_000));
        let Err(err) = vars(&splats, &[]) else { panic!("12000 splats") };
        assert!(err.message.starts_with("Nesting too deep"), "{}", err.message);
    }

    #[test]
    fn references_are_read_in_place_and_aliases_mean_their_name() {
        let mut scope = Scope::new();
        let app: hcl::Map<String, Value> = [("stage".to_string(), Value::from("app"))].into_iter().collect();
        scope.declare("stage", Value::Object([("app".to_string(), Value::Object(app.clone()))].into_iter().collect()));
        scope.declare_alias("image", "stage");
        let file = SourceFile::new("t.hcl", "a = image.app\nb = stage.app.stage\nc = stage.nope\nd = stage[\"app\"]\n");
        let body = super::super::parse(&file).unwrap();
        let expr = |name: &str| &body.get_attribute(name).unwrap().value;
        assert_eq!(scope.reached(expr("a")), Some(&Value::Object(app)));
        assert_eq!(scope.reached(expr("b")), Some(&Value::from("app")));
        assert_eq!((scope.reached(expr("c")), scope.reached(expr("d"))), (None, None));
        assert_eq!(scope.eval(&file, expr("d")).unwrap(), scope.eval(&file, expr("a")).unwrap());
    }

    #[test]
    fn unknown_attribute_is_located() {
        let Err(err) = vars("variable \"A\" {\n  defualt = 1\n}\n", &[]) else { panic!("accepted a typo") };
        assert_eq!((err.line, err.column), (2, 3));
    }
}
