//! Bad bake input, as a user meets it: each case is a set of files and a
//! command line, with the exact first line `leaven bake --print` reports
//! (after `ERROR: `): position and message. Where buildx accepts the input,
//! the case says what is printed instead (`prints POINTER = JSON`). Cases that
//! buildx also sees are compared with it in `tests/bake_buildx.rs`.

use std::collections::BTreeMap;
use std::path::Path;

use leaven::bake::{run, BakeError, Output, Request};

/// Name, files, command line, environment (`K=V`), expected outcome. Files are
/// `docker-bake.hcl` unless a `>>> NAME` line starts another; `@NAME` is a
/// generated file (see [`generated`]).
const CASES: &[(&str, &str, &str, &str, &str)] = &[
    ("syntax: an unclosed block", "target \"default\" {\n  tags = [\"a\"]\n", "", "", "docker-bake.hcl:1:18: Unclosed configuration block: there is no closing `}` for this block's `{`."),
    ("syntax: an attribute without =", "target \"default\" {\n  tags [\"a\"]\n}\n", "", "", "docker-bake.hcl:2:8: Invalid argument or block definition: found `[`; expected `=` to set an argument, or a label or `{` to start a block."),
    ("syntax: an unterminated string", "target \"default\" {\n  tags = [\"a]\n}\n", "", "", "docker-bake.hcl:2:14: Unterminated template string: found a newline; expected `\"` to close the string (use a heredoc for several lines)."),
    ("syntax: an unterminated heredoc", "target \"default\" {\n  dockerfile-inline = <<EOT\nFROM x\n}\n", "", "", "docker-bake.hcl:2:23: Unterminated heredoc: found the end of the file; expected a line with only EOT to close this heredoc."),
    ("syntax: a stray token", "target \"default\" {}\n}\n", "", "", "docker-bake.hcl:2:1: Argument or block definition required: found `}`; expected an argument name or a block type."),
    ("syntax: a bad escape", "target \"default\" { tags = [\"\\q\"] }\n", "", "", "docker-bake.hcl:1:29: Invalid escape sequence: found \\q; expected \\n, \\r, \\t, \\\", \\\\, \\uNNNN or \\UNNNNNNNN."),
    ("syntax: 70 nested parentheses", "X = ((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((1))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))\ntarget \"default\" {}\n", "", "", "docker-bake.hcl:1:70: Nesting too deep: expected at most 64 nested levels."),
    ("syntax: a leading byte order mark is skipped, as in buildx", "\u{feff}target \"default\" { tags = [\"a\"] }\n", "", "", "prints /target/default/tags = [\"a\"]"),
    ("json: a leading byte order mark is skipped", ">>> docker-bake.json\n\u{feff}{\"target\": {\"default\": {\"tags\": [\"a\"]}}}\n", "", "", "prints /target/default/tags = [\"a\"]"),
    ("json: not JSON", ">>> docker-bake.json\n{\"target\": }\n", "", "", "docker-bake.json:1:12: invalid JSON: expected value at line 1 column 12"),
    ("json: not an object", ">>> docker-bake.json\n[1, 2]\n", "", "", "docker-bake.json:1:1: a bake JSON file must be an object"),
    ("json: a bad attribute name", ">>> docker-bake.json\n{\"target\": {\"default\": {\"not a name\": 1}}}\n", "", "", "docker-bake.json:1:1: invalid attribute name \"not a name\""),
    ("json: a bad template", ">>> docker-bake.json\n{\"target\": {\"default\": {\"tags\": [\"${\"]}}}\n", "", "", "docker-bake.json:1:1: invalid template \"${\": Invalid expression: found the end of the file; expected an expression (a value, a name, a function call, a list or an object)"),
    ("json: an unknown variable", ">>> docker-bake.json\n{\"target\": {\"default\": {\"tags\": [\"${nope}\"]}}}\n", "", "", "docker-bake.json: Unknown variable: There is no variable named \"nope\"."),
    ("compose: not YAML", ">>> compose.yaml\nservices:\n  web:\n    build: [\n", "", "", "compose.yaml:4:1: invalid compose file: did not find expected node content at line 4 column 1, while parsing a flow node"),
    ("compose: a missing required variable", ">>> compose.yaml\nservices:\n  web:\n    build: .\n    image: x:${TAG:?set TAG}\n", "", "", "compose.yaml:4:12: error while interpolating services.web.image: required variable TAG is missing a value: set TAG"),
    ("compose: an undefined secret", ">>> compose.yaml\nservices:\n  web:\n    build:\n      context: .\n      secrets: [nope]\n", "", "", "service web refers to undefined build secret nope"),
    ("blocks: a target without a name", "target {\n}\n", "", "", "docker-bake.hcl:1:8: Missing name for target: All target blocks must have 1 labels (name)."),
    ("blocks: a target with two names", "target \"a\" \"b\" {\n}\n", "", "", "docker-bake.hcl:1:12: Extraneous label for target: Only 1 labels (name) are expected for target blocks."),
    ("blocks: an invalid target name", "target \"my app\" {}\n", "my app", "", "docker-bake.hcl:1:8: invalid name my app: only \"[a-zA-Z0-9_-]+\" are allowed"),
    ("blocks: an empty target name", "target \"\" {}\n", "", "", "docker-bake.hcl:1:8: invalid name : only \"[a-zA-Z0-9_-]+\" are allowed"),
    ("blocks: a group with target instead of targets", "group \"default\" {\n  target = [\"a\"]\n}\ntarget \"a\" {}\n", "", "", "docker-bake.hcl:1:17: Missing required argument; The argument \"targets\" is required, but no definition was found."),
    ("blocks: a group without targets", "group \"all\" {}\ntarget \"default\" {}\n", "", "", "docker-bake.hcl:1:13: Missing required argument; The argument \"targets\" is required, but no definition was found."),
    ("blocks: name on a group", "group \"g\" {\n  name = \"x\"\n  targets = []\n}\ntarget \"default\" {}\n", "", "", "docker-bake.hcl:1:7: name is not supported for groups"),
    ("blocks: a variable with two names", "variable \"A\" \"B\" {}\ntarget \"default\" {}\n", "", "", "docker-bake.hcl:1:14: Extraneous label for variable: Only 1 labels (name) are expected for variable blocks."),
    ("blocks: a variable without a name", "variable {}\ntarget \"default\" {}\n", "", "", "docker-bake.hcl:1:10: Missing name for variable: All variable blocks must have 1 labels (name)."),
    ("blocks: a function with two names", "function \"f\" \"g\" {\n  params = []\n  result = 1\n}\ntarget \"default\" {}\n", "", "", "docker-bake.hcl:1:14: Extraneous label for function: Only 1 labels (name) are expected for function blocks."),
    ("matrix: name without matrix", "target \"m\" {\n  name = \"x\"\n}\n", "m", "", "docker-bake.hcl:1:8: name requires matrix"),
    ("matrix: not a map", "target \"m\" {\n  matrix = [\"a\"]\n  name = \"m\"\n}\n", "m", "", "docker-bake.hcl:1:8: matrix must be a map"),
    ("matrix: values not a list", "target \"m\" {\n  matrix = { v = \"a\" }\n  name = \"m-${v}\"\n}\n", "m", "", "docker-bake.hcl:1:8: matrix values must be a list"),
    ("matrix: a duplicate name", "target \"m\" {\n  matrix = { v = [\"a\", \"b\"] }\n  name = \"same\"\n}\n", "m", "", "docker-bake.hcl:1:8: duplicate name \"same\""),
    ("matrix: a name that is not a valid name", "target \"m\" {\n  matrix = { v = [\"a b\"] }\n  name = \"m-${v}\"\n}\n", "m", "", "docker-bake.hcl:3:10: invalid name m-a b: only \"[a-zA-Z0-9_-]+\" are allowed"),
    ("matrix: a name that is a list", "target \"m\" {\n  matrix = { v = [\"a\"] }\n  name = [v]\n}\n", "m", "", "docker-bake.hcl:3:10: name: string required, but have tuple"),
    ("matrix: more variants than one collection may hold", "target \"m\" {\n  matrix = { a = range(1024), b = range(1024), c = range(2) }\n  name = \"m-${a}-${b}-${c}\"\n}\n", "m", "", "docker-bake.hcl:2:12: Value too large: the collection would have more than 1048576 elements, leaven's limit for one value."),
    ("cycles: a variable that uses itself", "variable \"A\" { default = \"${A}-x\" }\ntarget \"default\" { args = { A = A } }\n", "", "", "docker-bake.hcl:1:29: variable cycle not allowed for A"),
    ("cycles: a target attribute that uses itself", "target \"default\" { context = target.default.context }\n", "", "", "docker-bake.hcl:1:30: reference cycle not allowed for target.default.context"),
    ("cycles: a function that calls itself", "function \"f\" {\n  params = [x]\n  result = f(x)\n}\ntarget \"default\" { args = { A = f(1) } }\n", "", "", "docker-bake.hcl:3:12: function cycle not allowed for f"),
    ("cycles: an inheritance cycle is tolerated, as in buildx", "target \"a\" {\n  inherits = [\"b\"]\n  tags = [\"a\"]\n}\ntarget \"b\" {\n  inherits = [\"a\"]\n  args = { B = \"1\" }\n}\n", "a", "", "prints /target/a/args = {\"B\":\"1\"}"),
    ("cycles: a target that inherits itself", "target \"a\" {\n  inherits = [\"a\"]\n  tags = [\"x\"]\n}\n", "a", "", "prints /target/a/tags = [\"x\"]"),
    ("cycles: a link to itself", "target \"default\" { contexts = { x = \"target:default\" } }\n", "", "", "target default cannot link to itself"),
    ("cycles: a link loop", "target \"a\" { contexts = { x = \"target:b\" } }\ntarget \"b\" { contexts = { x = \"target:a\" } }\n", "a", "", "infinite loop from b to a"),
    ("references: an unknown target", "target \"default\" { context = target.nope.context }\n", "", "", "docker-bake.hcl:1:30: Unknown target: there is no target named \"nope\""),
    ("references: a target from a variable default", "target \"a\" {}\nvariable \"V\" { default = target.a.context }\ntarget \"default\" { args = { V = V } }\n", "", "", "docker-bake.hcl:2:26: Unknown variable: There is no variable named \"target\"."),
    ("references: an unknown variable", "target \"default\" { tags = [nope] }\n", "", "", "docker-bake.hcl:1:28: Unknown variable: There is no variable named \"nope\"."),
    ("references: an unknown function", "target \"default\" { tags = [nope()] }\n", "", "", "docker-bake.hcl:1:28: Call to unknown function: There is no function named \"nope\"."),
    ("functions: no params", "function \"f\" { result = 1 }\ntarget \"default\" { args = { A = f() } }\n", "", "", "docker-bake.hcl:1:10: empty params not allowed for f"),
    ("functions: no result", "function \"f\" { params = [] }\ntarget \"default\" { args = { A = f() } }\n", "", "", "docker-bake.hcl:1:10: empty result not allowed"),
    ("functions: params not a list", "function \"f\" {\n  params = x\n  result = 1\n}\ntarget \"default\" { args = { A = f() } }\n", "", "", "docker-bake.hcl:2:12: params must be a list of names"),
    ("functions: a parameter that is not a name", "function \"f\" {\n  params = [1]\n  result = 1\n}\ntarget \"default\" { args = { A = f(1) } }\n", "", "", "docker-bake.hcl:2:13: a parameter must be a name"),
    ("functions: too many arguments to a builtin", "target \"default\" {\n  args = { A = upper(\"a\", \"b\") }\n}\n", "", "", "docker-bake.hcl:2:27: Too many function arguments; Function \"upper\" expects only 1 argument(s)."),
    ("functions: too few arguments to a builtin", "target \"default\" {\n  args = { A = upper() }\n}\n", "", "", "docker-bake.hcl:2:22: Not enough function arguments; Function \"upper\" expects 1 argument(s). Missing value for \"str\"."),
    ("functions: too many arguments to a user function", "function \"f\" {\n  params = [x]\n  result = x\n}\ntarget \"default\" { args = { A = f(\"a\", \"b\") } }\n", "", "", "docker-bake.hcl:5:40: Too many function arguments; Function \"f\" expects only 1 argument(s)."),
    ("functions: too few arguments to a user function", "function \"f\" {\n  params = [x, y]\n  result = x\n}\ntarget \"default\" { args = { A = f(\"a\") } }\n", "", "", "docker-bake.hcl:5:38: Not enough function arguments; Function \"f\" expects 2 argument(s). Missing value for \"y\"."),
    ("functions: an argument to timestamp", "target \"default\" { args = { A = timestamp(1) } }\n", "", "", "docker-bake.hcl:1:43: Too many function arguments; Function \"timestamp\" expects only 0 argument(s)."),
    ("functions: expanding a string", "target \"default\" { args = { A = max(\"1\"...) } }\n", "", "", "docker-bake.hcl:1:33: Invalid expanding argument value: the final argument must be a list"),
    ("types: tags as a string", "target \"default\" { tags = \"x\" }\n", "", "", "docker-bake.hcl:1:27: Unsuitable value for \"tags\": list of string required, but have string"),
    ("types: a list as an arg", "target \"default\" { args = { A = [\"x\"] } }\n", "", "", "docker-bake.hcl:1:27: Unsuitable value for \"args\": element \"A\": string required, but have tuple"),
    ("types: args as a list", "target \"default\" { args = [\"A=1\"] }\n", "", "", "docker-bake.hcl:1:27: Unsuitable value for \"args\": map of string required, but have tuple"),
    ("types: a null in a template", "variable \"V\" { default = null }\ntarget \"default\" { tags = [\"x-${V}\"] }\n", "", "", "docker-bake.hcl:2:33: Invalid template interpolation value: The expression result is null. Cannot include a null value in a string template."),
    ("types: a list in a template", "target \"default\" { tags = [\"x-${[1]}\"] }\n", "", "", "docker-bake.hcl:1:33: Invalid template interpolation value: string required, but have tuple"),
    ("types: pull as a word", "target \"default\" { pull = \"maybe\" }\n", "", "", "docker-bake.hcl:1:27: Unsuitable value for \"pull\": bool required, but have string"),
    ("types: an output without a type", "target \"default\" { output = [\"dest=out\"] }\n", "", "", "docker-bake.hcl:1:29: Unsuitable value for \"output\": type is required for output: dest=out"),
    ("types: an attestation without a type", "target \"default\" { attest = [\"mode=max\"] }\n", "", "", "docker-bake.hcl:1:29: Unsuitable value for \"attest\": attestation type not specified"),
    ("types: a secret with an unknown key", "target \"default\" { secret = [\"id=a,path=/x\"] }\n", "", "", "docker-bake.hcl:1:29: Unsuitable value for \"secret\": unexpected key 'path' in secret"),
    ("types: a cache entry with a bad field", "target \"default\" { cache-from = [\"type=registry,ref\"] }\n", "", "", "docker-bake.hcl:1:33: Unsuitable value for \"cache-from\": invalid value ref"),
    ("types: inherits as a string", "target \"default\" { inherits = \"base\" }\n", "", "", "docker-bake.hcl:1:31: Unsuitable value for \"inherits\": list of string required, but have string"),
    ("types: an unknown parent", "target \"default\" { inherits = [\"nope\"] }\n", "", "", "failed to find target nope"),
    ("variables: a typed default that does not convert", "variable \"N\" {\n  type = number\n  default = \"x\"\n}\ntarget \"default\" {}\n", "", "", "docker-bake.hcl:1:10: invalid type number for variable N default value: a number is required, but \"x\" is not one"),
    ("variables: a bad type keyword", "variable \"V\" { type = boolean }\ntarget \"default\" {}\n", "", "", "docker-bake.hcl:1:23: Invalid type specification: The keyword \"boolean\" is not a valid type specification."),
    ("variables: a type written as a string", "variable \"V\" { type = \"string\" }\ntarget \"default\" {}\n", "", "", "docker-bake.hcl:1:23: Invalid type specification: The keyword \"string\" is not a valid type specification."),
    ("variables: an unknown attribute is ignored", "variable \"V\" {\n  defualt = \"x\"\n}\ntarget \"default\" { args = { V = V } }\n", "", "", "prints /target/default = {\"context\":\".\",\"dockerfile\":\"Dockerfile\",\"args\":{\"V\":\"\"}}"),
    ("variables: a number override that does not parse", "variable \"N\" { default = 1 }\ntarget \"default\" { args = { N = N } }\n", "", "N=abc", "docker-bake.hcl:1:10: failed to parse N as number: strconv.ParseFloat: parsing \"abc\": invalid syntax"),
    ("variables: a bool override that does not parse", "variable \"B\" { default = false }\ntarget \"default\" { args = { B = B } }\n", "", "B=maybe", "docker-bake.hcl:1:10: failed to parse B as bool"),
    ("variables: a map override without a colon", "variable \"M\" { type = map(string) }\ntarget \"default\" { args = M }\n", "", "M=a", "docker-bake.hcl:1:10: invalid map entry \"a\" for variable M"),
    ("variables: an object type from the environment", "variable \"O\" { type = object({a = string}) }\ntarget \"default\" {}\n", "", "O=x", "docker-bake.hcl:1:10: unsupported type object for variable O; use O_JSON"),
    ("variables: a list default from the environment", "variable \"L\" { default = [\"a\"] }\ntarget \"default\" { tags = L }\n", "", "L=b", "docker-bake.hcl:1:10: unsupported type tuple for variable L"),
    ("variables: JSON that does not parse", "variable \"L\" { type = list(string) }\ntarget \"default\" { tags = L }\n", "", "L_JSON=[", "docker-bake.hcl:1:10: failed to parse L_JSON as JSON: EOF while parsing a list at line 1 column 1"),
    ("variables: JSON of the wrong type", "variable \"L\" { type = list(number) }\ntarget \"default\" { args = { L = L[0] } }\n", "", "L_JSON=[\"x\"]", "docker-bake.hcl:1:10: failed to convert L_JSON: element 0: a number is required, but \"x\" is not one"),
    ("variables: a failed validation", "variable \"V\" {\n  default = \"\"\n  validation {\n    condition = V != \"\"\n    error_message = \"V is required\"\n  }\n}\ntarget \"default\" {}\n", "", "", "docker-bake.hcl:4:17: Validation failed; V is required"),
    ("variables: a validation that is not a bool", "variable \"V\" {\n  default = \"x\"\n  validation {\n    condition = V\n  }\n}\ntarget \"default\" {}\n", "", "", "docker-bake.hcl:4:17: Invalid condition result: a bool is required, but have string"),
    ("expressions: an index out of range", "target \"default\" { args = { A = [1, 2][2] } }\n", "", "", "docker-bake.hcl:1:39: Invalid index: The given key does not identify an element in this collection value."),
    ("expressions: a missing attribute", "target \"default\" { args = { A = {a = 1}.b } }\n", "", "", "docker-bake.hcl:1:40: Unsupported attribute: This object does not have an attribute named \"b\"."),
    ("expressions: an attribute of a string", "target \"default\" { args = { A = \"x\".y } }\n", "", "", "docker-bake.hcl:1:36: Unsupported attribute: Can't access attributes on a string."),
    ("expressions: indexing null", "variable \"N\" { default = null }\ntarget \"default\" { args = { A = N[0] } }\n", "", "", "docker-bake.hcl:2:34: Attempt to index null value"),
    ("expressions: a condition that is not a bool", "target \"default\" { args = { A = \"x\" ? 1 : 2 } }\n", "", "", "docker-bake.hcl:1:33: Incorrect condition type: bool required, but have string"),
    ("expressions: a for over null", "variable \"N\" { default = null }\ntarget \"default\" { tags = [for x in N : x] }\n", "", "", "docker-bake.hcl:2:37: Iteration over null value: A null value cannot be used as the collection in a 'for' expression."),
    ("expressions: a for over a number", "target \"default\" { tags = [for x in 3 : x] }\n", "", "", "docker-bake.hcl:1:37: Iteration over non-iterable value: A value of type number cannot be used as the collection in a 'for' expression."),
    ("expressions: a for with duplicate keys", "target \"default\" { args = { for x in [\"a\", \"a\"] : x => x } }\n", "", "", "docker-bake.hcl:1:51: Duplicate object key: Two different items produced the key \"a\" in this 'for' expression."),
    ("expressions: adding a word", "target \"default\" { args = { A = \"x\" + 1 } }\n", "", "", "docker-bake.hcl:1:33: Invalid operand: a number is required, but \"x\" is not one"),
    ("expressions: not of a number", "target \"default\" { args = { A = !1 } }\n", "", "", "docker-bake.hcl:1:33: Invalid operand: bool required, but have number"),
    ("expressions: dividing by zero", "target \"default\" { args = { A = 1 % 0 } }\n", "", "", "docker-bake.hcl:1:33: Invalid operand: can't use modulo by zero"),
    ("expressions: an object as a key", "target \"default\" { args = { ({a = 1}) = 1 } }\n", "", "", "docker-bake.hcl:1:29: Incorrect key type: string required, but have object"),
    ("expressions: i64::MIN / -1", "target \"default\" { args = { A = -9223372036854775808 / -1 } }\n", "", "", "prints /target/default/args/A = \"9223372036854775808\""),
    ("expressions: i64::MIN % -1", "target \"default\" { args = { A = -9223372036854775808 % -1 } }\n", "", "", "prints /target/default/args/A = \"0\""),
    ("library: format with an unknown verb", "target \"default\" { args = { A = format(\"%z\", 1) } }\n", "", "", "docker-bake.hcl:1:33: Error in function call: Call to function \"format\" failed: unsupported format verb %z."),
    ("library: format with too few values", "target \"default\" { args = { A = format(\"%s %s\", \"x\") } }\n", "", "", "docker-bake.hcl:1:33: Error in function call: Call to function \"format\" failed: not enough arguments for %s."),
    ("library: format of a word as a number", "target \"default\" { args = { A = format(\"%d\", \"x\") } }\n", "", "", "docker-bake.hcl:1:33: Error in function call: Call to function \"format\" failed: a number is required, but \"x\" is not one."),
    ("library: format with a huge width", "target \"default\" { args = { A = format(\"%999999999999s\", \"x\") } }\n", "", "", "docker-bake.hcl:1:33: Error in function call: Call to function \"format\" failed: width or precision 999999999999 is above the limit of 1000000."),
    ("library: format with a huge zero padding", "target \"default\" { args = { A = format(\"%0999999999d\", -1) } }\n", "", "", "docker-bake.hcl:1:33: Error in function call: Call to function \"format\" failed: width or precision 0999999999 is above the limit of 1000000."),
    ("library: format with a precision above Rust's formatter", "target \"default\" { args = { A = strlen(format(\"%.99999f\", 1)) } }\n", "", "", "prints /target/default/args/A = \"100001\""),
    ("library: a huge indent", "target \"default\" { args = { A = indent(1e12, \"a\\nb\") } }\n", "", "", "docker-bake.hcl:1:33: Error in function call: Call to function \"indent\" failed: Value too large: the string would be longer than 1048576 bytes, leaven's limit for one value."),
    ("library: parseint in base 37", "target \"default\" { args = { A = parseint(\"1\", 37) } }\n", "", "", "prints /target/default/args/A = \"1\""),
    ("library: parseint in base 62", "target \"default\" { args = { A = parseint(\"Z\", 62) } }\n", "", "", "prints /target/default/args/A = \"61\""),
    ("library: parseint in base 63", "target \"default\" { args = { A = parseint(\"1\", 63) } }\n", "", "", "docker-bake.hcl:1:33: Error in function call: Call to function \"parseint\" failed: invalid base 63."),
    ("library: parseint of a bad digit", "target \"default\" { args = { A = parseint(\"12\", 2) } }\n", "", "", "docker-bake.hcl:1:33: Error in function call: Call to function \"parseint\" failed: cannot parse \"12\" as a base 2 integer."),
    ("library: bcrypt at cost 31", "target \"default\" { args = { A = bcrypt(\"x\", 31) } }\n", "", "", "docker-bake.hcl:1:33: Error in function call: Call to function \"bcrypt\" failed: cost 31 is above leaven's limit of 14 (each step doubles the time)."),
    ("library: range with step 0", "target \"default\" { args = { A = jsonencode(range(0, 10, 0)) } }\n", "", "", "docker-bake.hcl:1:44: Error in function call: Call to function \"range\" failed: step must not be zero."),
    ("library: range of more than 1024 values", "target \"default\" { args = { A = jsonencode(range(2000)) } }\n", "", "", "docker-bake.hcl:1:44: Error in function call: Call to function \"range\" failed: more than 1024 values were generated."),
    ("library: element of an empty list", "target \"default\" { args = { A = element([], 0) } }\n", "", "", "docker-bake.hcl:1:33: Error in function call: Call to function \"element\" failed: cannot use element function with an empty list."),
    ("library: slice out of range", "target \"default\" { args = { A = jsonencode(slice([1], 0, 5)) } }\n", "", "", "docker-bake.hcl:1:44: Error in function call: Call to function \"slice\" failed: the start and end indices are out of range."),
    ("library: an invalid regex", "target \"default\" { args = { A = regex(\"(\", \"x\") } }\n", "", "", "docker-bake.hcl:1:33: Error in function call: Call to function \"regex\" failed: invalid regular expression pattern: unclosed group."),
    ("library: a regex that does not match", "target \"default\" { args = { A = regex(\"[0-9]+\", \"abc\") } }\n", "", "", "docker-bake.hcl:1:33: Error in function call: Call to function \"regex\" failed: pattern did not match any part of the given string."),
    ("library: jsondecode of bad JSON", "target \"default\" { args = { A = jsondecode(\"{\") } }\n", "", "", "docker-bake.hcl:1:33: Error in function call: Call to function \"jsondecode\" failed: EOF while parsing an object at line 1 column 1."),
    ("library: base64decode of bad data", "target \"default\" { args = { A = base64decode(\"!!\") } }\n", "", "", "docker-bake.hcl:1:33: Error in function call: Call to function \"base64decode\" failed: failed to decode base64 data: Invalid symbol 33, offset 0."),
    ("library: csvdecode with a short row", "target \"default\" { args = { A = jsonencode(csvdecode(\"a,b\\n1\\n\")) } }\n", "", "", "docker-bake.hcl:1:44: Error in function call: Call to function \"csvdecode\" failed: wrong number of fields: header has 2, row has 1."),
    ("library: cidrhost out of range", "target \"default\" { args = { A = cidrhost(\"10.0.0.0/30\", 9) } }\n", "", "", "docker-bake.hcl:1:33: Error in function call: Call to function \"cidrhost\" failed: prefix of 30 bits cannot accommodate a host numbered 9."),
    ("library: timeadd with a bad duration", "target \"default\" { args = { A = timeadd(\"2024-01-01T00:00:00Z\", \"1y\") } }\n", "", "", "docker-bake.hcl:1:33: Error in function call: Call to function \"timeadd\" failed: invalid duration \"1y\"."),
    ("library: formatdate of a bad timestamp", "target \"default\" { args = { A = formatdate(\"YYYY\", \"yesterday\") } }\n", "", "", "docker-bake.hcl:1:33: Error in function call: Call to function \"formatdate\" failed: not a valid RFC3339 timestamp: premature end of input."),
    ("library: lookup of a missing key", "target \"default\" { args = { A = lookup({a = 1}, \"b\") } }\n", "", "", "docker-bake.hcl:1:33: Error in function call: Call to function \"lookup\" failed: the given key \"b\" does not exist in the map."),
    ("library: zipmap of unequal lists", "target \"default\" { args = { A = jsonencode(zipmap([\"a\"], [])) } }\n", "", "", "docker-bake.hcl:1:44: Error in function call: Call to function \"zipmap\" failed: number of keys and values must match."),
    ("library: length of a string", "target \"default\" { args = { A = length(\"abc\") } }\n", "", "", "docker-bake.hcl:1:33: Error in function call: Call to function \"length\" failed: collection must be a list, a map or a tuple, not string."),
    ("library: coalesce of nulls", "target \"default\" { args = { A = coalesce(null, null) } }\n", "", "", "docker-bake.hcl:1:33: Error in function call: Call to function \"coalesce\" failed: no non-null arguments."),
    ("library: max of nothing", "target \"default\" { args = { A = max() } }\n", "", "", "docker-bake.hcl:1:33: Error in function call: Call to function \"max\" failed: must pass at least one number."),
    ("library: rsadecrypt", "target \"default\" { args = { A = rsadecrypt(\"x\", \"y\") } }\n", "", "", "docker-bake.hcl:1:33: Error in function call: Call to function \"rsadecrypt\" failed: rsadecrypt is not supported by leaven."),
    ("library: convert that fails", "target \"default\" { args = { A = convert(\"x\", number) } }\n", "", "", "docker-bake.hcl:1:41: Invalid value for \"value\" parameter: a number is required, but \"x\" is not one"),
    ("limits: a string doubled 28 times", "@doubling", "", "", "docker-bake.hcl:22:37: Value too large: the string would be longer than 1048576 bytes, leaven's limit for one value."),
    ("limits: three nested fors over 1024", "target \"default\" { args = { A = length([for a in range(1024) : [for b in range(1024) : [for c in range(1024) : c]]]) } }\n", "", "", "docker-bake.hcl:1:112: Too much work: evaluation takes more than 33554432 steps, leaven's limit."),
    ("limits: three nested template fors over 1024", "target \"default\" { args = { A = \"%{ for a in range(1024) }%{ for b in range(1024) }%{ for c in range(1024) }%{ endfor }%{ endfor }%{ endfor }\" } }\n", "", "", "docker-bake.hcl:1:96: Too much work: evaluation takes more than 33554432 steps, leaven's limit."),
    ("limits: setproduct of three ranges", "target \"default\" { args = { A = length(setproduct(range(1024), range(1024), range(1024))) } }\n", "", "", "docker-bake.hcl:1:40: Error in function call: Call to function \"setproduct\" failed: Value too large: the collection would have more than 1048576 elements, leaven's limit for one value."),
    ("limits: functions calling the previous one twice", "@functions", "", "", "docker-bake.hcl:11:20: Too much work: evaluation takes more than 33554432 steps, leaven's limit."),
    ("limits: 12000 splats", "@splats", "", "", "docker-bake.hcl:1:3026: Nesting too deep: evaluation here is more than 1000 calls and references deep, leaven's limit."),
    ("limits: a chain of 2000 variables", "@chain", "", "", "docker-bake.hcl:1002:30: Nesting too deep: evaluation here is more than 1000 calls and references deep, leaven's limit."),
    ("limits: a value nested 200 deep", "@deepvalue", "", "", "docker-bake.hcl:201:695: Value too deep: the value would nest more than 128 levels, leaven's limit."),
    ("selection: a missing target", "target \"a\" {}\n", "nope", "", "failed to find target nope"),
    ("selection: no default", "target \"a\" {}\n", "", "", "failed to find target default"),
    ("selection: a glob that matches nothing", "target \"a\" {}\n", "nomatch*", "", "could not find any target matching \"nomatch*\""),
    ("selection: --set on an unknown target", "target \"a\" {}\n", "a --set b.tags=x", "", "could not find any target matching 'b'"),
    ("selection: --set with an unknown key", "target \"a\" {}\n", "a --set a.nope=1", "", "unknown key: nope"),
    ("selection: --set with a bad bool", "target \"a\" {}\n", "a --set a.no-cache=maybe", "", "invalid value maybe for boolean key no-cache"),
    ("selection: --set without a key", "target \"a\" {}\n", "a --set a=1", "", "invalid override key a, expected target.name"),
    ("selection: --set of args without a name", "target \"a\" {}\n", "a --set a.args=1", "", "invalid key a.args, args requires name"),
    ("selection: a link between platform sets that do not fit", "target \"base\" { platforms = [\"linux/amd64\", \"linux/arm64\"] }\ntarget \"app\" {\n  platforms = [\"linux/amd64\", \"linux/s390x\"]\n  contexts = { b = \"target:base\" }\n}\n", "app", "", "target base can't be used by app because it is missing platforms linux/s390x"),
    ("files: no definition", ">>> notes.txt\nnothing\n", "", "", "couldn't find a bake definition"),
    ("files: a missing -f file", "target \"default\" {}\n", "-f nope.hcl", "", "failed to read nope.hcl: No such file or directory (os error 2)"),
    ("leniency: unknown attributes and blocks are ignored", "target \"default\" {\n  provenance = false\n  platfrom = nope.x\n  args { A = 1 }\n}\nfoo \"bar\" {}\n", "", "", "prints /target/default = {\"context\":\".\",\"dockerfile\":\"Dockerfile\"}"),
];

