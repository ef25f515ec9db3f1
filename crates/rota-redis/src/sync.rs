//! Keeping replicas in step: the writer task (this replica's changes into Redis, then onto
//! the channel), the subscriber task (the others' changes into this replica), the snapshot a
//! replica reads when it joins or its subscription comes back, and the way back after an
//! outage (this replica's own marks and admin changes pushed, never shortening anyone's).

use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use rota::Pool;
use rota_core::{FleetEvent, Settings};
use tokio::sync::mpsc;

use crate::scripts::{MARK, UNBIND_IF};
use crate::shared::{Job, OpError, Shared, millis};
use crate::wire::{self, Envelope, Msg};

/// How often a replica whose store is down tries again.
const RETRY_EVERY: Duration = Duration::from_millis(200);

/// The writer task: each job in order; with the store down, admin changes wait in `pending`
/// and the rest is dropped (bindings and owners live on in the local caches; marks are
/// pushed again from the scheduler on the way back).
pub(crate) async fn writer(shared: Arc<Shared>, mut jobs: mpsc::UnboundedReceiver<Job>) {
    while let Some(job) = jobs.recv().await {
        match job {
            Job::Event(event) => {
                if write_event(&shared, &event).await.is_err() && is_admin(&event) {
                    keep_pending(&shared, event);
                }
            }
            Job::Bind { session, email } => {
                let key = shared.keys.binding(&session);
                let wrote = set_px(&shared, key, email.clone(), shared.config.binding_ttl).await;
                if wrote.is_ok() {
                    push(&shared, Msg::Bound { session, email }).await;
                }
            }
            Job::Unbind { session, email } => {
                let key = shared.keys.binding(&session);
                let failed = email.clone();
                let done = shared
                    .run(|mut c| async move {
                        UNBIND_IF
                            .key(key)
                            .arg(failed)
                            .invoke_async::<i64>(&mut c)
                            .await
                    })
                    .await;
                if done.is_ok() {
                    push(&shared, Msg::Unbound { session, email }).await;
                }
            }
            Job::Touch { session } => {
                let (key, ttl) = (
                    shared.keys.binding(&session),
                    millis(shared.config.binding_ttl),
                );
                let _ = shared
                    .run(|mut c| async move {
                        redis::cmd("PEXPIRE")
                            .arg(key)
                            .arg(ttl)
                            .query_async::<i64>(&mut c)
                            .await
                    })
                    .await;
            }
            Job::Learn { object, value } => {
                let key = shared.keys.object(&object);
                let _ = set_px(&shared, key, value, shared.config.object_ttl).await;
            }
        }
    }
}

/// `SET key value PX ttl`.
async fn set_px(
    shared: &Arc<Shared>,
    key: String,
    value: String,
    ttl: Duration,
) -> Result<(), OpError> {
    let ttl = millis(ttl);
    shared
        .run(|mut c| async move {
            redis::cmd("SET")
                .arg(key)
                .arg(value)
                .arg("PX")
                .arg(ttl)
                .query_async::<()>(&mut c)
                .await
        })
        .await
}

/// `GET key`; `None` when absent or when Redis did not answer.
pub(crate) async fn get(shared: &Arc<Shared>, key: String) -> Option<String> {
    shared
        .run(|mut c| async move { redis::cmd("GET").arg(key).query_async(&mut c).await })
        .await
        .ok()
        .flatten()
}

fn is_admin(event: &FleetEvent) -> bool {
    !matches!(event, FleetEvent::Mark(_))
}

/// Keeps the latest admin change per setting or account for the way back.
fn keep_pending(shared: &Shared, event: FleetEvent) {
    let mut pending = shared.pending.lock();
    pending.retain(|old| !same_subject(old, &event));
    pending.push(event);
}

fn same_subject(a: &FleetEvent, b: &FleetEvent) -> bool {
    match (a, b) {
        (FleetEvent::Settings(_), FleetEvent::Settings(_))
        | (FleetEvent::Fixed(_), FleetEvent::Fixed(_)) => true,
        (FleetEvent::Disabled { email: x, .. }, FleetEvent::Disabled { email: y, .. }) => x == y,
        _ => false,
    }
}

