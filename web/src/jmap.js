// A small JMAP client (RFC 8620/8621) for the webmail. The session is the
// HttpOnly cookie set by POST /auth/session; every request also carries
// X-Tidings-Webmail, which the server requires of cookie requests that
// change state (CSRF protection).

export const USING = [
  'urn:ietf:params:jmap:core',
  'urn:ietf:params:jmap:mail',
  'urn:ietf:params:jmap:submission',
  'urn:ietf:params:jmap:vacationresponse',
];

const HEADERS = { 'X-Tidings-Webmail': '1' };

export class Unauthorized extends Error {}

export class Jmap {
  constructor(session) {
    this.session = session;
    this.accountId = session.primaryAccounts['urn:ietf:params:jmap:mail'];
    this.username = session.username;
  }

  // The session resource, or Unauthorized when not signed in.
  static async connect() {
    const r = await fetch('/.well-known/jmap', { headers: HEADERS, credentials: 'same-origin' });
    if (r.status === 401) throw new Unauthorized();
    if (!r.ok) throw new Error(`session: HTTP ${r.status}`);
    return new Jmap(await r.json());
  }

  static async signIn(username, password) {
    const body = new URLSearchParams({ username, password });
    const r = await fetch('/auth/session', {
      method: 'POST',
      headers: HEADERS,
      body,
      credentials: 'same-origin',
    });
    if (r.status === 201) return;
    let detail = `HTTP ${r.status}`;
    try {
      detail = (await r.json()).detail || detail;
    } catch (_) {
      // not JSON
    }
    throw new Error(r.status === 401 ? 'Wrong address or password.' : detail);
  }

  static async signOut() {
    await fetch('/auth/session', { method: 'DELETE', headers: HEADERS, credentials: 'same-origin' });
  }

  // Runs method calls; returns the responses by call id. A method-level
  // error throws unless `allowErrors`.
  async call(calls, allowErrors = false) {
    const r = await fetch(this.session.apiUrl, {
      method: 'POST',
      headers: { ...HEADERS, 'Content-Type': 'application/json' },
      body: JSON.stringify({ using: USING, methodCalls: calls }),
      credentials: 'same-origin',
    });
    if (r.status === 401) throw new Unauthorized();
    if (!r.ok) throw new Error(`JMAP: HTTP ${r.status}`);
    const out = {};
    for (const [name, args, id] of (await r.json()).methodResponses) {
      if (name === 'error' && !allowErrors) {
        throw new Error(`${id}: ${args.type}${args.description ? ': ' + args.description : ''}`);
      }
      // Implicit responses (onSuccessUpdateEmail) share the call id.
      if (out[id] === undefined) out[id] = args;
      else out[id + ':' + name] = args;
    }
    return out;
  }

  // Uploads a file (RFC 8620 §6.1); { blobId, type, size }.
  async upload(file) {
    const url = this.session.uploadUrl.replace('{accountId}', encodeURIComponent(this.accountId));
    const r = await fetch(url, {
      method: 'POST',
      headers: { ...HEADERS, 'Content-Type': file.type || 'application/octet-stream' },
      body: file,
      credentials: 'same-origin',
    });
    if (r.status === 401) throw new Unauthorized();
    if (!r.ok) {
      let detail = `HTTP ${r.status}`;
      try {
        detail = (await r.json()).detail || detail;
      } catch (_) {
        // not JSON
      }
      throw new Error(detail);
    }
    return r.json();
  }

  downloadUrl(blobId, name, type) {
    return this.session.downloadUrl
      .replace('{accountId}', encodeURIComponent(this.accountId))
      .replace('{blobId}', encodeURIComponent(blobId))
      .replace('{name}', encodeURIComponent(name || 'attachment'))
      .replace('{type}', encodeURIComponent(type || 'application/octet-stream'));
  }

  // Push (RFC 8620 §7.3): calls `onChange` at every StateChange.
  // A stream the server refused (401 after sign-out elsewhere) is closed
  // by the browser: `onClosed` is told.
  listen(onChange, onClosed = () => {}) {
    const url = this.session.eventSourceUrl
      .replace('{types}', '*')
      .replace('{closeafter}', 'no')
      .replace('{ping}', '60');
    const es = new EventSource(url, { withCredentials: true });
    es.addEventListener('state', () => onChange());
    es.addEventListener('error', () => {
      if (es.readyState === EventSource.CLOSED) onClosed();
    });
    return es;
  }
}
