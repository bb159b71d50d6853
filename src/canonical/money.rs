//! Money as integer minor units of an ISO 4217 currency, and exact decimal conversion.
//!
//! No binary floating point is used anywhere: amounts travel as `i64` minor units, and wire decimals are parsed
//! with `rust_decimal`, which is exact for the up-to-28 significant digits any shop sends.

use std::fmt;
use std::str::FromStr;

pub use rust_decimal::Decimal;

/// An ISO 4217 alphabetic currency code, upper-case, with its minor-unit exponent (looked up once, at parse).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Currency {
    code: [u8; 3],
    exponent: u8,
}

impl serde::Serialize for Currency {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> serde::Deserialize<'de> for Currency {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let code = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        Currency::parse(&code).map_err(serde::de::Error::custom)
    }
}

/// Why a currency code or an amount was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MoneyError {
    #[error("currency code must be three letters A-Z, got {0:?}")]
    BadCurrency(String),
    #[error("{0:?} is not an ISO 4217 currency")]
    UnknownCurrency(String),
    #[error("{0:?} is not a decimal number")]
    NotADecimal(String),
    #[error("{value} has more decimal places than {currency} allows ({exponent})")]
    TooPrecise {
        value: String,
        currency: Currency,
        exponent: u32,
    },
    #[error("amount {0} is out of range")]
    OutOfRange(String),
}

/// ISO 4217 currencies with an exponent other than 2, and every active code we accept.
/// Exponent 0 and 3 lists follow ISO 4217 (2024 amendment); 4 covers the two unit-of-account codes.
const EXPONENT_0: &[&str] = &[
    "BIF", "CLP", "DJF", "GNF", "ISK", "JPY", "KMF", "KRW", "PYG", "RWF", "UGX", "UYI", "VND",
    "VUV", "XAF", "XOF", "XPF",
];
const EXPONENT_3: &[&str] = &["BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND"];
const EXPONENT_4: &[&str] = &["CLF", "UYW"];
const EXPONENT_2: &[&str] = &[
    "AED", "AFN", "ALL", "AMD", "ANG", "AOA", "ARS", "AUD", "AWG", "AZN", "BAM", "BBD", "BDT",
    "BGN", "BMD", "BND", "BOB", "BRL", "BSD", "BTN", "BWP", "BYN", "BZD", "CAD", "CDF", "CHF",
    "CNY", "COP", "CRC", "CUP", "CVE", "CZK", "DKK", "DOP", "DZD", "EGP", "ERN", "ETB", "EUR",
    "FJD", "FKP", "GBP", "GEL", "GHS", "GIP", "GMD", "GTQ", "GYD", "HKD", "HNL", "HTG", "HUF",
    "IDR", "ILS", "INR", "IRR", "JMD", "KES", "KGS", "KHR", "KPW", "KYD", "KZT", "LAK", "LBP",
    "LKR", "LRD", "LSL", "MAD", "MDL", "MGA", "MKD", "MMK", "MNT", "MOP", "MRU", "MUR", "MVR",
    "MWK", "MXN", "MYR", "MZN", "NAD", "NGN", "NIO", "NOK", "NPR", "NZD", "PAB", "PEN", "PGK",
    "PHP", "PKR", "PLN", "QAR", "RON", "RSD", "RUB", "SAR", "SBD", "SCR", "SDG", "SEK", "SGD",
    "SHP", "SLE", "SOS", "SRD", "SSP", "STN", "SVC", "SYP", "SZL", "THB", "TJS", "TMT", "TOP",
    "TRY", "TTD", "TWD", "TZS", "UAH", "USD", "UYU", "UZS", "VES", "WST", "XCD", "YER", "ZAR",
    "ZMW", "ZWG",
];

impl Currency {
    /// Parses a code, accepting only known ISO 4217 currencies.
    pub fn parse(code: &str) -> Result<Self, MoneyError> {
        let bytes = code.as_bytes();
        if bytes.len() != 3 || !bytes.iter().all(u8::is_ascii_uppercase) {
            return Err(MoneyError::BadCurrency(code.to_owned()));
        }
        let exponent = [
            (EXPONENT_0, 0),
            (EXPONENT_2, 2),
            (EXPONENT_3, 3),
            (EXPONENT_4, 4),
        ]
        .iter()
        // The lists are sorted (a test checks), and a stored order parses a currency per amount.
        .find(|(list, _)| list.binary_search(&code).is_ok())
        .map(|(_, e)| *e)
        .ok_or_else(|| MoneyError::UnknownCurrency(code.to_owned()))?;
        Ok(Currency {
            code: [bytes[0], bytes[1], bytes[2]],
            exponent,
        })
    }

