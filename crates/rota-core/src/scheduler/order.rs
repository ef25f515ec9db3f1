//! Candidate order: tier, then remaining quota (descending), then configuration order, with a
//! round-robin cursor. Lookups and updates are O(log n); nothing is sorted per request.

use std::cmp::Reverse;
use std::collections::BTreeSet;
use std::ops::Bound;

use crate::{AccountId, Tier};

/// Quota fractions are bucketed to 1/1000 for ordering.
pub(crate) const FULL_QUOTA: u16 = 1000;

/// Sort key of one account: best tier first, most quota first, then index.
pub(crate) type Key = (Reverse<Tier>, Reverse<u16>, u32);

/// The smallest possible key.
const MIN_KEY: Key = (Reverse(Tier::Ultra), Reverse(u16::MAX), 0);

pub(crate) fn key(tier: Tier, quota: u16, id: AccountId) -> Key {
    (Reverse(tier), Reverse(quota), id.0)
}

pub(crate) fn quota_bucket(fraction: f64) -> u16 {
    // `as` saturates and maps NaN to 0; clamp keeps the bucket in 0..=1000.
    (fraction.clamp(0.0, 1.0) * f64::from(FULL_QUOTA)).round() as u16
}

/// The ordered candidates for one model, and where the round-robin stands.
#[derive(Debug, Clone, Default)]
pub(crate) struct Order {
    set: BTreeSet<Key>,
    cursor: Option<Key>,
}

impl Order {
    pub(crate) fn new(keys: impl IntoIterator<Item = Key>) -> Self {
        Self {
            set: keys.into_iter().collect(),
            cursor: None,
        }
    }

    pub(crate) fn replace(&mut self, old: Key, new: Key) {
        if old != new {
            self.set.remove(&old);
            self.set.insert(new);
        }
    }

    /// Candidates in order: the first one is the preferred account; `from_cursor` starts just
    /// after the last rotation pick and wraps around.
    pub(crate) fn iter(&self, from_cursor: bool) -> impl Iterator<Item = &Key> + '_ {
        let (after, before) = match (from_cursor, self.cursor) {
            (true, Some(c)) => (
                self.set.range((Bound::Excluded(c), Bound::Unbounded)),
                self.set.range((Bound::Unbounded, Bound::Included(c))),
            ),
            // No cursor: everything, then an empty range (nothing sorts before MIN_KEY).
            _ => (
                self.set.range::<Key, _>(..),
                self.set.range((Bound::Unbounded, Bound::Excluded(MIN_KEY))),
            ),
        };
        after.chain(before)
    }

    pub(crate) fn advance_to(&mut self, key: Key) {
        self.cursor = Some(key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn order_is_tier_then_quota_then_index() {
        let o = Order::new([
            key(Tier::Free, FULL_QUOTA, AccountId(0)),
            key(Tier::Pro, 200, AccountId(1)),
            key(Tier::Ultra, FULL_QUOTA, AccountId(2)),
            key(Tier::Pro, 900, AccountId(3)),
        ]);
        let ids: Vec<u32> = o.iter(false).map(|k| k.2).collect();
        assert_eq!(ids, [2, 3, 1, 0]);
    }

    #[test]
    fn cursor_wraps_around() {
        let mut o = Order::new((0..4).map(|i| key(Tier::Pro, FULL_QUOTA, AccountId(i))));
        o.advance_to(key(Tier::Pro, FULL_QUOTA, AccountId(2)));
        let ids: Vec<u32> = o.iter(true).map(|k| k.2).collect();
        assert_eq!(ids, [3, 0, 1, 2]);
    }

    #[test]
    fn quota_buckets_clamp() {
        assert_eq!(quota_bucket(2.0), FULL_QUOTA);
        assert_eq!(quota_bucket(-1.0), 0);
        assert_eq!(quota_bucket(f64::NAN), 0);
        assert_eq!(quota_bucket(0.5), 500);
    }
}
