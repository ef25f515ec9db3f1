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
/// itself is cooling down (a cooldown for the model is ignored); a new one takes the
/// globally last-used account within 60 s (SPEC §3's window, which rota took from it);
/// otherwise, and on every retry, power of two choices among the five accounts with the most
/// quota left, with no exclusion of the accounts this request already tried.
#[derive(Debug)]
pub struct OriginalPick {
    rng: Mutex<StdRng>,
    /// The last account it picked, and when: it sees every selection of its pool.
    last: Mutex<Option<(AccountId, Instant)>>,
}

/// The original system's window.
const ORIGINAL_WINDOW: Duration = Duration::from_secs(60);

impl OriginalPick {
    /// Seeded.
    pub fn new(seed: u64) -> Self {
        Self {
            rng: Mutex::new(StdRng::seed_from_u64(seed)),
            last: Mutex::new(None),
        }
    }

    fn choose(&self, req: &SelectRequest<'_>, c: &[Candidate], now: Instant) -> Option<Pick> {
        if req.attempt == 0 {
            if let Some(bound) = req.bound
                && let Some(b) = c.iter().find(|c| c.account == bound)
                && matches!(b.hold, Hold::Free | Hold::ModelCooling { .. })
            {
                return Some(Pick {
                    account: bound,
                    decision: Decision::Sticky,
                });
            }
            let last = *self.last.lock();
            if let Some((account, at)) = last
                && now.saturating_duration_since(at) < ORIGINAL_WINDOW
                && c.iter()
                    .any(|c| c.account == account && c.hold == Hold::Free)
            {
                return Some(Pick {
                    account,
                    decision: Decision::Window,
                });
            }
        }
        let quota = |c: &Candidate| (c.quota.unwrap_or(1.0) * 1000.0).round() as u32;
        let mut top: Vec<&Candidate> = c.iter().filter(|c| c.hold == Hold::Free).collect();
        top.sort_by_key(|c| (Reverse(quota(c)), Reverse(c.tier)));
        top.truncate(5);
        let choice = match top.len() {
            0 => return None,
            1 => top[0],
            n => {
                let mut rng = self.rng.lock();
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
        Some(Pick {
            account: choice.account,
            decision: Decision::Rotation,
        })
    }
}

impl Picker for OriginalPick {
    fn pick(&self, req: &SelectRequest<'_>, c: &[Candidate], now: Instant) -> Option<Selection> {
        let pick = self.choose(req, c, now)?;
        *self.last.lock() = Some((pick.account, now));
        Some(Selection::Picked(pick))
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

#[cfg(test)]
mod tests {
    use super::*;
    use rota::core::Tier;

    fn candidate(id: u32, hold: Hold, attempted: bool) -> Candidate {
        Candidate {
            account: AccountId(id),
            tier: Tier::Pro,
            quota: None,
            attempted,
            hold,
            requests: 0,
        }
    }

    fn account(s: Option<Selection>) -> Option<(u32, Decision)> {
        match s {
            Some(Selection::Picked(p)) => Some((p.account.0, p.decision)),
            _ => None,
        }
    }

    #[test]
    fn the_original_sticks_through_a_model_cooldown_keeps_its_window_and_retries_anywhere() {
        let now = Instant::now();
        let later = now + Duration::from_secs(30);
        let o = OriginalPick::new(1);
        let cooling = Hold::ModelCooling {
            until: now + Duration::from_secs(60),
        };
        let c = [
            candidate(0, cooling, false),
            candidate(1, Hold::Free, false),
        ];
        let sticky = SelectRequest {
            bound: Some(AccountId(0)),
            ..SelectRequest::new("m")
        };
        // rota would move this session; the original sends it to its cooling account.
        assert_eq!(
            account(o.pick(&sticky, &c, now)),
            Some((0, Decision::Sticky))
        );
        // A new session within 60 s takes the last-used account, if free.
        let c = [
            candidate(0, Hold::Free, false),
            candidate(1, Hold::Free, false),
        ];
        assert_eq!(
            account(o.pick(&SelectRequest::new("m"), &c, later)),
            Some((0, Decision::Window))
        );
        // A retry may land on an account this request already tried.
        let c = [candidate(0, Hold::Free, true)];
        let retry = SelectRequest {
            attempt: 1,
            ..SelectRequest::new("m")
        };
        assert_eq!(
            account(o.pick(&retry, &c, later)),
            Some((0, Decision::Rotation))
        );
    }

    #[test]
    fn random_and_round_robin_take_only_free_untried_accounts() {
        let now = Instant::now();
        let c = [
            candidate(0, Hold::Free, true),
            candidate(1, Hold::QuotaProtected { until: now }, false),
            candidate(2, Hold::Free, false),
        ];
        let req = SelectRequest::new("m");
        let random = RandomPick::new(7);
        let rr = RoundRobinPick::default();
        for _ in 0..20 {
            assert_eq!(
                account(random.pick(&req, &c, now)),
                Some((2, Decision::Rotation))
            );
            assert_eq!(
                account(rr.pick(&req, &c, now)),
                Some((2, Decision::Rotation))
            );
        }
        let none = [candidate(0, Hold::Free, true)];
        assert_eq!(account(random.pick(&req, &none, now)), None);
        assert_eq!(account(rr.pick(&req, &none, now)), None);
    }
}
