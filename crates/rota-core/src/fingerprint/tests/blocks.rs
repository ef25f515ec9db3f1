//! Skipped strings across the block scanner's boundaries: escaped quotes and backslash runs
//! at every offset of the 16- and 64-byte blocks, strings ending at a block boundary or at
//! the input's end, the hand-back to `memchr`, and bodies shorter than one block.

#![allow(clippy::unwrap_used)]

use super::*;

/// Where skipping and where reading the string that starts `body` end (`None`: an error).
fn skip_and_read(body: &[u8]) -> (Option<usize>, Option<usize>) {
    let mut skip = scan::Scanner::new(body, 0);
    let mut read = scan::Scanner::new(body, 0);
    let skipped = skip.skip_value(0).ok().map(|()| skip.pos());
    let read_to = read.string().ok().map(|_| read.pos());
    (skipped, read_to)
}

/// Asserts that a string with contents `content` (valid escapes) is skipped to where it is
/// read to, and that a body skipping it agrees with serde on the whole document.
fn assert_skips_like_read(content: &str) {
    let string = format!("\"{content}\"");
    let (skipped, read_to) = skip_and_read(string.as_bytes());
    assert!(read_to.is_some(), "{string}");
    assert_eq!(skipped, read_to, "{string}");
    // Anthropic skips `system`; `model` after it is read only if the skip ended right.
    let body = format!("{{\"system\":{string},\"model\":\"m\"}}");
    let facts = inspect(Protocol::Anthropic, body.as_bytes());
    match serde_json::from_str::<Value>(&body) {
        Ok(v) => {
            assert_eq!(facts.body, BodyShape::JsonObject, "{body}");
            assert_eq!(facts.model.as_deref(), v["model"].as_str(), "{body}");
        }
        Err(_) => assert!(matches!(facts.body, BodyShape::Malformed(_)), "{body}"),
    }
}

/// Escapes and quotes (escaped or closing) whose last byte lands at any block offset.
const PATTERNS: [&str; 9] = [
    r#"\""#,
    r#"\\""#,
    r#"\\\""#,
    r#"\\\\""#,
    r#"\\\\\""#,
    r"\\",
    r"\n",
    r"\u00e9",
    r#"\"\""#,
];

#[test]
fn escapes_at_every_block_offset() {
    // `a\"` starts block scanning just after it; `lead` then walks each pattern through
    // every offset of two 64-byte blocks (so of every 16-byte lane too).
    for lead in 0..=130 {
        for pattern in PATTERNS {
            for tail in [0, 1, 15, 16, 63, 64, 65] {
                let content = format!(r#"a\"{}{pattern}{}"#, "x".repeat(lead), "y".repeat(tail));
                assert_skips_like_read(&content);
            }
        }
    }
}

#[test]
fn backslash_runs_crossing_a_block() {
    // Block scanning starts after `\"`; a run of `run` backslashes ends at block offset
    // `last` (around the first and second block ends). An odd run escapes the quote after
    // it; after an even run the string's closing quote follows.
    for last in [62, 63, 64, 126, 127, 128] {
        for run in 1..=6 {
            let lead = "x".repeat(last + 1 - run);
            let after = if run % 2 == 1 { r#""z"# } else { "" };
            let content = format!(r#"\"{lead}{}{after}"#, r"\".repeat(run));
            assert_skips_like_read(&content);
        }
    }
}

#[test]
fn strings_ending_at_a_block_boundary() {
    // The closing quote at each offset around the first two block ends, with the input
    // ending right after it (the string is the whole body) or going on.
    for len in 60..=132 {
        let content = format!(r#"\"{}"#, "x".repeat(len - 2));
        let string = format!("\"{content}\"");
        assert_eq!(
            skip_and_read(string.as_bytes()),
            (Some(string.len()), Some(string.len()))
        );
        assert_skips_like_read(&content);
    }
}

#[test]
fn quotes_sparse_again_hand_back_to_memchr() {
    // After `\"`, two quote-free blocks hand back to `memchr` at block offset 128; a run of
    // backslashes ends at block offset `last` (127: right before the hand-back point, whose
    // quote it escapes when odd), then more escaped quotes follow.
    for last in [126, 127, 128, 200, 500] {
        for run in 1..=4 {
            let lead = "x".repeat(last + 1 - run);
            let after = if run % 2 == 1 {
                r#"" and \"more\" text"#
            } else {
                ""
            };
            let content = format!(r#"\"{lead}{}{after}"#, r"\".repeat(run));
            assert_skips_like_read(&content);
        }
    }
}

#[test]
fn bodies_shorter_than_a_block() {
    let body = r#"{"system":"a\"b\\\"c\\","model":"m"}"#;
    assert!(body.len() < 64);
    assert_eq!(
        inspect(Protocol::Anthropic, body.as_bytes())
            .model
            .as_deref(),
        Some("m")
    );
    for cut in 0..body.len() {
        let prefix = &body.as_bytes()[..cut];
        let serde_ok = serde_json::from_slice::<Value>(prefix).is_ok();
        let facts = inspect(Protocol::Anthropic, prefix);
        let ours_ok = !matches!(facts.body, BodyShape::Malformed(_));
        assert_eq!(ours_ok, serde_ok || cut == 0, "{:?}", &body[..cut]);
    }
    for string in [r#""\"""#, r#""\\""#, r#""\\\"\"""#, r#""a\"b""#] {
        let (skipped, read_to) = skip_and_read(string.as_bytes());
        assert_eq!(skipped, Some(string.len()), "{string}");
        assert_eq!(read_to, skipped, "{string}");
    }
}
