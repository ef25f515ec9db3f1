//! Per-account request quotas: a sliding per-minute window and a daily window, and the 429s
//! and headers each provider uses to say how much is left and when to come back.

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use http::{HeaderName, HeaderValue, StatusCode};
use serde_json::json;
use tokio::time::Instant;

use crate::errors::{go_duration, google_duration, rate_limit_body};
use crate::route::Dialect;
use crate::script::RateLimit;
use crate::shapes::Reply;

const MINUTE: Duration = Duration::from_secs(60);
const DAY: Duration = Duration::from_secs(24 * 3600);

/// An account's request quotas ([`SimHandle::quota`](crate::SimHandle::quota)); `None` is no
/// limit.
///
/// ```
/// use rota_sim::Quota;
///
/// let q = Quota::new().per_minute(10).per_day(1000);
/// assert_eq!(q.per_minute, Some(10));
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Quota {
    /// Requests in any 60 s (a sliding window: a slot frees 60 s after the request that took
    /// it).
    pub per_minute: Option<u32>,
    /// Requests per day: a window of 24 h that opens with the first request counted in it.
    pub per_day: Option<u32>,
}

impl Quota {
    /// No limits.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the per-minute limit.
    pub fn per_minute(self, requests: u32) -> Self {
        Self {
            per_minute: Some(requests),
            ..self
        }
    }

    /// Sets the daily limit.
    pub fn per_day(self, requests: u32) -> Self {
        Self {
            per_day: Some(requests),
            ..self
        }
    }
}

/// Which window a standing or a refusal is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Window {
    Minute,
    Day,
}

/// Where an account stands in one window.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Standing {
    pub(crate) window: Window,
    pub(crate) limit: u32,
    pub(crate) remaining: u32,
    /// Until a slot frees (per minute) or the window resets (daily).
    pub(crate) reset: Duration,
}

/// Whether a request may go on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Admission {
    /// The account has no quota.
    Unlimited,
    /// Counted; the tighter window after it.
    Admitted(Standing),
    /// Over quota (not counted): the window that refused, `remaining` 0.
    Refused(Standing),
}

#[derive(Debug, Default)]
struct Account {
    quota: Quota,
    minute: VecDeque<Instant>,
    day_start: Option<Instant>,
    day_count: u32,
}

/// Every account's quota and counts.
#[derive(Debug, Default)]
pub(crate) struct Quotas {
    accounts: HashMap<String, Account>,
}

impl Quotas {
    /// Sets `key`'s quota, keeping its counts; [`Quota::new`] (no limits) forgets the account.
    pub(crate) fn set(&mut self, key: &str, quota: Quota) {
        if quota == Quota::default() {
            self.accounts.remove(key);
        } else {
            self.accounts.entry(key.to_owned()).or_default().quota = quota;
        }
    }

    /// Counts a request with `key` at `now` if its quota allows it.
    pub(crate) fn admit(&mut self, key: &str, now: Instant) -> Admission {
        let Some(account) = self.accounts.get_mut(key) else {
            return Admission::Unlimited;
        };
        while account
            .minute
            .front()
            .is_some_and(|t| now.saturating_duration_since(*t) >= MINUTE)
        {
            account.minute.pop_front();
        }
        if account
            .day_start
            .is_some_and(|t| now.saturating_duration_since(t) >= DAY)
        {
            account.day_start = None;
            account.day_count = 0;
        }
        let day = account.quota.per_day.map(|limit| Standing {
            window: Window::Day,
            limit,
            remaining: limit.saturating_sub(account.day_count),
            reset: account
                .day_start
                .map_or(DAY, |t| (t + DAY).saturating_duration_since(now)),
        });
        let minute = account.quota.per_minute.map(|limit| Standing {
            window: Window::Minute,
            limit,
            remaining: limit.saturating_sub(account.minute.len() as u32),
            reset: account
                .minute
                .front()
                .map_or(MINUTE, |t| (*t + MINUTE).saturating_duration_since(now)),
        });
        if let Some(refused) = [day, minute]
            .into_iter()
            .flatten()
            .find(|s| s.remaining == 0)
        {
            return Admission::Refused(refused);
        }
        account.minute.push_back(now);
        account.day_start.get_or_insert(now);
        account.day_count += 1;
        let after = |s: Standing| Standing {
            remaining: s.remaining - 1,
            reset: match s.window {
                Window::Minute => account
                    .minute
                    .front()
                    .map_or(MINUTE, |t| (*t + MINUTE).saturating_duration_since(now)),
                Window::Day => account
                    .day_start
                    .map_or(DAY, |t| (t + DAY).saturating_duration_since(now)),
            },
            ..s
        };
        match (minute.map(after), day.map(after)) {
            (Some(m), Some(d)) if d.remaining < m.remaining => Admission::Admitted(d),
            (Some(s), _) | (None, Some(s)) => Admission::Admitted(s),
            (None, None) => Admission::Unlimited,
        }
    }
}

