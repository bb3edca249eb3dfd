// The runs page: every run in the database, paged.
import { api, badge, el, main, pager, put, setNav, table } from './dom.js';
import { fmtDuration, fmtInt, fmtMoney, fmtTime } from './format.js';

export async function runsPage() {
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
