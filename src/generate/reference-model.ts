// Owns what a row of the reference "5m Sales Records" layout holds, pure: the header, regions and
// their countries, item types with their fixed prices and costs, channels, priorities, the order
// and ship date range with its monthly weights, and the ranges of units and order ids.

import { cumulate } from './random.js';

export const REFERENCE_HEADER =
  'Region,Country,Item Type,Sales Channel,Order Priority,Order Date,Order ID,Ship Date,' +
  'Units Sold,Unit Price,Unit Cost,Total Revenue,Total Cost,Total Profit';

export const REGIONS: ReadonlyArray<{ name: string; countries: readonly string[] }> = [
  {
    name: 'Sub-Saharan Africa',
    countries: [
      'Angola',
      'Benin',
      'Botswana',
      'Burkina Faso',
      'Burundi',
      'Cameroon',
      'Cape Verde',
      'Central African Republic',
      'Chad',
      'Comoros',
      'Republic of the Congo',
      'Democratic Republic of the Congo',
      'Ivory Coast',
      'Equatorial Guinea',
      'Eritrea',
      'Ethiopia',
      'Gabon',
      'The Gambia',
      'Ghana',
      'Guinea',
      'Guinea-Bissau',
      'Kenya',
      'Lesotho',
      'Liberia',
      'Madagascar',
      'Malawi',
      'Mali',
      'Mauritania',
      'Mauritius',
      'Mozambique',
      'Namibia',
      'Niger',
      'Nigeria',
      'Rwanda',
      'Sao Tome and Principe',
      'Senegal',
      'Seychelles',
      'Sierra Leone',
      'South Africa',
      'South Sudan',
      'Sudan',
      'Swaziland',
      'Tanzania',
      'Togo',
      'Uganda',
      'Zambia',
      'Zimbabwe',
    ],
  },
  {
    name: 'Europe',
    countries: [
      'Albania',
      'Andorra',
      'Armenia',
      'Austria',
      'Belarus',
      'Belgium',
      'Bosnia and Herzegovina',
      'Bulgaria',
      'Croatia',
      'Cyprus',
      'Czech Republic',
      'Denmark',
      'Estonia',
      'Finland',
      'France',
      'Georgia',
      'Germany',
      'Greece',
      'Hungary',
      'Iceland',
      'Ireland',
      'Italy',
      'Kosovo',
      'Latvia',
      'Liechtenstein',
      'Lithuania',
      'Luxembourg',
      'Macedonia',
      'Malta',
      'Moldova',
      'Monaco',
      'Montenegro',
      'Netherlands',
      'Norway',
      'Poland',
      'Portugal',
      'Romania',
      'Russia',
      'San Marino',
      'Serbia',
      'Slovakia',
      'Slovenia',
      'Spain',
      'Sweden',
      'Switzerland',
      'Ukraine',
      'United Kingdom',
      'Vatican City',
    ],
  },
  {
    name: 'Asia',
    countries: [
      'Bangladesh',
      'Bhutan',
      'Brunei',
      'Cambodia',
      'China',
      'East Timor',
      'India',
      'Indonesia',
      'Japan',
      'Kazakhstan',
      'Kyrgyzstan',
      'Laos',
      'Malaysia',
      'Maldives',
      'Mongolia',
      'Myanmar',
      'Nepal',
      'North Korea',
      'Philippines',
      'Singapore',
      'South Korea',
      'Sri Lanka',
      'Taiwan',
      'Tajikistan',
      'Thailand',
      'Turkmenistan',
      'Uzbekistan',
      'Vietnam',
    ],
  },
  {
    name: 'Middle East and North Africa',
    countries: [
      'Afghanistan',
      'Algeria',
      'Azerbaijan',
      'Bahrain',
      'Djibouti',
      'Egypt',
      'Iran',
      'Iraq',
      'Israel',
      'Jordan',
      'Kuwait',
      'Lebanon',
      'Libya',
      'Morocco',
      'Oman',
      'Pakistan',
      'Qatar',
      'Saudi Arabia',
      'Somalia',
      'Syria',
      'Tunisia',
      'Turkey',
      'United Arab Emirates',
      'Yemen',
    ],
  },
  {
    name: 'Central America and the Caribbean',
    countries: [
      'Antigua and Barbuda',
      'The Bahamas',
      'Barbados',
      'Belize',
      'Costa Rica',
      'Cuba',
      'Dominica',
      'Dominican Republic',
      'El Salvador',
      'Grenada',
      'Guatemala',
      'Haiti',
      'Honduras',
      'Jamaica',
      'Mexico',
      'Nicaragua',
      'Panama',
      'Saint Kitts and Nevis',
      'Saint Lucia',
      'Saint Vincent and the Grenadines',
      'Trinidad and Tobago',
    ],
  },
  {
    name: 'Australia and Oceania',
    countries: [
      'Australia',
      'Federated States of Micronesia',
      'Fiji',
      'Kiribati',
      'Marshall Islands',
      'Nauru',
      'New Zealand',
      'Palau',
      'Papua New Guinea',
      'Samoa',
      'Solomon Islands',
      'Tonga',
      'Tuvalu',
      'Vanuatu',
    ],
  },
  {
    name: 'North America',
    countries: ['Canada', 'Greenland', 'United States of America'],
  },
];

