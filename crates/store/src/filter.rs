//! mem0's filter language over a record's scopes and metadata.
//!
//! A filter is a JSON object. Each key is a field, whose value is either a
//! plain value (equality), `"*"` (the field exists) or an object of operators
//! (`eq ne in nin gt gte lt lte contains icontains`); the keys `AND`, `OR` and
//! `NOT` take a list of filters. Several keys in one object must all hold:
//!
//! ```
//! use embedrock_store::Filter;
//! use serde_json::json;
//!
//! let f = Filter::parse(&json!({
//!     "user_id": "alice",
//!     "OR": [{"topic": {"in": ["food", "travel"]}}, {"score": {"gte": 0.8}}],
//!     "NOT": [{"tags": {"contains": "private"}}]
//! })).unwrap();
//! let record = json!({"user_id": "alice", "topic": "food", "tags": ["work"]});
//! assert!(f.matches(record.as_object().unwrap()));
//! ```
//!
//! Semantics, where mem0 leaves them open: numbers compare by value (`1`
//! equals `1.0`); `gt`/`gte`/`lt`/`lte` compare two numbers or two strings and
//! are false across types; `contains` is a substring test on a string field
//! and a membership test on an array field; a missing field makes every
//! operator false except `ne` and `nin`, which hold; `NOT: [a, b]` holds when
//! none of `a`, `b` holds. Filters are bounded (depth and size) before any
//! record is looked at.

use std::cmp::Ordering;

use serde_json::{Map, Value};

use crate::{Error, Result};

/// The deepest nesting of `AND`/`OR`/`NOT` a filter may have.
pub const MAX_DEPTH: usize = 16;
/// The most conditions one filter may hold.
pub const MAX_CONDITIONS: usize = 256;
/// The most values an `in`/`nin` list may hold.
pub const MAX_LIST: usize = 1024;

/// A parsed filter.
#[derive(Debug, Clone, PartialEq)]
pub enum Filter {
    /// Matches every record (the empty filter).
    All,
    /// Every inner filter holds.
    And(Vec<Filter>),
    /// At least one inner filter holds.
    Or(Vec<Filter>),
    /// The inner filter does not hold.
    Not(Box<Filter>),
    /// A test on one field.
    Field {
        /// The field's name (`user_id`, a metadata key, or a dotted path).
        field: String,
        /// The test.
        op: Op,
    },
}

/// A test on one field's value.
#[derive(Debug, Clone, PartialEq)]
pub enum Op {
    /// Equal to the value.
    Eq(Value),
    /// Not equal (also true when the field is missing).
    Ne(Value),
    /// Equal to one of the values.
    In(Vec<Value>),
    /// Equal to none of the values (also true when the field is missing).
    Nin(Vec<Value>),
    /// Greater than.
    Gt(Value),
    /// Greater than or equal.
    Gte(Value),
    /// Less than.
    Lt(Value),
    /// Less than or equal.
    Lte(Value),
    /// Substring of a string field, or element of an array field.
    Contains(Value),
    /// Case-insensitive substring of a string field.
    IContains(String),
    /// The field is present (mem0's `"*"`).
    Exists,
}

/// Something a filter can look fields up in.
pub trait Fields {
    /// The value of `name`, if the record has it.
    fn field(&self, name: &str) -> Option<&Value>;
}

impl Fields for Map<String, Value> {
    /// A top-level key, else a dotted path into nested objects.
    fn field(&self, name: &str) -> Option<&Value> {
        if let Some(v) = self.get(name) {
            return Some(v);
        }
        let mut parts = name.split('.');
        let mut current = self.get(parts.next()?)?;
        for part in parts {
            current = current.as_object()?.get(part)?;
        }
        Some(current)
    }
}

impl Filter {
    /// Parses a filter from JSON, checking its shape and bounds.
    pub fn parse(value: &Value) -> Result<Filter> {
        let mut budget = MAX_CONDITIONS;
        parse_object(value, "$", 0, &mut budget)
    }

    /// Parses a filter from JSON text.
    pub fn from_json_str(text: &str) -> Result<Filter> {
        let value: Value = serde_json::from_str(text)
            .map_err(|e| Error::filter("$", format!("not valid JSON: {e}")))?;
        Filter::parse(&value)
    }

    /// Whether the record holds.
    pub fn matches<R: Fields + ?Sized>(&self, record: &R) -> bool {
        match self {
            Filter::All => true,
            Filter::And(all) => all.iter().all(|f| f.matches(record)),
            Filter::Or(any) => any.iter().any(|f| f.matches(record)),
            Filter::Not(inner) => !inner.matches(record),
            Filter::Field { field, op } => op.holds(record.field(field)),
        }
    }

