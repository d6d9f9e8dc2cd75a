/*
 * Outpost's settings page.  Plain JavaScript, no libraries, no inline
 * script (the page's Content-Security-Policy forbids it).  Everything
 * shown from the server goes through textContent, never innerHTML.
 *
 * The session: POST /api/login sets an HttpOnly cookie and returns the
 * CSRF token, which every POST/PUT/DELETE sends as X-CSRF-Token.  After a
 * reload, GET /api/session returns the token again.
 */
'use strict';

(function () {
  const $ = (id) => document.getElementById(id);

  const state = {
    csrf: null,
    view: null,
    profiles: [],
    version: null,
    editing: null,        // name of the profile in the form, null for a new one
    original: null,       // the profile as the server last sent it
    redirect: null,       // {enabled, reports}
    logBefore: null,
    logTimer: null,
    healthTimer: null,
    message: null,        // id shown in the message panel
  };

  const SECURITY_PORT = { starttls: '587', tls: '465', none: '25' };
  const PORT_HELP = {
    '587': '587: submission; the connection starts plain and switches to TLS (STARTTLS).',
    '465': '465: submission over TLS from the first byte (“SSL”).',
    '25': '25: server-to-server SMTP; often blocked by networks and providers.',
  };
  const STEP_NAMES = {
    resolve: 'Resolve host name', connect: 'Connect', greeting: 'Greeting',
    ehlo: 'EHLO', starttls: 'STARTTLS', tls: 'TLS', certificate: 'Certificate',
    auth: 'Authentication (AUTH)', sender: 'Sender address accepted',
  };
  const STEP_ICON = { ok: '✓', failed: '✗', skipped: '–', warning: '!' };
  const STATE_NAMES = ['queued', 'sending', 'deferred', 'sent', 'failed', 'held'];

  /* ---------- helpers ---------- */

  class ApiError extends Error {
    constructor(message, status, data) {
      super(message);
      this.status = status;
      this.data = data || null;
    }
  }

  async function api(method, path, body, opts) {
    opts = opts || {};
    const headers = { Accept: 'application/json' };
    const init = { method, headers, credentials: 'same-origin', cache: 'no-store' };
    if (body !== undefined && body !== null) {
      headers['Content-Type'] = 'application/json';
      init.body = JSON.stringify(body);
    }
    if (method !== 'GET' && state.csrf) headers['X-CSRF-Token'] = state.csrf;
    if (opts.ifMatch) headers['If-Match'] = '"' + opts.ifMatch + '"';
    if (opts.createOnly) headers['If-None-Match'] = '*';
    let res;
    try {
      res = await fetch(path, init);
    } catch (err) {
      throw new ApiError('Cannot reach Outpost. Is it running? (' + err.message + ')', 0);
    }
    let data = null;
    const type = res.headers.get('Content-Type') || '';
    if (type.indexOf('application/json') === 0) {
      try { data = await res.json(); } catch (err) { data = null; }
    }
    if (res.status === 401 && !opts.allow401) {
      showLogin('Your session has ended. Log in again.');
      throw new ApiError('Not logged in', 401, data);
    }
    if (!res.ok && !(opts.accept || []).includes(res.status)) {
      const msg = data && data.error ? data.error : 'Outpost answered ' + res.status + ' ' + res.statusText;
      throw new ApiError(msg, res.status, data);
    }
    return { status: res.status, data };
  }

  function el(tag, attrs, ...children) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === null || v === undefined || v === false) continue;
      if (k === 'class') e.className = v;
      else if (k === 'text') e.textContent = v;
      else if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
      else if (v === true) e.setAttribute(k, '');
      else e.setAttribute(k, v);
    }
    for (const c of children) {
      if (c === null || c === undefined || c === false) continue;
      e.append(c instanceof Node ? c : document.createTextNode(String(c)));
    }
    return e;
  }

  function show(node, on) { node.hidden = !on; }

  function setStatus(node, text, kind) {
    node.textContent = text || '';
    node.className = 'status' + (kind ? ' ' + kind : '');
  }

  function showAlert(node, text) {
    node.textContent = text || '';
    show(node, !!text);
  }

  function busy(button, on, label) {
    if (on) {
      button.dataset.label = button.textContent;
      button.textContent = label;
      button.disabled = true;
      button.classList.add('busy');
    } else {
      if (button.dataset.label) button.textContent = button.dataset.label;
      button.disabled = false;
      button.classList.remove('busy');
    }
  }

  /* A time in the browser's language (its own 12- or 24-hour clock),
   * with the ISO 8601 form in the title. */
  function when(iso) {
    if (!iso) return '–';
    const d = new Date(iso);
    if (isNaN(d)) return iso;
    return d.toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'medium' });
  }

  function timeEl(iso) {
    return iso ? el('time', { datetime: iso, title: iso, text: when(iso) }) : '–';
  }

  /* An address that may wrap after its '@', never inside a word. */
  function addrEl(tag, attrs, text) {
    const node = el(tag, attrs);
    const at = text.lastIndexOf('@');
    if (at > 0) node.append(text.slice(0, at + 1), el('wbr'), text.slice(at + 1));
    else node.append(text);
    return node;
  }

  /* "test_email" -> "test email" */
  const kindWords = (k) => String(k || '').replace(/_/g, ' ');

  /* Messages from the server name settings by their keys in outpost.conf
   * ("security = tls", "tls_ca_file"); the page names them by the labels
   * of its form instead. */
  const LABELS = {
    host: 'Host', port: 'Port', security: 'Security', auth: 'Use authentication',
    username: 'Username', password: 'Password', from: 'Sender address',
    tls_verify: 'Verify TLS certificate', enabled: 'Enabled',
    tls_ca_file: 'Extra CA certificate file', limits: 'Sending limits',
    max_connections: 'Connections at once', timeout: 'Timeout',
    force_from: 'Send every message as the sender address',
    allow_plaintext_auth: 'Allow the password over an unencrypted connection',
    reports: 'Report addresses', name: 'Name',
    oauth_grant: 'Grant', oauth_tenant: 'Tenant', oauth_client_id: 'Client ID',
    oauth_client_secret: 'Client secret', oauth_token_command: 'Token command',
  };
  const VALUE_LABELS = {
    security: { starttls: 'STARTTLS', tls: 'TLS / SSL', none: 'None' },
  };
  const ON_OFF = { yes: 'on', true: 'on', on: 'on', no: 'off', false: 'off', off: 'off' };

  const BOOL_KEYS = ['auth', 'tls_verify', 'enabled', 'force_from', 'allow_plaintext_auth'];

  function labelText(text) {
    if (!text) return text;
    const keys = Object.keys(LABELS).join('|');
    const val = (k, v) => (VALUE_LABELS[k] && VALUE_LABELS[k][v] ? '“' + VALUE_LABELS[k][v] + '”' : v);
    return String(text)
      .replace(/\boutpost\.conf:\d+: /g, '')
      .replace(new RegExp('(\\bset )?\\b(' + keys + ') ?= ?([\\w-]+)( or (tls|starttls|none)\\b)?', 'g'),
        (all, set, k, v, or, v2) => {
          const label = '“' + LABELS[k] + '”';
          if (BOOL_KEYS.includes(k) && ON_OFF[v]) return (set ? 'turn ' + ON_OFF[v] + ' ' + label : label + ' ' + ON_OFF[v]);
          const shown = val(k, v) + (or ? ' or ' + val(k, v2) : '');
          return (set ? 'set ' + label + ' to ' : label + ' ') + shown;
        })
      .replace(new RegExp('(^|\\n|; )(' + keys + '): ', 'g'), (all, pre, k) => pre + LABELS[k] + ': ')
      .replace(/\b(tls_ca_file|tls_verify|allow_plaintext_auth|force_from|max_connections|max_messages_per_connection)\b/g,
        (all, k) => '“' + (LABELS[k] || k) + '”');
  }

  /* RFC 2047 encoded-words in a Subject: =?charset?B|Q?text?= */
  function decodeWords(s) {
    if (!s) return s;
    return s.replace(/=\?([^?]+)\?([bBqQ])\?([^?]*)\?=(\s+(?==\?))?/g, (all, cs, enc, text) => {
      try {
        let bytes;
        if (enc.toUpperCase() === 'B') {
          bytes = Uint8Array.from(atob(text), (c) => c.charCodeAt(0));
        } else {
          const t = text.replace(/_/g, ' ');
          const out = [];
          for (let i = 0; i < t.length; i++) {
            if (t[i] === '=' && /^[0-9A-Fa-f]{2}$/.test(t.substr(i + 1, 2))) {
              out.push(parseInt(t.substr(i + 1, 2), 16));
              i += 2;
            } else {
              out.push(t.charCodeAt(i));
            }
          }
          bytes = Uint8Array.from(out);
        }
        return new TextDecoder(cs.toLowerCase()).decode(bytes);
      } catch (err) {
        return all;
      }
    });
  }

  const looksLikeAddress = (s) => /^[^\s@]+@[^\s@]+\.[^\s@]+$|^[^\s@]+@[^\s@.]+$/.test(s);
  const looksLikeHost = (s) => /^(\[[0-9A-Fa-f:.]+\]|[0-9A-Fa-f:]*:[0-9A-Fa-f:.]+|[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.?)$/.test(s) && s.length <= 253;

  /* ---------- session and navigation ---------- */

  function showLogin(message) {
    state.csrf = null;
    stopTimers();
    for (const v of document.querySelectorAll('.view')) show(v, false);
    show($('nav'), false);
    show($('logout'), false);
    show($('redirect-banner'), false);
    show($('view-login'), true);
    const err = $('login-token-error');
    err.textContent = message || '';
    show(err, !!message);
    $('login-token').focus();
  }

  async function login(ev) {
    ev.preventDefault();
    const input = $('login-token');
    const err = $('login-token-error');
    const button = ev.target.querySelector('button[type=submit]');
    const token = input.value.trim();
    if (!token) {
      err.textContent = 'Enter the API token.';
      show(err, true);
      input.setAttribute('aria-invalid', 'true');
      return;
    }
    busy(button, true, 'Logging in…');
    try {
      const r = await api('POST', '/api/login', { token }, { allow401: true, accept: [401, 429] });
      if (r.status !== 200) {
        err.textContent = r.status === 401 ? 'That is not the API token.' : (r.data && r.data.error) || 'Login failed.';
        show(err, true);
        input.setAttribute('aria-invalid', 'true');
        return;
      }
      state.csrf = r.data.csrf_token;
      input.value = '';
      input.removeAttribute('aria-invalid');
      show(err, false);
      startApp();
    } catch (e) {
      err.textContent = e.message;
      show(err, true);
    } finally {
      busy(button, false);
    }
  }

  async function logout() {
    try { await api('POST', '/api/logout'); } catch (e) { /* ended anyway */ }
    showLogin();
  }

  function startApp() {
    show($('view-login'), false);
    show($('nav'), true);
    show($('logout'), true);
    refreshHealth();
    state.healthTimer = setInterval(refreshHealth, 10000);
    route();
  }

  function stopTimers() {
    clearInterval(state.healthTimer);
    clearInterval(state.logTimer);
    state.healthTimer = state.logTimer = null;
  }

  function route() {
    if (!state.csrf) return;
    const view = (location.hash || '#profiles').slice(1);
    const known = ['profiles', 'redirect', 'log'];
    const v = known.includes(view) ? view : 'profiles';
    state.view = v;
    for (const name of known) show($('view-' + name), name === v);
    for (const a of document.querySelectorAll('#nav a')) {
      if (a.dataset.view === v) a.setAttribute('aria-current', 'page');
      else a.removeAttribute('aria-current');
    }
    showAlert($('global-error'), '');
    clearInterval(state.logTimer);
    state.logTimer = null;
    if (v === 'profiles') loadProfiles();
    if (v === 'redirect') loadRedirect();
    if (v === 'log') {
      loadLog(true);
      /* every 2 s while mail is in flight, else every 10 s */
      state.logTick = 0;
      state.logTimer = setInterval(() => {
        state.logTick++;
        if (state.logBusy || state.logTick % 5 === 0) loadLog(false, true);
      }, 2000);
    }
  }

  async function refreshHealth() {
    try {
      const r = await api('GET', '/api/health', null, { accept: [503] });
      show($('redirect-banner'), !!r.data.redirect);
      show($('insecure-banner'), !!r.data.http_insecure);
      if (r.data.queue) renderCounts(r.data.queue);
    } catch (e) { /* the next call will say it */ }
  }

  /* ---------- profiles ---------- */

  async function loadProfiles() {
    show($('profiles-loading'), state.profiles.length === 0);
    try {
      const r = await api('GET', '/api/profiles');
      state.profiles = r.data.profiles;
      state.version = r.data.version;
      renderProfiles();
      renderOAuthBanner();
    } catch (e) {
      if (e.status !== 401) showAlert($('global-error'), e.message);
    } finally {
      show($('profiles-loading'), false);
    }
  }

  /* ---------- OAuth2 sign-in (auth = oauth2) ---------- */

  const authOn = (p) => !!p.auth && p.auth !== 'no';

  /* "Sign in with Microsoft" / "with Google" by the provider or its
   * endpoints; "Sign in" for any other. */
  function signinLabel(p) {
    const prov = String(p.provider || '');
    const url = String(p.oauth_authorize_url || '');
    if (/^(microsoft365|outlook)$/.test(prov) || url.includes('login.microsoftonline.com')) return 'Sign in with Microsoft';
    if (/^(gmail|google-workspace)$/.test(prov) || url.includes('accounts.google.com')) return 'Sign in with Google';
    return 'Sign in';
  }

  const canSignIn = (p) => p && p.auth === 'oauth2' && p.oauth_grant === 'authorization_code' && !!p.oauth_authorize_url;
  const needsSignIn = (p) => p.auth === 'oauth2' && p.oauth && (p.oauth.needs_signin || !p.oauth.signed_in);

  /* The server's sentence without the command-line advice the page
   * replaces with its button. */
  function oauthProblem(p) {
    const msg = String((p.oauth && p.oauth.error) || '')
      .replace(/^no OAuth2 access token: /, '')
      .replace(/profile \S+ is not signed in:? ?/, '')
      .replace(/:? ?sign in (again )?with `outpost oauth login [^`]*`( \(or the page's Sign in button\))?\.?/, '')
      .replace(/`/g, '')
      .trim();
    return msg ? msg.charAt(0).toUpperCase() + msg.slice(1).replace(/[.:;,]?$/, '.') : 'Nobody has signed in yet.';
  }

  async function startSignIn(name, button) {
    if (button) busy(button, true, 'Opening the sign-in…');
    try {
      const r = await api('POST', '/api/profiles/' + encodeURIComponent(name) + '/oauth/start', {});
      window.location.assign(r.data.authorize_url);
    } catch (e) {
      if (button) busy(button, false);
      if (e.status !== 401) showAlert($('global-error'), 'Could not start the sign-in for “' + name + '”: ' + labelText(e.message));
    }
  }

  function renderOAuthBanner() {
    const b = $('oauth-banner');
    const waiting = state.profiles.filter((p) => p.enabled && needsSignIn(p));
    b.replaceChildren();
    for (const p of waiting) {
      const row = el('div', { class: 'banner-row', 'data-profile': p.name },
        el('span', {},
          el('strong', { text: '“' + p.name + '” needs a sign-in. ' }),
          el('span', { class: 'banner-why', text: oauthProblem(p) + ' ' }),
          el('span', { text: 'Mail for it waits until someone signs in.' })));
      if (canSignIn(p)) {
        row.append(el('button', { type: 'button', class: 'small', text: signinLabel(p),
          onclick: (ev) => startSignIn(p.name, ev.target) }));
      } else {
        row.append(el('span', { class: 'muted', text: ' Fix its OAuth2 settings (Grant, Client ID, Client secret).' }));
      }
      b.append(row);
    }
    show(b, waiting.length > 0);
  }

  /* The sign-in part of the form: for the profile as saved. */
  function updateSignIn() {
    const o = state.original;
    const box = $('signin-box');
    const kind = authKind();
    const saved = canSignIn(o) && kind === 'oauth2' && field('oauth_grant').value === 'authorization_code';
    show(box, field('auth').checked && kind === 'oauth2');
    const st = $('signin-status');
    const btn = $('signin');
    show(btn, saved);
    if (!saved) {
      st.textContent = kind === 'oauth2' && field('oauth_grant').value === 'authorization_code'
        ? 'Save the profile, then sign in here.' : 'No sign-in by a person: Outpost gets the token itself.';
      st.className = 'help';
      return;
    }
    btn.textContent = o.oauth && o.oauth.signed_in ? signinLabel(o) + ' again' : signinLabel(o);
    if (o.oauth && o.oauth.signed_in && !o.oauth.needs_signin) {
      st.textContent = 'Signed in.' + (o.oauth.expires ? ' The current token is valid until ' +
        new Date(o.oauth.expires * 1000).toLocaleString() + '; Outpost renews it itself.' : '');
      st.className = 'help ok';
    } else {
      st.textContent = 'Not signed in: ' + oauthProblem(o) + ' Mail for this profile waits.';
      st.className = 'help warn';
    }
  }

  function authKind() {
    const r = form().querySelector('input[name="auth_kind"]:checked');
    return r ? r.value : 'password';
  }

  /* ---------- end of OAuth2 ---------- */

  function securityLabel(s) {
    return s === 'tls' ? 'TLS' : s === 'none' ? 'no encryption' : 'STARTTLS';
  }

  function renderProfiles() {
    const list = $('profile-list');
    list.replaceChildren();
    show($('profiles-empty'), state.profiles.length === 0);
    state.profiles.forEach((p, i) => {
      const toggle = el('input', {
        type: 'checkbox', role: 'switch', 'aria-label': 'Enabled: ' + p.name,
        onchange: (ev) => setEnabled(p, ev.target),
      });
      toggle.checked = p.enabled;
      const meta = [p.host + ':' + p.port, securityLabel(p.security)];
      if (authOn(p)) meta.push(p.username ? 'login ' + p.username : 'login');
      if (p.auth === 'oauth2') meta.push(needsSignIn(p) ? 'sign-in needed' : 'signed in (OAuth2)');
      else if (authOn(p) && !p.has_password) meta.push('password needed');
      if (!p.tls_verify && p.security !== 'none') meta.push('certificate not verified');
      const li = el('li', { class: 'profile' + (p.enabled ? '' : ' disabled'), 'data-name': p.name, draggable: 'true' },
        el('span', { class: 'order', 'aria-hidden': 'true', text: String(i + 1) }),
        el('div', { class: 'info' },
          el('div', { class: 'name', text: p.name }),
          el('div', { class: 'meta', text: meta.join(' · ') })),
        el('label', { class: 'switch' }, toggle, el('span', { class: 'track', 'aria-hidden': 'true' }),
          el('span', { class: 'switch-text', text: p.enabled ? 'On' : 'Off' })),
        el('div', { class: 'buttons' },
          el('button', { type: 'button', class: 'icon', title: 'Move up', 'aria-label': 'Move ' + p.name + ' up',
            disabled: i === 0, onclick: () => move(i, -1), text: '↑' }),
          el('button', { type: 'button', class: 'icon', title: 'Move down', 'aria-label': 'Move ' + p.name + ' down',
            disabled: i === state.profiles.length - 1, onclick: () => move(i, 1), text: '↓' }),
          el('button', { type: 'button', class: 'secondary small', onclick: () => openEditor(p), text: 'Edit' }),
          el('button', { type: 'button', class: 'danger small', onclick: () => removeProfile(p), text: 'Delete' })));
      li.addEventListener('dragstart', (ev) => {
        ev.dataTransfer.setData('text/plain', String(i));
        li.classList.add('dragging');
      });
      li.addEventListener('dragend', () => li.classList.remove('dragging'));
      li.addEventListener('dragover', (ev) => { ev.preventDefault(); li.classList.add('drop'); });
      li.addEventListener('dragleave', () => li.classList.remove('drop'));
      li.addEventListener('drop', (ev) => {
        ev.preventDefault();
        li.classList.remove('drop');
        const from = parseInt(ev.dataTransfer.getData('text/plain'), 10);
        if (!isNaN(from) && from !== i) reorder(from, i);
      });
      list.append(li);
    });
  }

  async function setEnabled(p, input) {
    input.disabled = true;
    try {
      await api('PUT', '/api/profiles/' + encodeURIComponent(p.name), { enabled: input.checked }, { ifMatch: state.version });
      await loadProfiles();
      refreshHealth();
    } catch (e) {
      input.checked = !input.checked;
      if (e.status !== 401) showAlert($('global-error'), 'Could not change “' + p.name + '”: ' + e.message);
    } finally {
      input.disabled = false;
    }
  }

  function move(i, delta) { reorder(i, i + delta); }

  async function reorder(from, to) {
    const names = state.profiles.map((p) => p.name);
    const [n] = names.splice(from, 1);
    names.splice(to, 0, n);
    try {
      const r = await api('POST', '/api/profiles/order', { order: names }, { ifMatch: state.version });
      state.profiles = r.data.profiles;
      state.version = r.data.version;
      renderProfiles();
    } catch (e) {
      if (e.status !== 401) showAlert($('global-error'), 'Could not reorder: ' + e.message);
      loadProfiles();
    }
  }

  async function removeProfile(p) {
    if (!(await confirmDialog('Delete the profile “' + p.name + '”? Its settings are removed from outpost.conf.'))) return;
    try {
      await api('DELETE', '/api/profiles/' + encodeURIComponent(p.name), null, { ifMatch: state.version });
      if (state.editing === p.name) closeEditor();
      await loadProfiles();
    } catch (e) {
      if (e.status !== 401) showAlert($('global-error'), 'Could not delete “' + p.name + '”: ' + e.message);
    }
  }

  function confirmDialog(text) {
    const d = $('confirm-dialog');
    $('confirm-text').textContent = text;
    return new Promise((resolve) => {
      d.addEventListener('close', () => resolve(d.returnValue === 'yes'), { once: true });
      d.returnValue = 'no';
      d.showModal();
    });
  }

  /* ---------- the profile form ---------- */

  const form = () => $('profile-form');
  const field = (name) => form().elements[name];

  const DEFAULTS = {
    name: '', host: '', port: 587, security: 'starttls', auth: 'yes', username: '',
    from: '', tls_verify: true, enabled: true, limits: '', max_connections: 4,
    timeout: '30s', tls_ca_file: '', force_from: false, allow_plaintext_auth: false,
    has_password: false, oauth_grant: 'authorization_code', oauth_tenant: '', oauth_client_id: '', provider: 'custom', region: '',
  };

  function openEditor(p) {
    const f = form();
    state.editing = p ? p.name : null;
    state.original = p ? Object.assign({}, p) : null;
    const v = Object.assign({}, DEFAULTS, p || {});
    $('editor-title').textContent = p ? 'Edit “' + p.name + '”' : 'New profile';
    for (const name of ['name', 'host', 'port', 'username', 'from', 'limits', 'max_connections', 'timeout', 'tls_ca_file']) {
      field(name).value = v[name] === null || v[name] === undefined ? '' : String(v[name]);
    }
    field('security').value = v.security;
    for (const name of ['tls_verify', 'enabled', 'force_from', 'allow_plaintext_auth']) field(name).checked = !!v[name];
    field('auth').checked = authOn(v);
    for (const r of form().querySelectorAll('input[name="auth_kind"]')) r.checked = r.value === (v.auth === 'oauth2' ? 'oauth2' : 'password');
    field('oauth_grant').value = v.oauth_grant || 'authorization_code';
    for (const name of ['oauth_tenant', 'oauth_client_id']) field(name).value = v[name] || '';
    field('oauth_client_secret').value = '';
    field('oauth_token_command').value = v.has_token_command ? 'set in outpost.conf' : '';
    field('password').value = '';
    providerOpen(v);
    clearErrors();
    showAlert($('form-error'), '');
    setStatus($('save-status'), '');
    show($('diagnosis'), false);
    show($('save-anyway-box'), false);
    updateFormHints();
    show(f, true);
    f.scrollIntoView({ behavior: 'smooth', block: 'start' });
    (p ? field('host') : field('name')).focus({ preventScroll: true });
  }

  function closeEditor() {
    show(form(), false);
    state.editing = null;
    state.original = null;
  }

  function serverMoved() {
    const o = state.original;
    if (!o) return false;
    return field('host').value.trim().toLowerCase() !== String(o.host || '').toLowerCase() ||
      field('port').value.trim() !== String(o.port) ||
      field('security').value !== o.security;
  }

  function updateFormHints() {
    const auth = field('auth').checked;
    const kind = authKind();
    for (const n of form().querySelectorAll('.auth-only')) {
      show(n, auth && !(n.classList.contains('oauth-only') && kind !== 'oauth2') &&
        !(n.classList.contains('password-only') && kind === 'oauth2'));
    }
    const oc = state.original;
    $('client-secret-help').textContent = oc && oc.has_client_secret ? 'A client secret is stored. Leave this empty to keep it.'
      : 'Only for apps that have one (Microsoft web apps, client credentials, Google).';
    field('oauth_client_secret').placeholder = oc && oc.has_client_secret ? '•••••••• (stored)' : '';
    updateSignIn();
    show($('tls-verify-warning'), !field('tls_verify').checked);
    $('port-help').textContent = PORT_HELP[field('port').value.trim()] || '';
    const ph = $('password-help');
    const o = state.original;
    if (o && o.has_password && serverMoved() && !field('password').value) {
      ph.textContent = 'You changed the server: the stored password will be cleared. Enter it again.';
      ph.className = 'help warn';
    } else if (o && o.has_password) {
      ph.textContent = o.password_source === 'inline' ? 'A password is stored. Leave this empty to keep it.'
        : 'The password comes from ' + (o.password_source === 'file' ? 'password_file' : 'password_command') +
          ' in outpost.conf. Typing one here replaces that.';
      ph.className = 'help';
    } else {
      ph.textContent = '';
      ph.className = 'help';
    }
    field('password').placeholder = o && o.has_password ? '•••••••• (stored)' : '';
    $('test-email').disabled = !state.editing;
    $('test-email').title = state.editing ? '' : 'Save the profile first';
  }

  function setError(name, msg) {
    const p = form().querySelector('.field-error[data-for="' + name + '"]');
    const input = field(name);
    if (input && input.setAttribute) {
      if (msg) input.setAttribute('aria-invalid', 'true');
      else input.removeAttribute('aria-invalid');
    }
    if (!p) return !!msg;
    p.textContent = labelText(msg) || '';
    show(p, !!msg);
    if (p.id === '' && input && input.id) {
      p.id = input.id + '-error';
      input.setAttribute('aria-describedby', p.id);
    }
    return !!msg;
  }

  function clearErrors() {
    for (const p of form().querySelectorAll('.field-error')) { p.textContent = ''; show(p, false); }
    for (const i of form().querySelectorAll('[aria-invalid]')) i.removeAttribute('aria-invalid');
  }

  /* Client-side checks: quick, obvious mistakes only.  The server's
   * checks (the same as `outpost config check`) are the real ones. */
  const CHECKS = {
    name: (v) => state.editing === null && !v ? 'Give the profile a name.'
      : v && !/^[A-Za-z0-9_][A-Za-z0-9._-]{0,63}$/.test(v) ? 'Use letters, digits, “-”, “_” and “.” (at most 64).' : '',
    host: (v) => !v ? 'Enter the SMTP server’s host name, for example smtp.example.com.'
      : !looksLikeHost(v) ? 'This is not a host name or IP address.' : '',
    port: (v) => !/^\d+$/.test(v) || +v < 1 || +v > 65535 ? 'Enter a port from 1 to 65535 (usually 587 or 465).' : '',
    username: (v) => field('auth').checked && !v ? (authKind() === 'oauth2'
      ? 'Enter the mailbox the token is for, for example noreply@example.com.' : 'Enter the username your provider gave you.') : '',
    oauth_client_id: (v) => field('auth').checked && authKind() === 'oauth2' && field('oauth_grant').value !== 'command' && !v
      ? 'Enter the client ID (application ID) of the app you registered.' : '',
    password: (v) => {
      if (!field('auth').checked || authKind() === 'oauth2' || v) return '';
      const o = state.original;
      if (!o || !o.has_password) return 'Enter the password.';
      if (serverMoved()) return 'Enter the password again: changing the server clears the stored one.';
      return '';
    },
    from: (v) => {
      if (!v) return '';
      const m = /^(.*?)\s*<([^<>]*)>$/.exec(v);
      return looksLikeAddress(m ? m[2] : v) && !/[\r\n]/.test(v) ? ''
        : 'Enter an address like noreply@example.com, or Name <noreply@example.com>.';
    },
    limits: (v) => v && !/^\s*\d+\s*\/\s*[smhd]\s*(,\s*\d+\s*\/\s*[smhd]\s*)*$/.test(v) ? 'Write limits like 14/s, 10000/d.' : '',
    max_connections: (v) => v && (!/^\d+$/.test(v) || +v < 1 || +v > 100) ? 'A number from 1 to 100.' : '',
    timeout: (v) => v && !/^\d+\s*[smhd]$/.test(v) ? 'A duration like 30s or 2m.' : '',
  };

  function checkField(name) {
    const f = CHECKS[name];
    if (!f) return false;
    return setError(name, f(field(name).value.trim()));
  }

  function checkAll() {
    let first = null;
    for (const name of Object.keys(CHECKS)) {
      if (checkField(name) && !first) first = name;
    }
    return first;
  }

  function formValues() {
    const v = {};
    for (const n of ['name', 'host', 'port', 'username', 'from', 'limits', 'max_connections', 'timeout', 'tls_ca_file']) {
      v[n] = field(n).value.trim();
    }
    v.security = field('security').value;
    for (const n of ['tls_verify', 'enabled', 'force_from', 'allow_plaintext_auth']) v[n] = field(n).checked;
    v.auth = !field('auth').checked ? 'no' : authKind() === 'oauth2' ? 'oauth2' : 'yes';
    if (v.auth === 'oauth2') {
      for (const n of ['oauth_grant', 'oauth_tenant', 'oauth_client_id']) v[n] = field(n).value.trim();
      v.oauth_client_secret = field('oauth_client_secret').value;
    } else {
      v.password = field('password').value;
    }
    providerValues(v);
    return v;
  }

  /* What to send: for a new profile every field that is set; for an
   * existing one only what changed, so nothing else in the file moves. */
  function payload(v) {
    const o = state.original;
    const out = {};
    const numeric = ['port', 'max_connections'];
    const core = ['host', 'port', 'security', 'auth', 'username', 'from', 'tls_verify', 'enabled'];
    for (const [k, val] of Object.entries(v)) {
      if (k === 'name' || k === 'password' || k === 'oauth_client_secret') continue;
      let sendVal = val;
      if (numeric.includes(k)) sendVal = val === '' ? null : parseInt(val, 10);
      else if (typeof val === 'string' && val === '') sendVal = null;
      if (!o) {
        /* new: the main settings, and the others only if not the default */
        if (sendVal === null) continue;
        if (!core.includes(k) && String(DEFAULTS[k]) === String(sendVal)) continue;
        out[k] = sendVal;
        continue;
      }
      const before = o[k] === undefined || o[k] === '' ? null : o[k];
      const same = (before === null && sendVal === null) || String(before) === String(sendVal);
      if (!same) out[k] = sendVal;
    }
    if (v.password) out.password = v.password;
    if (v.oauth_client_secret) out.oauth_client_secret = v.oauth_client_secret;
    if (o && v.name && v.name !== o.name) out.name = v.name;
    return out;
  }

  /* Save: the settings are tested first (PUT ?check=yes runs the
   * connection check on them before anything is stored); when the check
   * fails nothing is stored, the failed step is shown, and "Save anyway"
   * stores them without the check. */
  async function save(ev) {
    ev.preventDefault();
    showAlert($('form-error'), '');
    setStatus($('save-status'), '');
    const bad = checkAll() || takenName();
    if (bad) {
      if (bad !== 'name' && bad !== 'host' && bad !== 'port' && bad !== 'username' && bad !== 'password' && bad !== 'from') {
        form().querySelector('details.advanced').open = true;
      }
      field(bad).focus();
      setStatus($('save-status'), 'Fix the marked fields first.', 'error');
      return;
    }
    /* an OAuth2 profile nobody signed in to yet cannot pass the check:
     * saved as it is, then the sign-in */
    const o = state.original;
    const v = formValues();
    if (v.auth === 'oauth2' && v.oauth_grant === 'authorization_code' && !(o && o.oauth && o.oauth.signed_in)) {
      await store(false);
      return;
    }
    await store(true);
  }

  /* Adding a profile never replaces one: a name in the list is refused
   * here, and the server refuses a name taken meanwhile (If-None-Match). */
  function takenName() {
    if (state.editing) return null;
    const name = field('name').value.trim();
    if (!state.profiles.some((p) => p.name === name)) return null;
    setError('name', 'A profile called “' + name + '” already exists. Choose another name, or edit that profile.');
    return 'name';
  }

  async function store(testFirst) {
    const v = formValues();
    const creating = !state.editing;
    const name = state.editing || v.name;
    const body = payload(v);
    const button = testFirst ? $('save') : $('save-anyway');
    show($('save-anyway-box'), false);
    busy(button, true, testFirst ? 'Testing…' : 'Saving…');
    if (testFirst) {
      const box = $('diagnosis');
      show(box, true);
      box.className = 'diagnosis running';
      $('diagnosis-steps').replaceChildren();
      $('diagnosis-summary').textContent = 'Testing the connection with these settings before saving them…';
    }
    try {
      const r = await api('PUT', '/api/profiles/' + encodeURIComponent(name) + (testFirst ? '?check=yes' : ''), body,
        /* a new profile changes nothing else in the file: its only
         * precondition is that the name is free */
        { ifMatch: creating ? null : state.version, createOnly: creating, accept: [409, 412, 422] });
      if (r.status === 422 && r.data && r.data.check) {
        renderDiagnosis(r.data.check);
        show($('save-anyway-box'), true);
        setStatus($('save-status'), 'Not saved: the connection check failed.', 'error');
        return;
      }
      if (testFirst) show($('diagnosis'), false);
      const fields = (r.data && r.data.fields) || {};
      if (r.status === 412 || (r.status === 409 && creating && fields.name)) {
        setError('name', fields.name || r.data.error);
        showAlert($('form-error'), 'Not saved: ' + labelText(r.data.error));
        field('name').focus();
        loadProfiles();
        return;
      }
      if (r.status === 422) {
        let shown = false;
        for (const [k, msg] of Object.entries(fields)) {
          if (setError(k, msg)) shown = true;
          if (['limits', 'max_connections', 'timeout', 'tls_ca_file', 'force_from', 'allow_plaintext_auth'].includes(k)) {
            form().querySelector('details.advanced').open = true;
          }
        }
        const err = labelText(r.data.error);
        showAlert($('form-error'), shown ? 'Not saved: ' + err + '.' : 'Not saved: ' + err);
        const firstBad = Object.keys(fields).find((k) => field(k));
        if (firstBad) field(firstBad).focus();
        return;
      }
      if (r.status === 409) {
        showAlert($('form-error'), 'Not saved: ' + r.data.error + '. Your input is still here; ' +
          'open the profile again from the list to see the current settings.');
        loadProfiles();
        return;
      }
      state.version = r.data.version;
      state.editing = r.data.profile.name;
      state.original = r.data.profile;
      field('name').value = r.data.profile.name;
      field('password').value = '';
      field('oauth_client_secret').value = '';
      $('editor-title').textContent = 'Edit “' + r.data.profile.name + '”';
      clearErrors();
      updateFormHints();
      if (r.data.check) {
        renderDiagnosis(r.data.check);
        show($('diagnosis'), true);
      }
      let note = r.data.password_cleared ? ' The stored password was cleared.' : '';
      if (r.data.tokens_dropped) note += ' The sign-in was dropped with the change: sign in again.';
      else if (needsSignIn(r.data.profile) && canSignIn(r.data.profile)) note += ' Now sign in.';
      const oauthFirst = !testFirst && r.data.profile.auth === 'oauth2' && needsSignIn(r.data.profile);
      setStatus($('save-status'), (testFirst || oauthFirst ? 'Saved.' : 'Saved without a passing check.') + note, testFirst || oauthFirst ? 'ok' : 'warn');
      loadProfiles();
    } catch (e) {
      if (testFirst) show($('diagnosis'), false);
      if (e.status !== 401) showAlert($('form-error'), 'Not saved: ' + labelText(e.message));
    } finally {
      busy(button, false);
    }
  }

  function renderDiagnosis(d) {
    const box = $('diagnosis');
    const list = $('diagnosis-steps');
    box.className = 'diagnosis ' + (d.ok ? 'ok' : 'failed');
    const failed = d.steps.find((s) => !s.ok);
    const warned = d.steps.some((s) => s.status === 'warning');
    $('diagnosis-summary').textContent = d.ok
      ? (warned ? 'The server works, with a warning below.' : 'Everything works: Outpost can send through this server.')
      : 'The check failed at “' + (STEP_NAMES[failed && failed.step] || (failed && failed.step) || '?') + '”.';
    list.replaceChildren();
    for (const s of d.steps) {
      const status = s.status || (s.ok ? 'ok' : 'failed');
      list.append(el('li', { class: 'step ' + status, 'data-step': s.step },
        el('span', { class: 'icon', 'aria-hidden': 'true', text: STEP_ICON[status] || '?' }),
        el('div', { class: 'body' },
          el('div', { class: 'title' },
            el('span', { text: STEP_NAMES[s.step] || s.step }),
            el('span', { class: 'sr-only', text: ' – ' + status })),
          s.detail ? el('div', { class: 'detail', text: labelText(s.detail) }) : null,
          s.hint ? el('div', { class: 'hint', text: labelText(s.hint) }) : null)));
    }
  }

  /* ---------- test email ---------- */

  function openTestDialog() {
    if (!state.editing) return;
    const d = $('test-dialog');
    $('test-profile-note').textContent = 'Sent now through the saved settings of “' + state.editing + '”.';
    show($('test-result'), false);
    $('t-to-error').hidden = true;
    $('t-to').removeAttribute('aria-invalid');
    d.showModal();
    $('t-to').focus();
  }

  async function sendTest(ev) {
    ev.preventDefault();
    const to = $('t-to').value.trim();
    const err = $('t-to-error');
    if (!looksLikeAddress(to)) {
      err.textContent = 'Enter the address to send to, like you@example.com.';
      show(err, true);
      $('t-to').setAttribute('aria-invalid', 'true');
      return;
    }
    show(err, false);
    $('t-to').removeAttribute('aria-invalid');
    const result = $('test-result');
    const button = $('t-send');
    busy(button, true, 'Sending…');
    result.className = 'result running';
    result.replaceChildren(el('p', { text: 'Sending the test email…' }));
    show(result, true);
    try {
      const r = await api('POST', '/api/test-email', { to, profile: state.editing }, { accept: [400, 404, 422] });
      if (r.status !== 200) {
        const f = (r.data && r.data.fields) || {};
        result.className = 'result failed';
        result.replaceChildren(el('p', { class: 'headline', text: 'Not sent.' }),
          el('p', { text: labelText(f.to || r.data.error) }));
        return;
      }
      const t = r.data;
      result.className = 'result ' + (t.ok ? 'ok' : 'failed');
      result.replaceChildren(...[
        el('p', { class: 'headline', text: t.ok ? 'Sent. The server accepted the test email.' : 'Not sent.' }),
        t.ok ? null : el('p', { text: labelText(t.message) }),
        t.reply ? el('p', {}, 'Server reply: ', el('code', { class: 'reply', text: t.reply })) : null,
        t.hint ? el('p', { class: 'hint', text: labelText(t.hint) }) : null].filter(Boolean));
    } catch (e) {
      if (e.status === 401) { $('test-dialog').close(); return; }
      result.className = 'result failed';
      result.replaceChildren(el('p', { class: 'headline', text: 'Not sent.' }), el('p', { text: e.message }));
    } finally {
      busy(button, false);
    }
  }

  /* ---------- redirect ---------- */

  /* The form is off until the settings are read: a box ticked before
   * they arrive would be reset by them, and Save would store the old. */
  function redirectFormEnabled(on) {
    for (const x of $('redirect-form').elements) x.disabled = !on;
  }

  async function loadRedirect() {
    redirectFormEnabled(false);
    try {
      const r = await api('GET', '/api/redirect');
      state.redirect = { enabled: r.data.enabled, reports: r.data.reports.map((x) => Object.assign({}, x)) };
      state.version = r.data.version;
      $('r-enabled').checked = r.data.enabled;
      showAlert($('redirect-error'), '');
      setStatus($('redirect-status'), '');
      renderReports();
      redirectFormEnabled(true);
    } catch (e) {
      if (e.status !== 401) showAlert($('global-error'), e.message);
    }
  }

  function renderReports() {
    const list = $('report-list');
    list.replaceChildren();
    const reports = state.redirect.reports;
    show($('reports-empty'), reports.length === 0);
    reports.forEach((x, i) => {
      const id = 'report-' + i;
      const toggle = el('input', { type: 'checkbox', role: 'switch', id, onchange: (ev) => { x.enabled = ev.target.checked; } });
      toggle.checked = x.enabled;
      list.append(el('li', { class: 'report' },
        el('span', { class: 'email', text: x.email }),
        el('label', { class: 'switch', for: id }, toggle, el('span', { class: 'track', 'aria-hidden': 'true' }),
          el('span', { class: 'switch-text', text: 'Enabled' })),
        el('button', { type: 'button', class: 'ghost small', 'aria-label': 'Remove ' + x.email,
          onclick: () => { reports.splice(i, 1); renderReports(); }, text: 'Remove' })));
    });
  }

  function addReport() {
    const input = $('r-new');
    const err = $('r-new-error');
    const v = input.value.trim();
    let msg = '';
    if (!looksLikeAddress(v)) msg = 'Enter an address like qa@example.com.';
    else if (state.redirect.reports.some((x) => x.email.toLowerCase() === v.toLowerCase())) msg = 'This address is already in the list.';
    err.textContent = msg;
    show(err, !!msg);
    if (msg) { input.setAttribute('aria-invalid', 'true'); return; }
    input.removeAttribute('aria-invalid');
    state.redirect.reports.push({ email: v, enabled: true });
    input.value = '';
    renderReports();
  }

  async function saveRedirect(ev) {
    ev.preventDefault();
    const button = ev.target.querySelector('button[type=submit]');
    showAlert($('redirect-error'), '');
    setStatus($('redirect-status'), '');
    if ($('r-new').value.trim()) addReport();
    const body = { enabled: $('r-enabled').checked, reports: state.redirect.reports };
    busy(button, true, 'Saving…');
    try {
      const r = await api('PUT', '/api/redirect', body, { ifMatch: state.version, accept: [409, 422] });
      if (r.status !== 200) {
        const f = (r.data && r.data.fields) || {};
        const details = Object.entries(f).map(([k, m]) => {
          const i = /^reports\[(\d+)\]$/.exec(k);
          return (i ? state.redirect.reports[+i[1]].email : k === 'enabled' ? 'Redirect' : LABELS[k] || k) + ': ' + m;
        });
        showAlert($('redirect-error'), 'Not saved: ' + labelText(r.data.error) + (details.length ? ' – ' + details.join('; ') : ''));
        return;
      }
      state.redirect = { enabled: r.data.enabled, reports: r.data.reports };
      state.version = r.data.version;
      renderReports();
      show($('redirect-banner'), r.data.enabled);
      setStatus($('redirect-status'), 'Saved.', 'ok');
    } catch (e) {
      if (e.status !== 401) showAlert($('redirect-error'), 'Not saved: ' + e.message);
    } finally {
      busy(button, false);
    }
  }

  /* ---------- delivery log ---------- */

  function renderCounts(counts) {
    const ul = $('counts');
    ul.replaceChildren();
    for (const s of STATE_NAMES) {
      const n = counts[s] || 0;
      ul.append(el('li', {},
        el('button', { type: 'button', class: 'count ' + s + (n ? '' : ' zero'), 'data-state': s,
          onclick: () => { $('log-status').value = s; loadLog(true); } },
          el('span', { class: 'n', text: String(n) }), el('span', { class: 'label', text: s }))));
    }
  }

  async function loadLog(reset, quiet) {
    if (reset) state.logBefore = null;
    const status = $('log-status').value;
    const params = new URLSearchParams({ limit: '50' });
    if (status) params.set('status', status);
    const q = $('log-search').value.trim();
    if (q) params.set('to', q);
    if (!quiet) show($('log-loading'), true);
    try {
      const r = await api('GET', '/api/messages?' + params.toString());
      renderCounts(r.data.counts);
      /* refreshes by itself, more often while mail is in flight */
      const c = r.data.counts;
      state.logBusy = (c.queued || 0) + (c.sending || 0) + (c.deferred || 0) > 0;
      renderLog(r.data.messages, false);
      show($('log-more'), r.data.more);
      state.logBefore = r.data.messages.length ? r.data.messages[r.data.messages.length - 1].id : null;
      if (state.message && quiet) showMessage(state.message, true);
    } catch (e) {
      if (e.status !== 401 && !quiet) showAlert($('global-error'), e.message);
    } finally {
      show($('log-loading'), false);
    }
  }

  async function loadMore() {
    const status = $('log-status').value;
    const params = new URLSearchParams({ limit: '50' });
    if (status) params.set('status', status);
    const q = $('log-search').value.trim();
    if (q) params.set('to', q);
    if (state.logBefore) params.set('before', state.logBefore);
    try {
      const r = await api('GET', '/api/messages?' + params.toString());
      renderLog(r.data.messages, true);
      show($('log-more'), r.data.more);
      if (r.data.messages.length) state.logBefore = r.data.messages[r.data.messages.length - 1].id;
    } catch (e) {
      if (e.status !== 401) showAlert($('global-error'), e.message);
    }
  }

  function badge(s) {
    return el('span', { class: 'badge ' + s, text: s });
  }

  function renderLog(messages, append) {
    const body = $('log-rows');
    if (!append) body.replaceChildren();
    for (const m of messages) {
      const tr = el('tr', { tabindex: '0', 'data-id': m.id, class: m.id === state.message ? 'selected' : null },
        el('td', { 'data-label': 'Accepted' }, timeEl(m.created)),
        el('td', { 'data-label': 'State' }, badge(m.state)),
        addrEl('td', { 'data-label': 'From', class: 'addr' }, m.from || '<>'),
        el('td', { 'data-label': 'Subject', class: 'subject', text: decodeWords(m.subject) || '' }),
        addrEl('td', { 'data-label': 'Recipients', class: 'addr' },
          (m.first_recipient || '') + (m.recipients_total > 1 ? ' +' + (m.recipients_total - 1) + ' more' : '')),
        el('td', { 'data-label': 'Attempts', text: String(m.attempts) }),
        el('td', { 'data-label': 'Last reply', class: m.state === 'sent' ? 'reply' : 'err',
          text: m.last_reply || m.last_error || '' }));
      tr.addEventListener('click', () => showMessage(m.id));
      tr.addEventListener('keydown', (ev) => { if (ev.key === 'Enter') showMessage(m.id); });
      body.append(tr);
    }
    const empty = body.children.length === 0;
    show($('log-empty'), empty);
    show($('log-table'), !empty);
  }

  async function showMessage(id, quiet) {
    state.message = id;
    for (const tr of $('log-rows').children) tr.classList.toggle('selected', tr.dataset.id === id);
    const panel = $('message-panel');
    if (!quiet) {
      showAlert($('m-error'), '');
      setStatus($('m-status'), '');
    }
    try {
      const r = await api('GET', '/api/messages/' + encodeURIComponent(id), null, { accept: [404] });
      if (r.status === 404) {
        if (!quiet) showAlert($('global-error'), 'That message is gone.');
        show(panel, false);
        state.message = null;
        return;
      }
      renderMessage(r.data);
      show(panel, true);
      if (!quiet) panel.scrollIntoView({ behavior: 'smooth', block: 'nearest' });
    } catch (e) {
      if (e.status !== 401 && !quiet) showAlert($('m-error'), e.message);
    }
  }

  function renderMessage(m) {
    $('m-title').textContent = decodeWords(m.subject) || '(no subject)';
    const facts = $('m-facts');
    facts.replaceChildren();
    const add = (k, v) => { if (v !== null && v !== undefined && v !== '') facts.append(el('dt', { text: k }), el('dd', {}, v)); };
    add('State', badge(m.state));
    add('From', m.from || '<>');
    add('Accepted', timeEl(m.created));
    add('Attempts', String(m.attempts));
    if (m.next_attempt) add('Next attempt', timeEl(m.next_attempt));
    add('Profile', m.profile_used || m.profile || '');
    add('Size', m.size + ' bytes');
    add('Id', el('code', { text: m.id }));
    if (m.last_error) add('Last error', m.last_error);
    /* metadata as the application submitted it */
    for (const [k, v] of Object.entries(m.metadata || {})) add(k, el('code', { text: String(v) }));
    if (state.rawShown !== m.id) { show($('m-raw'), false); $('m-show').textContent = 'Show message'; }

    const rc = $('m-rcpts');
    rc.replaceChildren();
    for (const x of m.recipients) {
      const reply = [x.code, x.enhanced, x.reply].filter((v) => v !== null && v !== '').join(' ');
      rc.append(el('li', { class: 'rcpt' },
        el('div', { class: 'line' }, addrEl('span', { class: 'addr' }, x.address), badge(x.state)),
        reply ? el('code', { class: 'reply', text: reply }) : el('span', { class: 'muted', text: 'no reply yet' }),
        x.hint ? el('p', { class: 'hint', text: x.hint }) : null,
        el('div', { class: 'muted small' }, x.attempts + (x.attempts === 1 ? ' attempt' : ' attempts') +
          (x.updated ? ', last ' : ''), x.updated ? timeEl(x.updated) : null)));
    }
    const ev = $('m-events');
    ev.replaceChildren();
    for (const e of m.events) {
      ev.append(el('li', {},
        el('time', { datetime: e.at || '', title: e.at || null, text: when(e.at) }),
        el('span', { class: 'kind', text: kindWords(e.kind) }),
        el('span', { class: 'text', text: e.text || '' })));
    }
    if (!m.events.length) ev.append(el('li', { class: 'muted', text: 'No events.' }));
    /* a test email is sent once, from the profile form: never retried */
    const testEmail = m.events.some((e) => e.kind === 'test_email');
    show($('m-retry'), !testEmail);
    $('m-retry').disabled = testEmail || m.state === 'sending' || m.state === 'sent' && m.recipients.every((x) => x.state === 'sent');
    $('m-delete').disabled = false;
  }

  /* the stored message: its header and text (GET /api/messages/{id}/raw) */
  async function toggleRaw() {
    const pre = $('m-raw');
    if (!pre.hidden) {
      show(pre, false);
      state.rawShown = null;
      $('m-show').textContent = 'Show message';
      return;
    }
    try {
      const res = await fetch('/api/messages/' + encodeURIComponent(state.message) + '/raw',
        { credentials: 'same-origin' });
      if (!res.ok) throw new Error('the message could not be read (' + res.status + ')');
      const text = await res.text();
      pre.textContent = text.length > 200000 ? text.slice(0, 200000) + '\n…' : text;
      show(pre, true);
      state.rawShown = state.message;
      $('m-show').textContent = 'Hide message';
    } catch (e) {
      showAlert($('m-error'), e.message);
    }
  }

  /* the suppression list: a view of the delivery log */
  async function loadSuppressed() {
    try {
      const r = await api('GET', '/api/suppressions?limit=1000');
      const body = $('supp-rows');
      body.replaceChildren();
      for (const x of r.data.suppressions) {
        const del = el('button', { type: 'button', class: 'danger small', text: 'Delete' });
        del.addEventListener('click', async () => {
          try {
            await api('DELETE', '/api/suppressions/' + encodeURIComponent(x.address), null, { accept: [404] });
          } catch (e) {
            if (e.status !== 401) showAlert($('global-error'), e.message);
          }
          loadSuppressed();
        });
        body.append(el('tr', { 'data-address': x.address },
          addrEl('td', { 'data-label': 'Address', class: 'addr' }, x.address),
          el('td', { 'data-label': 'Since' }, timeEl(x.at)),
          el('td', { 'data-label': 'Reply', class: 'err', text: x.reason || '' }),
          el('td', {}, del)));
      }
      const empty = r.data.suppressions.length === 0;
      show($('supp-empty'), empty);
      show($('supp-table'), !empty);
    } catch (e) {
      if (e.status !== 401) showAlert($('global-error'), e.message);
    }
  }

  function toggleSuppressed() {
    const b = $('log-suppressed');
    const on = b.getAttribute('aria-pressed') !== 'true';
    b.setAttribute('aria-pressed', on ? 'true' : 'false');
    show($('supp-view'), on);
    if (on) loadSuppressed();
  }

  async function retryMessage() {
    const id = state.message;
    const b = $('m-retry');
    busy(b, true, 'Retrying…');
    try {
      const r = await api('POST', '/api/messages/' + encodeURIComponent(id) + '/retry', {}, { accept: [409] });
      if (r.status === 409) {
        showAlert($('m-error'), r.data.error);
      } else {
        renderMessage(r.data);
        setStatus($('m-status'), 'Queued again.', 'ok');
        loadLog(false, true);
      }
    } catch (e) {
      if (e.status !== 401) showAlert($('m-error'), e.message);
    } finally {
      busy(b, false);
    }
  }

  async function deleteMessage() {
    const id = state.message;
    if (!(await confirmDialog('Delete this message and its history from the queue?'))) return;
    try {
      await api('DELETE', '/api/messages/' + encodeURIComponent(id));
      show($('message-panel'), false);
      state.message = null;
      loadLog(false);
    } catch (e) {
      if (e.status !== 401) showAlert($('m-error'), e.message);
    }
  }

  /* ---------- wiring ---------- */

  /* ---- providers (presets) and Detect --------------------------------
   * The Provider choice at the top of the profile form fills the fields
   * from GET /api/providers (host, port, security, authentication, the
   * username a provider fixes, limits) and shows the provider's hint; the
   * Detect button asks POST /api/detect which ports of the host work. */

  const PROVIDER_SECURITY_PORT = { starttls: '587', tls: '465', none: '25' };

  async function loadProviders() {
    if (state.providers) return state.providers;
    try {
      const r = await api('GET', '/api/providers');
      state.providers = r.data.providers || [];
    } catch (e) {
      state.providers = [];
    }
    const sel = field('provider');
    const keep = sel.value;
    sel.replaceChildren();
    for (const p of state.providers) {
      sel.append(el('option', { value: p.name, text: p.name === 'custom'
        ? 'Custom (enter the settings yourself)' : p.label }));
    }
    sel.value = keep || 'custom';
    return state.providers;
  }

  function providerRow(name) {
    return (state.providers || []).find((p) => p.name === name) || null;
  }

  function providerRegions(row, region) {
    const sel = field('region');
    sel.replaceChildren();
    const regions = row && row.regions ? row.regions : [];
    for (const r of regions) sel.append(el('option', { value: r.name, text: r.name + ' (' + r.host + ')' }));
    if (regions.length) sel.value = region || regions[0].name;
    show($('region-box'), regions.length > 0);
  }

  function providerHint(row) {
    const h = $('provider-hint');
    h.replaceChildren();
    if (!row || row.name === 'custom') { show(h, false); return; }
    h.append(el('span', { text: row.hint }));
    if (row.url) {
      h.append(' ', el('a', { href: row.url, target: '_blank', rel: 'noopener noreferrer',
        text: row.label + ' SMTP help' }));
    }
    show(h, true);
  }

  /* Opening the editor: the profile's provider and region, no filling. */
  async function providerOpen(v) {
    await loadProviders();
    field('provider').value = providerRow(v.provider) ? v.provider : 'custom';
    const row = providerRow(field('provider').value);
    providerRegions(row, v.region);
    providerHint(row);
  }

  /* A provider chosen: fill the fields its preset fills. */
  function providerFill() {
    const row = providerRow(field('provider').value);
    providerRegions(row, '');
    providerHint(row);
    if (!row || row.name === 'custom') { updateFormHints(); return; }
    providerFillHost(row);
    field('security').value = row.security;
    field('port').value = String(row.port || PROVIDER_SECURITY_PORT[row.security]);
    field('auth').checked = !!row.auth;
    for (const r of form().querySelectorAll('input[name="auth_kind"]')) r.checked = r.value === (row.auth === 'oauth2' ? 'oauth2' : 'password');
    if (row.username) field('username').value = row.username;
    if (row.limits) field('limits').value = row.limits;
    field('tls_verify').checked = true;
    for (const n of ['host', 'port', 'username', 'limits']) checkField(n);
    updateFormHints();
  }

  function providerFillHost(row) {
    const region = field('region').value;
    const r = (row.regions || []).find((x) => x.name === region);
    field('host').value = r ? r.host : row.host;
  }

  function providerValues(v) {
    const p = field('provider').value;
    v.provider = p === 'custom' && !(state.original && state.original.provider) ? '' : p;
    v.region = $('region-box').hidden ? '' : field('region').value;
  }

  function detectLine(p) {
    const words = p.works ? (p.security === 'tls' ? 'implicit TLS' : p.security === 'starttls' ? 'STARTTLS' : 'plain, no TLS')
      : 'does not work';
    const parts = ['Port ' + p.port + ': ' + words];
    if (p.works && p.certificate) parts.push('certificate ' + p.certificate);
    if (p.works) parts.push('AUTH ' + (p.auth.length ? p.auth.join(' ') : 'not offered'));
    if (!p.works) parts.push(p.detail);
    return el('li', { class: p.works ? 'ok' : 'failed', text: parts.join('; ') });
  }

  async function detectPorts() {
    const host = field('host').value.trim();
    const box = $('detect-result');
    if (checkField('host')) { field('host').focus(); return; }
    const button = $('detect');
    busy(button, true, 'Detecting…');
    box.replaceChildren(el('p', { class: 'muted', text: 'Trying the SMTP ports of ' + host + '…' }));
    show(box, true);
    try {
      /* the port typed in the form first, then the usual ones */
      const typed = parseInt(field('port').value.trim(), 10);
      const ports = [587, 465, 2525, 25];
      if (typed > 0 && typed < 65536 && !ports.includes(typed)) ports.unshift(typed);
      const r = await api('POST', '/api/detect', { host, ports }, { accept: [400] });
      if (r.status === 400) {
        box.replaceChildren(el('p', { class: 'field-error', text: labelText(r.data.error) }));
        return;
      }
      const d = r.data;
      const list = el('ul', { class: 'detect-ports' });
      for (const p of d.ports) list.append(detectLine(p));
      const out = [list, el('p', { class: 'summary', text: (d.proposal ? 'Use: ' : 'Nothing works: ') + d.summary })];
      if (d.proposal) {
        const use = el('button', { type: 'button', class: 'small', text: 'Use these settings' });
        use.addEventListener('click', () => {
          field('security').value = d.proposal.security;
          field('port').value = String(d.proposal.port);
          checkField('port');
          updateFormHints();
        });
        out.push(use);
      }
      box.replaceChildren(...out);
    } catch (e) {
      if (e.status !== 401) box.replaceChildren(el('p', { class: 'field-error', text: labelText(e.message) }));
    } finally {
      busy(button, false);
    }
  }

  function bindProviders() {
    field('provider').addEventListener('change', providerFill);
    field('region').addEventListener('change', () => {
      const row = providerRow(field('provider').value);
      if (row && row.name !== 'custom') providerFillHost(row);
      updateFormHints();
    });
    $('detect').addEventListener('click', detectPorts);
  }

  /* ---- end of providers and Detect ---- */

  function bind() {
    $('login-form').addEventListener('submit', login);
    $('logout').addEventListener('click', logout);
    window.addEventListener('hashchange', route);

    $('add-profile').addEventListener('click', () => openEditor(null));
    $('editor-close').addEventListener('click', closeEditor);
    const f = form();
    f.addEventListener('submit', save);
    $('save-anyway').addEventListener('click', () => store(false));
    f.addEventListener('input', (ev) => {
      /* "Save anyway" stores what was tested; a change needs a new test */
      show($('save-anyway-box'), false);
      if (ev.target.name && ev.target.getAttribute('aria-invalid')) checkField(ev.target.name);
      updateFormHints();
    });
    f.addEventListener('focusout', (ev) => {
      if (ev.target.name && ev.target.value !== '') checkField(ev.target.name);
    });
    f.addEventListener('change', (ev) => {
      const t = ev.target;
      if (t.name === 'security') {
        const port = field('port');
        const p = port.value.trim();
        if (p === '' || Object.values(SECURITY_PORT).includes(p)) port.value = SECURITY_PORT[t.value];
        checkField('port');
      }
      if (t.name === 'auth') {
        checkField('username');
        checkField('password');
      }
      updateFormHints();
    });
    $('signin').addEventListener('click', (ev) => { if (state.editing) startSignIn(state.editing, ev.target); });
    bindProviders();
    $('test-email').addEventListener('click', openTestDialog);
    $('test-form').addEventListener('submit', sendTest);
    $('t-close').addEventListener('click', () => $('test-dialog').close());

    $('redirect-form').addEventListener('submit', saveRedirect);
    $('r-add').addEventListener('click', addReport);
    $('r-new').addEventListener('keydown', (ev) => { if (ev.key === 'Enter') { ev.preventDefault(); addReport(); } });

    $('log-status').addEventListener('change', () => loadLog(true));
    $('log-refresh').addEventListener('click', () => loadLog(true));
    $('log-search').addEventListener('input', () => {
      clearTimeout(state.searchTimer);
      state.searchTimer = setTimeout(() => loadLog(true), 250);
    });
    $('log-suppressed').addEventListener('click', toggleSuppressed);
    $('m-show').addEventListener('click', toggleRaw);
    $('log-more').addEventListener('click', loadMore);
    $('m-close').addEventListener('click', () => { show($('message-panel'), false); state.message = null; loadLog(false, true); });
    $('m-retry').addEventListener('click', retryMessage);
    $('m-delete').addEventListener('click', deleteMessage);
  }

  async function boot() {
    bind();
    try {
      const r = await api('GET', '/api/session', null, { allow401: true, accept: [401] });
      if (r.status === 200 && r.data.csrf_token) {
        state.csrf = r.data.csrf_token;
        startApp();
        return;
      }
    } catch (e) {
      showLogin(e.message);
      return;
    }
    showLogin();
  }

  document.addEventListener('DOMContentLoaded', boot);
})();