/** Unit price and unit cost in integer cents, as fixed in the original dataset. */
export const ITEM_TYPES: ReadonlyArray<{ name: string; priceCents: number; costCents: number }> = [
  { name: 'Beverages', priceCents: 4745, costCents: 3179 },
  { name: 'Fruits', priceCents: 933, costCents: 692 },
  { name: 'Vegetables', priceCents: 15406, costCents: 9093 },
  { name: 'Baby Food', priceCents: 25528, costCents: 15942 },
  { name: 'Cereal', priceCents: 20570, costCents: 11711 },
  { name: 'Meat', priceCents: 42189, costCents: 36469 },
  { name: 'Snacks', priceCents: 15258, costCents: 9744 },
  { name: 'Personal Care', priceCents: 8173, costCents: 5667 },
  { name: 'Household', priceCents: 66827, costCents: 50254 },
  { name: 'Clothes', priceCents: 10928, costCents: 3584 },
  { name: 'Cosmetics', priceCents: 43720, costCents: 26333 },
  { name: 'Office Supplies', priceCents: 65121, costCents: 52496 },
];

export const CHANNELS = ['Online', 'Offline'];
export const PRIORITIES = ['H', 'M', 'L', 'C'];

/** Order dates run from 2010-01-01 to 2017-07-28 (UTC days), ship dates up to 50 days later. */
export const FIRST_ORDER_DAY = Date.UTC(2010, 0, 1) / 86_400_000;
export const LAST_ORDER_DAY = Date.UTC(2017, 6, 28) / 86_400_000;
export const MAX_SHIP_DELAY = 50;

/** Relative order volume per calendar month: a mid-year bump and a November/December peak. */
const MONTH_WEIGHTS = [0.85, 0.8, 0.95, 0.95, 1.0, 1.1, 1.15, 1.05, 0.95, 1.0, 1.25, 1.45];
const YEARLY_GROWTH = 0.04;

export const UNITS_MAX = 10_000;
export const ORDER_ID_MIN = 100_000_000;
export const ORDER_ID_SPAN = 900_000_000;

/** M/D/YYYY without zero padding, from a UTC day number. */
export function formatMdy(day: number): string {
  const d = new Date(day * 86_400_000);
  return `${d.getUTCMonth() + 1}/${d.getUTCDate()}/${d.getUTCFullYear()}`;
}

export interface MonthSlot {
  firstDay: number;
  days: number;
}

/**
 * Months in the order-date range with cumulative weights. A partial last month is weighted by
 * the share of its days inside the range.
 */
export function buildMonthTable(): { slots: MonthSlot[]; cumulative: Float64Array } {
  const slots: MonthSlot[] = [];
  const weights: number[] = [];
  const first = new Date(FIRST_ORDER_DAY * 86_400_000);
  for (let y = first.getUTCFullYear(), m = first.getUTCMonth(); ; m++) {
    if (m === 12) {
      m = 0;
      y++;
    }
    const monthStart = Date.UTC(y, m, 1) / 86_400_000;
    if (monthStart > LAST_ORDER_DAY) break;
    const monthDays = Date.UTC(y, m + 1, 1) / 86_400_000 - monthStart;
    const firstDay = Math.max(monthStart, FIRST_ORDER_DAY);
    const days = Math.min(monthStart + monthDays - 1, LAST_ORDER_DAY) - firstDay + 1;
    const trend = 1 + YEARLY_GROWTH * (y - first.getUTCFullYear());
    slots.push({ firstDay, days });
    weights.push((MONTH_WEIGHTS[m] * trend * days) / monthDays);
  }
  return { slots, cumulative: cumulate(weights) };
}
