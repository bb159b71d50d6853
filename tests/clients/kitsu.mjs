// Commerce Layer scenario with the unmodified npm `kitsu` (generic JSON:API client, axios based).
// Usage: ORDERMUX_URL=http://127.0.0.1:PORT node kitsu.mjs
// kitsu takes a plain http baseURL by configuration; camelCaseTypes:false, resourceCase:'none' and
// pluralize:false keep Commerce Layer's type and attribute names verbatim. The bearer token comes from
// POST /oauth/token with plain fetch (kitsu has no auth helper).
import Kitsu from 'kitsu';
import { readFileSync } from 'node:fs';

// Version of an installed package (read directly: not every package exports ./package.json).
const pkgVersion = (name) =>
  JSON.parse(readFileSync(new URL(`./node_modules/${name}/package.json`, import.meta.url), 'utf8')).version;
const version = pkgVersion('kitsu');

const base = (process.env.ORDERMUX_URL || 'http://127.0.0.1:8080').replace(/\/$/, '');
let step = 'setup';

function check(cond, what, got) {
  if (!cond) {
    const extra = got === undefined ? '' : ` (got ${JSON.stringify(got)})`;
    throw new Error(`[${step}] ${what}${extra}`);
  }
}

async function token() {
  const res = await fetch(`${base}/oauth/token`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', Accept: 'application/json' },
    body: JSON.stringify({ grant_type: 'client_credentials', client_id: 'demo', client_secret: 'demo-secret' }),
  });
  const text = await res.text();
  check(res.status === 200, `POST /oauth/token answers 200 (body ${text.slice(0, 300)})`, res.status);
  const body = JSON.parse(text);
  check(typeof body.access_token === 'string' && body.access_token.length > 0, 'access_token', body);
  return body.access_token;
}

async function main() {
  step = 'POST /oauth/token';
  const accessToken = await token();

  const api = new Kitsu({
    baseURL: `${base}/api`,
    headers: { Authorization: `Bearer ${accessToken}` },
    camelCaseTypes: false,
    resourceCase: 'none',
    pluralize: false,
    timeout: 15000,
  });

  step = 'count placed orders before';
  const placedBefore = await api.get('orders', {
    params: { filter: { q: { status_eq: 'placed' } }, page: { number: 1, size: 1 } },
  });
  check(placedBefore.meta && Number.isInteger(placedBefore.meta.record_count), 'meta.record_count is an integer', placedBefore.meta);
  const before = placedBefore.meta.record_count;

  step = 'create order';
  const created = await api.post('orders', {
    customer_email: 'kitsu@example.com',
    market: { data: { id: 'usd', type: 'markets' } },
  });
  const order = created.data;
  check(order && order.type === 'orders' && typeof order.id === 'string', 'created order document', created);
  check(order.customer_email === 'kitsu@example.com', 'customer_email echoed', order.customer_email);
  check(order.status === 'draft', "new order is 'draft'", order.status);

  step = 'create line item';
  const line = await api.post('line_items', {
    sku_code: 'MUG-WHT',
    quantity: 3,
    order: { data: { id: order.id, type: 'orders' } },
  });
  check(line.data && line.data.type === 'line_items' && line.data.quantity === 3, 'line item created', line.data);
  check(line.data.total_amount_cents === 3750, 'line total 3 x 12.50 = 3750 cents', line.data.total_amount_cents);

  step = 'get one order (include line_items)';
  const one = await api.get(`orders/${order.id}`, { params: { include: 'line_items' } });
  check(one.data && one.data.id === order.id, 'same id', one.data && one.data.id);
  check(one.data.total_amount_cents === 3750, 'order total_amount_cents', one.data.total_amount_cents);
  check(one.data.currency_code === 'USD', 'currency_code', one.data.currency_code);
  const lines = one.data.line_items && one.data.line_items.data;
  check(Array.isArray(lines) && lines.some((l) => l.id === line.data.id && l.sku_code === 'MUG-WHT'),
    'included line_items carry the line (deserialised from `included`)', one.data.line_items);

  step = 'list orders with page params';
  const page = await api.get('orders', { params: { page: { number: 1, size: 2 }, sort: '-created_at' } });
  check(Array.isArray(page.data) && page.data.length >= 1 && page.data.length <= 2, 'page[size]=2 honoured', page.data && page.data.length);
  check(Number.isInteger(page.meta.record_count) && page.meta.record_count >= 1, 'meta.record_count', page.meta);
  check(page.meta.page_count === Math.ceil(page.meta.record_count / 2), 'meta.page_count = ceil(record_count / 2)', page.meta);
  check(page.data[0].id === order.id, 'sort=-created_at puts the newest order first', page.data.map((o) => o.id));

  step = 'patch trigger _place';
  const placed = await api.patch('orders', { id: order.id, _place: true });
  check(placed.data && placed.data.id === order.id, 'PATCH returns the order', placed.data);
  check(placed.data.status === 'placed', "status 'placed'", placed.data.status);
  check(typeof placed.data.placed_at === 'string', 'placed_at set', placed.data.placed_at);

  step = 'list orders with filter + page params';
  const placedAfter = await api.get('orders', {
    params: { filter: { q: { status_eq: 'placed' } }, page: { number: 1, size: 25 } },
  });
  check(placedAfter.meta.record_count === before + 1, 'record_count of placed orders grew by one', [before, placedAfter.meta.record_count]);
  check(placedAfter.data.every((o) => o.status === 'placed'), 'every listed order is placed', placedAfter.data.map((o) => o.status));
  check(placedAfter.data.some((o) => o.id === order.id) || placedAfter.meta.record_count > 25, 'our order is in the placed list', placedAfter.data.map((o) => o.id));

  console.log(`kitsu ${version} ok: order ${order.id} placed; placed record_count ${before} -> ${placedAfter.meta.record_count}`);
}

main().catch((e) => {
  console.error(`FAIL kitsu: ${e && e.message ? e.message : e}`);
  const res = e && e.response;
  if (res) {
    console.error(`  request: ${res.config && res.config.method && res.config.method.toUpperCase()} ${res.request && res.request.path}${res.config && res.config.data ? ` body ${res.config.data}` : ''}`);
    console.error(`  answer: ${res.status} ${JSON.stringify(res.data).slice(0, 800)}`);
  } else if (e && e.errors) {
    console.error(`  errors: ${JSON.stringify(e.errors)}`);
  }
  process.exit(1);
});
