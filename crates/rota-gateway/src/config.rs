//! The gateway's TOML configuration: parsed, validated, and turned into a [`Config`].
//!
//! Every error names the field it is about (`scheduling.mode`, `accounts[2].email`, …) in one
//! line, so `rota-gateway` can print it and exit with code 2.

use std::collections::HashSet;
use std::fmt;
use std::net::SocketAddr;
use std::num::{NonZeroU32, NonZeroUsize};
use std::path::{Path, PathBuf};
use std::time::Duration;

use http::HeaderName;
use rota::core::{AccountSpec, Caps, Credential, Mode, Secret, Settings, Tier};
use rota_redis::FleetConfig;
use toml::{Table, Value};

use section::Section;

mod check;
mod limits;
pub use limits::{
    Limits, MAX_DURATION, MAX_RETRY_MIN_PER_SECOND, MAX_RETRY_PERCENT, RETRY_BUDGET_WINDOW,
    RetryBudgetConfig, parse_duration,
};

/// Most serving threads `workers` may ask for.
pub const MAX_WORKERS: usize = 1024;
/// Default listen address.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8045";
/// Default largest request body (32 MiB).
pub const DEFAULT_MAX_BODY: usize = 33_554_432;
/// Most `max_body_bytes` may be (4 GiB).
pub const MAX_BODY_LIMIT: u64 = 4 << 30;
/// Default per-attempt upstream timeout (until response headers).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(600);

/// A configuration error: the field it concerns and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// The field, e.g. `scheduling.mode` or `accounts[1].token_url` (`config` for the file).
    pub field: String,
    /// What is wrong, on one line.
    pub message: String,
}

impl ConfigError {
    fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        let message: String = message.into();
        Self {
            field: field.into(),
            message: message.replace(['\n', '\r'], " "),
        }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.message)
    }
}

impl std::error::Error for ConfigError {}

/// The validated gateway configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// Address to listen on.
    pub listen: SocketAddr,
    /// Where persisted state lives (created if missing).
    pub state_dir: PathBuf,
    /// Larger request bodies are answered 413.
    pub max_body_bytes: usize,
    /// Client keys; empty means open access.
    pub api_keys: Vec<Secret>,
    /// Bearer token of the admin API; `None` turns the admin API off.
    pub admin_token: Option<Secret>,
    /// Upstream base URL, without a trailing slash.
    pub base_url: String,
    /// Per-attempt upstream timeout, until the response headers arrive.
    pub timeout: Duration,
    /// Scheduling settings (mode, max wait, window).
    pub settings: Settings,
    /// Most attempts per request.
    pub max_attempts: u32,
    /// Explicit session headers, checked in order.
    pub session_headers: Vec<HeaderName>,
    /// Model mapping entries (`from`, `to`).
    pub model_mapping: Vec<(String, String)>,
    /// Accounts, in configuration order.
    pub accounts: Vec<AccountSpec>,
    /// Serving threads (`None`: one per CPU).
    pub workers: Option<NonZeroUsize>,
    /// The `[limits]` section.
    pub limits: Limits,
    /// The retry budget (`[scheduling]` `retry_budget_*`).
    pub retry_budget: RetryBudgetConfig,
    /// Fleet mode (`[fleet]`): replicas sharing state through Redis; `None` alone.
    pub fleet: Option<FleetConfig>,
}

