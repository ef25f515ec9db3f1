//! The baselines' choices, as [`Picker`]s in place of rota's sticky, window and rotation
//! steps: everything else (bindings, cooldowns, retries, credentials) stays rota's.

use std::cmp::Reverse;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rota::core::scheduler::{Candidate, Hold, Picker, SelectRequest, Selection, Unavailable};
use rota::core::{AccountId, Decision, Pick};
use rota_sim::SimHandle;

fn picked(account: AccountId, decision: Decision) -> Option<Selection> {
    Some(Selection::Picked(Pick { account, decision }))
}

/// What rota itself would consider: nothing holds it and this request has not tried it.
fn open(c: &Candidate) -> bool {
    c.hold == Hold::Free && !c.attempted
}

/// A random usable account per attempt (LiteLLM's default `simple-shuffle`).
#[derive(Debug)]
pub struct RandomPick(Mutex<StdRng>);

impl RandomPick {
    /// Seeded.
    pub fn new(seed: u64) -> Self {
        Self(Mutex::new(StdRng::seed_from_u64(seed)))
    }
}

impl Picker for RandomPick {
    fn pick(&self, _: &SelectRequest<'_>, c: &[Candidate], _: Instant) -> Option<Selection> {
        let open: Vec<_> = c.iter().filter(|c| open(c)).collect();
        if open.is_empty() {
            return None;
        }
        let i = self.0.lock().random_range(0..open.len());
        picked(open[i].account, Decision::Rotation)
    }
}

/// The next usable account in configuration order, per attempt, without stickiness.
#[derive(Debug, Default)]
pub struct RoundRobinPick(Mutex<u32>);

impl Picker for RoundRobinPick {
    fn pick(&self, _: &SelectRequest<'_>, c: &[Candidate], _: Instant) -> Option<Selection> {
        let mut cursor = self.0.lock();
        let n = c.iter().map(|c| c.account.0 + 1).max()?;
        let next = (0..n)
            .map(|i| (*cursor + i) % n)
            .find_map(|id| c.iter().find(|c| c.account.0 == id && open(c)))?;
        *cursor = (next.account.0 + 1) % n;
        picked(next.account, Decision::Rotation)
    }
}

/// The original system as specified: a bound session keeps its account unless the account
/// itself is cooling down (a cooldown for the model is ignored); otherwise, and on every
/// retry, power of two choices among the five accounts with the most quota left, with no
/// exclusion of the accounts this request already tried.
#[derive(Debug)]
pub struct OriginalPick(Mutex<StdRng>);

impl OriginalPick {
    /// Seeded.
    pub fn new(seed: u64) -> Self {
        Self(Mutex::new(StdRng::seed_from_u64(seed)))
    }
}

impl Picker for OriginalPick {
    fn pick(&self, req: &SelectRequest<'_>, c: &[Candidate], _: Instant) -> Option<Selection> {
        if req.attempt == 0
            && let Some(bound) = req.bound
            && let Some(b) = c.iter().find(|c| c.account == bound)
            && matches!(b.hold, Hold::Free | Hold::ModelCooling { .. })
        {
            return picked(bound, Decision::Sticky);
        }
        let quota = |c: &Candidate| (c.quota.unwrap_or(1.0) * 1000.0).round() as u32;
        let mut top: Vec<&Candidate> = c.iter().filter(|c| c.hold == Hold::Free).collect();
        top.sort_by_key(|c| (Reverse(quota(c)), Reverse(c.tier)));
        top.truncate(5);
        let choice = match top.len() {
            0 => return None,
            1 => top[0],
            n => {
                let mut rng = self.0.lock();
                let a = rng.random_range(0..n);
                let b = (a + rng.random_range(1..n)) % n;
                let (a, b) = (top[a], top[b]);
                if (quota(a), Reverse(a.requests)) >= (quota(b), Reverse(b.requests)) {
                    a
                } else {
                    b
                }
            }
        };
        picked(choice.account, Decision::Rotation)
    }
}

/// An oracle that reads every account's quota at the provider: a session stays on its
/// account while that account has a request left, and waits for its next slot when that
/// comes within a minute (rota's default `max_wait_seconds`); otherwise, and for a new
/// session, it takes the account with the most left. It never sends what the provider would
/// refuse. The reference for the cache-hit ratio a scheduler could reach.
#[derive(Debug)]
pub struct OraclePick {
    sim: SimHandle,
    keys: Vec<String>,
}

/// The longest an oracle's request waits for its own account's slot.
const ORACLE_WAIT: Duration = Duration::from_secs(60);

impl OraclePick {
    /// Reads `sim`'s quotas; `keys[i]` is account `i`'s key.
    pub fn new(sim: SimHandle, keys: Vec<String>) -> Self {
        Self { sim, keys }
    }

    /// Requests left now, and when the next frees.
    fn standing(&self, id: AccountId) -> (u32, Duration) {
        self.keys
            .get(id.index())
            .and_then(|k| self.sim.quota_standing(k))
            .map_or((u32::MAX, Duration::ZERO), |s| (s.remaining, s.reset))
    }
}

impl Picker for OraclePick {
    fn pick(&self, req: &SelectRequest<'_>, c: &[Candidate], now: Instant) -> Option<Selection> {
        let budget = ORACLE_WAIT.saturating_sub(req.waited);
        let wait = |reset: Duration| {
            (reset <= budget).then(|| Selection::Wait {
                until: now + reset.max(Duration::from_millis(1)),
            })
        };
        if req.attempt == 0
            && let Some(bound) = req.bound
            && let Some(b) = c.iter().find(|c| c.account == bound && open(c))
        {
            match self.standing(b.account) {
                (0, reset) => {
                    if let Some(w) = wait(reset) {
                        return Some(w);
                    }
                }
                _ => return picked(bound, Decision::Sticky),
            }
        }
        let open: Vec<_> = c.iter().filter(|c| open(c)).collect();
        let best = open
            .iter()
            .map(|c| (self.standing(c.account), c.account))
            .filter(|((left, _), _)| *left > 0)
            .max_by_key(|((left, _), id)| (*left, Reverse(id.0)));
        if let Some((_, id)) = best {
            return picked(id, Decision::Rotation);
        }
        // Nothing has a request left: wait for the first slot, or tell the client when.
        let first = open.iter().map(|c| self.standing(c.account).1).min()?;
        wait(first).or(Some(Selection::Unavailable(Unavailable::AllLimited {
            retry_after: first,
        })))
    }
}