    /// The fields the filter reads, in order of first use.
    pub fn fields(&self) -> Vec<&str> {
        let mut out: Vec<&str> = Vec::new();
        self.collect_fields(&mut out);
        out
    }

    fn collect_fields<'a>(&'a self, out: &mut Vec<&'a str>) {
        match self {
            Filter::All => {}
            Filter::And(v) | Filter::Or(v) => v.iter().for_each(|f| f.collect_fields(out)),
            Filter::Not(inner) => inner.collect_fields(out),
            Filter::Field { field, .. } => {
                if !out.contains(&field.as_str()) {
                    out.push(field);
                }
            }
        }
    }

    /// `self AND other`, flattening the trivial cases.
    pub fn and(self, other: Filter) -> Filter {
        match (self, other) {
            (Filter::All, f) | (f, Filter::All) => f,
            (Filter::And(mut a), Filter::And(b)) => {
                a.extend(b);
                Filter::And(a)
            }
            (Filter::And(mut a), f) => {
                a.push(f);
                Filter::And(a)
            }
            (f, g) => Filter::And(vec![f, g]),
        }
    }
}

impl Op {
    fn holds(&self, value: Option<&Value>) -> bool {
        let Some(v) = value else {
            return matches!(self, Op::Ne(_) | Op::Nin(_));
        };
        match self {
            Op::Eq(x) => same(v, x),
            Op::Ne(x) => !same(v, x),
            Op::In(xs) => xs.iter().any(|x| same(v, x)),
            Op::Nin(xs) => !xs.iter().any(|x| same(v, x)),
            Op::Gt(x) => order(v, x) == Some(Ordering::Greater),
            Op::Gte(x) => matches!(order(v, x), Some(Ordering::Greater | Ordering::Equal)),
            Op::Lt(x) => order(v, x) == Some(Ordering::Less),
            Op::Lte(x) => matches!(order(v, x), Some(Ordering::Less | Ordering::Equal)),
            Op::Contains(x) => match (v, x) {
                (Value::String(s), Value::String(needle)) => s.contains(needle.as_str()),
                (Value::Array(items), x) => items.iter().any(|item| same(item, x)),
                _ => false,
            },
            Op::IContains(needle) => match v {
                Value::String(s) => s.to_lowercase().contains(&needle.to_lowercase()),
                _ => false,
            },
            Op::Exists => true,
        }
    }
}

/// JSON equality with numbers compared by value.
fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => match (x.as_f64(), y.as_f64()) {
            (Some(x), Some(y)) => x == y,
            _ => x == y,
        },
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(a, b)| same(a, b))
        }
        _ => a == b,
    }
}

/// The order of two numbers or two strings; `None` across types.
fn order(a: &Value, b: &Value) -> Option<Ordering> {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64()?.partial_cmp(&y.as_f64()?),
        (Value::String(x), Value::String(y)) => Some(x.cmp(y)),
        _ => None,
    }
}

fn spend(budget: &mut usize, path: &str) -> Result<()> {
    if *budget == 0 {
        return Err(Error::filter(
            path,
            format!("more than {MAX_CONDITIONS} conditions"),
        ));
    }
    *budget -= 1;
    Ok(())
}

fn parse_object(value: &Value, path: &str, depth: usize, budget: &mut usize) -> Result<Filter> {
    if depth > MAX_DEPTH {
        return Err(Error::filter(
            path,
            format!("nested deeper than {MAX_DEPTH} levels"),
        ));
    }
    let Value::Object(map) = value else {
        return Err(Error::filter(
            path,
            format!("expected an object, got {}", kind(value)),
        ));
    };
    let mut parts = Vec::with_capacity(map.len());
    for (key, inner) in map {
        let here = format!("{path}.{key}");
        let part = match key.as_str() {
            "AND" => Filter::And(parse_list(inner, &here, depth, budget)?),
            "OR" => Filter::Or(parse_list(inner, &here, depth, budget)?),
            "NOT" => Filter::Not(Box::new(Filter::Or(parse_list(
                inner, &here, depth, budget,
            )?))),
            field => parse_field(field, inner, &here, budget)?,
        };
        parts.push(part);
    }
    Ok(match parts.len() {
        0 => Filter::All,
        1 => parts.remove(0),
        _ => Filter::And(parts),
    })
}

/// The list of an `AND`/`OR`/`NOT`; a single object is taken as a list of one.
fn parse_list(value: &Value, path: &str, depth: usize, budget: &mut usize) -> Result<Vec<Filter>> {
    match value {
        Value::Array(items) if items.is_empty() => {
            Err(Error::filter(path, "expected a non-empty list of filters"))
        }
        Value::Array(items) => items
            .iter()
            .enumerate()
            .map(|(i, item)| parse_object(item, &format!("{path}[{i}]"), depth + 1, budget))
            .collect(),
        Value::Object(_) => Ok(vec![parse_object(value, path, depth + 1, budget)?]),
        other => Err(Error::filter(
            path,
            format!("expected a list of filters, got {}", kind(other)),
        )),
    }
}

