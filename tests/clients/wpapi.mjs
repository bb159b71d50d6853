// FluentCart REST v2 scenario with the unmodified npm `wpapi` (node-wpapi, superagent based).
// Usage: ORDERMUX_URL=http://127.0.0.1:PORT node wpapi.mjs
// wpapi takes a plain http endpoint by configuration; the FluentCart namespace is declared with
// registerRoute (handlers attached to the site object) and Basic auth uses the demo client's secret.
import WPAPI from 'wpapi';
import { readFileSync } from 'node:fs';

// Version of an installed package (read directly: not every package exports ./package.json).
const pkgVersion = (name) =>
  JSON.parse(readFileSync(new URL(`./node_modules/${name}/package.json`, import.meta.url), 'utf8')).version;
const version = pkgVersion('wpapi');

const base = (process.env.ORDERMUX_URL || 'http://127.0.0.1:8080').replace(/\/$/, '');
let step = 'setup';

function check(cond, what, got) {
  if (!cond) {
    const extra = got === undefined ? '' : ` (got ${JSON.stringify(got)})`;
    throw new Error(`[${step}] ${what}${extra}`);
  }
}

function site(password) {
  const wp = new WPAPI({ endpoint: `${base}/wp-json`, username: 'demo', password });
  wp.fcOrders = wp.registerRoute('fluent-cart/v2', '/orders/(?P<id>\\d+)');
  // static trailing segment: reached with .id(n).statuses()
  wp.fcOrderStatuses = wp.registerRoute('fluent-cart/v2', '/orders/(?P<id>\\d+)/statuses');
  return wp;
}

const ORDER_STATUSES = ['processing', 'completed', 'on-hold', 'canceled', 'failed'];
const PAYMENT_STATUSES = ['pending', 'paid', 'partially_paid', 'failed', 'refunded', 'partially_refunded', 'authorized'];

async function main() {
  const wp = site('demo-secret');

  step = 'POST /orders';
  const created = await wp.fcOrders().create({
    customer_id: 1,
    order_items: [
      {
        post_id: 101,
        object_id: 1001,
        quantity: 1,
        title: 'T-shirt, black, M',
        post_title: 'T-shirt, black, M',
        fulfillment_type: 'physical',
        price: 2500,
        unit_price: 2500,
        item_total: 2500,
        line_total: 2500,
        total: 2500,
      },
    ],
    note: 'created by the wpapi client test',
  });
  check(created && Number.isInteger(created.order_id) && created.order_id > 0, 'reply carries an integer order_id', created);
  check(typeof created.uuid === 'string' && created.uuid.length > 0, 'reply carries a uuid', created);
  check(typeof created.message === 'string', 'reply carries a message', created);
  const id = created.order_id;

  step = `GET /orders/${id}`;
  const got = await wp.fcOrders().id(id).get();
  check(got && typeof got.order === 'object' && got.order !== null, 'reply is {"order": {...}}', got);
  const order = got.order;
  check(order.id === id, 'same id', order.id);
  check(order.uuid === created.uuid, 'same uuid', [order.uuid, created.uuid]);
  check(order.customer_id === 1, 'customer_id 1', order.customer_id);
  check(order.currency === 'USD', 'currency USD', order.currency);
  check(ORDER_STATUSES.includes(order.status), 'status in the FluentCart enum', order.status);
  check(PAYMENT_STATUSES.includes(order.payment_status), 'payment_status in the FluentCart enum', order.payment_status);
  check(Array.isArray(order.order_items) && order.order_items.length === 1, 'one order item', order.order_items);
  const item = order.order_items[0];
  check(item.object_id === 1001 && item.quantity === 1, 'item object_id 1001, quantity 1', item);
  check(item.unit_price === 2500, 'unit_price in integer cents (catalog 25.00 USD)', item.unit_price);
  check(order.subtotal === 2500, 'subtotal 2500 cents', order.subtotal);
  check(order.total_amount === 2500, 'total_amount 2500 cents', order.total_amount);
  check(/^\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}:\d{2}/.test(String(order.created_at)), 'created_at is a date-time', order.created_at);

  step = `POST /orders/${id} (update)`;
  const upd = await wp.fcOrders().id(id).create({ note: 'updated by wpapi' });
  check(upd && upd.order && upd.order.note === 'updated by wpapi', 'update reply carries the updated order', upd);

  step = `PUT /orders/${id}/statuses`;
  const st = await wp.fcOrderStatuses().id(id).statuses().update({
    action: 'change_order_status',
    statuses: { order_status: 'processing' },
    manage_stock: true,
  });
  check(st && st.data && st.data.new_status === 'processing', 'new_status processing', st);
  const after = await wp.fcOrders().id(id).get();
  check(after.order.status === 'processing', 'status persisted', after.order.status);
  check(after.order.note === 'updated by wpapi', 'note persisted', after.order.note);

  step = 'GET /orders?page=1&per_page=5';
  const list = await wp.fcOrders().param('page', 1).param('per_page', 5).param('sort_by', 'id').param('sort_type', 'desc').get();
  const pager = list && list.orders;
  check(pager && Array.isArray(pager.data), 'reply is {"orders": {paginator with data[]}}', list);
  check(pager.per_page === 5 && pager.current_page === 1, 'per_page/current_page echoed', [pager.per_page, pager.current_page]);
  check(Number.isInteger(pager.total) && pager.total >= 1, 'total', pager.total);
  check(pager.data.length <= 5 && pager.data[0] && pager.data[0].id === id, 'newest order first (sort_by=id desc)', pager.data.map((o) => o.id));

  step = 'wrong password is refused';
  let err;
  try {
    await site('wrong-secret').fcOrders().id(id).get();
  } catch (e) {
    err = e;
  }
  check(err !== undefined, 'request with a wrong password fails');
  check(err.data && err.data.status === 401 && typeof err.code === 'string', 'WordPress error shape {code, message, data.status: 401}', err);

  console.log(`wpapi ${version} ok: FluentCart order ${id} (${order.status}/${order.payment_status}), total_amount ${order.total_amount}`);
}

main().catch((e) => {
  if (!(e instanceof Error)) {
    // wpapi rejects with the parsed body when the server's error body has a `code`
    console.error(`FAIL wpapi: [${step}] server answered with an error: ${JSON.stringify(e).slice(0, 800)}`);
    process.exit(1);
  }
  console.error(`FAIL wpapi: ${e.message}`);
  if (e.response) console.error(`  answer: ${e.status || e.response.status} ${String(e.response.text).slice(0, 800)}`);
  process.exit(1);
});
