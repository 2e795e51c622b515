//! A small checker for the JSON input schemas Bedrock validates model bodies
//! against. Violations are worded as the service words them (its validator
//! writes paths like `#/dimensions` and phrases like `required key [x] not
//! found`), and collected so that the count in "N schema violations found"
//! is right.

use serde_json::{Map, Value};

use crate::WireError;

/// The JSON type name as Bedrock's validator prints it.
pub(crate) fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "Null",
        Value::Bool(_) => "Boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "Integer",
        Value::Number(_) => "BigDecimal",
        Value::String(_) => "String",
        Value::Array(_) => "JSONArray",
        Value::Object(_) => "JSONObject",
    }
}

/// Parses a body into a JSON object, or the error Bedrock gives for a body
/// that is not one.
pub(crate) fn parse_object(body: &[u8]) -> Result<Map<String, Value>, WireError> {
    let value: Value = serde_json::from_slice(body).map_err(|e| {
        WireError::validation(format!(
            "Malformed input request: the body is not valid JSON ({e}), please reformat your input and try again."
        ))
    })?;
    match value {
        Value::Object(map) => Ok(map),
        other => Err(WireError::malformed(&[format!(
            "#: expected type: JSONObject, found: {}",
            type_name(&other)
        )])),
    }
}

/// Collects the violations of one object.
pub(crate) struct Checker<'a> {
    obj: &'a Map<String, Value>,
    violations: Vec<String>,
}

impl<'a> Checker<'a> {
    pub(crate) fn new(obj: &'a Map<String, Value>) -> Self {
        Checker {
            obj,
            violations: Vec::new(),
        }
    }

    /// Adds a violation in the validator's words.
    pub(crate) fn violation(&mut self, text: String) {
        self.violations.push(text);
    }

    /// Flags keys outside `allowed`.
    pub(crate) fn only(&mut self, allowed: &[&str]) -> &mut Self {
        let extra: Vec<String> = self
            .obj
            .keys()
            .filter(|k| !allowed.contains(&k.as_str()))
            .map(|k| format!("#: extraneous key [{k}] is not permitted"))
            .collect();
        self.violations.extend(extra);
        self
    }

    /// Flags a missing key.
    pub(crate) fn required(&mut self, key: &str) -> &mut Self {
        if !self.obj.contains_key(key) {
            self.violations
                .push(format!("#: required key [{key}] not found"));
        }
        self
    }

