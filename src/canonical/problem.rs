//! `Problem`: the canonical error every layer ends in, rendered by each dialect in its own error shape.

use std::fmt;

/// The closed vocabulary of problems ordermux reports. Each dialect's `errors.toml` says how to render each kind
/// (HTTP status, native code, title).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ProblemKind {
    EmptyBody,
    MalformedJson,
    InvalidEncoding,
    TooDeep,
    DuplicateKey,
    InvalidNumber,
    InvalidMoney,
    InvalidQuantity,
    InvalidCurrency,
    InvalidDate,
    InvalidStatus,
    InvalidField,
    TooManyItems,
    FieldTooLong,
    MissingField,
    UnknownDocument,
    TypeConflict,
    UnsupportedPrecision,
    Unauthorized,
    InvalidToken,
    /// A bearer token ordermux issued whose lifetime is over: rendered as an invalid token (clients refresh on
    /// it), and not counted as a failed authentication (it was no guess).
    TokenExpired,
    Forbidden,
    ClientIdUnsupported,
    NotFound,
    MethodNotAllowed,
    NotAcceptable,
    RequestTimeout,
    Conflict,
    IdempotencyInFlight,
    /// An earlier attempt with this Idempotency-Key stopped after it took effect, and its answer is lost; the
    /// operation cannot rebuild it (an order create can: it answers with the order written).
    IdempotencyInterrupted,
    BodyTooLarge,
    UnsupportedMediaType,
    /// A request head the gateway will not serve: an ambiguous header name, a missing or doubled `Host`.
    InvalidHeader,
    /// Headers larger together than the gateway reads.
    HeadersTooLarge,
    /// A transfer coding other than chunked, which the gateway cannot undo.
    NotImplemented,
    InvalidParameter,
    IdempotencyKeyInvalid,
    IdempotencyKeyReused,
    InvalidTransition,
    ForbiddenField,
    Internal,
    /// The caller sent more than it may (its request budget, or failed authentications from its address).
    TooManyRequests,
    Unavailable,
    BadGateway,
    GatewayTimeout,
}

impl ProblemKind {
    pub const ALL: &'static [ProblemKind] = &[
        ProblemKind::EmptyBody,
        ProblemKind::MalformedJson,
        ProblemKind::InvalidEncoding,
        ProblemKind::TooDeep,
        ProblemKind::DuplicateKey,
        ProblemKind::InvalidNumber,
        ProblemKind::InvalidMoney,
        ProblemKind::InvalidQuantity,
        ProblemKind::InvalidCurrency,
        ProblemKind::InvalidDate,
        ProblemKind::InvalidStatus,
        ProblemKind::InvalidField,
        ProblemKind::TooManyItems,
        ProblemKind::FieldTooLong,
        ProblemKind::MissingField,
        ProblemKind::UnknownDocument,
        ProblemKind::TypeConflict,
        ProblemKind::UnsupportedPrecision,
        ProblemKind::Unauthorized,
        ProblemKind::InvalidToken,
        ProblemKind::TokenExpired,
        ProblemKind::Forbidden,
        ProblemKind::ClientIdUnsupported,
        ProblemKind::NotFound,
        ProblemKind::MethodNotAllowed,
        ProblemKind::NotAcceptable,
        ProblemKind::RequestTimeout,
        ProblemKind::Conflict,
        ProblemKind::IdempotencyInFlight,
        ProblemKind::IdempotencyInterrupted,
        ProblemKind::BodyTooLarge,
        ProblemKind::UnsupportedMediaType,
        ProblemKind::InvalidHeader,
        ProblemKind::HeadersTooLarge,
        ProblemKind::NotImplemented,
        ProblemKind::InvalidParameter,
        ProblemKind::IdempotencyKeyInvalid,
        ProblemKind::IdempotencyKeyReused,
        ProblemKind::InvalidTransition,
        ProblemKind::ForbiddenField,
        ProblemKind::Internal,
        ProblemKind::TooManyRequests,
        ProblemKind::Unavailable,
        ProblemKind::BadGateway,
        ProblemKind::GatewayTimeout,
    ];

    /// The snake_case key used in `errors.toml`.
    pub fn key(self) -> &'static str {
        match self {
            ProblemKind::EmptyBody => "empty_body",
            ProblemKind::MalformedJson => "malformed_json",
            ProblemKind::InvalidEncoding => "invalid_encoding",
            ProblemKind::TooDeep => "too_deep",
            ProblemKind::DuplicateKey => "duplicate_key",
            ProblemKind::InvalidNumber => "invalid_number",
            ProblemKind::InvalidMoney => "invalid_money",
            ProblemKind::InvalidQuantity => "invalid_quantity",
            ProblemKind::InvalidCurrency => "invalid_currency",
            ProblemKind::InvalidDate => "invalid_date",
            ProblemKind::InvalidStatus => "invalid_status",
            ProblemKind::InvalidField => "invalid_field",
            ProblemKind::TooManyItems => "too_many_items",
            ProblemKind::FieldTooLong => "field_too_long",
            ProblemKind::MissingField => "missing_field",
            ProblemKind::UnknownDocument => "unknown_document",
            ProblemKind::TypeConflict => "type_conflict",
            ProblemKind::UnsupportedPrecision => "unsupported_currency_precision",
            ProblemKind::Unauthorized => "unauthorized",
            ProblemKind::InvalidToken => "invalid_token",
            ProblemKind::TokenExpired => "token_expired",
            ProblemKind::Forbidden => "forbidden",
            ProblemKind::ClientIdUnsupported => "client_id_unsupported",
            ProblemKind::NotFound => "not_found",
            ProblemKind::MethodNotAllowed => "method_not_allowed",
            ProblemKind::NotAcceptable => "not_acceptable",
            ProblemKind::RequestTimeout => "request_timeout",
            ProblemKind::Conflict => "conflict",
            ProblemKind::IdempotencyInFlight => "idem_in_flight",
            ProblemKind::IdempotencyInterrupted => "idem_interrupted",
            ProblemKind::BodyTooLarge => "body_too_large",
            ProblemKind::UnsupportedMediaType => "media_type",
            ProblemKind::InvalidHeader => "invalid_header",
            ProblemKind::HeadersTooLarge => "headers_too_large",
            ProblemKind::NotImplemented => "not_implemented",
            ProblemKind::InvalidParameter => "invalid_parameter",
            ProblemKind::IdempotencyKeyInvalid => "idem_key_invalid",
            ProblemKind::IdempotencyKeyReused => "idem_key_reused",
            ProblemKind::InvalidTransition => "invalid_transition",
            ProblemKind::ForbiddenField => "forbidden_field",
            ProblemKind::Internal => "internal_error",
            ProblemKind::TooManyRequests => "too_many_requests",
            ProblemKind::Unavailable => "unavailable",
            ProblemKind::BadGateway => "bad_gateway",
            ProblemKind::GatewayTimeout => "gateway_timeout",
        }
    }
}

