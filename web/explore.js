// The explorer: monthly and yearly charts, breakdowns that filter them, mart tables, rejects.
import {
  api,
  badge,
  cards,
  chartWidth,
  el,
  embed,
  exposed,
  fail,
  main,
  pager,
  put,
  replaceData,
  setNav,
  table,
} from './dom.js';
import { fmtDuration, fmtInt, fmtMoney } from './format.js';

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

export async function explorePage(id) {
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
            fmtMoney(k.units),
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
