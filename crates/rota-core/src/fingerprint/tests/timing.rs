//! A manual timing check (ignored by default).

#![allow(clippy::unwrap_used)]

use super::*;

// ---- timing (manual) -------------------------------------------------------------------

/// `cargo test -p rota-core --release --lib fingerprint::tests::timing -- --ignored --nocapture`
#[test]
#[ignore = "manual timing, run in release mode"]
fn timing_one_megabyte() {
    use std::time::Instant;
    let escapey = "let x = \"quoted\";\n\tcall(x, 'y') // é ".repeat(60);
    let prose =
        "lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod ".repeat(30);
    let code =
        "    if let Some(x) = map.get(\"key\") {\n        return Err(x);\n    }\n".repeat(40);
    for filler in [escapey, code, prose] {
        let mut messages =
            vec![json!({"role": "user", "content": "please help me refactor this crate"})];
        let mut i = 0;
        while serde_json::to_string(&messages).unwrap().len() < 1_000_000 {
            messages.push(json!({"role": "assistant", "content": [
                {"type": "text", "text": format!("{i} {filler}")},
                {"type": "tool_use", "id": format!("t{i}"), "name": "read", "input": {"path": "src/lib.rs", "n": i}},
            ]}));
            messages.push(json!({"role": "user", "content": [
                {"type": "tool_result", "tool_use_id": format!("t{i}"), "content": filler.clone()},
            ]}));
            i += 1;
        }
        let body =
            json!({"model": "claude", "stream": true, "max_tokens": 4096, "messages": messages});
        let body = body.to_string();
        let body = body.as_bytes();
        // Best of many runs: the machine may be shared.
        let best = |f: &dyn Fn()| {
            (0..300)
                .map(|_| {
                    let t = Instant::now();
                    f();
                    t.elapsed()
                })
                .min()
                .unwrap()
        };
        let ours = best(&|| {
            std::hint::black_box(inspect(Protocol::Anthropic, std::hint::black_box(body)));
        });
        let serde = best(&|| {
            std::hint::black_box(
                serde_json::from_slice::<Value>(std::hint::black_box(body)).unwrap(),
            );
        });
        println!(
            "{} bytes, {} backslashes: inspect {ours:?}, serde_json::Value {serde:?}, ratio {:.1}x",
            body.len(),
            body.iter().filter(|&&b| b == b'\\').count(),
            serde.as_secs_f64() / ours.as_secs_f64()
        );
    }
}
