// The salesgrid dashboard in the browser: runs, a live run (server-sent events), and the explorer.
// Every value from the database goes into the page as text (textContent), never as HTML.
import { fmtBytes, fmtDuration, fmtInt, fmtMoney, fmtRate, fmtTime } from './format.js';

const main = document.getElementById('main');
const nav = document.getElementById('nav');
/** Views and state the browser tests (and curious users) can inspect. */
const exposed = { views: {}, filter: null, live: null };
window.salesgrid = exposed;

/** Builds an element; strings and numbers become text nodes. */
function el(tag, attrs = {}, ...children) {
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
function put(node, ...children) {
  node.replaceChildren(...children.flat().filter((c) => c !== null && c !== undefined && c !== false));
}

async function api(path) {
  const res = await fetch(path, { headers: { accept: 'application/json' }, credentials: 'same-origin' });
  if (res.status === 401) {
    location.assign(`/login?next=${encodeURIComponent(location.pathname)}`);
    throw new Error('not logged in');
  }
  const body = await res.json();
  if (!res.ok) throw new Error(body.error || `HTTP ${res.status}`);
  return body;
}

function setNav(links) {
  nav.replaceChildren(
    ...links.map(([href, text]) =>
      el('a', { href, class: location.pathname === href ? 'current' : null }, text),
    ),
  );
}

function badge(status, stale) {
  return el('span', { class: `badge ${stale ? 'stale' : status}` }, stale ? 'stale' : status);
}

function fail(err) {
  put(main, el('p', { class: 'error', role: 'alert' }, String(err.message || err)));
}

function table(headers, rows, numeric = []) {
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

function cards(pairs) {
  return el(
    'div',
    { class: 'cards' },
    pairs.map(([label, value]) => el('div', {}, el('b', {}, value), el('span', {}, label))),
  );
}

/** A paged list: `load(offset)` returns {items,total,limit,offset}; `render(items)` returns a node. */
function pager(load, render) {
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

async function embed(target, spec) {
  const result = await window.vegaEmbed(target, spec, { renderer: 'svg', actions: false });
  return result.view;
}

/** Plot width that leaves room for the y axis inside `box`. */
const chartWidth = (box) => Math.max(200, box.clientWidth - 100);

/** Replaces a view's named dataset and re-runs it. */
async function replaceData(view, name, values) {
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

// ---------------------------------------------------------------------------------------------
// Runs
// ---------------------------------------------------------------------------------------------

async function runsPage() {
  setNav([['/', 'Runs']]);
  document.title = 'salesgrid: runs';
  const list = pager(
    (offset) => api(`/api/runs?limit=25&offset=${offset}`),
    (items) =>
      items.length === 0
        ? el('p', { class: 'muted' }, 'No runs yet. Start one with: salesgrid run data/sales.csv --ui')
        : table(
            ['run', 'status', 'file', 'rows', 'rejected', 'revenue', 'started', 'duration', 'workers', ''],
            items.map((r) => [
              el('a', { href: `/runs/${r.id}` }, `#${r.id}`),
              badge(r.status),
              el('span', { title: r.file }, r.file.split('/').pop()),
              fmtInt(r.rows),
              fmtInt(r.rejected),
              fmtMoney(r.revenue),
              fmtTime(r.startedAt),
              r.durationMs === null ? '–' : fmtDuration(r.durationMs),
              fmtInt(r.workers),
              el(
                'span',
                {},
                el('a', { href: `/runs/${r.id}` }, r.status === 'running' ? 'live' : 'run'),
                ' · ',
                el('a', { href: `/runs/${r.id}/explore` }, 'explore'),
              ),
            ]),
            [3, 4, 5, 8],
          ),
  );
  put(main, el('h1', {}, 'Runs'), el('section', { class: 'card' }, list));
  await list.reload();
}

// ---------------------------------------------------------------------------------------------
// A live run
// ---------------------------------------------------------------------------------------------

const OUTCOMES = ['done', 'leased', 'lost', 'timeout', 'failed', 'late', 'interrupted'];
const OUTCOME_COLORS = ['#2e7d32', '#1f77b4', '#ef6c00', '#d81b60', '#c62828', '#7b1fa2', '#9e9e9e'];

function timelineSpec() {
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    height: { step: 22 },
    data: { name: 'attempts', values: [] },
    mark: { type: 'bar', cornerRadius: 2 },
    encoding: {
      y: { field: 'workerId', type: 'nominal', title: 'worker' },
      x: { field: 'start', type: 'temporal', title: 'time', axis: { format: '%H:%M:%S' } },
      x2: { field: 'end' },
      color: {
        field: 'outcome',
        type: 'nominal',
        title: 'attempt',
        scale: { domain: OUTCOMES, range: OUTCOME_COLORS },
        legend: { orient: 'bottom', direction: 'horizontal' },
      },
      tooltip: [
        { field: 'chunk', title: 'chunk' },
        { field: 'attempt', title: 'attempt' },
        { field: 'workerId', title: 'worker' },
        { field: 'outcome', title: 'outcome' },
        { field: 'seconds', title: 'seconds', format: '.2f' },
        { field: 'detail', title: 'detail' },
      ],
    },
  };
}

function timelineRows(attempts, now) {
  return attempts.map((a) => {
    const start = Date.parse(a.dispatchedAt);
    const end = a.finishedAt === null ? now : Date.parse(a.finishedAt);
    return {
      chunk: a.chunk,
      attempt: a.attempt,
      workerId: a.workerId,
      outcome: a.outcome,
      detail: a.detail ?? '',
      start,
      end: Math.max(end, start + 1),
      seconds: (end - start) / 1000,
    };
  });
}

async function livePage(id) {
  setNav([
    ['/', 'Runs'],
    [`/runs/${id}`, `Run #${id}`],
    [`/runs/${id}/explore`, 'Explore'],
  ]);
  document.title = `salesgrid: run ${id}`;
  const status = el('span', { id: 'live-status' }, '…');
  const connection = el('span', { class: 'muted', id: 'live-connection' }, 'connecting…');
  const bar = el('div', { style: 'width: 0%' });
  const progress = el(
    'div',
    {
      class: 'progress',
      role: 'progressbar',
      'aria-label': 'progress',
      'aria-valuemin': 0,
      'aria-valuemax': 100,
    },
    bar,
  );
  const progressText = el('p', { id: 'live-progress' });
  const headline = el('div', { id: 'headline' });
  const workers = el('div', { id: 'live-workers' });
  const timeline = el('div', { id: 'timeline', class: 'chart' });
  const timelineNote = el('p', { class: 'note' });
  const reasons = el('div', { id: 'live-reasons' });
  const rejectsBody = el('tbody');
  const rejectCount = el('span', { class: 'muted' });
  put(
    main,
    el('h1', {}, `Run #${id} `, status, ' ', connection),
    el('section', { class: 'card' }, progress, progressText, headline),
    el('section', { class: 'card' }, el('h2', {}, 'Workers'), workers),
    el('section', { class: 'card' }, el('h2', {}, 'Chunk timeline'), timeline, timelineNote),
    el(
      'section',
      { class: 'card' },
      el('h2', {}, 'Rejected rows ', rejectCount),
      reasons,
      el(
        'table',
        { id: 'live-rejects' },
        el('thead', {}, el('tr', {}, el('th', {}, 'line'), el('th', {}, 'reason'), el('th', {}, 'raw'))),
        rejectsBody,
      ),
    ),
  );
  let drawing = Promise.resolve(null);
  const drawTimeline = (rows) => {
    drawing = drawing.then(async (view) => {
      if (view !== null) {
        await replaceData(view, 'attempts', rows);
        return view;
      }
      if (rows.length === 0) return null;
      const spec = timelineSpec();
      spec.data.values = rows;
      spec.width = chartWidth(timeline);
      const created = await embed(timeline, spec);
      exposed.views.timeline = created;
      return created;
    });
    drawing.catch(console.error);
  };
  const seenRejects = new Set();
  let last = null;
  const live = { states: 0, rejects: 0, done: false };
  exposed.live = live;

  function renderState(s) {
    const r = s.run;
    const now = Date.now();
    status.replaceChildren(badge(r.status, r.stale));
    const fraction = r.status === 'done' ? 1 : r.bytesTotal > 0 ? r.bytesDone / r.bytesTotal : 0;
    bar.style.width = `${(fraction * 100).toFixed(1)}%`;
    progress.setAttribute('aria-valuenow', (fraction * 100).toFixed(1));
    const elapsed = (r.finishedAt ? Date.parse(r.finishedAt) : now) - Date.parse(r.startedAt);
    const eta = r.status === 'running' && fraction > 0 ? (elapsed / fraction) * (1 - fraction) : null;
    const heartbeat = r.heartbeatAt === null ? null : now - Date.parse(r.heartbeatAt);
    progressText.replaceChildren(
      `${(fraction * 100).toFixed(1)}% · ${fmtInt(r.chunksDone)}${r.chunksTotal === null ? '' : `/${fmtInt(r.chunksTotal)}`} chunks · `,
      `${fmtBytes(r.bytesDone)} of ${fmtBytes(r.bytesTotal)} · ${fmtInt(r.rows)} rows · `,
      `${fmtRate(r.rows / Math.max(elapsed / 1000, 0.001))} rows/s · elapsed ${fmtDuration(elapsed)}`,
      eta === null ? '' : ` · ETA ${fmtDuration(eta)}`,
      r.status === 'running' && heartbeat !== null
        ? ` · coordinator heartbeat ${fmtDuration(heartbeat)} ago`
        : '',
      r.stale ? ' · the coordinator stopped beating: it may have died' : '',
    );
    if (r.status !== 'running') {
      live.done = true;
      put(
        headline,
        cards([
          ['rows', fmtInt(r.rows)],
          ['rejected', fmtInt(r.rejected)],
          ['units', fmtMoney(r.units)],
          ['revenue', fmtMoney(r.revenue)],
          [
            `min ${r.priceBasis === 'unit price' ? 'price' : 'amount'}`,
            r.minPrice === null ? '–' : fmtMoney(r.minPrice),
          ],
          [
            `max ${r.priceBasis === 'unit price' ? 'price' : 'amount'}`,
            r.maxPrice === null ? '–' : fmtMoney(r.maxPrice),
          ],
          [
            `avg ${r.priceBasis === 'unit price' ? 'price' : 'amount'}`,
            r.avgPrice === null ? '–' : fmtMoney(r.avgPrice),
          ],
          ['duration', r.durationMs === null ? '–' : fmtDuration(r.durationMs)],
          ['workers', fmtInt(r.workers)],
        ]),
        r.error ? el('p', { class: 'error' }, r.error) : null,
        r.status === 'done' ? el('a', { href: `/runs/${r.id}/explore` }, 'explore the results →') : null,
      );
    }
    workers.replaceChildren(
      s.workers.length === 0
        ? el('p', { class: 'muted' }, 'no worker has connected yet')
        : table(
            ['worker', 'address', 'chunks', 'in flight', 'rows', 'rows/s', 'last seen', 'state'],
            s.workers.map((w) => {
              const end = w.disconnectedAt ? Date.parse(w.disconnectedAt) : now;
              const secs = Math.max((end - Date.parse(w.connectedAt)) / 1000, 0.001);
              return [
                w.workerId,
                w.address ?? '–',
                fmtInt(w.chunks),
                fmtInt(w.leased),
                fmtInt(w.rows),
                fmtRate(w.rows / secs),
                w.lastSeenAt === null ? '–' : `${fmtDuration(now - Date.parse(w.lastSeenAt))} ago`,
                w.disconnectedAt ? 'gone' : `connected${w.sessions > 1 ? ` (${w.sessions} sessions)` : ''}`,
              ];
            }),
            [2, 3, 4, 5],
          ),
    );
    if (r.status === 'running') redrawTimeline();
    reasons.replaceChildren(
      s.rejectReasons.length === 0
        ? el('p', { class: 'muted' }, 'none so far')
        : table(
            ['reason', 'rows'],
            s.rejectReasons.map((g) => [g.reason, fmtInt(g.count)]),
            [1],
          ),
    );
    rejectCount.replaceChildren(`(${fmtInt(r.rejected)})`);
  }

  // Attempts arrive as change sets keyed by chunk and attempt; the newest MAX_ATTEMPTS are drawn.
  const MAX_ATTEMPTS = 5000;
  const attempts = new Map();
  let attemptsTotal = 0;
  function redrawTimeline() {
    let list = [...attempts.values()].sort((a, b) =>
      a.dispatchedAt < b.dispatchedAt ? -1 : a.dispatchedAt > b.dispatchedAt ? 1 : a.chunk - b.chunk,
    );
    if (list.length > MAX_ATTEMPTS) {
      for (const a of list.slice(0, list.length - MAX_ATTEMPTS)) attempts.delete(`${a.chunk}:${a.attempt}`);
      list = list.slice(-MAX_ATTEMPTS);
    }
    timelineNote.replaceChildren(
      attemptsTotal > list.length
        ? `showing the newest ${fmtInt(list.length)} of ${fmtInt(attemptsTotal)} attempts`
        : `${fmtInt(attemptsTotal)} attempts; retries and lost attempts have their own colours`,
    );
    drawTimeline(timelineRows(list, Date.now()));
  }

  function addRejects(list) {
    for (const j of list) {
      if (seenRejects.has(j.id)) continue;
      seenRejects.add(j.id);
      live.rejects++;
      const where = j.line === null ? `chunk ${j.chunk}, line ${j.chunkLine + 1}` : fmtInt(j.line);
      rejectsBody.prepend(
        el(
          'tr',
          {},
          el('td', { class: 'num' }, where),
          el('td', {}, j.count > 1 ? `${j.reason} (×${fmtInt(j.count)})` : j.reason),
          el('td', {}, el('code', {}, j.raw)),
        ),
      );
    }
    while (rejectsBody.children.length > 500) rejectsBody.lastElementChild.remove();
  }

  const source = new EventSource(`/api/runs/${id}/live`);
  source.addEventListener('open', () => connection.replaceChildren('live'));
  source.addEventListener('error', () =>
    connection.replaceChildren(live.done ? '' : 'connection lost, reconnecting…'),
  );
  source.addEventListener('state', (e) => {
    last = JSON.parse(e.data);
    live.states++;
    renderState(last);
    if (last.run.status !== 'running') connection.replaceChildren('');
  });
  source.addEventListener('attempts', (e) => {
    const event = JSON.parse(e.data);
    if (event.reset) attempts.clear();
    for (const a of event.items) attempts.set(`${a.chunk}:${a.attempt}`, a);
    attemptsTotal = event.total;
    redrawTimeline();
  });
  source.addEventListener('rejects', (e) => addRejects(JSON.parse(e.data)));
  // When the run ends its rejects get file line numbers: the server sends the tail again.
  source.addEventListener('rejects-reset', (e) => {
    seenRejects.clear();
    live.rejects = 0;
    rejectsBody.replaceChildren();
    addRejects(JSON.parse(e.data));
  });
  source.addEventListener('missing', (e) => {
    source.close();
    fail(new Error(JSON.parse(e.data).message));
  });
  // Elapsed time, ETA and "seen N s ago" move on between pushes; redraw them from the last state.
  setInterval(() => {
    if (last !== null && last.run.status === 'running') renderState(last);
  }, 1000);
}

// ---------------------------------------------------------------------------------------------
// Explore
// ---------------------------------------------------------------------------------------------

const periodRows = (items) =>
  items.map((p) => ({
    period: p.period,
    date: p.period.length === 7 ? `${p.period}-01` : `${p.period}-01-01`,
    revenue: Number(p.revenue),
    revenueText: fmtMoney(p.revenue),
    rows: p.rows,
    units: p.units,
  }));

function monthlySpec(values, width) {
  const tooltip = [
    { field: 'period', title: 'month' },
    { field: 'revenueText', title: 'revenue' },
    { field: 'rows', title: 'rows', format: ',' },
  ];
  const x = { field: 'date', type: 'temporal', title: null };
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    data: { name: 'monthly', values },
    vconcat: [
      {
        width,
        height: 260,
        title: 'Monthly revenue (drag over the strip below to zoom)',
        mark: { type: 'line', point: true, tooltip: true },
        encoding: {
          x: {
            ...x,
            scale: { domain: { param: 'brush' } },
            axis: { format: '%b %Y', labelOverlap: 'greedy' },
          },
          y: { field: 'revenue', type: 'quantitative', title: 'revenue' },
          tooltip,
        },
      },
      {
        width,
        height: 60,
        mark: 'area',
        params: [{ name: 'brush', select: { type: 'interval', encodings: ['x'] } }],
        encoding: {
          x: { ...x, axis: { format: '%Y' } },
          y: { field: 'revenue', type: 'quantitative', title: null, axis: { tickCount: 2 } },
        },
      },
    ],
  };
}

function yearlySpec(values, width) {
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    width,
    height: 220,
    title: 'Yearly revenue',
    data: { name: 'yearly', values },
    mark: { type: 'bar', tooltip: true },
    encoding: {
      x: { field: 'period', type: 'ordinal', title: null, axis: { labelAngle: 0 } },
      y: { field: 'revenue', type: 'quantitative', title: 'revenue' },
      tooltip: [
        { field: 'period', title: 'year' },
        { field: 'revenueText', title: 'revenue' },
        { field: 'rows', title: 'rows', format: ',' },
      ],
    },
  };
}

function dimensionSpec(name, values, filterable, width) {
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    width,
    height: { step: 18 },
    data: { name: 'keys', values },
    params: filterable ? [{ name: 'pick', select: { type: 'point', fields: ['key'] } }] : [],
    mark: { type: 'bar', cursor: filterable ? 'pointer' : 'default', tooltip: true },
    encoding: {
      y: { field: 'key', type: 'nominal', sort: '-x', title: name },
      x: { field: 'revenue', type: 'quantitative', title: 'revenue' },
      color: { value: '#1f5f8b' },
      opacity: filterable ? { condition: { param: 'pick', value: 1 }, value: 0.35 } : { value: 1 },
      tooltip: [
        { field: 'key', title: name },
        { field: 'revenueText', title: 'revenue' },
        { field: 'rows', title: 'rows', format: ',' },
      ],
    },
  };
}