    fn typed(&mut self, key: &str, expected: &str, ok: fn(&Value) -> bool) -> Option<&'a Value> {
        let v = self.obj.get(key)?;
        if ok(v) {
            Some(v)
        } else {
            self.violations.push(format!(
                "#/{key}: expected type: {expected}, found: {}",
                type_name(v)
            ));
            None
        }
    }

    /// A string with a length range, in characters.
    pub(crate) fn string(&mut self, key: &str, min: usize, max: Option<usize>) -> &mut Self {
        if let Some(Value::String(s)) = self.typed(key, "String", Value::is_string) {
            check_length(&mut self.violations, &format!("#/{key}"), s, min, max);
        }
        self
    }

    /// A boolean.
    pub(crate) fn boolean(&mut self, key: &str) -> &mut Self {
        self.typed(key, "Boolean", Value::is_boolean);
        self
    }

    /// An integer that must be one of `allowed`.
    pub(crate) fn int_enum(&mut self, key: &str, allowed: &[usize]) -> &mut Self {
        if let Some(v) = self.typed(key, "Integer", |v| v.is_u64() || v.is_i64()) {
            if !v
                .as_u64()
                .and_then(|n| usize::try_from(n).ok())
                .is_some_and(|n| allowed.contains(&n))
            {
                self.violations
                    .push(format!("#/{key}: {v} is not a valid enum value"));
            }
        }
        self
    }

    /// An integer within a range.
    pub(crate) fn int_range(&mut self, key: &str, min: i64, max: i64) -> &mut Self {
        if let Some(v) = self.typed(key, "Integer", |v| v.is_u64() || v.is_i64()) {
            match v.as_i64() {
                Some(n) if n < min => self
                    .violations
                    .push(format!("#/{key}: {n} is not greater or equal to {min}")),
                Some(n) if n > max => self
                    .violations
                    .push(format!("#/{key}: {n} is not less or equal to {max}")),
                Some(_) => {}
                None => self
                    .violations
                    .push(format!("#/{key}: {v} is not less or equal to {max}")),
            }
        }
        self
    }

    /// A string that must be one of `allowed`.
    pub(crate) fn str_enum(&mut self, key: &str, allowed: &[&str]) -> &mut Self {
        if let Some(Value::String(s)) = self.typed(key, "String", Value::is_string) {
            if !allowed.contains(&s.as_str()) {
                self.violations
                    .push(format!("#/{key}: {s} is not a valid enum value"));
            }
        }
        self
    }

    /// An array of strings, each one of `allowed`, with an item-count range.
    pub(crate) fn str_enum_array(
        &mut self,
        key: &str,
        allowed: &[&str],
        min_items: usize,
    ) -> &mut Self {
        if let Some(Value::Array(items)) = self.typed(key, "JSONArray", Value::is_array) {
            check_count(&mut self.violations, key, items.len(), min_items, None);
            for (i, item) in items.iter().enumerate() {
                match item {
                    Value::String(s) if allowed.contains(&s.as_str()) => {}
                    Value::String(s) => self
                        .violations
                        .push(format!("#/{key}/{i}: {s} is not a valid enum value")),
                    other => self.violations.push(format!(
                        "#/{key}/{i}: expected type: String, found: {}",
                        type_name(other)
                    )),
                }
            }
        }
        self
    }

    /// An array of strings with an item-count range and a per-item length range.
    pub(crate) fn string_array(
        &mut self,
        key: &str,
        min_items: usize,
        max_items: Option<usize>,
        max_len: Option<usize>,
    ) -> &mut Self {
        if let Some(Value::Array(items)) = self.typed(key, "JSONArray", Value::is_array) {
            check_count(&mut self.violations, key, items.len(), min_items, max_items);
            for (i, item) in items.iter().enumerate() {
                match item {
                    Value::String(s) => {
                        check_length(&mut self.violations, &format!("#/{key}/{i}"), s, 0, max_len)
                    }
                    other => self.violations.push(format!(
                        "#/{key}/{i}: expected type: String, found: {}",
                        type_name(other)
                    )),
                }
            }
        }
        self
    }

    /// An array of anything, with an item-count range; returns it for
    /// further checks by the caller.
    pub(crate) fn array(
        &mut self,
        key: &str,
        min_items: usize,
        max_items: Option<usize>,
    ) -> Option<&'a Vec<Value>> {
        if let Some(Value::Array(items)) = self.typed(key, "JSONArray", Value::is_array) {
            check_count(&mut self.violations, key, items.len(), min_items, max_items);
            Some(items)
        } else {
            None
        }
    }

    /// An object; returns it for further checks by the caller.
    pub(crate) fn object(&mut self, key: &str) -> Option<&'a Map<String, Value>> {
        match self.typed(key, "JSONObject", Value::is_object) {
            Some(Value::Object(m)) => Some(m),
            _ => None,
        }
    }

    /// The violations so far, as the error Bedrock would give, or nothing.
    pub(crate) fn finish(&mut self) -> Result<(), WireError> {
        if self.violations.is_empty() {
            Ok(())
        } else {
            Err(WireError::malformed(&self.violations))
        }
    }
}

fn check_count(violations: &mut Vec<String>, key: &str, n: usize, min: usize, max: Option<usize>) {
    if n < min {
        violations.push(format!(
            "#/{key}: expected minimum item count: {min}, found: {n}"
        ));
    }
    if let Some(max) = max {
        if n > max {
            violations.push(format!(
                "#/{key}: expected maximum item count: {max}, found: {n}"
            ));
        }
    }
}

fn check_length(violations: &mut Vec<String>, path: &str, s: &str, min: usize, max: Option<usize>) {
    let n = s.chars().count();
    if n < min {
        violations.push(format!("{path}: expected minLength: {min}, actual: {n}"));
    }
    if let Some(max) = max {
        if n > max {
            violations.push(format!("{path}: expected maxLength: {max}, actual: {n}"));
        }
    }
}

/// Deserialises an object that has passed its checks.
pub(crate) fn into_typed<T: serde::de::DeserializeOwned>(
    obj: Map<String, Value>,
) -> Result<T, WireError> {
    serde_json::from_value(Value::Object(obj)).map_err(|e| {
        WireError::validation(format!(
            "Malformed input request: {e}, please reformat your input and try again."
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn obj(v: Value) -> Map<String, Value> {
        match v {
            Value::Object(m) => m,
            _ => Map::new(),
        }
    }

    #[test]
    fn wording_follows_the_service() {
        let o = obj(json!({"inputText": 3, "dimensions": 384, "foo": 1}));
        let mut c = Checker::new(&o);
        c.only(&["inputText", "dimensions"])
            .required("inputText")
            .string("inputText", 1, None)
            .int_enum("dimensions", &[256, 512, 1024]);
        assert_eq!(
            c.violations,
            vec![
                "#: extraneous key [foo] is not permitted",
                "#/inputText: expected type: String, found: Integer",
                "#/dimensions: 384 is not a valid enum value",
            ]
        );
        assert!(c
            .finish()
            .unwrap_err()
            .message
            .contains("3 schema violations found"));
        assert!(parse_object(b"[1]")
            .unwrap_err()
            .message
            .contains("JSONObject, found: JSONArray"));
        assert!(parse_object(b"{nope").is_err());
    }
}