impl ProblemKind {
    /// Whether the problem lies in the request's document (its syntax or its values), so that one without a more
    /// precise pointer is about the whole document; the others (credentials, routes, limits, state, the upstream)
    /// are about no part of it.
    pub fn is_in_document(self) -> bool {
        matches!(
            self,
            ProblemKind::EmptyBody
                | ProblemKind::MalformedJson
                | ProblemKind::InvalidEncoding
                | ProblemKind::TooDeep
                | ProblemKind::DuplicateKey
                | ProblemKind::InvalidNumber
                | ProblemKind::InvalidMoney
                | ProblemKind::InvalidQuantity
                | ProblemKind::InvalidCurrency
                | ProblemKind::InvalidDate
                | ProblemKind::InvalidStatus
                | ProblemKind::InvalidField
                | ProblemKind::TooManyItems
                | ProblemKind::FieldTooLong
                | ProblemKind::MissingField
                | ProblemKind::UnknownDocument
                | ProblemKind::TypeConflict
                | ProblemKind::UnsupportedPrecision
                | ProblemKind::ClientIdUnsupported
                | ProblemKind::BodyTooLarge
                | ProblemKind::ForbiddenField
        )
    }
}

impl fmt::Display for ProblemKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.key())
    }
}

/// A problem with the JSON pointer (RFC 6901, `""` = whole document) of the offending input and a reason.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{pointer_display}: {reason}", pointer_display = if self.pointer.is_empty() { "/" } else { &self.pointer })]
pub struct Problem {
    pub kind: ProblemKind,
    pub pointer: String,
    pub reason: String,
    /// Seconds after which a retry may succeed (an open circuit breaker, an upstream's rate limit); rendered as
    /// `Retry-After`.
    pub retry_after: Option<u64>,
    /// For a method the resource does not answer: the methods it does (`GET, PUT`), rendered as `Allow`.
    pub allow: Option<String>,
    /// The URL query parameter at fault, when the input is the query rather than a document (`pointer` is then
    /// empty): JSON:API names it in `source.parameter`, WordPress REST in `data.params`.
    pub parameter: Option<Box<str>>,
}

