//! BigCommerce REST v2 (`/stores/{store_hash}/v2`): the create request, the order object (with its `products`,
//! `shipping_addresses` and `coupons` sub-resources either expanded in place or as `{url, resource}` links) and the
//! sub-resource documents, both ways. Money is an exact decimal string with up to 4 places; dates are RFC 2822.

mod decode;
mod encode;
mod status;
#[cfg(test)]
mod tests;
mod update;

pub use decode::{decode_create_request, decode_order, detect_kind};
pub use encode::{
    encode_coupons, encode_create_request, encode_error, encode_order, encode_order_with_links,
    encode_products, encode_shipping_addresses,
};
pub use status::{
    encode_count, encode_order_status, encode_order_statuses, ingest_status, render_status_id,
    triples_with_status_id, Shipment,
};
pub use update::{apply_update, decode_update_request, OrderUpdate};
