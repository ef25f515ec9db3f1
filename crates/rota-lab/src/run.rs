//! One run: a policy's stack at one load, on its own paused-time runtime, against a fresh
//! in-process sim; every conversation of the plan as its own task.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use axum::body::Body;
use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::BodyExt;
use rota::{
    AccountSelectLayer, BoxError, Error, RateLimitMarkLayer, RetryRotateLayer, SessionIdLayer,
};
use rota_sim::{Behavior, CacheConfig, Quota, Sim, SimHandle};
use tokio::task::JoinSet;
use tower::{Service, ServiceBuilder, ServiceExt};

use crate::client::{CLIENT_RETRIES, History, LATENCY_HEADER, client_delay, system_prompt};
use crate::metrics::{ClientTally, Row, UpstreamTally};
use crate::policy::Policy;
use crate::scenario::Scenario;
use crate::workload::{Conversation, Plan};

/// How long an upstream takes to answer with an error.
const ERROR_LATENCY: Duration = Duration::from_millis(150);

/// The provider's prompt cache in the lab: five minutes, from 1024 tokens (4 KiB), as the
/// real APIs cache; room for every live prompt.
fn cache_config() -> CacheConfig {
    CacheConfig {
        ttl: Duration::from_secs(300),
        min_prefix_bytes: 4096,
        capacity: 4096,
    }
}

/// Runs `policy` over `plan` (planned for `scenario` at `load`) and measures it. Deterministic:
/// the same arguments give the same row.
pub fn run(scenario: &Scenario, policy: Policy, load: f64, plan: &Plan, seed: u64) -> Row {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .expect("a current-thread runtime");
    // Conversations are local tasks: one thread, so the order of events is the seed's alone.
    let local = tokio::task::LocalSet::new();
    local.block_on(&runtime, simulate(scenario, policy, load, plan, seed))
}

/// Everything a conversation task needs.
struct World<S> {
    stack: S,
    clients: ClientTally,
    scenario: Scenario,
}

async fn simulate(scenario: &Scenario, policy: Policy, load: f64, plan: &Plan, seed: u64) -> Row {
    let sim = Sim::in_process();
    // One wall clock, on paused time, for the sim's timestamps and rota's reading of them.
    let clock = LabClock::new();
    sim.set_wall_clock(clock.epoch);
    sim.set_log_capacity(0);
    sim.set_object_capacity(0);
    sim.set_prompt_cache(cache_config());
    for a in &scenario.accounts {
        let mut quota = Quota::new().per_minute(a.per_minute);
        if let Some(day) = a.per_day {
            quota = quota.per_day(day);
        }
        sim.quota(&a.key(), quota);
    }
    let pool = policy.pool(scenario, &sim, seed, clock);
    let upstream_tally = Arc::new(UpstreamTally::new(scenario.accounts.len()));
    let stack = ServiceBuilder::new()
        .layer(SessionIdLayer::new())
        .layer(RetryRotateLayer::new(pool.clone()))
        .layer(AccountSelectLayer::new(pool.clone()))
        .layer(RateLimitMarkLayer::new(pool.clone()).classifier(policy.classifier()))
        .service(upstream(&sim, scenario, Arc::clone(&upstream_tally)));
    let world = Arc::new(World {
        stack,
        clients: ClientTally::default(),
        scenario: scenario.clone(),
    });
    if let Some(failing) = scenario.failing {
        let sim = sim.clone();
        let key = scenario.accounts.get(failing.account).map(|a| a.key());
        let at = scenario.duration.mul_f64(failing.at.clamp(0.0, 1.0));
        tokio::task::spawn_local(async move {
            tokio::time::sleep(at).await;
            if let Some(key) = key {
                sim.script(&key, Behavior::Status(failing.status));
            }
        });
    }
    let mut tasks = JoinSet::new();
    for c in &plan.conversations {
        let world = Arc::clone(&world);
        let c = c.clone();
        tasks.spawn_local(async move {
            tokio::time::sleep(c.start).await;
            converse(world, c).await;
        });
    }
    while tasks.join_next().await.is_some() {}
    let truth = sim.token_counts_total();
    let read = (0..pool.len()).fold((0u64, 0u64), |(input, cached), i| {
        let u = pool.tokens(rota::core::AccountId(i as u32));
        (input + u.input, cached + u.cached)
    });
    Row::new(
        policy,
        load,
        &world.clients,
        &upstream_tally,
        ratio(truth.cached, truth.input),
        ratio(read.1, read.0),
    )
}

/// The lab's clock: tokio's (paused) instants, and a wall clock that starts at a fixed date
/// and follows them, so that timestamps in answers read the same on every run.
#[derive(Debug, Clone, Copy)]
pub struct LabClock {
    epoch: SystemTime,
    start: tokio::time::Instant,
}

impl LabClock {
    /// The wall clock reads 2026-12-07T00:00:00Z now.
    pub fn new() -> Self {
        Self {
            epoch: SystemTime::UNIX_EPOCH + Duration::from_secs(1_796_601_600),
            start: tokio::time::Instant::now(),
        }
    }
}

impl Default for LabClock {
    fn default() -> Self {
        Self::new()
    }
}

impl rota::core::Clock for LabClock {
    fn now(&self) -> std::time::Instant {
        tokio::time::Instant::now().into_std()
    }

    fn system_now(&self) -> SystemTime {
        self.epoch + tokio::time::Instant::now().saturating_duration_since(self.start)
    }
}

