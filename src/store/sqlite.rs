//! The SQLite implementation: one file in the data directory, WAL journal with `synchronous = FULL` by default (a committed
//! write survives a crash), one writer connection (SQLite serialises writers anyway; one connection makes that a
//! queue instead of busy errors) and a pool of readers.

use std::borrow::Cow;
use std::collections::{BTreeSet, HashMap};
use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use sqlx::migrate::{Migration, MigrationType, Migrator};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteRow,
    SqliteSynchronous,
};
use sqlx::{QueryBuilder, Row, Sqlite, SqliteConnection};

use super::ids::{gateway_id, random_token};
use super::{
    CustomerRecord, IdempotencyClaim, ModifyError, ObjectId, ObjectKind, ProductKey, StoreError,
    StoredResponse,
};
use crate::canonical::{
    Address, FulfillmentStatus, Order, OrderFilter, OrderQuery, OrderStatus, Page, PaymentStatus,
    Platform, PlatformIds, Problem, SortKey, StatusTriple, Timestamp,
};
use crate::config::{Durability, Product, SeedCustomer};

/// BigCommerce order ids start at 100 on a new store; the offset keeps that look.
pub(super) const BIGCOMMERCE_ORDER_ID_OFFSET: i64 = 99;

/// Versioned migrations, embedded at compile time and applied by sqlx's migrator (checksummed, recorded in
/// `_sqlx_migrations`).
fn migrator() -> Migrator {
    const MIGRATIONS: [(i64, &str, &str); 7] = [
        (
            1,
            "embedded store",
            include_str!("../../migrations/0001_embedded_store.sql"),
        ),
        (
            2,
            "standalone addresses",
            include_str!("../../migrations/0002_addresses.sql"),
        ),
        (
            3,
            "list indexes",
            include_str!("../../migrations/0003_list_indexes.sql"),
        ),
        (
            4,
            "upstream id map and create journal",
            include_str!("../../migrations/0004_upstream.sql"),
        ),
        (
            5,
            "customer default address",
            include_str!("../../migrations/0005_customer_address.sql"),
        ),
        (
            6,
            "replay journal",
            include_str!("../../migrations/0006_replay_journal.sql"),
        ),
        (
            7,
            "notifications a replay switched off",
            include_str!("../../migrations/0007_muted_notifications.sql"),
        ),
    ];
    let migrations = MIGRATIONS
        .iter()
        .map(|(version, description, sql)| {
            Migration::new(
                *version,
                Cow::Borrowed(*description),
                MigrationType::Simple,
                Cow::Borrowed(*sql),
                false,
            )
        })
        .collect::<Vec<_>>();
    Migrator {
        migrations: Cow::Owned(migrations),
        ..Migrator::DEFAULT
    }
}

#[derive(Debug, Clone)]
pub struct SqliteStore {
    pub(super) writer: SqlitePool,
    pub(super) reader: SqlitePool,
    /// Creates and idempotency records, committed in groups (`write_batcher`). Unbounded on purpose: what bounds
    /// it is the number of requests in flight (connections, deadlines).
    writes: tokio::sync::mpsc::UnboundedSender<WriteJob>,
    /// The catalog in memory: every line of every create looks a product up, and a query per line would be a
    /// round trip to SQLite's worker thread each. The `products` table keeps it across restarts.
    catalog: std::sync::Arc<std::sync::RwLock<std::sync::Arc<CatalogIndex>>>,
}

/// Products by each key they are known by.
#[derive(Debug, Default)]
struct CatalogIndex {
    products: Vec<Product>,
    by_sku: std::collections::HashMap<String, usize>,
    by_fluentcart_object: std::collections::HashMap<u64, usize>,
    by_bigcommerce_product: std::collections::HashMap<u64, usize>,
}

impl CatalogIndex {
    fn new(products: Vec<Product>) -> Self {
        let mut index = CatalogIndex::default();
        for (i, p) in products.iter().enumerate() {
            index.by_sku.insert(p.sku.clone(), i);
            if let Some(id) = p.fluentcart_object_id {
                index.by_fluentcart_object.insert(id, i);
            }
            if let Some(id) = p.bigcommerce_product_id {
                index.by_bigcommerce_product.insert(id, i);
            }
        }
        index.products = products;
        index
    }

    fn get(&self, key: &ProductKey) -> Option<&Product> {
        let i = match key {
            ProductKey::Sku(s) => self.by_sku.get(s),
            ProductKey::FluentCartObject(id) => self.by_fluentcart_object.get(id),
            ProductKey::BigCommerceProduct(id) => self.by_bigcommerce_product.get(id),
        }?;
        self.products.get(*i)
    }
}

/// A write that may share a transaction with others (see `write_batcher`).
#[derive(Debug, Clone)]
enum WriteOp {
    Create {
        client: String,
        order: Box<Order>,
        now: Timestamp,
        /// A replayed order: its journal row is confirmed in the same transaction, so the order and the record
        /// that it exists can never part (a crash leaves both or neither).
        replay: Option<Box<super::replay::ReplayMark>>,
    },
    ReplayMark(Box<super::replay::ReplayMark>),
    Claim {
        client: String,
        key: String,
        fingerprint: [u8; 32],
        now: Timestamp,
        retention: Duration,
    },
    Complete {
        client: String,
        key: String,
        response: StoredResponse,
    },
    JournalBegin {
        backend: String,
        key: String,
        client: String,
        now: i64,
    },
    JournalUpdate(Box<super::upstream::JournalUpdate>),
    /// Ids in every scheme for upstream objects (`upstream_map`).
    UpstreamMap {
        backend: String,
        platform: Platform,
        objects: Vec<super::upstream::UpstreamObject>,
    },
}

/// What a write produced.
#[derive(Debug)]
enum Outcome {
    Created(Box<Order>),
    Claimed(IdempotencyClaim),
    Journal(super::upstream::JournalEntry),
    Mapped(Vec<PlatformIds>),
    Done,
}

#[derive(Debug)]
struct WriteJob {
    op: WriteOp,
    /// A caller that has gone away (its request timed out) no longer needs the answer; the write stands.
    reply: tokio::sync::oneshot::Sender<Result<Outcome, StoreError>>,
}

/// `run_writes` answers each write with an outcome of its own kind; anything else would be a bug, reported as one.
fn wrong_outcome() -> StoreError {
    StoreError::Corrupt("write batch".into(), "outcome of another kind".into())
}

/// Most writes committed together.
const MAX_WRITE_BATCH: usize = 64;