/// Where an account stands in its quota ([`SimHandle::quota_standing`](crate::SimHandle::quota_standing)):
/// the tighter of its windows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct QuotaStanding {
    /// Requests it would admit now.
    pub remaining: u32,
    /// Until that window frees a slot (per minute) or resets (daily).
    pub reset: Duration,
}

impl Quotas {
    /// Where `key` stands at `now`, counting nothing; `None` without a quota.
    pub(crate) fn standing(&self, key: &str, now: Instant) -> Option<QuotaStanding> {
        let account = self.accounts.get(key)?;
        let live: Vec<Instant> = account
            .minute
            .iter()
            .copied()
            .filter(|t| now.saturating_duration_since(*t) < MINUTE)
            .collect();
        let minute = account.quota.per_minute.map(|limit| QuotaStanding {
            remaining: limit.saturating_sub(live.len() as u32),
            reset: live.first().map_or(Duration::ZERO, |t| {
                (*t + MINUTE).saturating_duration_since(now)
            }),
        });
        let day_open = account
            .day_start
            .filter(|t| now.saturating_duration_since(*t) < DAY);
        let day = account.quota.per_day.map(|limit| QuotaStanding {
            remaining: limit.saturating_sub(day_open.map_or(0, |_| account.day_count)),
            reset: day_open.map_or(Duration::ZERO, |t| (t + DAY).saturating_duration_since(now)),
        });
        match (minute, day) {
            (Some(m), Some(d)) => Some(if d.remaining < m.remaining || d.remaining == 0 {
                d
            } else {
                m
            }),
            (m, d) => m.or(d),
        }
    }
}

/// Whole seconds, rounded up.
fn ceil_secs(d: Duration) -> u64 {
    d.as_secs() + u64::from(d.subsec_nanos() > 0)
}

/// `at` as RFC 3339 UTC (`2026-12-07T07:30:00Z`), as Anthropic's reset headers carry it.
fn rfc3339(at: SystemTime) -> String {
    let secs = at.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let (days, rem) = (secs / 86_400, secs % 86_400);
    // Howard Hinnant's civil_from_days.
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}

fn header(name: &'static str, value: String) -> (HeaderName, HeaderValue) {
    (
        HeaderName::from_static(name),
        HeaderValue::from_str(&value).unwrap_or_else(|_| HeaderValue::from_static("0")),
    )
}

/// The headers that tell a client where an account stands: OpenAI `x-ratelimit-*-requests`,
/// Anthropic `anthropic-ratelimit-requests-*`; Gemini sends none.
pub(crate) fn standing_headers(
    dialect: Dialect,
    s: &Standing,
    now: SystemTime,
) -> Vec<(HeaderName, HeaderValue)> {
    match dialect {
        Dialect::OpenAi => vec![
            header("x-ratelimit-limit-requests", s.limit.to_string()),
            header("x-ratelimit-remaining-requests", s.remaining.to_string()),
            header("x-ratelimit-reset-requests", go_duration(s.reset)),
        ],
        Dialect::Anthropic => vec![
            header("anthropic-ratelimit-requests-limit", s.limit.to_string()),
            header(
                "anthropic-ratelimit-requests-remaining",
                s.remaining.to_string(),
            ),
            header("anthropic-ratelimit-requests-reset", rfc3339(now + s.reset)),
        ],
        Dialect::Gemini => Vec::new(),
    }
}

