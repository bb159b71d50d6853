//! Orders per second for every dialect pair on a realistic 3-line order, against the floor: parsing the same
//! bytes into a `serde_json::Value` and serializing it again. Run `cargo bench --bench translate`, then
//! `python3 bench/translate_report.py` for the table (pair, orders/s, ratio to floor).

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use ordermux::canonical::{Currency, Platform};
use ordermux::dialects::{self, DecodeOptions, DocumentKind};

// The allocator the gateway ships with (src/main.rs), for the floor and the translations alike: both are mostly
// allocation, and glibc's malloc, which a bench binary would otherwise get, is not what serves them in production.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// The source order: a 3-line registered-customer Commerce Layer create, rendered in each dialect's request form.
fn sources() -> Vec<(Platform, Vec<u8>)> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/fixtures/commercelayer/order/ok/0004_usd_placed_authorized_unfulfilled.json"
    );
    let bytes = std::fs::read(path).expect("bench fixture present");
    let order = dialects::decode(Platform::CommerceLayer, &bytes, &options())
        .expect("fixture decodes")
        .order;
    Platform::ALL
        .into_iter()
        .map(|p| {
            let doc = dialects::encode(p, DocumentKind::Order, &order).value;
            (p, serde_json::to_vec(&doc).unwrap())
        })
        .collect()
}

fn options() -> DecodeOptions {
    DecodeOptions {
        default_currency: Some(Currency::parse("USD").unwrap()),
    }
}

fn translate(c: &mut Criterion) {
    let sources = sources();
    let opts = options();
    let mut group = c.benchmark_group("translate");
    group.throughput(Throughput::Elements(1));
    group
        .sample_size(40)
        .warm_up_time(Duration::from_millis(800))
        .measurement_time(Duration::from_secs(2));
    for (from, bytes) in &sources {
        group.bench_function(format!("floor/{from}"), |b| {
            b.iter(|| {
                let v: serde_json::Value = serde_json::from_slice(black_box(bytes)).unwrap();
                black_box(serde_json::to_vec(&v).unwrap())
            })
        });
        for to in Platform::ALL {
            group.bench_function(format!("{from}->{to}"), |b| {
                b.iter(|| {
                    let decoded = dialects::decode(*from, black_box(bytes), &opts).unwrap();
                    let out = dialects::encode(to, DocumentKind::Order, &decoded.order);
                    black_box(serde_json::to_vec(&out.value).unwrap())
                })
            });
        }
    }
    group.finish();
}

criterion_group!(benches, translate);
criterion_main!(benches);
