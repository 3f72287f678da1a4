// The Tidings webmail: a JMAP client in the browser (see docs/webmail.md).
// Plain DOM, no framework: `h()` builds elements, text always goes in as
// text (never as HTML), and mail HTML only reaches the sandboxed frame of
// mailhtml.js.

import { Jmap, Unauthorized } from './jmap.js';
import { toFilter, terms } from './search.js';
import { renderMail, richHtml, SANDBOX, snippetNodes, textToHtml } from './mailhtml.js';

const PAGE = 50;
const LIST_PROPERTIES = ['threadId', 'mailboxIds', 'keywords', 'from', 'subject', 'receivedAt', 'preview', 'hasAttachment'];
const MESSAGE_PROPERTIES = [
  'threadId', 'mailboxIds', 'keywords', 'from', 'to', 'cc', 'replyTo', 'subject', 'receivedAt', 'sentAt',
  'messageId', 'references', 'textBody', 'htmlBody', 'bodyValues', 'attachments', 'preview', 'blobId',
];
const ROLE_ORDER = ['inbox', 'flagged', 'sent', 'drafts', 'all', 'junk', 'trash', 'archive'];
const ROLE_NAMES = { inbox: 'Inbox', flagged: 'Starred', sent: 'Sent', drafts: 'Drafts', all: 'All Mail', junk: 'Spam', trash: 'Trash', archive: 'Archive' };

const $ = (id) => document.getElementById(id);

function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else if (k === 'class') el.className = v;
    else el.setAttribute(k, v === true ? '' : v);
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

// A paper clip (an SVG path: no emoji font needed); `label` names it for
// screen readers, empty when the text beside it says enough.
function clip(label) {
  const ns = 'http://www.w3.org/2000/svg';
  const svg = document.createElementNS(ns, 'svg');
  svg.setAttribute('viewBox', '0 0 24 24');
  svg.setAttribute('class', 'clip');
  if (label) {
    svg.setAttribute('role', 'img');
    svg.setAttribute('aria-label', label);
  } else svg.setAttribute('aria-hidden', 'true');
  const path = document.createElementNS(ns, 'path');
  path.setAttribute('d', 'M16.5 6.5v10a4.5 4.5 0 0 1-9 0V5a3 3 0 0 1 6 0v10.5a1.5 1.5 0 0 1-3 0V6.5');
  svg.append(path);
  return svg;
}

// Text with the search terms in <mark>, built as nodes.
function highlighted(text, words) {
  if (!words.length || !text) return [text];
  const re = new RegExp(`(${words.map((w) => w.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('|')})`, 'gi');
  return text.split(re).map((part, i) => (i % 2 ? h('mark', {}, part) : part));
}

const state = {
  jmap: null,
  mailboxes: [],
  byRole: {},
  identity: null, // the default identity
  identities: [],
  view: null, // { mailboxId } or { search }
  position: 0,
  total: 0,
  rows: [], // [{ threadId, email, emails: [ {id, keywords, mailboxIds} ] }]
  cursor: 0,
  selected: new Set(),
  openThread: null, // threadId
  listSeq: 0, // the same for the list
  threadSeq: 0, // bumped at every open and close: late answers are dropped
  openMessages: [],
  events: null,
  refreshTimer: null,
  statusTimer: null,
  compose: null, // { inReplyTo, references }
  allowedSenders: new Set(JSON.parse(localStorage.getItem('tidings.allowImages') || '[]')),
  allowedMessages: new Set(), // email ids whose images the user asked for
};

// A message in the status line, cleared after a while (`extra`: nodes
// after the text, such as an Undo button).
function status(text, extra = [], seconds = 8) {
  clearTimeout(state.statusTimer);
  $('status').replaceChildren(text || '', ...extra);
  if (text) state.statusTimer = setTimeout(() => $('status').replaceChildren(), seconds * 1000);
}

function fail(e) {
  if (e instanceof Unauthorized) {
    showSignIn();
    return;
  }
  console.error(e);
  status(`Error: ${e.message}`);
}

// --- Sign-in ----------------------------------------------------------------

function showSignIn(message) {
  if (state.events) state.events.close();
  state.events = null;
  state.jmap = null;
  $('app').hidden = true;
  $('signin').hidden = false;
  $('signin-error').textContent = message || '';
  document.title = 'Tidings';
  $('signin-username').focus();
}

$('signin-form').addEventListener('submit', async (ev) => {
  ev.preventDefault();
  const form = ev.target;
  $('signin-error').textContent = '';
  try {
    await Jmap.signIn(form.username.value, form.password.value);
    form.password.value = '';
    await start();
  } catch (e) {
    $('signin-error').textContent = e.message;
  }
});

$('signout').addEventListener('click', async () => {
  try {
    await Jmap.signOut();
  } finally {
    showSignIn('You have signed out.');
  }
});

async function start() {
  try {
    state.jmap = await Jmap.connect();
  } catch (e) {
    if (e instanceof Unauthorized) return showSignIn();
    return showSignIn(e.message);
  }
  $('signin').hidden = true;
  $('app').hidden = false;
  $('whoami').textContent = state.jmap.username;
  const first = await state.jmap.call([
    ['Mailbox/get', { accountId: state.jmap.accountId, ids: null }, 'm'],
    ['Identity/get', { accountId: state.jmap.accountId }, 'i'],
  ]);
  setMailboxes(first.m.list);
  const ids = first;
  setIdentities(ids.i.list);
  await go({ mailboxId: state.byRole.inbox });
  state.events = state.jmap.listen(
    () => scheduleRefresh(),
    () => {
      // Closed for good: signed out elsewhere, or the server went away.
      Jmap.connect()
        .then(() => {
          if (state.jmap) state.events = state.jmap.listen(() => scheduleRefresh());
        })
        .catch(fail);
    },
  );
}

// --- Mailboxes ----------------------------------------------------------------

function mailboxName(m) {
  return (m.role && ROLE_NAMES[m.role]) || m.name;
}

async function loadMailboxes() {
  const r = await state.jmap.call([['Mailbox/get', { accountId: state.jmap.accountId, ids: null }, 'm']]);
  setMailboxes(r.m.list);
}

function setMailboxes(list) {
  state.mailboxes = list;
  state.byRole = {};
  for (const m of state.mailboxes) if (m.role) state.byRole[m.role] = m.id;
  renderMailboxes();
}

