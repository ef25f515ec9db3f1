//! What the answers reported: token counts per account, summed over the successful turns
//! whose answer carried usage.

use std::collections::HashMap;

use crate::shapes::{Answer, OUTPUT_TOKENS};

/// Token counts the sim reported in the usage of successful turns
/// ([`SimHandle::token_counts`](crate::SimHandle::token_counts)).
///
/// `input` counts every input token, cached ones included (OpenAI's and Gemini's
/// convention; Anthropic's `input_tokens` + `cache_read_input_tokens` +
/// `cache_creation_input_tokens`). So `cached / input` is the account's cache-hit ratio as
/// the answers reported it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TokenCounts {
    /// Successful turns whose answer carried usage.
    pub turns: u64,
    /// Input tokens, cached ones included.
    pub input: u64,
    /// Input tokens read from the account's prompt cache.
    pub cached: u64,
    /// Input tokens written to the prompt cache (reported by Anthropic only).
    pub cache_write: u64,
    /// Output tokens.
    pub output: u64,
}

impl TokenCounts {
    fn add(&mut self, a: &Answer, cache_write: bool) {
        self.turns += 1;
        self.input += a.input_tokens;
        self.cached += a.cached_tokens;
        if cache_write {
            self.cache_write += a.cache_write_tokens;
        }
        self.output += OUTPUT_TOKENS;
    }

    fn sum(self, other: Self) -> Self {
        Self {
            turns: self.turns + other.turns,
            input: self.input + other.input,
            cached: self.cached + other.cached,
            cache_write: self.cache_write + other.cache_write,
            output: self.output + other.output,
        }
    }
}

/// Token counts per credential.
#[derive(Debug, Default)]
pub(crate) struct Tallies {
    keys: HashMap<String, TokenCounts>,
}

impl Tallies {
    /// Adds the usage `a` reported to `key` (`cache_write` for the Anthropic routes).
    pub(crate) fn add(&mut self, key: &str, a: &Answer, cache_write: bool) {
        match self.keys.get_mut(key) {
            Some(counts) => counts.add(a, cache_write),
            None => {
                let mut counts = TokenCounts::default();
                counts.add(a, cache_write);
                self.keys.insert(key.to_owned(), counts);
            }
        }
    }

    /// `key`'s counts.
    pub(crate) fn get(&self, key: &str) -> TokenCounts {
        self.keys.get(key).copied().unwrap_or_default()
    }

    /// Every account's counts, summed.
    pub(crate) fn total(&self) -> TokenCounts {
        self.keys
            .values()
            .fold(TokenCounts::default(), |sum, c| sum.sum(*c))
    }

    /// Forgets every count.
    pub(crate) fn clear(&mut self) {
        self.keys.clear();
    }
}
