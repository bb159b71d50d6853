//! Typed loader for the vocabulary tables in the top-level `dialects/` folder.
//!
//! The shipped files are compiled in and parsed once; `Tables::from_dir` loads the same files from a directory
//! (integrators' overrides) through the same parser and completeness check, so a bad table stops start-up
//! instead of failing a request.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::OnceLock;

use serde::Deserialize;

use crate::canonical::{FulfillmentStatus, OrderStatus, PaymentStatus, ProblemKind};

/// One status axis: native → canonical (`ingest`) and canonical → native (`render`).
#[derive(Debug, Clone)]
pub struct Axis<C> {
    pub ingest: BTreeMap<String, C>,
    pub render: BTreeMap<C, String>,
}

impl<C: Copy + Ord> Axis<C> {
    pub fn ingest(&self, native: &str) -> Option<C> {
        self.ingest.get(native).copied()
    }
    /// Tables are checked complete at load, so every canonical value renders.
    pub fn render(&self, canonical: C) -> &str {
        self.render
            .get(&canonical)
            .map(String::as_str)
            .unwrap_or_default()
    }
}

/// Three separate axes (FluentCart, Commerce Layer).
#[derive(Debug, Clone)]
pub struct ThreeAxes {
    pub order: Axis<OrderStatus>,
    pub payment: Axis<PaymentStatus>,
    pub fulfillment: Axis<FulfillmentStatus>,
}

/// What one BigCommerce `status_id` fixes.
#[derive(Debug, Clone)]
pub struct StatusIdEntry {
    pub name: String,
    /// `system_description` in `GET /order_statuses`.
    pub description: String,
    pub order: Option<OrderStatus>,
    pub payment: Option<PaymentStatus>,
    pub fulfillment: Option<FulfillmentStatus>,
}

#[derive(Debug, Clone)]
pub struct BigCommerceStatuses {
    pub status_ids: BTreeMap<u8, StatusIdEntry>,
    pub payment: Axis<PaymentStatus>,
}

/// How a problem renders in one dialect.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ErrorRender {
    pub status: u16,
    pub code: Option<String>,
    pub title: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CurrencyFormat {
    pub symbol: String,
    pub position: SymbolPosition,
    #[serde(default)]
    pub space: bool,
    pub thousands: String,
    pub decimal: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SymbolPosition {
    Before,
    After,
}

#[derive(Debug, Clone)]
pub struct Tables {
    pub fluentcart_statuses: ThreeAxes,
    pub commercelayer_statuses: ThreeAxes,
    pub bigcommerce_statuses: BigCommerceStatuses,
    pub fluentcart_errors: BTreeMap<ProblemKind, ErrorRender>,
    pub commercelayer_errors: BTreeMap<ProblemKind, ErrorRender>,
    pub bigcommerce_errors: BTreeMap<ProblemKind, ErrorRender>,
    pub commercelayer_formats: BTreeMap<String, CurrencyFormat>,
    pub commercelayer_exponent_overrides: BTreeMap<String, u32>,
    pub bigcommerce_countries: BTreeMap<String, String>,
}

/// A table that does not parse or is incomplete.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}: {problem}")]
pub struct TableError {
    pub file: String,
    pub problem: String,
}

/// The file names under `dialects/`, with their compiled-in defaults.
const SHIPPED: &[(&str, &str)] = &[
    (
        "fluentcart/statuses.toml",
        include_str!("../../dialects/fluentcart/statuses.toml"),
    ),
    (
        "fluentcart/errors.toml",
        include_str!("../../dialects/fluentcart/errors.toml"),
    ),
    (
        "commercelayer/statuses.toml",
        include_str!("../../dialects/commercelayer/statuses.toml"),
    ),
    (
        "commercelayer/errors.toml",
        include_str!("../../dialects/commercelayer/errors.toml"),
    ),
    (
        "commercelayer/formats.toml",
        include_str!("../../dialects/commercelayer/formats.toml"),
    ),
    (
        "bigcommerce/statuses.toml",
        include_str!("../../dialects/bigcommerce/statuses.toml"),
    ),
    (
        "bigcommerce/errors.toml",
        include_str!("../../dialects/bigcommerce/errors.toml"),
    ),
    (
        "bigcommerce/countries.toml",
        include_str!("../../dialects/bigcommerce/countries.toml"),
    ),
];

static TABLES: OnceLock<Tables> = OnceLock::new();

/// The compiled-in text of one table file (empty for a name that is not shipped, which the loader reports).
fn shipped_text(name: &str) -> &'static str {
    SHIPPED
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, t)| *t)
        .unwrap_or_default()
}

/// The tables in force: overrides installed at start-up, else the shipped defaults.
pub fn get() -> &'static Tables {
    TABLES.get_or_init(|| {
        Tables::shipped().expect("shipped dialect tables are checked by tables_are_complete")
    })
}

