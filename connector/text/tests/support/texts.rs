//! Texts of each kind a post can be made of, at any length, for the
//! linear-time test and the bench: the cases that cost twitter-text's
//! backtracking regex most, and the ordinary ones.

/// A kind of text: its name and how to make `length` UTF-16 units of it.
pub struct Kind {
    pub name: &'static str,
    pub make: fn(usize) -> String,
}

/// `unit` repeated up to `length` UTF-16 code units (never splitting a
/// character).
fn repeat_to(unit: &str, length: usize) -> String {
    let mut text = String::with_capacity(length * 2);
    let mut units = 0;
    'outer: loop {
        for c in unit.chars() {
            if units + c.len_utf16() > length {
                break 'outer;
            }
            text.push(c);
            units += c.len_utf16();
        }
    }
    text
}

pub const KINDS: &[Kind] = &[
    Kind {
        name: "plain words",
        make: |n| repeat_to("The quick brown fox jumps over the lazy dog. ", n),
    },
    Kind {
        name: "URL-dense",
        make: |n| {
            repeat_to(
                "see https://example.com/path/to(page)?q=1&r=2 and t.co/abc ",
                n,
            )
        },
    },
    Kind {
        name: "emoji-dense",
        make: |n| repeat_to("👨‍👩‍👧‍👦🇯🇵👋🏽1️⃣❤️ ", n),
    },
    Kind {
        name: "CJK",
        make: |n| {
            repeat_to(
                "故人西辞黄鹤楼，烟花三月下扬州。孤帆远影碧空尽，唯见长江天际流。",
                n,
            )
        },
    },
    Kind {
        name: "run of a.",
        make: |n| repeat_to("a.", n),
    },
    Kind {
        name: "run of a.com.",
        make: |n| repeat_to("a.com.", n),
    },
    Kind {
        name: "labels with _ and -",
        make: |n| repeat_to("a_b.c-d.中.", n),
    },
    Kind {
        // The longest URL X takes: 4096 less the protocol counted twice.
        name: "one 4088-char URL",
        make: |n| {
            let url = format!("https://example.com/{}", "a".repeat(4088 - 20));
            let mut text = url.clone();
            text.push(' ');
            text.push_str(&repeat_to("word ", n.saturating_sub(text.len())));
            repeat_to(&text, n)
        },
    },
    Kind {
        name: "path of paren groups",
        make: |n| format!("x.com/{}", repeat_to("a(b)(c)!(d.com/e(f)", n - 6)),
    },
    Kind {
        name: "query run",
        make: |n| format!("x.com/?{}", repeat_to("a!", n - 7)),
    },
    Kind {
        name: "ASCII domains in CJK",
        make: |n| repeat_to("b.comz中", n),
    },
    Kind {
        name: "punycode run",
        make: |n| format!("a.xn--{}", repeat_to("a", n - 6)),
    },
    Kind {
        name: "combining marks",
        make: |n| repeat_to("e\u{301}\u{302}\u{303}\u{304}", n),
    },
    // Marks of two classes after one base: NFC must reorder them all.
    Kind {
        name: "one long mark run",
        make: |n| format!("e{}", repeat_to("\u{301}\u{316}", n - 1)),
    },
];
