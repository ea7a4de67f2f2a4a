//! Outbound webhooks: what the host product hears about. A change writes its
//! event in the change's own transaction ([`events::record`]), one delivery per
//! enabled endpoint; the server's worker delivers them, signed the way the
//! Standard Webhooks specification describes. Events are never dropped.

pub mod address;

crate::stored_words! {
    /// Where one delivery of an event to one endpoint stands
    /// (`outbound_delivery.state`).
    pub enum DeliveryState {
        /// Not yet accepted by the endpoint (waiting, or retrying).
        Pending => "pending",
        /// Answered with a 2xx.
        Delivered => "delivered",
    }
}
#[cfg(feature = "ssr")]
pub mod deliveries;
#[cfg(feature = "ssr")]
pub mod endpoints;
#[cfg(feature = "ssr")]
pub mod events;
