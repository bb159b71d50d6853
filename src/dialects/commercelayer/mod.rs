//! Commerce Layer core API (JSON:API 1.0): the order resource with `included` line items, addresses, customer and
//! market, both as a create document and as a returned order. Amounts travel as `*_cents`/`*_float`/`formatted_*`
//! triples that must agree; `*_cents` are minor units, except that Commerce Layer states HUF unscaled.

mod decode;
mod encode;
mod money;
pub mod resources;
#[cfg(test)]
mod tests;

pub use decode::{decode_address_resource, decode_create_request, decode_order, detect_kind};
pub use encode::{encode_create_request, encode_error, encode_order, local_address};
pub use money::{cents_exponent, format_amount};

/// Reserved members of the order resource's kept extensions: top-level document members and `included`
/// resources no canonical object claimed. They never collide with resource members.
pub(crate) const KEPT_DOCUMENT: &str = "$document";
pub(crate) const KEPT_INCLUDED: &str = "$included";
