//! FluentCart REST v2 (`/wp-json/fluent-cart/v2`): create/update request bodies, the `GET /orders/{id}` order
//! envelope and the list envelope, both ways, plus the action bodies (refund, statuses, bulk…). Money is integer
//! cents at a fixed scale of 2 for every currency, except the refund amount (decimal major units).

pub mod actions;
mod decode;
mod encode;
#[cfg(test)]
mod tests;

pub use decode::{
    decode_create_request, decode_list, decode_list_rows, decode_order, decode_update_request,
    detect_kind, ListRow, OrderUpdate,
};
pub use encode::{
    encode_create_request, encode_error, encode_list, encode_order, encode_update_request, ListPage,
};

/// FluentCart states every amount in hundredths, whatever the currency's exponent.
pub(crate) const WIRE_PLACES: u32 = 2;