/// Writes one change of the pool's into the shared state, then pushes it.
pub(crate) async fn write_event(shared: &Arc<Shared>, event: &FleetEvent) -> Result<(), OpError> {
    let keys = &shared.keys;
    match event {
        FleetEvent::Mark(m) => {
            let scope = match &m.model {
                Some(model) if m.reason.is_per_model() => format!("m:{model}"),
                _ if m.reason.is_soft() => "~".to_owned(),
                _ => "*".to_owned(),
            };
            let (cooldown, count) = (keys.cooldown(&m.email, &scope), keys.count(&m.email));
            let until = wire::ms(m.until);
            let (reason, n) = (m.reason.as_str(), m.consecutive);
            shared
                .run(|mut c| async move {
                    MARK.key(cooldown)
                        .key(count)
                        .arg(until)
                        .arg(reason)
                        .arg(n)
                        .invoke_async::<i64>(&mut c)
                        .await
                })
                .await?;
        }
        FleetEvent::Disabled { email, reason } => {
            let (key, email) = (keys.disabled(), email.clone());
            let reason = reason.clone();
            shared
                .run(|mut c| async move {
                    match reason {
                        Some(reason) => {
                            redis::cmd("HSET")
                                .arg(key)
                                .arg(email)
                                .arg(reason)
                                .query_async::<()>(&mut c)
                                .await
                        }
                        None => {
                            redis::cmd("HDEL")
                                .arg(key)
                                .arg(email)
                                .query_async::<()>(&mut c)
                                .await
                        }
                    }
                })
                .await?;
        }
        FleetEvent::CooldownsCleared { email } => {
            let pattern = format!("{}*", keys.cooldown(email, ""));
            delete_matching(shared, pattern).await?;
            let count = keys.count(email);
            shared
                .run(|mut c| async move { redis::cmd("DEL").arg(count).query_async::<()>(&mut c).await })
                .await?;
        }
        FleetEvent::Settings(s) => {
            let (key, value) = (keys.settings(), settings_json(s));
            shared
                .run(|mut c| async move {
                    redis::cmd("SET")
                        .arg(key)
                        .arg(value)
                        .query_async::<()>(&mut c)
                        .await
                })
                .await?;
        }
        FleetEvent::Fixed(email) => {
            let (key, email) = (keys.fixed(), email.clone());
            shared
                .run(|mut c| async move {
                    match email {
                        Some(e) => {
                            redis::cmd("SET")
                                .arg(key)
                                .arg(e)
                                .query_async::<()>(&mut c)
                                .await
                        }
                        None => redis::cmd("DEL").arg(key).query_async::<()>(&mut c).await,
                    }
                })
                .await?;
        }
        _ => return Ok(()),
    }
    if let Some(msg) = Msg::of(event) {
        push(shared, msg).await;
    }
    Ok(())
}

fn settings_json(s: &Settings) -> String {
    serde_json::json!({
        "mode": s.mode.as_str(),
        "max_wait_ms": millis(s.max_wait),
        "window_ms": u64::try_from(s.window.as_millis()).unwrap_or(u64::MAX),
    })
    .to_string()
}

fn parse_settings(text: &str) -> Option<Settings> {
    let v: serde_json::Value = serde_json::from_str(text).ok()?;
    Some(Settings {
        mode: v["mode"].as_str()?.parse().ok()?,
        max_wait: Duration::from_millis(v["max_wait_ms"].as_u64()?),
        window: Duration::from_millis(v["window_ms"].as_u64()?),
    })
}

/// Pushes one message on the pool's channel.
pub(crate) async fn push(shared: &Arc<Shared>, msg: Msg) {
    let envelope = Envelope {
        from: shared.id,
        at: wire::ms(std::time::SystemTime::now()),
        msg,
    };
    let Ok(text) = serde_json::to_string(&envelope) else {
        return;
    };
    let channel = shared.keys.channel();
    let _ = shared
        .run(|mut c| async move {
            redis::cmd("PUBLISH")
                .arg(channel)
                .arg(text)
                .query_async::<i64>(&mut c)
                .await
        })
        .await;
}

/// Deletes every key matching `pattern` (`SCAN`, then `UNLINK` in batches); returns how many.
pub(crate) async fn delete_matching(
    shared: &Arc<Shared>,
    pattern: String,
) -> Result<usize, OpError> {
    let keys = scan(shared, pattern).await?;
    for batch in keys.chunks(500) {
        let batch = batch.to_vec();
        shared
            .run(|mut c| async move {
                redis::cmd("UNLINK")
                    .arg(batch)
                    .query_async::<i64>(&mut c)
                    .await
            })
            .await?;
    }
    Ok(keys.len())
}

