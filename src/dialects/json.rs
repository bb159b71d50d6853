//! JSON plumbing shared by the three codecs: strict parsing, a pointer-tracking object reader that keeps what it
//! does not map, and the writer-side replay of kept members (`apply_ext`).

use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::Value;

use crate::canonical::{Echo, Ext, JsonMap, Platform, PlatformExt, Problem, ProblemKind};

/// Largest document the codecs accept; the gateway enforces the same limit on bodies.
pub const MAX_DOCUMENT_BYTES: usize = 1 << 20;
/// Longest string accepted in any member.
pub const MAX_STRING_CHARS: usize = 65_536;
/// Most array elements accepted in any member (line items, addresses…).
pub const MAX_ARRAY_LEN: usize = 10_000;
/// Deepest nesting of arrays and objects accepted (reliability.md §2). Real order documents stay under 10.
pub const MAX_DEPTH: usize = 32;

/// Parses a document: UTF-8 without BOM, one JSON value, no duplicate keys, nesting ≤ `MAX_DEPTH`.
pub fn parse_document(bytes: &[u8]) -> Result<Value, Problem> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(Problem::new(
            ProblemKind::EmptyBody,
            "",
            "the document is empty",
        ));
    }
    if bytes.len() > MAX_DOCUMENT_BYTES {
        return Err(Problem::new(
            ProblemKind::FieldTooLong,
            "",
            format!("the document is larger than {MAX_DOCUMENT_BYTES} bytes"),
        ));
    }
    if bytes.starts_with(&[0xEF, 0xBB, 0xBF]) {
        return Err(Problem::new(
            ProblemKind::InvalidEncoding,
            "",
            "the document starts with a UTF-8 byte order mark",
        ));
    }
    let text = std::str::from_utf8(bytes).map_err(|e| {
        Problem::new(
            ProblemKind::InvalidEncoding,
            "",
            format!("the document is not UTF-8: {e}"),
        )
    })?;
    let mut de = serde_json::Deserializer::from_str(text);
    let value = StrictValue { depth: 0 }
        .deserialize(&mut de)
        .map_err(classify_parse_error)?;
    de.end().map_err(classify_parse_error)?;
    Ok(value)
}

/// How the visitor says a document nests too deep (told apart from serde_json's own errors by this text).
const TOO_DEEP: &str = "nesting too deep";

fn classify_parse_error(e: serde_json::Error) -> Problem {
    let msg = e.to_string();
    if msg.starts_with(TOO_DEEP) || msg.contains("recursion limit") {
        return Problem::new(
            ProblemKind::TooDeep,
            "",
            format!("the document nests arrays and objects more than {MAX_DEPTH} deep"),
        );
    }
    let kind = if msg.starts_with("duplicate key") {
        ProblemKind::DuplicateKey
    } else if msg.contains("lone leading surrogate") || msg.contains("unexpected end of hex escape")
    {
        ProblemKind::InvalidEncoding
    } else if msg.contains("number out of range") {
        ProblemKind::InvalidNumber
    } else {
        ProblemKind::MalformedJson
    };
    Problem::new(kind, "", msg)
}

/// Parses a `serde_json::Value` that refuses duplicate object keys instead of keeping the last one, and nesting
/// deeper than `MAX_DEPTH`, counted as it parses: the refusal comes 32 levels in, well before serde_json's own
/// recursion limit (128) that keeps the stack safe, so no separate scan of the bytes is needed first.
#[derive(Clone, Copy)]
struct StrictValue {
    /// Arrays and objects around the value.
    depth: usize,
}

impl<'de> DeserializeSeed<'de> for StrictValue {
    type Value = Value;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        deserializer.deserialize_any(StrictVisitor { depth: self.depth })
    }
}

struct StrictVisitor {
    depth: usize,
}

impl StrictVisitor {
    /// The seed for a member of the array or object being visited.
    fn inner<E: de::Error>(&self) -> Result<StrictValue, E> {
        if self.depth >= MAX_DEPTH {
            return Err(E::custom(TOO_DEEP));
        }
        Ok(StrictValue {
            depth: self.depth + 1,
        })
    }
}

