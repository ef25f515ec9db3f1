//! The Lua scripts and the shared stores against a real Redis (the machine's, on
//! 127.0.0.1:6379; each test under its own key prefix): one winner of bind-if-absent,
//! compare-and-delete unbind, cooldowns that never shorten, TTLs on what should expire.
#![allow(clippy::unwrap_used, missing_docs)]

use std::time::{Duration, Instant, SystemTime};

use rota::Pool;
use rota::core::{AccountSpec, FleetEvent, Reason, SessionId, SharedMark, Tier};
use rota_redis::{FleetConfig, RedisFleet};

async fn redis() -> redis::aio::MultiplexedConnection {
    let client = redis::Client::open("redis://127.0.0.1:6379/0").unwrap();
    client.get_multiplexed_async_connection().await.unwrap()
}

fn accounts() -> Vec<AccountSpec> {
    vec![
        AccountSpec::api_key("a@x", Tier::Pro, "ka"),
        AccountSpec::api_key("b@x", Tier::Pro, "kb"),
    ]
}

/// Two replicas' fleets and pools under one fresh prefix.
async fn replicas(test: &str) -> (String, Vec<(RedisFleet, Pool)>) {
    let prefix = format!("t-{test}-{}:", std::process::id());
    let mut out = Vec::new();
    for _ in 0..2 {
        let mut config = FleetConfig::new("redis://127.0.0.1:6379/0");
        config.key_prefix = prefix.clone();
        let fleet = RedisFleet::connect(config, &accounts()).await.unwrap();
        let pool = Pool::builder()
            .accounts(accounts())
            .store(fleet.binding_store())
            .objects(fleet.object_store())
            .fleet(fleet.handle())
            .build()
            .unwrap();
        fleet.start(&pool);
        out.push((fleet, pool));
    }
    (prefix, out)
}

#[tokio::test]
async fn bind_if_absent_has_one_winner_across_replicas() {
    let (prefix, replicas) = replicas("bind").await;
    let now = Instant::now();
    for i in 0..50 {
        let s = SessionId(format!("sid-{i}").into());
        let (a, b) = tokio::join!(
            replicas[0]
                .1
                .store()
                .bind_if_absent(&s, rota::core::AccountId(0), now),
            replicas[1]
                .1
                .store()
                .bind_if_absent(&s, rota::core::AccountId(1), now),
        );
        assert_eq!(a.unwrap(), b.unwrap(), "session {i}");
    }
    let mut con = redis().await;
    let ttl: i64 = redis::cmd("PTTL")
        .arg(format!("{{{prefix}}}b:sid-0"))
        .query_async(&mut con)
        .await
        .unwrap();
    assert!((1..=3_600_000).contains(&ttl), "bindings expire: {ttl}");
}

#[tokio::test]
async fn an_unbind_removes_only_a_binding_to_the_failed_account() {
    let (prefix, replicas) = replicas("unbind").await;
    let store = replicas[0].1.store();
    let s = SessionId("sid-u".into());
    store
        .bind_if_absent(&s, rota::core::AccountId(1), Instant::now())
        .await
        .unwrap();
    store.unbind_if(&s, rota::core::AccountId(0)).await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let mut con = redis().await;
    let key = format!("{{{prefix}}}b:sid-u");
    let held: Option<String> = redis::cmd("GET")
        .arg(&key)
        .query_async(&mut con)
        .await
        .unwrap();
    assert_eq!(
        held.as_deref(),
        Some("b@x"),
        "another account's unbind left it"
    );
    store.unbind_if(&s, rota::core::AccountId(1)).await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let held: Option<String> = redis::cmd("GET")
        .arg(&key)
        .query_async(&mut con)
        .await
        .unwrap();
    assert_eq!(held, None);
}

#[tokio::test]
async fn a_cooldown_never_shortens_and_expires_at_its_deadline() {
    let (prefix, replicas) = replicas("mark").await;
    let fleet = replicas[0].1.fleet_handle().unwrap().clone();
    let mark = |secs: u64| {
        FleetEvent::Mark(SharedMark {
            email: "a@x".into(),
            model: None,
            reason: Reason::RateLimited,
            until: SystemTime::now() + Duration::from_secs(secs),
            consecutive: 1,
        })
    };
    fleet.publish(mark(60));
    fleet.publish(mark(5));
    tokio::time::sleep(Duration::from_millis(150)).await;
    let mut con = redis().await;
    let key = format!("{{{prefix}}}c:a@x|*");
    let value: String = redis::cmd("GET")
        .arg(&key)
        .query_async(&mut con)
        .await
        .unwrap();
    let (deadline, reason) = value.split_once(' ').unwrap();
    let left = deadline.parse::<u128>().unwrap()
        - SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap()
            .as_millis();
    assert!(
        (55_000..=60_000).contains(&left),
        "the 60 s mark stands: {left} ms"
    );
    assert_eq!(reason, "rate_limited");
    let ttl: i64 = redis::cmd("PTTL")
        .arg(&key)
        .query_async(&mut con)
        .await
        .unwrap();
    assert!(
        (55_000..=60_000).contains(&ttl),
        "expires at its deadline: {ttl}"
    );
    // and the other replica holds it too
    let views = replicas[1].1.snapshot();
    assert!(
        views[0].cooldowns[0].remaining > Duration::from_secs(55),
        "{views:?}"
    );
    assert_eq!(replicas[0].0.status().errors, 0);
}

#[tokio::test]
async fn a_cached_binding_in_use_keeps_its_redis_copy_alive() {
    let prefix = format!("t-touch-{}:", std::process::id());
    let mut config = FleetConfig::new("redis://127.0.0.1:6379/0");
    config.key_prefix = prefix.clone();
    config.binding_ttl = Duration::from_secs(400);
    let fleet = RedisFleet::connect(config, &accounts()).await.unwrap();
    let store = fleet.binding_store();
    let s = SessionId("sid-t".into());
    let t0 = Instant::now();
    rota::core::BindingStore::bind_if_absent(&store, &s, rota::core::AccountId(0), t0)
        .await
        .unwrap();
    let mut con = redis().await;
    let key = format!("{{{prefix}}}b:sid-t");
    let _: i64 = redis::cmd("PEXPIRE")
        .arg(&key)
        .arg(5_000)
        .query_async(&mut con)
        .await
        .unwrap();
    // Used from the cache a little later: no renewal yet.
    let hit = rota::core::BindingStore::get(&store, &s, t0 + Duration::from_secs(10));
    assert_eq!(hit.await.unwrap(), Some(rota::core::AccountId(0)));
    tokio::time::sleep(Duration::from_millis(100)).await;
    let ttl: i64 = redis::cmd("PTTL")
        .arg(&key)
        .query_async(&mut con)
        .await
        .unwrap();
    assert!(ttl <= 5_000, "{ttl}");
    // A quarter of the TTL after the last renewal, a cached use renews the Redis copy.
    let hit = rota::core::BindingStore::get(&store, &s, t0 + Duration::from_secs(101));
    assert_eq!(hit.await.unwrap(), Some(rota::core::AccountId(0)));
    tokio::time::sleep(Duration::from_millis(100)).await;
    let ttl: i64 = redis::cmd("PTTL")
        .arg(&key)
        .query_async(&mut con)
        .await
        .unwrap();
    assert!(ttl > 390_000, "renewed: {ttl}");
}
