//! Money on the wire: integer amounts at a fixed scale (FluentCart cents, Commerce Layer `*_cents`) and exact
//! decimal strings (BigCommerce). Shared by the codecs so every dialect converts with the same exact arithmetic.

use serde_json::Value;

use super::json::{describe, integer_value, Obj};
use super::{Loss, LossKind};
use crate::canonical::money::{decimal_to_scaled, parse_decimal, rescale, MAX_AMOUNT_MINOR};
use crate::canonical::{Currency, Decimal, Money, Problem, ProblemKind};

/// Collects amounts finer than the currency's minor unit while decoding one document.
#[derive(Default)]
pub struct SubMinor(pub Vec<(String, Decimal)>);

/// How a dialect writes amounts: integers at a fixed number of decimals (`read_scaled`), or decimal strings
/// (`read_decimal`), echoed as the given rendering.
#[derive(Clone, Copy)]
pub enum WireAmounts {
    Scaled(u32),
    Decimal(fn(Money) -> Value),
}

/// The amounts of one document being decoded: its currency, how the dialect writes amounts, and those found finer
/// than the currency's minor unit (for `Order::sub_minor_amounts`).
pub struct AmountReader {
    pub currency: Currency,
    wire: WireAmounts,
    pub sub_minor: SubMinor,
}

impl AmountReader {
    pub fn new(currency: Currency, wire: WireAmounts) -> Self {
        AmountReader {
            currency,
            wire,
            sub_minor: SubMinor::default(),
        }
    }

    /// The amount at `key` of `o`, if present, for canonical `path`.
    pub fn money<'p>(
        &mut self,
        o: &mut Obj,
        key: &str,
        path: impl Into<AmountPath<'p>>,
    ) -> Result<Option<Money>, Problem> {
        match self.wire {
            WireAmounts::Scaled(places) => read_scaled(
                o,
                key,
                places,
                self.currency,
                path.into(),
                &mut self.sub_minor,
            ),
            WireAmounts::Decimal(render) => read_decimal(
                o,
                key,
                self.currency,
                path.into(),
                &mut self.sub_minor,
                render,
            ),
        }
    }

    /// `money`, refusing an amount below zero (see `refuse_negative`).
    pub fn non_negative<'p>(
        &mut self,
        o: &mut Obj,
        key: &str,
        path: impl Into<AmountPath<'p>>,
    ) -> Result<Option<Money>, Problem> {
        self.money(o, key, path)?
            .map(|m| refuse_negative(o, key, m))
            .transpose()
    }

    /// `non_negative`, zero when absent.
    pub fn non_negative_or_zero<'p>(
        &mut self,
        o: &mut Obj,
        key: &str,
        path: impl Into<AmountPath<'p>>,
    ) -> Result<Money, Problem> {
        Ok(self
            .non_negative(o, key, path)?
            .unwrap_or(Money::zero(self.currency)))
    }

    /// `money`, zero when absent.
    pub fn money_or_zero<'p>(
        &mut self,
        o: &mut Obj,
        key: &str,
        path: impl Into<AmountPath<'p>>,
    ) -> Result<Money, Problem> {
        Ok(self
            .money(o, key, path)?
            .unwrap_or(Money::zero(self.currency)))
    }
}

/// Where a decoded amount goes in the canonical order, as `Order::sub_minor_amounts` names it. Spelled out only
/// when an amount finer than the minor unit is found: most amounts are not, and formatting a line item's five
/// paths up front cost more than reading its amounts.
#[derive(Debug, Clone, Copy)]
pub enum AmountPath<'a> {
    At(&'a str),
    /// `{list}/{index}/{field}`: an amount of one element of a list (a line item's).
    Element(&'a str, usize, &'a str),
}

impl AmountPath<'_> {
    fn spelled(self) -> String {
        match self {
            AmountPath::At(path) => path.to_owned(),
            AmountPath::Element(list, index, field) => format!("{list}/{index}/{field}"),
        }
    }
}

impl<'a> From<&'a str> for AmountPath<'a> {
    fn from(path: &'a str) -> Self {
        AmountPath::At(path)
    }
}

