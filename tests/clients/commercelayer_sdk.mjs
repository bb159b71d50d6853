// Commerce Layer scenario with the unmodified npm `@commercelayer/js-auth` and `@commercelayer/sdk`.
// Usage: ORDERMUX_URL=http://127.0.0.1:PORT node commercelayer_sdk.mjs
// Both libraries hard-code https URLs (`https://auth.<domain>/oauth/token`, `https://<org>.<domain>/api`).
// The harness reaches the plain-HTTP gateway with a fetch wrapper that rewrites those URLs to ORDERMUX_URL,
// keeping path and query untouched: js-auth uses the global fetch (no option), the SDK takes the documented
// `fetch` option. Any other host is refused, so nothing leaves the machine.
import { authenticate } from '@commercelayer/js-auth';
import { CommerceLayer } from '@commercelayer/sdk/bundle'; // the bundled client: cl.orders, cl.line_items, ...
import { readFileSync } from 'node:fs';

// Version of an installed package (read directly: not every package exports ./package.json).
const pkgVersion = (name) =>
  JSON.parse(readFileSync(new URL(`./node_modules/${name}/package.json`, import.meta.url), 'utf8')).version;
const sdkVersion = pkgVersion('@commercelayer/sdk');
const authVersion = pkgVersion('@commercelayer/js-auth');

const local = new URL(process.env.ORDERMUX_URL || 'http://127.0.0.1:8080');
const DOMAIN = 'commercelayer.io';
const realFetch = globalThis.fetch;
const exchanges = []; // for diagnostics: every request and the status it got

function rewrite(input) {
  const raw = typeof input === 'string' || input instanceof URL ? String(input) : input.url;
  const url = new URL(raw);
  if (url.protocol !== 'https:' || !(url.hostname === DOMAIN || url.hostname.endsWith(`.${DOMAIN}`))) {
    throw new Error(`harness: refusing to fetch ${raw} (only https://*.${DOMAIN} is redirected)`);
  }
  return `${local.origin}${url.pathname}${url.search}`;
}

async function localFetch(input, init) {
  const target = rewrite(input);
  const entry = { method: (init && init.method) || 'GET', url: target, body: init && init.body };
  exchanges.push(entry);
  const res = await realFetch(target, init);
  entry.status = res.status;
  if (!res.ok) entry.response = await res.clone().text().catch(() => '<unreadable>');
  return res;
}
globalThis.fetch = localFetch; // js-auth has no fetch option

let step = 'setup';
function check(cond, what, got) {
  if (!cond) {
    const extra = got === undefined ? '' : ` (got ${JSON.stringify(got)})`;
    throw new Error(`[${step}] ${what}${extra}`);
  }
}

