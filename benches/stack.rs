//! The four-layer stack over an in-process no-op upstream, next to an identity stack.
//!
//! `cargo bench --bench stack`. Reported in BENCHMARKS.md as "stack cost over identity".

use std::convert::Infallible;
use std::hint::black_box;
use std::time::Duration;

use bytes::Bytes;
use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use http::{HeaderValue, Request, Response};
use http_body_util::Full;
use rota::core::{AccountId, AccountSpec, MemoryBindingStore, SessionId, Tier};
use rota::{AccountSelectLayer, Pool, RateLimitMarkLayer, RetryRotateLayer, SessionIdLayer};
use tower::{Service, ServiceBuilder, ServiceExt};

const BODY: &str = r#"{"model":"claude-sonnet-4-5","max_tokens":1024,"stream":false,"messages":[{"role":"user","content":"Refactor this function so it no longer clones the pool on every request."},{"role":"assistant","content":"Sure - here is a version that borrows instead."},{"role":"user","content":"Now add a test."}]}"#;

fn upstream()
-> impl Service<Request<Bytes>, Response = Response<Full<Bytes>>, Error = Infallible, Future: Send>
+ Clone
+ Send {
    tower::service_fn(|req: Request<Bytes>| async move {
        black_box(&req);
        Ok::<_, Infallible>(Response::new(Full::new(Bytes::from_static(b"{}"))))
    })
}

fn pool(accounts: usize, bindings: usize) -> Pool {
    let tiers = [Tier::Ultra, Tier::Pro, Tier::Free];
    Pool::builder()
        .accounts((0..accounts).map(|i| {
            AccountSpec::api_key(format!("acct{i}@bench"), tiers[i % 3], format!("key-{i}"))
        }))
        .store(MemoryBindingStore::new(bindings, Duration::from_secs(3600)))
        .build()
        .expect("unique emails")
}

fn request(session: Option<&HeaderValue>) -> Request<Bytes> {
    let mut req = Request::post("/v1/messages")
        .header("content-type", "application/json")
        .header("x-api-key", "client-key")
        .body(Bytes::from_static(BODY.as_bytes()))
        .expect("valid request");
    if let Some(s) = session {
        req.headers_mut().insert("x-session-id", s.clone());
    }
    req
}

fn bench_stack(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("runtime");
    let mut group = c.benchmark_group("stack");

    let identity = upstream();
    group.bench_function("identity", |b| {
        b.iter(|| rt.block_on(identity.clone().oneshot(request(None))))
    });

    for accounts in [4, 1_000, 100_000] {
        let pool = pool(accounts, 100_000);
        let svc = ServiceBuilder::new()
            .layer(SessionIdLayer::new())
            .layer(RetryRotateLayer::new(pool.clone()))
            .layer(AccountSelectLayer::new(pool.clone()))
            .layer(RateLimitMarkLayer::new(pool.clone()))
            .service(upstream());
        group.bench_with_input(BenchmarkId::new("rota", accounts), &svc, |b, svc| {
            b.iter(|| rt.block_on(svc.clone().oneshot(request(None))))
        });
    }

    // 1 000 000 bound sessions; each request names one of them.
    let pool = pool(4, 1_000_000);
    let sessions = 1_000_000u32;
    let now = pool.now();
    for i in 0..sessions {
        let id = SessionId(format!("bench-session-{i}").into());
        drop(pool.store().bind(&id, AccountId(i % 4), now));
    }
    let headers: Vec<HeaderValue> = (0..4096u32)
        .map(|i| {
            let i = i.wrapping_mul(2_654_435_761) % sessions;
            HeaderValue::from_str(&format!("bench-session-{i}")).expect("ascii")
        })
        .collect();
    let svc = ServiceBuilder::new()
        .layer(SessionIdLayer::new())
        .layer(RetryRotateLayer::new(pool.clone()))
        .layer(AccountSelectLayer::new(pool.clone()))
        .layer(RateLimitMarkLayer::new(pool.clone()))
        .service(upstream());
    let mut n = 0usize;
    group.bench_function("rota/4_accounts_1M_sessions", |b| {
        b.iter(|| {
            n = (n + 1) % headers.len();
            rt.block_on(svc.clone().oneshot(request(Some(&headers[n]))))
        })
    });
    group.finish();
}

criterion_group!(benches, bench_stack);
criterion_main!(benches);
