//! X's search query language, the part the emulator understands: keywords,
//! "quoted phrases", `from:`, `to:`, `is:retweet` / `is:reply` / `is:quote`,
//! `lang:`, `conversation_id:` (how clients read a whole thread),
//! `in_reply_to_tweet_id:`, `retweets_of_tweet_id:`, `quotes_of_tweet_id:`,
//! `has:media` / `has:links` / `has:mentions` / `has:hashtags`, negation
//! with `-`, implicit AND, `OR`, and parentheses.

use crate::world::{Post, Reference, World};

/// A parsed query.
#[derive(Debug, Clone, PartialEq)]
pub enum Query {
    Keyword(String),
    Phrase(String),
    From(String),
    To(String),
    Is(Reference),
    Lang(String),
    /// Posts of the conversation the post of this id started.
    Conversation(u64),
    /// Posts referring to the post of this id in this way.
    Refers(Reference, u64),
    Has(Feature),
    Not(Box<Query>),
    All(Vec<Query>),
    Any(Vec<Query>),
}

/// What a post may have, for `has:`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Feature {
    Media,
    Links,
    Mentions,
    Hashtags,
}

/// Parses `text`, or explains what X would refuse in it.
pub fn parse(text: &str) -> Result<Query, String> {
    let tokens = tokenize(text)?;
    let mut parser = Parser { tokens, pos: 0 };
    let query = parser.any()?;
    if parser.pos < parser.tokens.len() {
        return Err(format!(
            "Unexpected `{}` in query",
            parser.tokens[parser.pos].text()
        ));
    }
    if !query.has_positive_term() {
        return Err("A query must contain at least one term that is not negated".into());
    }
    Ok(query)
}

impl Query {
    /// Whether `post` matches.
    pub fn matches(&self, world: &World, post: &Post) -> bool {
        match self {
            Query::Keyword(k) => words(&post.text).any(|w| w.eq_ignore_ascii_case(k)),
            Query::Phrase(p) => post.text.to_lowercase().contains(&p.to_lowercase()),
            Query::From(name) => world.user(post.author_id).is_some_and(|u| {
                u.username.eq_ignore_ascii_case(name) || u.id.to_string() == *name
            }),
            Query::To(name) => post
                .in_reply_to_user_id
                .and_then(|id| world.user(id))
                .is_some_and(|u| {
                    u.username.eq_ignore_ascii_case(name) || u.id.to_string() == *name
                }),
            Query::Is(kind) => post.references.iter().any(|(k, _)| k == kind),
            Query::Lang(lang) => post.lang.eq_ignore_ascii_case(lang),
            Query::Conversation(id) => post.conversation_id == *id,
            Query::Refers(kind, id) => post.references.iter().any(|(k, r)| k == kind && r == id),
            Query::Has(Feature::Media) => !post.extras.media.is_empty(),
            Query::Has(Feature::Links) => words(&post.text).any(|w| w.starts_with("http")),
            Query::Has(Feature::Mentions) => words(&post.text).any(|w| w.starts_with('@')),
            Query::Has(Feature::Hashtags) => words(&post.text).any(|w| w.starts_with('#')),
            Query::Not(q) => !q.matches(world, post),
            Query::All(qs) => qs.iter().all(|q| q.matches(world, post)),
            Query::Any(qs) => qs.iter().any(|q| q.matches(world, post)),
        }
    }

    fn has_positive_term(&self) -> bool {
        match self {
            Query::Not(_) => false,
            Query::All(qs) | Query::Any(qs) => qs.iter().any(Query::has_positive_term),
            _ => true,
        }
    }
}

/// The words of a post's text: runs of letters, digits, `_`, `#` and `@`.
fn words(text: &str) -> impl Iterator<Item = &str> {
    text.split(|c: char| !(c.is_alphanumeric() || c == '_' || c == '#' || c == '@' || c == '\''))
        .filter(|w| !w.is_empty())
}

#[derive(Debug, Clone)]
enum Token {
    Word(String),
    Phrase(String),
    Open,
    Close,
    Minus,
}

impl Token {
    fn text(&self) -> String {
        match self {
            Token::Word(w) => w.clone(),
            Token::Phrase(p) => format!("\"{p}\""),
            Token::Open => "(".into(),
            Token::Close => ")".into(),
            Token::Minus => "-".into(),
        }
    }
}

fn tokenize(text: &str) -> Result<Vec<Token>, String> {
    let mut tokens = Vec::new();
    let mut chars = text.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        match c {
            c if c.is_whitespace() => {}
            '(' => tokens.push(Token::Open),
            ')' => tokens.push(Token::Close),
            '-' if chars.peek().is_some_and(|(_, n)| !n.is_whitespace()) => {
                tokens.push(Token::Minus)
            }
            '"' => {
                let mut phrase = String::new();
                let mut closed = false;
                for (_, c) in chars.by_ref() {
                    if c == '"' {
                        closed = true;
                        break;
                    }
                    phrase.push(c);
                }
                if !closed {
                    return Err(format!(
                        "Unterminated quoted phrase (at position {})",
                        i + 1
                    ));
                }
                tokens.push(Token::Phrase(phrase));
            }
            _ => {
                let mut word = String::from(c);
                while let Some((_, n)) = chars.peek() {
                    if n.is_whitespace() || *n == '(' || *n == ')' || *n == '"' {
                        break;
                    }
                    word.push(*n);
                    chars.next();
                }
                tokens.push(Token::Word(word));
            }
        }
    }
    Ok(tokens)
}