async function explorePage(id) {
  setNav([
    ['/', 'Runs'],
    [`/runs/${id}`, `Run #${id}`],
    [`/runs/${id}/explore`, 'Explore'],
  ]);
  document.title = `salesgrid: explore run ${id}`;
  const run = await api(`/api/runs/${id}`);
  const dims = await api(`/api/runs/${id}/dimensions`);
  const filterText = el('span', { id: 'filter-text' }, 'All rows.');
  const clear = el(
    'button',
    { type: 'button', hidden: true, onclick: () => applyFilter(null) },
    'clear filter',
  );
  const monthlyBox = el('div', { id: 'monthly', class: 'chart' });
  const yearlyBox = el('div', { id: 'yearly', class: 'chart' });
  const dimsBox = el('div', { class: 'row' });
  const martsBox = el('div');
  const rejectsBox = el('div');
  put(
    main,
    el('h1', {}, `Explore run #${id} `, badge(run.status, run.stale)),
    cards([
      ['rows', fmtInt(run.rows)],
      ['rejected', fmtInt(run.rejected)],
      ['units', fmtMoney(run.units)],
      ['revenue', fmtMoney(run.revenue)],
      [
        `avg ${run.priceBasis === 'unit price' ? 'price' : 'amount'}`,
        run.avgPrice === null ? '–' : fmtMoney(run.avgPrice),
      ],
      ['duration', run.durationMs === null ? '–' : fmtDuration(run.durationMs)],
    ]),
    run.status === 'running'
      ? el(
          'p',
          { class: 'note' },
          'This run is still going: its months, dimensions and marts are stored when it ends.',
        )
      : null,
    el('div', { class: 'filterbar' }, el('b', {}, 'Filter:'), filterText, clear),
    run.hasDates
      ? el(
          'div',
          { class: 'row' },
          el('section', { class: 'card' }, monthlyBox),
          el('section', { class: 'card' }, yearlyBox),
        )
      : el(
          'p',
          { class: 'muted' },
          'This file has no date column, so there are no monthly or yearly charts.',
        ),
    el('h2', {}, 'Breakdowns'),
    el(
      'p',
      { class: 'note' },
      'Click a bar or a key to filter the monthly and yearly charts to it. This works for columns the run also kept per month (--mart), and for every key in the mart tables below.',
    ),
    dimsBox,
    el('h2', {}, 'Top keys of each mart'),
    martsBox,
    el('h2', {}, 'Rejected rows'),
    rejectsBox,
  );

  let monthlyView = null;
  let yearlyView = null;
  if (run.hasDates) {
    const [monthly, yearly] = await Promise.all([
      api(`/api/runs/${id}/monthly`),
      api(`/api/runs/${id}/yearly`),
    ]);
    monthlyView = await embed(monthlyBox, monthlySpec(periodRows(monthly.items), chartWidth(monthlyBox)));
    yearlyView = await embed(yearlyBox, yearlySpec(periodRows(yearly.items), chartWidth(yearlyBox)));
    exposed.views.monthly = monthlyView;
    exposed.views.yearly = yearlyView;
  }

  async function applyFilter(filter) {
    exposed.filter = filter;
    const qs =
      filter === null ? '' : `?mart=${encodeURIComponent(filter.mart)}&key=${encodeURIComponent(filter.key)}`;
    filterText.replaceChildren(
      filter === null ? 'All rows.' : `${filter.mart} = `,
      filter === null ? '' : el('b', {}, filter.key),
    );
    clear.hidden = filter === null;
    if (monthlyView !== null) {
      const [monthly, yearly] = await Promise.all([
        api(`/api/runs/${id}/monthly${qs}`),
        api(`/api/runs/${id}/yearly${qs}`),
      ]);
      await replaceData(monthlyView, 'monthly', periodRows(monthly.items));
      await replaceData(yearlyView, 'yearly', periodRows(yearly.items));
    }
    exposed.filterApplied = (exposed.filterApplied ?? 0) + 1;
  }

  if (dims.items.length === 0) dimsBox.append(el('p', { class: 'muted' }, 'This run kept no dimensions.'));
  // Lay every card out first, so each chart is sized to its final card.
  const dimCards = dims.items.map((d) => {
    const chart = el('div', { class: 'chart', id: `dim-${d.name.replace(/[^\w-]/g, '_')}` });
    const note = d.filterable
      ? null
      : el('p', { class: 'note' }, `Not kept per month: run with --mart "${d.name}" to filter by it.`);
    const list = pager(
      (offset) => api(`/api/runs/${id}/dimensions/${encodeURIComponent(d.name)}?limit=10&offset=${offset}`),
      (items) =>
        table(
          [d.name, 'rows', 'revenue'],
          items.map((k) => [
            d.filterable
              ? el(
                  'button',
                  {
                    type: 'button',
                    class: 'key',
                    onclick: () => applyFilter({ mart: d.name, key: k.key }).catch(fail),
                  },
                  k.key,
                )
              : k.key,
            fmtInt(k.rows),
            fmtMoney(k.revenue),
          ]),
          [1, 2],
        ),
    );
    dimsBox.append(el('section', { class: 'card' }, el('h3', {}, d.name), chart, note, list));
    return { d, chart, list };
  });
  for (const { d, chart, list } of dimCards) {
    const top = await api(`/api/runs/${id}/dimensions/${encodeURIComponent(d.name)}?limit=20`);
    const values = top.items.map((k) => ({
      key: k.key,
      revenue: Number(k.revenue),
      revenueText: fmtMoney(k.revenue),
      rows: k.rows,
    }));
    const view = await embed(
      chart,
      dimensionSpec(d.name, values, d.filterable, Math.max(120, chart.clientWidth - 200)),
    );
    exposed.views[`dimension:${d.name}`] = view;
    if (d.filterable) {
      view.addEventListener('click', (_event, item) => {
        const key = item?.datum?.key;
        if (typeof key === 'string') applyFilter({ mart: d.name, key }).catch(fail);
      });
    }
    await list.reload();
  }

  if (dims.marts.length === 0)
    martsBox.append(el('p', { class: 'muted' }, 'This run kept no marts (run with --mart <column>).'));
  for (const mart of dims.marts) {
    let search = '';
    const list = pager(
      (offset) =>
        api(
          `/api/runs/${id}/top/${encodeURIComponent(mart)}?limit=10&offset=${offset}&q=${encodeURIComponent(search)}`,
        ),
      (items) =>
        table(
          ['rank', mart, 'rows', 'units', 'revenue'],
          items.map((k) => [
            fmtInt(k.rank),
            el(
              'button',
              {
                type: 'button',
                class: 'key',
                title: 'filter the charts to this key',
                onclick: () => applyFilter({ mart, key: k.key }).catch(fail),
              },
              k.key,
            ),
            fmtInt(k.rows),
            fmtInt(k.units),
            fmtMoney(k.revenue),
          ]),
          [0, 2, 3, 4],
        ),
    );
    let timer = null;
    const input = el('input', {
      type: 'search',
      placeholder: `search ${mart}`,
      'aria-label': `search ${mart}`,
      oninput: (e) => {
        clearTimeout(timer);
        timer = setTimeout(() => {
          search = e.target.value;
          list.reload().catch(fail);
        }, 200);
      },
    });
    martsBox.append(el('section', { class: 'card', 'data-mart': mart }, el('h3', {}, mart), input, list));
    await list.reload();
  }

  const reasons = await api(`/api/runs/${id}/rejects/reasons`);
  let reason;
  const rejectList = pager(
    (offset) =>
      api(
        `/api/runs/${id}/rejects?limit=20&offset=${offset}${reason === undefined ? '' : `&reason=${encodeURIComponent(reason)}`}`,
      ),
    (items) =>
      table(
        ['line', 'reason', 'raw text'],
        items.map((j) => [
          j.line === null ? `chunk ${j.chunk}, line ${j.chunkLine + 1}` : fmtInt(j.line),
          j.count > 1 ? `${j.reason} (×${fmtInt(j.count)})` : j.reason,
          el('code', {}, j.raw),
        ]),
        [0],
      ),
  );
  const pick = (r) => {
    reason = r;
    rejectList.reload().catch(fail);
  };
  rejectsBox.append(
    el(
      'section',
      { class: 'card' },
      reasons.items.length === 0
        ? el('p', { class: 'muted' }, 'No rows were rejected.')
        : el(
            'div',
            {},
            table(
              ['reason', 'rows', 'first line'],
              [
                ...reasons.items.map((g) => [
                  el('button', { type: 'button', class: 'key', onclick: () => pick(g.reason) }, g.reason),
                  fmtInt(g.count),
                  g.firstLine === null ? '–' : fmtInt(g.firstLine),
                ]),
                [
                  el(
                    'button',
                    { type: 'button', class: 'key', onclick: () => pick(undefined) },
                    'all reasons',
                  ),
                  '',
                  '',
                ],
              ],
              [1, 2],
            ),
            el('h3', {}, 'Rows'),
            rejectList,
          ),
    ),
  );
  if (reasons.items.length > 0) await rejectList.reload();
  exposed.ready = true;
}

// ---------------------------------------------------------------------------------------------

async function route() {
  const path = location.pathname;
  let m = /^\/runs\/(\d+)\/explore$/.exec(path);
  if (m) return explorePage(Number(m[1]));
  m = /^\/runs\/(\d+)$/.exec(path);
  if (m) return livePage(Number(m[1]));
  return runsPage();
}

route().catch(fail);
