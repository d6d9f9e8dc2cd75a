// Browser tests of Outpost's settings page, as a person uses it: Debian's
// Chromium driven by playwright-core, against `outpost serve` and an
// aiosmtpd peer with STARTTLS and AUTH (both started by launch.py).
//
//   node tests/browser/run.mjs          (from the top of the tree)
//
// Screenshots go to tests/browser/artifacts/ (desktop and phone width).
// Exit status 0 when every step passed.

import { chromium } from 'playwright-core';
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const ART = path.join(HERE, 'artifacts');
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const PHONE = { width: 390, height: 844 };
const DESKTOP = { width: 1280, height: 900 };
const TIMEOUT = 30000;

fs.mkdirSync(ART, { recursive: true });
const work = fs.mkdtempSync(path.join(os.tmpdir(), 'outpost-browser-'));

// ---- the launcher: one JSON line per answer ----
const launcher = spawn('/usr/bin/python3', [path.join(HERE, 'launch.py'), work],
  { stdio: ['pipe', 'pipe', 'inherit'] });
const lines = createInterface({ input: launcher.stdout });
const waiting = [];
lines.on('line', (l) => { const w = waiting.shift(); if (w) w(JSON.parse(l)); });
const nextLine = () => new Promise((resolve) => waiting.push(resolve));
launcher.on('exit', (code) => {
  for (const w of waiting.splice(0)) w({ error: 'launch.py exited ' + code, ok: false });
});
async function ask(cmd) {
  const p = nextLine();
  launcher.stdin.write(cmd + '\n');
  return p;
}

let failures = 0;
let passes = 0;
let page;

async function step(name, fn) {
  process.stdout.write('browser: ' + name + ' ... ');
  try {
    await fn();
    passes++;
    console.log('ok');
  } catch (err) {
    failures++;
    console.log('FAILED');
    console.log('  ' + String(err && err.stack || err).split('\n').slice(0, 6).join('\n  '));
    if (page) {
      const file = path.join(ART, 'failed-' + name.replace(/[^a-z0-9]+/gi, '-') + '.png');
      await page.screenshot({ path: file, fullPage: true }).catch(() => {});
      console.log('  screenshot: ' + file);
    }
  }
}

function expect(cond, what) {
  if (!cond) throw new Error('expected: ' + what);
}

async function shot(name, phoneToo) {
  await page.screenshot({ path: path.join(ART, name + '.png'), fullPage: true });
  if (phoneToo) {
    await page.setViewportSize(PHONE);
    await page.waitForTimeout(150);
    await page.screenshot({ path: path.join(ART, name + '-phone.png'), fullPage: true });
    await page.setViewportSize(DESKTOP);
  }
}

async function waitFor(pred, what, ms = TIMEOUT) {
  const end = Date.now() + ms;
  for (;;) {
    const v = await pred();
    if (v) return v;
    if (Date.now() > end) throw new Error('timed out waiting for ' + what);
    await new Promise((r) => setTimeout(r, 200));
  }
}

const setup = await nextLine();
if (setup.error) {
  console.log('browser: cannot start: ' + setup.error);
  process.exit(1);
}
const profileForm = () => page.locator('#profile-form');
const formField = (label) => profileForm().getByLabel(label, { exact: true });

const userData = fs.mkdtempSync(path.join(os.tmpdir(), 'outpost-chromium-'));
const context = await chromium.launchPersistentContext(userData, {
  executablePath: CHROMIUM,
  headless: true,
  viewport: DESKTOP,
  // the test OAuth2 server's certificate is signed by the tests' own CA
  ignoreHTTPSErrors: true,
  args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking',
    '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-quic'],
});
page = context.pages()[0] || await context.newPage();
page.setDefaultTimeout(TIMEOUT);
const pageErrors = [];
page.on('pageerror', (e) => pageErrors.push(e.message));
// HTTP errors the page handles (401 before login, 412/422 of a refused save)
// are logged by Chromium as "Failed to load resource"; they are not bugs.
page.on('console', (m) => {
  if (m.type() === 'error' && !/^Failed to load resource: the server responded with a status of (401|409|412|422)/.test(m.text())) {
    pageErrors.push(m.text());
  }
});

async function api(method, p, body) {
  const r = await fetch(setup.base + p, {
    method,
    headers: { Authorization: 'Bearer ' + setup.token, 'Content-Type': 'application/json' },
    body: body ? JSON.stringify(body) : undefined,
  });
  return { status: r.status, data: await r.json().catch(() => null) };
}

