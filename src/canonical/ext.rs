//! What the canonical model keeps for one platform so that platform → canonical → platform is lossless.
//!
//! Two things are kept per object: `extra`, the wire members the codec does not map (verbatim), and `echoes`,
//! wire values whose canonical meaning is known but whose exact spelling would not come back by itself
//! (`"63203"` for `63203`, `"0.5213"` for a price of 52 cents, `"pending"` for a foreign status). An echo is
//! replayed only while the value derived from the canonical model still equals what it derived at decode time,
//! so an edited order renders its new value, never a stale one.
//!
//! The values are `serde_json::Value` used as an opaque JSON datum: the canonical model never interprets them.

use std::collections::BTreeMap;

use super::Platform;

pub type JsonMap = serde_json::Map<String, serde_json::Value>;
pub type JsonValue = serde_json::Value;

/// One wire value to replay: at `pointer` (relative to the object, RFC 6901), `received` is what came in (`None`:
/// the member was absent) and `rendered` is what the codec derives from the canonical value (`Null` = the codec
/// would omit the member).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Echo {
    pub pointer: String,
    pub received: Option<JsonValue>,
    pub rendered: JsonValue,
}

/// Everything kept for one platform on one object.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct PlatformExt {
    pub extra: JsonMap,
    pub echoes: Vec<Echo>,
}

impl PlatformExt {
    pub fn is_empty(&self) -> bool {
        self.extra.is_empty() && self.echoes.is_empty()
    }
}

/// Per-platform extensions of one canonical object. Shared, not copied, when an order is cloned: they are
/// written once at decode and only read afterwards.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Ext(BTreeMap<Platform, std::sync::Arc<PlatformExt>>);

impl Ext {
    pub fn get(&self, platform: Platform) -> Option<&PlatformExt> {
        self.0.get(&platform).map(|e| &**e)
    }

    pub fn set(&mut self, platform: Platform, ext: PlatformExt) {
        if ext.is_empty() {
            self.0.remove(&platform);
        } else {
            self.0.insert(platform, std::sync::Arc::new(ext));
        }
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn remove(&mut self, platform: Platform) {
        self.0.remove(&platform);
    }

    pub fn platforms(&self) -> impl Iterator<Item = Platform> + '_ {
        self.0.keys().copied()
    }
}

/// The wire document an order was decoded from. Kept whole so that rendering the unchanged order back into the
/// same platform and document kind returns it as it came (as JSON), and so that an edited order can replay the
/// spellings of what did not change.
#[derive(Debug, Clone, PartialEq)]
pub struct SourceDocument {
    pub platform: Platform,
    /// The document kind's name (`request`, `order`).
    pub form: String,
    pub original: SourceBody,
    /// The order exactly as decoded, to tell whether it has been changed since.
    pub decoded: super::Order,
}

/// Where an order came from. Provenance is not part of what an order means: two orders with the same content are
/// equal whatever their sources.
#[derive(Debug, Clone, Default)]
pub struct Provenance(pub Option<std::sync::Arc<SourceDocument>>);

impl PartialEq for Provenance {
    fn eq(&self, _other: &Self) -> bool {
        true
    }
}

/// The source document as it arrived: the bytes (cheap to keep; parsed again only when the same platform and kind
/// are rendered) or an already parsed value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SourceBody {
    Raw(std::sync::Arc<[u8]>),
    Parsed(JsonValue),
}