/// Inputs too long to write out: each is what the limits in docs/limits.md stop.
fn generated(name: &str) -> String {
    let mut text = String::new();
    match name {
        // 2^28 bytes if nothing stopped it.
        "doubling" => {
            text.push_str("variable \"V0\" { default = \"x\" }\n");
            for i in 1..=28 {
                text.push_str(&format!("variable \"V{i}\" {{ default = \"${{V{p}}}${{V{p}}}\" }}\n", p = i - 1));
            }
            text.push_str("target \"default\" { args = { A = V28 } }\n");
        }
        // 2^25 calls if nothing stopped it.
        "functions" => {
            text.push_str("function \"f0\" {\n  params = [x]\n  result = x\n}\n");
            for i in 1..=25 {
                text.push_str(&format!("function \"f{i}\" {{\n  params = [x]\n  result = f{p}(x) + f{p}(x)\n}}\n", p = i - 1));
            }
            text.push_str("target \"default\" { args = { A = f25(1) } }\n");
        }
        // Unused: every variable is evaluated for --list variables and validations.
        "splats" => text = format!("variable \"V\" {{ default = [1]{} }}\ntarget \"default\" {{}}\n", "[*]".repeat(12_000)),
        "chain" => {
            text.push_str("variable \"A0\" { default = 1 }\n");
            for i in 1..2000 {
                text.push_str(&format!("variable \"A{i}\" {{ default = A{} }}\n", i - 1));
            }
            text.push_str("target \"default\" { args = { A = A1999 } }\n");
        }
        // Each variable wraps the previous one, all resolved in order: the
        // recursion stays shallow, the value does not.
        "deepvalue" => {
            text.push_str("variable \"L0\" { default = [] }\n");
            let mut refs = Vec::new();
            for i in 1..200 {
                text.push_str(&format!("variable \"L{i}\" {{ default = [L{}] }}\n", i - 1));
                refs.push(format!("L{i}"));
            }
            text.push_str(&format!("target \"default\" {{ args = {{ A = length([{}]) }} }}\n", refs.join(", ")));
        }
        other => panic!("no generated file {other}"),
    }
    text
}