/// Installs tables loaded at start-up. Returns false (and changes nothing) if tables were already in use.
pub fn install(tables: Tables) -> bool {
    TABLES.set(tables).is_ok()
}

impl Tables {
    pub fn shipped() -> Result<Tables, Vec<TableError>> {
        Tables::parse(|name| Ok(shipped_text(name).to_owned()))
    }

    /// Loads the tables from `dir` (same layout as the shipped `dialects/`); a file missing there uses the default.
    pub fn from_dir(dir: &Path) -> Result<Tables, Vec<TableError>> {
        Tables::parse(|name| {
            let path = dir.join(name);
            if path.exists() {
                std::fs::read_to_string(&path).map_err(|e| e.to_string())
            } else {
                Ok(shipped_text(name).to_owned())
            }
        })
    }

    fn parse(read: impl Fn(&str) -> Result<String, String>) -> Result<Tables, Vec<TableError>> {
        let mut errors = Vec::new();
        let mut load = |name: &str| -> Option<toml::Table> {
            match read(name).and_then(|text| text.parse::<toml::Table>().map_err(|e| e.to_string()))
            {
                Ok(t) => Some(t),
                Err(problem) => {
                    errors.push(TableError {
                        file: name.to_owned(),
                        problem,
                    });
                    None
                }
            }
        };
        let fc = load("fluentcart/statuses.toml");
        let cl = load("commercelayer/statuses.toml");
        let bc = load("bigcommerce/statuses.toml");
        let fce = load("fluentcart/errors.toml");
        let cle = load("commercelayer/errors.toml");
        let bce = load("bigcommerce/errors.toml");
        let clf = load("commercelayer/formats.toml");
        let bcc = load("bigcommerce/countries.toml");
        let mut check = Checker { errors };
        let tables = (|| {
            Some(Tables {
                fluentcart_statuses: check.three_axes("fluentcart/statuses.toml", fc?),
                commercelayer_statuses: check.three_axes("commercelayer/statuses.toml", cl?),
                bigcommerce_statuses: check.bigcommerce("bigcommerce/statuses.toml", bc?),
                fluentcart_errors: check.errors("fluentcart/errors.toml", fce?),
                commercelayer_errors: check.errors("commercelayer/errors.toml", cle?),
                bigcommerce_errors: check.errors("bigcommerce/errors.toml", bce?),
                commercelayer_formats: check.typed(
                    "commercelayer/formats.toml",
                    "currencies",
                    clf.clone()?,
                ),
                commercelayer_exponent_overrides: check.typed(
                    "commercelayer/formats.toml",
                    "currency_exponent_overrides",
                    clf?,
                ),
                bigcommerce_countries: check.typed("bigcommerce/countries.toml", "names", bcc?),
            })
        })();
        match tables {
            Some(t) if check.errors.is_empty() => Ok(t),
            _ => Err(check.errors),
        }
    }
}

struct Checker {
    errors: Vec<TableError>,
}

impl Checker {
    fn fail(&mut self, file: &str, problem: String) {
        self.errors.push(TableError {
            file: file.to_owned(),
            problem,
        });
    }

    fn typed<T: serde::de::DeserializeOwned + Default>(
        &mut self,
        file: &str,
        section: &str,
        mut table: toml::Table,
    ) -> T {
        let Some(value) = table.remove(section) else {
            self.fail(file, format!("missing [{section}]"));
            return T::default();
        };
        value.try_into().unwrap_or_else(|e| {
            self.fail(file, format!("[{section}]: {e}"));
            T::default()
        })
    }

    fn axis<C: Copy + Ord + std::fmt::Display>(
        &mut self,
        file: &str,
        name: &str,
        table: &toml::Table,
        all: &[C],
        from_key: fn(&str) -> Option<C>,
    ) -> Axis<C> {
        let mut axis = Axis {
            ingest: BTreeMap::new(),
            render: BTreeMap::new(),
        };
        let section = |part: &str| {
            table
                .get(name)
                .and_then(|t| t.get(part))
                .and_then(|t| t.as_table())
        };
        match section("ingest") {
            Some(ingest) => {
                for (native, canonical) in ingest {
                    match canonical.as_str().and_then(from_key) {
                        Some(c) => {
                            axis.ingest.insert(native.clone(), c);
                        }
                        None => self.fail(file, format!("[{name}.ingest] {native:?}: {canonical:?} is not a canonical {name} status")),
                    }
                }
            }
            None => self.fail(file, format!("missing [{name}.ingest]")),
        }
        match section("render") {
            Some(render) => {
                for (canonical, native) in render {
                    let c = from_key(canonical);
                    match (c, native.as_str()) {
                        (Some(c), Some(n)) if axis.ingest.contains_key(n) => {
                            axis.render.insert(c, n.to_owned());
                        }
                        (Some(_), Some(n)) => self.fail(file, format!("[{name}.render] {canonical}: {n:?} is not in [{name}.ingest]")),
                        _ => self.fail(file, format!("[{name}.render] {canonical}: not a canonical {name} status or not a string")),
                    }
                }
                for c in all {
                    if !axis.render.contains_key(c) {
                        self.fail(
                            file,
                            format!("[{name}.render] has no entry for canonical {c}"),
                        );
                    }
                }
            }
            None => self.fail(file, format!("missing [{name}.render]")),
        }
        axis
    }

