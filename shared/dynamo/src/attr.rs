//! Converting between JSON values and DynamoDB attribute values, so items are written and
//! read through the domain types' serde shapes.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;
use serde_json::{Map, Number, Value};

use ccaas_aws::AwsError;

/// Converts a JSON object into an item; top-level nulls are left out.
pub fn to_item(v: Value) -> HashMap<String, AttributeValue> {
    match v {
        Value::Object(m) => m
            .into_iter()
            .filter(|(_, v)| !v.is_null())
            .map(|(k, v)| (k, to_attr(v)))
            .collect(),
        _ => HashMap::new(),
    }
}

/// Converts one JSON value.
pub fn to_attr(v: Value) -> AttributeValue {
    match v {
        Value::Null => AttributeValue::Null(true),
        Value::Bool(b) => AttributeValue::Bool(b),
        Value::Number(n) => AttributeValue::N(n.to_string()),
        Value::String(s) => AttributeValue::S(s),
        Value::Array(a) => AttributeValue::L(a.into_iter().map(to_attr).collect()),
        Value::Object(m) => {
            AttributeValue::M(m.into_iter().map(|(k, v)| (k, to_attr(v))).collect())
        }
    }
}

/// Converts an item back into a JSON object.
pub fn from_item(item: &HashMap<String, AttributeValue>) -> Result<Value, AwsError> {
    let mut m = Map::new();
    for (k, v) in item {
        m.insert(k.clone(), from_attr(v)?);
    }
    Ok(Value::Object(m))
}

fn from_attr(v: &AttributeValue) -> Result<Value, AwsError> {
    Ok(match v {
        AttributeValue::Null(_) => Value::Null,
        AttributeValue::Bool(b) => Value::Bool(*b),
        AttributeValue::S(s) => Value::String(s.clone()),
        AttributeValue::N(n) => {
            let num: Number = n
                .parse()
                .map_err(|_| AwsError::Decode(format!("bad number {n:?}")))?;
            Value::Number(num)
        }
        AttributeValue::L(l) => Value::Array(l.iter().map(from_attr).collect::<Result<_, _>>()?),
        AttributeValue::M(m) => {
            let mut out = Map::new();
            for (k, v) in m {
                out.insert(k.clone(), from_attr(v)?);
            }
            Value::Object(out)
        }
        AttributeValue::Ss(l) => Value::Array(l.iter().cloned().map(Value::String).collect()),
        other => return Err(AwsError::Decode(format!("unsupported attribute {other:?}"))),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_survives_a_round_trip_through_attributes() {
        let v = serde_json::json!({"a": "x", "n": 12, "f": 1.5, "l": [1, "two", {"b": true}], "m": {"z": null}});
        let back = from_item(&to_item(v.clone())).expect("decodes");
        assert_eq!(back, v);
    }

    #[test]
    fn top_level_nulls_are_not_written() {
        let item = to_item(serde_json::json!({"a": null, "b": "x"}));
        assert!(!item.contains_key("a"));
        assert_eq!(item.len(), 1);
    }
}
