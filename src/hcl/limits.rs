//! Bounds on evaluation, so that no file makes leaven run out of memory, stack
//! or time: the size of one value, the nesting of calls and references, and the
//! total work of evaluating one file set. They are far above what real bake
//! files and specs use (see `docs/limits.md`) and are counted, never timed, so a
//! file passes or fails the same way on every machine.

use std::cell::Cell;

use hcl::Value;

/// Bytes of one string value.
pub const MAX_STRING_BYTES: usize = 1 << 20;
/// Elements of one list, tuple, set or object, and targets one matrix makes.
pub const MAX_ELEMENTS: usize = 1 << 20;
/// Levels one value may nest (a list in a list …).
pub const MAX_VALUE_DEPTH: usize = 128;
/// Nested evaluations: sub-expressions, variable and attribute references,
/// function calls, splats. The evaluator grows its stack as it nests, so the
/// bound is on memory and on runaway chains, not on the thread's stack.
pub const MAX_DEPTH: usize = 1000;
/// Work units for one evaluation: one per expression evaluated, per element
/// iterated or copied, and per 16 bytes of string made or copied.
pub const MAX_STEPS: u64 = 1 << 25;
/// Steps a call of a user-defined function counts for besides its expressions:
/// setting up its scope costs about as much as evaluating that many of them.
pub const CALL_STEPS: u64 = 32;
/// bcrypt's cost doubles its time per step: 14 takes about a second.
pub const MAX_BCRYPT_COST: i64 = 14;
/// Width and precision of a `format` verb, as Go's fmt allows.
pub const MAX_FORMAT_WIDTH: usize = 1_000_000;

/// Bytes a step stands for when strings are made or copied.
const BYTES_PER_STEP: usize = 16;

/// Which limit an evaluation reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Exceeded {
    #[error("Value too large: the string would be longer than {MAX_STRING_BYTES} bytes, leaven's limit for one value")]
    String,
    #[error("Value too large: the collection would have more than {MAX_ELEMENTS} elements, leaven's limit for one value")]
    Elements,
    #[error("Value too deep: the value would nest more than {MAX_VALUE_DEPTH} levels, leaven's limit")]
    ValueDepth,
    #[error("Nesting too deep: evaluation here is more than {MAX_DEPTH} calls and references deep, leaven's limit")]
    Depth,
    #[error("Too much work: evaluation takes more than {MAX_STEPS} steps, leaven's limit")]
    Steps,
}

/// Where the limits are explained, for hints.
pub const LIMITS_HINT: &str = "leaven's evaluation limits are listed in docs/limits.md";

/// The work and depth used so far by one evaluation (one bake, one spec); every
/// evaluator of that evaluation shares it.
#[derive(Debug, Default)]
pub struct Budget {
    steps: Cell<u64>,
    depth: Cell<usize>,
}

/// One level of nesting, given back when dropped.
pub struct Level<'a>(&'a Budget);

impl Drop for Level<'_> {
    fn drop(&mut self) {
        self.0.depth.set(self.0.depth.get() - 1);
    }
}

impl Budget {
    pub fn new() -> Budget {
        Budget::default()
    }

    pub fn charge(&self, units: u64) -> Result<(), Exceeded> {
        let used = self.steps.get().saturating_add(units);
        self.steps.set(used);
        if used > MAX_STEPS {
            return Err(Exceeded::Steps);
        }
        Ok(())
    }

    /// Charges for making or copying `bytes` of string.
    pub fn charge_bytes(&self, bytes: usize) -> Result<(), Exceeded> {
        self.charge((bytes / BYTES_PER_STEP) as u64)
    }

    /// Enters one nesting level; it lasts as long as the returned guard.
    pub fn enter(&self) -> Result<Level<'_>, Exceeded> {
        let depth = self.depth.get() + 1;
        if depth > MAX_DEPTH {
            return Err(Exceeded::Depth);
        }
        self.depth.set(depth);
        Ok(Level(self))
    }

    /// Checks a value against the size and depth limits and charges for
    /// copying it. The walk keeps its own stack, as the value may be deeper
    /// than the limit.
    pub fn measure(&self, value: &Value) -> Result<(), Exceeded> {
        // Most values are scalars or strings: one unit, and no walk to set up.
        match value {
            Value::String(s) => {
                check_string(s.len())?;
                return self.charge(1).and_then(|_| self.charge_bytes(s.len()));
            }
            Value::Null | Value::Bool(_) | Value::Number(_) => return self.charge(1),
            Value::Array(_) | Value::Object(_) => {}
        }
        let mut units = 0u64;
        let mut bytes = 0usize;
        // Kept in place for the small objects and lists most values are.
        let mut pending: smallvec::SmallVec<[(&Value, usize); 16]> = smallvec::smallvec![(value, 1usize)];
        while let Some((v, depth)) = pending.pop() {
            units += 1;
            if depth > MAX_VALUE_DEPTH {
                return Err(Exceeded::ValueDepth);
            }
            match v {
                Value::String(s) => {
                    check_string(s.len())?;
                    bytes += s.len();
                }
                Value::Array(items) => {
                    check_elements(items.len())?;
                    pending.extend(items.iter().map(|i| (i, depth + 1)));
                }
                Value::Object(map) => {
                    check_elements(map.len())?;
                    for (k, v) in map {
                        bytes += k.len();
                        pending.push((v, depth + 1));
                    }
                }
                Value::Null | Value::Bool(_) | Value::Number(_) => {}
            }
            if units > MAX_STEPS {
                return Err(Exceeded::Steps);
            }
        }
        self.charge(units)?;
        self.charge_bytes(bytes)
    }
}

pub fn check_string(bytes: usize) -> Result<(), Exceeded> {
    if bytes > MAX_STRING_BYTES {
        return Err(Exceeded::String);
    }
    Ok(())
}

pub fn check_elements(count: usize) -> Result<(), Exceeded> {
    if count > MAX_ELEMENTS {
        return Err(Exceeded::Elements);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_are_given_back() {
        let budget = Budget::new();
        {
            let _a = budget.enter().unwrap();
            let _b = budget.enter().unwrap();
            assert_eq!(budget.depth.get(), 2);
        }
        assert_eq!(budget.depth.get(), 0);
        let levels: Vec<_> = (0..MAX_DEPTH).map(|_| budget.enter().unwrap()).collect();
        assert_eq!(budget.enter().err(), Some(Exceeded::Depth));
        drop(levels);
        assert!(budget.enter().is_ok());
    }

    #[test]
    fn a_deep_value_is_measured_without_recursion() {
        let mut v = Value::from(1);
        for _ in 0..100_000 {
            v = Value::Array(vec![v]);
        }
        assert_eq!(Budget::new().measure(&v), Err(Exceeded::ValueDepth));
        // Dropping it would recurse; take it apart level by level.
        while let Value::Array(mut items) = v {
            v = items.pop().unwrap_or(Value::Null);
        }
    }

    #[test]
    fn strings_and_collections_have_a_size_limit() {
        let budget = Budget::new();
        assert_eq!(budget.measure(&Value::from("x".repeat(MAX_STRING_BYTES + 1))), Err(Exceeded::String));
        assert!(budget.measure(&Value::from("x".repeat(MAX_STRING_BYTES))).is_ok());
        assert_eq!(check_elements(MAX_ELEMENTS + 1), Err(Exceeded::Elements));
    }

    #[test]
    fn steps_run_out() {
        let budget = Budget::new();
        budget.charge(MAX_STEPS).unwrap();
        assert_eq!(budget.charge(1), Err(Exceeded::Steps));
    }
}