impl Config {
    /// A configuration with defaults, for the given upstream and accounts (used by `--demo`
    /// and tests).
    pub fn new(base_url: impl Into<String>, accounts: Vec<AccountSpec>) -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8045)),
            state_dir: PathBuf::from("./rota-state"),
            max_body_bytes: DEFAULT_MAX_BODY,
            api_keys: Vec::new(),
            admin_token: None,
            base_url: base_url.into().trim_end_matches('/').to_owned(),
            timeout: DEFAULT_TIMEOUT,
            settings: Settings::default(),
            max_attempts: 3,
            session_headers: vec![rota::headers::X_SESSION_ID],
            model_mapping: Vec::new(),
            accounts,
            workers: None,
            limits: Limits::default(),
            retry_budget: RetryBudgetConfig::default(),
            fleet: None,
        }
    }

    /// Reads and validates a configuration file.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            ConfigError::new("config", format!("cannot read {}: {e}", path.display()))
        })?;
        Self::parse(&text).map_err(|mut e| {
            if e.field == "config" {
                e.message = format!("{}: {}", path.display(), e.message);
            }
            e
        })
    }

    /// Parses and validates configuration text.
    pub fn parse(text: &str) -> Result<Self, ConfigError> {
        let table: Table = text.parse().map_err(|e: toml::de::Error| {
            let at = e
                .span()
                .map(|s| {
                    let before = text.get(..s.start).unwrap_or("");
                    let line = before.matches('\n').count() + 1;
                    let col = before.rsplit('\n').next().map_or(0, str::len) + 1;
                    format!(" at line {line}, column {col}")
                })
                .unwrap_or_default();
            ConfigError::new("config", format!("TOML syntax error{at}: {}", e.message()))
        })?;
        let mut root = Section::new(&table, "");
        let listen = match root.string("listen")? {
            None => DEFAULT_LISTEN.to_owned(),
            Some(s) => s,
        };
        let listen = parse_listen(&listen).map_err(|m| ConfigError::new("listen", m))?;
        let state_dir = PathBuf::from(
            root.string("state_dir")?
                .unwrap_or_else(|| "./rota-state".to_owned()),
        );
        let max_body_bytes = match root.integer_in("max_body_bytes", 1..=MAX_BODY_LIMIT)? {
            None => DEFAULT_MAX_BODY,
            Some(n) => usize::try_from(n).unwrap_or(usize::MAX),
        };
        let workers = match root.integer("workers")? {
            None => None,
            Some(n) => Some(
                usize::try_from(n)
                    .ok()
                    .filter(|n| *n <= MAX_WORKERS)
                    .and_then(NonZeroUsize::new)
                    .ok_or_else(|| {
                        ConfigError::new("workers", format!("must be from 1 to {MAX_WORKERS}"))
                    })?,
            ),
        };
        let mut cfg = Self::new("", Vec::new());
        cfg.workers = workers;
        cfg.listen = listen;
        cfg.state_dir = state_dir;
        cfg.max_body_bytes = max_body_bytes;

        if let Some(auth) = root.table("auth")? {
            let mut s = Section::new(auth, "auth");
            for (i, key) in s
                .strings("api_keys")?
                .unwrap_or_default()
                .into_iter()
                .enumerate()
            {
                check::credential(&format!("auth.api_keys[{i}]"), &key)?;
                cfg.api_keys.push(Secret::new(key));
            }
            if let Some(token) = s.string("admin_token")? {
                check::credential("auth.admin_token", &token)?;
                cfg.admin_token = Some(Secret::new(token));
            }
            s.finish()?;
        }

        let Some(upstream) = root.table("upstream")? else {
            return Err(ConfigError::new(
                "upstream",
                "missing section [upstream] (base_url is required)",
            ));
        };
        let mut s = Section::new(upstream, "upstream");
        let Some(base_url) = s.string("base_url")? else {
            return Err(ConfigError::new("upstream.base_url", "missing (required)"));
        };
        check_url(&base_url).map_err(|m| ConfigError::new("upstream.base_url", m))?;
        cfg.base_url = base_url.trim_end_matches('/').to_owned();
        if let Some(t) = s.duration("timeout")? {
            cfg.timeout = t;
        }
        s.finish()?;

        if let Some(sched) = root.table("scheduling")? {
            let mut s = Section::new(sched, "scheduling");
            if let Some(mode) = s.string("mode")? {
                cfg.settings.mode = mode
                    .parse::<Mode>()
                    .map_err(|e| ConfigError::new("scheduling.mode", e.to_string()))?;
            }
            let most_secs = MAX_DURATION.as_secs();
            if let Some(n) = s.integer_in("max_wait_seconds", 0..=most_secs)? {
                cfg.settings.max_wait = Duration::from_secs(n);
            }
            if let Some(n) = s.integer_in("window_seconds", 0..=most_secs)? {
                cfg.settings.window = Duration::from_secs(n);
            }
            if let Some(n) = s.integer_in("max_attempts", 1..=u64::MAX)? {
                cfg.max_attempts = u32::try_from(n).unwrap_or(u32::MAX);
            }
            cfg.retry_budget = RetryBudgetConfig::read(&mut s)?;
            if let Some(names) = s.strings("session_headers")? {
                cfg.session_headers = Vec::with_capacity(names.len());
                for (i, name) in names.iter().enumerate() {
                    let h = HeaderName::from_bytes(name.trim().as_bytes()).map_err(|_| {
                        ConfigError::new(
                            format!("scheduling.session_headers[{i}]"),
                            format!("invalid header name {name:?}"),
                        )
                    })?;
                    cfg.session_headers.push(h);
                }
            }
            s.finish()?;
        }

        if let Some(mapping) = root.table("model_mapping")? {
            for (from, to) in mapping {
                let Value::String(to) = to else {
                    return Err(ConfigError::new(
                        format!("model_mapping.{from:?}"),
                        format!(
                            "expected a string (the upstream model), found {}",
                            to.type_str()
                        ),
                    ));
                };
                check::mapping(from, to)?;
                cfg.model_mapping.push((from.clone(), to.clone()));
            }
        }

        if let Some(limits) = root.table("limits")? {
            cfg.limits = Limits::read(&mut Section::new(limits, "limits"))?;
        }

        if let Some(fleet) = root.table("fleet")? {
            cfg.fleet = Some(read_fleet(&mut Section::new(fleet, "fleet"))?);
        }

        cfg.accounts = parse_accounts(&mut root)?;
        root.finish()?;
        Ok(cfg)
    }
}