function renderMailboxes() {
  const list = $('mailboxes');
  list.replaceChildren();
  const withRole = state.mailboxes
    .filter((m) => m.role)
    .sort((a, b) => ROLE_ORDER.indexOf(a.role) - ROLE_ORDER.indexOf(b.role));
  const labels = state.mailboxes.filter((m) => !m.role).sort((a, b) => a.name.localeCompare(b.name));
  const item = (m) => {
    const current = state.view && state.view.mailboxId === m.id;
    const unread = m.role === 'sent' || m.role === 'trash' || m.role === 'all' ? 0 : m.unreadThreads;
    return h('li', {},
      h('a', {
        href: '#',
        'aria-current': current ? 'page' : null,
        'data-mailbox': m.id,
        'aria-label': unread ? `${mailboxName(m)}, ${unread} unread` : mailboxName(m),
        onclick: (ev) => {
          ev.preventDefault();
          $('sidebar').classList.remove('open');
          $('search').value = '';
          go({ mailboxId: m.id }).catch(fail);
        },
        // Conversations dragged from the list land here (see dropOn).
        ondragover: (ev) => {
          if (droppable(m) && ev.dataTransfer.types.includes(DRAG_TYPE)) {
            ev.preventDefault();
            ev.currentTarget.classList.add('drop-target');
          }
        },
        ondragleave: (ev) => ev.currentTarget.classList.remove('drop-target'),
        ondrop: (ev) => {
          ev.preventDefault();
          ev.currentTarget.classList.remove('drop-target');
          const threads = (ev.dataTransfer.getData(DRAG_TYPE) || '').split(' ').filter(Boolean);
          dropOn(m, threads).catch(fail);
        },
      }, h('span', { class: 'name' }, mailboxName(m)), unread ? h('span', { class: 'count' }, unread) : null));
  };
  list.append(...withRole.map(item));
  if (labels.length) list.append(h('li', { class: 'section' }, 'Labels'), ...labels.map(item));
  const inbox = state.mailboxes.find((m) => m.role === 'inbox');
  const n = inbox ? inbox.unreadThreads : 0;
  document.title = `${n ? `Inbox (${n})` : 'Inbox'} - ${state.jmap.username} - Tidings`;
}

// Dragging conversations onto the sidebar, as in Gmail: onto a label
// applies it, onto Inbox, Archive, Spam or Trash moves them there.
const DRAG_TYPE = 'application/x-tidings-threads';
const DROP_ACTIONS = { archive: 'archive', junk: 'spam', trash: 'delete' };

function droppable(m) {
  return !m.role || m.role === 'inbox' || m.role in DROP_ACTIONS;
}

async function dropOn(m, threadIds) {
  const rows = state.rows.filter((r) => threadIds.includes(r.threadId));
  if (!rows.length) return;
  if (m.role in DROP_ACTIONS) return act(DROP_ACTIONS[m.role], rows);
  await setLabel(rows.flatMap((r) => r.emails), m.id, true);
  status(`Moved to ${mailboxName(m)}.`);
}

function mailboxByName(name) {
  const n = name.toLowerCase();
  const m = state.mailboxes.find(
    (m) => m.name.toLowerCase() === n || (m.role && (m.role === n || mailboxName(m).toLowerCase() === n)),
  );
  if (m) return m.id;
  const aliases = { starred: 'flagged', spam: 'junk', anywhere: 'all' };
  return aliases[n] ? state.byRole[aliases[n]] : null;
}

// --- The conversation list ----------------------------------------------------

async function go(view) {
  state.view = view;
  state.position = 0;
  state.cursor = 0;
  state.selected.clear();
  closeThread();
  renderMailboxes();
  await loadList();
}

function currentFilter() {
  const v = state.view;
  if (v.mailboxId) return { inMailbox: v.mailboxId };
  const { filter, scoped } = toFilter(v.search, mailboxByName);
  if (scoped) return filter;
  const away = [state.byRole.trash, state.byRole.junk].filter(Boolean);
  const notAway = away.length ? { inMailboxOtherThan: away } : null;
  if (!filter) return notAway;
  return notAway ? { operator: 'AND', conditions: [filter, notAway] } : filter;
}

async function loadList() {
  let filter;
  try {
    filter = currentFilter();
  } catch (e) {
    status(e.message);
    state.rows = [];
    state.total = 0;
    renderList();
    return;
  }
  const accountId = state.jmap.accountId;
  const seq = ++state.listSeq;
  // One request (one look at the account on the server): the mailboxes'
  // counts, the page, its threads and their members.
  const r = await state.jmap.call([
    ['Mailbox/get', { accountId, ids: null }, 'm'],
    ['Email/query', {
      accountId, filter, sort: [{ property: 'receivedAt', isAscending: false }],
      collapseThreads: true, position: state.position, limit: PAGE, calculateTotal: true,
    }, 'q'],
    ['Email/get', { accountId, '#ids': { resultOf: 'q', name: 'Email/query', path: '/ids' }, properties: LIST_PROPERTIES }, 'e'],
    ['Thread/get', { accountId, '#ids': { resultOf: 'e', name: 'Email/get', path: '/list/*/threadId' } }, 't'],
    ['Email/get', { accountId, '#ids': { resultOf: 't', name: 'Thread/get', path: '/list/*/emailIds' }, properties: ['keywords', 'mailboxIds', 'threadId'] }, 'all'],
    // Highlighted matches of a search (RFC 8621 §5).
    ...(state.view.search && filter ? [['SearchSnippet/get', {
      accountId, filter, '#emailIds': { resultOf: 'q', name: 'Email/query', path: '/ids' },
    }, 'sn']] : []),
  ]);
  const snippets = new Map(((r.sn && r.sn.list) || []).map((x) => [x.emailId, x]));
  // A newer list was asked for meanwhile.
  if (seq !== state.listSeq) return;
  setMailboxes(r.m.list);
  const emails = new Map(r.e.list.map((e) => [e.id, e]));
  const members = new Map(r.all.list.map((e) => [e.id, e]));
  const threads = new Map(r.t.list.map((t) => [t.id, t]));
  state.total = r.q.total;
  state.rows = r.q.ids
    .map((id) => emails.get(id))
    .filter(Boolean)
    .map((email) => {
      const t = threads.get(email.threadId);
      const list = (t ? t.emailIds : [email.id]).map((id) => members.get(id)).filter(Boolean);
      return { threadId: email.threadId, email, emails: list.length ? list : [email], snippet: snippets.get(email.id) };
    });
  if (state.cursor >= state.rows.length) state.cursor = Math.max(0, state.rows.length - 1);
  const live = new Set(state.rows.map((r) => r.threadId));
  for (const t of [...state.selected]) if (!live.has(t)) state.selected.delete(t);
  renderList();
}

const unread = (row) => row.emails.some((e) => !e.keywords.$seen);
const starred = (row) => row.emails.some((e) => e.keywords.$flagged);

function fmtDate(iso) {
  const d = new Date(iso);
  const now = new Date();
  if (d.toDateString() === now.toDateString()) return d.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
  if (d.getFullYear() === now.getFullYear()) return d.toLocaleDateString([], { month: 'short', day: 'numeric' });
  return d.toLocaleDateString();
}

function who(addrs) {
  return (addrs || []).map((a) => a.name || a.email).join(', ');
}