impl<'de> Visitor<'de> for StrictVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    #[allow(clippy::disallowed_types)] // JSON numbers with a fraction arrive as f64; money never reads them as such.
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Value, E> {
        serde_json::Number::from_f64(v)
            .map(Value::Number)
            .ok_or_else(|| E::custom("number out of range"))
    }
    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }
    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }
    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let inner = self.inner()?;
        let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(64));
        while let Some(v) = seq.next_element_seed(inner)? {
            out.push(v);
        }
        Ok(Value::Array(out))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let inner = self.inner()?;
        let mut members = Vec::new();
        while let Some(key) = map.next_key::<String>()? {
            members.push((key, map.next_value_seed(inner)?));
        }
        // Sorted once, duplicates are neighbours, and the map is built from sorted members in one pass: cheaper
        // than inserting member by member, which searches the tree and splits its nodes as it grows.
        members.sort_unstable_by(|a: &(String, Value), b| a.0.cmp(&b.0));
        if let Some(pair) = members.windows(2).find(|pair| pair[0].0 == pair[1].0) {
            return Err(de::Error::custom(format_args!(
                "duplicate key {:?}",
                pair[0].0
            )));
        }
        Ok(Value::Object(members.into_iter().collect()))
    }
}

/// Escapes one RFC 6901 reference token.
pub fn escape_token(token: &str) -> String {
    if token.contains(['~', '/']) {
        token.replace('~', "~0").replace('/', "~1")
    } else {
        token.to_owned()
    }
}

