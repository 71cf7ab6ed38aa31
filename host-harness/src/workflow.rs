//! A minimal workflow: steps that run actions in order, where a step's input
//! can use what earlier steps returned.
//!
//! `{{step.path}}` in a string is replaced by the value at `path` in the
//! output of the step with id `step` (`post.post.id`, `search.posts.0.text`).
//! A string that is only a reference takes the referenced value with its
//! type. This is what `host-harness demo` runs; a workflow engine would have
//! its own, richer language.

use serde::Deserialize;
use serde_json::{Map, Value};

/// A named list of steps.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Workflow {
    pub title: String,
    pub steps: Vec<Step>,
}

/// One action to run.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Step {
    /// Name by which later steps refer to this step's output.
    pub id: String,
    pub title: String,
    pub action: String,
    /// The action's input; strings may hold references.
    #[serde(default)]
    pub input: Value,
    /// A one-line summary of the outcome, with references.
    #[serde(default)]
    pub show: Option<String>,
}

/// The outputs of the steps run so far, by step id.
#[derive(Debug, Default)]
pub struct Outputs {
    by_step: Map<String, Value>,
}

impl Outputs {
    pub fn record(&mut self, step: &str, output: Value) {
        self.by_step.insert(step.to_string(), output);
    }

    /// `input` with every reference replaced.
    pub fn resolve(&self, input: &Value) -> Result<Value, String> {
        Ok(match input {
            Value::String(s) => self.resolve_string(s)?,
            Value::Array(items) => Value::Array(
                items
                    .iter()
                    .map(|i| self.resolve(i))
                    .collect::<Result<_, _>>()?,
            ),
            Value::Object(members) => Value::Object(
                members
                    .iter()
                    .map(|(k, v)| Ok((k.clone(), self.resolve(v)?)))
                    .collect::<Result<_, String>>()?,
            ),
            other => other.clone(),
        })
    }

    /// `template` with every reference replaced by its text.
    pub fn render(&self, template: &str) -> Result<String, String> {
        let mut out = String::new();
        let mut rest = template;
        while let Some(start) = rest.find("{{") {
            out.push_str(&rest[..start]);
            let after = &rest[start + 2..];
            let end = after
                .find("}}")
                .ok_or_else(|| format!("unclosed reference in `{template}`"))?;
            let value = self.lookup(after[..end].trim())?;
            match value {
                Value::String(s) => out.push_str(s),
                other => out.push_str(&other.to_string()),
            }
            rest = &after[end + 2..];
        }
        out.push_str(rest);
        Ok(out)
    }

    fn resolve_string(&self, s: &str) -> Result<Value, String> {
        let trimmed = s.trim();
        if let Some(inner) = trimmed
            .strip_prefix("{{")
            .and_then(|t| t.strip_suffix("}}"))
            && !inner.contains("{{")
        {
            return self.lookup(inner.trim()).cloned();
        }
        self.render(s).map(Value::String)
    }

    fn lookup(&self, path: &str) -> Result<&Value, String> {
        let mut parts = path.split('.');
        let step = parts.next().unwrap_or_default();
        let mut value = self.by_step.get(step).ok_or_else(|| {
            format!("`{{{{{path}}}}}` refers to step `{step}`, which has not run")
        })?;
        for part in parts {
            value = match value {
                Value::Array(items) => part.parse::<usize>().ok().and_then(|i| items.get(i)),
                Value::Object(members) => members.get(part),
                _ => None,
            }
            .ok_or_else(|| {
                format!("`{{{{{path}}}}}`: the output of `{step}` has nothing at `{part}`")
            })?;
        }
        Ok(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn outputs() -> Outputs {
        let mut o = Outputs::default();
        o.record(
            "post",
            json!({"post": {"id": "123", "text": "hi"}, "n": 3, "posts": [{"text": "first"}]}),
        );
        o
    }

    #[test]
    fn references_keep_their_type_alone_and_become_text_inside_strings() {
        let o = outputs();
        assert_eq!(
            o.resolve(&json!({"id": "{{post.post.id}}", "n": "{{ post.n }}"}))
                .unwrap(),
            json!({"id": "123", "n": 3})
        );
        assert_eq!(
            o.resolve(&json!("from:{{post.post.text}} x")).unwrap(),
            json!("from:hi x")
        );
        assert_eq!(
            o.render("{{post.n}} posts; newest {{post.posts.0.text}}")
                .unwrap(),
            "3 posts; newest first"
        );
    }

    #[test]
    fn a_missing_step_or_path_is_named() {
        let o = outputs();
        assert!(
            o.resolve(&json!("{{search.x}}"))
                .unwrap_err()
                .contains("`search`")
        );
        assert!(o.render("{{post.post.nope}}").unwrap_err().contains("nope"));
        assert!(o.render("{{post.post.id").is_err());
    }

    #[test]
    fn the_bundled_demo_parses() {
        let w: Workflow =
            serde_json::from_str(include_str!("../../manifests/x.demo.json")).unwrap();
        assert_eq!(w.steps.first().unwrap().action, "users.me");
    }
}