function renderToolbar() {
  const bar = $('toolbar');
  bar.replaceChildren();
  const open = state.openThread !== null;
  const btn = (label, fn, extra = {}) => h('button', { type: 'button', onclick: () => fn().catch(fail), ...extra }, label);
  if (open) bar.append(btn('Back', async () => closeThread(true), { 'aria-label': 'Back to the list' }));
  else {
    const all = state.rows.length > 0 && state.rows.every((r) => state.selected.has(r.threadId));
    bar.append(h('input', {
      type: 'checkbox', 'aria-label': 'Select all conversations on this page', checked: all,
      onchange: (ev) => {
        for (const r of state.rows) {
          if (ev.target.checked) state.selected.add(r.threadId);
          else state.selected.delete(r.threadId);
        }
        renderList();
      },
    }));
  }
  bar.append(
    btn('Archive', () => act('archive')),
    btn('Report spam', () => act('spam')),
    btn('Delete', () => act('delete')),
    btn('Mark as read', () => act('read')),
    btn('Mark as unread', () => act('unread')),
    btn('Star', () => act('star')),
    btn('Labels', async () => labelMenu(), { 'aria-haspopup': 'true', id: 'labels-button' }),
  );
  const label = state.view.mailboxId && state.mailboxes.find((m) => m.id === state.view.mailboxId && !m.role);
  if (!open && label) {
    bar.append(
      btn('Rename label', () => renameLabel(label)),
      btn('Delete label', () => deleteLabel(label)),
    );
  }
  if (!open) {
    const from = state.total ? state.position + 1 : 0;
    const to = state.position + state.rows.length;
    bar.append(h('span', { class: 'pager' },
      h('span', { id: 'pager-text' }, `${from}–${to} of ${state.total}`),
      h('button', { type: 'button', 'aria-label': 'Newer', disabled: state.position === 0, onclick: () => page(-1).catch(fail) }, '‹'),
      h('button', { type: 'button', 'aria-label': 'Older', disabled: to >= state.total, onclick: () => page(1).catch(fail) }, '›'),
    ));
  }
}

async function page(dir) {
  const next = state.position + dir * PAGE;
  if (next < 0 || next >= state.total) return;
  state.position = next;
  state.cursor = 0;
  await loadList();
}

function renderList() {
  renderToolbar();
  const list = $('list');
  list.replaceChildren();
  const words = state.view.search ? terms(state.view.search) : [];
  if (!state.rows.length) {
    list.append(h('p', { class: 'empty' }, state.view.search ? 'No messages matched your search.' : 'No conversations here.'));
    return;
  }
  state.rows.forEach((row, i) => {
    const e = row.email;
    const labels = Object.keys(e.mailboxIds)
      .map((id) => state.mailboxes.find((m) => m.id === id))
      .filter((m) => m && !m.role && !(state.view.mailboxId === m.id));
    const isStarred = starred(row);
    const el = h('div', {
      role: 'listitem',
      class: `row${unread(row) ? ' unread' : ''}${i === state.cursor ? ' cursor' : ''}${state.selected.has(row.threadId) ? ' selected' : ''}`,
      'data-thread': row.threadId,
      'data-email': e.id,
      draggable: 'true',
      ondragstart: (ev) => {
        // The selection if this row is in it, else this row.
        const ids = state.selected.has(row.threadId) ? [...state.selected] : [row.threadId];
        ev.dataTransfer.setData(DRAG_TYPE, ids.join(' '));
        ev.dataTransfer.effectAllowed = 'move';
      },
      onclick: (ev) => {
        if (ev.target.closest('input,button')) return;
        state.cursor = i;
        openRow(row).catch(fail);
      },
    },
    h('input', {
      type: 'checkbox', class: 'select', 'aria-label': `Select ${e.subject || '(no subject)'}`,
      checked: state.selected.has(row.threadId),
      onchange: (ev) => {
        if (ev.target.checked) state.selected.add(row.threadId);
        else state.selected.delete(row.threadId);
        renderList();
      },
    }),
    h('button', {
      type: 'button', class: 'star', 'aria-label': isStarred ? 'Starred' : 'Not starred', 'aria-pressed': isStarred ? 'true' : 'false',
      onclick: () => {
        state.cursor = i;
        act('star', [row]).catch(fail);
      },
    }, isStarred ? '★' : '☆'),
    h('span', { class: 'from' }, who(e.from) || '(no sender)', row.emails.length > 1 ? ` (${row.emails.length})` : ''),
    h('span', { class: 'line' },
      h('span', { class: 'labels' }, labels.map((m) => h('span', {}, m.name))),
      h('span', { class: 'subject' }, row.snippet && row.snippet.subject ? snippetNodes(row.snippet.subject) : highlighted(e.subject || '(no subject)', words)),
      h('span', { class: 'preview' }, ' – ', row.snippet && row.snippet.preview ? snippetNodes(row.snippet.preview) : highlighted(e.preview || '', words))),
    h('span', { class: 'date' }, e.hasAttachment ? clip('Has attachments') : '', fmtDate(e.receivedAt)));
    list.append(el);
  });
}

// A draft opens in compose, anything else as a conversation.
async function openRow(row) {
  if (row.email.keywords.$draft && state.view.mailboxId === state.byRole.drafts) return openDraft(row.email.id);
  return openThread(row.threadId);
}

function moveCursor(d) {
  if (!state.rows.length) return;
  state.cursor = Math.min(state.rows.length - 1, Math.max(0, state.cursor + d));
  if (state.openThread !== null) {
    openThread(state.rows[state.cursor].threadId).catch(fail);
  } else {
    renderList();
    const el = $('list').children[state.cursor];
    if (el) el.scrollIntoView({ block: 'nearest' });
  }
}

// --- Actions ---------------------------------------------------------------------

// The conversations an action applies to: the selection, else the open
// conversation, else the one under the cursor.
function targets() {
  if (state.openThread !== null) {
    const row = state.rows.find((r) => r.threadId === state.openThread);
    return row ? [row] : [{ threadId: state.openThread, emails: state.openMessages }];
  }
  if (state.selected.size) return state.rows.filter((r) => state.selected.has(r.threadId));
  return state.rows[state.cursor] ? [state.rows[state.cursor]] : [];
}

function patchFor(action, e, allStarred) {
  const b = state.byRole;
  switch (action) {
    case 'read':
      return { 'keywords/$seen': true };
    case 'unread':
      return { 'keywords/$seen': null };
    case 'star':
      return { 'keywords/$flagged': allStarred ? null : true };
    case 'archive': {
      if (!e.mailboxIds[b.inbox]) return null;
      const p = { [`mailboxIds/${b.inbox}`]: null };
      if (b.archive) p[`mailboxIds/${b.archive}`] = true;
      return p;
    }
    case 'spam':
      return b.junk ? { mailboxIds: { [b.junk]: true } } : null;
    case 'delete':
      return b.trash ? { mailboxIds: { [b.trash]: true } } : null;
    default:
      return null;
  }
}

async function act(action, rows) {
  rows = rows || targets();
  if (!rows.length) return;
  const update = {};
  for (const row of rows) {
    const isStarred = starred(row);
    let emails = row.emails;
    // Gmail stars the newest message of a conversation.
    if (action === 'star' && !isStarred) emails = emails.slice(-1);
    for (const e of emails) {
      const p = patchFor(action, e, isStarred);
      if (p) update[e.id] = p;
    }
  }
  if (!Object.keys(update).length) return;
  const r = await state.jmap.call([['Email/set', { accountId: state.jmap.accountId, update }, 's']]);
  const failed = Object.values(r.s.notUpdated || {});
  if (failed.length) status(`Could not ${action}: ${failed[0].description || failed[0].type}`);
  else status({ archive: 'Conversation archived.', spam: 'Marked as spam.', delete: 'Moved to Trash.' }[action] || '');
  state.selected.clear();
  const leaves = ['archive', 'spam', 'delete'].includes(action);
  if (leaves && state.openThread !== null) closeThread(false);
  await refresh();
}

