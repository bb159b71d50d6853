//! The three order dialects and the pure entry points that translate between them and the canonical model.
//!
//! Every codec is a pair of pure functions per document kind: `decode_*` (wire JSON → canonical order, with the
//! JSON pointer of whatever is wrong) and `encode_*` (canonical order → wire JSON plus the list of `Loss`es for
//! whatever the target cannot carry). No codec does I/O or imports a sibling codec: cross-dialect translation is
//! always A → canonical → B.

pub mod bigcommerce;
pub mod commercelayer;
pub mod dates;
pub mod fluentcart;
pub mod json;
pub mod tables;
pub mod wire_money;

use std::fmt;

use serde_json::Value;

use std::sync::Arc;

use crate::canonical::money::MAX_TOTAL_MINOR;
use crate::canonical::{
    Currency, Order, PlatformExt, Problem, ProblemKind, Provenance, SourceBody, SourceDocument,
};

/// The wire dialect a document speaks; one per platform.
pub use crate::canonical::Platform as Dialect;

/// Which document of a dialect: what a client sends to create an order, or the order a shop returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DocumentKind {
    /// FluentCart `POST /orders` body, Commerce Layer create compound document, BigCommerce `POST /orders` body.
    Request,
    /// FluentCart `GET /orders/{id}` envelope, Commerce Layer order with `included`, BigCommerce order object.
    Order,
}

impl DocumentKind {
    pub fn name(self) -> &'static str {
        match self {
            DocumentKind::Request => "request",
            DocumentKind::Order => "order",
        }
    }
}

/// What kind of information a translation could not carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum LossKind {
    /// Several canonical status axes collapse into fewer native values, or a state has no native equivalent.
    StatusCollapsed,
    /// An amount the target's wire scale cannot hold exactly; the value sent is rounded half-even.
    Precision,
    /// More shipping destinations than the target can hold.
    MultipleDestinations,
    /// A canonical field the target has no member for in this document.
    Unrepresentable,
    /// An order a list page leaves out: the shop holding it answered it in a form that cannot be read.
    UnreadableOrder,
}

impl LossKind {
    pub fn key(self) -> &'static str {
        match self {
            LossKind::StatusCollapsed => "status_collapsed",
            LossKind::Precision => "precision",
            LossKind::MultipleDestinations => "multiple_destinations",
            LossKind::Unrepresentable => "unrepresentable",
            LossKind::UnreadableOrder => "unreadable_order",
        }
    }
}

/// One thing a translation could not carry, at the target document's JSON pointer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Loss {
    pub pointer: String,
    pub kind: LossKind,
    pub reason: String,
}

impl fmt::Display for Loss {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let p = if self.pointer.is_empty() {
            "/"
        } else {
            &self.pointer
        };
        write!(f, "{p}: {} ({})", self.reason, self.kind.key())
    }
}

/// A value and what was lost producing it.
#[derive(Debug, Clone, PartialEq)]
pub struct Translated<T> {
    pub value: T,
    pub losses: Vec<Loss>,
}

/// Settings a decode may need that the document itself may not carry.
#[derive(Debug, Clone, Copy, Default)]
pub struct DecodeOptions {
    /// Currency for documents without one (BigCommerce v2 create requests carry none).
    pub default_currency: Option<Currency>,
}

/// A decoded document: the canonical order and which kind of document it was.
#[derive(Debug, Clone, PartialEq)]
pub struct Decoded {
    pub order: Order,
    pub kind: DocumentKind,
}

/// Parses and decodes a document of `dialect`, detecting whether it is a create request or an order object.
pub fn decode(dialect: Dialect, bytes: &[u8], options: &DecodeOptions) -> Result<Decoded, Problem> {
    let document = json::parse_document(bytes)?;
    decode_with_source(dialect, document, options, || SourceBody::Raw(bytes.into()))
}

/// As `decode`, from an already parsed document.
pub fn decode_value(
    dialect: Dialect,
    document: Value,
    options: &DecodeOptions,
) -> Result<Decoded, Problem> {
    let original = document.clone();
    decode_with_source(dialect, document, options, || SourceBody::Parsed(original))
}

/// Decodes and records where the order came from (see `encode_into_source`).
fn decode_with_source(
    dialect: Dialect,
    document: Value,
    options: &DecodeOptions,
    body: impl FnOnce() -> SourceBody,
) -> Result<Decoded, Problem> {
    let kind = detect_kind(dialect, &document)?;
    let mut order = decode_kind(dialect, kind, document, options)?;
    order.source = Provenance(Some(Arc::new(SourceDocument {
        platform: dialect,
        form: kind.name().to_owned(),
        original: body(),
        decoded: order.clone(),
    })));
    Ok(Decoded { order, kind })
}

fn decode_kind(
    dialect: Dialect,
    kind: DocumentKind,
    document: Value,
    options: &DecodeOptions,
) -> Result<Order, Problem> {
    let order = match (dialect, kind) {
        (Dialect::FluentCart, DocumentKind::Request) => {
            fluentcart::decode_create_request(document, options)
        }
        (Dialect::FluentCart, DocumentKind::Order) => fluentcart::decode_order(document, options),
        (Dialect::CommerceLayer, DocumentKind::Request) => {
            commercelayer::decode_create_request(document, options)
        }
        (Dialect::CommerceLayer, DocumentKind::Order) => {
            commercelayer::decode_order(document, options)
        }
        (Dialect::BigCommerce, DocumentKind::Request) => {
            bigcommerce::decode_create_request(document, options)
        }
        (Dialect::BigCommerce, DocumentKind::Order) => bigcommerce::decode_order(document, options),
    }?;
    if let Some(path) = order.out_of_range_amount() {
        return Err(Problem::new(
            ProblemKind::InvalidMoney,
            "",
            format!("the order's {path} is out of range (more than {MAX_TOTAL_MINOR} minor units)"),
        ));
    }
    // An order object states (or lets the codec derive) its totals; one that comes to less than zero is no order
    // any platform holds. (A create request's totals are the shop's to work out: it checks them then.) The range
    // was checked just above.
    if kind == DocumentKind::Order {
        if let Some(problem) = order.amounts_problem() {
            return Err(problem);
        }
    }
    Ok(order)
}

