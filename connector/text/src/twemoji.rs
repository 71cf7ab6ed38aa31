//! Emoji as twitter-text 3.1.0 finds them: twemoji-parser 11.0.2's regular
//! expression (`twemoji_regex.txt`, copied unchanged from the package's
//! `dist/lib/regex.js`; Copyright Twitter Inc., MIT licence), run as
//! `parse` runs it, so that a text X's library refuses is refused here too.
//!
//! The expression lists the sequences of Emoji 11 (2018), so an emoji added
//! since counts as its parts, as X's library counts it; a lone U+FE0F is an
//! emoji of its own; U+FE0E after a character keeps it from being one. It
//! is 6 KB of JavaScript source in non-Unicode mode, so it works on UTF-16
//! code units, and uses only literal units, classes, groups, alternation,
//! `?` and one negative lookahead: a small backtracking matcher over the
//! parsed expression runs it exactly, first alternative first, as
//! JavaScript does. The expression is parsed once per process.

use std::sync::OnceLock;

/// twemoji-parser 11.0.2's expression, as its JavaScript source has it.
const SOURCE: &str = include_str!("twemoji_regex.txt");

/// A node of the expression.
#[derive(Debug)]
enum Node {
    /// One UTF-16 code unit.
    Unit(u16),
    /// One code unit within any of the ranges (inclusive).
    Class(Vec<(u16, u16)>),
    /// Each in turn.
    Seq(Vec<Node>),
    /// The first that leads to a match.
    Alt(Vec<Node>),
    /// The node if it leads to a match, else nothing (greedy `?`).
    Optional(Box<Node>),
    /// Nothing, where the node does not match (`(?!…)`).
    NotAhead(Box<Node>),
}

/// The spans (in UTF-16 code units) of the emoji in `t`, left to right, as
/// twemoji-parser's global `exec` loop finds them.
pub(crate) fn find_emoji(t: &[u16]) -> Vec<std::ops::Range<usize>> {
    let expression = expression();
    let mut found = Vec::new();
    let mut i = 0;
    while i < t.len() {
        // Most units start no emoji: they are passed over without running
        // the expression, which would try each of its alternatives.
        if !expression.may_start(t[i]) {
            i += 1;
            continue;
        }
        match match_at(&expression.root, t, i) {
            Some(end) if end > i => {
                found.push(i..end);
                i = end;
            }
            _ => i += 1,
        }
    }
    found
}

/// The parsed expression, and the code units a match can start with.
struct Expression {
    root: Node,
    /// A bit per code unit.
    starts: Vec<u64>,
}

impl Expression {
    fn may_start(&self, unit: u16) -> bool {
        self.starts[usize::from(unit) / 64] & (1 << (unit % 64)) != 0
    }
}

fn expression() -> &'static Expression {
    static PARSED: OnceLock<Expression> = OnceLock::new();
    PARSED.get_or_init(|| {
        let units: Vec<u16> = SOURCE.trim_end().encode_utf16().collect();
        let mut parser = Parser { s: &units, i: 0 };
        let root = parser.alternation();
        debug_assert_eq!(parser.i, units.len(), "the whole expression parses");
        let mut starts = vec![0u64; 65_536 / 64];
        if !first_units(&root, &mut starts) {
            // An expression that can match nothing could start anywhere.
            starts.fill(u64::MAX);
        }
        Expression { root, starts }
    })
}

/// Marks in `starts` the units a match of `node` can begin with; true
/// when `node` cannot match the empty string (so what follows it cannot
/// begin the match).
fn first_units(node: &Node, starts: &mut [u64]) -> bool {
    let mut mark = |lo: u16, hi: u16| {
        for unit in lo..=hi {
            starts[usize::from(unit) / 64] |= 1 << (unit % 64);
        }
    };
    match node {
        Node::Unit(u) => {
            mark(*u, *u);
            true
        }
        Node::Class(ranges) => {
            for &(lo, hi) in ranges {
                mark(lo, hi);
            }
            true
        }
        Node::Seq(nodes) => nodes.iter().any(|n| first_units(n, starts)),
        Node::Alt(choices) => {
            // Every choice marks its first units, solid or not.
            let mut solid = true;
            for choice in choices {
                solid &= first_units(choice, starts);
            }
            solid
        }
        Node::Optional(inner) => {
            first_units(inner, starts);
            false
        }
        Node::NotAhead(_) => false,
    }
}

/// Where a match of `node` starting at `i` ends, if one does.
fn match_at(node: &Node, t: &[u16], i: usize) -> Option<usize> {
    let mut end = None;
    at(node, t, i, &mut |j| {
        end = Some(j);
        true
    });
    end
}

/// Whether `node` matches at `i` with the rest (`then`) matching after it.
fn at(node: &Node, t: &[u16], i: usize, then: &mut dyn FnMut(usize) -> bool) -> bool {
    match node {
        Node::Unit(u) => t.get(i) == Some(u) && then(i + 1),
        Node::Class(ranges) => {
            t.get(i)
                .is_some_and(|c| ranges.iter().any(|&(lo, hi)| (lo..=hi).contains(c)))
                && then(i + 1)
        }
        Node::Seq(nodes) => seq(nodes, t, i, then),
        Node::Alt(choices) => {
            for choice in choices {
                if at(choice, t, i, then) {
                    return true;
                }
            }
            false
        }
        Node::Optional(inner) => at(inner, t, i, then) || then(i),
        Node::NotAhead(inner) => !at(inner, t, i, &mut |_| true) && then(i),
    }
}

