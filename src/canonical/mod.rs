//! The canonical order model: what an order *is*, independent of any platform's wire format.
//!
//! Architecture invariant: nothing here parses or renders a wire document, does I/O, or names a wire field.
//! `serde_json::Value` appears only as an opaque datum in metadata and per-platform extensions (see `ext`).

pub mod ext;
pub mod lifecycle;
pub mod money;
pub mod order;
pub mod pricing;
pub mod problem;
pub mod query;
pub mod status;

pub use ext::{Echo, Ext, JsonMap, JsonValue, PlatformExt, Provenance, SourceBody, SourceDocument};
pub use lifecycle::Transition;
pub use money::{Currency, Decimal, Money, MoneyError};
pub use order::*;
pub use problem::{Problem, ProblemKind};
pub use query::{OrderFilter, OrderQuery, Page, Range, SortKey};
pub use status::{FulfillmentStatus, OrderStatus, PaymentStatus, StatusTriple};

use std::fmt;

/// The commerce platforms ordermux knows. Each has its own identifiers; the dialect codecs are named after them.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Platform {
    FluentCart,
    CommerceLayer,
    BigCommerce,
}

impl Platform {
    pub const ALL: [Platform; 3] = [
        Platform::FluentCart,
        Platform::CommerceLayer,
        Platform::BigCommerce,
    ];

    /// The lower-case name used on the command line, in config and in `dialects/<name>/`.
    pub fn name(self) -> &'static str {
        match self {
            Platform::FluentCart => "fluentcart",
            Platform::CommerceLayer => "commercelayer",
            Platform::BigCommerce => "bigcommerce",
        }
    }

    pub fn from_name(name: &str) -> Option<Self> {
        Platform::ALL.into_iter().find(|p| p.name() == name)
    }
}

impl fmt::Display for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl PlatformIds {
    pub fn is_empty(&self) -> bool {
        self.fluentcart.is_none() && self.commercelayer.is_none() && self.bigcommerce.is_none()
    }
}
