// Known answers for Gmail's search operators → Email/query filters
// (web/src/search.js), run by Node's own test runner (node --test) from
// crates/server/tests/webmail.rs.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { terms, toFilter, tokenize } from '../src/search.js';

const boxes = { work: 'M7', inbox: 'M1', trash: 'M5' };
const byName = (n) => boxes[n.toLowerCase()] || null;

test('free text is one text condition', () => {
  assert.deepEqual(toFilter('hello world', byName), { filter: { text: 'hello world' }, scoped: false });
});

test('address and subject operators, quoted values', () => {
  assert.deepEqual(toFilter('from:ann@example.org subject:"weekly report"', byName).filter, {
    operator: 'AND',
    conditions: [{ from: 'ann@example.org' }, { subject: 'weekly report' }],
  });
});

test('label: and in: name mailboxes and scope the search', () => {
  assert.deepEqual(toFilter('label:Work', byName), { filter: { inMailbox: 'M7' }, scoped: true });
  assert.deepEqual(toFilter('in:trash', byName), { filter: { inMailbox: 'M5' }, scoped: true });
  assert.throws(() => toFilter('label:nope', byName), /no label named nope/);
});

test('is:, has:, before:, after: and negation', () => {
  assert.deepEqual(toFilter('is:unread', byName).filter, { notKeyword: '$seen' });
  assert.deepEqual(toFilter('is:starred', byName).filter, { hasKeyword: '$flagged' });
  assert.deepEqual(toFilter('has:attachment', byName).filter, { hasAttachment: true });
  assert.deepEqual(toFilter('before:2024/02/03', byName).filter, { before: '2024-02-03T00:00:00Z' });
  assert.deepEqual(toFilter('after:2024-2-3', byName).filter, { after: '2024-02-03T00:00:00Z' });
  assert.deepEqual(toFilter('-is:starred', byName).filter, {
    operator: 'NOT',
    conditions: [{ hasKeyword: '$flagged' }],
  });
  assert.throws(() => toFilter('before:yesterday', byName), /not a date/);
  assert.throws(() => toFilter('is:sideways', byName), /unknown is:sideways/);
});

test('an unknown operator is searched as text; an empty query is no filter', () => {
  assert.deepEqual(toFilter('size:big', byName).filter, { text: 'size:big' });
  assert.deepEqual(toFilter('   ', byName), { filter: null, scoped: false });
});

test('tokens and highlight terms', () => {
  assert.deepEqual(tokenize('a "b c" -d:e'), [
    { negate: false, op: null, value: 'a' },
    { negate: false, op: null, value: 'b c' },
    { negate: true, op: 'd', value: 'e' },
  ]);
  assert.deepEqual(terms('from:x needle subject:hay -skip'), ['needle', 'hay']);
});