/// Reads an integer amount stated at `wire_places` decimals (FluentCart: 2 for every currency) into canonical
/// minor units. A finer-than-minor amount is rounded half-even, noted in `sub_minor` under `path`, and its exact
/// spelling echoed.
#[allow(clippy::too_many_arguments)]
pub fn read_scaled(
    obj: &mut Obj,
    key: &str,
    wire_places: u32,
    currency: Currency,
    path: AmountPath<'_>,
    sub_minor: &mut SubMinor,
) -> Result<Option<Money>, Problem> {
    let Some(v) = obj.raw(key) else {
        return Ok(None);
    };
    let wire = integer_value(&v).ok_or_else(|| {
        Problem::new(
            ProblemKind::InvalidMoney,
            obj.pointer(key),
            format!(
                "expected an integer amount in minor units, found {}",
                describe(&v)
            ),
        )
    })?;
    let minor = match rescale(wire, wire_places, currency.exponent()) {
        Ok(m) => m,
        Err(rounded) => {
            sub_minor
                .0
                .push((path.spelled(), Decimal::new(wire, wire_places)));
            rounded
        }
    };
    check_magnitude(obj, key, minor)?;
    let (rendered, _) = write_scaled(Money::new(minor, currency), wire_places);
    obj.echo(key, v, Value::from(rendered));
    Ok(Some(Money::new(minor, currency)))
}

/// Canonical → integer at `wire_places`; `Some(reason)` when it could not be exact (the value is then rounded).
pub fn write_scaled(money: Money, wire_places: u32) -> (i64, Option<String>) {
    match rescale(money.minor, money.currency.exponent(), wire_places) {
        Ok(v) => (v, None),
        Err(rounded) => (
            rounded,
            Some(format!(
                "{} {} needs {} decimals; the wire carries {wire_places}",
                money.to_decimal(),
                money.currency,
                money.currency.exponent()
            )),
        ),
    }
}

/// Writes an integer amount and records a precision loss at `pointer` when it is not exact.
pub fn put_scaled(
    money: Money,
    wire_places: u32,
    pointer: impl FnOnce() -> String,
    losses: &mut Vec<Loss>,
) -> Value {
    let (v, lossy) = write_scaled(money, wire_places);
    if let Some(reason) = lossy {
        losses.push(Loss {
            pointer: pointer(),
            kind: LossKind::Precision,
            reason,
        });
    }
    Value::from(v)
}

/// Reads a decimal amount sent as a string or a JSON number (BigCommerce accepts "Float, Float-As-String,
/// Integer"). JSON numbers are read from their exact literal text, never as binary floats. At most 4 decimals.
pub fn read_decimal(
    obj: &mut Obj,
    key: &str,
    currency: Currency,
    path: AmountPath<'_>,
    sub_minor: &mut SubMinor,
    render: impl Fn(Money) -> Value,
) -> Result<Option<Money>, Problem> {
    let Some(v) = obj.raw(key) else {
        return Ok(None);
    };
    let text = match &v {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        other => {
            return Err(Problem::new(
                ProblemKind::InvalidMoney,
                obj.pointer(key),
                format!("expected a decimal amount, found {}", describe(other)),
            ))
        }
    };
    let bad = |reason: String| Problem::new(ProblemKind::InvalidMoney, obj.pointer(key), reason);
    let value = parse_decimal(&text).map_err(|e| bad(e.to_string()))?;
    if value.scale() > 4 && value.normalize().scale() > 4 {
        return Err(bad(format!("{text} has more than 4 decimal places")));
    }
    let exponent = currency.exponent();
    let minor = match decimal_to_scaled(value, exponent) {
        Some(m) => m,
        None => {
            let mut rounded = value;
            rounded.rescale(exponent);
            let m = decimal_to_scaled(
                rounded.round_dp_with_strategy(
                    exponent,
                    rust_decimal::RoundingStrategy::MidpointNearestEven,
                ),
                exponent,
            )
            .ok_or_else(|| bad(format!("{text} is out of range")))?;
            sub_minor.0.push((path.spelled(), value));
            m
        }
    };
    check_magnitude(obj, key, minor)?;
    let money = Money::new(minor, currency);
    obj.echo(key, v, render(money));
    Ok(Some(money))
}

/// Refuses an amount below zero where the canonical model holds zero or more: a price, a line's subtotal, tax
/// or total, a discount (a magnitude), a shipping cost, a payment. (Fees stay signed: a negative fee is an
/// adjustment in the buyer's favour.) Without this, a negative line priced a discount in by the back door, which
/// BigCommerce refuses ("can't be negative") and the other platforms model as discounts.
/// The pointer is spelled only for a refusal: this runs for most amounts of every document.
pub fn refuse_negative(obj: &Obj, key: &str, money: Money) -> Result<Money, Problem> {
    if money.minor < 0 {
        return Err(Problem::new(
            ProblemKind::InvalidMoney,
            obj.pointer(key),
            format!(
                "{key} cannot be negative (found {} {})",
                money.to_decimal(),
                money.currency
            ),
        ));
    }
    Ok(money)
}

