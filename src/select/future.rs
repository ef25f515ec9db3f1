//! The response future of [`AccountSelect`](super::AccountSelect): an explicit state machine
//! (binding lookup → select, maybe wait → atomic bind → call inner → stamp and re-bind).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{HeaderValue, Request, Response};
use pin_project_lite::pin_project;
use rota_core::scheduler::{DEFAULT_WAIT_BUDGET, Unavailable};
use rota_core::store::StoreFuture;
use rota_core::{
    AccountId, Decision, Mode, ObjectOwner, Pick, Protocol, RequestFacts, SelectRequest, Selection,
    SessionId,
};
use tower::Service;

use super::credential::{InjectCredential, rewrite_model};
use crate::Pool;
use crate::caps::{Admit, CapPermit, FULL_RETRY};
use crate::error::{BoxError, Error};
use crate::ext::{self, Attempt, Attempted, GraceAccount, SelectedAccount, verdict};
use crate::headers::{X_ACCOUNT_EMAIL, X_MAPPED_MODEL, X_ROTA_ATTEMPTS, X_ROTA_DECISION};
use crate::pool::detach;

pin_project! {
    /// Response future of [`AccountSelect`](super::AccountSelect).
    pub struct ResponseFuture<S, I>
    where
        S: Service<Request<Bytes>>,
    {
        #[pin]
        state: State<S::Future>,
        ctx: Ctx<S, I>,
    }
}

