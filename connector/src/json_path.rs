//! The path of the value at a position in a JSON text, such as
//! `poll.options[1]`.
//!
//! serde_json says *what* is wrong with an input and *where* in the text
//! (line and column); this scanner turns the where into the field a
//! workflow builder recognises. It reads the text only up to that position,
//! so it costs nothing on inputs that parse.

/// One open container on the way to the position.
enum Frame {
    /// An object, and the key whose value is being read, once one is.
    Object(Option<String>),
    /// An array, and the index of the element being read, once one is.
    Array(Option<usize>),
}

/// The path of the value being read at byte `offset` of `text`; empty at
/// the top level. After a container closes, the path is the container's.
pub fn path_at(text: &str, offset: usize) -> String {
    let bytes = text.as_bytes();
    let end = offset.min(bytes.len());
    let mut stack: Vec<Frame> = Vec::new();
    let mut i = 0;
    // The next string in an object is a key unless a `:` has been seen.
    let mut expecting_key = false;
    while i < end {
        match bytes[i] {
            b'{' => {
                start_value(&mut stack);
                stack.push(Frame::Object(None));
                expecting_key = true;
                i += 1;
            }
            b'[' => {
                start_value(&mut stack);
                stack.push(Frame::Array(None));
                i += 1;
            }
            b'}' | b']' => {
                stack.pop();
                expecting_key = false;
                i += 1;
            }
            b',' => {
                match stack.last_mut() {
                    Some(Frame::Object(_)) => expecting_key = true,
                    Some(Frame::Array(index)) => *index = Some(index.map_or(0, |n| n + 1)),
                    None => {}
                }
                i += 1;
            }
            b':' => {
                expecting_key = false;
                i += 1;
            }
            b'"' => {
                let (value, next) = string(bytes, i);
                if expecting_key && let Some(Frame::Object(key)) = stack.last_mut() {
                    *key = Some(value);
                    expecting_key = false;
                } else {
                    start_value(&mut stack);
                }
                i = next;
            }
            b if b.is_ascii_whitespace() => i += 1,
            _ => {
                // A number or a literal: read to its end.
                start_value(&mut stack);
                while i < bytes.len()
                    && !matches!(bytes[i], b',' | b'}' | b']' | b':')
                    && !bytes[i].is_ascii_whitespace()
                {
                    i += 1;
                }
            }
        }
    }
    render(&stack)
}

/// A value starts: in an array, it is the first element unless counted.
fn start_value(stack: &mut [Frame]) {
    if let Some(Frame::Array(index @ None)) = stack.last_mut() {
        *index = Some(0);
    }
}

/// The string starting at `start` (a `"`), unescaped well enough for a
/// key, and the position after its closing quote.
fn string(bytes: &[u8], start: usize) -> (String, usize) {
    let mut i = start + 1;
    let mut raw = Vec::new();
    while i < bytes.len() {
        match bytes[i] {
            b'"' => return (String::from_utf8_lossy(&raw).into_owned(), i + 1),
            b'\\' if i + 1 < bytes.len() => {
                // Keys with escapes are rare; keep the escaped character.
                raw.push(bytes[i + 1]);
                i += 2;
            }
            b => {
                raw.push(b);
                i += 1;
            }
        }
    }
    (String::from_utf8_lossy(&raw).into_owned(), i)
}

fn render(stack: &[Frame]) -> String {
    let mut path = String::new();
    for frame in stack {
        match frame {
            Frame::Object(Some(key)) => {
                if !path.is_empty() {
                    path.push('.');
                }
                path.push_str(key);
            }
            Frame::Array(Some(index)) => {
                path.push('[');
                path.push_str(&index.to_string());
                path.push(']');
            }
            Frame::Object(None) | Frame::Array(None) => {}
        }
    }
    path
}

/// The byte offset of serde_json's `line` and `column` (1-based line,
/// column counted in bytes) in `text`.
pub fn offset_of(text: &str, line: usize, column: usize) -> usize {
    let line_start: usize = text
        .split('\n')
        .take(line.saturating_sub(1))
        .map(|l| l.len() + 1)
        .sum();
    line_start + column
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at_end_of(text: &str, prefix: &str) -> String {
        assert!(text.starts_with(prefix));
        path_at(text, prefix.len())
    }

    #[test]
    fn names_keys_and_indices_on_the_way_to_the_position() {
        let t = r#"{"text": "x", "poll": {"options": ["a", 2], "duration_minutes": 1}}"#;
        assert_eq!(at_end_of(t, r#"{"text": "x""#), "text");
        assert_eq!(
            at_end_of(t, r#"{"text": "x", "poll": {"options": ["a""#),
            "poll.options[0]"
        );
        assert_eq!(
            at_end_of(t, r#"{"text": "x", "poll": {"options": ["a", 2"#),
            "poll.options[1]"
        );
        assert_eq!(
            at_end_of(t, r#"{"text": "x", "poll": {"options": "#),
            "poll.options"
        );
        // After a container closes, the path is the container's.
        assert_eq!(
            at_end_of(t, r#"{"text": "x", "poll": {"options": ["a", 2]"#),
            "poll.options"
        );
        assert_eq!(path_at(t, t.len() - 1), "poll");
        assert_eq!(path_at(t, t.len()), "");
    }

    #[test]
    fn an_unknown_key_is_the_end_of_the_path() {
        let t = r#"{"text": "x", "bad": 1}"#;
        assert_eq!(at_end_of(t, r#"{"text": "x", "bad""#), "bad");
    }

    #[test]
    fn strings_with_escapes_and_brackets_do_not_confuse_it() {
        let t = r#"{"text": "a \" [ { , : b", "ids": [1, 2, -1]}"#;
        assert_eq!(
            at_end_of(t, r#"{"text": "a \" [ { , : b", "ids": [1, 2, -1"#),
            "ids[2]"
        );
    }

    #[test]
    fn lines_and_columns_are_bytes() {
        let t = "{\n \"text\": \"é\",\n \"ids\": [1,\n \"a\"]}";
        let offset = offset_of(t, 4, 4);
        assert_eq!(&t[..offset], "{\n \"text\": \"é\",\n \"ids\": [1,\n \"a\"");
        assert_eq!(path_at(t, offset), "ids[1]");
    }
}
