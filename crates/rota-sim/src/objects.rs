//! Objects stored per account: OpenAI Responses (`resp_…`) and conversations (`conv_…`).
//!
//! Like the real API, an object is visible only to the account (credential) that created it:
//! another account's key gets "not found". The store is bounded (oldest forgotten first).

use std::collections::{HashMap, VecDeque};

use crate::cache::Chain;

/// How many objects the sim remembers by default; older ones are forgotten first.
pub const OBJECT_CAPACITY: usize = 100_000;

/// One stored object.
#[derive(Clone, Debug)]
pub(crate) struct Stored {
    /// The credential that created it (`""` without one).
    pub(crate) owner: String,
    /// The object as `GET` returns it (JSON).
    pub(crate) body: String,
    /// Responses only: the input items list (JSON array), newest last.
    pub(crate) input: String,
    /// Responses only: created with `background: true` (so it can be cancelled).
    pub(crate) background: bool,
    /// Responses only: the conversation so far as the prompt cache sees it (this response's
    /// prompt, then its output), which a request naming it as `previous_response_id`
    /// continues.
    pub(crate) chain: Option<Chain>,
}

/// Bounded id → object map.
#[derive(Debug)]
pub(crate) struct Objects {
    map: HashMap<String, Stored>,
    order: VecDeque<String>,
    capacity: usize,
}

impl Default for Objects {
    fn default() -> Self {
        Self {
            map: HashMap::new(),
            order: VecDeque::new(),
            capacity: OBJECT_CAPACITY,
        }
    }
}

impl Objects {
    /// Remembers `id`, forgetting the oldest objects beyond capacity.
    pub(crate) fn insert(&mut self, id: String, stored: Stored) {
        if self.capacity == 0 {
            return;
        }
        while self.map.len() >= self.capacity {
            match self.order.pop_front() {
                Some(old) => {
                    self.map.remove(&old);
                }
                None => break,
            }
        }
        if self.map.insert(id.clone(), stored).is_none() {
            self.order.push_back(id);
        }
    }

    /// The object `id` if `key` owns it.
    pub(crate) fn get_for(&self, id: &str, key: &str) -> Option<&Stored> {
        self.map.get(id).filter(|s| s.owner == key)
    }

    /// The object `id` for changing it, if `key` owns it.
    pub(crate) fn get_mut_for(&mut self, id: &str, key: &str) -> Option<&mut Stored> {
        self.map.get_mut(id).filter(|s| s.owner == key)
    }

    /// Forgets `id` if `key` owns it; whether it did.
    pub(crate) fn remove_for(&mut self, id: &str, key: &str) -> bool {
        if self.get_for(id, key).is_none() {
            return false;
        }
        self.map.remove(id);
        self.order.retain(|o| o != id);
        true
    }

    /// Who created `id`.
    pub(crate) fn owner_of(&self, id: &str) -> Option<String> {
        self.map.get(id).map(|s| s.owner.clone())
    }

    /// How many objects are stored.
    pub(crate) fn len(&self) -> usize {
        self.map.len()
    }

    /// Changes the capacity, forgetting the oldest objects if needed.
    pub(crate) fn set_capacity(&mut self, capacity: usize) {
        self.capacity = capacity;
        while self.map.len() > capacity {
            match self.order.pop_front() {
                Some(old) => {
                    self.map.remove(&old);
                }
                None => break,
            }
        }
    }

    /// Forgets every object.
    pub(crate) fn clear(&mut self) {
        self.map.clear();
        self.order.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stored(owner: &str) -> Stored {
        Stored {
            owner: owner.to_owned(),
            body: String::from("{}"),
            input: String::from("[]"),
            background: false,
            chain: None,
        }
    }

    #[test]
    fn owned_per_key_and_bounded() {
        let mut o = Objects::default();
        o.insert("resp_1".into(), stored("a"));
        assert!(o.get_for("resp_1", "a").is_some());
        assert!(o.get_for("resp_1", "b").is_none());
        assert_eq!(o.owner_of("resp_1").as_deref(), Some("a"));
        assert!(!o.remove_for("resp_1", "b"));
        assert!(o.remove_for("resp_1", "a"));
        assert_eq!(o.owner_of("resp_1"), None);
        o.set_capacity(2);
        for i in 0..3 {
            o.insert(format!("resp_{i}"), stored("a"));
        }
        assert_eq!(o.len(), 2);
        assert_eq!(o.owner_of("resp_0"), None);
        assert!(o.get_mut_for("resp_2", "a").is_some());
        o.clear();
        assert_eq!(o.len(), 0);
    }
}
