// Shared helpers of the dashboard pages: DOM building (text only, never HTML), the JSON API,
// tables, pagers and vega-embed.
import { fmtInt } from './format.js';

export const main = document.getElementById('main');
const nav = document.getElementById('nav');
/** Views and state the browser tests (and curious users) can inspect. */
export const exposed = { views: {}, filter: null, live: null };
window.salesgrid = exposed;

/** Builds an element; strings and numbers become text nodes. */
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'class') node.className = v;
    else if (k.startsWith('on')) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return node;
}

/** replaceChildren that skips null/false, so optional parts can be written inline. */
export function put(node, ...children) {
  node.replaceChildren(...children.flat().filter((c) => c !== null && c !== undefined && c !== false));
}

export async function api(path) {
  const res = await fetch(path, { headers: { accept: 'application/json' }, credentials: 'same-origin' });
  if (res.status === 401) {
    location.assign(`/login?next=${encodeURIComponent(location.pathname)}`);
    throw new Error('not logged in');
  }
  const body = await res.json();
  if (!res.ok) throw new Error(body.error || `HTTP ${res.status}`);
  return body;
}

export function setNav(links) {
  nav.replaceChildren(
    ...links.map(([href, text]) =>
      el('a', { href, class: location.pathname === href ? 'current' : null }, text),
    ),
  );
}

export function badge(status, stale) {
  return el('span', { class: `badge ${stale ? 'stale' : status}` }, stale ? 'stale' : status);
}

export function fail(err) {
  put(main, el('p', { class: 'error', role: 'alert' }, String(err.message || err)));
}

export function table(headers, rows, numeric = []) {
  return el(
    'table',
    {},
    el(
      'thead',
      {},
      el(
        'tr',
        {},
        headers.map((h, i) => el('th', { class: numeric.includes(i) ? 'num' : null }, h)),
      ),
    ),
    el(
      'tbody',
      {},
      rows.map((r) =>
        el(
          'tr',
          {},
          r.map((c, i) => el('td', { class: numeric.includes(i) ? 'num' : null }, c)),
        ),
      ),
    ),
  );
}

export function cards(pairs) {
  return el(
    'div',
    { class: 'cards' },
    pairs.map(([label, value]) => el('div', {}, el('b', {}, value), el('span', {}, label))),
  );
}

/** A paged list: `load(offset)` returns {items,total,limit,offset}; `render(items)` returns a node. */
export function pager(load, render) {
  const box = el('div');
  let offset = 0;
  async function show() {
    const page = await load(offset);
    const last = page.offset + page.items.length;
    box.replaceChildren(
      render(page.items),
      el(
        'div',
        { class: 'pager' },
        el(
          'button',
          { type: 'button', disabled: page.offset === 0, onclick: () => go(-page.limit) },
          '‹ prev',
        ),
        el(
          'span',
          { class: 'muted' },
          page.total === 0 ? 'none' : `${fmtInt(page.offset + 1)}–${fmtInt(last)} of ${fmtInt(page.total)}`,
        ),
        el(
          'button',
          { type: 'button', disabled: last >= page.total, onclick: () => go(page.limit) },
          'next ›',
        ),
      ),
    );
  }
  function go(delta) {
    offset = Math.max(0, offset + delta);
    show().catch(fail);
  }
  box.reload = () => {
    offset = 0;
    return show();
  };
  return box;
}

export async function embed(target, spec) {
  const result = await window.vegaEmbed(target, spec, { renderer: 'svg', actions: false });
  return result.view;
}

/** Plot width that leaves room for the y axis inside `box`. */
export const chartWidth = (box) => Math.max(200, box.clientWidth - 100);

/** Replaces a view's named dataset and re-runs it. */
export async function replaceData(view, name, values) {
  await view
    .change(
      name,
      window.vega
        .changeset()
        .remove(() => true)
        .insert(values),
    )
    .runAsync();
}
