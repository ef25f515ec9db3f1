//! What travels on the pool's channel: one JSON message per change, naming accounts by email
//! and times by wall-clock milliseconds, with the sending replica and the moment it sent it
//! (so receivers skip their own and measure their lag).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rota_core::{FleetEvent, Mode, Reason, Settings, SharedMark};
use serde::{Deserialize, Serialize};

/// One message on the channel.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Envelope {
    /// The sending replica.
    pub(crate) from: u64,
    /// When it was sent (ms since the epoch).
    pub(crate) at: u64,
    /// The change.
    pub(crate) msg: Msg,
}

/// A change, as the channel carries it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "t", rename_all = "snake_case")]
pub(crate) enum Msg {
    /// A cooldown (never shortening).
    Mark {
        email: String,
        model: Option<String>,
        reason: String,
        until_ms: u64,
        consecutive: u32,
    },
    /// Disabled (`Some(reason)`) or enabled (`None`).
    Disabled {
        email: String,
        reason: Option<String>,
    },
    /// An account's cooldowns were cleared.
    Cleared { email: String },
    /// The scheduling settings.
    Settings {
        mode: String,
        max_wait_ms: u64,
        window_ms: u64,
    },
    /// The fixed account.
    Fixed { email: Option<String> },
    /// A session was (re)bound to an account: caches follow.
    Bound { session: String, email: String },
    /// A session's binding to `email` was dropped.
    Unbound { session: String, email: String },
    /// Every binding was cleared.
    BindingsCleared,
}

/// Milliseconds since the epoch (0 before it).
pub(crate) fn ms(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// The moment `ms` milliseconds after the epoch.
pub(crate) fn time(ms: u64) -> SystemTime {
    UNIX_EPOCH
        .checked_add(Duration::from_millis(ms))
        .unwrap_or(UNIX_EPOCH)
}

impl Msg {
    /// The channel's form of a pool's event.
    pub(crate) fn of(event: &FleetEvent) -> Option<Self> {
        Some(match event {
            FleetEvent::Mark(m) => Self::Mark {
                email: m.email.clone(),
                model: m.model.clone(),
                reason: m.reason.as_str().to_owned(),
                until_ms: ms(m.until),
                consecutive: m.consecutive,
            },
            FleetEvent::Disabled { email, reason } => Self::Disabled {
                email: email.clone(),
                reason: reason.clone(),
            },
            FleetEvent::CooldownsCleared { email } => Self::Cleared {
                email: email.clone(),
            },
            FleetEvent::Settings(s) => Self::Settings {
                mode: s.mode.as_str().to_owned(),
                max_wait_ms: u64::try_from(s.max_wait.as_millis()).unwrap_or(u64::MAX),
                window_ms: u64::try_from(s.window.as_millis()).unwrap_or(u64::MAX),
            },
            FleetEvent::Fixed(email) => Self::Fixed {
                email: email.clone(),
            },
            _ => return None,
        })
    }

    /// The pool's event this message carries, if it carries one (store messages do not; an
    /// unknown reason or mode is dropped).
    pub(crate) fn event(&self) -> Option<FleetEvent> {
        Some(match self {
            Self::Mark {
                email,
                model,
                reason,
                until_ms,
                consecutive,
            } => FleetEvent::Mark(SharedMark {
                email: email.clone(),
                model: model.clone(),
                reason: Reason::from_name(reason)?,
                until: time(*until_ms),
                consecutive: *consecutive,
            }),
            Self::Disabled { email, reason } => FleetEvent::Disabled {
                email: email.clone(),
                reason: reason.clone(),
            },
            Self::Cleared { email } => FleetEvent::CooldownsCleared {
                email: email.clone(),
            },
            Self::Settings {
                mode,
                max_wait_ms,
                window_ms,
            } => FleetEvent::Settings(Settings {
                mode: mode.parse::<Mode>().ok()?,
                max_wait: Duration::from_millis(*max_wait_ms),
                window: Duration::from_millis(*window_ms),
            }),
            Self::Fixed { email } => FleetEvent::Fixed(email.clone()),
            Self::Bound { .. } | Self::Unbound { .. } | Self::BindingsCleared => return None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_survive_the_channel() {
        let events = [
            FleetEvent::Mark(SharedMark {
                email: "a@x".into(),
                model: Some("m".into()),
                reason: Reason::QuotaExhausted,
                until: time(1_800_000_000_123),
                consecutive: 2,
            }),
            FleetEvent::Disabled {
                email: "a@x".into(),
                reason: None,
            },
            FleetEvent::Settings(Settings {
                mode: Mode::CacheFirst,
                max_wait: Duration::from_secs(5),
                window: Duration::ZERO,
            }),
            FleetEvent::Fixed(Some("b@x".into())),
            FleetEvent::CooldownsCleared {
                email: "c@x".into(),
            },
        ];
        for event in events {
            let msg = Msg::of(&event).expect("a pool event");
            let env = Envelope {
                from: 7,
                at: 1,
                msg,
            };
            let text = serde_json::to_string(&env).expect("json");
            let back: Envelope = serde_json::from_str(&text).expect("parses");
            assert_eq!(back.msg.event(), Some(event), "{text}");
        }
        let odd = r#"{"from":1,"at":2,"msg":{"t":"mark","email":"a","model":null,"reason":"nope","until_ms":1,"consecutive":0}}"#;
        let env: Envelope = serde_json::from_str(odd).expect("parses");
        assert_eq!(env.msg.event(), None);
    }
}