pub fn join_pointer(base: &str, token: &str) -> String {
    let mut out = String::with_capacity(base.len() + token.len() + 1);
    out.push_str(base);
    out.push('/');
    out.push_str(&escape_token(token));
    out
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Reads one JSON object member by member. Every error names the member's absolute pointer; members left unread
/// become the owner's `extra`, and non-canonical spellings become echoes relative to the owner.
pub struct Obj {
    map: JsonMap,
    /// Absolute pointer of this object in the document (for errors).
    abs: String,
    /// Pointer of this object relative to the canonical object that owns the extensions.
    rel: String,
    echoes: Vec<Echo>,
}

impl Obj {
    /// Starts reading `value`, which must be an object, at absolute pointer `abs`. The object owns its extensions.
    pub fn new(value: Value, abs: impl Into<String>) -> Result<Obj, Problem> {
        let abs = abs.into();
        match value {
            Value::Object(map) => Ok(Obj {
                map,
                abs,
                rel: String::new(),
                echoes: Vec::new(),
            }),
            other => Err(Problem::new(
                ProblemKind::InvalidField,
                abs,
                format!("expected an object, found {}", type_name(&other)),
            )),
        }
    }

    pub fn pointer(&self, key: &str) -> String {
        join_pointer(&self.abs, key)
    }

    pub fn base_pointer(&self) -> &str {
        &self.abs
    }

    pub fn has(&self, key: &str) -> bool {
        self.map.get(key).is_some_and(|v| !v.is_null())
    }

    pub fn peek(&self, key: &str) -> Option<&Value> {
        self.map.get(key)
    }

    /// Removes a member. A JSON `null` reads as absent and is remembered so it is written back as `null`.
    pub fn take(&mut self, key: &str) -> Option<Value> {
        match self.map.remove(key)? {
            Value::Null => {
                self.echo_raw(key, Value::Null, Value::Null);
                None
            }
            v => Some(v),
        }
    }

    /// Records that member `key` (a relative pointer token path such as `"meta/phone"` is allowed) arrived as
    /// `received` while the codec renders `rendered`. No-op when they are equal.
    pub fn echo(&mut self, key: &str, received: Value, rendered: Value) {
        if received != rendered {
            self.echo_raw(key, received, rendered);
        }
    }

    /// Records that member `key` was absent while the codec renders `rendered` for it.
    pub fn echo_absent(&mut self, key: &str, rendered: Value) {
        self.echoes.push(Echo {
            pointer: join_pointer(&self.rel, key),
            received: None,
            rendered,
        });
    }

    fn echo_raw(&mut self, key: &str, received: Value, rendered: Value) {
        self.echoes.push(Echo {
            pointer: join_pointer(&self.rel, key),
            received: Some(received),
            rendered,
        });
    }

    fn bad(&self, key: &str, kind: ProblemKind, reason: impl Into<String>) -> Problem {
        Problem::new(kind, self.pointer(key), reason)
    }

    pub fn missing(&self, key: &str) -> Problem {
        self.bad(key, ProblemKind::MissingField, format!("{key} is required"))
    }

    pub fn string(&mut self, key: &str) -> Result<Option<String>, Problem> {
        match self.take(key) {
            None => Ok(None),
            Some(Value::String(s)) => {
                // Bytes bound characters from above: count characters only when the bytes could exceed the limit.
                if s.len() > MAX_STRING_CHARS && s.chars().count() > MAX_STRING_CHARS {
                    return Err(self.bad(
                        key,
                        ProblemKind::FieldTooLong,
                        format!("longer than {MAX_STRING_CHARS} characters"),
                    ));
                }
                Ok(Some(s))
            }
            Some(other) => Err(self.bad(
                key,
                ProblemKind::InvalidField,
                format!("expected a string, found {}", type_name(&other)),
            )),
        }
    }

    /// `string`, refusing text that cannot be an e-mail address (`is_email_address`). An empty string is kept as
    /// sent: platforms write one for an order without an address.
    pub fn email(&mut self, key: &str) -> Result<Option<String>, Problem> {
        let email = self.string(key)?;
        match &email {
            Some(e) if !e.is_empty() && !crate::canonical::is_email_address(e) => Err(self.bad(
                key,
                ProblemKind::InvalidField,
                format!("{e:?} is not an email address"),
            )),
            _ => Ok(email),
        }
    }

    /// `string`, for an ISO 3166-1 alpha-2 country code: two letters, read upper-case (a lower-case spelling is
    /// echoed back to its own dialect). Anything else is refused: rendered into a dialect that states both a
    /// country's code and its name, it could only contradict itself. An empty string is kept as given.
    pub fn country_code(&mut self, key: &str) -> Result<Option<String>, Problem> {
        let Some(code) = self.string(key)? else {
            return Ok(None);
        };
        if code.is_empty() {
            return Ok(Some(code));
        }
        if code.len() != 2 || !code.bytes().all(|b| b.is_ascii_alphabetic()) {
            return Err(self.bad(
                key,
                ProblemKind::InvalidField,
                format!("{code:?} is not an ISO 3166-1 alpha-2 country code (two letters)"),
            ));
        }
        if !code.bytes().any(|b| b.is_ascii_lowercase()) {
            return Ok(Some(code));
        }
        let upper = code.to_ascii_uppercase();
        self.echo_raw(key, Value::String(code), Value::String(upper.clone()));
        Ok(Some(upper))
    }

    pub fn required_string(&mut self, key: &str) -> Result<String, Problem> {
        self.string(key)?.ok_or_else(|| self.missing(key))
    }

    /// A string member that may also arrive as a number (ids, numeric codes); the spelling is echoed.
    pub fn string_or_number(&mut self, key: &str) -> Result<Option<String>, Problem> {
        match self.take(key) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(Value::Number(n)) => {
                let s = n.to_string();
                self.echo(key, Value::Number(n), Value::String(s.clone()));
                Ok(Some(s))
            }
            Some(other) => Err(self.bad(
                key,
                ProblemKind::InvalidField,
                format!("expected a string, found {}", type_name(&other)),
            )),
        }
    }

    /// An integer member; also accepts an integral JSON number with a `.0` fraction or a numeric string (both
    /// common in PHP-backed APIs), echoing the spelling.
    pub fn integer(&mut self, key: &str) -> Result<Option<i64>, Problem> {
        let Some(v) = self.take(key) else {
            return Ok(None);
        };
        match integer_value(&v) {
            Some(n) => {
                self.echo(key, v, Value::from(n));
                Ok(Some(n))
            }
            None => Err(self.bad(
                key,
                ProblemKind::InvalidNumber,
                format!("expected an integer, found {}", describe(&v)),
            )),
        }
    }

    pub fn unsigned(&mut self, key: &str) -> Result<Option<u64>, Problem> {
        match self.integer(key)? {
            None => Ok(None),
            Some(n) => u64::try_from(n).map(Some).map_err(|_| {
                self.bad(
                    key,
                    ProblemKind::InvalidNumber,
                    format!("expected a non-negative integer, found {n}"),
                )
            }),
        }
    }

    /// A quantity: a JSON integer from 1 to 1 000 000. Strings and fractions are refused, as the platforms do.
    pub fn quantity(&mut self, key: &str) -> Result<u32, Problem> {
        let v = self.take(key).ok_or_else(|| self.missing(key))?;
        let n = match &v {
            Value::Number(n) => n.as_i64(),
            _ => None,
        };
        match n {
            Some(n) if (1..=1_000_000).contains(&n) => Ok(n as u32),
            _ => Err(self.bad(
                key,
                ProblemKind::InvalidQuantity,
                format!(
                    "quantity must be an integer from 1 to 1000000, found {}",
                    describe(&v)
                ),
            )),
        }
    }

    /// A boolean; also accepts 0/1 and "0"/"1"/"true"/"false" (echoed).
    pub fn boolean(&mut self, key: &str) -> Result<Option<bool>, Problem> {
        let Some(v) = self.take(key) else {
            return Ok(None);
        };
        let b = match &v {
            Value::Bool(b) => Some(*b),
            Value::Number(n) => match n.as_i64() {
                Some(0) => Some(false),
                Some(1) => Some(true),
                _ => None,
            },
            Value::String(s) => match s.as_str() {
                "0" | "false" | "no" => Some(false),
                "1" | "true" | "yes" => Some(true),
                _ => None,
            },
            _ => None,
        };
        match b {
            Some(b) => {
                self.echo(key, v, Value::Bool(b));
                Ok(Some(b))
            }
            None => Err(self.bad(
                key,
                ProblemKind::InvalidField,
                format!("expected a boolean, found {}", describe(&v)),
            )),
        }
    }

    /// The raw value of a member that is not a JSON number or string (used by money readers).
    pub fn raw(&mut self, key: &str) -> Option<Value> {
        self.take(key)
    }

    /// A nested object read as part of this one: its unread members and echoes stay with this object's owner.
    pub fn child(&mut self, key: &str) -> Result<Option<Obj>, Problem> {
        let abs = self.pointer(key);
        match self.take(key) {
            None => Ok(None),
            Some(v @ Value::Object(_)) => {
                let mut child = Obj::new(v, abs)?;
                child.rel = join_pointer(&self.rel, key);
                Ok(Some(child))
            }
            Some(other) => Err(self.bad(
                key,
                ProblemKind::InvalidField,
                format!("expected an object, found {}", type_name(&other)),
            )),
        }
    }

    /// Returns a child's leftovers to this object (see `child`).
    pub fn absorb(&mut self, key: &str, child: Obj) {
        self.echoes.extend(child.echoes);
        if !child.map.is_empty() {
            self.map.insert(key.to_owned(), Value::Object(child.map));
        }
    }

    /// A nested object that is a canonical object of its own (owns its extensions).
    pub fn owned(&mut self, key: &str) -> Result<Option<Obj>, Problem> {
        let abs = self.pointer(key);
        match self.take(key) {
            None => Ok(None),
            Some(v) => Obj::new(v, abs).map(Some),
        }
    }

    /// An array member, returned with each element's absolute pointer.
    pub fn array(&mut self, key: &str) -> Result<Option<Vec<(Value, String)>>, Problem> {
        let abs = self.pointer(key);
        match self.take(key) {
            None => Ok(None),
            Some(Value::Array(items)) => {
                if items.len() > MAX_ARRAY_LEN {
                    return Err(self.bad(
                        key,
                        ProblemKind::TooManyItems,
                        format!("more than {MAX_ARRAY_LEN} elements"),
                    ));
                }
                Ok(Some(
                    items
                        .into_iter()
                        .enumerate()
                        .map(|(i, v)| (v, join_pointer(&abs, &i.to_string())))
                        .collect(),
                ))
            }
            Some(other) => Err(self.bad(
                key,
                ProblemKind::InvalidField,
                format!("expected an array, found {}", type_name(&other)),
            )),
        }
    }

    /// Puts a member back unread, so it is kept verbatim.
    pub fn keep(&mut self, key: &str, value: Value) {
        self.map.insert(key.to_owned(), value);
    }

    /// Ends reading: what was not read is kept verbatim.
    pub fn finish(self) -> PlatformExt {
        PlatformExt {
            extra: self.map,
            echoes: self.echoes,
        }
    }

    /// Ends reading and stores the leftovers in `ext` under `platform`.
    pub fn finish_into(self, ext: &mut Ext, platform: Platform) {
        ext.set(platform, self.finish());
    }
}

