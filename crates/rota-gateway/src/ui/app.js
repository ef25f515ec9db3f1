// rota console: one page over the admin API. The token lives in this tab's sessionStorage
// only; every request sends it as `Authorization: Bearer`. No framework, no build step.
'use strict';
(() => {
  const KEY = 'rota.adminToken';
  const REFRESH_MS = 2000; // GET /admin/accounts
  const TICK_MS = 250; // cooldown countdowns, computed here from remaining_ms
  const FEED_ROWS = 100;
  const $ = (id) => document.getElementById(id);

  let token = sessionStorage.getItem(KEY);
  let accounts = []; // the last GET /admin/accounts
  let fetchedAt = 0; // performance.now() when it arrived
  let timers = [];
  let feed = null; // AbortController of the open feed
  const rows = new Map(); // email -> the row's cells and buttons

  class Refused extends Error {}

  function show(which) {
    for (const id of ['loading', 'login', 'off', 'console']) $(id).hidden = id !== which;
    $('forget').hidden = which !== 'console';
    if (which !== 'console') setFeedState('');
  }

  function stop() {
    timers.forEach(clearInterval);
    timers = [];
    if (feed) feed.abort();
    feed = null;
  }

  function askToken(message) {
    stop();
    show('login');
    $('login-error').textContent = message;
    $('token').value = '';
    $('token').focus();
  }

  function forget(message) {
    token = null;
    sessionStorage.removeItem(KEY);
    askToken(message);
  }

  // One admin API call: the JSON answer, or an Error with the API's message. A 401 forgets
  // the token and asks for it again.
  async function api(method, path, body) {
    const headers = { Authorization: 'Bearer ' + token };
    const init = { method, headers, cache: 'no-store' };
    if (body !== undefined) {
      headers['Content-Type'] = 'application/json';
      init.body = JSON.stringify(body);
    }
    const res = await fetch(path, init);
    if (res.status === 401) {
      forget('The gateway refused the admin token (401). Enter it again.');
      throw new Refused();
    }
    let data = null;
    try { data = await res.json(); } catch (_) { /* not JSON */ }
    if (res.status === 404 && path === '/admin/scheduling') {
      stop();
      show('off');
      throw new Refused();
    }
    if (!res.ok) {
      throw new Error((data && data.error && data.error.message) || 'HTTP ' + res.status);
    }
    return data;
  }

  // Runs `fn`, showing its result (or failure) in `el`.
  async function act(el, fn) {
    el.className = 'msg';
    el.textContent = '…';
    try {
      el.textContent = await fn();
    } catch (e) {
      if (e instanceof Refused) return;
      el.className = 'msg error';
      el.textContent = 'Failed: ' + e.message;
    }
  }

  // ---- token ----
  $('login-form').addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const candidate = $('token').value.trim();
    if (!candidate) return;
    let res;
    try {
      res = await fetch('/admin/scheduling', {
        headers: { Authorization: 'Bearer ' + candidate }, cache: 'no-store',
      });
    } catch (e) {
      $('login-error').textContent = 'The gateway did not answer: ' + e.message;
      return;
    }
    if (res.status === 401) {
      $('login-error').textContent = 'Wrong token: the gateway refused it (401). Try again.';
      $('token').select();
      return;
    }
    if (res.status === 404) { show('off'); return; }
    if (!res.ok) { $('login-error').textContent = 'Unexpected answer: HTTP ' + res.status; return; }
    token = candidate;
    sessionStorage.setItem(KEY, token);
    $('login-error').textContent = '';
    openConsole();
  });

  $('forget').addEventListener('click', () => forget(''));

  // ---- scheduling card ----
  function syncMaxWait() {
    $('max-wait').disabled = $('mode').value !== 'CacheFirst';
  }

  let edited = false; // the scheduling form holds edits not applied yet

  function fillScheduling(s) {
    $('mode').value = s.mode;
    $('max-wait').value = s.max_wait_seconds;
    $('window').value = s.window_seconds;
    edited = false;
    syncMaxWait();
  }

  $('mode').addEventListener('change', syncMaxWait);
  $('sched-form').addEventListener('input', () => { edited = true; });

  // Another operator (another tab, another replica) may change the settings: the card follows
  // them, but never overwrites edits not applied yet, nor a change made here meanwhile.
  let changes = 0; // changes made from this page so far

  async function refreshCard() {
    const before = changes;
    const [s, f] = await Promise.all([
      api('GET', '/admin/scheduling'), api('GET', '/admin/fixed-account'),
    ]);
    if (changes !== before) return;
    if (!edited) fillScheduling(s);
    fillFixed(f);
  }

  $('sched-form').addEventListener('submit', (ev) => {
    ev.preventDefault();
    act($('sched-msg'), async () => {
      const body = { mode: $('mode').value, window_seconds: Number($('window').value) };
      if (body.mode === 'CacheFirst') body.max_wait_seconds = Number($('max-wait').value);
      changes += 1;
      const s = await api('PUT', '/admin/scheduling', body);
      fillScheduling(s);
      return 'Saved: ' + s.mode + (s.mode === 'CacheFirst' ? ', wait ≤ ' + s.max_wait_seconds + ' s' : '') +
        ', window ' + s.window_seconds + ' s';
    });
  });

  function fillFixed(f) {
    $('fixed-on').checked = f.email !== null;
    if (f.email !== null) $('fixed-account').value = f.email;
  }

  function applyFixed() {
    act($('fixed-msg'), async () => {
      const email = $('fixed-on').checked ? $('fixed-account').value : null;
      changes += 1;
      const f = await api('PUT', '/admin/fixed-account', { email });
      fillFixed(f);
      return f.email === null ? 'Off: accounts are scheduled' : 'Every request goes to ' + f.email;
    });
  }

  $('fixed-form').addEventListener('submit', (ev) => ev.preventDefault());
  $('fixed-on').addEventListener('change', applyFixed);
  $('fixed-account').addEventListener('change', () => { if ($('fixed-on').checked) applyFixed(); });

  $('clear-bindings').addEventListener('click', () => act($('clear-msg'), async () => {
    const r = await api('POST', '/admin/bindings/clear');
    return 'Cleared ' + r.cleared + (r.cleared === 1 ? ' binding' : ' bindings');
  }));

  // ---- accounts ----
  function duration(ms) {
    const s = ms / 1000;
    if (s < 60) return s.toFixed(1) + ' s';
    const m = Math.floor(s / 60);
    if (m < 60) return m + 'm ' + String(Math.floor(s % 60)).padStart(2, '0') + 's';
    return Math.floor(m / 60) + 'h ' + String(m % 60).padStart(2, '0') + 'm';
  }

  // GET /admin/accounts: cache_hit_ratio = cached ÷ input prompt tokens, null before any usage.
  function hitRatio(a) {
    const r = a.cache_hit_ratio;
    return typeof r === 'number' && Number.isFinite(r) ? (r * 100).toFixed(1) + ' %' : '—';
  }

  function makeRow(email) {
    const tr = document.createElement('tr');
    tr.dataset.email = email;
    const name = document.createElement('th');
    name.scope = 'row';
    name.className = 'email';
    name.textContent = email;
    tr.append(name);
    const cell = (cls) => {
      const td = document.createElement('td');
      td.className = cls;
      tr.append(td);
      return td;
    };
    const r = {
      tr, tier: cell('tier'), status: cell('status'), cooldown: cell('cooldown'),
      reason: cell('reason'), requests: cell('requests num'), failures: cell('failures num'),
      hit: cell('hit num'),
    };
    const actions = cell('actions');
    const button = (cls, label, onClick) => {
      const b = document.createElement('button');
      b.type = 'button';
      b.className = cls;
      b.textContent = label;
      b.addEventListener('click', onClick);
      actions.append(b);
      return b;
    };
    const path = '/admin/accounts/' + encodeURIComponent(email);
    r.toggle = button('toggle', 'Disable', () => act($('acc-error'), async () => {
      const a = accounts.find((x) => x.email === email);
      await api('POST', path + (a && a.disabled ? '/enable' : '/disable'));
      await loadAccounts();
      return '';
    }));
    r.clear = button('clear', 'Clear cooldowns', () => act($('acc-error'), async () => {
      await api('DELETE', path + '/cooldowns');
      await loadAccounts();
      return '';
    }));
    r.clear.setAttribute('aria-label', 'Clear cooldowns of ' + email);
    return r;
  }

  function renderAccounts() {
    const body = $('acc-body');
    const seen = new Set();
    for (const a of accounts) {
      seen.add(a.email);
      let r = rows.get(a.email);
      if (!r) { r = makeRow(a.email); rows.set(a.email, r); }
      body.append(r.tr); // keeps the API's order; moving a row keeps its focus
      r.tier.textContent = a.tier;
      const status = a.disabled ? 'disabled' : (a.cooldowns.length ? 'cooling' : 'ready');
      r.status.textContent = status;
      r.status.className = 'status ' + status;
      r.reason.textContent = a.disabled_reason || '—';
      r.requests.textContent = a.requests;
      r.failures.textContent = a.failures;
      r.hit.textContent = hitRatio(a);
      r.toggle.textContent = a.disabled ? 'Enable' : 'Disable';
      r.toggle.setAttribute('aria-label', r.toggle.textContent + ' ' + a.email);
    }
    for (const [email, r] of rows) {
      if (!seen.has(email)) { r.tr.remove(); rows.delete(email); }
    }
    renderCooldowns();
    fillAccountChoice();
  }

  function renderCooldowns() {
    const elapsed = performance.now() - fetchedAt;
    for (const a of accounts) {
      const r = rows.get(a.email);
      if (!r) continue;
      const parts = a.cooldowns
        .map((c) => ({ c, left: c.remaining_ms - elapsed }))
        .filter((x) => x.left > 0)
        .map((x) => (x.c.model ? x.c.model + ': ' : '') + duration(x.left) + ' (' + x.c.reason + ')');
      const text = parts.length ? parts.join(', ') : '—';
      if (r.cooldown.textContent !== text) r.cooldown.textContent = text;
      r.cooldown.classList.toggle('none', !parts.length);
    }
  }

  function fillAccountChoice() {
    const select = $('fixed-account');
    const emails = accounts.map((a) => a.email);
    const now = Array.from(select.options, (o) => o.value);
    if (now.join('\n') === emails.join('\n')) return;
    const chosen = select.value;
    select.replaceChildren(...emails.map((e) => new Option(e, e)));
    if (emails.includes(chosen)) select.value = chosen;
  }

  async function loadAccounts() {
    const list = await api('GET', '/admin/accounts');
    accounts = list;
    fetchedAt = performance.now();
    renderAccounts();
    $('acc-updated').textContent = 'updated ' + new Date().toLocaleTimeString();
  }

  // ---- live feed: GET /admin/events read as a stream (EventSource cannot send headers) ----
  function setFeedState(text) {
    $('feed-state').textContent = text ? 'feed: ' + text : '';
  }

  function addFeedRow(e) {
    const tr = document.createElement('tr');
    const when = new Date(e.time);
    const cells = [
      Number.isNaN(when.getTime()) ? e.time : when.toLocaleTimeString(),
      e.route, e.session, e.account, e.decision, e.attempts, e.status, e.model,
    ];
    cells.forEach((v, i) => {
      const td = document.createElement('td');
      td.textContent = v === null || v === undefined ? '—' : String(v);
      if (i === 5 || i === 6) td.className = 'num';
      if (i === 6) td.classList.add(e.status < 400 ? 'ok' : 'bad');
      tr.append(td);
    });
    const body = $('feed-body');
    body.prepend(tr);
    while (body.rows.length > FEED_ROWS) body.lastElementChild.remove();
    $('feed-empty').hidden = true;
  }

  function onBlock(block) {
    let event = 'message';
    let data = '';
    for (const line of block.split('\n')) {
      if (line === '' || line.startsWith(':')) continue;
      const colon = line.indexOf(':');
      const field = colon < 0 ? line : line.slice(0, colon);
      let value = colon < 0 ? '' : line.slice(colon + 1);
      if (value.startsWith(' ')) value = value.slice(1);
      if (field === 'event') event = value;
      else if (field === 'data') data += (data ? '\n' : '') + value;
    }
    if (!data) return;
    if (event === 'skipped') {
      setFeedState('live (' + data + ' requests skipped: this page fell behind)');
    } else {
      addFeedRow(JSON.parse(data));
    }
  }

  async function openFeed() {
    if (feed) feed.abort();
    const ctl = new AbortController();
    feed = ctl;
    setFeedState('connecting…');
    try {
      const res = await fetch('/admin/events', {
        headers: { Authorization: 'Bearer ' + token }, signal: ctl.signal, cache: 'no-store',
      });
      if (res.status === 401) { forget('The gateway refused the admin token (401). Enter it again.'); return; }
      if (!res.ok || !res.body) throw new Error('HTTP ' + res.status);
      setFeedState('live');
      const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
      let buf = '';
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buf += value.replace(/\r\n?/g, '\n');
        let end;
        while ((end = buf.indexOf('\n\n')) >= 0) {
          onBlock(buf.slice(0, end));
          buf = buf.slice(end + 2);
        }
      }
    } catch (_) { /* reconnect below, unless aborted */ }
    if (ctl.signal.aborted || feed !== ctl) return;
    setFeedState('reconnecting…');
    setTimeout(() => { if (feed === ctl) openFeed(); }, 2000);
  }

  // ---- start ----
  async function openConsole() {
    stop();
    show('console');
    try {
      const [s] = await Promise.all([api('GET', '/admin/scheduling'), loadAccounts()]);
      fillScheduling(s);
      fillFixed(await api('GET', '/admin/fixed-account'));
    } catch (e) {
      if (e instanceof Refused) return;
      $('acc-error').className = 'error';
      $('acc-error').textContent = 'Could not load: ' + e.message;
    }
    timers.push(setInterval(() => {
      Promise.all([loadAccounts(), refreshCard()]).then(
        () => { if ($('acc-error').textContent.startsWith('Could not')) $('acc-error').textContent = ''; },
        (e) => {
          if (e instanceof Refused) return;
          $('acc-error').className = 'error';
          $('acc-error').textContent = 'Could not refresh: ' + e.message;
        },
      );
    }, REFRESH_MS));
    timers.push(setInterval(renderCooldowns, TICK_MS));
    openFeed();
  }

  async function start() {
    if (token) { openConsole(); return; }
    // No token yet: is the admin API on at all? (404 without a token means it is off.)
    let res = null;
    try { res = await fetch('/admin/scheduling', { cache: 'no-store' }); } catch (_) { /* ask anyway */ }
    if (res && res.status === 404) show('off');
    else askToken('');
  }

  start();
})();
