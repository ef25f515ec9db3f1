//! Fingerprinting long conversations, next to a full `serde_json::Value` parse of the same
//! bodies. `cargo bench -p rota-core --bench fingerprint`.

use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use rota_core::{Protocol, fingerprint};

/// Text of the later turns: code-like (an escape every ~17 bytes, as in coding-agent traffic)
/// or prose (no escapes).
#[derive(Clone, Copy)]
enum Text {
    Code,
    Prose,
}

/// A conversation of about `size` bytes: the first user message near the front, then turns of
/// `text` until the size is reached.
fn conversation(protocol: Protocol, size: usize, text: Text) -> Vec<u8> {
    let turn = match text {
        Text::Code => {
            "Here is the next part of the file. It has \\\"quotes\\\", a tab\\t, \
             unicode caf\\u00e9, and code: fn main() { println!(\\\"hi\\\"); }\\n"
        }
        Text::Prose => {
            "Here is the next part of the review. The scheduler keeps each conversation on one \
             account, so the provider's prompt cache keeps hitting; rotation only happens on \
             failures. "
        }
    };
    let mut body = String::with_capacity(size + 1024);
    match protocol {
        Protocol::Anthropic => body.push_str(
            r#"{"model":"claude-sonnet-4-5","max_tokens":4096,"system":"You are a careful reviewer.","messages":["#,
        ),
        _ => body.push_str(
            r#"{"model":"gpt-4o","messages":[{"role":"system","content":"You are a careful reviewer."},"#,
        ),
    }
    body.push_str(r#"{"role":"user","content":"Please review the following repository for concurrency bugs."}"#);
    let mut i = 0;
    while body.len() < size.saturating_sub(200) {
        let role = if i % 2 == 0 { "assistant" } else { "user" };
        body.push_str(r#",{"role":""#);
        body.push_str(role);
        body.push_str(r#"","content":[{"type":"text","text":""#);
        while !body.len().is_multiple_of(2048) && body.len() < size.saturating_sub(200) {
            body.push_str(turn);
        }
        body.push_str(r#""}]}"#);
        i += 1;
    }
    body.push_str(r#"],"stream":true}"#);
    body.into_bytes()
}

fn bench_fingerprint(c: &mut Criterion) {
    for protocol in [Protocol::Anthropic, Protocol::OpenAiChat] {
        let name = match protocol {
            Protocol::Anthropic => "anthropic",
            _ => "openai",
        };
        let mut group = c.benchmark_group(format!("fingerprint/{name}"));
        let sizes = [
            (Text::Code, 1 << 10),
            (Text::Code, 100 << 10),
            (Text::Code, 1 << 20),
            (Text::Prose, 1 << 20),
        ];
        for (text, size) in sizes {
            let body = conversation(protocol, size, text);
            let label = match text {
                Text::Code => format!("code/{size}"),
                Text::Prose => format!("prose/{size}"),
            };
            assert!(serde_json::from_slice::<serde_json::Value>(&body).is_ok());
            assert!(fingerprint::inspect(protocol, &body).session_id.is_some());
            group.throughput(Throughput::Bytes(body.len() as u64));
            group.bench_with_input(BenchmarkId::new("inspect", &label), &body, |b, body| {
                b.iter(|| fingerprint::inspect(protocol, black_box(body)))
            });
            group.bench_with_input(BenchmarkId::new("serde_value", &label), &body, |b, body| {
                b.iter(|| serde_json::from_slice::<serde_json::Value>(black_box(body)))
            });
        }
        group.finish();
    }
}

criterion_group!(benches, bench_fingerprint);
criterion_main!(benches);