/// `[fleet]`: `redis_url` (required, `redis://` or `rediss://`), `key_prefix` (default
/// `rota:`; letters, digits and `:_-.`), `op_timeout` (default 50 ms).
fn read_fleet(s: &mut Section<'_>) -> Result<FleetConfig, ConfigError> {
    let Some(url) = s.string("redis_url")? else {
        return Err(ConfigError::new("fleet.redis_url", "missing (required)"));
    };
    if !(url.starts_with("redis://") || url.starts_with("rediss://")) {
        return Err(ConfigError::new(
            "fleet.redis_url",
            format!("{url:?} is not a redis:// URL"),
        ));
    }
    let mut fleet = FleetConfig::new(url);
    if let Some(prefix) = s.string("key_prefix")? {
        let ok = (1..=64).contains(&prefix.len())
            && prefix
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b":_-.".contains(&b));
        if !ok {
            return Err(ConfigError::new(
                "fleet.key_prefix",
                "1 to 64 ASCII letters, digits and :_-.",
            ));
        }
        fleet.key_prefix = prefix;
    }
    if let Some(t) = s.duration("op_timeout")? {
        fleet.op_timeout = t;
    }
    s.finish()?;
    Ok(fleet)
}

fn parse_accounts(root: &mut Section<'_>) -> Result<Vec<AccountSpec>, ConfigError> {
    root.seen.push("accounts".to_owned());
    let list = match root.table.get("accounts") {
        None => {
            return Err(ConfigError::new(
                "accounts",
                "no accounts configured (add at least one [[accounts]])",
            ));
        }
        Some(Value::Array(list)) => list,
        Some(other) => {
            return Err(ConfigError::new(
                "accounts",
                format!(
                    "expected an array of tables ([[accounts]]), found {}",
                    other.type_str()
                ),
            ));
        }
    };
    if list.is_empty() {
        return Err(ConfigError::new(
            "accounts",
            "no accounts configured (add at least one [[accounts]])",
        ));
    }
    let mut seen = HashSet::new();
    let mut out = Vec::with_capacity(list.len());
    for (i, item) in list.iter().enumerate() {
        let path = format!("accounts[{i}]");
        let Value::Table(t) = item else {
            return Err(ConfigError::new(
                path,
                format!("expected a table, found {}", item.type_str()),
            ));
        };
        let mut s = Section::new(t, &path);
        let Some(email) = s.string("email")? else {
            return Err(ConfigError::new(
                format!("{path}.email"),
                "missing (required)",
            ));
        };
        if email.trim().is_empty() {
            return Err(ConfigError::new(format!("{path}.email"), "empty"));
        }
        if http::HeaderValue::from_str(&email).is_err() {
            return Err(ConfigError::new(
                format!("{path}.email"),
                "contains control characters",
            ));
        }
        if !seen.insert(email.clone()) {
            return Err(ConfigError::new(
                format!("{path}.email"),
                format!("duplicate account {email:?}"),
            ));
        }
        let tier = match s.string("tier")? {
            None => Tier::Pro,
            Some(t) => t
                .parse::<Tier>()
                .map_err(|e| ConfigError::new(format!("{path}.tier"), e.to_string()))?,
        };
        let api_key = s.string("api_key")?;
        if let Some(key) = &api_key {
            check::credential(&format!("{path}.api_key"), key)?;
        }
        let refresh_token = s.string("refresh_token")?;
        if let Some(rt) = &refresh_token {
            check::credential(&format!("{path}.refresh_token"), rt)?;
        }
        let token_url = s.string("token_url")?;
        let credential = match (api_key, refresh_token, token_url) {
            (Some(_), Some(_), _) | (Some(_), _, Some(_)) => {
                return Err(ConfigError::new(
                    path,
                    "give either api_key or refresh_token + token_url, not both",
                ));
            }
            (Some(key), None, None) if !key.is_empty() => Credential::ApiKey(Secret::new(key)),
            (None, Some(rt), Some(url)) if !rt.is_empty() => {
                check_url(&url).map_err(|m| ConfigError::new(format!("{path}.token_url"), m))?;
                Credential::OAuth {
                    refresh_token: Secret::new(rt),
                    token_url: url,
                }
            }
            _ => {
                return Err(ConfigError::new(
                    path,
                    "needs api_key or refresh_token + token_url",
                ));
            }
        };
        let cap = |n: Option<u64>| n.and_then(|n| NonZeroU32::new(u32::try_from(n).ok()?));
        let caps = Caps {
            rpm: cap(s.integer_in("rpm", 1..=1_000_000)?),
            max_concurrent: cap(s.integer_in("max_concurrent", 1..=100_000)?),
        };
        s.finish()?;
        out.push(AccountSpec {
            email,
            tier,
            credential,
            caps,
        });
    }
    Ok(out)
}

