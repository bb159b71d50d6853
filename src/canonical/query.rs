//! What a client asks for when it lists orders, independent of how its dialect spells the parameters.

use super::order::Timestamp;
use super::status::StatusTriple;
use super::Platform;

/// Order fields a list can be sorted by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SortKey {
    /// Creation order (the platform ids are assigned in that order too).
    #[default]
    Id,
    CreatedAt,
    UpdatedAt,
    Total,
    Status,
}

/// Inclusive bounds on a value; `None` = unbounded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Range<T> {
    pub min: Option<T>,
    pub max: Option<T>,
}

/// Predicates an order must satisfy; all present ones must hold.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct OrderFilter {
    /// The order's status triple must be one of these (each dialect turns its own status filter into the set of
    /// triples that render as the asked value).
    pub statuses: Option<Vec<StatusTriple>>,
    pub email: Option<String>,
    pub number: Option<String>,
    pub reference: Option<String>,
    pub currency: Option<String>,
    /// Bounds on the order's id in the given platform's id scheme (integer schemes only).
    pub id_range: Option<(Platform, Range<u64>)>,
    /// Minor units of the order's currency.
    pub total: Range<i64>,
    pub created: Range<Timestamp>,
    pub updated: Range<Timestamp>,
    /// Customer id in the given platform's scheme.
    pub customer: Option<(Platform, String)>,
    /// Free text matched against number, email and customer name.
    pub search: Option<String>,
}

/// One page of a list.
#[derive(Debug, Clone, PartialEq)]
pub struct OrderQuery {
    pub filter: OrderFilter,
    pub sort: SortKey,
    pub descending: bool,
    /// 1-based.
    pub page: u32,
    pub per_page: u32,
}

impl OrderQuery {
    pub fn offset(&self) -> u64 {
        u64::from(self.page.saturating_sub(1)) * u64::from(self.per_page)
    }
}

/// A page of results and how many there are in all.
#[derive(Debug, Clone, PartialEq)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub total: u64,
    pub page: u32,
    pub per_page: u32,
}

impl<T> Page<T> {
    pub fn page_count(&self) -> u64 {
        if self.per_page == 0 {
            0
        } else {
            self.total.div_ceil(u64::from(self.per_page))
        }
    }
}