fn write_files(dir: &Path, text: &str) {
    let text = match text.strip_prefix('@') {
        Some(name) => generated(name),
        None => text.to_string(),
    };
    let mut name = "docker-bake.hcl".to_string();
    let mut content = String::new();
    for line in text.split_inclusive('\n') {
        if let Some(next) = line.strip_prefix(">>> ") {
            if !content.is_empty() {
                std::fs::write(dir.join(&name), &content).unwrap();
            }
            name = next.trim_end().to_string();
            content.clear();
        } else {
            content.push_str(line);
        }
    }
    std::fs::write(dir.join(&name), &content).unwrap();
}

fn request(dir: &Path, args: &str, env: &str) -> Request {
    let mut request = Request { cwd: dir.to_path_buf(), env: BTreeMap::new(), ..Request::default() };
    let mut words = args.split_whitespace();
    while let Some(word) = words.next() {
        match word {
            "--set" => request.set.push(words.next().expect("a --set value").to_string()),
            "-f" => request.files.push(words.next().expect("a file").to_string()),
            target => request.targets.push(target.to_string()),
        }
    }
    // Names with spaces are one target.
    if args.contains(' ') && !args.contains("--") && !args.starts_with("-f") {
        request.targets = vec![args.to_string()];
    }
    if let Some((k, v)) = env.split_once('=') {
        request.env.insert(k.to_string(), v.to_string());
    }
    request
}