impl Problem {
    /// The sentence to show a person: the reason, prefixed with the pointer when there is one.
    pub fn message(&self) -> String {
        if self.pointer.is_empty() {
            self.reason.clone()
        } else {
            self.to_string()
        }
    }

    /// A problem at `pointer`. A payment card number the reason quotes (a caller's value echoed back) is masked
    /// (`mask_card_numbers`), so no error body, log line or report carries one.
    pub fn new(kind: ProblemKind, pointer: impl Into<String>, reason: impl Into<String>) -> Self {
        Problem {
            kind,
            pointer: pointer.into(),
            reason: mask_card_numbers(reason.into()),
            retry_after: None,
            allow: None,
            parameter: None,
        }
    }

    /// A problem with the URL query parameter `name`.
    pub fn in_parameter(kind: ProblemKind, name: &str, reason: impl Into<String>) -> Self {
        Problem {
            parameter: Some(name.into()),
            ..Problem::new(kind, "", reason)
        }
    }

    pub fn with_retry_after(mut self, secs: u64) -> Self {
        self.retry_after = Some(secs);
        self
    }
}

/// Replaces each payment card number in `text` (13 to 19 digits, written together or in groups split by single
/// spaces or dashes, that pass the Luhn check) with a mask that keeps its last four digits, as PCI DSS allows to
/// be shown. Error messages quote the value they refuse, which helps a caller find its mistake, but a card number
/// sent in the wrong field must not come back in an error body, which clients and proxies log (reliability plan
/// §7.2).
pub fn mask_card_numbers(text: String) -> String {
    let bytes = text.as_bytes();
    if bytes.iter().filter(|b| b.is_ascii_digit()).count() < 13 {
        return text;
    }
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let starts_run = bytes[i].is_ascii_digit() && (i == 0 || !bytes[i - 1].is_ascii_digit());
        if !starts_run {
            out.push(bytes[i]);
            i += 1;
            continue;
        }
        // The run: digits, with a single space or dash allowed between two of them.
        let mut end = i;
        let mut digits = Vec::new();
        while end < bytes.len() {
            if bytes[end].is_ascii_digit() {
                digits.push(bytes[end] - b'0');
                end += 1;
            } else if matches!(bytes[end], b' ' | b'-')
                && bytes.get(end + 1).is_some_and(u8::is_ascii_digit)
            {
                end += 1;
            } else {
                break;
            }
        }
        if (13..=19).contains(&digits.len()) && passes_luhn(&digits) {
            out.extend_from_slice(b"[card number ending ");
            out.extend(digits[digits.len() - 4..].iter().map(|d| b'0' + d));
            out.push(b']');
        } else {
            out.extend_from_slice(&bytes[i..end]);
        }
        i = end;
    }
    // Only ASCII runs were replaced, with ASCII.
    String::from_utf8(out).unwrap_or(text)
}

fn passes_luhn(digits: &[u8]) -> bool {
    let sum: u32 = digits
        .iter()
        .rev()
        .enumerate()
        .map(|(i, &d)| {
            let d = u32::from(d);
            if i % 2 == 1 {
                let twice = d * 2;
                if twice > 9 {
                    twice - 9
                } else {
                    twice
                }
            } else {
                d
            }
        })
        .sum();
    sum % 10 == 0
}

#[cfg(test)]
mod card_number_tests {
    use super::*;

    #[test]
    fn card_numbers_in_reasons_are_masked_to_their_last_four_digits() {
        let masked = |s: &str| mask_card_numbers(s.to_owned());
        assert_eq!(
            masked(r#"/billing_address/email: "4111111111111111" is not an email address"#),
            r#"/billing_address/email: "[card number ending 1111]" is not an email address"#
        );
        assert_eq!(
            masked("card 4111 1111 1111 1111, or 5500-0000-0000-0004 ünd 378282246310005"),
            "card [card number ending 1111], or [card number ending 0004] ünd [card number ending 0005]"
        );
        // Not cards: too short, too long, failing the check, or split by more than one separator.
        for kept in [
            "order 411111111111 of 12 items",
            "id 41111111111111111111111",
            "4111111111111112",
            "4111  1111 1111 1111",
            "amount 1234567890123 USD",
            "",
            "ïdée 0",
        ] {
            assert_eq!(masked(kept), kept);
        }
        assert!(
            Problem::new(ProblemKind::InvalidField, "/a", "got 4111111111111111")
                .message()
                .ends_with("got [card number ending 1111]")
        );
    }
}
