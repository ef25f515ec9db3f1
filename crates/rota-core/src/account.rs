//! Accounts: who can serve a request.

use std::fmt;
use std::num::NonZeroU32;
use std::str::FromStr;

/// An account's plan; higher tiers are preferred.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Tier {
    /// Free plan (least preferred).
    Free,
    /// Paid plan.
    Pro,
    /// Top plan (most preferred).
    Ultra,
}

impl Tier {
    /// The canonical upper-case name (`ULTRA`, `PRO`, `FREE`).
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Free => "FREE",
            Self::Pro => "PRO",
            Self::Ultra => "ULTRA",
        }
    }
}

impl fmt::Display for Tier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The error of parsing an unknown tier name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownTier(pub String);

impl fmt::Display for UnknownTier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "unknown tier {:?} (expected ULTRA, PRO or FREE)", self.0)
    }
}

impl std::error::Error for UnknownTier {}

impl FromStr for Tier {
    type Err = UnknownTier;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_uppercase().as_str() {
            "FREE" => Ok(Self::Free),
            "PRO" => Ok(Self::Pro),
            "ULTRA" => Ok(Self::Ultra),
            _ => Err(UnknownTier(s.to_owned())),
        }
    }
}

/// A secret string (API key, token) whose `Debug` and `Display` never show it.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret value.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The secret itself; call only where it is sent upstream.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// How an account authenticates upstream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Credential {
    /// A static API key, sent in the route's own auth header.
    ApiKey(Secret),
    /// An OAuth identity: the access token is fetched from `token_url` with the refresh token,
    /// by a component outside the pure model (the gateway's OAuth layer).
    OAuth {
        /// The long-lived refresh token.
        refresh_token: Secret,
        /// The token endpoint.
        token_url: String,
    },
    /// No credential (the upstream needs none, or an inner service adds it).
    None,
}

/// What an account is allowed to be sent, so rota stops sending what its upstream would
/// refuse: at most `rpm` requests per minute and `max_concurrent` at once (`None`: no cap).
/// An account at a cap is skipped like a cooling one until a slot frees.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Caps {
    /// Requests per minute (a GCRA: evenly spaced, with a minute's burst).
    pub rpm: Option<NonZeroU32>,
    /// Requests in flight at once (until each answer's body ends).
    pub max_concurrent: Option<NonZeroU32>,
}

/// The static description of one account, as configured.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountSpec {
    /// Display id; unique within a pool.
    pub email: String,
    /// Plan tier.
    pub tier: Tier,
    /// How it authenticates upstream.
    pub credential: Credential,
    /// Its per-account caps (none by default).
    pub caps: Caps,
}

impl AccountSpec {
    /// An account with an API key.
    ///
    /// ```
    /// use rota_core::{AccountSpec, Tier};
    /// let a = AccountSpec::api_key("alice@example.com", Tier::Pro, "key-a");
    /// assert_eq!(a.email, "alice@example.com");
    /// assert!(!format!("{a:?}").contains("key-a"));
    /// ```
    pub fn api_key(email: impl Into<String>, tier: Tier, key: impl Into<String>) -> Self {
        Self {
            email: email.into(),
            tier,
            credential: Credential::ApiKey(Secret::new(key)),
            caps: Caps::default(),
        }
    }

    /// The same account with these caps.
    ///
    /// ```
    /// use std::num::NonZeroU32;
    /// use rota_core::{AccountSpec, Caps, Tier};
    /// let a = AccountSpec::api_key("a@x", Tier::Pro, "k")
    ///     .with_caps(Caps { rpm: NonZeroU32::new(60), max_concurrent: NonZeroU32::new(4) });
    /// assert_eq!(a.caps.rpm.map(|n| n.get()), Some(60));
    /// ```
    pub fn with_caps(mut self, caps: Caps) -> Self {
        self.caps = caps;
        self
    }
}

/// A dense index of an account inside one pool (0‥n). Cheap to copy and compare.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AccountId(pub u32);

impl AccountId {
    /// The index as `usize`.
    pub const fn index(self) -> usize {
        self.0 as usize
    }
}
