//! Key names (SPEC §8): every key of one pool carries the pool's hash tag — `{<key_prefix>}` —
//! so a Lua script's keys always sit in one slot and the scripts also run on Redis Cluster;
//! several pools share one Redis by their prefixes. Accounts are named by email.

/// The key names of one pool.
#[derive(Debug, Clone)]
pub(crate) struct Keys {
    tag: String,
}

impl Keys {
    /// Keys under `prefix` (`rota:` gives `{rota:}…`).
    pub(crate) fn new(prefix: &str) -> Self {
        Self {
            tag: format!("{{{prefix}}}"),
        }
    }

    /// A session's binding: the account's email (idle TTL).
    pub(crate) fn binding(&self, session: &str) -> String {
        format!("{}b:{session}", self.tag)
    }

    /// Every binding of the pool (a `SCAN` pattern).
    pub(crate) fn bindings(&self) -> String {
        format!("{}b:*", self.tag)
    }

    /// An object's owner: `email` and the creator's session, `\n`-separated (idle TTL).
    pub(crate) fn object(&self, id: &str) -> String {
        format!("{}o:{id}", self.tag)
    }

    /// One cooldown of an account: `<deadline ms> <reason>`, expiring at its deadline.
    /// `scope` is `*` for the account's own, `~` for its soft one, `m:<model>` per model.
    pub(crate) fn cooldown(&self, email: &str, scope: &str) -> String {
        format!("{}c:{email}|{scope}", self.tag)
    }

    /// Every cooldown of the pool (a `SCAN` pattern).
    pub(crate) fn cooldowns(&self) -> String {
        format!("{}c:*", self.tag)
    }

    /// An account's consecutive-failure count (expires an hour after its last raise).
    pub(crate) fn count(&self, email: &str) -> String {
        format!("{}n:{email}", self.tag)
    }

    /// The disabled accounts: a hash email → reason (no TTL).
    pub(crate) fn disabled(&self) -> String {
        format!("{}disabled", self.tag)
    }

    /// The scheduling settings, JSON (no TTL).
    pub(crate) fn settings(&self) -> String {
        format!("{}settings", self.tag)
    }

    /// The fixed account's email (no TTL; absent: none).
    pub(crate) fn fixed(&self) -> String {
        format!("{}fixed", self.tag)
    }

    /// The channel every change is pushed on.
    pub(crate) fn channel(&self) -> String {
        format!("{}events", self.tag)
    }

    /// The part of a cooldown key after the tag's `c:`: `(email, scope)`.
    pub(crate) fn parse_cooldown<'k>(&self, key: &'k str) -> Option<(&'k str, &'k str)> {
        key.strip_prefix(self.tag.as_str())?
            .strip_prefix("c:")?
            .rsplit_once('|')
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_hash_tag_per_pool() {
        let k = Keys::new("rota:");
        assert_eq!(k.binding("sid-1"), "{rota:}b:sid-1");
        let key = k.cooldown("a@x", "m:gemini-pro");
        assert_eq!(key, "{rota:}c:a@x|m:gemini-pro");
        assert_eq!(k.parse_cooldown(&key), Some(("a@x", "m:gemini-pro")));
        assert_eq!(Keys::new("other:").parse_cooldown(&key), None);
    }
}