fn seq(nodes: &[Node], t: &[u16], i: usize, then: &mut dyn FnMut(usize) -> bool) -> bool {
    match nodes.split_first() {
        None => then(i),
        Some((first, rest)) => at(first, t, i, &mut |j| seq(rest, t, j, then)),
    }
}

/// A parser of the JavaScript expression's syntax that the expression
/// uses, over its UTF-16 code units.
struct Parser<'a> {
    s: &'a [u16],
    i: usize,
}

impl Parser<'_> {
    fn peek(&self) -> Option<u16> {
        self.s.get(self.i).copied()
    }

    fn eat(&mut self, unit: u8) -> bool {
        if self.peek() == Some(u16::from(unit)) {
            self.i += 1;
            true
        } else {
            false
        }
    }

    /// `a|b|…`, up to a `)` or the end.
    fn alternation(&mut self) -> Node {
        let mut choices = vec![self.sequence()];
        while self.eat(b'|') {
            choices.push(self.sequence());
        }
        if choices.len() == 1 {
            choices.pop().expect("one choice")
        } else {
            Node::Alt(choices)
        }
    }

    /// Atoms, each perhaps with `?`, up to a `|`, a `)` or the end.
    fn sequence(&mut self) -> Node {
        let mut nodes = Vec::new();
        while let Some(c) = self.peek() {
            if c == u16::from(b'|') || c == u16::from(b')') {
                break;
            }
            let atom = self.atom();
            if self.eat(b'?') {
                nodes.push(Node::Optional(Box::new(atom)));
            } else {
                nodes.push(atom);
            }
        }
        Node::Seq(nodes)
    }

    fn atom(&mut self) -> Node {
        if self.eat(b'(') {
            let lookahead = if self.eat(b'?') {
                if self.eat(b'!') {
                    true
                } else {
                    self.eat(b':');
                    false
                }
            } else {
                false
            };
            let inner = self.alternation();
            self.eat(b')');
            return if lookahead {
                Node::NotAhead(Box::new(inner))
            } else {
                inner
            };
        }
        if self.eat(b'[') {
            let mut ranges = Vec::new();
            while let Some(c) = self.peek() {
                if c == u16::from(b']') {
                    self.i += 1;
                    break;
                }
                let lo = self.unit();
                let hi = if self.peek() == Some(u16::from(b'-'))
                    && self.s.get(self.i + 1) != Some(&u16::from(b']'))
                {
                    self.i += 1;
                    self.unit()
                } else {
                    lo
                };
                ranges.push((lo, hi));
            }
            return Node::Class(ranges);
        }
        Node::Unit(self.unit())
    }

    /// A literal unit or a `\uXXXX` escape.
    fn unit(&mut self) -> u16 {
        let c = self.peek().unwrap_or_default();
        self.i += 1;
        if c != u16::from(b'\\') {
            return c;
        }
        let escaped = self.peek().unwrap_or_default();
        self.i += 1;
        if escaped == u16::from(b'u') {
            let hex = String::from_utf16_lossy(
                &self.s[self.i.min(self.s.len())..(self.i + 4).min(self.s.len())],
            );
            self.i += 4;
            u16::from_str_radix(&hex, 16).unwrap_or_default()
        } else {
            escaped
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn emoji(text: &str) -> Vec<String> {
        let t: Vec<u16> = text.encode_utf16().collect();
        find_emoji(&t)
            .into_iter()
            .map(|span| String::from_utf16_lossy(&t[span]))
            .collect()
    }

    #[test]
    fn the_whole_expression_parses() {
        let units: Vec<u16> = SOURCE.trim_end().encode_utf16().collect();
        let mut parser = Parser { s: &units, i: 0 };
        parser.alternation();
        assert_eq!(parser.i, units.len());
    }

    #[test]
    fn sequences_of_emoji_11_are_one_and_later_ones_their_parts() {
        // A family, a flag, a skin tone, a keycap: one each.
        assert_eq!(emoji("👨‍👩‍👧‍👦"), ["👨‍👩‍👧‍👦"]);
        assert_eq!(emoji("🇫🇷"), ["🇫🇷"]);
        assert_eq!(emoji("👍🏽"), ["👍🏽"]);
        assert_eq!(emoji("1️⃣"), ["1️⃣"]);
        // Unicode 15's phoenix (🐦‍🔥): the bird and the fire apart.
        assert_eq!(emoji("🐦‍🔥"), ["🐦", "🔥"]);
        // A variation selector after an emoji that needs none is an emoji
        // of its own.
        assert_eq!(emoji("👍\u{FE0F}"), ["👍", "\u{FE0F}"]);
        // U+FE0E asks for text presentation: no emoji.
        assert_eq!(emoji("☺\u{FE0E}"), Vec::<String>::new());
    }
}