    pub fn as_str(&self) -> &str {
        // The three bytes were checked to be ASCII upper-case letters on construction.
        std::str::from_utf8(&self.code).expect("currency bytes are ASCII")
    }

    /// Number of decimal places of the minor unit (JPY 0, USD 2, KWD 3).
    pub fn exponent(&self) -> u32 {
        u32::from(self.exponent)
    }

    /// Every currency this build knows, for generators and tests.
    pub fn all() -> impl Iterator<Item = Currency> {
        [EXPONENT_0, EXPONENT_2, EXPONENT_3, EXPONENT_4]
            .into_iter()
            .flat_map(|list| list.iter())
            .map(|code| Currency::parse(code).expect("built-in list holds valid codes"))
    }
}

impl fmt::Debug for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Largest magnitude of one stated amount, in minor units (10^12: ten billion dollars, a trillion yen). Keeps
/// every product of an amount and a quantity (≤ 10^6) inside `i64`.
pub const MAX_AMOUNT_MINOR: i64 = 1_000_000_000_000;

/// Largest magnitude of any order total or line total, in minor units (10^15).
pub const MAX_TOTAL_MINOR: i64 = 1_000_000_000_000_000;

/// Sum of signed parts that saturates instead of overflowing; callers bound the result (`MAX_TOTAL_MINOR`).
pub fn saturating_sum(parts: &[i64]) -> i64 {
    parts.iter().fold(0i64, |acc, p| acc.saturating_add(*p))
}

/// Saturating sum of amounts' minor units.
pub fn sum_minor<'a>(amounts: impl IntoIterator<Item = &'a Money>) -> i64 {
    amounts
        .into_iter()
        .fold(0i64, |acc, m| acc.saturating_add(m.minor))
}

/// An amount in minor units of its currency. Negative values are allowed (refunds, adjustments).
#[derive(Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct Money {
    pub minor: i64,
    pub currency: Currency,
}

impl fmt::Debug for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.to_decimal(), self.currency)
    }
}

impl Money {
    pub fn new(minor: i64, currency: Currency) -> Self {
        Money { minor, currency }
    }

    pub fn zero(currency: Currency) -> Self {
        Money { minor: 0, currency }
    }

    pub fn is_zero(&self) -> bool {
        self.minor == 0
    }

    /// The amount in major units, exact (`1250 USD` → `12.50`).
    pub fn to_decimal(&self) -> Decimal {
        Decimal::new(self.minor, self.currency.exponent())
    }

    /// Exact conversion from a major-unit decimal; more places than the currency allows is an error.
    pub fn from_decimal(value: Decimal, currency: Currency) -> Result<Self, MoneyError> {
        let exponent = currency.exponent();
        let minor = decimal_to_scaled(value, exponent).ok_or_else(|| {
            if value.normalize().scale() > exponent {
                MoneyError::TooPrecise {
                    value: value.to_string(),
                    currency,
                    exponent,
                }
            } else {
                MoneyError::OutOfRange(value.to_string())
            }
        })?;
        Ok(Money { minor, currency })
    }

    /// Parses a major-unit decimal string exactly (`"12.50"` → 1250 minor units of USD).
    pub fn parse_major(text: &str, currency: Currency) -> Result<Self, MoneyError> {
        Money::from_decimal(parse_decimal(text)?, currency)
    }

    pub fn checked_add(self, other: Money) -> Option<Money> {
        (self.currency == other.currency).then_some(())?;
        Some(Money::new(
            self.minor.checked_add(other.minor)?,
            self.currency,
        ))
    }

    pub fn checked_mul(self, factor: i64) -> Option<Money> {
        Some(Money::new(self.minor.checked_mul(factor)?, self.currency))
    }
}

/// Parses a plain decimal literal (`-12.3450`, `7`, `0.5`) exactly. Exponent notation, `NaN`, `inf`, blanks,
/// a leading `+` and more than 28 significant digits are refused.
pub fn parse_decimal(text: &str) -> Result<Decimal, MoneyError> {
    let body = text.strip_prefix('-').unwrap_or(text);
    let mut parts = body.splitn(2, '.');
    let int_part = parts.next().unwrap_or("");
    let frac_part = parts.next();
    let digits_ok = !int_part.is_empty()
        && int_part.bytes().all(|b| b.is_ascii_digit())
        && frac_part.is_none_or(|f| !f.is_empty() && f.bytes().all(|b| b.is_ascii_digit()));
    if !digits_ok {
        return Err(MoneyError::NotADecimal(text.to_owned()));
    }
    Decimal::from_str(text).map_err(|_| MoneyError::OutOfRange(text.to_owned()))
}