async function labelMenu() {
  const rows = targets();
  const bar = $('toolbar');
  const old = document.getElementById('label-menu');
  if (old) {
    old.remove();
    return;
  }
  if (!rows.length) return;
  const emails = rows.flatMap((r) => r.emails);
  const labels = state.mailboxes.filter((m) => !m.role).sort((a, b) => a.name.localeCompare(b.name));
  const menu = h('div', { id: 'label-menu', class: 'label-menu', role: 'group', 'aria-label': 'Labels' });
  for (const m of labels) {
    const has = emails.every((e) => e.mailboxIds[m.id]);
    menu.append(h('label', {},
      h('input', {
        type: 'checkbox', checked: has, 'data-label': m.id,
        onchange: (ev) => setLabel(emails, m.id, ev.target.checked).catch(fail),
      }), ` ${m.name}`));
  }
  const input = h('input', { 'aria-label': 'New label name', placeholder: 'New label' });
  menu.append(h('form', {
    onsubmit: (ev) => {
      ev.preventDefault();
      createLabel(input.value.trim(), emails).catch(fail);
    },
  }, input, h('button', { type: 'submit' }, 'Create label')));
  bar.after(menu);
}

async function setLabel(emails, mailboxId, on) {
  const update = {};
  for (const e of emails) update[e.id] = { [`mailboxIds/${mailboxId}`]: on ? true : null };
  const r = await state.jmap.call([['Email/set', { accountId: state.jmap.accountId, update }, 's']]);
  const failed = Object.values(r.s.notUpdated || {});
  if (failed.length) status(`Could not change the label: ${failed[0].description || failed[0].type}`);
  await refresh();
}

async function renameLabel(m) {
  const name = window.prompt(`Rename the label “${m.name}” to:`, m.name);
  if (!name || name.trim() === m.name) return;
  const r = await state.jmap.call([['Mailbox/set', { accountId: state.jmap.accountId, update: { [m.id]: { name: name.trim() } } }, 'm']]);
  const why = r.m.notUpdated && r.m.notUpdated[m.id];
  if (why) status(`Could not rename the label: ${why.description || why.type}`);
  await refresh();
}

// Deletes a label: its emails lose it and keep their other labels (those
// left with none follow the account's policy, as after IMAP DELETE).
async function deleteLabel(m) {
  if (!window.confirm(`Delete the label “${m.name}”? Its conversations keep their other labels.`)) return;
  const r = await state.jmap.call([['Mailbox/set', {
    accountId: state.jmap.accountId, destroy: [m.id], onDestroyRemoveEmails: true,
  }, 'm']]);
  const why = r.m.notDestroyed && r.m.notDestroyed[m.id];
  if (why) {
    status(`Could not delete the label: ${why.description || why.type}`);
    return;
  }
  await loadMailboxes();
  await go({ mailboxId: state.byRole.inbox });
}

async function createLabel(name, emails) {
  if (!name) return;
  const r = await state.jmap.call([['Mailbox/set', { accountId: state.jmap.accountId, create: { n: { name, parentId: null } } }, 'm']]);
  if (!r.m.created || !r.m.created.n) {
    const why = r.m.notCreated && r.m.notCreated.n;
    status(`Could not create the label: ${why ? why.description || why.type : 'refused'}`);
    return;
  }
  await loadMailboxes();
  await setLabel(emails, r.m.created.n.id, true);
  const menu = document.getElementById('label-menu');
  if (menu) {
    if (menu.contains(document.activeElement)) document.activeElement.blur();
    menu.remove();
  }
}

// --- The conversation view -----------------------------------------------------

function closeThread(render = true) {
  state.threadSeq++;
  state.openThread = null;
  state.openMessages = [];
  $('thread').hidden = true;
  $('thread').replaceChildren();
  $('list').hidden = false;
  if (render && state.view) renderList();
}

async function openThread(threadId) {
  const accountId = state.jmap.accountId;
  const seq = ++state.threadSeq;
  const r = await state.jmap.call([
    ['Thread/get', { accountId, ids: [threadId] }, 't'],
    ['Email/get', {
      accountId, '#ids': { resultOf: 't', name: 'Thread/get', path: '/list/*/emailIds' },
      properties: MESSAGE_PROPERTIES, fetchAllBodyValues: true, maxBodyValueBytes: 1048576,
    }, 'e'],
  ]);
  if (state.threadSeq !== seq) return;
  if (!r.t.list.length) {
    closeThread();
    return;
  }
  state.openThread = threadId;
  state.openMessages = r.e.list;
  const i = state.rows.findIndex((row) => row.threadId === threadId);
  if (i >= 0) state.cursor = i;
  renderThread();
  const unseen = r.e.list.filter((e) => !e.keywords.$seen);
  if (unseen.length) {
    const update = {};
    for (const e of unseen) update[e.id] = { 'keywords/$seen': true };
    await state.jmap.call([['Email/set', { accountId, update }, 's']]);
  }
}

function bodyText(e, parts) {
  return (parts || []).map((p) => (e.bodyValues[p.partId] ? e.bodyValues[p.partId].value : '')).join('\n');
}

function threadHeading(msgs) {
  const subject = (msgs[0] && msgs[0].subject) || '(no subject)';
  const labels = new Set(msgs.flatMap((e) => Object.keys(e.mailboxIds)));
  return h('h2', { id: 'thread-subject' }, subject, ' ',
    h('span', { class: 'labels' }, [...labels].map((id) => state.mailboxes.find((m) => m.id === id))
      .filter((m) => m && !m.role).map((m) => h('span', {}, m.name))));
}

function renderThread() {
  const msgs = state.openMessages;
  const el = $('thread');
  renderToolbar();
  $('list').hidden = true;
  el.hidden = false;
  el.replaceChildren();
  el.append(threadHeading(msgs));
  msgs.forEach((e, i) => el.append(renderMessage(e, i === msgs.length - 1 || !e.keywords.$seen)));
}

function renderMessage(e, expanded) {
  const sender = (e.from && e.from[0]) || { email: '' };
  const box = h('section', { class: `message${expanded ? '' : ' collapsed'}`, 'data-email': e.id, 'aria-label': `Message from ${who(e.from)}` });
  box.append(h('div', {
    class: 'meta',
    onclick: () => box.classList.toggle('collapsed'),
  },
  h('span', { class: 'sender' }, who(e.from) || '(no sender)', sender.name ? ` <${sender.email}>` : ''),
  h('span', { class: 'to' }, 'to ', who(e.to) || '(no recipient)', e.cc && e.cc.length ? `, cc ${who(e.cc)}` : ''),
  h('span', { class: 'when' }, new Date(e.receivedAt).toLocaleString())));
  const body = h('div', { class: 'body' });
  const html = (e.htmlBody || []).some((p) => p.type === 'text/html');
  if (html) {
    const allow = state.allowedSenders.has(sender.email.toLowerCase()) || state.allowedMessages.has(e.id);
    showHtml(body, e, allow);
  } else {
    body.append(h('div', { class: 'text' }, bodyText(e, e.textBody)));
  }
  if (e.attachments && e.attachments.length) {
    body.append(h('div', { class: 'attachments' }, e.attachments.map((a) =>
      h('a', { href: state.jmap.downloadUrl(a.blobId, a.name, a.type), download: a.name || 'attachment' },
        clip(''), `${a.name || 'attachment'} (${Math.ceil(a.size / 1024)} KB)`))));
  }
  body.append(h('div', { class: 'actions' },
    h('button', { type: 'button', onclick: () => reply(e, 'reply') }, 'Reply'),
    h('button', { type: 'button', onclick: () => reply(e, 'all') }, 'Reply all'),
    h('button', { type: 'button', onclick: () => reply(e, 'forward') }, 'Forward'),
    h('button', { type: 'button', onclick: () => showOriginal(e).catch(fail) }, 'Show original')));
  box.append(body);
  return box;
}