/// Integer value of a JSON number or numeric string, accepting an integral fraction such as `5000.0`.
pub fn integer_value(v: &Value) -> Option<i64> {
    match v {
        Value::Number(n) => n.as_i64().or_else(|| {
            let text = n.to_string();
            let stripped = text.strip_suffix(".0")?;
            stripped.parse().ok()
        }),
        Value::String(s) => {
            let t = s.strip_suffix(".0").unwrap_or(s);
            if t.is_empty()
                || t.len() > 19
                || !t
                    .trim_start_matches('-')
                    .bytes()
                    .all(|b| b.is_ascii_digit())
            {
                return None;
            }
            t.parse().ok()
        }
        _ => None,
    }
}

/// Short description of a value for error messages (never the whole value).
pub fn describe(v: &Value) -> String {
    match v {
        Value::String(s) if s.len() <= 40 => format!("{s:?}"),
        Value::Number(n) => n.to_string(),
        other => type_name(other).to_owned(),
    }
}

/// Replays `platform`'s extensions onto an encoded object: kept members are merged in (encoded members win,
/// objects merge deeply), then echoes restore the received spelling wherever the encoded value still equals
/// what was derived at decode time.
pub fn apply_ext(target: &mut JsonMap, ext: &Ext, platform: Platform) {
    let Some(kept) = ext.get(platform) else {
        return;
    };
    merge_missing(target, &kept.extra);
    // Newest first: a later echo may map a derived value back to an earlier echo's `rendered`.
    for echo in kept.echoes.iter().rev() {
        apply_echo(target, echo);
    }
}

