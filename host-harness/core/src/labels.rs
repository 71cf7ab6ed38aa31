//! Names people give things (a connection's name, a brand), and showing
//! any text from the store where a person reads it.
//!
//! A name is printed by `connections list` and `show`, and shown on the
//! pages. A control character in it is a way into the reader's terminal:
//! ESC starts a sequence that moves the cursor, recolours or links text
//! (OSC 8); CR LF forges a row of a listing; BEL and backspace hide what
//! follows. Bidirectional overrides reorder what is shown. So names are
//! refused with them, and whatever is shown from the store is shown with
//! them escaped, for text stored before this check or by another path.

use std::borrow::Cow;

/// The longest name taken, in characters.
pub const MAX_LABEL_CHARS: usize = 200;

/// Whether `c` changes how the text around it is shown rather than being
/// shown: Unicode's control characters (C0, DEL, C1), the bidirectional
/// marks, embeddings, overrides and isolates, and the line and paragraph
/// separators.
pub fn is_display_control(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{061C}' | '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2028}' | '\u{2029}' | '\u{2066}'..='\u{2069}'
        )
}

/// Checks a name: no control character, at most [`MAX_LABEL_CHARS`].
/// The reason names what is wrong, for the caller to put beside the field.
pub fn check_label(value: &str) -> Result<(), String> {
    if let Some(c) = value.chars().find(|&c| is_display_control(c)) {
        return Err(format!(
            "holds the control character U+{:04X}; a name is plain text on one line",
            c as u32
        ));
    }
    let length = value.chars().count();
    if length > MAX_LABEL_CHARS {
        return Err(format!(
            "is {length} characters long; at most {MAX_LABEL_CHARS} are taken"
        ));
    }
    Ok(())
}

/// `text` as a terminal may print it: each control character written as
/// an escape (`\n`, `\u{1b}`), so no byte of it acts on the terminal.
pub fn printable(text: &str) -> Cow<'_, str> {
    if !text.chars().any(is_display_control) {
        return Cow::Borrowed(text);
    }
    let mut shown = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            '\n' => shown.push_str("\\n"),
            '\r' => shown.push_str("\\r"),
            '\t' => shown.push_str("\\t"),
            c if is_display_control(c) => shown.push_str(&format!("\\u{{{:x}}}", c as u32)),
            c => shown.push(c),
        }
    }
    Cow::Owned(shown)
}

/// A rendered page with every control character but the whitespace HTML
/// is laid out with (tab, LF, CR) escaped as [`printable`] does: the
/// templates escape markup, not these.
pub fn printable_html(html: String) -> String {
    let acts = |c: char| is_display_control(c) && !matches!(c, '\t' | '\n' | '\r');
    if !html.chars().any(acts) {
        return html;
    }
    html.chars()
        .map(|c| {
            if acts(c) {
                format!("\\u{{{:x}}}", c as u32)
            } else {
                c.to_string()
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_with_control_characters_or_too_long_are_refused() {
        for bad in [
            "evil\u{1b}]8;;https://x.example\u{7}link",
            "row\r\nconn_fake0  pending",
            "nul\0",
            "bell\u{7}",
            "back\u{8}space",
            "\u{9b}31m",
            "rtl\u{202e}gnp.exe",
        ] {
            assert!(check_label(bad).is_err(), "{bad:?} was taken");
        }
        assert!(check_label(&"a".repeat(MAX_LABEL_CHARS + 1)).is_err());
        assert!(check_label(&"é".repeat(MAX_LABEL_CHARS)).is_ok());
        assert!(check_label("Ada's account — 📣 marketing").is_ok());
    }

    #[test]
    fn printed_text_holds_no_control_character() {
        let shown = printable("a\u{1b}[2Jb\r\nc\0\u{202e}");
        assert_eq!(shown, "a\\u{1b}[2Jb\\r\\nc\\u{0}\\u{202e}");
        assert!(!shown.chars().any(is_display_control));
        assert!(matches!(printable("plain"), Cow::Borrowed("plain")));
    }

    #[test]
    fn a_page_keeps_its_layout_and_loses_its_controls() {
        let page = printable_html("<p>\n\tname\u{1b}[31m\0</p>\r\n".to_string());
        assert_eq!(page, "<p>\n\tname\\u{1b}[31m\\u{0}</p>\r\n");
    }
}