/// Every key matching `pattern`.
async fn scan(shared: &Arc<Shared>, pattern: String) -> Result<Vec<String>, OpError> {
    let mut cursor = 0u64;
    let mut found = Vec::new();
    loop {
        let p = pattern.clone();
        let (next, keys): (u64, Vec<String>) = shared
            .run(|mut c| async move {
                redis::cmd("SCAN")
                    .arg(cursor)
                    .arg("MATCH")
                    .arg(p)
                    .arg("COUNT")
                    .arg(1000)
                    .query_async(&mut c)
                    .await
            })
            .await?;
        found.extend(keys);
        if next == 0 {
            return Ok(found);
        }
        cursor = next;
    }
}

/// Reads the shared state into the pool: settings, fixed account, disabled accounts, every
/// cooldown (never shortening one held here). A replica does it when it joins and whenever
/// its subscription comes back, so nothing pushed meanwhile is missed.
pub(crate) async fn load_snapshot(shared: &Arc<Shared>, pool: &Pool) -> Result<(), OpError> {
    let keys = &shared.keys;
    let (sk, fk, dk) = (keys.settings(), keys.fixed(), keys.disabled());
    let (settings, fixed, disabled): (Option<String>, Option<String>, Vec<(String, String)>) =
        shared
            .run(|mut c| async move {
                redis::pipe()
                    .cmd("GET")
                    .arg(sk)
                    .cmd("GET")
                    .arg(fk)
                    .cmd("HGETALL")
                    .arg(dk)
                    .query_async(&mut c)
                    .await
            })
            .await?;
    let mut events = Vec::new();
    if let Some(s) = settings.as_deref().and_then(parse_settings) {
        events.push(FleetEvent::Settings(s));
    }
    events.push(FleetEvent::Fixed(
        fixed.filter(|e| shared.account(e).is_some()),
    ));
    for view in pool.snapshot() {
        let reason = disabled
            .iter()
            .find(|(e, _)| *e == view.email)
            .map(|(_, r)| r.clone());
        if reason.is_some() || view.disabled {
            events.push(FleetEvent::Disabled {
                email: view.email,
                reason,
            });
        }
    }
    let cooldowns = scan(shared, keys.cooldowns()).await?;
    for key in cooldowns {
        let Some((email, scope)) = keys.parse_cooldown(&key) else {
            continue;
        };
        let (email, model) = (
            email.to_owned(),
            scope.strip_prefix("m:").map(str::to_owned),
        );
        let value = get(shared, key.clone()).await;
        let Some((until, reason)) = value.as_deref().and_then(|v| v.split_once(' ')) else {
            continue;
        };
        // The account's consecutive count rides along (the ladders continue where they were).
        let consecutive = get(shared, keys.count(&email))
            .await
            .and_then(|n| n.parse().ok())
            .unwrap_or(0);
        let msg = Msg::Mark {
            email,
            model,
            reason: reason.to_owned(),
            until_ms: until.parse().unwrap_or(0),
            consecutive,
        };
        events.extend(msg.event());
    }
    for event in &events {
        if let Err(e) = pool.apply(event) {
            tracing::debug!(error = %e, "fleet snapshot names an account this replica lacks");
        }
    }
    Ok(())
}

/// The subscriber task: every change another replica pushes, applied here; on every
/// (re)subscription the snapshot is read again. Ends when the pool is gone.
pub(crate) async fn subscriber(shared: Arc<Shared>) {
    loop {
        let Some(pool) = shared.pool.get().and_then(|p| p.upgrade()) else {
            return;
        };
        let subscribed = async {
            let mut pubsub = shared.client.get_async_pubsub().await?;
            pubsub.subscribe(shared.keys.channel()).await?;
            Ok::<_, redis::RedisError>(pubsub)
        };
        let pubsub = match tokio::time::timeout(shared.config.connect_timeout, subscribed).await {
            Ok(Ok(pubsub)) => pubsub,
            Ok(Err(e)) => {
                shared.failed(&OpError::Redis(e));
                drop(pool);
                tokio::time::sleep(RETRY_EVERY).await;
                continue;
            }
            Err(_) => {
                shared.failed(&OpError::Timeout);
                drop(pool);
                tokio::time::sleep(RETRY_EVERY).await;
                continue;
            }
        };
        if shared.is_up()
            && let Err(e) = load_snapshot(&shared, &pool).await
        {
            tracing::debug!(error = %e, "fleet snapshot not read; the way back reads it");
        }
        drop(pool);
        let mut messages = pubsub.into_on_message();
        while let Some(message) = messages.next().await {
            let Some(pool) = shared.pool.get().and_then(|p| p.upgrade()) else {
                return;
            };
            if let Ok(text) = message.get_payload::<String>() {
                receive(&shared, &pool, &text);
            }
        }
        // The connection dropped: the store is down (or was restarted).
        shared.failed(&OpError::Down);
        tokio::time::sleep(RETRY_EVERY).await;
    }
}