fn merge_missing(target: &mut JsonMap, extra: &JsonMap) {
    for (k, v) in extra {
        match (target.get_mut(k), v) {
            (Some(Value::Object(t)), Value::Object(e)) => merge_missing(t, e),
            (Some(_), _) => {}
            (None, v) => {
                target.insert(k.clone(), v.clone());
            }
        }
    }
}

fn apply_echo(target: &mut JsonMap, echo: &Echo) {
    let tokens: Vec<String> = echo
        .pointer
        .split('/')
        .skip(1)
        .map(|t| t.replace("~1", "/").replace("~0", "~"))
        .collect();
    let Some((last, parents)) = tokens.split_last() else {
        return;
    };
    let Some((first, rest)) = parents.split_first() else {
        return replace_member(target, last, echo);
    };
    let mut cur = match target.get_mut(first) {
        Some(v) => v,
        None => return,
    };
    for t in rest {
        cur = match cur {
            Value::Object(m) => match m.get_mut(t) {
                Some(v) => v,
                None => return,
            },
            Value::Array(a) => match t.parse::<usize>().ok().and_then(|i| a.get_mut(i)) {
                Some(v) => v,
                None => return,
            },
            _ => return,
        };
    }
    match cur {
        Value::Object(m) => replace_member(m, last, echo),
        Value::Array(a) => {
            if let Some(slot) = last.parse::<usize>().ok().and_then(|i| a.get_mut(i)) {
                if *slot == echo.rendered {
                    if let Some(v) = &echo.received {
                        *slot = v.clone();
                    }
                }
            }
        }
        _ => {}
    }
}

fn replace_member(map: &mut JsonMap, key: &str, echo: &Echo) {
    let current = map.get(key).cloned().unwrap_or(Value::Null);
    if current == echo.rendered {
        match &echo.received {
            Some(v) => {
                map.insert(key.to_owned(), v.clone());
            }
            None => {
                map.remove(key);
            }
        }
    }
}