struct Parser {
    tokens: Vec<Token>,
    pos: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.pos)
    }

    /// `group (OR group)*`
    fn any(&mut self) -> Result<Query, String> {
        let mut groups = vec![self.all()?];
        while matches!(self.peek(), Some(Token::Word(w)) if w == "OR") {
            self.pos += 1;
            groups.push(self.all()?);
        }
        Ok(if groups.len() == 1 {
            groups.pop().unwrap()
        } else {
            Query::Any(groups)
        })
    }

    /// `term+`
    fn all(&mut self) -> Result<Query, String> {
        let mut terms = Vec::new();
        while let Some(token) = self.peek() {
            match token {
                Token::Close => break,
                Token::Word(w) if w == "OR" => break,
                _ => terms.push(self.term()?),
            }
        }
        match terms.len() {
            0 => Err("Empty query or group".into()),
            1 => Ok(terms.pop().unwrap()),
            _ => Ok(Query::All(terms)),
        }
    }

    fn term(&mut self) -> Result<Query, String> {
        let token = self.tokens[self.pos].clone();
        self.pos += 1;
        match token {
            Token::Minus => Ok(Query::Not(Box::new(self.term()?))),
            Token::Open => {
                let inner = self.any()?;
                match self.peek() {
                    Some(Token::Close) => {
                        self.pos += 1;
                        Ok(inner)
                    }
                    _ => Err("Missing closing parenthesis".into()),
                }
            }
            Token::Close => Err("Unexpected `)`".into()),
            Token::Phrase(p) => Ok(Query::Phrase(p)),
            Token::Word(w) => operator(&w),
        }
    }
}

fn operator(word: &str) -> Result<Query, String> {
    let Some((name, value)) = word.split_once(':') else {
        return Ok(Query::Keyword(word.to_string()));
    };
    if value.is_empty() {
        return Err(format!(
            "Reference to invalid operator '{name}' with no value"
        ));
    }
    match name {
        "from" => Ok(Query::From(value.trim_start_matches('@').to_string())),
        "to" => Ok(Query::To(value.trim_start_matches('@').to_string())),
        "lang" => Ok(Query::Lang(value.to_string())),
        "is" => match value {
            "retweet" => Ok(Query::Is(Reference::Retweeted)),
            "reply" => Ok(Query::Is(Reference::RepliedTo)),
            "quote" => Ok(Query::Is(Reference::Quoted)),
            other => Err(format!("Reference to invalid field 'is:{other}'")),
        },
        "conversation_id" => post_id(name, value).map(Query::Conversation),
        "in_reply_to_tweet_id" => {
            post_id(name, value).map(|id| Query::Refers(Reference::RepliedTo, id))
        }
        "retweets_of_tweet_id" => {
            post_id(name, value).map(|id| Query::Refers(Reference::Retweeted, id))
        }
        "quotes_of_tweet_id" => post_id(name, value).map(|id| Query::Refers(Reference::Quoted, id)),
        "has" => match value {
            "media" => Ok(Query::Has(Feature::Media)),
            "links" => Ok(Query::Has(Feature::Links)),
            "mentions" => Ok(Query::Has(Feature::Mentions)),
            "hashtags" => Ok(Query::Has(Feature::Hashtags)),
            other => Err(format!("Reference to invalid field 'has:{other}'")),
        },
        // A URL or a time is a keyword, not an operator.
        "http" | "https" => Ok(Query::Keyword(word.to_string())),
        other => Err(format!("Reference to invalid operator '{other}'")),
    }
}

/// A post id an operator takes: digits only, as X requires.
fn post_id(operator: &str, value: &str) -> Result<u64, String> {
    value.parse().map_err(|_| {
        format!("Invalid value '{value}' for operator '{operator}': a Post ID is digits")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_operators_negation_and_or() {
        assert_eq!(
            parse("from:ada -is:retweet").unwrap(),
            Query::All(vec![
                Query::From("ada".into()),
                Query::Not(Box::new(Query::Is(Reference::Retweeted)))
            ])
        );
        assert!(matches!(parse("ship OR engine").unwrap(), Query::Any(_)));
        assert!(matches!(parse("(a OR b) \"c d\"").unwrap(), Query::All(_)));
        assert_eq!(
            parse("conversation_id:1234 -from:ada").unwrap(),
            Query::All(vec![
                Query::Conversation(1234),
                Query::Not(Box::new(Query::From("ada".into())))
            ])
        );
        assert_eq!(
            parse("quotes_of_tweet_id:77 has:media").unwrap(),
            Query::All(vec![
                Query::Refers(Reference::Quoted, 77),
                Query::Has(Feature::Media)
            ])
        );
    }

    #[test]
    fn refuses_what_x_refuses() {
        assert!(
            parse("bogus:1")
                .unwrap_err()
                .contains("invalid operator 'bogus'")
        );
        assert!(parse("is:bogus").is_err());
        assert!(parse("has:bogus").is_err());
        assert!(
            parse("conversation_id:abc")
                .unwrap_err()
                .contains("conversation_id")
        );
        assert!(parse("-is:retweet").is_err());
        assert!(parse("\"open").is_err());
        assert!(parse("(a").is_err());
    }
}
