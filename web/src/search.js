// Gmail's search operators mapped onto Email/query filters (RFC 8621
// §4.4.1): from: to: cc: subject: label: in: is:unread|read|starred
// has:attachment before: after: (YYYY/MM/DD or YYYY-MM-DD), "quoted
// phrases" and free text. `mailboxByName(name)` finds a mailbox id by name
// or role; an unknown label gives an error the page shows.

export function tokenize(q) {
  const out = [];
  const re = /\s*(-?)([a-zA-Z]+:)?("([^"]*)"|\S+)/gy;
  let m;
  while ((m = re.exec(q)) !== null && m[0].trim() !== '') {
    const value = m[4] !== undefined ? m[4] : m[3];
    out.push({ negate: m[1] === '-', op: m[2] ? m[2].slice(0, -1).toLowerCase() : null, value });
  }
  return out;
}

function date(value) {
  const m = /^(\d{4})[/-](\d{1,2})[/-](\d{1,2})$/.exec(value);
  if (!m) throw new Error(`not a date: ${value} (use YYYY/MM/DD)`);
  const d = new Date(Date.UTC(+m[1], +m[2] - 1, +m[3]));
  return d.toISOString().replace('.000Z', 'Z');
}

// { filter, scoped }: `scoped` is true when the query names a mailbox
// itself (in:/label:), so the page need not exclude Trash and Spam.
export function toFilter(q, mailboxByName) {
  const conditions = [];
  let scoped = false;
  const text = [];
  for (const t of tokenize(q)) {
    let c;
    switch (t.op) {
      case 'from':
      case 'to':
      case 'cc':
      case 'bcc':
      case 'subject':
        c = { [t.op]: t.value };
        break;
      case 'label':
      case 'in': {
        const id = mailboxByName(t.value);
        if (!id) throw new Error(`no label named ${t.value}`);
        c = { inMailbox: id };
        scoped = true;
        break;
      }
      case 'is':
        switch (t.value.toLowerCase()) {
          case 'unread':
            c = { notKeyword: '$seen' };
            break;
          case 'read':
            c = { hasKeyword: '$seen' };
            break;
          case 'starred':
            c = { hasKeyword: '$flagged' };
            break;
          case 'unstarred':
            c = { notKeyword: '$flagged' };
            break;
          default:
            throw new Error(`unknown is:${t.value}`);
        }
        break;
      case 'has':
        if (t.value.toLowerCase() !== 'attachment') throw new Error(`unknown has:${t.value}`);
        c = { hasAttachment: true };
        break;
      case 'before':
        c = { before: date(t.value) };
        break;
      case 'after':
        c = { after: date(t.value) };
        break;
      case null:
        if (t.negate) c = { text: t.value };
        else text.push(t.value);
        break;
      default:
        // An unknown operator is searched as text, as Gmail does.
        text.push(`${t.op}:${t.value}`);
    }
    if (c) conditions.push(t.negate ? { operator: 'NOT', conditions: [c] } : c);
  }
  if (text.length) conditions.push({ text: text.join(' ') });
  if (conditions.length === 0) return { filter: null, scoped };
  const filter = conditions.length === 1 ? conditions[0] : { operator: 'AND', conditions };
  return { filter, scoped };
}

// The words to highlight in the list (free text only).
export function terms(q) {
  return tokenize(q)
    .filter((t) => !t.negate && (t.op === null || t.op === 'subject'))
    .map((t) => t.value);
}
