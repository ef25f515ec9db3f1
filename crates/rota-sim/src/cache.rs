//! The simulated prompt cache: per account (credential), the prompts it served recently, as
//! chains of block hashes.
//!
//! A request's prompt (its conversation, see [`prompt_of`](crate::endpoints)) is cut into
//! [`CACHE_BLOCK`]-byte blocks; block `i`'s hash covers blocks `0..=i`, so two prompts share
//! their first `n` hashes exactly when they share their first `n` blocks. The cached part of a
//! prompt is its longest run of leading blocks found in a prompt the same account served within
//! the TTL, counted when it reaches the minimum prefix. Serving a prompt stores it with the time
//! of the answer, which also renews the prefix it shared (the hit refreshes the TTL), and
//! forgets the stored prompts it extends.

use std::collections::{HashMap, VecDeque};
use std::time::Duration;

use tokio::time::Instant;

/// Bytes per cache block: prefixes are cached and counted in whole blocks (16 tokens), as
/// providers count cached prefixes in whole blocks (OpenAI: 128 tokens).
pub const CACHE_BLOCK: usize = 64;

/// How the simulated prompt cache behaves ([`SimHandle::set_prompt_cache`](crate::SimHandle::set_prompt_cache)).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CacheConfig {
    /// How long a prompt stays cached after it was last served (default 5 minutes).
    pub ttl: Duration,
    /// The shortest prefix that is cached, in bytes (default 256, i.e. 64 tokens; OpenAI
    /// caches from 1024 tokens, Anthropic from 1024 or 2048).
    pub min_prefix_bytes: usize,
    /// How many prompts each account remembers (default 64; `0` turns the cache off).
    pub capacity: usize,
}

impl Default for CacheConfig {
    fn default() -> Self {
        Self {
            ttl: Duration::from_secs(300),
            min_prefix_bytes: 256,
            capacity: 64,
        }
    }
}

/// A prompt as the cache sees it: the hash chain of its whole blocks, built from bytes pushed
/// in order (and the last partial block, so that it can be extended).
#[derive(Clone, Debug)]
pub(crate) struct Chain {
    blocks: Vec<u64>,
    block: [u8; CACHE_BLOCK],
    filled: usize,
}

impl Default for Chain {
    fn default() -> Self {
        Self {
            blocks: Vec::new(),
            block: [0; CACHE_BLOCK],
            filled: 0,
        }
    }
}

impl Chain {
    /// Appends one byte.
    pub(crate) fn push(&mut self, byte: u8) {
        self.block[self.filled] = byte;
        self.filled += 1;
        if self.filled == CACHE_BLOCK {
            // FNV-1a over the previous block's hash, then this block.
            let previous = self.blocks.last().copied().unwrap_or(0);
            let mut hash = 0xcbf2_9ce4_8422_2325_u64;
            for b in previous.to_le_bytes().iter().chain(self.block.iter()) {
                hash = (hash ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3);
            }
            self.blocks.push(hash);
            self.filled = 0;
        }
    }

    /// Appends bytes.
    #[cfg(test)]
    pub(crate) fn extend(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.push(b);
        }
    }

    /// Appends JSON text without its insignificant whitespace (outside strings), so that two
    /// renderings of the same conversation hash alike.
    pub(crate) fn extend_json(&mut self, json: &[u8]) {
        let (mut in_string, mut escaped) = (false, false);
        for &b in json {
            if in_string {
                if escaped {
                    escaped = false;
                } else if b == b'\\' {
                    escaped = true;
                } else if b == b'"' {
                    in_string = false;
                }
            } else if b == b'"' {
                in_string = true;
            } else if b.is_ascii_whitespace() {
                continue;
            }
            self.push(b);
        }
    }

    /// Bytes pushed.
    pub(crate) fn len(&self) -> usize {
        self.blocks.len() * CACHE_BLOCK + self.filled
    }

    /// Bytes in whole blocks (a last partial block is not cacheable).
    fn cacheable_bytes(&self) -> usize {
        self.blocks.len() * CACHE_BLOCK
    }
}

/// What the cache holds for a prompt: the prefix read from it, and what serving the prompt
/// would write to it (in bytes).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Lookup {
    /// Bytes of the longest cached prefix (whole blocks, at least the minimum, else 0).
    pub(crate) read: usize,
    /// Bytes the prompt adds to the cache (its whole blocks beyond `read`, when it is at
    /// least the minimum prefix long, else 0).
    pub(crate) write: usize,
}

/// One remembered prompt.
#[derive(Debug)]
struct Entry {
    blocks: Vec<u64>,
    served: Instant,
}

/// Every account's remembered prompts, oldest first.
#[derive(Debug, Default)]
pub(crate) struct PromptCache {
    config: CacheConfig,
    accounts: HashMap<String, VecDeque<Entry>>,
}

/// How many leading hashes `a` and `b` share.
fn common(a: &[u64], b: &[u64]) -> usize {
    a.iter().zip(b).take_while(|(x, y)| x == y).count()
}