fn ratio(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        0.0
    } else {
        part as f64 / whole as f64
    }
}

/// The provider: the in-process sim, then the answer's latency (the one the client planned
/// for a success, a short one for an error). Counts each account's requests and 429s.
fn upstream(
    sim: &SimHandle,
    scenario: &Scenario,
    tally: Arc<UpstreamTally>,
) -> impl Service<Request<Bytes>, Response = Response<Body>, Error = BoxError> + Clone + use<> {
    let router = sim.service();
    let index: Arc<HashMap<String, usize>> = Arc::new(
        scenario
            .accounts
            .iter()
            .enumerate()
            .map(|(i, a)| (rota_sim::account_id(&a.key()), i))
            .collect(),
    );
    tower::service_fn(move |req: Request<Bytes>| {
        let (router, index, tally) = (router.clone(), Arc::clone(&index), Arc::clone(&tally));
        async move {
            let latency = req
                .headers()
                .get(LATENCY_HEADER)
                .and_then(|v| v.to_str().ok()?.parse().ok())
                .map_or(Duration::from_secs(1), Duration::from_millis);
            let res = router
                .oneshot(req.map(Body::from))
                .await
                .map_err(BoxError::from)?;
            let account = res
                .headers()
                .get("x-sim-account")
                .and_then(|v| index.get(v.to_str().ok()?).copied());
            if let Some(i) = account {
                tally.record(i, res.status().as_u16());
            }
            let wait = if res.status().is_success() {
                latency
            } else {
                ERROR_LATENCY
            };
            tokio::time::sleep(wait).await;
            Ok::<_, BoxError>(res)
        }
    })
}

/// How one attempt of a turn ended, for the client.
enum Answer {
    Ok { account: Option<String> },
    Retry(Option<Duration>),
    Fail,
}

/// Runs one conversation to its end: each turn after its gap, with the client's retries;
/// sub-agents in parallel after the turn that starts them.
fn converse<S, B>(world: Arc<World<S>>, c: Conversation) -> Pin<Box<dyn Future<Output = ()>>>
where
    S: Service<Request<Bytes>, Response = Response<B>, Error = BoxError> + Clone + 'static,
    B: http_body::Body + 'static,
{
    Box::pin(conversation(world, c))
}

async fn conversation<S, B>(world: Arc<World<S>>, c: Conversation)
where
    S: Service<Request<Bytes>, Response = Response<B>, Error = BoxError> + Clone + 'static,
    B: http_body::Body + 'static,
{
    let shape = &world.scenario.shape;
    let system = system_prompt(c.api, c.subagent, shape.system_bytes);
    let mut history = History::new(&c, system, shape.answer_bytes);
    let mut last_account: Option<String> = None;
    for turn in &c.turns {
        tokio::time::sleep(turn.gap).await;
        history.ask(turn.user_bytes);
        let started = tokio::time::Instant::now();
        let mut served = None;
        for n in 0..=CLIENT_RETRIES {
            let req = history.request(turn.stream, turn.latency);
            match attempt(world.stack.clone(), req).await {
                Answer::Ok { account } => {
                    served = Some(account);
                    break;
                }
                Answer::Retry(after) if n < CLIENT_RETRIES => {
                    tokio::time::sleep(client_delay(after, n)).await;
                }
                Answer::Retry(_) | Answer::Fail => break,
            }
        }
        match served {
            Some(account) => {
                let waited = started.elapsed().saturating_sub(turn.latency);
                let same = last_account.as_ref().map(|l| Some(l) == account.as_ref());
                world.clients.success(waited, same);
                last_account = account.or(last_account);
                history.answered();
            }
            None => {
                world.clients.failure();
                // The client gives up on the turn; the next one resends the question.
                history.answered();
            }
        }
        if !turn.fanout.is_empty() {
            let mut subagents = JoinSet::new();
            for sub in &turn.fanout {
                let (world, sub) = (Arc::clone(&world), sub.clone());
                subagents.spawn_local(async move {
                    tokio::time::sleep(sub.start).await;
                    converse(world, sub).await;
                });
            }
            while subagents.join_next().await.is_some() {}
        }
    }
}

/// One attempt of a turn through the stack: the answer read to its end.
async fn attempt<S, B>(stack: S, req: Request<Bytes>) -> Answer
where
    S: Service<Request<Bytes>, Response = Response<B>, Error = BoxError>,
    B: http_body::Body,
{
    match stack.oneshot(req).await {
        Ok(res) => {
            let status = res.status();
            let account = res
                .headers()
                .get(rota::headers::X_ACCOUNT_EMAIL)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned);
            let retry_after = res
                .headers()
                .get(http::header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok()?.parse::<u64>().ok())
                .map(Duration::from_secs);
            // Read to the end, as a client does: the usage and the cap slot go with it.
            let complete = res.into_body().collect().await.is_ok();
            if status.is_success() && complete {
                Answer::Ok { account }
            } else if retried(status) || status.is_success() {
                Answer::Retry(retry_after)
            } else {
                Answer::Fail
            }
        }
        Err(err) => match err.downcast_ref::<Error>() {
            Some(Error::AllAccountsLimited { retry_after, .. }) => {
                Answer::Retry(Some(*retry_after))
            }
            _ => Answer::Retry(None),
        },
    }
}

/// The statuses an SDK retries.
fn retried(status: StatusCode) -> bool {
    matches!(status.as_u16(), 408 | 409 | 429 | 500..=599)
}