try {
  await step('login refuses a wrong token, then logs in', async () => {
    await page.goto(setup.base + '/');
    await page.getByLabel('API token').fill('not-the-token');
    await page.getByRole('button', { name: 'Log in' }).click();
    await page.getByText('That is not the API token.').waitFor();
    await shot('01-login-wrong', true);
    await page.getByLabel('API token').fill(setup.token);
    await page.getByRole('button', { name: 'Log in' }).click();
    await page.getByRole('heading', { name: 'Profiles' }).waitFor();
    await page.getByText('No profile yet').waitFor();
    // the session survives a reload (cookie + GET /api/session)
    await page.reload();
    await page.getByRole('heading', { name: 'Profiles' }).waitFor();
    await shot('02-profiles-empty', true);
  });

  await step('the form marks invalid fields at once, with the reason', async () => {
    await page.getByRole('button', { name: 'Add profile' }).click();
    await profileForm().waitFor();
    for (const label of ['Host', 'Port', 'Security', 'Use authentication', 'Username',
      'Password', 'Sender address', 'Verify TLS certificate', 'Enabled']) {
      expect(await formField(label).count() === 1, 'one field labelled "' + label + '"');
    }
    await formField('Name').fill('primary');
    await formField('Host').fill('bad host name');
    await formField('Port').fill('99999');
    await formField('Sender address').fill('nobody');
    await formField('Username').click();
    await profileForm().getByText('This is not a host name or IP address.').waitFor();
    await profileForm().getByText('Enter a port from 1 to 65535').waitFor();
    await profileForm().getByText('Enter an address like noreply@example.com').waitFor();
    expect(await formField('Port').getAttribute('aria-invalid') === 'true', 'port marked invalid');
    // picking a security mode proposes its usual port
    await formField('Port').fill('587');
    await formField('Security').selectOption('tls');
    expect(await formField('Port').inputValue() === '465', 'TLS proposes 465');
    await formField('Security').selectOption('starttls');
    expect(await formField('Port').inputValue() === '587', 'STARTTLS proposes 587');
    const options = await page.locator('#port-choices option').evaluateAll(
      (os) => os.map((o) => o.value));
    expect(JSON.stringify(options) === '["587","465","25"]', 'port suggestions 587/465/25');
    await shot('03-form-invalid', true);
  });

  await step('create a profile: Save stores it and every diagnostic step succeeds', async () => {
    await formField('Host').fill('127.0.0.1');
    await formField('Security').selectOption('starttls');
    await formField('Port').fill(String(setup.peer_port));
    await formField('Use authentication').check();
    await formField('Username').fill(setup.username);
    await formField('Password').fill(setup.password);
    await formField('Sender address').fill('noreply@example.com');
    await formField('Verify TLS certificate').check();
    await formField('Enabled').check();
    await profileForm().getByText('More settings').click();
    await formField('Extra CA certificate file').fill(setup.ca_file);
    await profileForm().getByRole('button', { name: 'Save' }).click();
    await page.locator('#diagnosis.ok').waitFor();
    const steps = await page.locator('#diagnosis-steps li').evaluateAll(
      (ls) => ls.map((l) => [l.dataset.step, l.className]));
    const names = steps.map((s) => s[0]);
    for (const want of ['resolve', 'connect', 'greeting', 'ehlo', 'starttls', 'tls',
      'certificate', 'auth', 'sender']) {
      expect(names.includes(want), 'a step "' + want + '" in ' + names.join(','));
    }
    for (const [name, cls] of steps) expect(cls === 'step ok', name + ' succeeded (' + cls + ')');
    await page.getByText('Everything works').waitFor();
    await page.locator('#profile-list li[data-name="primary"]').waitFor();
    const r = await api('GET', '/api/profiles/primary');
    expect(r.data.profile.has_password === true && !('password' in r.data.profile), 'password stored, not shown');
    await shot('04-saved-all-green', true);
  });

  await step('a wrong password: Save tests first, stores nothing, offers Save anyway', async () => {
    const before = (await ask('conf')).text;
    await formField('Password').fill('wrong password');
    await profileForm().getByRole('button', { name: 'Save' }).click();
    await page.locator('#diagnosis.failed').waitFor();
    const auth = page.locator('#diagnosis-steps li[data-step="auth"]');
    expect(await auth.getAttribute('class') === 'step failed', 'auth step failed');
    const hint = (await auth.locator('.hint').textContent()) || '';
    expect(hint.length > 10, 'the AUTH step has a hint: ' + hint);
    expect(await auth.locator('.icon').textContent() === '✗', 'a red cross');
    for (const s of ['resolve', 'connect', 'starttls', 'certificate']) {
      expect(await page.locator('#diagnosis-steps li[data-step="' + s + '"]').first()
        .getAttribute('class') === 'step ok', s + ' still ok');
    }
    await page.getByText('The check failed at “Authentication (AUTH)”').waitFor();
    const anyway = profileForm().getByRole('button', { name: 'Save anyway' });
    expect(await anyway.isVisible(), 'Save anyway is offered');
    await page.locator('#save-status', { hasText: 'Not saved' }).waitFor();
    // nothing stored: the file is the same and the working password still works
    expect((await ask('conf')).text === before, 'outpost.conf unchanged');
    const c = await api('POST', '/api/profiles/primary/check');
    expect(c.data.ok === true, 'the stored settings still pass: ' + JSON.stringify(c.data.steps.filter((s) => !s.ok)));
    await shot('05-auth-failed-not-saved', true);
    // "Save anyway" stores it, and says so
    await anyway.click();
    await page.locator('#save-status', { hasText: 'Saved without a passing check.' }).waitFor();
    expect(!(await anyway.isVisible()), 'Save anyway gone once saved');
    expect((await ask('conf')).text !== before, 'outpost.conf changed');
    const c2 = await api('POST', '/api/profiles/primary/check');
    expect(c2.data.ok === false && c2.data.steps.some((s) => s.step === 'auth' && !s.ok), 'stored: auth fails now');
    await shot('05b-saved-anyway');
    // put the right one back
    await formField('Password').fill(setup.password);
    await profileForm().getByRole('button', { name: 'Save' }).click();
    await page.locator('#diagnosis.ok').waitFor();
    await page.locator('#save-status', { hasText: 'Saved.' }).waitFor();
  });

  await step('a hint names the fields by their labels, not by outpost.conf keys', async () => {
    await formField('Security').selectOption('tls');
    await formField('Port').fill(String(setup.peer_port));
    await formField('Password').fill(setup.password);
    await profileForm().getByRole('button', { name: 'Save' }).click();
    await page.locator('#diagnosis.failed').waitFor();
    const text = await page.locator('#diagnosis').textContent();
    expect(!/\b(security|tls_verify|tls_ca_file|allow_plaintext_auth|auth) ?=|\btls_ca_file\b|\btls_verify\b/.test(text),
      'no config keys in: ' + text);
    await shot('05c-tls-mismatch-labels');
    const r = await api('GET', '/api/profiles/primary');
    expect(r.data.profile.security === 'starttls', 'not saved: ' + r.data.profile.security);
    await formField('Security').selectOption('starttls');
    await formField('Port').fill(String(setup.peer_port));
    await formField('Password').fill('');
  });

  await step('Add profile with a name already taken changes nothing', async () => {
    const before = (await ask('conf')).text;
    await profileForm().getByRole('button', { name: 'Close' }).click();
    await page.getByRole('button', { name: 'Add profile' }).click();
    await formField('Name').fill('primary');
    await formField('Host').fill('127.0.0.2');
    await formField('Port').fill('2525');
    await formField('Security').selectOption('none');
    await formField('Use authentication').uncheck();
    await formField('Sender address').fill('other@example.com');
    await profileForm().getByRole('button', { name: 'Save' }).click();
    await profileForm().locator('.field-error[data-for="name"]', { hasText: 'already exists' }).waitFor();
    expect(await formField('Name').getAttribute('aria-invalid') === 'true', 'name marked');
    await shot('05d-name-taken', true);
    // a name taken after the page loaded its list: the server refuses it
    const made = await api('PUT', '/api/profiles/later', { host: '127.0.0.1', port: setup.peer_port,
      security: 'none', auth: false, from: 'l@example.com', enabled: false });
    expect(made.status === 201, 'later created: ' + made.status);
    const mid = (await ask('conf')).text;
    await formField('Name').fill('later');
    await profileForm().getByRole('button', { name: 'Save' }).click();
    await profileForm().locator('.field-error[data-for="name"]', { hasText: 'already exists' }).waitFor();
    expect((await ask('conf')).text === mid, 'outpost.conf unchanged');
    const p = (await api('GET', '/api/profiles/primary')).data.profile;
    expect(p.host === '127.0.0.1' && p.port === setup.peer_port, 'primary untouched: ' + JSON.stringify(p));
    expect(before.includes('[profile primary]'), 'primary in the file');
    expect((await api('DELETE', '/api/profiles/later')).status === 204, 'later removed');
    await profileForm().getByRole('button', { name: 'Close' }).click();
    await page.getByRole('link', { name: 'Delivery log' }).click();
    await page.getByRole('link', { name: 'Profiles' }).click();
    await waitFor(async () => (await page.locator('#profile-list li[data-name="later"]').count()) === 0,
      'the list reloaded');
    await page.locator('#profile-list li[data-name="primary"]').getByRole('button', { name: 'Edit' }).click();
    await formField('Host').waitFor();
  });

  await step('a failed save keeps everything typed', async () => {
    await profileForm().getByText('More settings').click({ trial: true }).catch(() => {});
    await formField('Extra CA certificate file').fill('/nonexistent/ca.pem');
    await formField('Username').fill('someone-else');
    await profileForm().getByRole('button', { name: 'Save' }).click();
    await profileForm().getByText('cannot read /nonexistent/ca.pem', { exact: false }).first().waitFor();
    expect(await formField('Username').inputValue() === 'someone-else', 'username kept');
    expect(await formField('Extra CA certificate file').inputValue() === '/nonexistent/ca.pem', 'path kept');
    expect(await formField('Extra CA certificate file').getAttribute('aria-invalid') === 'true', 'marked');
    await shot('06-save-failed-input-kept');
    await formField('Extra CA certificate file').fill(setup.ca_file);
    await formField('Username').fill(setup.username);
    await profileForm().getByRole('button', { name: 'Save' }).click();
    await page.locator('#diagnosis.ok').waitFor();
  });

  await step('send a test email: the server\'s reply is shown and it arrives', async () => {
    await profileForm().getByRole('button', { name: 'Send test email' }).click();
    const dialog = page.locator('#test-dialog');
    await dialog.getByLabel('Send to').fill('admin@example.com');
    await dialog.getByRole('button', { name: 'Send' }).click();
    await dialog.locator('.result.ok').waitFor();
    const reply = await dialog.locator('.reply').textContent();
    expect(/^250 /.test(reply), 'a 250 reply: ' + reply);
    await shot('07-test-email-sent', true);
    const got = await waitFor(async () => {
      const m = (await ask('messages')).messages;
      return m.length ? m : null;
    }, 'the test email at the peer');
    expect(got[0].to[0] === 'admin@example.com' && got[0].tls && got[0].login === setup.username,
      'delivered over TLS with login: ' + JSON.stringify(got[0]));
    expect(/Outpost test email/.test(got[0].subject), 'its subject');
    await dialog.getByRole('button', { name: 'Close' }).click();
  });

  await step('the delivery log shows it, with the server\'s reply', async () => {
    await page.getByRole('link', { name: 'Delivery log' }).click();
    await page.locator('#log-rows tr').first().waitFor();
    const row = page.locator('#log-rows tr').first();
    expect((await row.textContent()).includes('sent'), 'state sent');
    await row.click();
    const panel = page.locator('#message-panel');
    await panel.waitFor();
    await panel.getByText('Outpost test email', { exact: false }).first().waitFor();
    await panel.getByText('admin@example.com', { exact: true }).waitFor();
    const reply = await panel.locator('.rcpt .reply').textContent();
    expect(/^250 /.test(reply), 'reply shown: ' + reply);
    expect(await page.locator('.count.sent .n').textContent() === '1', 'count of sent is 1');
    // event kinds read as words; a test email is never retried
    const kinds = await panel.locator('.events .kind').allTextContents();
    expect(kinds.includes('test email') && !kinds.some((k) => k.includes('_')), 'kinds as words: ' + kinds);
    expect(!(await page.locator('#m-retry').isVisible()), 'no Retry on a test email');
    // times in the browser's locale, ISO 8601 in the title
    const t = row.locator('td[data-label="Accepted"] time');
    expect(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d/.test(await t.getAttribute('title')), 'ISO title');
    const shown = await t.textContent();
    const want = await page.evaluate((iso) => new Date(iso).toLocaleString(undefined,
      { dateStyle: 'medium', timeStyle: 'medium' }), await t.getAttribute('datetime'));
    expect(shown === want && !shown.includes('T'), 'locale time: ' + shown);
    await shot('08-delivery-log', true);
  });

  await step('a message submitted over the API is shown, then deleted from the page', async () => {
    const r = await api('POST', '/api/messages', {
      from: 'app@example.com', to: ['customer@example.com'], subject: 'Your receipt \u2713',
      text: 'Thank you.' });
    expect(r.status === 202, 'queued: ' + r.status);
    await page.getByRole('button', { name: 'Refresh' }).click();
    await waitFor(async () => (await page.locator('#log-rows tr').count()) >= 2, 'two rows');
    await page.locator('#log-rows tr[data-id="' + r.data.id + '"]').click();
    await page.locator('#m-title', { hasText: 'Your receipt ✓' }).waitFor();
    await waitFor(async () => (await page.locator('#m-facts').textContent()).includes('sent'), 'sent', 20000);
    await page.getByRole('button', { name: 'Delete' }).click();
    await page.locator('#confirm-dialog').getByRole('button', { name: 'Delete' }).click();
    await waitFor(async () => (await page.locator('#log-rows tr[data-id="' + r.data.id + '"]').count()) === 0,
      'the row gone');
  });

  await step('a failed message: the reply is shown, Retry sends it', async () => {
    expect((await ask('reject bounce@example.com')).ok, 'the peer refuses bounce@');
    const r = await api('POST', '/api/messages', {
      from: 'app@example.com', to: ['bounce@example.com'], subject: 'Try again', text: 'x' });
    expect(r.status === 202, 'queued: ' + r.status);
    await page.getByRole('button', { name: 'Refresh' }).click();
    const row = page.locator('#log-rows tr[data-id="' + r.data.id + '"]');
    await row.click();
    await page.locator('#m-title', { hasText: 'Try again' }).waitFor();
    const panel = page.locator('#message-panel');
    await waitFor(async () => (await page.locator('#m-facts').textContent()).includes('failed'),
      'the message failed', 20000);
    await panel.locator('.rcpt .reply', { hasText: '550' }).waitFor();
    const reply = await panel.locator('.rcpt .reply').textContent();
    expect(/^550 5\.1\.1 .*User unknown/.test(reply), 'the refusal shown: ' + reply);
    expect(await page.locator('#m-retry').isEnabled(), 'Retry is offered');
    await shot('08b-message-failed', true);
    expect((await ask('accept')).ok, 'the peer takes it now');
    await page.locator('#m-retry').click();
    await page.locator('#m-status', { hasText: 'Queued again.' }).waitFor();
    await waitFor(async () => (await page.locator('#m-facts').textContent()).includes('sent'),
      'sent after Retry', 20000);
    await panel.locator('.rcpt .reply', { hasText: '250' }).waitFor();
    const m = (await api('GET', '/api/messages/' + r.data.id)).data;
    expect(m.state === 'sent' && m.recipients[0].state === 'sent' && m.attempts === 2,
      'sent at the second attempt: ' + JSON.stringify(m.recipients[0]));
    const got = (await ask('messages')).messages.filter((x) => x.to.includes('bounce@example.com'));
    expect(got.length === 1, 'delivered once: ' + got.length);
    await shot('08c-message-retried');
  });

  await step('the delivery log finds a message by address, shows it, and lists suppressed addresses', async () => {
    const r = await api('POST', '/api/messages', {
      from: 'app@example.com', to: ['Findme@example.com', 'second@example.com'],
      subject: 'Survey 77', text: 'Please answer.', metadata: { survey: '77' } });
    expect(r.status === 202, 'queued: ' + r.status);
    await page.getByRole('link', { name: 'Delivery log' }).click();
    await page.getByPlaceholder('Search by address').fill('findme@EXAMPLE.com');
    const rows = page.locator('#log-rows tr');
    await waitFor(async () => (await rows.count()) === 1 &&
      (await rows.first().getAttribute('data-id')) === r.data.id, 'only the message found');
    const cell = await rows.first().locator('td[data-label="Recipients"]').textContent();
    expect(cell === 'Findme@example.com +1 more', 'first recipient and the others: ' + cell);
    await rows.first().click();
    await page.locator('#m-title', { hasText: 'Survey 77' }).waitFor();
    expect((await page.locator('#m-facts').textContent()).includes('77'), 'metadata shown');
    await page.getByRole('button', { name: 'Show message' }).click();
    await waitFor(async () => (await page.locator('#m-raw').textContent()).includes('Subject: Survey 77'),
      'the stored message shown');
    expect((await page.locator('#m-raw').textContent()).includes('Please answer.'), 'its text');
    await shot('08d-search-and-message', true);
    await page.getByPlaceholder('Search by address').fill('');
    await waitFor(async () => (await rows.count()) >= 2, 'every message again');
    await page.getByRole('button', { name: 'Suppressed' }).click();
    await page.locator('#supp-view').waitFor();
    await waitFor(async () => !(await page.locator('#supp-empty').isHidden()) ||
      !(await page.locator('#supp-table').isHidden()), 'the suppressed view');
  });

  await step('profiles: reorder with the buttons, switch one on', async () => {
    const r = await api('PUT', '/api/profiles/backup', { host: '127.0.0.1', port: setup.peer_port,
      security: 'starttls', auth: false, from: 'b@example.com', tls_ca_file: setup.ca_file, enabled: false });
    expect(r.status === 201, 'backup created: ' + r.status);
    await page.getByRole('link', { name: 'Profiles' }).click();
    await page.locator('#profile-list li[data-name="backup"]').waitFor();
    const order = async () => page.locator('#profile-list li').evaluateAll((ls) => ls.map((l) => l.dataset.name));
    expect(JSON.stringify(await order()) === '["primary","backup"]', 'file order');
    await page.getByRole('button', { name: 'Move backup up' }).click();
    await waitFor(async () => JSON.stringify(await order()) === '["backup","primary"]', 'new order');
    const t = await api('GET', '/api/profiles');
    expect(t.data.profiles[0].name === 'backup', 'saved order');
    await page.getByRole('switch', { name: 'Enabled: backup' }).check();
    await waitFor(async () => (await api('GET', '/api/profiles/backup')).data.profile.enabled === true, 'enabled');
    await shot('09-profiles-list', true);
  });

  await step('a profile moved without its password says so; Delete removes it', async () => {
    let r = await api('PUT', '/api/profiles/backup', { auth: true, username: 'u', password: 'backup-pw' });
    expect(r.status === 200 && r.data.profile.has_password, 'backup logs in: ' + r.status);
    r = await api('PUT', '/api/profiles/backup', { port: setup.peer_port + 1 });
    expect(r.status === 200 && r.data.password_cleared && !r.data.profile.has_password,
      'moving it cleared the password: ' + JSON.stringify(r.data));
    await page.getByRole('link', { name: 'Delivery log' }).click();
    await page.getByRole('link', { name: 'Profiles' }).click();
    const item = page.locator('#profile-list li[data-name="backup"]');
    await item.locator('.meta', { hasText: 'password needed' }).waitFor();
    await shot('09b-password-needed');
    await item.getByRole('button', { name: 'Delete' }).click();
    await page.locator('#confirm-dialog').getByRole('button', { name: 'Delete' }).click();
    await waitFor(async () => (await page.locator('#profile-list li[data-name="backup"]').count()) === 0,
      'backup gone from the list');
    expect((await api('GET', '/api/profiles/backup')).status === 404, 'deleted: 404');
    const names = (await api('GET', '/api/profiles')).data.profiles.map((p) => p.name);
    expect(JSON.stringify(names) === '["primary"]', 'only primary left: ' + names);
    await shot('09c-profile-deleted', true);
  });

  await step('OAuth2: a profile that needs a sign-in shows a banner with the reason and the button', async () => {
    const r = await api('PUT', '/api/profiles/office', {
      host: '127.0.0.1', port: setup.oauth_smtp_port, security: 'none', allow_plaintext_auth: true,
      auth: 'oauth2', username: setup.oauth_user, from: 'sender@example.com', tls_ca_file: setup.ca_file,
      oauth_client_id: setup.oauth_client_id, oauth_authorize_url: setup.oauth_url + '/authorize',
      oauth_token_url: setup.oauth_url + '/token', oauth_scope: 'https://outlook.office.com/SMTP.Send offline_access',
    });
    expect(r.status === 201 && r.data.profile.auth === 'oauth2' && r.data.profile.oauth.signed_in === false,
      'an OAuth2 profile, not signed in: ' + JSON.stringify(r.data));
    await page.reload();
    const banner = page.locator('#oauth-banner');
    await banner.waitFor({ state: 'visible' });
    const text = await banner.textContent();
    expect(/“office” needs a sign-in/.test(text) && /Nobody has signed in yet/.test(text) && /Mail for it waits/.test(text),
      'the banner says what and why: ' + text);
    expect(!/outpost oauth login/.test(text), 'in plain words, no command: ' + text);
    await banner.getByRole('button', { name: 'Sign in' }).waitFor();
    const item = page.locator('#profile-list li[data-name="office"]');
    await item.locator('.meta', { hasText: 'sign-in needed' }).waitFor();
    await shot('09d-oauth-banner', true);
    await item.getByRole('button', { name: 'Edit' }).click();
    expect(await profileForm().getByLabel('OAuth2', { exact: true }).isChecked(), 'OAuth2 chosen');
    expect(await formField('Use authentication').isChecked(), 'authentication on');
    expect(!(await formField('Password').isVisible()), 'no password field for OAuth2');
    expect(await formField('Client ID').inputValue() === setup.oauth_client_id, 'the client id');
    expect(await formField('Grant').inputValue() === 'authorization_code', 'the grant');
    for (const label of ['Tenant', 'Client secret', 'Token command', 'Username']) {
      expect(await formField(label).isVisible(), label + ' shown');
    }
    await profileForm().locator('#signin', { hasText: 'Sign in' }).waitFor();
    await shot('09e-oauth-form', true);
    await profileForm().getByLabel('A password', { exact: true }).click();
    expect(await formField('Password').isVisible(), 'Password brings the password field back');
    expect(!(await formField('Client ID').isVisible()), 'and hides the OAuth2 fields');
    await profileForm().getByLabel('OAuth2', { exact: true }).click();
    await page.locator('#editor-close').click();
  });

  await step('OAuth2: Sign in goes to the provider and back; the banner is gone; a test email goes', async () => {
    await page.locator('#oauth-banner').getByRole('button', { name: 'Sign in' }).click();
    await page.waitForURL(/\/oauth\/callback\?/);
    await page.getByRole('heading', { name: 'Signed in' }).waitFor();
    expect(/profile office can send mail now/.test(await page.locator('#oauth-detail').textContent()), 'says which');
    await shot('09f-oauth-signed-in', true);
    expect((await ask('oauth')).codes === 1, 'one code traded');
    await page.getByRole('link', { name: 'Back to Outpost' }).click();
    const item = page.locator('#profile-list li[data-name="office"]');
    await item.locator('.meta', { hasText: 'signed in (OAuth2)' }).waitFor();
    expect(!(await page.locator('#oauth-banner').isVisible()), 'no banner after the sign-in');
    await item.getByRole('button', { name: 'Edit' }).click();
    await profileForm().locator('#signin-status', { hasText: 'Signed in.' }).waitFor();
    await shot('09g-oauth-form-signed-in');
    await profileForm().getByRole('button', { name: 'Send test email' }).click();
    const dialog = page.locator('#test-dialog');
    await dialog.getByLabel('Send to').fill('admin@example.com');
    await dialog.getByRole('button', { name: 'Send' }).click();
    await dialog.locator('.result.ok').waitFor();
    const got = await waitFor(async () => {
      const o = await ask('oauth');
      return o.messages >= 1 ? o : null;
    }, 'the test email at the OAuth2 peer');
    expect(got.errors.length === 0 && got.auths.every((a) => a[1]), 'XOAUTH2 accepted: ' + JSON.stringify(got));
    await dialog.getByRole('button', { name: 'Close' }).click();
    await page.locator('#editor-close').click();
    const r = await api('PUT', '/api/profiles/office', { enabled: false });
    expect(r.status === 200, 'office switched off for the next steps');
  });

  await step('redirect: add a report address, switch on, the banner shows everywhere', async () => {
    await page.getByRole('link', { name: 'Redirect' }).click();
    // on without an address: refused, in words of the page (no "reports:")
    await page.getByLabel('Redirect all mail to the report addresses').check();
    await page.locator('#redirect-form').getByRole('button', { name: 'Save' }).click();
    const err = page.locator('#redirect-error');
    await err.waitFor({ state: 'visible' });
    const text = await err.textContent();
    expect(!/\breports\b|\benabled:/.test(text) && /Report addresses/.test(text), 'labels: ' + text);
    await page.getByLabel('New report address').fill('qa@example.com');
    await page.getByRole('button', { name: 'Add' }).click();
    await page.getByLabel('Redirect all mail to the report addresses').check();
    await page.locator('#redirect-form').getByRole('button', { name: 'Save' }).click();
    await page.locator('#redirect-status', { hasText: 'Saved.' }).waitFor();
    await page.locator('#redirect-banner').waitFor({ state: 'visible' });
    const r = await api('GET', '/api/redirect');
    expect(r.data.enabled === true && r.data.reports[0].email === 'qa@example.com', 'saved');
    await shot('10-redirect-on', true);
    for (const view of ['Profiles', 'Delivery log']) {
      await page.getByRole('link', { name: view }).click();
      expect(await page.locator('#redirect-banner').isVisible(), 'banner on ' + view);
    }
    await page.reload();
    await page.locator('#redirect-banner').waitFor({ state: 'visible' });
    await shot('11-banner-after-reload', true);
  });

  await step('choose SendGrid: the fields are filled, the hint is shown; Detect', async () => {
    await page.goto(setup.base + '/#profiles');
    await page.getByRole('button', { name: 'Add profile' }).click();
    await profileForm().waitFor();
    await formField('Provider').selectOption({ label: 'SendGrid' });
    expect(await formField('Host').inputValue() === 'smtp.sendgrid.net', 'host filled');
    expect(await formField('Port').inputValue() === '587', 'port filled');
    expect(await formField('Security').inputValue() === 'starttls', 'security filled');
    expect(await formField('Use authentication').isChecked(), 'authentication on');
    expect(await formField('Username').inputValue() === 'apikey', 'username apikey');
    const hint = page.locator('#provider-hint');
    await hint.waitFor();
    expect(/the word apikey/.test(await hint.textContent()), 'the SendGrid hint is shown');
    // Mailgun has regions: EU fills the EU server
    await formField('Provider').selectOption({ label: 'Mailgun' });
    await formField('Region').selectOption('eu');
    expect(await formField('Host').inputValue() === 'smtp.eu.mailgun.org', 'EU host');
    await shot('20-provider-sendgrid', true);
    // Detect: the typed port and the usual ones of the test peer's host
    await formField('Provider').selectOption({ label: 'SendGrid' });
    await formField('Host').fill('127.0.0.1');
    await formField('Port').fill(String(setup.peer_port));
    await profileForm().getByRole('button', { name: 'Detect' }).click();
    const result = page.locator('#detect-result');
    await result.locator('.summary').waitFor();
    const text = await result.textContent();
    expect(text.includes('Port ' + setup.peer_port + ': STARTTLS'), 'the peer port found with STARTTLS: ' + text);
    expect(/AUTH [A-Z]/.test(text), 'AUTH mechanisms shown: ' + text);
    expect(text.includes('Use: host = 127.0.0.1, port = ' + setup.peer_port), 'settings proposed: ' + text);
    await shot('21-detect', true);
    await profileForm().getByRole('button', { name: 'Close' }).click();
  });

  await step('log out', async () => {
    await page.getByRole('button', { name: 'Log out' }).click();
    await page.getByLabel('API token').waitFor();
    await page.reload();
    await page.getByLabel('API token').waitFor();
  });

  await step('no script errors on the page', async () => {
    expect(pageErrors.length === 0, 'no errors: ' + pageErrors.join(' | '));
  });

  await step('the password never reached the page or the log', async () => {
    const log = (await ask('log')).log;
    expect(!log.includes(setup.password), 'not in the log');
    expect(!log.includes('wrong password'), 'the wrong one neither');
    for (const s of (await ask('oauth')).secrets) {
      expect(!log.includes(s), 'no OAuth2 token or client secret in the log');
    }
  });
} finally {
  await context.close().catch(() => {});
  fs.rmSync(userData, { recursive: true, force: true });
  const end = await ask('stop');
  if (!end.ok) {
    failures++;
    console.log('browser: outpost serve did not stop cleanly: ' + JSON.stringify(end));
  }
  launcher.stdin.end();
  fs.rmSync(work, { recursive: true, force: true });
}

console.log('browser: ' + passes + ' passed, ' + failures + ' failed');
process.exit(failures ? 1 : 0);