/// Group commit: whatever creates and idempotency writes are waiting when the writer is free go into one
/// transaction, so concurrent clients share the commit (and, with `synchronous = FULL`, the fsync) instead of
/// queueing for one each. Each write is still atomic: a batch that fails is retried one write per transaction,
/// so one bad write cannot fail its neighbours.
async fn write_batcher(
    writer: SqlitePool,
    mut jobs: tokio::sync::mpsc::UnboundedReceiver<WriteJob>,
) {
    while let Some(first) = jobs.recv().await {
        let mut batch = vec![first];
        while batch.len() < MAX_WRITE_BATCH {
            match jobs.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        let ops: Vec<WriteOp> = batch.iter().map(|j| j.op.clone()).collect();
        match run_writes(&writer, ops).await {
            Ok(outcomes) => {
                for (job, outcome) in batch.into_iter().zip(outcomes) {
                    let _ = job.reply.send(Ok(outcome));
                }
            }
            Err(_) => {
                for job in batch {
                    let result = run_writes(&writer, vec![job.op])
                        .await
                        .and_then(|mut v| v.pop().ok_or(StoreError::Stopped));
                    let _ = job.reply.send(result);
                }
            }
        }
    }
}

async fn run_writes(writer: &SqlitePool, ops: Vec<WriteOp>) -> Result<Vec<Outcome>, StoreError> {
    let mut tx = writer.begin().await?;
    // Creates are independent of each other and of the batch's other writes (a request's idempotency claim is
    // committed before its create is queued), so they go first, together.
    let mut creates = Vec::new();
    let mut marks = Vec::new();
    let mut rest = Vec::new();
    for (i, op) in ops.into_iter().enumerate() {
        match op {
            WriteOp::Create {
                client,
                order,
                now,
                replay,
            } => {
                creates.push((i, client, order, now));
                marks.push(replay);
            }
            other => rest.push((i, other)),
        }
    }
    let mut out: Vec<Option<Outcome>> = Vec::new();
    out.resize_with(creates.len() + rest.len(), || None);
    if !creates.is_empty() {
        let positions: Vec<usize> = creates.iter().map(|(i, ..)| *i).collect();
        let orders = insert_orders(
            &mut tx,
            creates
                .into_iter()
                .map(|(_, client, order, now)| (client, *order, now))
                .collect(),
        )
        .await?;
        let mut replayed = Vec::new();
        for ((i, order), mark) in positions.into_iter().zip(orders).zip(marks) {
            if let Some(mut mark) = mark {
                mark.target_id.clone_from(&order.ids.gateway);
                replayed.push(*mark);
            }
            if let Some(slot) = out.get_mut(i) {
                *slot = Some(Outcome::Created(Box::new(order)));
            }
        }
        super::replay::upsert_many(&mut tx, &replayed).await?;
    }
    for (i, op) in rest {
        let outcome = match op {
            WriteOp::Create { .. } => return Err(wrong_outcome()),
            WriteOp::ReplayMark(mark) => {
                super::replay::upsert(&mut tx, &mark).await?;
                Outcome::Done
            }
            WriteOp::Claim {
                client,
                key,
                fingerprint,
                now,
                retention,
            } => Outcome::Claimed(
                claim_key(&mut tx, &client, &key, &fingerprint, now, retention).await?,
            ),
            WriteOp::Complete {
                client,
                key,
                response,
            } => {
                complete_key(&mut tx, &client, &key, &response).await?;
                Outcome::Done
            }
            WriteOp::JournalBegin {
                backend,
                key,
                client,
                now,
            } => Outcome::Journal(
                super::upstream::journal_begin(&mut tx, &backend, &key, &client, now).await?,
            ),
            WriteOp::JournalUpdate(update) => {
                super::upstream::journal_update(&mut tx, &update).await?;
                Outcome::Done
            }
            WriteOp::UpstreamMap {
                backend,
                platform,
                objects,
            } => Outcome::Mapped(
                super::upstream::map_objects(&mut tx, &backend, platform, &objects).await?,
            ),
        };
        if let Some(slot) = out.get_mut(i) {
            *slot = Some(outcome);
        }
    }
    tx.commit().await?;
    out.into_iter()
        .map(|o| o.ok_or_else(wrong_outcome))
        .collect()
}

async fn claim_key(
    conn: &mut SqliteConnection,
    client: &str,
    key: &str,
    fingerprint: &[u8; 32],
    now: Timestamp,
    retention: Duration,
) -> Result<IdempotencyClaim, StoreError> {
    // The common case, a new key, is one statement.
    let inserted = sqlx::query(
        "INSERT INTO idempotency (client, key, fingerprint, state, created_at) VALUES (?, ?, ?, 'in_flight', ?) ON CONFLICT (client, key) DO NOTHING",
    )
    .bind(client)
    .bind(key)
    .bind(&fingerprint[..])
    .bind(now.timestamp())
    .execute(&mut *conn)
    .await?;
    if inserted.rows_affected() == 1 {
        return Ok(IdempotencyClaim::Claimed);
    }
    let horizon = now.timestamp() - i64::try_from(retention.as_secs()).unwrap_or(i64::MAX);
    let existing = sqlx::query(
        "SELECT fingerprint, state, status, headers, body, created_at FROM idempotency WHERE client = ? AND key = ?",
    )
    .bind(client)
    .bind(key)
    .fetch_optional(&mut *conn)
    .await?;
    Ok(match existing {
        Some(row) if row.get::<i64, _>(5) >= horizon => {
            let stored: Vec<u8> = row.get(0);
            let state: String = row.get(1);
            if stored != fingerprint[..] {
                IdempotencyClaim::Mismatch
            } else if state == "in_flight" {
                IdempotencyClaim::InFlight
            } else {
                let status: i64 = row.get(2);
                let headers: String = row.get(3);
                IdempotencyClaim::Replay(StoredResponse {
                    status: u16::try_from(status).map_err(|e| corrupt("idempotency", e))?,
                    headers: serde_json::from_str(&headers)
                        .map_err(|e| corrupt("idempotency", e))?,
                    body: row.get(4),
                })
            }
        }
        // Expired (or released in the meantime): the key starts over.
        _ => {
            sqlx::query(
                "INSERT INTO idempotency (client, key, fingerprint, state, created_at) VALUES (?, ?, ?, 'in_flight', ?) ON CONFLICT (client, key) DO UPDATE SET fingerprint = excluded.fingerprint, state = 'in_flight', status = NULL, headers = NULL, body = NULL, created_at = excluded.created_at",
            )
            .bind(client)
            .bind(key)
            .bind(&fingerprint[..])
            .bind(now.timestamp())
            .execute(&mut *conn)
            .await?;
            IdempotencyClaim::Claimed
        }
    })
}

async fn complete_key(
    conn: &mut SqliteConnection,
    client: &str,
    key: &str,
    response: &StoredResponse,
) -> Result<(), StoreError> {
    let headers =
        serde_json::to_string(&response.headers).map_err(|e| corrupt("idempotency", e))?;
    sqlx::query(
        "UPDATE idempotency SET state = 'done', status = ?, headers = ?, body = ? WHERE client = ? AND key = ?",
    )
    .bind(i64::from(response.status))
    .bind(headers)
    .bind(&response.body)
    .bind(client)
    .bind(key)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Stores new orders, all in the caller's transaction: one statement allocates their numbers, two give their
/// objects ids, a few link their customers, one writes them. Each statement is a round trip to SQLite's worker
/// thread, so a group commit of many creates costs about what one used to.
async fn insert_orders(
    conn: &mut SqliteConnection,
    mut creates: Vec<(String, Order, Timestamp)>,
) -> Result<Vec<Order>, StoreError> {
    let count = i64::try_from(creates.len()).unwrap_or(i64::MAX);
    let first = allocate(conn, &[("order", count)])
        .await?
        .get("order")
        .copied()
        .unwrap_or(0);
    for (i, (_, order, now)) in creates.iter_mut().enumerate() {
        let n = first + i64::try_from(i).unwrap_or(0);
        order.ids.gateway = Some(gateway_id("ord"));
        order.ids.platform = PlatformIds {
            fluentcart: Some(n.unsigned_abs()),
            commercelayer: Some(random_token(10)),
            bigcommerce: Some((n + BIGCOMMERCE_ORDER_ID_OFFSET).unsigned_abs()),
        };
        if order.ids.number.is_none() {
            order.ids.number = Some(n.to_string());
        }
        if order.ids.uuid.is_none() {
            order.ids.uuid = Some(uuid::Uuid::new_v4().simple().to_string());
        }
        if order.ids.cart_token.is_none() {
            order.ids.cart_token = Some(random_token(32));
        }
        order.timestamps.created_at.get_or_insert(*now);
        order.timestamps.updated_at = Some(*now);
        clear_object_ids(order);
    }
    {
        let mut targets: Vec<(&str, &mut Order)> = creates
            .iter_mut()
            .map(|(client, order, _)| (client.as_str(), order))
            .collect();
        assign_object_ids(conn, &mut targets).await?;
    }
    let mut q = QueryBuilder::<Sqlite>::new(ORDER_INSERT);
    let rows = creates
        .iter()
        .map(|(client, order, _)| OrderRow::new(client, order, 1))
        .collect::<Result<Vec<_>, _>>()?;
    q.push_values(rows, |mut b, row| row.bind(&mut b));
    q.build().execute(&mut *conn).await?;
    Ok(creates.into_iter().map(|(_, order, _)| order).collect())
}

fn corrupt(what: &str, e: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(what.to_owned(), e.to_string())
}

fn to_i64(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

fn timestamp_text(t: Timestamp) -> String {
    // Fixed width, so text order is time order.
    t.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()
}

/// Pool settings shared by the writer and the readers. sqlx tests an idle connection before handing it out by
/// default: a round trip to the connection's worker thread, which a network database needs to find dropped
/// sockets. An SQLite connection is a file handle in this process and cannot drop, so the test only added a thread
/// hop to every acquire (about 4 of a translated create's 25 context switches, `perf stat` on `bench/proxy.sh`).
fn pool_options() -> SqlitePoolOptions {
    SqlitePoolOptions::new().test_before_acquire(false)
}

impl SqliteStore {
    pub async fn open(data_dir: &Path, durability: Durability) -> Result<Self, StoreError> {
        std::fs::create_dir_all(data_dir).map_err(|source| StoreError::DataDir {
            path: data_dir.display().to_string(),
            source,
        })?;
        let options = SqliteConnectOptions::from_str("sqlite://")?
            .filename(data_dir.join("ordermux.db"))
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(match durability {
                Durability::Full => SqliteSynchronous::Full,
                Durability::Normal => SqliteSynchronous::Normal,
            })
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(10));
        let writer = pool_options()
            .max_connections(1)
            .connect_with(options.clone())
            .await?;
        // Two processes opening one data directory at once (`serve` and `replay`) can race to apply the same
        // migration; SQLite's migrator takes no lock, so the loser sees "already exists". Its retry finds the
        // migration recorded and goes on.
        let mut tries = 0;
        loop {
            tries += 1;
            match migrator().run(&writer).await {
                Ok(()) => break,
                Err(_) if tries < 5 => {
                    tokio::time::sleep(std::time::Duration::from_millis(100 * tries)).await;
                }
                Err(e) => return Err(e.into()),
            }
        }
        let reader = pool_options()
            .max_connections(8)
            .connect_with(options.read_only(true))
            .await?;
        let (writes, jobs) = tokio::sync::mpsc::unbounded_channel();
        tokio::spawn(write_batcher(writer.clone(), jobs));
        let mut products = Vec::new();
        for row in sqlx::query("SELECT body FROM products")
            .fetch_all(&writer)
            .await?
        {
            let body: String = row.get(0);
            products.push(serde_json::from_str(&body).map_err(|e| corrupt("product", e))?);
        }
        Ok(SqliteStore {
            writer,
            reader,
            writes,
            catalog: std::sync::Arc::new(std::sync::RwLock::new(std::sync::Arc::new(
                CatalogIndex::new(products),
            ))),
        })
    }

    pub async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.reader).await?;
        Ok(())
    }

    pub async fn load_catalog(&self, products: &[Product]) -> Result<(), StoreError> {
        let mut tx = self.writer.begin().await?;
        sqlx::query("DELETE FROM products")
            .execute(&mut *tx)
            .await?;
        for p in products {
            let body = serde_json::to_string(p).map_err(|e| corrupt("product", e))?;
            sqlx::query(
                "INSERT INTO products (sku, fluentcart_object_id, bigcommerce_product_id, body) VALUES (?, ?, ?, ?)",
            )
            .bind(&p.sku)
            .bind(p.fluentcart_object_id.map(to_i64))
            .bind(p.bigcommerce_product_id.map(to_i64))
            .bind(body)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        let index = std::sync::Arc::new(CatalogIndex::new(products.to_vec()));
        *self.catalog.write().unwrap_or_else(|p| p.into_inner()) = index;
        Ok(())
    }

    pub async fn product(&self, key: &ProductKey) -> Result<Option<Product>, StoreError> {
        let index = self
            .catalog
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        Ok(index.get(key).cloned())
    }

    pub async fn ensure_customer(
        &self,
        client: &str,
        seed: &SeedCustomer,
    ) -> Result<CustomerRecord, StoreError> {
        let mut tx = self.writer.begin().await?;
        let record = ensure_customer(&mut tx, client, seed).await?;
        tx.commit().await?;
        Ok(record)
    }

    pub async fn customer(
        &self,
        client: &str,
        id: &ObjectId,
    ) -> Result<Option<CustomerRecord>, StoreError> {
        let mut conn = self.reader.acquire().await?;
        customer_by_id(&mut conn, client, id).await
    }

    pub async fn create_order(
        &self,
        client: &str,
        order: Order,
        now: Timestamp,
    ) -> Result<Order, StoreError> {
        self.create_order_replayed(client, order, now, None).await
    }

    /// Creates an order and, for a replayed one, confirms its replay journal row in the same transaction.
    pub async fn create_order_replayed(
        &self,
        client: &str,
        order: Order,
        now: Timestamp,
        replay: Option<super::replay::ReplayMark>,
    ) -> Result<Order, StoreError> {
        let op = WriteOp::Create {
            client: client.to_owned(),
            order: Box::new(order),
            now,
            replay: replay.map(Box::new),
        };
        match self.write(op).await? {
            Outcome::Created(order) => Ok(*order),
            _ => Err(wrong_outcome()),
        }
    }

    pub(super) async fn write_replay_mark(
        &self,
        mark: super::replay::ReplayMark,
    ) -> Result<(), StoreError> {
        self.write(WriteOp::ReplayMark(Box::new(mark)))
            .await
            .map(drop)
    }

    /// Stores an address that belongs to no order yet, with new ids in every scheme.
    pub async fn create_address(
        &self,
        client: &str,
        mut address: Address,
        now: Timestamp,
    ) -> Result<Address, StoreError> {
        let mut tx = self.writer.begin().await?;
        // Owned by no order: id_map's owner column stays empty, so order edits and deletes never remove it.
        address.ids = new_object(&mut tx, client, "", ObjectKind::Address).await?;
        let gid = object_gid(
            ObjectKind::Address,
            address.ids.fluentcart.unwrap_or_default(),
        );
        let body = serde_json::to_string(&address).map_err(|e| corrupt("address", e))?;
        sqlx::query(
            "INSERT INTO addresses (gateway_id, client, commercelayer_id, created_at, body) VALUES (?, ?, ?, ?, ?)",
        )
        .bind(&gid)
        .bind(client)
        .bind(&address.ids.commercelayer)
        .bind(timestamp_text(now))
        .bind(body)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(address)
    }

    /// A standalone address (see `create_address`) by its id in any scheme.
    pub async fn address(
        &self,
        client: &str,
        id: &ObjectId,
    ) -> Result<Option<Address>, StoreError> {
        let mut q = QueryBuilder::<Sqlite>::new(
            "SELECT a.body FROM addresses a JOIN id_map m ON m.gateway_id = a.gateway_id WHERE a.client = ",
        );
        q.push_bind(client.to_owned());
        push_object_id(&mut q, "m", id);
        let Some(row) = q.build().fetch_optional(&self.reader).await? else {
            return Ok(None);
        };
        let body: String = row.get(0);
        serde_json::from_str(&body)
            .map(Some)
            .map_err(|e| corrupt("address", e))
    }

    pub async fn order(&self, client: &str, id: &ObjectId) -> Result<Option<Order>, StoreError> {
        let mut conn = self.reader.acquire().await?;
        Ok(read_order(&mut conn, client, id).await?.map(|(o, _)| o))
    }

    pub async fn order_containing(
        &self,
        client: &str,
        kind: ObjectKind,
        id: &ObjectId,
    ) -> Result<Option<Order>, StoreError> {
        let mut conn = self.reader.acquire().await?;
        let Some(order_gid) = object_owner(&mut conn, client, kind, id).await? else {
            return Ok(None);
        };
        Ok(read_order(&mut conn, client, &ObjectId::Gateway(order_gid))
            .await?
            .map(|(o, _)| o))
    }

    pub async fn modify_order<F>(
        &self,
        client: &str,
        id: &ObjectId,
        now: Timestamp,
        change: F,
    ) -> Result<Order, ModifyError>
    where
        F: FnOnce(&mut Order) -> Result<(), Problem> + Send,
    {
        let mut tx = self.writer.begin().await.map_err(StoreError::from)?;
        let Some((mut order, version)) = read_order(&mut tx, client, id).await? else {
            return Err(ModifyError::NotFound);
        };
        change(&mut order).map_err(ModifyError::Rejected)?;
        order.timestamps.updated_at = Some(now);
        let gid = order.ids.gateway.clone().unwrap_or_default();
        assign_object_ids(&mut tx, &mut [(client, &mut order)]).await?;
        sqlx::query("DELETE FROM id_map WHERE order_gateway_id = ? AND kind != 'customer' AND gateway_id NOT IN (SELECT value FROM json_each(?))")
            .bind(&gid)
            .bind(serde_json::Value::from(live_object_gids(&order)).to_string())
            .execute(&mut *tx)
            .await
            .map_err(StoreError::from)?;
        update_order_row(&mut tx, client, &order, version + 1).await?;
        tx.commit().await.map_err(StoreError::from)?;
        Ok(order)
    }

    pub async fn delete_order<F>(
        &self,
        client: &str,
        id: &ObjectId,
        refuse: F,
    ) -> Result<bool, ModifyError>
    where
        F: FnOnce(&Order) -> Result<(), Problem> + Send,
    {
        let mut tx = self.writer.begin().await.map_err(StoreError::from)?;
        let Some((order, _)) = read_order(&mut tx, client, id).await? else {
            return Ok(false);
        };
        refuse(&order).map_err(ModifyError::Rejected)?;
        let gid = order.ids.gateway.unwrap_or_default();
        sqlx::query("DELETE FROM id_map WHERE order_gateway_id = ? AND kind != 'customer'")
            .bind(&gid)
            .execute(&mut *tx)
            .await
            .map_err(StoreError::from)?;
        sqlx::query("DELETE FROM orders WHERE gateway_id = ?")
            .bind(&gid)
            .execute(&mut *tx)
            .await
            .map_err(StoreError::from)?;
        tx.commit().await.map_err(StoreError::from)?;
        Ok(true)
    }

    pub async fn list_orders(
        &self,
        client: &str,
        query: &OrderQuery,
    ) -> Result<Page<Order>, StoreError> {
        let total = self.count_orders(client, &query.filter).await?;
        let mut q = QueryBuilder::<Sqlite>::new("SELECT body FROM orders WHERE client = ");
        q.push_bind(client.to_owned());
        push_filter(&mut q, &query.filter);
        let column = match query.sort {
            SortKey::Id => "fluentcart_id",
            SortKey::CreatedAt => "created_at",
            SortKey::UpdatedAt => "updated_at",
            SortKey::Total => "total_minor",
            SortKey::Status => "status",
        };
        let dir = if query.descending { "DESC" } else { "ASC" };
        q.push(format_args!(
            " ORDER BY {column} {dir}, fluentcart_id {dir} LIMIT "
        ));
        q.push_bind(i64::from(query.per_page));
        q.push(" OFFSET ");
        q.push_bind(to_i64(query.offset()));
        let rows = q.build().fetch_all(&self.reader).await?;
        let items = rows
            .iter()
            .map(order_from_row)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Page {
            items,
            total,
            page: query.page,
            per_page: query.per_page,
        })
    }

    async fn count_orders(&self, client: &str, filter: &OrderFilter) -> Result<u64, StoreError> {
        let mut q = QueryBuilder::<Sqlite>::new("SELECT COUNT(*) FROM orders WHERE client = ");
        q.push_bind(client.to_owned());
        push_filter(&mut q, filter);
        let n: i64 = q.build().fetch_one(&self.reader).await?.get(0);
        Ok(n.unsigned_abs())
    }

    pub async fn count_by_status(
        &self,
        client: &str,
        filter: &OrderFilter,
    ) -> Result<Vec<(StatusTriple, u64)>, StoreError> {
        let mut q = QueryBuilder::<Sqlite>::new(
            "SELECT status, payment_status, fulfillment_status, COUNT(*) FROM orders WHERE client = ",
        );
        q.push_bind(client.to_owned());
        push_filter(&mut q, filter);
        q.push(" GROUP BY status, payment_status, fulfillment_status");
        let mut out = Vec::new();
        for row in q.build().fetch_all(&self.reader).await? {
            let (order, payment, fulfillment): (String, String, String) =
                (row.get(0), row.get(1), row.get(2));
            let triple = StatusTriple {
                order: OrderStatus::from_key(&order)
                    .ok_or_else(|| corrupt("order status", &order))?,
                payment: PaymentStatus::from_key(&payment)
                    .ok_or_else(|| corrupt("payment status", &payment))?,
                fulfillment: FulfillmentStatus::from_key(&fulfillment)
                    .ok_or_else(|| corrupt("fulfillment status", &fulfillment))?,
            };
            out.push((triple, row.get::<i64, _>(3).unsigned_abs()));
        }
        Ok(out)
    }

    pub async fn idempotency_begin(
        &self,
        client: &str,
        key: &str,
        fingerprint: &[u8; 32],
        now: Timestamp,
        retention: Duration,
    ) -> Result<IdempotencyClaim, StoreError> {
        let op = WriteOp::Claim {
            client: client.to_owned(),
            key: key.to_owned(),
            fingerprint: *fingerprint,
            now,
            retention,
        };
        match self.write(op).await? {
            Outcome::Claimed(claim) => Ok(claim),
            _ => Err(wrong_outcome()),
        }
    }

    pub async fn idempotency_complete(
        &self,
        client: &str,
        key: &str,
        response: &StoredResponse,
    ) -> Result<(), StoreError> {
        let op = WriteOp::Complete {
            client: client.to_owned(),
            key: key.to_owned(),
            response: response.clone(),
        };
        self.write(op).await.map(drop)
    }

    /// The journal row for `key`, created (as `Sent`: the caller is about to send) if there is none; committed
    /// with whatever other writes are waiting.
    pub async fn journal_begin(
        &self,
        backend: &str,
        key: &str,
        client: &str,
        now: i64,
    ) -> Result<super::upstream::JournalEntry, StoreError> {
        let op = WriteOp::JournalBegin {
            backend: backend.to_owned(),
            key: key.to_owned(),
            client: client.to_owned(),
            now,
        };
        match self.write(op).await? {
            Outcome::Journal(entry) => Ok(entry),
            _ => Err(wrong_outcome()),
        }
    }

    pub async fn journal_update(
        &self,
        update: super::upstream::JournalUpdate,
    ) -> Result<(), StoreError> {
        self.write(WriteOp::JournalUpdate(Box::new(update)))
            .await
            .map(drop)
    }

    /// Ids in every scheme for upstream objects, in order, those never seen before allocated; a write committed
    /// with whatever other writes are waiting (see `upstream_localize`, which reads first).
    pub async fn upstream_map(
        &self,
        backend: &str,
        platform: Platform,
        objects: &[super::upstream::UpstreamObject],
    ) -> Result<Vec<PlatformIds>, StoreError> {
        let op = WriteOp::UpstreamMap {
            backend: backend.to_owned(),
            platform,
            objects: objects.to_vec(),
        };
        match self.write(op).await? {
            Outcome::Mapped(ids) => Ok(ids),
            _ => Err(wrong_outcome()),
        }
    }

    /// Hands a write to the batcher and waits for its outcome.
    async fn write(&self, op: WriteOp) -> Result<Outcome, StoreError> {
        let (reply, answer) = tokio::sync::oneshot::channel();
        self.writes
            .send(WriteJob { op, reply })
            .map_err(|_| StoreError::Stopped)?;
        answer.await.map_err(|_| StoreError::Stopped)?
    }

    pub async fn idempotency_release(&self, client: &str, key: &str) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM idempotency WHERE client = ? AND key = ? AND state = 'in_flight'")
            .bind(client)
            .bind(key)
            .execute(&self.writer)
            .await?;
        Ok(())
    }

    pub async fn signing_key(&self) -> Result<[u8; 32], StoreError> {
        let mut tx = self.writer.begin().await?;
        let existing: Option<Vec<u8>> =
            sqlx::query_scalar("SELECT value FROM settings WHERE key = 'signing_key'")
                .fetch_optional(&mut *tx)
                .await?;
        let key = match existing {
            Some(v) => <[u8; 32]>::try_from(v.as_slice()).map_err(|e| corrupt("signing_key", e))?,
            None => {
                let mut key = [0u8; 32];
                key[..16].copy_from_slice(uuid::Uuid::new_v4().as_bytes());
                key[16..].copy_from_slice(uuid::Uuid::new_v4().as_bytes());
                sqlx::query("INSERT INTO settings (key, value) VALUES ('signing_key', ?)")
                    .bind(&key[..])
                    .execute(&mut *tx)
                    .await?;
                key
            }
        };
        tx.commit().await?;
        Ok(key)
    }
}