async function main() {
  step = 'POST /oauth/token via js-auth';
  const auth = await authenticate('client_credentials', {
    clientId: 'demo',
    clientSecret: 'demo-secret',
    domain: DOMAIN,
  });
  check(!auth.errors, 'token request succeeds', auth.errors);
  check(typeof auth.accessToken === 'string' && auth.accessToken.length > 0, 'access_token is a string', auth.accessToken);
  check(String(auth.tokenType).toLowerCase() === 'bearer', 'token_type bearer', auth.tokenType);
  check(Number.isInteger(auth.expiresIn) && auth.expiresIn > 0, 'expires_in > 0', auth.expiresIn);
  check(auth.createdAt !== undefined, 'created_at present', auth);

  // No `organization`/`domain`: the SDK derives them from the JWT (payload organization.slug and iss).
  const cl = CommerceLayer({ accessToken: auth.accessToken, fetch: localFetch });

  step = 'create order (market usd)';
  const order = await cl.orders.create({ market: cl.markets.relationship('usd') });
  check(order.type === 'orders' && typeof order.id === 'string' && order.id.length > 0, 'order has type and string id', order);
  check(order.status === 'draft', "new order status is 'draft'", order.status);
  check(order.currency_code === 'USD', 'currency fixed by market usd', order.currency_code);

  step = 'create line item (TSHIRT-BLK-M x2)';
  const li = await cl.line_items.create({
    sku_code: 'TSHIRT-BLK-M',
    quantity: 2,
    order: cl.orders.relationship(order.id),
  });
  check(li.type === 'line_items' && typeof li.id === 'string', 'line item has type and id', li);
  check(li.quantity === 2, 'quantity 2', li.quantity);
  check(li.sku_code === 'TSHIRT-BLK-M', 'sku_code', li.sku_code);
  check(li.unit_amount_cents === 2500, 'unit_amount_cents from catalog (25.00 USD)', li.unit_amount_cents);
  check(li.total_amount_cents === 5000, 'line total_amount_cents', li.total_amount_cents);

  step = 'retrieve order include line_items';
  const got = await cl.orders.retrieve(order.id, { include: ['line_items'] });
  check(got.id === order.id, 'same id', got.id);
  check(Array.isArray(got.line_items), 'line_items included', got.line_items);
  const skuLines = got.line_items.filter((l) => l.item_type === undefined || l.item_type === 'skus');
  check(skuLines.length === 1, 'one sku line item', got.line_items);
  check(skuLines[0].id === li.id && skuLines[0].quantity === 2, 'included line item is ours', skuLines[0]);
  check(got.subtotal_amount_cents === 5000, 'subtotal_amount_cents', got.subtotal_amount_cents);
  check(got.total_amount_cents === 5000, 'total_amount_cents', got.total_amount_cents);
  check(got.total_amount_float === 50, 'total_amount_float', got.total_amount_float);
  check(typeof got.formatted_total_amount === 'string' && got.formatted_total_amount.includes('50'),
    'formatted_total_amount', got.formatted_total_amount);

  step = 'relationship endpoint /orders/{id}/line_items';
  const related = await cl.orders.line_items(order.id);
  check(related.length === 1 && related[0].id === li.id, 'GET /orders/{id}/line_items lists the line item', related.map((l) => l.id));

  step = 'update customer_email';
  const withEmail = await cl.orders.update({ id: order.id, customer_email: 'ada@example.com' });
  check(withEmail.customer_email === 'ada@example.com', 'customer_email set', withEmail.customer_email);
  // "Orders get created in draft and become pending when they have a customer and some line items" (CL docs)
  check(withEmail.status === 'pending', "status 'pending' once it has a customer and line items", withEmail.status);

  step = '_place';
  const placed = await cl.orders._place(order.id);
  check(placed.status === 'placed', "status 'placed'", placed.status);
  check(typeof placed.placed_at === 'string' && !Number.isNaN(Date.parse(placed.placed_at)), 'placed_at is a timestamp', placed.placed_at);
  check(placed.total_amount_cents === 5000, 'total_amount_cents after place', placed.total_amount_cents);
  const paymentStatuses = ['unpaid', 'authorized', 'partially_authorized', 'paid', 'partially_paid', 'voided',
    'partially_voided', 'refunded', 'partially_refunded', 'free'];
  check(paymentStatuses.includes(placed.payment_status), 'payment_status in the CL enum', placed.payment_status);
  check(['unfulfilled', 'in_progress', 'fulfilled', 'not_required'].includes(placed.fulfillment_status),
    'fulfillment_status in the CL enum', placed.fulfillment_status);

  step = 'list placed orders';
  const list = await cl.orders.list({ filters: { status_eq: 'placed' }, pageSize: 5, pageNumber: 1, sort: { created_at: 'desc' } });
  check(list.some((o) => o.id === order.id), 'placed order in filtered list', list.map((o) => o.id));
  check(list.every((o) => o.status === 'placed'), 'filter status_eq honoured', list.map((o) => o.status));
  check(Number.isInteger(list.meta.recordCount) && list.meta.recordCount >= 1, 'meta.record_count', list.meta);
  check(Number.isInteger(list.meta.pageCount) && list.meta.pageCount >= 1, 'meta.page_count', list.meta);

  step = 'missing order is an ApiError 404';
  let err;
  try {
    await cl.orders.retrieve('doesNotExist0');
  } catch (e) {
    err = e;
  }
  check(err && cl.isApiError(err), 'cl.isApiError(e)', err && err.message);
  check(err.status === 404, 'status 404', err.status);
  check(Array.isArray(err.errors) && err.errors.length > 0 && err.errors[0].status === '404', 'errors[0].status is the string "404"', err.errors);

  console.log(`@commercelayer/sdk ${sdkVersion} + js-auth ${authVersion} ok: order ${order.id} placed, total_amount_cents ${placed.total_amount_cents}`);
}

main().catch((e) => {
  console.error(`FAIL commercelayer_sdk: ${e && e.message ? e.message : e}`);
  if (e && e.errors) console.error(`  api errors: ${JSON.stringify(e.errors)}`);
  const last = exchanges[exchanges.length - 1];
  if (last) {
    console.error(`  last request: ${last.method} ${last.url}${last.body ? ` body ${last.body}` : ''}`);
    console.error(`  answer: ${last.status}${last.response ? ` ${last.response.slice(0, 800)}` : ''}`);
  }
  process.exit(1);
});
