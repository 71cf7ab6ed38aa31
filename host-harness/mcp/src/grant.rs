//! What an MCP client may reach: one connection of one tenant, and which
//! of its tools.

use rmcp::model::Tool;
use std::collections::BTreeSet;

/// A client's access, decided before the MCP server sees its request: the
/// connection its tools act on, whose tenant it belongs to, and the tool
/// sets that all must allow a tool for the client to see or call it (the
/// operator's limit, say, and then the subset the client asked for).
#[derive(Clone, Debug)]
pub struct Grant {
    /// The connection's tenant; `None` for the default tenant.
    pub tenant: Option<String>,
    /// The connection the tools act on.
    pub connection: String,
    /// Each set narrows the ones before; none means every tool.
    pub tools: Vec<ToolSet>,
}

impl Grant {
    /// Every tool of `connection`, of `tenant`.
    pub fn connection(tenant: Option<String>, connection: impl Into<String>) -> Grant {
        Grant {
            tenant,
            connection: connection.into(),
            tools: Vec::new(),
        }
    }

    /// The same grant, narrowed to the tools `set` allows too.
    pub fn narrowed(mut self, set: ToolSet) -> Grant {
        self.tools.push(set);
        self
    }

    /// The same grant, narrowed to the tools the connection's stored limit
    /// names (`Store::mcp_tools`). A limit naming a tool the catalogue no
    /// longer has allows what it still names, and one that names nothing
    /// left allows nothing: a limit never widens.
    pub fn limited_by(self, stored: Option<&str>, known: &[Tool]) -> Grant {
        let Some(stored) = stored else {
            return self;
        };
        let set = match ToolSet::parse(stored, known) {
            Ok(set) => set,
            Err(_) => ToolSet::Only(
                stored
                    .split(',')
                    .map(str::trim)
                    .filter(|name| known.iter().any(|t| t.name == *name))
                    .map(str::to_string)
                    .collect(),
            ),
        };
        self.narrowed(set)
    }

    /// Whether the client may see and call `tool`.
    pub fn allows(&self, tool: &Tool) -> bool {
        self.tools.iter().all(|set| set.allows(tool))
    }
}

/// A subset of the tools, as an operator or a client names it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ToolSet {
    /// Every tool.
    All,
    /// The tools that change nothing (`readOnlyHint`).
    ReadOnly,
    /// The tools of these names.
    Only(BTreeSet<String>),
}

/// A tool set that names what is not there.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ToolSetError {
    #[error(
        "`{0}` is not a tool of this connector; name tools by their action ids (such as `users.me`), or say `all` or `read-only`"
    )]
    UnknownTool(String),
    #[error("the tool set is empty; name tools by their action ids, or say `all` or `read-only`")]
    Empty,
}

impl ToolSet {
    /// Reads `all`, `read-only`, or tool names separated by commas, each
    /// one of `known`.
    pub fn parse(text: &str, known: &[Tool]) -> Result<ToolSet, ToolSetError> {
        match text.trim() {
            "all" => return Ok(ToolSet::All),
            "read-only" => return Ok(ToolSet::ReadOnly),
            _ => {}
        }
        let mut names = BTreeSet::new();
        for name in text.split(',').map(str::trim).filter(|n| !n.is_empty()) {
            if !known.iter().any(|tool| tool.name == name) {
                return Err(ToolSetError::UnknownTool(name.to_string()));
            }
            names.insert(name.to_string());
        }
        if names.is_empty() {
            return Err(ToolSetError::Empty);
        }
        Ok(ToolSet::Only(names))
    }

    /// Whether `tool` is in the set.
    pub fn allows(&self, tool: &Tool) -> bool {
        match self {
            ToolSet::All => true,
            ToolSet::ReadOnly => tool
                .annotations
                .as_ref()
                .and_then(|a| a.read_only_hint)
                .unwrap_or(false),
            ToolSet::Only(names) => names.contains(tool.name.as_ref()),
        }
    }
}

/// The set as [`ToolSet::parse`] reads it: `all`, `read-only`, or the
/// names in order, separated by commas.
impl std::fmt::Display for ToolSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ToolSet::All => f.write_str("all"),
            ToolSet::ReadOnly => f.write_str("read-only"),
            ToolSet::Only(names) => {
                f.write_str(&names.iter().cloned().collect::<Vec<_>>().join(","))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rmcp::model::ToolAnnotations;
    use std::sync::Arc;

    fn tool(name: &'static str, read_only: Option<bool>) -> Tool {
        let mut tool = Tool::new(name, "a tool", Arc::new(serde_json::Map::new()));
        if let Some(read_only) = read_only {
            tool = tool.with_annotations(ToolAnnotations::new().read_only(read_only));
        }
        tool
    }

    #[test]
    fn sets_narrow_one_another_and_read_only_needs_the_hint() {
        let known = [
            tool("users.me", Some(true)),
            tool("post.create", Some(false)),
            tool("post.validate", None),
        ];
        let grant = Grant::connection(None, "conn")
            .narrowed(ToolSet::parse("read-only", &known).unwrap())
            .narrowed(ToolSet::parse("users.me, post.create", &known).unwrap());

        let allowed: Vec<_> = known.iter().filter(|t| grant.allows(t)).collect();

        assert_eq!(allowed.len(), 1);
        assert_eq!(allowed[0].name, "users.me");
        assert!(
            !ToolSet::ReadOnly.allows(&known[2]),
            "no hint is no promise"
        );
        assert!(Grant::connection(None, "conn").allows(&known[1]));
    }

    #[test]
    fn a_set_naming_what_is_not_there_is_refused_with_the_name() {
        let known = [tool("users.me", Some(true))];

        assert_eq!(
            ToolSet::parse("users.me,post.nope", &known),
            Err(ToolSetError::UnknownTool("post.nope".into()))
        );
        assert_eq!(ToolSet::parse(" , ", &known), Err(ToolSetError::Empty));
    }

    #[test]
    fn a_set_reads_back_as_it_writes() {
        let known = [tool("users.me", Some(true)), tool("post.create", None)];
        for text in ["all", "read-only", "post.create,users.me"] {
            assert_eq!(ToolSet::parse(text, &known).unwrap().to_string(), text);
        }
    }
}