async fn next_sequence(conn: &mut SqliteConnection, name: &str) -> Result<i64, StoreError> {
    let n: i64 = sqlx::query_scalar(
        "INSERT INTO sequences (name, last) VALUES (?, 1) ON CONFLICT (name) DO UPDATE SET last = last + 1 RETURNING last",
    )
    .bind(name)
    .fetch_one(&mut *conn)
    .await?;
    Ok(n)
}

/// A create assigns every object id itself: ids in a create request are the client's, not the shop's.
fn clear_object_ids(order: &mut Order) {
    order.customer.ids = PlatformIds::default();
    for l in &mut order.line_items {
        l.ids = PlatformIds::default();
    }
    for a in order
        .billing_address
        .iter_mut()
        .chain(order.shipping_destinations.iter_mut())
    {
        a.ids = PlatformIds::default();
    }
    for s in &mut order.shipping_lines {
        s.ids = PlatformIds::default();
    }
}

/// Gives every object of each order that has no ids a new id in every scheme, and links each customer by email
/// (creating the customers not seen before). However many orders, this is two statements for the objects and at
/// most one per client plus three for customers: each statement is a round trip to SQLite's worker thread.
async fn assign_object_ids(
    conn: &mut SqliteConnection,
    orders: &mut [(&str, &mut Order)],
) -> Result<(), StoreError> {
    let kinds = [
        ObjectKind::LineItem,
        ObjectKind::Address,
        ObjectKind::ShippingLine,
    ];
    let mut wants: Vec<(&'static str, i64)> = kinds.iter().map(|k| (k.key(), 0)).collect();
    for (_, order) in orders.iter() {
        let mut count = |kind: ObjectKind, n: usize| {
            if let Some(w) = wants.iter_mut().find(|(k, _)| *k == kind.key()) {
                w.1 += i64::try_from(n).unwrap_or(0);
            }
        };
        count(
            ObjectKind::LineItem,
            order.line_items.iter().filter(|l| l.ids.is_empty()).count(),
        );
        count(
            ObjectKind::Address,
            order
                .billing_address
                .iter()
                .chain(order.shipping_destinations.iter())
                .filter(|a| a.ids.is_empty())
                .count(),
        );
        count(
            ObjectKind::ShippingLine,
            order
                .shipping_lines
                .iter()
                .filter(|s| s.ids.is_empty())
                .count(),
        );
    }
    let mut next = allocate(conn, &wants).await?;
    let mut rows: Vec<(ObjectKind, i64, String, String, String)> = Vec::new();
    for (client, order) in orders.iter_mut() {
        let order_gid = order.ids.gateway.clone().unwrap_or_default();
        let mut slots: Vec<(ObjectKind, &mut PlatformIds)> = Vec::new();
        slots.extend(
            order
                .line_items
                .iter_mut()
                .filter(|l| l.ids.is_empty())
                .map(|l| (ObjectKind::LineItem, &mut l.ids)),
        );
        slots.extend(
            order
                .billing_address
                .iter_mut()
                .chain(order.shipping_destinations.iter_mut())
                .filter(|a| a.ids.is_empty())
                .map(|a| (ObjectKind::Address, &mut a.ids)),
        );
        slots.extend(
            order
                .shipping_lines
                .iter_mut()
                .filter(|s| s.ids.is_empty())
                .map(|s| (ObjectKind::ShippingLine, &mut s.ids)),
        );
        for (kind, ids) in slots {
            let n = next.get_mut(kind.key()).map_or(0, |n| {
                let v = *n;
                *n += 1;
                v
            });
            *ids = PlatformIds {
                fluentcart: Some(n.unsigned_abs()),
                commercelayer: Some(random_token(10)),
                bigcommerce: Some(n.unsigned_abs()),
            };
            rows.push((
                kind,
                n,
                ids.commercelayer.clone().unwrap_or_default(),
                (*client).to_owned(),
                order_gid.clone(),
            ));
        }
    }
    for chunk in rows.chunks(4000) {
        let mut q = QueryBuilder::<Sqlite>::new(
            "INSERT INTO id_map (gateway_id, kind, client, order_gateway_id, fluentcart_id, commercelayer_id, bigcommerce_id) ",
        );
        q.push_values(chunk, |mut b, (kind, n, cl, client, order_gid)| {
            b.push_bind(object_gid(*kind, n.unsigned_abs()))
                .push_bind(kind.key())
                .push_bind(client.clone())
                .push_bind(order_gid.clone())
                .push_bind(*n)
                .push_bind(cl.clone())
                .push_bind(*n);
        });
        q.build().execute(&mut *conn).await?;
    }
    link_customers(conn, orders).await
}

/// A customer an order names by email: client, email (lowercase), first and last name.
type WantedCustomer = (String, String, Option<String>, Option<String>);

/// Sets the customer ids of orders whose customer has none, by email: existing customers of the order's client
/// are found in one query per client, the rest are created together (the same new email twice is one customer).
async fn link_customers(
    conn: &mut SqliteConnection,
    orders: &mut [(&str, &mut Order)],
) -> Result<(), StoreError> {
    let mut wanted: Vec<WantedCustomer> = Vec::new();
    for (client, order) in orders.iter() {
        if !order.customer.ids.is_empty() {
            continue;
        }
        if let Some(email) = &order.customer.email {
            let email = email.trim().to_ascii_lowercase();
            if !wanted.iter().any(|(c, e, ..)| c == client && *e == email) {
                wanted.push((
                    (*client).to_owned(),
                    email,
                    order.customer.first_name.clone(),
                    order.customer.last_name.clone(),
                ));
            }
        }
    }
    if wanted.is_empty() {
        return Ok(());
    }
    let mut known: HashMap<(String, String), PlatformIds> = HashMap::new();
    let clients: BTreeSet<&str> = wanted.iter().map(|(c, ..)| c.as_str()).collect();
    for client in clients {
        let emails: Vec<&str> = wanted
            .iter()
            .filter(|(c, ..)| c == client)
            .map(|(_, e, ..)| e.as_str())
            .collect();
        for chunk in emails.chunks(500) {
            let mut q = QueryBuilder::<Sqlite>::new(CUSTOMER_SELECT);
            q.push_bind(client.to_owned()).push(" AND c.email IN (");
            let mut sep = q.separated(", ");
            for e in chunk {
                sep.push_bind((*e).to_owned());
            }
            q.push(")");
            for row in q.build().fetch_all(&mut *conn).await? {
                let record = customer_from_row(&row);
                known.insert((client.to_owned(), record.email), record.ids);
            }
        }
    }
    let new: Vec<&WantedCustomer> = wanted
        .iter()
        .filter(|(c, e, ..)| !known.contains_key(&(c.clone(), e.clone())))
        .collect();
    if !new.is_empty() {
        let count = i64::try_from(new.len()).unwrap_or(i64::MAX);
        let first = allocate(conn, &[(ObjectKind::Customer.key(), count)])
            .await?
            .get(ObjectKind::Customer.key())
            .copied()
            .unwrap_or(0);
        let created: Vec<(i64, String, &WantedCustomer)> = new
            .into_iter()
            .enumerate()
            .map(|(i, w)| (first + i64::try_from(i).unwrap_or(0), random_token(10), w))
            .collect();
        for chunk in created.chunks(2000) {
            let mut q = QueryBuilder::<Sqlite>::new(
                "INSERT INTO id_map (gateway_id, kind, client, order_gateway_id, fluentcart_id, commercelayer_id, bigcommerce_id) ",
            );
            q.push_values(chunk, |mut b, (n, cl, (client, ..))| {
                b.push_bind(object_gid(ObjectKind::Customer, n.unsigned_abs()))
                    .push_bind(ObjectKind::Customer.key())
                    .push_bind(client.clone())
                    .push_bind(None::<String>)
                    .push_bind(*n)
                    .push_bind(cl.clone())
                    .push_bind(*n);
            });
            q.build().execute(&mut *conn).await?;
            let mut q = QueryBuilder::<Sqlite>::new(
                "INSERT INTO customers (gateway_id, client, email, first_name, last_name) ",
            );
            q.push_values(chunk, |mut b, (n, _, (client, email, first, last))| {
                b.push_bind(object_gid(ObjectKind::Customer, n.unsigned_abs()))
                    .push_bind(client.clone())
                    .push_bind(email.clone())
                    .push_bind(first.clone())
                    .push_bind(last.clone());
            });
            q.build().execute(&mut *conn).await?;
        }
        for (n, cl, (client, email, ..)) in created {
            known.insert(
                (client.clone(), email.clone()),
                PlatformIds {
                    fluentcart: Some(n.unsigned_abs()),
                    commercelayer: Some(cl),
                    bigcommerce: Some(n.unsigned_abs()),
                },
            );
        }
    }
    for (client, order) in orders.iter_mut() {
        if !order.customer.ids.is_empty() {
            continue;
        }
        if let Some(email) = &order.customer.email {
            let key = ((*client).to_owned(), email.trim().to_ascii_lowercase());
            if let Some(ids) = known.get(&key) {
                order.customer.ids = ids.clone();
            }
        }
    }
    Ok(())
}

/// Reserves `count` consecutive numbers of each named sequence in one statement; returns the first of each.
pub(super) async fn allocate<'a>(
    conn: &mut SqliteConnection,
    wants: &[(&'a str, i64)],
) -> Result<std::collections::HashMap<&'a str, i64>, StoreError> {
    let wants: Vec<(&'a str, i64)> = wants.iter().copied().filter(|(_, n)| *n > 0).collect();
    let mut first = std::collections::HashMap::new();
    if wants.is_empty() {
        return Ok(first);
    }
    let mut q = QueryBuilder::<Sqlite>::new("INSERT INTO sequences (name, last) ");
    q.push_values(wants.iter(), |mut b, (name, n)| {
        b.push_bind(*name).push_bind(*n);
    });
    q.push(" ON CONFLICT (name) DO UPDATE SET last = last + excluded.last RETURNING name, last");
    for row in q.build().fetch_all(&mut *conn).await? {
        let name: String = row.get(0);
        let last: i64 = row.get(1);
        if let Some((key, n)) = wants.iter().find(|(k, _)| *k == name) {
            first.insert(*key, last - n + 1);
        }
    }
    Ok(first)
}

fn live_object_gids(order: &Order) -> Vec<String> {
    // Objects are mapped by their platform ids; the gateway id of each is derived from its FluentCart id and kind.
    let mut out = Vec::new();
    let mut push = |kind: ObjectKind, ids: &PlatformIds| {
        if let Some(id) = ids.fluentcart {
            out.push(object_gid(kind, id));
        }
    };
    order
        .line_items
        .iter()
        .for_each(|l| push(ObjectKind::LineItem, &l.ids));
    order
        .billing_address
        .iter()
        .chain(order.shipping_destinations.iter())
        .for_each(|a| push(ObjectKind::Address, &a.ids));
    order
        .shipping_lines
        .iter()
        .for_each(|s| push(ObjectKind::ShippingLine, &s.ids));
    out
}

fn object_gid(kind: ObjectKind, n: u64) -> String {
    format!("{}_{n}", kind.key())
}

async fn new_object(
    conn: &mut SqliteConnection,
    client: &str,
    order_gid: &str,
    kind: ObjectKind,
) -> Result<PlatformIds, StoreError> {
    let n = next_sequence(conn, kind.key()).await?;
    let ids = PlatformIds {
        fluentcart: Some(n.unsigned_abs()),
        commercelayer: Some(random_token(10)),
        bigcommerce: Some(n.unsigned_abs()),
    };
    sqlx::query(
        "INSERT INTO id_map (gateway_id, kind, client, order_gateway_id, fluentcart_id, commercelayer_id, bigcommerce_id) VALUES (?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(object_gid(kind, n.unsigned_abs()))
    .bind(kind.key())
    .bind(client)
    .bind((kind != ObjectKind::Customer).then_some(order_gid))
    .bind(n)
    .bind(&ids.commercelayer)
    .bind(n)
    .execute(&mut *conn)
    .await?;
    Ok(ids)
}

async fn ensure_customer(
    conn: &mut SqliteConnection,
    client: &str,
    seed: &SeedCustomer,
) -> Result<CustomerRecord, StoreError> {
    let email = seed.email.trim().to_ascii_lowercase();
    let address = match &seed.address {
        Some(a) => Some(serde_json::to_string(a).map_err(|e| corrupt("customer address", e))?),
        None => None,
    };
    if let Some(mut found) = customer_by_email(conn, client, &email).await? {
        if seed.address.is_some() && found.address != seed.address {
            // The catalog's address for a seeded customer wins over what an older catalog said.
            sqlx::query("UPDATE customers SET address = ? WHERE gateway_id = ?")
                .bind(&address)
                .bind(&found.gateway_id)
                .execute(&mut *conn)
                .await?;
            found.address.clone_from(&seed.address);
        }
        return Ok(found);
    }
    let ids = new_object(conn, client, "", ObjectKind::Customer).await?;
    let gid = object_gid(ObjectKind::Customer, ids.fluentcart.unwrap_or_default());
    sqlx::query(
        "INSERT INTO customers (gateway_id, client, email, first_name, last_name, address) VALUES (?, ?, ?, ?, ?, ?)",
    )
    .bind(&gid)
    .bind(client)
    .bind(&email)
    .bind(&seed.first_name)
    .bind(&seed.last_name)
    .bind(&address)
    .execute(&mut *conn)
    .await?;
    Ok(CustomerRecord {
        gateway_id: gid,
        email,
        first_name: seed.first_name.clone(),
        last_name: seed.last_name.clone(),
        ids,
        address: seed.address.clone(),
    })
}

const CUSTOMER_SELECT: &str = "SELECT c.gateway_id, c.email, c.first_name, c.last_name, m.fluentcart_id, m.commercelayer_id, m.bigcommerce_id, c.address FROM customers c JOIN id_map m ON m.gateway_id = c.gateway_id WHERE c.client = ";

fn customer_from_row(row: &SqliteRow) -> CustomerRecord {
    let fc: i64 = row.get(4);
    let bc: i64 = row.get(6);
    CustomerRecord {
        gateway_id: row.get(0),
        email: row.get(1),
        first_name: row.get(2),
        last_name: row.get(3),
        ids: PlatformIds {
            fluentcart: Some(fc.unsigned_abs()),
            commercelayer: Some(row.get(5)),
            bigcommerce: Some(bc.unsigned_abs()),
        },
        // A stored address that no longer parses is dropped rather than failing every order of the customer.
        address: row
            .get::<Option<String>, _>(7)
            .and_then(|text| serde_json::from_str(&text).ok()),
    }
}

async fn customer_by_email(
    conn: &mut SqliteConnection,
    client: &str,
    email: &str,
) -> Result<Option<CustomerRecord>, StoreError> {
    let mut q = QueryBuilder::<Sqlite>::new(CUSTOMER_SELECT);
    q.push_bind(client.to_owned())
        .push(" AND c.email = ")
        .push_bind(email.to_owned());
    Ok(q.build()
        .fetch_optional(&mut *conn)
        .await?
        .as_ref()
        .map(customer_from_row))
}

async fn customer_by_id(
    conn: &mut SqliteConnection,
    client: &str,
    id: &ObjectId,
) -> Result<Option<CustomerRecord>, StoreError> {
    let mut q = QueryBuilder::<Sqlite>::new(CUSTOMER_SELECT);
    q.push_bind(client.to_owned());
    push_object_id(&mut q, "m", id);
    Ok(q.build()
        .fetch_optional(&mut *conn)
        .await?
        .as_ref()
        .map(customer_from_row))
}

fn push_object_id(q: &mut QueryBuilder<'_, Sqlite>, table: &str, id: &ObjectId) {
    match id {
        ObjectId::Gateway(g) => q
            .push(format_args!(" AND {table}.gateway_id = "))
            .push_bind(g.clone()),
        ObjectId::FluentCart(n) => q
            .push(format_args!(" AND {table}.fluentcart_id = "))
            .push_bind(to_i64(*n)),
        ObjectId::CommerceLayer(s) => q
            .push(format_args!(" AND {table}.commercelayer_id = "))
            .push_bind(s.clone()),
        ObjectId::BigCommerce(n) => q
            .push(format_args!(" AND {table}.bigcommerce_id = "))
            .push_bind(to_i64(*n)),
    };
}

async fn object_owner(
    conn: &mut SqliteConnection,
    client: &str,
    kind: ObjectKind,
    id: &ObjectId,
) -> Result<Option<String>, StoreError> {
    let mut q =
        QueryBuilder::<Sqlite>::new("SELECT m.order_gateway_id FROM id_map m WHERE m.client = ");
    q.push_bind(client.to_owned())
        .push(" AND m.kind = ")
        .push_bind(kind.key());
    push_object_id(&mut q, "m", id);
    Ok(q.build()
        .fetch_optional(&mut *conn)
        .await?
        .and_then(|r| r.get::<Option<String>, _>(0)))
}

fn order_from_row(row: &SqliteRow) -> Result<Order, StoreError> {
    let body: String = row.get(0);
    serde_json::from_str(&body).map_err(|e| corrupt("order", e))
}

async fn read_order(
    conn: &mut SqliteConnection,
    client: &str,
    id: &ObjectId,
) -> Result<Option<(Order, i64)>, StoreError> {
    let mut q =
        QueryBuilder::<Sqlite>::new("SELECT o.body, o.version FROM orders o WHERE o.client = ");
    q.push_bind(client.to_owned());
    push_object_id(&mut q, "o", id);
    let Some(row) = q.build().fetch_optional(&mut *conn).await? else {
        return Ok(None);
    };
    Ok(Some((order_from_row(&row)?, row.get(1))))
}

/// The columns of an orders row, shared by the one-row UPDATE and the multi-row INSERT.
const ORDER_INSERT: &str = "INSERT INTO orders (client, fluentcart_id, commercelayer_id, bigcommerce_id, number, reference, email, customer_gateway_id, status, payment_status, fulfillment_status, currency, total_minor, created_at, updated_at, version, search_text, body, gateway_id) ";

/// One order's row values, in `ORDER_INSERT`'s column order.
struct OrderRow {
    client: String,
    fluentcart_id: Option<i64>,
    commercelayer_id: Option<String>,
    bigcommerce_id: Option<i64>,
    number: String,
    reference: Option<String>,
    email: Option<String>,
    customer_gateway_id: Option<String>,
    status: &'static str,
    payment_status: &'static str,
    fulfillment_status: &'static str,
    currency: String,
    total_minor: i64,
    created_at: String,
    updated_at: String,
    version: i64,
    search_text: String,
    body: String,
    gateway_id: String,
}

impl OrderRow {
    fn new(client: &str, order: &Order, version: i64) -> Result<Self, StoreError> {
        let ids = &order.ids.platform;
        let search_text = [
            order.ids.number.as_deref(),
            order.customer.email.as_deref(),
            order.customer.first_name.as_deref(),
            order.customer.last_name.as_deref(),
            order.external_ref.reference.as_deref(),
        ]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase();
        Ok(OrderRow {
            client: client.to_owned(),
            fluentcart_id: ids.fluentcart.map(to_i64),
            commercelayer_id: ids.commercelayer.clone(),
            bigcommerce_id: ids.bigcommerce.map(to_i64),
            number: order.ids.number.clone().unwrap_or_default(),
            reference: order.external_ref.reference.clone(),
            email: order
                .customer
                .email
                .as_ref()
                .map(|e| e.to_ascii_lowercase()),
            customer_gateway_id: order
                .customer
                .ids
                .fluentcart
                .map(|n| object_gid(ObjectKind::Customer, n)),
            status: order.status.key(),
            payment_status: order.payment_status.key(),
            fulfillment_status: order.fulfillment_status.key(),
            currency: order.currency.as_str().to_owned(),
            total_minor: order.totals.total.minor,
            created_at: order
                .timestamps
                .created_at
                .map(timestamp_text)
                .unwrap_or_default(),
            updated_at: order
                .timestamps
                .updated_at
                .map(timestamp_text)
                .unwrap_or_default(),
            version,
            search_text,
            body: serde_json::to_string(order).map_err(|e| corrupt("order", e))?,
            gateway_id: order.ids.gateway.clone().unwrap_or_default(),
        })
    }

    fn bind(self, b: &mut sqlx::query_builder::Separated<'_, '_, Sqlite, &'static str>) {
        b.push_bind(self.client)
            .push_bind(self.fluentcart_id)
            .push_bind(self.commercelayer_id)
            .push_bind(self.bigcommerce_id)
            .push_bind(self.number)
            .push_bind(self.reference)
            .push_bind(self.email)
            .push_bind(self.customer_gateway_id)
            .push_bind(self.status)
            .push_bind(self.payment_status)
            .push_bind(self.fulfillment_status)
            .push_bind(self.currency)
            .push_bind(self.total_minor)
            .push_bind(self.created_at)
            .push_bind(self.updated_at)
            .push_bind(self.version)
            .push_bind(self.search_text)
            .push_bind(self.body)
            .push_bind(self.gateway_id);
    }
}

/// Rewrites a stored order's row.
async fn update_order_row(
    conn: &mut SqliteConnection,
    client: &str,
    order: &Order,
    version: i64,
) -> Result<(), StoreError> {
    let row = OrderRow::new(client, order, version)?;
    sqlx::query(
        "UPDATE orders SET client = ?, fluentcart_id = ?, commercelayer_id = ?, bigcommerce_id = ?, number = ?, reference = ?, email = ?, customer_gateway_id = ?, status = ?, payment_status = ?, fulfillment_status = ?, currency = ?, total_minor = ?, created_at = ?, updated_at = ?, version = ?, search_text = ?, body = ? WHERE gateway_id = ?",
    )
    .bind(row.client)
    .bind(row.fluentcart_id)
    .bind(row.commercelayer_id)
    .bind(row.bigcommerce_id)
    .bind(row.number)
    .bind(row.reference)
    .bind(row.email)
    .bind(row.customer_gateway_id)
    .bind(row.status)
    .bind(row.payment_status)
    .bind(row.fulfillment_status)
    .bind(row.currency)
    .bind(row.total_minor)
    .bind(row.created_at)
    .bind(row.updated_at)
    .bind(row.version)
    .bind(row.search_text)
    .bind(row.body)
    .bind(row.gateway_id)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

fn push_filter(q: &mut QueryBuilder<'_, Sqlite>, f: &OrderFilter) {
    if let Some(triples) = &f.statuses {
        if triples.is_empty() {
            q.push(" AND 0");
        } else {
            q.push(" AND (status, payment_status, fulfillment_status) IN (VALUES ");
            let mut sep = q.separated(", ");
            for t in triples {
                sep.push(format_args!(
                    "('{}', '{}', '{}')",
                    t.order.key(),
                    t.payment.key(),
                    t.fulfillment.key()
                ));
            }
            q.push(")");
        }
    }
    if let Some(email) = &f.email {
        q.push(" AND email = ")
            .push_bind(email.to_ascii_lowercase());
    }
    if let Some(number) = &f.number {
        q.push(" AND number = ").push_bind(number.clone());
    }
    if let Some(reference) = &f.reference {
        q.push(" AND reference = ").push_bind(reference.clone());
    }
    if let Some(currency) = &f.currency {
        q.push(" AND currency = ").push_bind(currency.clone());
    }
    if let Some((platform, range)) = &f.id_range {
        let column = match platform {
            Platform::FluentCart => "fluentcart_id",
            Platform::BigCommerce => "bigcommerce_id",
            // Commerce Layer ids are not ordered; callers never build such a range.
            Platform::CommerceLayer => "fluentcart_id",
        };
        if let Some(min) = range.min {
            q.push(format_args!(" AND {column} >= "))
                .push_bind(to_i64(min));
        }
        if let Some(max) = range.max {
            q.push(format_args!(" AND {column} <= "))
                .push_bind(to_i64(max));
        }
    }
    if let Some(min) = f.total.min {
        q.push(" AND total_minor >= ").push_bind(min);
    }
    if let Some(max) = f.total.max {
        q.push(" AND total_minor <= ").push_bind(max);
    }
    for (column, range) in [("created_at", &f.created), ("updated_at", &f.updated)] {
        if let Some(min) = range.min {
            q.push(format_args!(" AND {column} >= "))
                .push_bind(timestamp_text(min));
        }
        if let Some(max) = range.max {
            q.push(format_args!(" AND {column} <= "))
                .push_bind(timestamp_text(max));
        }
    }
    if let Some((platform, id)) = &f.customer {
        let column = match platform {
            Platform::FluentCart => "fluentcart_id",
            Platform::CommerceLayer => "commercelayer_id",
            Platform::BigCommerce => "bigcommerce_id",
        };
        q.push(format_args!(
            " AND customer_gateway_id IN (SELECT gateway_id FROM id_map WHERE kind = 'customer' AND {column} = "
        ));
        match platform {
            Platform::CommerceLayer => q.push_bind(id.clone()),
            _ => q.push_bind(id.parse::<i64>().unwrap_or(-1)),
        };
        q.push(")");
    }
    if let Some(search) = &f.search {
        let escaped = search
            .to_lowercase()
            .replace('\\', "\\\\")
            .replace('%', "\\%")
            .replace('_', "\\_");
        q.push(" AND search_text LIKE ")
            .push_bind(format!("%{escaped}%"))
            .push(" ESCAPE '\\'");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::canonical::{Currency, OrderStatus};

    fn now() -> Timestamp {
        chrono::DateTime::from_timestamp(1_700_000_000, 0).unwrap()
    }

    fn temp_dir(name: &str) -> std::path::PathBuf {
        let dir =
            std::env::temp_dir().join(format!("ordermux-store-{name}-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[tokio::test]
    async fn orders_survive_reopening_and_are_found_under_every_id_scheme() {
        let dir = temp_dir("reopen");
        let store = SqliteStore::open(&dir, Durability::Full).await.unwrap();
        let mut order = Order::empty(Currency::parse("EUR").unwrap());
        order.customer.email = Some("Ada@Example.com".into());
        let created = store.create_order("demo", order, now()).await.unwrap();
        let ids = created.ids.platform.clone();
        drop(store);
        let store = SqliteStore::open(&dir, Durability::Full).await.unwrap();
        for id in [
            ObjectId::FluentCart(ids.fluentcart.unwrap()),
            ObjectId::CommerceLayer(ids.commercelayer.clone().unwrap()),
            ObjectId::BigCommerce(ids.bigcommerce.unwrap()),
        ] {
            let found = store.order("demo", &id).await.unwrap().unwrap();
            assert_eq!(found.ids, created.ids);
            assert!(found.customer.ids.fluentcart.is_some());
        }
        assert!(store
            .order(
                "someone-else",
                &ObjectId::FluentCart(ids.fluentcart.unwrap())
            )
            .await
            .unwrap()
            .is_none());
        std::fs::remove_dir_all(dir).ok();
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_creates_are_batched_and_each_gets_its_own_ids() {
        let dir = temp_dir("batch");
        let store = SqliteStore::open(&dir, Durability::Full).await.unwrap();
        let usd = Currency::parse("USD").unwrap();
        let tasks: Vec<_> = (0..50)
            .map(|_| {
                let store = store.clone();
                tokio::spawn(
                    async move { store.create_order("demo", Order::empty(usd), now()).await },
                )
            })
            .collect();
        let mut ids = Vec::new();
        for t in tasks {
            ids.push(t.await.unwrap().unwrap().ids.platform.fluentcart.unwrap());
        }
        ids.sort_unstable();
        assert_eq!(ids, (1..=50).collect::<Vec<u64>>());
        std::fs::remove_dir_all(dir).ok();
    }

    #[tokio::test]
    async fn upstream_objects_are_mapped_once_even_when_named_twice() {
        let dir = temp_dir("map");
        let store = SqliteStore::open(&dir, Durability::Full).await.unwrap();
        let object = |kind, id: &str| super::super::upstream::UpstreamObject {
            kind,
            upstream_id: id.to_owned(),
            order_upstream_id: (kind != "order").then(|| "555".to_owned()),
        };
        let objects = vec![
            object("order", "555"),
            object("line_item", "9"),
            object("order", "555"),
        ];
        let first = store
            .upstream_map("bc", Platform::BigCommerce, &objects)
            .await
            .unwrap();
        assert_eq!(first.len(), 3);
        assert_eq!(first[0], first[2], "one upstream object, one set of ids");
        assert_eq!(
            first[0].bigcommerce,
            Some(555),
            "its own platform's id stays"
        );
        assert_eq!(first[1].bigcommerce, Some(9));
        assert_ne!(first[0].commercelayer, first[1].commercelayer);
        // Mapped already: the same ids come back, nothing new is allocated.
        let again = store
            .upstream_map("bc", Platform::BigCommerce, &objects[..2])
            .await
            .unwrap();
        assert_eq!(again, first[..2]);
        std::fs::remove_dir_all(dir).ok();
    }

    #[tokio::test]
    async fn a_refused_modification_writes_nothing() {
        let dir = temp_dir("modify");
        let store = SqliteStore::open(&dir, Durability::Full).await.unwrap();
        let created = store
            .create_order("demo", Order::empty(Currency::parse("USD").unwrap()), now())
            .await
            .unwrap();
        let id = ObjectId::FluentCart(created.ids.platform.fluentcart.unwrap());
        let err = store
            .modify_order("demo", &id, now(), |o| {
                o.status = OrderStatus::Cancelled;
                Err(Problem::new(
                    crate::canonical::ProblemKind::InvalidTransition,
                    "",
                    "no",
                ))
            })
            .await
            .unwrap_err();
        assert!(matches!(err, ModifyError::Rejected(_)));
        let again = store.order("demo", &id).await.unwrap().unwrap();
        assert_eq!(again.status, OrderStatus::Pending);
        std::fs::remove_dir_all(dir).ok();
    }

    #[tokio::test]
    async fn idempotency_claims_replays_and_detects_mismatch() {
        let dir = temp_dir("idem");
        let store = SqliteStore::open(&dir, Durability::Full).await.unwrap();
        let day = Duration::from_secs(86_400);
        let fp = [7u8; 32];
        let claim = |fp: [u8; 32]| {
            let store = store.clone();
            async move {
                store
                    .idempotency_begin("demo", "k1", &fp, now(), day)
                    .await
                    .unwrap()
            }
        };
        assert_eq!(claim(fp).await, IdempotencyClaim::Claimed);
        assert_eq!(claim(fp).await, IdempotencyClaim::InFlight);
        assert_eq!(claim([8u8; 32]).await, IdempotencyClaim::Mismatch);
        let response = StoredResponse {
            status: 201,
            headers: vec![("content-type".into(), "application/json".into())],
            body: b"{}".to_vec(),
        };
        store
            .idempotency_complete("demo", "k1", &response)
            .await
            .unwrap();
        assert_eq!(claim(fp).await, IdempotencyClaim::Replay(response));
        // Past the retention, the key starts over, even with another request.
        let later = now() + chrono::Duration::seconds(86_401);
        assert_eq!(
            store
                .idempotency_begin("demo", "k1", &[9u8; 32], later, day)
                .await
                .unwrap(),
            IdempotencyClaim::Claimed
        );
        // Another client's key of the same name is its own.
        assert_eq!(
            store
                .idempotency_begin("other", "k1", &fp, now(), day)
                .await
                .unwrap(),
            IdempotencyClaim::Claimed
        );
        std::fs::remove_dir_all(dir).ok();
    }
}