/// Applies one pushed message (this replica's own are skipped).
fn receive(shared: &Shared, pool: &Pool, text: &str) {
    let Ok(envelope) = serde_json::from_str::<Envelope>(text) else {
        tracing::debug!("an unreadable fleet message was ignored");
        return;
    };
    if envelope.from == shared.id {
        return;
    }
    {
        let lag = wire::ms(std::time::SystemTime::now()).saturating_sub(envelope.at);
        let mut stats = shared.lag.lock();
        stats.last_ms = lag;
        stats.max_ms = stats.max_ms.max(lag);
        stats.received += 1;
    }
    let now = pool.now();
    match &envelope.msg {
        Msg::Bound { session, email } => {
            if let Some(id) = shared.account(email) {
                shared.cache(session, id, now);
            }
        }
        Msg::Unbound { session, email } => {
            if let Some(id) = shared.account(email) {
                shared.uncache(session, id);
            }
        }
        Msg::BindingsCleared => {
            shared.bindings.clear();
        }
        msg => {
            if let Some(event) = msg.event()
                && let Err(e) = pool.apply(&event)
            {
                tracing::debug!(error = %e, "a fleet message names an account this replica lacks");
            }
        }
    }
}

/// The way back after an outage: ping until Redis answers, then push this replica's pending
/// admin changes and every cooldown it holds (the script never shortens one), read the
/// snapshot, and share again. One loop per replica at a time.
pub(crate) fn recover(shared: Arc<Shared>) {
    if !shared.begin_recovery() {
        return;
    }
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(RETRY_EVERY).await;
            let Some(pool) = shared.pool.get().and_then(|p| p.upgrade()) else {
                break;
            };
            if shared.connect().await.is_err() {
                continue;
            }
            shared.set_up();
            if resync(&shared, &pool).await.is_ok() {
                break;
            }
        }
        shared.end_recovery();
    });
}

async fn resync(shared: &Arc<Shared>, pool: &Pool) -> Result<(), OpError> {
    let pending = std::mem::take(&mut *shared.pending.lock());
    for (i, event) in pending.iter().enumerate() {
        if let Err(e) = write_event(shared, event).await {
            for event in &pending[i..] {
                keep_pending(shared, event.clone());
            }
            return Err(e);
        }
    }
    for mark in pool.shared_marks() {
        write_event(shared, &FleetEvent::Mark(mark)).await?;
    }
    restore_missing(shared, pool).await?;
    load_snapshot(shared, pool).await
}

/// A Redis that lost its data (restarted without persistence) gets this replica's settings
/// and disabled accounts back; what is there — another replica's newer change — stays.
async fn restore_missing(shared: &Arc<Shared>, pool: &Pool) -> Result<(), OpError> {
    let (key, value) = (shared.keys.settings(), settings_json(&pool.settings()));
    shared
        .run(|mut c| async move {
            redis::cmd("SET")
                .arg(key)
                .arg(value)
                .arg("NX")
                .query_async::<Option<String>>(&mut c)
                .await
        })
        .await?;
    for view in pool.snapshot() {
        let Some(reason) = view.disabled_reason else {
            continue;
        };
        let (key, email) = (shared.keys.disabled(), view.email);
        shared
            .run(|mut c| async move {
                redis::cmd("HSETNX")
                    .arg(key)
                    .arg(email)
                    .arg(reason)
                    .query_async::<i64>(&mut c)
                    .await
            })
            .await?;
    }
    Ok(())
}
