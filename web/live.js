// A run's page, live over server-sent events: progress, workers, the chunk timeline, rejects.
import {
  badge,
  cards,
  chartWidth,
  el,
  embed,
  exposed,
  fail,
  main,
  put,
  replaceData,
  setNav,
  table,
} from './dom.js';
import { fmtBytes, fmtDuration, fmtInt, fmtMoney, fmtRate } from './format.js';

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

export async function livePage(id) {
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