/// Parses a listen address (`IP:PORT`, or `localhost:PORT`).
pub fn parse_listen(s: &str) -> Result<SocketAddr, String> {
    let s = s.trim();
    if let Some(port) = s.strip_prefix("localhost:") {
        let port: u16 = port
            .parse()
            .map_err(|_| format!("invalid socket address {s:?} (expected IP:PORT)"))?;
        return Ok(SocketAddr::from(([127, 0, 0, 1], port)));
    }
    s.parse().map_err(|_| {
        format!("invalid socket address {s:?} (expected IP:PORT, e.g. 127.0.0.1:8045)")
    })
}

/// Checks that `s` is an `http://` or `https://` URL with a host.
pub fn check_url(s: &str) -> Result<(), String> {
    let uri: http::Uri = s.parse().map_err(|_| format!("invalid URL {s:?}"))?;
    match uri.scheme_str() {
        Some("http" | "https") => {}
        _ => {
            return Err(format!(
                "invalid URL {s:?} (expected an http:// or https:// URL)"
            ));
        }
    }
    if uri.authority().is_none_or(|a| a.host().is_empty()) {
        return Err(format!("invalid URL {s:?} (no host)"));
    }
    if uri.query().is_some() {
        return Err(format!("invalid URL {s:?} (no query string allowed)"));
    }
    Ok(())
}

mod section;

#[cfg(test)]
mod tests;
