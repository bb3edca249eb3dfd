/** Month indexes of keyed cells: (year - 1900) * 12 + month - 1, or NO_MONTH for none. */
import { NO_MONTH } from './keyed-cells.js';

export { NO_MONTH };

/** "YYYY-MM" of a month index; '' for NO_MONTH. */
export function monthKey(month: number): string {
  if (month === NO_MONTH) return '';
  let text = MONTH_TEXT[month];
  if (text === undefined)
    MONTH_TEXT[month] =
      text = `${1900 + Math.floor(month / 12)}-${String((month % 12) + 1).padStart(2, '0')}`;
  return text;
}

const MONTH_TEXT: string[] = [];