fn parse_field(field: &str, value: &Value, path: &str, budget: &mut usize) -> Result<Filter> {
    if field.is_empty() {
        return Err(Error::filter(path, "empty field name"));
    }
    let leaf = |op: Op| Filter::Field {
        field: field.to_string(),
        op,
    };
    match value {
        Value::String(s) if s == "*" => {
            spend(budget, path)?;
            Ok(leaf(Op::Exists))
        }
        Value::Object(ops) if ops.is_empty() => Err(Error::filter(path, "no operator given")),
        Value::Object(ops) => {
            let mut tests = Vec::with_capacity(ops.len());
            for (name, arg) in ops {
                spend(budget, path)?;
                tests.push(leaf(parse_op(name, arg, &format!("{path}.{name}"))?));
            }
            Ok(if tests.len() == 1 {
                tests.remove(0)
            } else {
                Filter::And(tests)
            })
        }
        Value::Array(_) => Err(Error::filter(
            path,
            "a list is not a value to compare with; use {\"in\": [...]}",
        )),
        scalar => {
            spend(budget, path)?;
            Ok(leaf(Op::Eq(scalar.clone())))
        }
    }
}

fn parse_op(name: &str, arg: &Value, path: &str) -> Result<Op> {
    let scalar = |arg: &Value| -> Result<Value> {
        match arg {
            Value::Object(_) | Value::Array(_) => Err(Error::filter(
                path,
                format!("{name} takes a single value, got {}", kind(arg)),
            )),
            v => Ok(v.clone()),
        }
    };
    let ordered = |arg: &Value| -> Result<Value> {
        match arg {
            Value::Number(_) | Value::String(_) => Ok(arg.clone()),
            other => Err(Error::filter(
                path,
                format!("{name} compares numbers or strings, got {}", kind(other)),
            )),
        }
    };
    let list = |arg: &Value| -> Result<Vec<Value>> {
        match arg {
            Value::Array(items) if items.len() > MAX_LIST => Err(Error::filter(
                path,
                format!(
                    "{name} takes at most {MAX_LIST} values, got {}",
                    items.len()
                ),
            )),
            Value::Array(items) => Ok(items.clone()),
            other => Err(Error::filter(
                path,
                format!("{name} takes a list, got {}", kind(other)),
            )),
        }
    };
    Ok(match name {
        "eq" => Op::Eq(scalar(arg)?),
        "ne" => Op::Ne(scalar(arg)?),
        "in" => Op::In(list(arg)?),
        "nin" => Op::Nin(list(arg)?),
        "gt" => Op::Gt(ordered(arg)?),
        "gte" => Op::Gte(ordered(arg)?),
        "lt" => Op::Lt(ordered(arg)?),
        "lte" => Op::Lte(ordered(arg)?),
        "contains" => Op::Contains(scalar(arg)?),
        "icontains" => match arg {
            Value::String(s) => Op::IContains(s.clone()),
            other => {
                return Err(Error::filter(
                    path,
                    format!("icontains takes a string, got {}", kind(other)),
                ))
            }
        },
        other => {
            return Err(Error::filter(
                path,
                format!(
                    "unknown operator {other:?} (expected eq, ne, in, nin, gt, gte, lt, lte, contains or icontains)"
                ),
            ))
        }
    })
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn check(filter: Value, record: Value) -> bool {
        Filter::parse(&filter)
            .unwrap()
            .matches(record.as_object().unwrap())
    }

    #[test]
    fn plain_values_are_equality_and_keys_are_anded() {
        let r = json!({"user_id": "alice", "agent_id": "bot", "n": 3});
        assert!(check(json!({"user_id": "alice"}), r.clone()));
        assert!(check(
            json!({"user_id": "alice", "agent_id": "bot"}),
            r.clone()
        ));
        assert!(!check(
            json!({"user_id": "alice", "agent_id": "other"}),
            r.clone()
        ));
        assert!(check(json!({"n": 3.0}), r.clone()));
        assert!(check(json!({}), r));
    }

    #[test]
    fn every_operator() {
        let r = json!({"n": 5, "s": "Hello world", "tags": ["a", "b"], "b": true});
        let cases = [
            (json!({"n": {"eq": 5}}), true),
            (json!({"n": {"ne": 5}}), false),
            (json!({"n": {"in": [1, 5]}}), true),
            (json!({"n": {"nin": [1, 5]}}), false),
            (json!({"n": {"gt": 4}}), true),
            (json!({"n": {"gt": 5}}), false),
            (json!({"n": {"gte": 5}}), true),
            (json!({"n": {"lt": 5}}), false),
            (json!({"n": {"lte": 5}}), true),
            (json!({"n": {"gte": 1, "lt": 5}}), false),
            (json!({"s": {"contains": "world"}}), true),
            (json!({"s": {"contains": "World"}}), false),
            (json!({"s": {"icontains": "WORLD"}}), true),
            (json!({"tags": {"contains": "b"}}), true),
            (json!({"tags": {"contains": "c"}}), false),
            (json!({"s": {"gt": "Apple"}}), true),
            (json!({"s": {"gt": 1}}), false),
            (json!({"b": true}), true),
            (json!({"s": "*"}), true),
            (json!({"missing": "*"}), false),
        ];
        for (filter, expected) in cases {
            assert_eq!(check(filter.clone(), r.clone()), expected, "{filter}");
        }
    }

    #[test]
    fn missing_fields() {
        let r = json!({"user_id": "u"});
        assert!(!check(json!({"x": 1}), r.clone()));
        assert!(check(json!({"x": {"ne": 1}}), r.clone()));
        assert!(check(json!({"x": {"nin": [1]}}), r.clone()));
        assert!(!check(json!({"x": {"gt": 0}}), r.clone()));
        assert!(!check(json!({"x": {"contains": "a"}}), r));
    }

    #[test]
    fn logic() {
        let r = json!({"user_id": "alice", "topic": "food", "score": 0.5});
        assert!(check(
            json!({"OR": [{"topic": "travel"}, {"score": {"lt": 0.6}}]}),
            r.clone()
        ));
        assert!(!check(
            json!({"AND": [{"topic": "food"}, {"score": {"gt": 0.6}}]}),
            r.clone()
        ));
        assert!(!check(
            json!({"NOT": [{"topic": "travel"}, {"topic": "food"}]}),
            r.clone()
        ));
        assert!(check(json!({"NOT": [{"topic": "travel"}]}), r.clone()));
        assert!(check(json!({"NOT": {"topic": "travel"}}), r.clone()));
        assert!(check(
            json!({"user_id": "alice", "OR": [{"AND": [{"topic": "food"}, {"NOT": [{"score": {"gte": 1}}]}]}]}),
            r
        ));
    }

    #[test]
    fn dotted_paths_reach_nested_metadata() {
        let r = json!({"meta": {"source": {"kind": "pdf"}}});
        assert!(check(json!({"meta.source.kind": "pdf"}), r.clone()));
        assert!(!check(json!({"meta.source.page": "*"}), r));
    }

    #[test]
    fn bad_filters_name_the_place() {
        let err = |f: Value| Filter::parse(&f).unwrap_err().to_string();
        assert_eq!(
            err(json!({"AND": [{"a": 1}, {"b": {"like": "x"}}]})),
            "invalid filter at $.AND[1].b.like: unknown operator \"like\" (expected eq, ne, in, nin, gt, gte, lt, lte, contains or icontains)"
        );
        assert!(err(json!({"a": {"in": 3}})).contains("in takes a list, got a number"));
        assert!(err(json!({"a": {"gt": [1]}})).contains("gt compares numbers or strings"));
        assert!(err(json!({"a": [1, 2]})).contains("use {\"in\": [...]}"));
        assert!(err(json!({"OR": []})).contains("non-empty list"));
        assert!(err(json!([1])).contains("expected an object, got a list"));
        assert!(err(json!({"a": {}})).contains("no operator"));
        assert!(Filter::from_json_str("{")
            .unwrap_err()
            .to_string()
            .contains("not valid JSON"));
    }

    #[test]
    fn bounds_are_checked_before_use() {
        let mut deep = json!({"a": 1});
        for _ in 0..=MAX_DEPTH {
            deep = json!({"NOT": [deep]});
        }
        assert!(Filter::parse(&deep)
            .unwrap_err()
            .to_string()
            .contains("nested deeper"));
        let wide: Vec<Value> = (0..=MAX_CONDITIONS).map(|i| json!({"k": i})).collect();
        assert!(Filter::parse(&json!({"OR": wide}))
            .unwrap_err()
            .to_string()
            .contains("more than 256 conditions"));
        let long: Vec<Value> = (0..=MAX_LIST).map(|i| json!(i)).collect();
        assert!(Filter::parse(&json!({"k": {"in": long}}))
            .unwrap_err()
            .to_string()
            .contains("at most 1024 values"));
    }

    #[test]
    fn fields_and_combination() {
        let f =
            Filter::parse(&json!({"user_id": "u", "OR": [{"a": 1}, {"user_id": "v"}]})).unwrap();
        let mut fields = f.fields();
        fields.sort_unstable();
        assert_eq!(fields, vec!["a", "user_id"]);
        let scoped = Filter::All.and(f.clone());
        assert_eq!(scoped, f);
    }
}
