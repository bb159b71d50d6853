//! Commerce Layer amount triples.

use serde_json::Value;

use crate::canonical::money::{parse_decimal, rescale};
use crate::canonical::{Currency, Decimal, Money, Problem, ProblemKind};
use crate::dialects::json::{describe, integer_value, Obj};
use crate::dialects::tables::{self, SymbolPosition};

/// Decimal places of Commerce Layer's `*_cents` for `currency`: ISO 4217, with the documented overrides (HUF 0).
pub fn cents_exponent(currency: Currency) -> u32 {
    tables::get()
        .commercelayer_exponent_overrides
        .get(currency.as_str())
        .copied()
        .unwrap_or_else(|| currency.exponent())
}

/// `formatted_*` spelling of an amount, per `dialects/commercelayer/formats.toml`.
pub fn format_amount(money: Money) -> String {
    let places = cents_exponent(money.currency);
    format_wire(wire_amount(money, places), places, money.currency)
}

/// The amount as Commerce Layer states it in `*_cents` (rounded half-even where HUF fillér cannot be stated).
fn wire_amount(money: Money, places: u32) -> i64 {
    rescale(money.minor, money.currency.exponent(), places).unwrap_or_else(|r| r)
}

/// The decimal digits of `n` in `buf`, most significant first.
fn digits(n: u64, buf: &mut [u8; 20]) -> &[u8] {
    let (mut n, mut at) = (n, buf.len());
    loop {
        at -= 1;
        buf[at] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            return &buf[at..];
        }
    }
}

/// `wire` at `places` decimals as (integer digits, fraction digits), with at least one integer digit (`5` at 2
/// places is `0` and `05`). Written into `buf`: every triple of every Commerce Layer document goes through here, and
/// one allocation per amount is what the formatting used to cost several of.
fn split_digits(wire: i64, places: u32, buf: &mut [u8; 40]) -> (&[u8], &[u8]) {
    let mut raw = [0u8; 20];
    let raw = digits(wire.unsigned_abs(), &mut raw);
    let places = places as usize;
    let zeros = (places + 1).saturating_sub(raw.len());
    let total = zeros + raw.len();
    buf[..zeros].fill(b'0');
    buf[zeros..total].copy_from_slice(raw);
    buf[..total].split_at(total - places)
}

fn format_wire(wire: i64, places: u32, currency: Currency) -> String {
    let fmt = tables::get().commercelayer_formats.get(currency.as_str());
    let (thousands, decimal) = fmt
        .map(|f| (f.thousands.as_str(), f.decimal.as_str()))
        .unwrap_or((",", "."));
    let mut buf = [0u8; 40];
    let (int_part, frac_part) = split_digits(wire, places, &mut buf);
    let symbol = fmt.map_or(currency.as_str(), |f| f.symbol.as_str());
    let mut out = String::with_capacity(int_part.len() * 2 + frac_part.len() + symbol.len() + 4);
    if wire < 0 {
        out.push('-');
    }
    let before = fmt.is_none_or(|f| f.position == SymbolPosition::Before);
    // Unknown currencies are written `USD 12.50`.
    let space = fmt.is_none_or(|f| f.space);
    if before {
        out.push_str(symbol);
        if space {
            out.push(' ');
        }
    }
    for (i, d) in int_part.iter().enumerate() {
        if i > 0 && (int_part.len() - i) % 3 == 0 {
            out.push_str(thousands);
        }
        out.push(char::from(*d));
    }
    if !frac_part.is_empty() {
        out.push_str(decimal);
        frac_part.iter().for_each(|d| out.push(char::from(*d)));
    }
    if !before {
        if space {
            out.push(' ');
        }
        out.push_str(symbol);
    }
    out
}

/// The `*_float` member for an amount: a JSON number with the exact decimal value.
pub fn float_value(money: Money) -> Value {
    let places = cents_exponent(money.currency);
    float_wire(wire_amount(money, places), places)
}

fn float_wire(wire: i64, places: u32) -> Value {
    // Always a JSON number with a fraction, as Commerce Layer writes it (`1500.0`, `12.5`): the exact decimal
    // spelled out, trailing zeros of the fraction dropped, and read as a JSON number (never computed as a float).
    let mut buf = [0u8; 40];
    let (int_part, frac_part) = split_digits(wire, places, &mut buf);
    let frac_part = match frac_part.iter().rposition(|d| *d != b'0') {
        Some(last) => &frac_part[..=last],
        None => b"0",
    };
    let mut text = String::with_capacity(int_part.len() + frac_part.len() + 2);
    if wire < 0 {
        text.push('-');
    }
    int_part.iter().for_each(|d| text.push(char::from(*d)));
    text.push('.');
    frac_part.iter().for_each(|d| text.push(char::from(*d)));
    text.parse::<serde_json::Number>()
        .map(Value::Number)
        .unwrap_or(Value::Null)
}