/// Records, as echoes, every place where `produced` (what the encoder derives) differs from `original` (what
/// came in). Arrays of different lengths are kept whole.
pub fn diff_echoes(original: &Value, produced: &Value, pointer: &str, out: &mut Vec<Echo>) {
    match (original, produced) {
        (Value::Object(a), Value::Object(b)) => {
            for (k, va) in a {
                let p = join_pointer(pointer, k);
                match b.get(k) {
                    Some(vb) => diff_echoes(va, vb, &p, out),
                    None => out.push(Echo {
                        pointer: p,
                        received: Some(va.clone()),
                        rendered: Value::Null,
                    }),
                }
            }
            for (k, vb) in b {
                if !a.contains_key(k) {
                    out.push(Echo {
                        pointer: join_pointer(pointer, k),
                        received: None,
                        rendered: vb.clone(),
                    });
                }
            }
        }
        (Value::Array(a), Value::Array(b)) if a.len() == b.len() => {
            for (i, (va, vb)) in a.iter().zip(b).enumerate() {
                diff_echoes(va, vb, &join_pointer(pointer, &i.to_string()), out);
            }
        }
        (a, b) if a == b => {}
        (a, b) => out.push(Echo {
            pointer: pointer.to_owned(),
            received: Some(a.clone()),
            rendered: b.clone(),
        }),
    }
}

/// Builds an object member by member, skipping absent optional values.
#[derive(Default)]
pub struct ObjWriter(pub JsonMap);