/// Which kind of document of `dialect` this is, from its top-level shape.
pub fn detect_kind(dialect: Dialect, document: &Value) -> Result<DocumentKind, Problem> {
    match dialect {
        Dialect::FluentCart => fluentcart::detect_kind(document),
        Dialect::CommerceLayer => commercelayer::detect_kind(document),
        Dialect::BigCommerce => bigcommerce::detect_kind(document),
    }
}

/// Renders `order` as a document of `dialect`.
pub fn encode(dialect: Dialect, kind: DocumentKind, order: &Order) -> Translated<Value> {
    match &order.source.0 {
        Some(src) if src.platform == dialect && src.form == kind.name() => {
            encode_into_source(src, kind, order)
        }
        Some(src) if src.platform == dialect => {
            // Members kept from one document of this dialect (say, a response-only field of an order object) do
            // not belong in another (a create request).
            let mut copy = order.clone();
            copy.strip_platform_ext(dialect);
            encode_kind(dialect, kind, &copy)
        }
        _ => encode_kind(dialect, kind, order),
    }
}

/// Renders into the platform and document kind the order came from. Unchanged, the order is its source document.
/// Changed, it is rendered afresh, and wherever the codec's rendering of the *unchanged* order differed from the
/// source (a number sent as a string, a stated total that differs from the derived one) the source's spelling is
/// replayed for as long as the changed order still renders the same value there.
fn encode_into_source(
    src: &SourceDocument,
    kind: DocumentKind,
    order: &Order,
) -> Translated<Value> {
    let Ok(original) = (match &src.original {
        SourceBody::Parsed(v) => Ok(v.clone()),
        SourceBody::Raw(bytes) => json::parse_document(bytes),
    }) else {
        // The source parsed once already, so this does not happen; render afresh if it ever does.
        return encode_kind(src.platform, kind, order);
    };
    let as_decoded = &src.decoded;
    if *as_decoded == *order {
        return Translated {
            value: original,
            losses: Vec::new(),
        };
    }
    let then = encode_kind(src.platform, kind, as_decoded).value;
    let mut echoes = Vec::new();
    json::diff_echoes(&original, &then, "", &mut echoes);
    let mut out = encode_kind(src.platform, kind, order);
    if let Value::Object(map) = &mut out.value {
        let mut replay = crate::canonical::Ext::default();
        replay.set(
            src.platform,
            PlatformExt {
                extra: Default::default(),
                echoes,
            },
        );
        json::apply_ext(map, &replay, src.platform);
    }
    out
}

fn encode_kind(dialect: Dialect, kind: DocumentKind, order: &Order) -> Translated<Value> {
    let mut out = match (dialect, kind) {
        (Dialect::FluentCart, DocumentKind::Request) => fluentcart::encode_create_request(order),
        (Dialect::FluentCart, DocumentKind::Order) => fluentcart::encode_order(order),
        (Dialect::CommerceLayer, DocumentKind::Request) => {
            commercelayer::encode_create_request(order)
        }
        (Dialect::CommerceLayer, DocumentKind::Order) => commercelayer::encode_order(order),
        (Dialect::BigCommerce, DocumentKind::Request) => bigcommerce::encode_create_request(order),
        (Dialect::BigCommerce, DocumentKind::Order) => bigcommerce::encode_order(order),
    };
    if kind == DocumentKind::Request && order.line_items.is_empty() {
        out.losses.push(Loss {
            pointer: String::new(),
            kind: LossKind::Unrepresentable,
            reason: format!(
                "the order has no line items; a {dialect} create request needs at least one"
            ),
        });
    }
    out
}

/// An error rendered in a dialect's native shape, with its HTTP status.
#[derive(Debug, Clone, PartialEq)]
pub struct ErrorDocument {
    pub status: http::StatusCode,
    pub body: Value,
}

/// Renders a problem as `dialect`'s native error body.
pub fn encode_error(dialect: Dialect, problem: &Problem) -> ErrorDocument {
    match dialect {
        Dialect::FluentCart => fluentcart::encode_error(problem),
        Dialect::CommerceLayer => commercelayer::encode_error(problem),
        Dialect::BigCommerce => bigcommerce::encode_error(problem),
    }
}

/// Losses every encoder reports the same way: amounts the source stated below the minor unit, unless the target
/// is the platform the amounts came from (its extensions replay the exact text).
pub(crate) fn sub_minor_losses(order: &Order, target: Dialect, losses: &mut Vec<Loss>) {
    if order.ext.get(target).is_some() {
        return;
    }
    for (path, exact) in &order.sub_minor_amounts {
        losses.push(Loss {
            pointer: format!("/{path}"),
            kind: LossKind::Precision,
            reason: format!(
                "source amount {exact} {} is finer than the currency's minor unit; sent rounded half-even",
                order.currency
            ),
        });
    }
}
