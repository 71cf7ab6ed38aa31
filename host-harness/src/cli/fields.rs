//! Form values from the command line: `--field NAME=VALUE`,
//! `--field-env NAME=VAR`, `--fields-json FILE`, and prompts at a terminal.

use anyhow::{Context, Result, bail};
use clap::Args;
use host_harness::manifest::{AuthMethod, Field, FieldKind};
use std::collections::BTreeMap;
use std::io::{BufRead, IsTerminal, Write};

/// Ways to give form values without a prompt.
#[derive(Debug, Args, Default)]
pub struct FieldArgs {
    /// A field's value, as `NAME=VALUE`. Repeatable. For secrets prefer
    /// `--field-env` or `--fields-json`: the command line is visible to
    /// other users of the machine.
    #[arg(long = "field", value_name = "NAME=VALUE")]
    fields: Vec<String>,
    /// A field's value from an environment variable, as `NAME=VAR`. Repeatable.
    #[arg(long = "field-env", value_name = "NAME=VAR")]
    field_envs: Vec<String>,
    /// Field values from a JSON object file: `{"client_id": "...", ...}`.
    #[arg(long, value_name = "FILE")]
    fields_json: Option<std::path::PathBuf>,
}

impl FieldArgs {
    /// The values given, by field name.
    pub fn collect(&self) -> Result<BTreeMap<String, String>> {
        let mut values = BTreeMap::new();
        if let Some(path) = &self.fields_json {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read {}", path.display()))?;
            let object: BTreeMap<String, serde_json::Value> = serde_json::from_str(&text)
                .with_context(|| {
                    format!("{} is not a JSON object of field values", path.display())
                })?;
            for (name, value) in object {
                let text = match value {
                    serde_json::Value::String(s) => s,
                    serde_json::Value::Array(items) => items
                        .iter()
                        .filter_map(|i| i.as_str())
                        .collect::<Vec<_>>()
                        .join(" "),
                    other => bail!(
                        "{}: field `{name}` must be a string, not {other}",
                        path.display()
                    ),
                };
                values.insert(name, text);
            }
        }
        for spec in &self.fields {
            let (name, value) = spec
                .split_once('=')
                .with_context(|| format!("--field `{spec}` is not NAME=VALUE"))?;
            values.insert(name.trim().to_string(), value.to_string());
        }
        for spec in &self.field_envs {
            let (name, var) = spec
                .split_once('=')
                .with_context(|| format!("--field-env `{spec}` is not NAME=VAR"))?;
            let value = std::env::var(var.trim()).with_context(|| {
                format!("--field-env {name}: the environment variable {var} is not set")
            })?;
            values.insert(name.trim().to_string(), value);
        }
        Ok(values)
    }
}

impl FieldArgs {
    /// Warns about each secret of `method` given with `--field`: every user
    /// of the machine can read a command line.
    pub fn warn_about_secrets(&self, method: &AuthMethod) {
        for spec in &self.fields {
            let name = spec.split_once('=').map(|(n, _)| n.trim()).unwrap_or(spec);
            if method.fields.iter().any(|f| f.name == name && f.secret) {
                super::notice(&format!(
                    "warning: `{name}` is a secret, and a command line can be read by every user of this machine; give it with --field-env {name}=VARIABLE, --fields-json FILE, or at the prompt"
                ));
            }
        }
    }
}

/// Whether prompts can be shown: stdin and stderr are a terminal.
pub fn interactive() -> bool {
    std::io::stdin().is_terminal() && std::io::stderr().is_terminal()
}

/// Asks, at the terminal, for every field of `method` not given yet and
/// not fixed. Secrets are read without echo. A blank answer leaves the
/// field to the app credentials, or to its default.
pub fn prompt_missing(method: &AuthMethod, values: &mut BTreeMap<String, String>) -> Result<()> {
    for field in &method.fields {
        if field.fixed.is_some() || values.contains_key(&field.name) {
            continue;
        }
        if let Some(answer) = prompt(field)? {
            values.insert(field.name.clone(), answer);
        }
    }
    Ok(())
}

fn prompt(field: &Field) -> Result<Option<String>> {
    let default = field.default.as_ref().map(|d| match d {
        serde_json::Value::Array(items) => items
            .iter()
            .filter_map(|i| i.as_str())
            .collect::<Vec<_>>()
            .join(" "),
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    });
    let mut stderr = std::io::stderr();
    if let Some(help) = &field.help {
        writeln!(stderr, "  {help}")?;
    }
    let hint = match (&default, field.required) {
        (Some(d), _) => format!(" [{d}]"),
        (None, true) => " (required unless set as an app credential)".to_string(),
        (None, false) => " (optional)".to_string(),
    };
    let label = format!("{}{hint}: ", field.label);
    let answer = if field.secret {
        rpassword::prompt_password(label).context("cannot read a secret from the terminal")?
    } else {
        write!(stderr, "{label}")?;
        stderr.flush()?;
        let mut line = String::new();
        std::io::stdin().lock().read_line(&mut line)?;
        line
    };
    let answer = answer.trim().to_string();
    if answer.is_empty() {
        return Ok(if field.kind == FieldKind::Scopes {
            default
        } else {
            None
        });
    }
    Ok(Some(answer))
}

/// Asks which auth method to use.
pub fn prompt_method(methods: &[AuthMethod]) -> Result<String> {
    let mut stderr = std::io::stderr();
    writeln!(stderr, "Authentication methods:")?;
    for (n, m) in methods.iter().enumerate() {
        writeln!(stderr, "  {}. {} ({})", n + 1, m.label, m.id)?;
    }
    write!(stderr, "Choose 1-{}: ", methods.len())?;
    stderr.flush()?;
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    let choice: usize = line
        .trim()
        .parse()
        .context("answer with the number of a method")?;
    methods
        .get(choice.wrapping_sub(1))
        .map(|m| m.id.clone())
        .context("no method has that number")
}
