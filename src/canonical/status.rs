//! The three status axes every order carries. Platforms collapse them differently; the canonical model keeps all three.

use std::fmt;

macro_rules! status_enum {
    ($(#[$meta:meta])* $name:ident { $($variant:ident => $key:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum $name { $($variant),+ }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The stable snake_case key used in the `dialects/*/statuses.toml` tables.
            pub fn key(self) -> &'static str {
                match self { $($name::$variant => $key),+ }
            }

            pub fn from_key(key: &str) -> Option<Self> {
                match key { $($key => Some($name::$variant),)+ _ => None }
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.key())
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let key = <std::borrow::Cow<'de, str>>::deserialize(d)?;
                $name::from_key(&key).ok_or_else(|| serde::de::Error::custom(format!("unknown {} {key:?}", stringify!($name))))
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.key())
            }
        }
    };
}

status_enum! {
    /// Where the order is in its life.
    OrderStatus {
        Draft => "draft",
        Pending => "pending",
        Placed => "placed",
        OnHold => "on_hold",
        Processing => "processing",
        Completed => "completed",
        Cancelled => "cancelled",
        Declined => "declined",
    }
}

status_enum! {
    /// Where the money is.
    PaymentStatus {
        Unpaid => "unpaid",
        Authorized => "authorized",
        PartiallyAuthorized => "partially_authorized",
        CapturePending => "capture_pending",
        Paid => "paid",
        PartiallyPaid => "partially_paid",
        PartiallyRefunded => "partially_refunded",
        Refunded => "refunded",
        VoidPending => "void_pending",
        Voided => "voided",
        PartiallyVoided => "partially_voided",
        Failed => "failed",
        HeldForReview => "held_for_review",
        Disputed => "disputed",
        Free => "free",
    }
}

status_enum! {
    /// Where the goods are.
    FulfillmentStatus {
        Unfulfilled => "unfulfilled",
        InProgress => "in_progress",
        PartiallyFulfilled => "partially_fulfilled",
        ReadyForPickup => "ready_for_pickup",
        Fulfilled => "fulfilled",
        Delivered => "delivered",
        NotRequired => "not_required",
        Unshippable => "unshippable",
    }
}

/// The three axes together.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct StatusTriple {
    pub order: OrderStatus,
    pub payment: PaymentStatus,
    pub fulfillment: FulfillmentStatus,
}

impl Default for StatusTriple {
    fn default() -> Self {
        StatusTriple {
            order: OrderStatus::Pending,
            payment: PaymentStatus::Unpaid,
            fulfillment: FulfillmentStatus::Unfulfilled,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_round_trip() {
        for s in OrderStatus::ALL {
            assert_eq!(OrderStatus::from_key(s.key()), Some(*s));
        }
        for s in PaymentStatus::ALL {
            assert_eq!(PaymentStatus::from_key(s.key()), Some(*s));
        }
        for s in FulfillmentStatus::ALL {
            assert_eq!(FulfillmentStatus::from_key(s.key()), Some(*s));
        }
    }
}
