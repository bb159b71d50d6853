//! The canonical order: one model for what FluentCart, Commerce Layer and BigCommerce orders say.

use chrono::{DateTime, Utc};

use super::ext::{Ext, JsonMap, Provenance};
use super::money::{Currency, Decimal, Money};
use super::status::{FulfillmentStatus, OrderStatus, PaymentStatus};
use super::Platform;

pub type Timestamp = DateTime<Utc>;

/// Identifiers an object has on each platform. A value is present only for platforms that have seen the object.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PlatformIds {
    pub fluentcart: Option<u64>,
    pub commercelayer: Option<String>,
    pub bigcommerce: Option<u64>,
}

impl PlatformIds {
    /// The object's id as `platform` writes it, when that platform has seen it.
    pub fn in_scheme(&self, platform: Platform) -> Option<String> {
        match platform {
            Platform::FluentCart => self.fluentcart.map(|n| n.to_string()),
            Platform::CommerceLayer => self.commercelayer.clone(),
            Platform::BigCommerce => self.bigcommerce.map(|n| n.to_string()),
        }
    }
}

/// Order-level identifiers beyond the id itself.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct OrderIds {
    /// The gateway's own id for the order (assigned by the embedded store; never on the wire of a dialect).
    #[serde(default)]
    pub gateway: Option<String>,
    pub platform: PlatformIds,
    /// FluentCart `uuid`.
    pub uuid: Option<String>,
    /// FluentCart `invoice_no`, Commerce Layer `number`.
    pub number: Option<String>,
    /// FluentCart `receipt_number`.
    pub receipt_number: Option<String>,
    /// Commerce Layer `token`, BigCommerce `cart_id`.
    pub cart_token: Option<String>,
}

/// Where an order came from in another system: Commerce Layer `reference`/`reference_origin`,
/// BigCommerce `external_order_id`/`external_source`.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ExternalRef {
    pub reference: Option<String>,
    pub origin: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Customer {
    pub ids: PlatformIds,
    pub email: Option<String>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub phone: Option<String>,
    /// True when the order was placed without a customer account.
    pub is_guest: bool,
    pub ext: Ext,
}

/// Whether `text` can be an e-mail address: `local@domain`, both parts non-empty, nothing blank or invisible in it,
/// at most 254 characters (RFC 5321's path limit). Deliberately loose beyond that: the platforms each check more
/// (BigCommerce: "The field 'email' is invalid"), but what they accept differs, and a customer is found and made by
/// this address, so text that cannot be one is refused before it becomes a customer.
pub fn is_email_address(text: &str) -> bool {
    let Some((local, domain)) = text.rsplit_once('@') else {
        return false;
    };
    !local.is_empty()
        && !domain.is_empty()
        && text.len() <= 254
        && !text.chars().any(|c| c.is_whitespace() || c.is_control())
}

#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Address {
    pub ids: PlatformIds,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    /// A single-field name as a platform sent it (FluentCart `name`); kept verbatim so it is not re-split.
    pub full_name: Option<String>,
    pub company: Option<String>,
    pub line1: String,
    pub line2: Option<String>,
    pub city: String,
    /// State or region exactly as given: a code (`TX`) or a name (`Texas`).
    pub region: Option<String>,
    pub postal_code: Option<String>,
    /// ISO 3166-1 alpha-2.
    pub country_code: String,
    pub country_name: Option<String>,
    pub phone: Option<String>,
    pub email: Option<String>,
    pub ext: Ext,
}

impl Address {
    /// The person's name as one string: `full_name` if given, else first and last joined by a space.
    pub fn display_name(&self) -> Option<String> {
        if let Some(full) = &self.full_name {
            return Some(full.clone());
        }
        let parts: Vec<&str> = [self.first_name.as_deref(), self.last_name.as_deref()]
            .into_iter()
            .flatten()
            .filter(|s| !s.is_empty())
            .collect();
        (!parts.is_empty()).then(|| parts.join(" "))
    }

