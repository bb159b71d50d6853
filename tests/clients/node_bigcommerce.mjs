// BigCommerce v2 scenario with the unmodified npm `node-bigcommerce` client.
// Usage: ORDERMUX_URL=http://127.0.0.1:PORT node node_bigcommerce.mjs
// The library always calls https.request({hostname: 'api.bigcommerce.com', port: 443}) and sends
// `Host: api.bigcommerce.com`; its documented `agent` option is used to hand it a plain TCP socket to the
// local gateway, so no DNS lookup, TLS or external connection happens.
import https from 'node:https';
import net from 'node:net';
import { readFileSync } from 'node:fs';
import BigCommerce from 'node-bigcommerce';

// Version of an installed package (read directly: not every package exports ./package.json).
const pkgVersion = (name) =>
  JSON.parse(readFileSync(new URL(`./node_modules/${name}/package.json`, import.meta.url), 'utf8')).version;
const version = pkgVersion('node-bigcommerce');

const base = new URL(process.env.ORDERMUX_URL || 'http://127.0.0.1:8080');
let step = 'setup';

function check(cond, what, got) {
  if (!cond) {
    const extra = got === undefined ? '' : ` (got ${JSON.stringify(got)})`;
    throw new Error(`[${step}] ${what}${extra}`);
  }
}

class LocalPlainAgent extends https.Agent {
  createConnection(_options, callback) {
    const socket = net.connect({ host: base.hostname, port: Number(base.port) });
    if (callback) socket.once('connect', () => callback(null, socket));
    return socket;
  }
}

const bc = new BigCommerce({
  clientId: 'demo-client',
  accessToken: 'demo-secret',
  storeHash: 'demo',
  responseType: 'json',
  failOnLimitReached: true,
  agent: new LocalPlainAgent({ keepAlive: false }),
});

async function main() {
  step = 'create order';
  const created = await bc.post('/orders', {
    billing_address: {
      first_name: 'Grace',
      last_name: 'Hopper',
      street_1: '3 Navy Way',
      city: 'Arlington',
      state: 'Virginia',
      zip: '22201',
      country: 'United States',
      country_iso2: 'US',
      email: 'grace@example.com',
    },
    products: [
      { product_id: 111, quantity: 2 },
      { product_id: 112, quantity: 1 },
    ],
  });
  check(typeof created === 'object' && created !== null, 'create returns a JSON object', created);
  const id = created.id;
  check(Number.isInteger(id) && id > 0, 'order id is a positive integer', id);
  check(created.status_id === 1 && created.status === 'Pending', 'new order is Pending (1)', [created.status_id, created.status]);
  // 2 x 25.00 + 1 x 12.50 = 62.50
  check(created.total_inc_tax === '62.5000', 'total_inc_tax', created.total_inc_tax);
  check(created.items_total === 3, 'items_total', created.items_total);
  check(created.products && created.products.resource === `/orders/${id}/products`, 'products sub-resource link', created.products);

  step = 'get order';
  const order = await bc.get(`/orders/${id}`);
  check(order.id === id, 'same id', order.id);
  check(order.billing_address && order.billing_address.email === 'grace@example.com', 'billing email', order.billing_address);
  check(order.currency_code === 'USD', 'currency_code', order.currency_code);
  check(/^\w{3}, \d{2} \w{3} \d{4} \d{2}:\d{2}:\d{2} \+0000$/.test(order.date_created), 'date_created RFC 2822 UTC', order.date_created);

  step = 'list orders';
  const list = await bc.get('/orders?limit=250&sort=id:desc');
  check(Array.isArray(list), 'list is a bare array', typeof list);
  check(list.some((o) => o.id === id), 'new order in list', list.map((o) => o.id));
  check(list.length <= 250, 'limit honoured', list.length);
  const pastEnd = await bc.get('/orders?page=100000&limit=50');
  check(pastEnd === '' || (Array.isArray(pastEnd) && pastEnd.length === 0), 'a page past the end is empty (HTTP 204)', pastEnd);
  const count = await bc.get('/orders/count');
  check(Number.isInteger(count.count) && count.count >= 1, 'orders/count', count);

  step = 'list order products';
  const products = await bc.get(`/orders/${id}/products`);
  check(Array.isArray(products) && products.length === 2, 'two product lines', products);
  const tshirt = products.find((p) => p.product_id === 111);
  const mug = products.find((p) => p.product_id === 112);
  check(tshirt && tshirt.quantity === 2 && tshirt.total_inc_tax === '50.0000', 'T-shirt line', tshirt);
  check(mug && mug.quantity === 1 && mug.price_inc_tax === '12.5000', 'mug line', mug);
  check(products.every((p) => p.order_id === id), 'lines carry order_id', products.map((p) => p.order_id));

  step = 'update status';
  const updated = await bc.put(`/orders/${id}`, { status_id: 9 });
  check(updated.status_id === 9 && updated.status === 'Awaiting Shipment', 'status 9 Awaiting Shipment', [updated.status_id, updated.status]);

  step = 'missing order rejects with err.code 404';
  let err;
  try {
    await bc.get('/orders/987654321');
  } catch (e) {
    err = e;
  }
  check(err && err.code === 404, 'rejects with code 404', err && err.code);
  const body = JSON.parse(err.responseBody);
  check(Array.isArray(body) && body[0] && body[0].status === 404, 'error body is [{status, message}]', body);

  console.log(`node-bigcommerce ${version} ok: order ${id}`);
}

main().catch((e) => {
  console.error(`FAIL node_bigcommerce: ${e && e.message ? e.message : e}`);
  process.exit(1);
});