impl PromptCache {
    /// Replaces the configuration (and forgets every prompt if the capacity is now 0).
    pub(crate) fn configure(&mut self, config: CacheConfig) {
        self.config = config;
        for entries in self.accounts.values_mut() {
            while entries.len() > config.capacity {
                entries.pop_front();
            }
        }
        self.accounts.retain(|_, entries| !entries.is_empty());
    }

    /// Forgets every prompt.
    pub(crate) fn clear(&mut self) {
        self.accounts.clear();
    }

    fn live(&self, entry: &Entry, now: Instant) -> bool {
        now.saturating_duration_since(entry.served) < self.config.ttl
    }

    /// What `key`'s cache holds for `prompt` at `now` (nothing is changed).
    pub(crate) fn lookup(&self, key: &str, prompt: &Chain, now: Instant) -> Lookup {
        let min = self.config.min_prefix_bytes;
        if self.config.capacity == 0 || prompt.cacheable_bytes() < min.max(1) {
            return Lookup::default();
        }
        let shared = self.accounts.get(key).map_or(0, |entries| {
            entries
                .iter()
                .filter(|e| self.live(e, now))
                .map(|e| common(&e.blocks, &prompt.blocks))
                .max()
                .unwrap_or(0)
        });
        let read = shared * CACHE_BLOCK;
        let read = if read >= min.max(1) { read } else { 0 };
        Lookup {
            read,
            write: prompt.cacheable_bytes() - read,
        }
    }

    /// Remembers that `key` served `prompt` at `now`: stores it (renewing the prefix it
    /// shares), forgets expired prompts and those it extends, keeps at most the capacity.
    pub(crate) fn store(&mut self, key: &str, prompt: &Chain, now: Instant) {
        let capacity = self.config.capacity;
        if capacity == 0 || prompt.cacheable_bytes() < self.config.min_prefix_bytes.max(1) {
            return;
        }
        let ttl = self.config.ttl;
        let entries = self.accounts.entry(key.to_owned()).or_default();
        entries.retain(|e| {
            let live = now.saturating_duration_since(e.served) < ttl;
            let extended = common(&e.blocks, &prompt.blocks) == e.blocks.len();
            live && !extended
        });
        while entries.len() >= capacity {
            entries.pop_front();
        }
        entries.push_back(Entry {
            blocks: prompt.blocks.clone(),
            served: now,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn prompt(text: &str) -> Chain {
        let mut chain = Chain::default();
        chain.extend(text.as_bytes());
        chain
    }

    #[test]
    fn json_whitespace_does_not_count() {
        let mut a = Chain::default();
        a.extend_json(br#"{ "a" : [1, 2],  "b": "x  \" y" }"#);
        let mut b = Chain::default();
        b.extend_json(br#"{"a":[1,2],"b":"x  \" y"}"#);
        assert_eq!(a.blocks, b.blocks);
        assert_eq!(a.filled, b.filled);
    }

    #[tokio::test(start_paused = true)]
    async fn prefix_hits_expire_and_renew() {
        let mut cache = PromptCache::default();
        let base = "s".repeat(300);
        let first = prompt(&base);
        let longer = prompt(&format!("{base}{}", "t".repeat(200)));
        let now = Instant::now();
        // 300 bytes: 4 whole blocks (256 bytes) cacheable.
        assert_eq!(
            cache.lookup("k", &first, now),
            Lookup {
                read: 0,
                write: 256
            }
        );
        cache.store("k", &first, now);
        assert_eq!(
            cache.lookup("k", &longer, now),
            Lookup {
                read: 256,
                write: 192
            }
        );
        assert_eq!(cache.lookup("other", &longer, now).read, 0);
        let later = now + Duration::from_secs(240);
        cache.store("k", &longer, later);
        // The longer prompt replaced the one it extends.
        assert_eq!(cache.accounts.get("k").map(VecDeque::len), Some(1));
        let renewed = later + Duration::from_secs(240);
        assert_eq!(cache.lookup("k", &first, renewed).read, 256);
        assert_eq!(
            cache
                .lookup("k", &first, later + Duration::from_secs(300))
                .read,
            0
        );
    }

    #[test]
    fn short_prefixes_and_capacity() {
        let mut cache = PromptCache::default();
        let now = Instant::now();
        let short = prompt(&"s".repeat(200));
        cache.store("k", &short, now);
        assert_eq!(cache.lookup("k", &short, now), Lookup::default());
        cache.configure(CacheConfig {
            capacity: 2,
            ..CacheConfig::default()
        });
        for c in ["a", "b", "c"] {
            cache.store("k", &prompt(&c.repeat(256)), now);
        }
        assert_eq!(cache.lookup("k", &prompt(&"a".repeat(256)), now).read, 0);
        assert_eq!(cache.lookup("k", &prompt(&"c".repeat(256)), now).read, 256);
        cache.configure(CacheConfig {
            capacity: 0,
            ..CacheConfig::default()
        });
        assert_eq!(cache.lookup("k", &prompt(&"c".repeat(256)), now).read, 0);
    }
}