    fn three_axes(&mut self, file: &str, table: toml::Table) -> ThreeAxes {
        ThreeAxes {
            order: self.axis(
                file,
                "order",
                &table,
                OrderStatus::ALL,
                OrderStatus::from_key,
            ),
            payment: self.axis(
                file,
                "payment",
                &table,
                PaymentStatus::ALL,
                PaymentStatus::from_key,
            ),
            fulfillment: self.axis(
                file,
                "fulfillment",
                &table,
                FulfillmentStatus::ALL,
                FulfillmentStatus::from_key,
            ),
        }
    }

    fn bigcommerce(&mut self, file: &str, table: toml::Table) -> BigCommerceStatuses {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct RawEntry {
            name: String,
            #[serde(default)]
            description: String,
            order: Option<String>,
            payment: Option<String>,
            fulfillment: Option<String>,
        }
        let raw: BTreeMap<String, RawEntry> = self.typed(file, "status_ids", table.clone());
        let mut status_ids = BTreeMap::new();
        for (id, e) in raw {
            let Ok(id) = id.parse::<u8>() else {
                self.fail(file, format!("[status_ids.{id}] is not a number"));
                continue;
            };
            let mut parse = |field: Option<String>, what: &str, f: &dyn Fn(&str) -> bool| {
                if let Some(v) = &field {
                    if !f(v) {
                        self.fail(
                            file,
                            format!("[status_ids.{id}] {what} = {v:?} is not canonical"),
                        );
                    }
                }
                field
            };
            let order = parse(e.order, "order", &|v| OrderStatus::from_key(v).is_some());
            let payment = parse(e.payment, "payment", &|v| {
                PaymentStatus::from_key(v).is_some()
            });
            let fulfillment = parse(e.fulfillment, "fulfillment", &|v| {
                FulfillmentStatus::from_key(v).is_some()
            });
            status_ids.insert(
                id,
                StatusIdEntry {
                    name: e.name,
                    description: e.description,
                    order: order.as_deref().and_then(OrderStatus::from_key),
                    payment: payment.as_deref().and_then(PaymentStatus::from_key),
                    fulfillment: fulfillment.as_deref().and_then(FulfillmentStatus::from_key),
                },
            );
        }
        for id in 0..=14u8 {
            if !status_ids.contains_key(&id) {
                self.fail(file, format!("[status_ids.{id}] is missing"));
            }
        }
        BigCommerceStatuses {
            status_ids,
            payment: self.axis(
                file,
                "payment",
                &table,
                PaymentStatus::ALL,
                PaymentStatus::from_key,
            ),
        }
    }

    fn errors(&mut self, file: &str, table: toml::Table) -> BTreeMap<ProblemKind, ErrorRender> {
        let raw: BTreeMap<String, ErrorRender> = self.typed(file, "kinds", table);
        let mut out = BTreeMap::new();
        for kind in ProblemKind::ALL {
            match raw.get(kind.key()) {
                Some(r) if (400..600).contains(&r.status) => {
                    out.insert(*kind, r.clone());
                }
                Some(r) => self.fail(
                    file,
                    format!("[kinds.{kind}] status {} is not an error status", r.status),
                ),
                None => self.fail(file, format!("[kinds.{kind}] is missing")),
            }
        }
        for key in raw.keys() {
            if !ProblemKind::ALL.iter().any(|k| k.key() == key) {
                self.fail(file, format!("[kinds.{key}] is not a problem kind"));
            }
        }
        out
    }
}

/// The status text a dialect renders for a problem kind (fallback when a table is somehow partial).
pub fn error_render(map: &BTreeMap<ProblemKind, ErrorRender>, kind: ProblemKind) -> ErrorRender {
    map.get(&kind).cloned().unwrap_or(ErrorRender {
        status: 422,
        code: Some(kind.key().to_owned()),
        title: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_are_complete() {
        let t = Tables::shipped().unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!(t.bigcommerce_statuses.status_ids.len(), 15);
        assert_eq!(t.commercelayer_exponent_overrides.get("HUF"), Some(&0));
    }

    #[test]
    fn a_gap_is_reported_with_its_file() {
        let errs = Tables::parse(|name| {
            let shipped = shipped_text(name);
            Ok(if name == "fluentcart/statuses.toml" {
                shipped.replace("declined = \"failed\"", "")
            } else {
                shipped.to_owned()
            })
        })
        .unwrap_err();
        assert_eq!(errs.len(), 1);
        assert!(errs[0].problem.contains("declined"), "{errs:?}");
    }
}