/// What the case printed: `ERROR`'s first line, or the value at a pointer.
fn outcome(result: &Result<String, BakeError>, expected: &str) -> String {
    match (result, expected.strip_prefix("prints ")) {
        (Ok(out), Some(check)) => {
            let (pointer, _) = check.split_once(" = ").expect("prints POINTER = JSON");
            let doc: serde_json::Value = serde_json::from_str(out).expect("--print is JSON");
            format!("prints {pointer} = {}", doc.pointer(pointer).map(|v| v.to_string()).unwrap_or_else(|| "nothing".into()))
        }
        (Ok(out), None) => format!("prints {}", out.replace('\n', " ")),
        (Err(e), _) => e.to_string().lines().next().unwrap_or_default().to_string(),
    }
}

#[test]
fn bad_bake_input_gets_a_precise_error() {
    let root = std::env::temp_dir().join(format!("leaven-bad-bake-{}", std::process::id()));
    let mut wrong = Vec::new();
    for (i, (name, files, args, env, expected)) in CASES.iter().enumerate() {
        let dir = root.join(i.to_string());
        std::fs::create_dir_all(&dir).unwrap();
        write_files(&dir, files);
        let started = std::time::Instant::now();
        let result = run(&request(&dir, args, env), Output::Print);
        // Limits stop work early: no case may take long, even in a debug build.
        let took = started.elapsed();
        let got = outcome(&result, expected);
        if got != *expected {
            wrong.push(format!("{name}\n  expected: {expected}\n  got:      {got}"));
        } else if took > std::time::Duration::from_secs(30) {
            wrong.push(format!("{name}: took {took:?}"));
        }
    }
    let _ = std::fs::remove_dir_all(&root);
    assert!(CASES.len() >= 75);
    assert!(wrong.is_empty(), "{} of {} cases differ:\n{}", wrong.len(), CASES.len(), wrong.join("\n"));
}

