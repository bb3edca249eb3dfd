// The salesgrid dashboard in the browser: routes the page to the runs list, a live run or the explorer.
// Every value from the database goes into the page as text (textContent), never as HTML.
import { fail } from './dom.js';
import { explorePage } from './explore.js';
import { livePage } from './live.js';
import { runsPage } from './runs.js';

async function route() {
  const path = location.pathname;
  let m = /^\/runs\/(\d+)\/explore$/.exec(path);
  if (m) return explorePage(Number(m[1]));
  m = /^\/runs\/(\d+)$/.exec(path);
  if (m) return livePage(Number(m[1]));
  return runsPage();
}

route().catch(fail);