/// Refuses one stated amount larger than `MAX_AMOUNT_MINOR` minor units.
pub fn check_magnitude(obj: &Obj, key: &str, minor: i64) -> Result<(), Problem> {
    if minor.unsigned_abs() > MAX_AMOUNT_MINOR.unsigned_abs() {
        return Err(Problem::new(
            ProblemKind::InvalidMoney,
            obj.pointer(key),
            format!("amount out of range (more than {MAX_AMOUNT_MINOR} minor units)"),
        ));
    }
    Ok(())
}

/// A JSON number holding exactly `value` (normalized: `12.5`, `7`; `7.0` when `force_fraction`), made from its
/// decimal text so no binary float is computed on the way. `None` only for values JSON cannot hold.
pub fn exact_number(value: Decimal, force_fraction: bool) -> Option<Value> {
    let d = value.normalize();
    let text = if d.scale() == 0 && force_fraction {
        format!("{d}.0")
    } else {
        d.to_string()
    };
    text.parse::<serde_json::Number>().ok().map(Value::Number)
}

/// `12.5 USD` → `"12.5000"`: the BigCommerce 4-place spelling. Integer arithmetic only (every ISO 4217
/// exponent is at most 4), because this runs for every amount of every BigCommerce document.
pub fn decimal_4(money: Money) -> String {
    use std::fmt::Write;
    let shift = 4u32.saturating_sub(money.currency.exponent());
    let scaled = i128::from(money.minor) * 10i128.pow(shift);
    let abs = scaled.unsigned_abs();
    let mut out = String::with_capacity(24);
    if scaled < 0 {
        out.push('-');
    }
    let _ = write!(out, "{}.{:04}", abs / 10_000, abs % 10_000);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn cur(c: &str) -> Currency {
        Currency::parse(c).unwrap()
    }

    #[test]
    fn scaled_amounts_convert_exactly() {
        let mut sub = SubMinor::default();
        let mut o = Obj::new(json!({"a": 150000, "b": "1234", "c": 150050}), "").unwrap();
        assert_eq!(
            read_scaled(&mut o, "a", 2, cur("JPY"), "a".into(), &mut sub)
                .unwrap()
                .unwrap()
                .minor,
            1500
        );
        assert_eq!(
            read_scaled(&mut o, "b", 2, cur("KWD"), "b".into(), &mut sub)
                .unwrap()
                .unwrap()
                .minor,
            12340
        );
        assert_eq!(
            read_scaled(&mut o, "c", 2, cur("JPY"), "c".into(), &mut sub)
                .unwrap()
                .unwrap()
                .minor,
            1500
        );
        assert_eq!(sub.0.len(), 1);
        assert_eq!(
            write_scaled(Money::new(12345, cur("KWD")), 2),
            (
                1234,
                Some("12.345 KWD needs 3 decimals; the wire carries 2".into())
            )
        );
    }

    #[test]
    fn decimals_parse_exactly() {
        let mut sub = SubMinor::default();
        let mut o = Obj::new(
            json!({"a": "225.0000", "b": 50, "c": "0.5213", "d": 12.5, "e": "1.123456"}),
            "",
        )
        .unwrap();
        let r = |m: Money| Value::String(decimal_4(m));
        assert_eq!(
            read_decimal(&mut o, "a", cur("USD"), "a".into(), &mut sub, r)
                .unwrap()
                .unwrap()
                .minor,
            22500
        );
        assert_eq!(
            read_decimal(&mut o, "b", cur("USD"), "b".into(), &mut sub, r)
                .unwrap()
                .unwrap()
                .minor,
            5000
        );
        assert_eq!(
            read_decimal(&mut o, "c", cur("USD"), "c".into(), &mut sub, r)
                .unwrap()
                .unwrap()
                .minor,
            52
        );
        assert_eq!(
            read_decimal(&mut o, "d", cur("USD"), "d".into(), &mut sub, r)
                .unwrap()
                .unwrap()
                .minor,
            1250
        );
        assert_eq!(
            read_decimal(&mut o, "e", cur("USD"), "e".into(), &mut sub, r)
                .unwrap_err()
                .pointer,
            "/e"
        );
        assert_eq!(sub.0, vec![("c".to_string(), Decimal::new(5213, 4))]);
        assert_eq!(decimal_4(Money::new(12345, cur("KWD"))), "12.3450");
        assert_eq!(decimal_4(Money::new(1500, cur("JPY"))), "1500.0000");
        assert_eq!(decimal_4(Money::new(-5, cur("USD"))), "-0.0500");
        assert_eq!(decimal_4(Money::new(0, cur("USD"))), "0.0000");
        assert_eq!(decimal_4(Money::new(123456, cur("CLF"))), "12.3456");
    }
}