/// `value × 10^places` as an integer, or `None` when that is not integral or does not fit in `i64`.
pub fn decimal_to_scaled(value: Decimal, places: u32) -> Option<i64> {
    let normalized = value.normalize();
    if normalized.scale() > places {
        return None;
    }
    let shift = places - normalized.scale();
    let mantissa = normalized.mantissa();
    let scaled = mantissa.checked_mul(10i128.checked_pow(shift)?)?;
    i64::try_from(scaled).ok()
}

/// Rescales an integer between two decimal exponents: `Ok` when exact, `Err(rounded half-even)` when the target
/// scale cannot hold the value exactly. Callers report the `Err` case as a loss.
pub fn rescale(value: i64, from_places: u32, to_places: u32) -> Result<i64, i64> {
    if to_places >= from_places {
        let factor = 10i64.pow(to_places - from_places);
        return value.checked_mul(factor).ok_or(i64::MAX);
    }
    let divisor = 10i64.pow(from_places - to_places);
    let quotient = value.div_euclid(divisor);
    let remainder = value.rem_euclid(divisor);
    if remainder == 0 {
        return Ok(quotient);
    }
    let twice = remainder * 2;
    let rounded = if twice > divisor || (twice == divisor && quotient % 2 != 0) {
        quotient + 1
    } else {
        quotient
    };
    Err(rounded)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exponent_lists_are_sorted_and_disjoint_so_every_code_is_found_once() {
        let lists = [EXPONENT_0, EXPONENT_2, EXPONENT_3, EXPONENT_4];
        for list in lists {
            assert!(list.windows(2).all(|w| w[0] < w[1]), "{list:?}");
        }
        for (e, list) in [
            (0, EXPONENT_0),
            (2, EXPONENT_2),
            (3, EXPONENT_3),
            (4, EXPONENT_4),
        ] {
            for code in list {
                assert_eq!(Currency::parse(code).unwrap().exponent(), e, "{code}");
                assert_eq!(
                    lists.iter().filter(|l| l.contains(code)).count(),
                    1,
                    "{code}"
                );
            }
        }
    }

    fn usd() -> Currency {
        Currency::parse("USD").unwrap()
    }

    #[test]
    fn exponents_follow_iso_4217() {
        for (code, exp) in [
            ("JPY", 0),
            ("USD", 2),
            ("EUR", 2),
            ("HUF", 2),
            ("KWD", 3),
            ("CLF", 4),
        ] {
            assert_eq!(Currency::parse(code).unwrap().exponent(), exp, "{code}");
        }
    }

    #[test]
    fn currency_codes_are_validated() {
        assert!(matches!(
            Currency::parse("usd"),
            Err(MoneyError::BadCurrency(_))
        ));
        assert!(matches!(
            Currency::parse("XYZ"),
            Err(MoneyError::UnknownCurrency(_))
        ));
        assert!(matches!(
            Currency::parse("US"),
            Err(MoneyError::BadCurrency(_))
        ));
    }

    #[test]
    fn parse_major_is_exact_or_refuses() {
        assert_eq!(Money::parse_major("12.50", usd()).unwrap().minor, 1250);
        assert_eq!(Money::parse_major("12.5000", usd()).unwrap().minor, 1250);
        assert_eq!(Money::parse_major("-0.01", usd()).unwrap().minor, -1);
        assert!(matches!(
            Money::parse_major("0.5213", usd()),
            Err(MoneyError::TooPrecise { .. })
        ));
        let jpy = Currency::parse("JPY").unwrap();
        assert_eq!(Money::parse_major("1500.0000", jpy).unwrap().minor, 1500);
        assert!(Money::parse_major("1500.5", jpy).is_err());
        for bad in ["", "1e3", "NaN", "inf", "+1", "1.", ".5", "1,5", " 1"] {
            assert!(parse_decimal(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn rescale_reports_inexact_with_half_even_rounding() {
        assert_eq!(rescale(1234, 3, 2), Err(123));
        assert_eq!(rescale(1235, 3, 2), Err(124));
        assert_eq!(rescale(1245, 3, 2), Err(124));
        assert_eq!(rescale(1240, 3, 2), Ok(124));
        assert_eq!(rescale(-1235, 3, 2), Err(-124));
        assert_eq!(rescale(15, 0, 2), Ok(1500));
    }

    #[test]
    fn to_decimal_keeps_the_exponent() {
        let kwd = Currency::parse("KWD").unwrap();
        assert_eq!(Money::new(12345, kwd).to_decimal().to_string(), "12.345");
        assert_eq!(Money::new(-5, usd()).to_decimal().to_string(), "-0.05");
    }
}