/// `leaven bake --print` with its output going nowhere useful: a reader that
/// stops early (`| head -1`) ends it quietly; a full disk is one line and exit 1.
mod output_errors {
    use std::io::Read;
    use std::process::{Command, Stdio};

    fn bake_print(dir: &std::path::Path) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_leaven"));
        command.args(["bake", "--print", "m"]).current_dir(dir).stderr(Stdio::piped());
        command
    }

    /// Enough targets that the output outgrows a pipe's buffer.
    fn big_file() -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("leaven-bake-output-{}-{:?}", std::process::id(), std::thread::current().id()));
        std::fs::create_dir_all(&dir).unwrap();
        let hcl = "target \"m\" {\n  matrix = { v = range(1000) }\n  name = \"m-${v}\"\n  tags = [\"x:${v}\"]\n}\n";
        std::fs::write(dir.join("docker-bake.hcl"), hcl).unwrap();
        dir
    }

    #[test]
    fn a_closed_pipe_ends_quietly() {
        let dir = big_file();
        let mut child = bake_print(&dir).stdout(Stdio::piped()).spawn().unwrap();
        let mut first = [0u8; 1];
        child.stdout.as_mut().unwrap().read_exact(&mut first).unwrap();
        drop(child.stdout.take());
        let out = child.wait_with_output().unwrap();
        let _ = std::fs::remove_dir_all(&dir);
        assert_eq!((out.status.code(), String::from_utf8_lossy(&out.stderr).as_ref()), (Some(0), ""));
    }

    #[test]
    fn a_full_disk_is_one_line_and_a_failure() {
        let dir = big_file();
        let full = std::fs::OpenOptions::new().write(true).open("/dev/full").unwrap();
        let out = bake_print(&dir).stdout(full).output().unwrap();
        let _ = std::fs::remove_dir_all(&dir);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!((out.status.code(), stderr.as_ref()), (Some(1), "leaven: cannot write the output: No space left on device (os error 28)\n"));
    }
}