    /// First and last name for a platform that has no single-name field: as given, with a part that is missing
    /// (or empty) taken from `full_name` when the other part is its end or its start, or `full_name` split at its
    /// first space when neither is given. A part `full_name` does not bear out stays missing.
    pub fn name_parts(&self) -> (Option<String>, Option<String>) {
        fn given(s: &Option<String>) -> Option<&str> {
            s.as_deref().map(str::trim).filter(|s| !s.is_empty())
        }
        let owned = |s: &str| Some(s.to_owned()).filter(|s| !s.is_empty());
        match (
            given(&self.full_name),
            given(&self.first_name),
            given(&self.last_name),
        ) {
            (Some(full), None, None) => match full.split_once(' ') {
                Some((first, last)) => (owned(first), owned(last.trim_start())),
                None => (owned(full), None),
            },
            (Some(full), None, Some(last)) => (
                full.strip_suffix(last).map(str::trim_end).and_then(owned),
                self.last_name.clone(),
            ),
            (Some(full), Some(first), None) => (
                self.first_name.clone(),
                full.strip_prefix(first)
                    .map(str::trim_start)
                    .and_then(owned),
            ),
            _ => (self.first_name.clone(), self.last_name.clone()),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum LineKind {
    /// A product of the shop's catalog (FluentCart variation, Commerce Layer SKU, BigCommerce product).
    Catalog,
    /// A product bundle (Commerce Layer `bundles`).
    Bundle,
    /// An uncatalogued line with an explicit name and price.
    Custom,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum FulfillmentType {
    Physical,
    Digital,
    Service,
}

/// Catalog identity of a line on each platform; `sku` is the cross-platform join key.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ProductRef {
    pub sku: Option<String>,
    pub bundle_code: Option<String>,
    pub fluentcart_post_id: Option<u64>,
    pub fluentcart_object_id: Option<u64>,
    pub bigcommerce_product_id: Option<u64>,
    pub bigcommerce_variant_id: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct LineItem {
    pub ids: PlatformIds,
    pub kind: LineKind,
    pub product: ProductRef,
    pub name: String,
    pub quantity: u32,
    /// Price of one unit, gross when the order's `tax_included`, net otherwise.
    pub unit_price: Money,
    /// `unit_price × quantity`, in the same tax mode.
    pub subtotal: Money,
    /// Discount applied to this line, as a positive magnitude.
    pub discount_total: Money,
    /// Tax on this line (contained in the prices when the order is tax-inclusive).
    pub tax_total: Money,
    /// What the line costs after discount, in the order's tax mode, plus tax when tax-exclusive.
    pub total: Money,
    pub tax_rate: Option<Decimal>,
    pub fulfillment_type: Option<FulfillmentType>,
    pub quantity_shipped: u32,
    pub refunded_total: Money,
    /// Index into `Order::shipping_destinations` this line ships to.
    pub destination: Option<usize>,
    pub image_url: Option<String>,
    pub metadata: JsonMap,
    pub ext: Ext,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ShippingLine {
    pub ids: PlatformIds,
    pub method: Option<String>,
    pub amount: Money,
    pub tax: Money,
    /// Index into `Order::shipping_destinations`.
    pub destination: Option<usize>,
    pub ext: Ext,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum DiscountKind {
    Coupon,
    Manual,
    Promotion,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Discount {
    pub ids: PlatformIds,
    pub kind: DiscountKind,
    pub code: Option<String>,
    pub label: Option<String>,
    /// Positive magnitude.
    pub amount: Money,
    pub ext: Ext,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum FeeKind {
    Handling,
    Wrapping,
    PaymentMethod,
    Custom,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Fee {
    pub ids: PlatformIds,
    pub kind: FeeKind,
    pub name: Option<String>,
    /// Signed: a negative fee is an adjustment in the buyer's favour.
    pub amount: Money,
    pub tax: Money,
    pub ext: Ext,
}

/// A payment or refund transaction.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Payment {
    pub ids: PlatformIds,
    pub method: Option<String>,
    pub status: Option<String>,
    pub kind: Option<String>,
    pub amount: Money,
    pub reference: Option<String>,
    pub ext: Ext,
}

/// Order totals as the source stated them. `Order::accounting_gaps` checks them against the lines.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Totals {
    /// Sum of line subtotals, in the order's tax mode.
    pub subtotal: Money,
    /// All discounts, positive magnitude.
    pub discount_total: Money,
    pub shipping_total: Money,
    pub shipping_tax: Money,
    pub fee_total: Money,
    pub tax_total: Money,
    /// What the buyer pays, tax included.
    pub total: Money,
    pub paid_total: Option<Money>,
    pub refunded_total: Option<Money>,
}

impl Totals {
    /// The accounting identity: subtotal − discounts + shipping + fees, plus tax when prices exclude it
    /// (saturating; decoders bound the result).
    pub fn derived_total(&self, tax_included: bool) -> i64 {
        super::money::saturating_sum(&[
            self.subtotal.minor,
            -self.discount_total.minor,
            self.shipping_total.minor,
            self.fee_total.minor,
            if tax_included {
                0
            } else {
                self.tax_total.minor
            },
        ])
    }

    pub fn zero(currency: Currency) -> Self {
        let z = Money::zero(currency);
        Totals {
            subtotal: z,
            discount_total: z,
            shipping_total: z,
            shipping_tax: z,
            fee_total: z,
            tax_total: z,
            total: z,
            paid_total: None,
            refunded_total: None,
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Timestamps {
    pub created_at: Option<Timestamp>,
    pub updated_at: Option<Timestamp>,
    pub placed_at: Option<Timestamp>,
    pub approved_at: Option<Timestamp>,
    pub cancelled_at: Option<Timestamp>,
    pub completed_at: Option<Timestamp>,
    pub shipped_at: Option<Timestamp>,
    pub refunded_at: Option<Timestamp>,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Order {
    pub ids: OrderIds,
    pub external_ref: ExternalRef,
    pub status: OrderStatus,
    pub payment_status: PaymentStatus,
    pub fulfillment_status: FulfillmentStatus,
    pub currency: Currency,
    pub tax_included: bool,
    pub test_mode: Option<bool>,
    pub customer: Customer,
    pub billing_address: Option<Address>,
    /// `[0]` is the primary destination. BigCommerce allows several; FluentCart and Commerce Layer one.
    pub shipping_destinations: Vec<Address>,
    pub line_items: Vec<LineItem>,
    pub shipping_lines: Vec<ShippingLine>,
    pub discounts: Vec<Discount>,
    pub fees: Vec<Fee>,
    pub payments: Vec<Payment>,
    pub payment_method: Option<String>,
    pub payment_method_title: Option<String>,
    pub totals: Totals,
    pub customer_note: Option<String>,
    pub staff_note: Option<String>,
    /// BCP 47 language tag.
    pub language: Option<String>,
    pub ip_address: Option<String>,
    pub timestamps: Timestamps,
    pub metadata: JsonMap,
    /// Amounts the source stated more precisely than the currency's minor unit, by canonical path
    /// (`line_items/0/unit_price`): the canonical amount is that value rounded half-even.
    pub sub_minor_amounts: Vec<(String, Decimal)>,
    pub ext: Ext,
    /// The document this order was decoded from, if any: the same platform and document kind reproduce it
    /// exactly, and the extensions captured from it are not replayed into another kind of document.
    #[serde(skip)]
    pub source: Provenance,
    /// Transitions `lifecycle::apply` made on this copy since it was loaded, in order. A shop that keeps the
    /// order elsewhere (an upstream) replays them with the platform's own operations; never stored.
    #[serde(skip)]
    pub applied: Vec<super::lifecycle::Transition>,
}

impl Order {
    /// The order's three status axes together.
    pub fn status_triple(&self) -> super::status::StatusTriple {
        super::status::StatusTriple {
            order: self.status,
            payment: self.payment_status,
            fulfillment: self.fulfillment_status,
        }
    }

    /// Gives this order `other`'s lifecycle: the fields `lifecycle::apply` owns (statuses, payments, paid and
    /// refunded totals, payment method, timestamps), so an edit can be sent apart from the transitions made with
    /// it.
    pub fn take_lifecycle_of(&mut self, other: &Order) {
        self.status = other.status;
        self.payment_status = other.payment_status;
        self.fulfillment_status = other.fulfillment_status;
        self.payments.clone_from(&other.payments);
        self.payment_method.clone_from(&other.payment_method);
        self.totals.paid_total = other.totals.paid_total;
        self.totals.refunded_total = other.totals.refunded_total;
        self.timestamps.clone_from(&other.timestamps);
    }

    /// Drops everything kept for `platform`, on every object of the order.
    pub fn strip_platform_ext(&mut self, platform: Platform) {
        let strip = |ext: &mut Ext| ext.remove(platform);
        strip(&mut self.ext);
        strip(&mut self.customer.ext);
        self.billing_address
            .iter_mut()
            .for_each(|a| strip(&mut a.ext));
        self.shipping_destinations
            .iter_mut()
            .for_each(|a| strip(&mut a.ext));
        self.line_items.iter_mut().for_each(|l| strip(&mut l.ext));
        self.shipping_lines
            .iter_mut()
            .for_each(|l| strip(&mut l.ext));
        self.discounts.iter_mut().for_each(|d| strip(&mut d.ext));
        self.fees.iter_mut().for_each(|f| strip(&mut f.ext));
        self.payments.iter_mut().for_each(|p| strip(&mut p.ext));
        if self
            .source
            .0
            .as_ref()
            .is_some_and(|s| s.platform == platform)
        {
            self.source = Provenance::default();
        }
    }
}

/// One way the stated totals disagree with the lines.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountingGap {
    pub what: &'static str,
    pub stated: i64,
    pub computed: i64,
}

impl Order {
    /// An empty pending order in `currency`, for builders and tests.
    pub fn empty(currency: Currency) -> Self {
        Order {
            ids: OrderIds::default(),
            external_ref: ExternalRef::default(),
            status: OrderStatus::Pending,
            payment_status: PaymentStatus::Unpaid,
            fulfillment_status: FulfillmentStatus::Unfulfilled,
            currency,
            tax_included: false,
            test_mode: None,
            customer: Customer::default(),
            billing_address: None,
            shipping_destinations: Vec::new(),
            line_items: Vec::new(),
            shipping_lines: Vec::new(),
            discounts: Vec::new(),
            fees: Vec::new(),
            payments: Vec::new(),
            payment_method: None,
            payment_method_title: None,
            totals: Totals::zero(currency),
            customer_note: None,
            staff_note: None,
            language: None,
            ip_address: None,
            timestamps: Timestamps::default(),
            metadata: JsonMap::new(),
            sub_minor_amounts: Vec::new(),
            ext: Ext::default(),
            source: Provenance::default(),
            applied: Vec::new(),
        }
    }

    pub fn zero(&self) -> Money {
        Money::zero(self.currency)
    }

    /// The first amount whose magnitude exceeds `MAX_TOTAL_MINOR`, by canonical path: such an order is refused
    /// rather than risk arithmetic overflow downstream.
    pub fn out_of_range_amount(&self) -> Option<String> {
        let max = super::money::MAX_TOTAL_MINOR.unsigned_abs();
        let big = |m: &Money| m.minor.unsigned_abs() > max;
        for (i, l) in self.line_items.iter().enumerate() {
            for (name, m) in [
                ("subtotal", &l.subtotal),
                ("total", &l.total),
                ("tax_total", &l.tax_total),
            ] {
                if big(m) {
                    return Some(format!("line_items/{i}/{name}"));
                }
            }
        }
        let t = &self.totals;
        for (name, m) in [
            ("subtotal", &t.subtotal),
            ("discount_total", &t.discount_total),
            ("shipping_total", &t.shipping_total),
            ("fee_total", &t.fee_total),
            ("tax_total", &t.tax_total),
            ("total", &t.total),
        ] {
            if big(m) {
                return Some(format!("totals/{name}"));
            }
        }
        None
    }

    /// Why the order's totals (as `recompute_totals` left them) cannot stand, if they cannot: an amount out of
    /// range (`out_of_range_amount`), a line's total or the order's total below zero, which no platform holds
    /// (discounts larger than what they apply to, or lines priced below zero beyond what the rest makes up for),
    /// the order's tax below zero or above its total, or, where prices include their tax, a part taxed more than
    /// its price (`tax_beyond_price`).
    pub fn totals_problem(&self) -> Option<super::Problem> {
        if let Some(path) = self.out_of_range_amount() {
            return Some(super::Problem::new(
                super::ProblemKind::InvalidMoney,
                "",
                format!("the order's {path} is out of range"),
            ));
        }
        self.amounts_problem()
    }

    /// `totals_problem` for an order whose amounts are known to be in range: the parts and totals that come to
    /// less than zero, or tax beyond what it is part of.
    pub fn amounts_problem(&self) -> Option<super::Problem> {
        use super::ProblemKind;
        if let Some((i, line)) = self
            .line_items
            .iter()
            .enumerate()
            .find(|(_, l)| l.total.minor < 0)
        {
            return Some(super::Problem::new(
                ProblemKind::InvalidMoney,
                "",
                format!(
                    "line {} ({}) comes to {} {}; a line's total cannot be below zero (is its discount larger than the line?)",
                    i + 1,
                    line.name,
                    line.total.to_decimal(),
                    line.total.currency
                ),
            ));
        }
        let tax = &self.totals.tax_total;
        if tax.minor < 0 {
            return Some(super::Problem::new(
                ProblemKind::InvalidMoney,
                "",
                format!(
                    "the order's tax comes to {} {}; an order's tax cannot be below zero (is a fee taxed against the sign of its cost?)",
                    tax.to_decimal(),
                    tax.currency
                ),
            ));
        }
        if let Some(problem) = self.tax_beyond_price() {
            return Some(problem);
        }
        let total = &self.totals.total;
        // The tax is part of the total whether prices include it or not; a total without tax (which BigCommerce
        // states) would be below zero.
        if tax.minor > total.minor && total.minor >= 0 {
            return Some(super::Problem::new(
                ProblemKind::InvalidMoney,
                "",
                format!(
                    "the order's tax ({} {}) is more than its total ({} {}); is a discount larger than what it applies to before tax?",
                    tax.to_decimal(),
                    tax.currency,
                    total.to_decimal(),
                    total.currency
                ),
            ));
        }
        (total.minor < 0).then(|| {
            super::Problem::new(
                ProblemKind::InvalidMoney,
                "",
                format!(
                    "the order's total comes to {} {}; an order's total cannot be below zero (are its discounts larger than its lines, shipping and fees?)",
                    total.to_decimal(),
                    total.currency
                ),
            )
        })
    }

    /// Where prices include their tax, a part whose tax is more than its price (a line, a shipping line, the
    /// subtotal or the shipping as a whole, a fee): its price without tax, which the dialects that state one
    /// render, would be below zero.
    fn tax_beyond_price(&self) -> Option<super::Problem> {
        if !self.tax_included {
            return None;
        }
        // (what, its position from 1 or 0 for the order's, price, tax); named only for the refusal.
        let lines = (self.line_items.iter().enumerate())
            .map(|(i, l)| ("line", i + 1, l.subtotal, l.tax_total));
        let shipping = (self.shipping_lines.iter().enumerate())
            .map(|(i, s)| ("shipping line", i + 1, s.amount, s.tax));
        let fees = (self.fees.iter().enumerate()).map(|(i, f)| ("fee", i + 1, f.amount, f.tax));
        let t = &self.totals;
        let lines_tax = Money::new(
            super::money::sum_minor(self.line_items.iter().map(|l| &l.tax_total)),
            self.currency,
        );
        let order_parts = [
            ("the order's subtotal", 0, t.subtotal, lines_tax),
            ("the order's shipping", 0, t.shipping_total, t.shipping_tax),
        ];
        let (what, at, price, tax) = lines
            .chain(shipping)
            .chain(order_parts)
            .chain(fees)
            .find(|(_, _, price, tax)| tax.minor.unsigned_abs() > price.minor.unsigned_abs())?;
        let named = match (what, at) {
            ("line", at) => format!("line {at} ({})", self.line_items[at - 1].name),
            (what, 0) => what.to_owned(),
            (what, at) => format!("{what} {at}"),
        };
        Some(super::Problem::new(
            super::ProblemKind::InvalidMoney,
            "",
            format!(
                "{named}: its tax ({} {}) is more than its price including tax ({} {})",
                tax.to_decimal(),
                tax.currency,
                price.to_decimal(),
                price.currency
            ),
        ))
    }

    /// Checks the accounting identity: subtotal = Σ line subtotals, and
    /// total = subtotal − discounts + shipping + fees (+ tax when prices exclude it).
    pub fn accounting_gaps(&self) -> Vec<AccountingGap> {
        let mut gaps = Vec::new();
        let lines: i64 = super::money::sum_minor(self.line_items.iter().map(|l| &l.subtotal));
        if lines != self.totals.subtotal.minor {
            gaps.push(AccountingGap {
                what: "subtotal",
                stated: self.totals.subtotal.minor,
                computed: lines,
            });
        }
        let t = &self.totals;
        let total = t.derived_total(self.tax_included);
        if total != t.total.minor {
            gaps.push(AccountingGap {
                what: "total",
                stated: t.total.minor,
                computed: total,
            });
        }
        gaps
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Taxes that would render a negative amount somewhere: the order's tax below zero (a fee taxed against its
    /// sign) or above its total, and, with prices including tax, shipping taxed beyond its price.
    #[test]
    fn taxes_below_zero_or_beyond_a_tax_inclusive_price_are_refused() {
        let eur = Currency::parse("EUR").unwrap();
        let m = |minor| Money::new(minor, eur);
        let mut order = Order::empty(eur);
        order.fees.push(Fee {
            ids: PlatformIds::default(),
            kind: FeeKind::Custom,
            name: None,
            amount: m(300),
            tax: m(-1951),
            ext: Ext::default(),
        });
        order.recompute_totals();
        let problem = order.totals_problem().expect("a negative tax is refused");
        assert!(
            problem.reason.contains("tax comes to -19.51 EUR"),
            "{}",
            problem.reason
        );

        order.fees[0].tax = m(50);
        order.recompute_totals();
        assert_eq!(order.totals_problem(), None);

        // A discount beyond the amount before tax leaves a total smaller than the tax in it.
        order.discounts.push(Discount {
            ids: PlatformIds::default(),
            kind: DiscountKind::Manual,
            code: None,
            label: None,
            amount: m(320),
            ext: Ext::default(),
        });
        order.recompute_totals();
        assert_eq!((order.totals.tax_total, order.totals.total), (m(50), m(30)));
        let problem = order.totals_problem().expect("more tax than total");
        assert!(
            problem.reason.contains("more than its total"),
            "{}",
            problem.reason
        );
        order.discounts.clear();
        order.recompute_totals();

        order.tax_included = true;
        order.totals.shipping_total = m(0);
        order.totals.shipping_tax = m(317);
        order.totals.tax_total = m(317);
        let problem = order
            .totals_problem()
            .expect("shipping taxed beyond its price");
        assert!(
            problem.reason.contains("the order's shipping"),
            "{}",
            problem.reason
        );
    }

    #[test]
    fn name_parts_come_from_the_full_name_where_it_bears_them_out() {
        let name = |full: Option<&str>, first: Option<&str>, last: Option<&str>| {
            Address {
                full_name: full.map(str::to_owned),
                first_name: first.map(str::to_owned),
                last_name: last.map(str::to_owned),
                ..Address::default()
            }
            .name_parts()
        };
        let parts = |first: Option<&str>, last: Option<&str>| {
            (first.map(str::to_owned), last.map(str::to_owned))
        };
        let full = Some("Fatima Al-Sabah");
        assert_eq!(
            name(full, None, Some("Al-Sabah")),
            parts(Some("Fatima"), Some("Al-Sabah"))
        );
        assert_eq!(
            name(full, Some("Fatima"), None),
            parts(Some("Fatima"), Some("Al-Sabah"))
        );
        assert_eq!(
            name(full, Some(""), Some("")),
            parts(Some("Fatima"), Some("Al-Sabah"))
        );
        assert_eq!(
            name(Some("Ana María de la Cruz"), None, None),
            parts(Some("Ana"), Some("María de la Cruz"))
        );
        assert_eq!(
            name(Some("Prince"), None, None),
            parts(Some("Prince"), None)
        );
        // Stated parts win; a part the full name does not bear out stays missing.
        assert_eq!(
            name(full, Some("F."), Some("Sabah")),
            parts(Some("F."), Some("Sabah"))
        );
        assert_eq!(name(full, None, Some("Smith")), parts(None, Some("Smith")));
        assert_eq!(name(None, None, Some("Doe")), parts(None, Some("Doe")));
        assert_eq!(name(Some("  "), None, None), parts(None, None));
    }

    #[test]
    fn email_addresses_need_both_parts_and_nothing_blank() {
        for ok in [
            "jane@example.com",
            "a@b",
            "\"odd@local\"@example.com",
            "ünï@example.com",
        ] {
            assert!(is_email_address(ok), "{ok}");
        }
        let long = format!("{}@example.com", "a".repeat(250));
        for bad in [
            "",
            "jane",
            "@example.com",
            "jane@",
            "jane doe@example.com",
            "jane@example.com ",
            "jane@exa\tmple.com",
            long.as_str(),
        ] {
            assert!(!is_email_address(bad), "{bad:?}");
        }
    }
}