/// The 429 of a request over quota, in `dialect`'s real shape, with its headers.
pub(crate) fn refusal(
    dialect: Dialect,
    s: &Standing,
    model: &str,
    now: SystemTime,
) -> (Reply, Vec<(HeaderName, HeaderValue)>) {
    let per = match s.window {
        Window::Minute => "minute",
        Window::Day => "day",
    };
    let limit = s.limit;
    let body = match dialect {
        Dialect::OpenAi => {
            let unit = match s.window {
                Window::Minute => "requests per min (RPM)",
                Window::Day => "requests per day (RPD)",
            };
            json!({ "error": {
                "message": format!(
                    "Rate limit reached for {model} in organization org-rota-sim on {unit}: Limit {limit}, Used {limit}, Requested 1. Please try again in {}. Visit https://platform.openai.com/account/rate-limits to learn more.",
                    go_duration(s.reset)
                ),
                "type": "requests",
                "param": null,
                "code": "rate_limit_exceeded",
            }})
            .to_string()
        }
        Dialect::Anthropic => json!({
            "type": "error",
            "error": {
                "type": "rate_limit_error",
                "message": format!(
                    "This request would exceed the rate limit for your organization of {limit} requests per {per}. For details, refer to: https://docs.claude.com/en/api/rate-limits. You can see the response headers for current usage. Please try again later."
                ),
            },
        })
        .to_string(),
        Dialect::Gemini => {
            let message = format!(
                "You exceeded your current quota, please check your plan and billing details.\n* Quota exceeded for metric: generativelanguage.googleapis.com/generate_content_requests, limit: {limit} per {per}, model: {model}\nPlease retry in {}.",
                google_duration(s.reset)
            );
            let rl = match s.window {
                Window::Minute => RateLimit::new().reason("RATE_LIMIT_EXCEEDED"),
                Window::Day => RateLimit::new()
                    .reason("QUOTA_EXHAUSTED")
                    .quota_reset(s.reset),
            };
            rate_limit_body(&rl.retry_info(s.reset).message(message))
        }
    };
    let mut headers = standing_headers(dialect, s, now);
    if dialect != Dialect::Gemini {
        headers.push(header("retry-after", ceil_secs(s.reset).to_string()));
    }
    (Reply::error(StatusCode::TOO_MANY_REQUESTS, body), headers)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_dates() {
        assert_eq!(rfc3339(UNIX_EPOCH), "1970-01-01T00:00:00Z");
        let at = UNIX_EPOCH + Duration::from_secs(1_709_251_199);
        assert_eq!(rfc3339(at), "2024-02-29T23:59:59Z");
    }

    #[tokio::test(start_paused = true)]
    async fn minute_slides_and_day_resets() {
        let mut q = Quotas::default();
        let t0 = Instant::now();
        assert_eq!(q.admit("k", t0), Admission::Unlimited);
        q.set("k", Quota::new().per_minute(2).per_day(3));
        assert!(
            matches!(q.admit("k", t0), Admission::Admitted(s) if s.remaining == 1 && s.window == Window::Minute)
        );
        let t1 = t0 + Duration::from_secs(20);
        assert!(matches!(q.admit("k", t1), Admission::Admitted(s) if s.remaining == 0));
        let refused = q.admit("k", t1 + Duration::from_secs(10));
        assert_eq!(
            refused,
            Admission::Refused(Standing {
                window: Window::Minute,
                limit: 2,
                remaining: 0,
                reset: Duration::from_secs(30),
            })
        );
        let t2 = t0 + Duration::from_secs(60);
        assert!(
            matches!(q.admit("k", t2), Admission::Admitted(s) if s.window == Window::Minute && s.remaining == 0)
        );
        let t3 = t0 + Duration::from_secs(3600);
        assert_eq!(
            q.admit("k", t3),
            Admission::Refused(Standing {
                window: Window::Day,
                limit: 3,
                remaining: 0,
                reset: DAY - Duration::from_secs(3600),
            })
        );
        assert!(matches!(q.admit("k", t0 + DAY), Admission::Admitted(_)));
        q.set("k", Quota::new());
        assert_eq!(q.admit("k", t3), Admission::Unlimited);
    }
}