impl ObjWriter {
    pub fn new() -> Self {
        ObjWriter(JsonMap::new())
    }
    pub fn put(&mut self, key: &str, value: impl Into<Value>) -> &mut Self {
        self.0.insert(key.to_owned(), value.into());
        self
    }
    pub fn opt<T: Into<Value>>(&mut self, key: &str, value: Option<T>) -> &mut Self {
        if let Some(v) = value {
            self.0.insert(key.to_owned(), v.into());
        }
        self
    }
    pub fn opt_str(&mut self, key: &str, value: &Option<String>) -> &mut Self {
        if let Some(v) = value {
            self.0.insert(key.to_owned(), Value::String(v.clone()));
        }
        self
    }
    pub fn finish(self) -> JsonMap {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn strict_parse_refuses_what_it_should() {
        let cases: &[(&[u8], ProblemKind)] = &[
            (b"", ProblemKind::EmptyBody),
            (b"  \n", ProblemKind::EmptyBody),
            (b"{", ProblemKind::MalformedJson),
            (b"{} x", ProblemKind::MalformedJson),
            (b"\xEF\xBB\xBF{}", ProblemKind::InvalidEncoding),
            (b"{\"a\":\"\xff\"}", ProblemKind::InvalidEncoding),
            (br#"{"a":"\ud800"}"#, ProblemKind::InvalidEncoding),
            (br#"{"q":1,"q":-1}"#, ProblemKind::DuplicateKey),
            (b"[1e400]", ProblemKind::InvalidNumber),
        ];
        for (input, kind) in cases {
            let err = parse_document(input).unwrap_err();
            assert_eq!(
                err.kind,
                *kind,
                "{:?}: {err}",
                String::from_utf8_lossy(input)
            );
        }
        let deep = "[".repeat(10_000);
        assert_eq!(
            parse_document(deep.as_bytes()).unwrap_err().kind,
            ProblemKind::TooDeep
        );
    }

    #[test]
    fn reader_keeps_unread_members_and_spellings() {
        let mut o = Obj::new(json!({"id": "42", "n": null, "keep": [1], "q": 2}), "/x").unwrap();
        assert_eq!(o.integer("id").unwrap(), Some(42));
        assert_eq!(o.string("n").unwrap(), None);
        assert_eq!(o.quantity("q").unwrap(), 2);
        let ext = o.finish();
        assert_eq!(ext.extra.get("keep"), Some(&json!([1])));
        let mut ext_all = Ext::default();
        ext_all.set(Platform::FluentCart, ext);
        let mut out = JsonMap::new();
        out.insert("id".into(), json!(42));
        out.insert("q".into(), json!(2));
        apply_ext(&mut out, &ext_all, Platform::FluentCart);
        assert_eq!(
            Value::Object(out),
            json!({"id": "42", "n": null, "keep": [1], "q": 2})
        );
    }

    #[test]
    fn country_codes_are_two_letters_read_upper_case_and_written_back_as_spelled() {
        let mut o = Obj::new(
            json!({"a": "us", "b": "DE", "c": "", "d": "USA", "e": "U.", "f": "Ü1"}),
            "/addr",
        )
        .unwrap();
        assert_eq!(o.country_code("a").unwrap().as_deref(), Some("US"));
        assert_eq!(o.country_code("b").unwrap().as_deref(), Some("DE"));
        assert_eq!(o.country_code("c").unwrap().as_deref(), Some(""));
        assert_eq!(o.country_code("absent").unwrap(), None);
        for key in ["d", "e", "f"] {
            let err = o.country_code(key).unwrap_err();
            assert_eq!(err.pointer, format!("/addr/{key}"));
            assert!(err.reason.contains("alpha-2"), "{}", err.reason);
        }
        // Rendered as "US" again, the lower-case spelling comes back.
        let mut ext = Ext::default();
        ext.set(Platform::FluentCart, o.finish());
        let mut out = JsonMap::new();
        out.insert("a".into(), json!("US"));
        out.insert("b".into(), json!("DE"));
        apply_ext(&mut out, &ext, Platform::FluentCart);
        assert_eq!(out.get("a"), Some(&json!("us")));
        assert_eq!(out.get("b"), Some(&json!("DE")));
    }

    #[test]
    fn echo_is_not_replayed_after_a_change() {
        let mut o = Obj::new(json!({"id": "42"}), "").unwrap();
        o.integer("id").unwrap();
        let mut ext = Ext::default();
        ext.set(Platform::FluentCart, o.finish());
        let mut out = JsonMap::new();
        out.insert("id".into(), json!(43));
        apply_ext(&mut out, &ext, Platform::FluentCart);
        assert_eq!(out["id"], json!(43));
    }

    #[test]
    fn errors_carry_pointers() {
        let mut o = Obj::new(json!({"items": [{"quantity": 1.5}]}), "").unwrap();
        let items = o.array("items").unwrap().unwrap();
        let (v, ptr) = items.into_iter().next().unwrap();
        let mut item = Obj::new(v, ptr).unwrap();
        let err = item.quantity("quantity").unwrap_err();
        assert_eq!(err.pointer, "/items/0/quantity");
        assert_eq!(err.kind, ProblemKind::InvalidQuantity);
    }
}

#[cfg(test)]
mod depth_tests {
    use super::*;

    #[test]
    fn nesting_is_limited_and_strings_do_not_count() {
        let at = |n: usize| format!("{}{}", "[".repeat(n), "]".repeat(n));
        assert!(parse_document(at(MAX_DEPTH).as_bytes()).is_ok());
        let err = parse_document(at(MAX_DEPTH + 1).as_bytes()).unwrap_err();
        assert_eq!(err.kind, ProblemKind::TooDeep);
        let brackets_in_strings = format!(r#"{{"a":"{}\"[[{{","b":[1]}}"#, "[".repeat(100));
        assert!(parse_document(brackets_in_strings.as_bytes()).is_ok());
        // Objects count as arrays do, and the limit holds even when the document breaks off after it.
        let objects = |n: usize| format!("{}1{}", r#"{"a":"#.repeat(n), "}".repeat(n));
        assert!(parse_document(objects(MAX_DEPTH).as_bytes()).is_ok());
        let err = parse_document(objects(MAX_DEPTH + 1).as_bytes()).unwrap_err();
        assert_eq!(err.kind, ProblemKind::TooDeep);
        let broken_off = format!("{}[", "[".repeat(MAX_DEPTH));
        assert_eq!(
            parse_document(broken_off.as_bytes()).unwrap_err().kind,
            ProblemKind::TooDeep
        );
    }
}
