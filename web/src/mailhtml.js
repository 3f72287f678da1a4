// Mail HTML is untrusted. It is sanitised by DOMPurify (no script, no
// event handlers, no forms, no frames), remote resources are removed
// unless the user allowed them, links open in a new tab with
// rel=noopener, and the result is shown in an <iframe sandbox> without
// allow-scripts whose own Content-Security-Policy forbids script and, until
// the user asks, every remote load.

import DOMPurify from 'dompurify';

const REMOTE = /^\s*(https?:)?\/\//i;
const CSS_URL = /url\s*\(\s*(['"]?)\s*(https?:)?\/\//i;

// { html, blocked }: the document for the frame's srcdoc, and how many
// remote resources were held back.
export function renderMail(untrusted, allowRemote, inline = {}) {
  let blocked = 0;
  const purify = DOMPurify();
  purify.addHook('afterSanitizeAttributes', (node) => {
    // cid: references to the message's own images, as data: URLs.
    const src = node.getAttribute && node.getAttribute('src');
    if (node.tagName === 'IMG' && src && /^cid:/i.test(src)) {
      const data = inline[src.slice(4)];
      if (data && /^data:image\//.test(data)) node.setAttribute('src', data);
      else node.removeAttribute('src');
    }
    if (node.tagName === 'A' && node.hasAttribute('href')) {
      node.setAttribute('target', '_blank');
      node.setAttribute('rel', 'noopener noreferrer');
    }
    for (const attr of ['src', 'srcset', 'background', 'poster']) {
      const v = node.getAttribute && node.getAttribute(attr);
      if (v && REMOTE.test(v) && !allowRemote) {
        node.removeAttribute(attr);
        node.setAttribute('data-blocked', attr);
        blocked++;
      }
    }
    const style = node.getAttribute && node.getAttribute('style');
    if (style && CSS_URL.test(style) && !allowRemote) {
      node.removeAttribute('style');
      blocked++;
    }
  });
  purify.addHook('uponSanitizeElement', (node, data) => {
    if (data.tagName === 'style' && CSS_URL.test(node.textContent || '') && !allowRemote) {
      node.textContent = (node.textContent || '').replace(/url\s*\([^)]*\)/gi, 'none');
      blocked++;
    }
  });
  const clean = purify.sanitize(untrusted, {
    WHOLE_DOCUMENT: false,
    FORBID_TAGS: ['form', 'input', 'button', 'textarea', 'select', 'iframe', 'frame', 'object', 'embed', 'base', 'meta', 'link'],
    FORBID_ATTR: ['action', 'formaction'],
    ALLOW_UNKNOWN_PROTOCOLS: false,
  });
  const images = allowRemote ? 'data: cid: https: http:' : 'data:';
  const csp =
    `default-src 'none'; img-src ${images}; style-src 'unsafe-inline'; font-src data:; ` +
    "script-src 'none'; form-action 'none'; base-uri 'none'";
  const html =
    '<!doctype html><html><head><meta charset="utf-8">' +
    `<meta http-equiv="Content-Security-Policy" content="${csp}">` +
    '<base target="_blank">' +
    '<style>body{margin:8px;font:14px/1.4 system-ui,sans-serif;color:#1f1f1f;background:#fff;overflow-wrap:anywhere}img{max-width:100%;height:auto}</style>' +
    `</head><body>${clean}</body></html>`;
  return { html, blocked };
}

// The sandbox of the frame: links may open a new top-level tab (outside
// the sandbox), nothing else: no scripts, no same origin, no forms.
export const SANDBOX = 'allow-popups allow-popups-to-escape-sandbox';

// A search snippet (SearchSnippet/get, RFC 8621 §5: HTML with <mark>) as
// nodes: every other tag is dropped, text stays text.
export function snippetNodes(html) {
  const fragment = DOMPurify.sanitize(html, { ALLOWED_TAGS: ['mark'], ALLOWED_ATTR: [], RETURN_DOM_FRAGMENT: true });
  return [...fragment.childNodes];
}

// The HTML of the rich-text editor, as it goes out (and as a draft comes
// back in): formatting and links only.
export function richHtml(html) {
  return DOMPurify.sanitize(html, {
    ALLOWED_TAGS: ['b', 'strong', 'i', 'em', 'u', 'a', 'ul', 'ol', 'li', 'p', 'br', 'div', 'span', 'blockquote'],
    ALLOWED_ATTR: ['href'],
    ALLOWED_URI_REGEXP: /^(?:https?:|mailto:)/i,
  });
}

// Plain text as editor HTML (escaped, lines kept).
export function textToHtml(text) {
  const div = document.createElement('div');
  div.textContent = text;
  return div.innerHTML.replace(/\n/g, '<br>');
}