// The raw message (its blob, RFC 8621 §4.1.1 `blobId`), as text.
async function showOriginal(e) {
  const r = await fetch(state.jmap.downloadUrl(e.blobId, 'original.eml', 'text/plain'), { credentials: 'same-origin' });
  if (!r.ok) throw new Error(`original: HTTP ${r.status}`);
  const text = await r.text();
  const dialog = $('original');
  $('original-text').textContent = text;
  dialog.hidden = false;
  $('original-close').focus();
}
$('original-close').addEventListener('click', () => hide($('original')));

// Inline images (`cid:` references to the message's own parts) as data:
// URLs, which the message frame allows (they are not remote).
async function inlineImages(e, html) {
  const refs = new Set([...html.matchAll(/cid:([^"'\s)>]+)/gi)].map((m) => m[1]));
  const out = {};
  for (const a of e.attachments || []) {
    if (!a.cid || !refs.has(a.cid) || !/^image\//.test(a.type || '') || a.size > 5 * 1024 * 1024) continue;
    const r = await fetch(state.jmap.downloadUrl(a.blobId, a.name || 'image', a.type), { credentials: 'same-origin' });
    if (!r.ok) continue;
    const blob = await r.blob();
    out[a.cid] = await new Promise((resolve) => {
      const reader = new FileReader();
      reader.onload = () => resolve(reader.result);
      reader.onerror = () => resolve(null);
      reader.readAsDataURL(blob);
    });
  }
  return out;
}

function showHtml(body, e, allow) {
  const source = bodyText(e, e.htmlBody.filter((p) => p.type === 'text/html'));
  if (/cid:/i.test(source) && !e.inlined) {
    inlineImages(e, source)
      .then((map) => {
        e.inlined = map;
        if (Object.keys(map).length) showHtml(body, e, allow);
      })
      .catch(fail);
  }
  const { html, blocked } = renderMail(source, allow, e.inlined || {});
  const frame = h('iframe', { sandbox: SANDBOX, title: `Message from ${who(e.from)}`, referrerpolicy: 'no-referrer', class: 'mail-frame' });
  frame.srcdoc = html;
  frame.addEventListener('load', () => {
    // The frame is cross-origin (sandboxed): its height cannot be read;
    // a generous fixed height with the frame's own scrolling.
    frame.style.height = '480px';
  });
  const old = body.querySelector('.html-part');
  const part = h('div', { class: 'html-part' });
  if (blocked && !allow) {
    const sender = ((e.from && e.from[0]) || { email: '' }).email.toLowerCase();
    part.append(h('div', { class: 'images-blocked', role: 'note' },
      'Images in this message are not shown.',
      h('button', {
        type: 'button',
        onclick: () => {
          state.allowedMessages.add(e.id);
          showHtml(body, e, true);
        },
      }, 'Show images'),
      sender ? h('button', {
        type: 'button',
        onclick: () => {
          state.allowedSenders.add(sender);
          localStorage.setItem('tidings.allowImages', JSON.stringify([...state.allowedSenders]));
          showHtml(body, e, true);
        },
      }, `Always show images from ${sender}`) : null));
  }
  part.append(frame);
  if (old) old.replaceWith(part);
  else body.prepend(part);
}

// --- Compose ----------------------------------------------------------------------

function parseAddresses(text) {
  return text
    .split(/[,;]/)
    .map((s) => s.trim())
    .filter(Boolean)
    .map((s) => {
      const m = /^(.*)<([^>]+)>$/.exec(s);
      if (m) {
        const name = m[1].trim().replace(/^"|"$/g, '');
        return name ? { name, email: m[2].trim() } : { email: m[2].trim() };
      }
      return { email: s };
    });
}

function fmtAddresses(list) {
  return (list || []).map((a) => (a.name ? `${a.name} <${a.email}>` : a.email)).join(', ');
}

function openCompose(fields = {}) {
  if (state.compose && !state.compose.saved) saveDraft().catch(fail);
  state.compose = {
    draftId: fields.draftId || null,
    inReplyTo: fields.inReplyTo || null,
    references: fields.references || null,
    attachments: fields.attachments || [],
    saveTimer: null,
    saved: true,
    rich: false,
  };
  $('compose-title').textContent = fields.title || 'New message';
  const from = $('compose-from');
  from.replaceChildren(...state.identities.map((i) => h('option', { value: i.id }, i.name ? `${i.name} <${i.email}>` : i.email)));
  from.value = (state.identities.find((i) => i.id === fields.identityId) || state.identity).id;
  from.hidden = state.identities.length < 2;
  $('compose-to').value = fields.to || '';
  $('compose-cc').value = fields.cc || '';
  $('compose-subject').value = fields.subject || '';
  const signature = state.identity && state.identity.textSignature;
  $('compose-body').value = (fields.body || '') + (signature && !fields.draftId ? `\n\n-- \n${signature}` : '');
  showRich(false);
  if (fields.html) {
    $('compose-rich').innerHTML = richHtml(fields.html);
    showRich(true);
  }
  $('compose-status').textContent = '';
  renderAttachments();
  $('compose').hidden = false;
  (fields.to ? $('compose-body') : $('compose-to')).focus();
}

// Hides a dialog, taking the focus out of it first (so that the next key
// is a shortcut again, not typing into a hidden field).
function hide(el) {
  if (el.contains(document.activeElement)) document.activeElement.blur();
  el.hidden = true;
}

// Plain text or the rich-text editor (formatting: sanitised HTML out).
function showRich(on) {
  const c = state.compose;
  if (c) c.rich = on;
  $('compose-rich').hidden = !on;
  $('compose-format').hidden = !on;
  $('compose-body').hidden = on;
  $('compose-rich-toggle').setAttribute('aria-pressed', on ? 'true' : 'false');
}

$('compose-rich-toggle').addEventListener('click', () => {
  const c = state.compose;
  if (!c) return;
  if (c.rich) {
    $('compose-body').value = $('compose-rich').innerText;
    showRich(false);
    $('compose-body').focus();
  } else {
    $('compose-rich').innerHTML = textToHtml($('compose-body').value);
    showRich(true);
    $('compose-rich').focus();
  }
  draftChanged();
});

for (const b of $('compose-format').querySelectorAll('button')) {
  // Keep the editor's selection: the button must not take the focus.
  b.addEventListener('mousedown', (ev) => ev.preventDefault());
  b.addEventListener('click', () => {
    const cmd = b.dataset.cmd;
    let value = null;
    if (cmd === 'createLink') {
      value = window.prompt('Link address (https://…)', 'https://');
      if (!value || !/^(https?:|mailto:)/i.test(value)) return;
    }
    document.execCommand(cmd, false, value);
    draftChanged();
  });
}
$('compose-rich').addEventListener('input', draftChanged);

// Closes the compose window; the draft stays saved in Drafts.
async function closeCompose() {
  const c = state.compose;
  hide($('compose'));
  if (!c) return;
  clearTimeout(c.saveTimer);
  if (!c.saved) await saveDraft(c);
  state.compose = null;
}

// Discards the draft: closed, and destroyed on the server.
async function discardCompose() {
  const c = state.compose;
  hide($('compose'));
  state.compose = null;
  if (!c) return;
  clearTimeout(c.saveTimer);
  if (c.draftId) {
    await state.jmap.call([['Email/set', { accountId: state.jmap.accountId, destroy: [c.draftId] }, 'd']]);
    status('Draft discarded.');
  }
}

// The Email object of what the compose window holds.
// The identity chosen in compose's From.
function fromIdentity() {
  return state.identities.find((i) => i.id === $('compose-from').value) || state.identity;
}

function composedEmail(c, mailboxIds, keywords) {
  const id = fromIdentity();
  const email = {
    from: [{ name: id.name || null, email: id.email }],
    to: parseAddresses($('compose-to').value),
    subject: $('compose-subject').value,
    keywords,
    mailboxIds,
    bodyValues: { body: { value: $('compose-body').value } },
    textBody: [{ partId: 'body', type: 'text/plain' }],
  };
  if (c.rich) {
    const html = richHtml($('compose-rich').innerHTML);
    email.bodyValues = {
      body: { value: $('compose-rich').innerText },
      html: { value: `<!doctype html><html><body>${html}</body></html>` },
    };
    email.htmlBody = [{ partId: 'html', type: 'text/html' }];
  }
  const cc = parseAddresses($('compose-cc').value);
  if (cc.length) email.cc = cc;
  if (c.attachments.length) {
    email.attachments = c.attachments.map((a) => ({ blobId: a.blobId, type: a.type, name: a.name, disposition: 'attachment' }));
  }
  if (c.inReplyTo) {
    email.inReplyTo = c.inReplyTo;
    email.references = c.references;
  }
  return email;
}

// Saves the draft (a new Email in Drafts replaces the last one).
async function saveDraft(c = state.compose) {
  if (!c || !state.byRole.drafts) return;
  clearTimeout(c.saveTimer);
  const email = composedEmail(c, { [state.byRole.drafts]: true }, { $draft: true, $seen: true });
  c.saved = true;
  if (c.saving) await c.saving.catch(() => {});
  const set = { accountId: state.jmap.accountId, create: { draft: email } };
  if (c.draftId) set.destroy = [c.draftId];
  c.saving = state.jmap.call([['Email/set', set, 'd']]);
  const r = await c.saving;
  c.saving = null;
  if (r.d.created && r.d.created.draft) {
    c.draftId = r.d.created.draft.id;
    if (state.compose === c) $('compose-status').textContent = 'Draft saved';
  } else if (state.compose === c) {
    const why = r.d.notCreated && r.d.notCreated.draft;
    $('compose-status').textContent = `Draft not saved: ${why ? why.description || why.type : 'refused'}`;
  }
}

function draftChanged() {
  const c = state.compose;
  if (!c) return;
  c.saved = false;
  clearTimeout(c.saveTimer);
  c.saveTimer = setTimeout(() => saveDraft(c).catch(fail), 1500);
}

// The caret goes above the signature and the quote, as in Gmail.
$('compose-body').addEventListener('focus', () => {
  const c = state.compose;
  if (c && !c.caretPlaced) {
    c.caretPlaced = true;
    // After the click that focused it has placed the caret.
    setTimeout(() => $('compose-body').setSelectionRange(0, 0), 0);
  }
});

for (const id of ['compose-to', 'compose-cc', 'compose-subject', 'compose-body']) {
  $(id).addEventListener('input', draftChanged);
}

function renderAttachments() {
  const c = state.compose;
  const box = $('compose-attachments');
  box.replaceChildren();
  if (!c) return;
  for (const a of c.attachments) {
    box.append(h('span', { class: 'chip' }, clip(''), `${a.name} (${Math.ceil(a.size / 1024)} KB)`,
      h('button', {
        type: 'button', class: 'icon', 'aria-label': `Remove ${a.name}`,
        onclick: () => {
          c.attachments = c.attachments.filter((x) => x !== a);
          renderAttachments();
          draftChanged();
        },
      }, '✕')));
  }
}

async function attach(files) {
  const c = state.compose;
  if (!c) return;
  for (const file of files) {
    $('compose-status').textContent = `Uploading ${file.name}…`;
    const blob = await state.jmap.upload(file);
    c.attachments.push({ blobId: blob.blobId, type: blob.type || file.type || 'application/octet-stream', name: file.name, size: blob.size });
    renderAttachments();
  }
  $('compose-status').textContent = '';
  draftChanged();
}

$('compose-file').addEventListener('change', (ev) => {
  attach([...ev.target.files]).catch((e) => {
    $('compose-status').textContent = `Not attached: ${e.message}`;
  });
  ev.target.value = '';
});
$('compose').addEventListener('dragover', (ev) => {
  ev.preventDefault();
  $('compose').classList.add('dropping');
});
$('compose').addEventListener('dragleave', () => $('compose').classList.remove('dropping'));
$('compose').addEventListener('drop', (ev) => {
  ev.preventDefault();
  $('compose').classList.remove('dropping');
  attach([...ev.dataTransfer.files]).catch((e) => {
    $('compose-status').textContent = `Not attached: ${e.message}`;
  });
});

// Opens a draft from Drafts in the compose window.
async function openDraft(emailId) {
  const r = await state.jmap.call([['Email/get', {
    accountId: state.jmap.accountId, ids: [emailId],
    properties: ['to', 'cc', 'subject', 'textBody', 'htmlBody', 'bodyValues', 'attachments', 'inReplyTo', 'references'],
    fetchAllBodyValues: true,
  }, 'e']]);
  const e = r.e.list[0];
  if (!e) return;
  const htmlParts = (e.htmlBody || []).filter((p) => p.type === 'text/html');
  openCompose({
    title: 'Draft',
    draftId: e.id,
    to: fmtAddresses(e.to),
    cc: fmtAddresses(e.cc),
    subject: e.subject || '',
    body: bodyText(e, e.textBody),
    html: htmlParts.length ? bodyText(e, htmlParts) : null,
    inReplyTo: e.inReplyTo,
    references: e.references,
    attachments: (e.attachments || []).map((a) => ({ blobId: a.blobId, type: a.type, name: a.name || 'attachment', size: a.size })),
  });
}

function prefixed(prefix, subject) {
  const s = subject || '';
  return new RegExp(`^${prefix}:`, 'i').test(s) ? s : `${prefix}: ${s}`;
}

function reply(e, kind) {
  const me = state.jmap.username.toLowerCase();
  const text = bodyText(e, e.textBody) || e.preview || '';
  const date = new Date(e.sentAt || e.receivedAt).toLocaleString();
  if (kind === 'forward') {
    openCompose({
      title: 'Forward',
      subject: prefixed('Fwd', e.subject),
      body: `\n\n---------- Forwarded message ---------\nFrom: ${fmtAddresses(e.from)}\nDate: ${date}\nSubject: ${e.subject || ''}\nTo: ${fmtAddresses(e.to)}\n\n${text}`,
      attachments: (e.attachments || []).map((a) => ({ blobId: a.blobId, type: a.type, name: a.name || 'attachment', size: a.size })),
    });
    return;
  }
  const to = e.replyTo && e.replyTo.length ? e.replyTo : e.from || [];
  let cc = [];
  if (kind === 'all') {
    const seen = new Set(to.map((a) => a.email.toLowerCase()).concat([me]));
    cc = [...(e.to || []), ...(e.cc || [])].filter((a) => {
      const k = a.email.toLowerCase();
      if (seen.has(k)) return false;
      seen.add(k);
      return true;
    });
  }
  const quoted = text.split('\n').map((l) => `> ${l}`).join('\n');
  openCompose({
    title: kind === 'all' ? 'Reply all' : 'Reply',
    to: fmtAddresses(to.filter((a) => a.email.toLowerCase() !== me || to.length === 1)),
    cc: fmtAddresses(cc),
    subject: prefixed('Re', e.subject),
    body: `\n\nOn ${date}, ${fmtAddresses(e.from)} wrote:\n${quoted}\n`,
    inReplyTo: e.messageId || null,
    references: [...(e.references || []), ...(e.messageId || [])],
  });
}

// How long a sent message waits in the server's queue, undoable
// (RFC 4865 HOLDFOR, at most the server's maxDelayedSend).
function undoSeconds() {
  const account = state.jmap.session.accounts[state.jmap.accountId] || {};
  const cap = (account.accountCapabilities || {})['urn:ietf:params:jmap:submission'] || {};
  return Math.min(10, cap.maxDelayedSend || 0);
}

async function send() {
  const c = state.compose;
  const to = parseAddresses($('compose-to').value);
  const cc = parseAddresses($('compose-cc').value);
  if (!to.length && !cc.length) {
    $('compose-status').textContent = 'Add at least one recipient.';
    return;
  }
  clearTimeout(c.saveTimer);
  if (c.saving) await c.saving.catch(() => {});
  const b = state.byRole;
  const id = fromIdentity();
  const email = composedEmail(c, { [b.drafts]: true }, { $seen: true, $draft: true });
  const onSent = { 'keywords/$draft': null, [`mailboxIds/${b.drafts}`]: null };
  if (b.sent) onSent[`mailboxIds/${b.sent}`] = true;
  const hold = undoSeconds();
  const submission = { identityId: id.id, emailId: '#draft' };
  if (hold > 0) {
    submission.envelope = {
      mailFrom: { email: id.email, parameters: { HOLDFOR: String(hold) } },
      rcptTo: [...to, ...cc].map((a) => ({ email: a.email, parameters: null })),
    };
  }
  $('compose-status').textContent = 'Sending…';
  const set = { accountId: state.jmap.accountId, create: { draft: email } };
  if (c.draftId) set.destroy = [c.draftId];
  const r = await state.jmap.call([
    ['Email/set', set, 'c'],
    ['EmailSubmission/set', {
      accountId: state.jmap.accountId,
      create: { send: submission },
      onSuccessUpdateEmail: { '#send': onSent },
    }, 's'],
  ], true);
  if (r.c.created && r.c.created.draft) c.draftId = r.c.created.draft.id;
  const bad = (r.c.notCreated && r.c.notCreated.draft) || (r.s.notCreated && r.s.notCreated.send) || (r.s.type && r.s);
  if (bad) {
    $('compose-status').textContent = `Not sent: ${bad.description || bad.type}`;
    return;
  }
  const fields = {
    title: 'New message', draftId: c.draftId, to: $('compose-to').value, cc: $('compose-cc').value,
    identityId: fromIdentity().id,
    subject: $('compose-subject').value, body: $('compose-body').value,
    html: c.rich ? $('compose-rich').innerHTML : null,
    inReplyTo: c.inReplyTo, references: c.references, attachments: c.attachments,
  };
  hide($('compose'));
  state.compose = null;
  const submissionId = r.s.created.send.id;
  if (hold > 0) {
    status('Message sent.', [' ', h('button', { type: 'button', onclick: () => undoSend(submissionId, fields).catch(fail) }, 'Undo')], hold);
  } else {
    status('Message sent.');
  }
  await refresh();
}

// Cancels a held submission and puts the message back in compose.
async function undoSend(submissionId, fields) {
  const accountId = state.jmap.accountId;
  const r = await state.jmap.call([
    ['EmailSubmission/set', { accountId, update: { [submissionId]: { undoStatus: 'canceled' } } }, 'u'],
  ]);
  if (!r.u.updated || !(submissionId in r.u.updated)) {
    const why = r.u.notUpdated && r.u.notUpdated[submissionId];
    status(`Too late to undo: ${why ? why.description || why.type : 'the message has left'}`);
    return;
  }
  const b = state.byRole;
  await state.jmap.call([['Email/set', {
    accountId,
    update: { [fields.draftId]: { mailboxIds: { [b.drafts]: true }, 'keywords/$draft': true } },
  }, 'e']]);
  status('Sending undone.');
  openCompose(fields);
  await refresh();
}

$('compose-form').addEventListener('submit', (ev) => {
  ev.preventDefault();
  send().catch((e) => {
    $('compose-status').textContent = `Not sent: ${e.message}`;
  });
});
$('compose-close').addEventListener('click', () => discardCompose().catch(fail));
$('compose-button').addEventListener('click', () => openCompose());

// --- Search, menu, help ------------------------------------------------------------

$('search-form').addEventListener('submit', (ev) => {
  ev.preventDefault();
  const q = $('search').value.trim();
  $('search').blur();
  (q ? go({ search: q }) : go({ mailboxId: state.byRole.inbox })).catch(fail);
});

$('menu').addEventListener('click', () => {
  const open = $('sidebar').classList.toggle('open');
  $('menu').setAttribute('aria-expanded', open ? 'true' : 'false');
});

function toggleHelp(show) {
  if (show === undefined ? !$('help').hidden : !show) hide($('help'));
  else $('help').hidden = false;
  if (!$('help').hidden) $('help-close').focus();
}
$('help-close').addEventListener('click', () => toggleHelp(false));

// --- Settings: identity and vacation responder (JMAP Identity, VacationResponse) ---

// The identities (RFC 8621 §6) the account may send as; the default is
// the one of the account's own address.
function setIdentities(list) {
  state.identities = list;
  state.identity = list.find((i) => i.email.toLowerCase() === state.jmap.username.toLowerCase()) || list[0];
}

function renderIdentities() {
  $('identities').replaceChildren(...state.identities.map((i) => h('li', {}, i.name ? `${i.name} <${i.email}>` : i.email)));
}

async function addIdentity() {
  const email = $('identity-new-email').value.trim();
  if (!email) return;
  const accountId = state.jmap.accountId;
  const r = await state.jmap.call([
    ['Identity/set', { accountId, create: { n: { email, name: $('identity-new-name').value.trim() } } }, 's'],
    ['Identity/get', { accountId }, 'g'],
  ]);
  const bad = r.s.notCreated && r.s.notCreated.n;
  if (bad) {
    $('settings-status').textContent = `Not added: ${bad.description || bad.type}`;
    return;
  }
  setIdentities(r.g.list);
  renderIdentities();
  $('identity-new-email').value = '';
  $('identity-new-name').value = '';
  $('settings-status').textContent = `${email} added.`;
}
$('identity-add').addEventListener('click', () => addIdentity().catch(fail));

// A UTCDate (RFC 8620 §1.4) as the value of an <input type=date>, and back.
const dayOf = (utc) => (utc ? utc.slice(0, 10) : '');
const utcOf = (day, end) => (day ? `${day}T${end ? '23:59:59' : '00:00:00'}Z` : null);

async function openSettings() {
  const accountId = state.jmap.accountId;
  const r = await state.jmap.call([
    ['Identity/get', { accountId }, 'i'],
    ['VacationResponse/get', { accountId, ids: ['singleton'] }, 'v'],
  ]);
  setIdentities(r.i.list);
  renderIdentities();
  const id = state.identity;
  const v = r.v.list[0] || {};
  $('identity-name').value = id.name || '';
  $('identity-signature').value = id.textSignature || '';
  $('vacation-on').checked = !!v.isEnabled;
  $('vacation-from').value = dayOf(v.fromDate);
  $('vacation-to').value = dayOf(v.toDate);
  $('vacation-subject').value = v.subject || '';
  $('vacation-body').value = v.textBody || '';
  $('settings-status').textContent = '';
  $('settings').hidden = false;
  $('identity-name').focus();
}

async function saveSettings() {
  const accountId = state.jmap.accountId;
  const r = await state.jmap.call([
    ['Identity/set', {
      accountId,
      update: { [state.identity.id]: { name: $('identity-name').value, textSignature: $('identity-signature').value } },
    }, 'i'],
    ['VacationResponse/set', {
      accountId,
      update: {
        singleton: {
          isEnabled: $('vacation-on').checked,
          fromDate: utcOf($('vacation-from').value, false),
          toDate: utcOf($('vacation-to').value, true),
          subject: $('vacation-subject').value || null,
          textBody: $('vacation-body').value || null,
        },
      },
    }, 'v'],
    ['Identity/get', { accountId }, 'g'],
  ]);
  const bad = Object.values(r.i.notUpdated || {})[0] || Object.values(r.v.notUpdated || {})[0];
  if (bad) {
    $('settings-status').textContent = `Not saved: ${bad.description || bad.type}`;
    return;
  }
  setIdentities(r.g.list);
  hide($('settings'));
  status('Settings saved.');
}

$('settings-button').addEventListener('click', () => openSettings().catch(fail));
$('settings-close').addEventListener('click', () => hide($('settings')));
$('settings-form').addEventListener('submit', (ev) => {
  ev.preventDefault();
  saveSettings().catch((e) => {
    $('settings-status').textContent = `Not saved: ${e.message}`;
  });
});

// --- Live updates --------------------------------------------------------------------

function scheduleRefresh() {
  clearTimeout(state.refreshTimer);
  state.refreshTimer = setTimeout(() => refresh().catch(fail), 150);
}

async function refresh() {
  if (!state.jmap) return;
  await loadList();
  if (state.openThread !== null) {
    const accountId = state.jmap.accountId;
    const open = state.openThread;
    const seq = state.threadSeq;
    const r = await state.jmap.call([
      ['Thread/get', { accountId, ids: [open] }, 't'],
      ['Email/get', {
        accountId, '#ids': { resultOf: 't', name: 'Thread/get', path: '/list/*/emailIds' },
        properties: MESSAGE_PROPERTIES, fetchAllBodyValues: true, maxBodyValueBytes: 1048576,
      }, 'e'],
    ]);
    // The user went elsewhere meanwhile.
    if (state.threadSeq !== seq) return;
    if (!r.t.list.length) {
      closeThread();
      return;
    }
    // New or removed messages re-render the conversation; changed
    // keywords or labels only its heading (the message frames stay).
    const before = state.openMessages.map((e) => e.id).join();
    const after = r.e.list.map((e) => e.id).join();
    state.openMessages = r.e.list;
    if (before !== after) renderThread();
    else {
      renderToolbar();
      $('thread-subject').replaceWith(threadHeading(r.e.list));
    }
  }
}

// --- Keyboard shortcuts (Gmail's) ------------------------------------------------------

document.addEventListener('keydown', (ev) => {
  if (!state.jmap || $('app').hidden) return;
  const t = ev.target;
  const typing = t && (t.tagName === 'INPUT' || t.tagName === 'TEXTAREA' || t.isContentEditable);
  if (ev.key === 'Escape') {
    if (!$('help').hidden) toggleHelp(false);
    else if (!$('original').hidden) hide($('original'));
    else if (!$('settings').hidden) hide($('settings'));
    else if (!$('compose').hidden) closeCompose().catch(fail);
    else if (typing) t.blur();
    return;
  }
  if (typing || ev.ctrlKey || ev.metaKey || ev.altKey) return;
  const run = (p) => {
    ev.preventDefault();
    Promise.resolve(p).catch(fail);
  };
  // Gmail's two-key "go to": g then i (Inbox), s (Starred), t (Sent),
  // d (Drafts), a (All Mail).
  if (state.goPending) {
    state.goPending = false;
    const role = { i: 'inbox', s: 'flagged', t: 'sent', d: 'drafts', a: 'all' }[ev.key];
    if (role && state.byRole[role]) {
      $('search').value = '';
      return run(go({ mailboxId: state.byRole[role] }));
    }
  }
  if (ev.key === 'g') {
    state.goPending = true;
    return run(null);
  }
  switch (ev.key) {
    case 'j': return run(moveCursor(1));
    case 'k': return run(moveCursor(-1));
    case 'o':
    case 'Enter':
      if (t && t.tagName === 'BUTTON') return undefined;
      return run(state.rows[state.cursor] && openRow(state.rows[state.cursor]));
    case 'u': return run(state.openThread !== null ? closeThread(true) : loadList());
    case 'x': {
      const row = state.rows[state.cursor];
      if (!row) return undefined;
      if (state.selected.has(row.threadId)) state.selected.delete(row.threadId);
      else state.selected.add(row.threadId);
      return run(renderList());
    }
    case 's': return run(act('star'));
    case 'e': return run(act('archive'));
    case '#': return run(act('delete'));
    case '!': return run(act('spam'));
    case 'I': return run(act('read'));
    case 'U': return run(act('unread'));
    case 'c': return run(openCompose());
    case 'r':
    case 'a':
    case 'f': {
      const msgs = state.openMessages;
      if (!msgs.length) return undefined;
      return run(reply(msgs[msgs.length - 1], { r: 'reply', a: 'all', f: 'forward' }[ev.key]));
    }
    case '/': return run($('search').focus());
    case '?': return run(toggleHelp());
    default: return undefined;
  }
});

start().catch(fail);