/// Reads the triple `<stem>_cents` / `<stem>_float` / `formatted_<stem>` (or a custom formatted key). The cents
/// are the amount; the float must state the same value; the formatted spelling is kept as received.
pub fn read_triple(
    attrs: &mut Obj,
    cents_key: &str,
    float_key: &str,
    formatted_key: &str,
    currency: Currency,
) -> Result<Option<Money>, Problem> {
    let Some(v) = attrs.raw(cents_key) else {
        // A float or formatted without cents cannot be trusted as an amount; keep them verbatim.
        return Ok(None);
    };
    let wire = integer_value(&v).filter(|_| v.is_number()).ok_or_else(|| {
        Problem::new(
            ProblemKind::InvalidMoney,
            attrs.pointer(cents_key),
            format!("expected integer cents, found {}", describe(&v)),
        )
    })?;
    let places = cents_exponent(currency);
    let minor = rescale(wire, places, currency.exponent()).map_err(|_| {
        Problem::new(
            ProblemKind::InvalidMoney,
            attrs.pointer(cents_key),
            "amount out of range",
        )
    })?;
    crate::dialects::wire_money::check_magnitude(attrs, cents_key, minor)?;
    let money = Money::new(minor, currency);
    attrs.echo(cents_key, v, Value::from(wire));
    if let Some(f) = attrs.raw(float_key) {
        let stated = match &f {
            Value::Number(n) => parse_decimal(&n.to_string()).ok(),
            _ => None,
        };
        let expected = Decimal::new(wire, places);
        if stated.map(|s| s.normalize()) != Some(expected.normalize()) {
            return Err(Problem::new(
                ProblemKind::InvalidMoney,
                attrs.pointer(float_key),
                format!(
                    "{} disagrees with {cents_key} {wire} ({expected})",
                    describe(&f)
                ),
            ));
        }
        attrs.echo(float_key, f, float_value(money));
    }
    if let Some(s) = attrs.raw(formatted_key) {
        attrs.echo(formatted_key, s, Value::String(format_amount(money)));
    }
    Ok(Some(money))
}

/// Writes a triple into `attrs`.
pub fn write_triple(attrs: &mut serde_json::Map<String, Value>, stem: &str, money: Money) {
    let places = cents_exponent(money.currency);
    let wire = wire_amount(money, places);
    let key = |prefix: &str, suffix: &str| {
        let mut k = String::with_capacity(prefix.len() + stem.len() + suffix.len());
        k.push_str(prefix);
        k.push_str(stem);
        k.push_str(suffix);
        k
    };
    attrs.insert(key("", "_cents"), Value::from(wire));
    attrs.insert(key("", "_float"), float_wire(wire, places));
    attrs.insert(
        key("formatted_", ""),
        Value::String(format_wire(wire, places, money.currency)),
    );
}

/// Records that a triple was stated as `stated` while the encoder derives `derived`, so the stated triple is
/// replayed for as long as the canonical order still derives the same value.
pub fn echo_triple(
    attrs: &mut Obj,
    stem_cents: &str,
    stem_float: &str,
    formatted: &str,
    stated: Money,
    derived: Money,
) {
    if stated == derived {
        return;
    }
    let wire = |m: Money| {
        rescale(m.minor, m.currency.exponent(), cents_exponent(m.currency)).unwrap_or_else(|r| r)
    };
    attrs.echo(
        stem_cents,
        Value::from(wire(stated)),
        Value::from(wire(derived)),
    );
    attrs.echo(stem_float, float_value(stated), float_value(derived));
    attrs.echo(
        formatted,
        Value::String(format_amount(stated)),
        Value::String(format_amount(derived)),
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(minor: i64, c: &str) -> Money {
        Money::new(minor, Currency::parse(c).unwrap())
    }

    #[test]
    fn formats_follow_the_table() {
        assert_eq!(format_amount(m(123450, "USD")), "$1,234.50");
        assert_eq!(format_amount(m(123450, "EUR")), "€1.234,50");
        assert_eq!(format_amount(m(-500, "EUR")), "-€5,00");
        assert_eq!(format_amount(m(1500, "JPY")), "¥1,500");
        assert_eq!(format_amount(m(12345, "KWD")), "KWD 12.345");
        assert_eq!(format_amount(m(150000, "HUF")), "1 500 Ft");
        assert_eq!(format_amount(m(5, "USD")), "$0.05");
        assert_eq!(format_amount(m(0, "USD")), "$0.00");
        assert_eq!(format_amount(m(-123456789, "USD")), "-$1,234,567.89");
        assert_eq!(
            format_amount(m(1250, "NZD")),
            "NZD 12.50",
            "not in the table"
        );
        assert_eq!(
            format_amount(m(i64::MIN, "JPY")),
            "-¥9,223,372,036,854,775,808"
        );
    }

    #[test]
    fn floats_are_the_exact_decimal_with_a_fraction() {
        for (minor, c, float) in [
            (0, "USD", "0.0"),
            (-5, "USD", "-0.05"),
            (1500, "USD", "15.0"),
            (123456789, "USD", "1234567.89"),
            (12340, "KWD", "12.34"),
            (1500, "JPY", "1500.0"),
        ] {
            assert_eq!(
                serde_json::to_string(&float_value(m(minor, c))).unwrap(),
                float,
                "{minor} {c}"
            );
        }
    }

    #[test]
    fn huf_cents_are_unscaled() {
        let huf = Currency::parse("HUF").unwrap();
        assert_eq!(cents_exponent(huf), 0);
        assert_eq!(float_value(m(150000, "HUF")), serde_json::json!(1500.0));
        assert_eq!(float_value(m(1250, "USD")), serde_json::json!(12.5));
    }
}