pin_project! {
    #[project = StateProj]
    enum State<F> {
        Owner { fut: StoreFuture<Option<ObjectOwner>> },
        Lookup { fut: StoreFuture<Option<AccountId>> },
        Select,
        Sleeping { #[pin] sleep: tokio::time::Sleep, since: Instant },
        Binding { fut: StoreFuture<AccountId>, pick: Pick },
        Calling { #[pin] fut: F, pick: Pick },
        Done,
    }
}

/// Everything the state machine carries between states.
struct Ctx<S, I> {
    pool: Pool,
    injector: I,
    inner: Option<S>,
    req: Option<Request<Bytes>>,
    protocol: Protocol,
    /// The upstream model (after mapping); empty when the request names none.
    model: Arc<str>,
    model_changed: bool,
    model_span: Option<std::ops::Range<usize>>,
    /// The session, when the mode keeps bindings.
    session: Option<SessionId>,
    /// The owner of the object the request continues, once looked up (SPEC §3a).
    owner: Option<AccountId>,
    /// Accounts at a cap, left out of this selection, and when the first of them frees.
    capped: Vec<AccountId>,
    cap_until: Option<Instant>,
    /// The in-flight slot of the picked account, if it caps concurrency.
    permit: Option<CapPermit>,
    attempt: u32,
    attempted: Vec<AccountId>,
    grace: Option<AccountId>,
    bound: Option<AccountId>,
    bind_checked: bool,
    waited: Duration,
}

impl<S, I> std::fmt::Debug for ResponseFuture<S, I>
where
    S: Service<Request<Bytes>>,
{
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResponseFuture")
            .field("model", &self.ctx.model)
            .field("attempt", &self.ctx.attempt)
            .finish_non_exhaustive()
    }
}

impl<S, I> ResponseFuture<S, I>
where
    S: Service<Request<Bytes>>,
{
    pub(super) fn new(req: Request<Bytes>, inner: S, pool: Pool, injector: I) -> Self {
        let ext = req.extensions();
        let facts = ext.get::<RequestFacts>();
        let protocol = ext::protocol(&req);
        let asked = facts.and_then(|f| f.model.as_ref());
        let mapped = pool.mapping().map(asked.map_or("", |m| m));
        let model: Arc<str> = match asked {
            // Unmapped: share the facts' string.
            Some(asked) if **asked == *mapped => asked.clone(),
            _ => mapped.into(),
        };
        let model_changed = asked.map_or("", |m| m) != &*model;
        let attempt = ext.get::<Attempt>().copied().unwrap_or_default().0;
        let settings = pool.settings();
        // The `SessionId` extension first: a replacement session layer may leave only that.
        let session = ext
            .get::<SessionId>()
            .or_else(|| facts.and_then(|f| f.session_id.as_ref()))
            .cloned()
            .filter(|_| settings.mode.uses_bindings());
        let state = match facts.and_then(|f| f.object.as_deref()) {
            // Every attempt asks: an object's owner is its only candidate on each of them.
            Some(object) => State::Owner {
                fut: pool.objects().owner(object, pool.now()),
            },
            None => lookup(&pool, session.as_ref(), attempt),
        };
        let ctx = Ctx {
            protocol,
            model,
            model_changed,
            model_span: facts.and_then(|f| f.model_span.clone()),
            session,
            owner: None,
            capped: Vec::new(),
            cap_until: None,
            permit: None,
            attempt,
            attempted: ext
                .get::<Attempted>()
                .map(|a| a.0.clone())
                .unwrap_or_default(),
            grace: ext.get::<GraceAccount>().map(|g| g.0),
            bound: None,
            bind_checked: false,
            waited: Duration::ZERO,
            pool,
            injector,
            inner: Some(inner),
            req: Some(req),
        };
        Self { state, ctx }
    }
}

/// The state after the owner lookup: the session's binding lookup on a first attempt.
fn lookup<F>(pool: &Pool, session: Option<&SessionId>, attempt: u32) -> State<F> {
    match session {
        Some(s) if attempt == 0 => State::Lookup {
            fut: pool.store().get(s, pool.now()),
        },
        _ => State::Select,
    }
}

const STORE_FAILED: &str = "binding store write failed";

enum Next {
    Wait(Instant),
    Bind(Pick),
    Call(Pick),
}

impl<S, I> Ctx<S, I>
where
    S: Service<Request<Bytes>>,
    I: InjectCredential,
{
    /// What the scheduler is asked for this attempt, leaving out `attempted`.
    fn request<'a>(&'a self, attempted: &'a [AccountId]) -> SelectRequest<'a> {
        SelectRequest {
            model: &self.model,
            attempt: self.attempt,
            attempted,
            bound: self.bound,
            grace: self.grace,
            waited: self.waited,
            owner: self.owner,
        }
    }

    fn select(&mut self) -> Result<Next, Error> {
        let excluded;
        let attempted: &[AccountId] = if self.capped.is_empty() {
            &self.attempted
        } else {
            excluded = [&self.attempted[..], &self.capped[..]].concat();
            &excluded
        };
        let req = self.request(attempted);
        match self.pool.scheduler().select(&req, self.pool.now()) {
            Selection::Picked(pick) => {
                if let Some(gate) = self.pool.caps() {
                    match gate.admit(pick.account) {
                        Admit::Yes(permit) => self.permit = permit,
                        capped => return self.capped_out(pick, capped),
                    }
                }
                let new_session = self.session.is_some() && self.bound.is_none();
                if new_session && self.attempt == 0 && !self.bind_checked {
                    Ok(Next::Bind(pick))
                } else {
                    Ok(Next::Call(pick))
                }
            }
            Selection::Wait { until } => Ok(Next::Wait(until)),
            Selection::Unavailable(Unavailable::AllLimited { retry_after })
                if self.cap_until.is_some() =>
            {
                self.all_capped(retry_after)
            }
            Selection::Unavailable(why) => {
                let (attempts, account) = (self.attempt, self.attempted.last().copied());
                Err(match why {
                    Unavailable::AllLimited { retry_after } => Error::AllAccountsLimited {
                        retry_after,
                        attempts,
                        account,
                    },
                    Unavailable::NoAccounts => Error::NoAccounts { attempts, account },
                    Unavailable::OwnerDisabled => Error::OwnerDisabled {
                        account: self.owner.unwrap_or(AccountId(0)),
                        attempts,
                    },
                })
            }
        }
    }

    /// The picked account is at a cap: a conversation in CacheFirst waits for its own
    /// account's slot within `max_wait_seconds`; otherwise the account is left out and the
    /// selection runs again (at most once per account).
    fn capped_out(&mut self, pick: Pick, capped: Admit) -> Result<Next, Error> {
        let now = self.pool.now();
        let until = match capped {
            Admit::Until(until) => until,
            _ => now + FULL_RETRY,
        };
        let settings = self.pool.settings();
        if pick.decision == Decision::Sticky
            && settings.mode == Mode::CacheFirst
            && until.saturating_duration_since(now) <= settings.max_wait.saturating_sub(self.waited)
        {
            return Ok(Next::Wait(until));
        }
        self.capped.push(pick.account);
        self.cap_until = Some(self.cap_until.map_or(until, |u| u.min(until)));
        self.select()
    }

    /// Nothing is usable and some accounts were left out at their caps: wait for the first
    /// slot (or cooldown end) within the wait budget, else "all limited" until then.
    fn all_capped(&mut self, cooling: Duration) -> Result<Next, Error> {
        let now = self.pool.now();
        // Whether an account left out at its cap would serve but for the cap: then only the
        // caps hold the request back, and the scheduler's "retry after" (its default when
        // nothing cools) says nothing.
        let uncapped = self.request(&self.attempted);
        let only_caps = self.pool.scheduler().any_usable(&uncapped, now);
        let cap_until = self.cap_until.unwrap_or(now + FULL_RETRY);
        let until = if only_caps {
            cap_until
        } else {
            cap_until.min(now + cooling)
        };
        let settings = self.pool.settings();
        let budget = match settings.mode {
            Mode::CacheFirst => settings.max_wait,
            _ => DEFAULT_WAIT_BUDGET,
        }
        .saturating_sub(self.waited);
        if until.saturating_duration_since(now) <= budget {
            return Ok(Next::Wait(until));
        }
        Err(Error::AllAccountsLimited {
            retry_after: until.saturating_duration_since(now),
            attempts: self.attempt,
            account: self.attempted.last().copied(),
        })
    }

    /// The request continues an object: its owner is the only candidate, and the session is
    /// that of the request that created the object (SPEC §2 rule 2), so the chain stays one
    /// conversation. No bind-if-absent race: the owner is not a choice.
    fn continue_object(&mut self, owner: ObjectOwner) {
        self.owner = Some(owner.account);
        self.bind_checked = true;
        if let Some(session) = owner.session {
            if self.pool.settings().mode.uses_bindings() {
                self.session = Some(session.clone());
            }
            // Inner layers (the mark layer learning the next object of the chain) see it too.
            if let Some(req) = &mut self.req {
                req.extensions_mut().insert(session);
            }
        }
    }

    fn call(&mut self, pick: Pick) -> S::Future {
        let mut req = self.req.take().expect("a request is called once");
        let mut inner = self.inner.take().expect("the inner service is called once");
        if self.model_changed {
            rewrite_model(
                &mut req,
                self.protocol,
                self.model_span.clone(),
                &self.model,
            );
        }
        let account = self.pool.account(pick.account);
        self.injector.inject(&mut req, account, self.protocol);
        if let Some(permit) = self.permit.take() {
            req.extensions_mut().insert(ext::CapSlot(Arc::new(permit)));
        }
        req.extensions_mut().insert(self.selected(pick));
        let span = tracing::Span::current();
        span.record("account", account.email.as_str());
        span.record("decision", pick.decision.as_str());
        span.record("attempt", self.attempt);
        span.record("mapped_model", &*self.model);
        self.pool.counters().decision(pick.decision);
        inner.call(req)
    }

    fn selected(&self, pick: Pick) -> SelectedAccount {
        SelectedAccount {
            id: pick.account,
            decision: pick.decision,
            model: self.model.clone(),
        }
    }

    fn finish<B>(
        &mut self,
        pick: Pick,
        res: Result<Response<B>, S::Error>,
    ) -> Result<Response<B>, BoxError>
    where
        S::Error: Into<BoxError>,
    {
        let mut res = match res {
            Ok(res) => res,
            Err(err) => {
                self.rebind(pick.account, false);
                return Err(Error::Upstream {
                    account: pick.account,
                    attempts: self.attempt + 1,
                    pinned: self.owner.is_some(),
                    source: err.into(),
                }
                .into());
            }
        };
        let outcome = verdict(&res);
        if outcome.is_success() || outcome.is_failure() {
            self.rebind(pick.account, outcome.is_success());
        }
        let headers = res.headers_mut();
        if let Some(label) = self.pool.label(pick.account) {
            headers.insert(X_ACCOUNT_EMAIL, label.clone());
        }
        if let Ok(model) = HeaderValue::from_str(&self.model)
            && !self.model.is_empty()
        {
            headers.insert(X_MAPPED_MODEL, model);
        }
        headers.insert(X_ROTA_ATTEMPTS, attempts_value(self.attempt + 1));
        headers.insert(
            X_ROTA_DECISION,
            HeaderValue::from_static(pick.decision.as_str()),
        );
        let selected = self.selected(pick);
        res.extensions_mut().insert(selected);
        if self.owner.is_some() {
            res.extensions_mut().insert(ext::ObjectOwner(pick.account));
        }
        Ok(res)
    }

    /// Moves the binding to the account that served a success; unbinds a failed account.
    fn rebind(&self, account: AccountId, success: bool) {
        let Some(session) = &self.session else { return };
        let store = self.pool.store();
        if success {
            if self.bound != Some(account) {
                detach(store.bind(session, account, self.pool.now()), STORE_FAILED);
            }
        } else {
            detach(store.unbind_if(session, account), STORE_FAILED);
        }
    }
}

/// `X-Rota-Attempts`: a static value for 1..=9 (`HeaderValue::from(u32)` formats and
/// allocates).
fn attempts_value(n: u32) -> HeaderValue {
    const SMALL: [&str; 9] = ["1", "2", "3", "4", "5", "6", "7", "8", "9"];
    match n.checked_sub(1).and_then(|i| SMALL.get(i as usize)) {
        Some(s) => HeaderValue::from_static(s),
        None => HeaderValue::from(n),
    }
}

impl<S, I, B> Future for ResponseFuture<S, I>
where
    S: Service<Request<Bytes>, Response = Response<B>>,
    S::Error: Into<BoxError>,
    I: InjectCredential,
{
    type Output = Result<Response<B>, BoxError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        let ctx = this.ctx;
        loop {
            match this.state.as_mut().project() {
                StateProj::Owner { fut } => {
                    let owner = ready!(Pin::new(fut).poll(cx)).unwrap_or_else(|err| {
                        tracing::warn!(%err, "object store lookup failed; scheduling without it");
                        None
                    });
                    let next = match owner {
                        Some(owner) => {
                            ctx.continue_object(owner);
                            State::Select
                        }
                        None => lookup(&ctx.pool, ctx.session.as_ref(), ctx.attempt),
                    };
                    this.state.set(next);
                }
                StateProj::Lookup { fut } => {
                    ctx.bound = ready!(Pin::new(fut).poll(cx)).unwrap_or_else(|err| {
                        tracing::warn!(%err, "binding store lookup failed; scheduling without it");
                        None
                    });
                    this.state.set(State::Select);
                }
                StateProj::Select => match ctx.select() {
                    Ok(Next::Wait(until)) => this.state.set(State::Sleeping {
                        sleep: tokio::time::sleep_until(until.into()),
                        since: ctx.pool.now(),
                    }),
                    Ok(Next::Bind(pick)) => {
                        let session = ctx.session.as_ref().expect("Bind implies a session");
                        let fut =
                            ctx.pool
                                .store()
                                .bind_if_absent(session, pick.account, ctx.pool.now());
                        this.state.set(State::Binding { fut, pick });
                    }
                    Ok(Next::Call(pick)) => {
                        let fut = ctx.call(pick);
                        this.state.set(State::Calling { fut, pick });
                    }
                    Err(err) => {
                        this.state.set(State::Done);
                        return Poll::Ready(Err(err.into()));
                    }
                },
                StateProj::Sleeping { sleep, since } => {
                    ready!(sleep.poll(cx));
                    ctx.waited += ctx.pool.now().saturating_duration_since(*since);
                    // Every account is asked again: slots may have freed meanwhile.
                    ctx.capped.clear();
                    ctx.cap_until = None;
                    this.state.set(State::Select);
                }
                StateProj::Binding { fut, pick } => {
                    let pick = *pick;
                    let winner = ready!(Pin::new(fut).poll(cx)).unwrap_or(pick.account);
                    ctx.bind_checked = true;
                    if winner == pick.account {
                        ctx.bound = Some(winner);
                        let fut = ctx.call(pick);
                        this.state.set(State::Calling { fut, pick });
                    } else {
                        // A concurrent first request of this session bound it first: follow it.
                        ctx.bound = Some(winner);
                        this.state.set(State::Select);
                    }
                }
                StateProj::Calling { fut, pick } => {
                    let pick = *pick;
                    let res = ready!(fut.poll(cx));
                    this.state.set(State::Done);
                    return Poll::Ready(ctx.finish(pick, res));
                }
                StateProj::Done => panic!("ResponseFuture polled after completion"),
            }
        }
    }
}
