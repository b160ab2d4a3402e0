//! [`AnyRecord`]: one value of any topic, for code that handles every topic alike (the
//! in-memory bus, the files connector, the dead-letter path, the workload generator).

use crate::topic::{Record, Topic};
use crate::types::*;

macro_rules! any_record {
    ($($variant:ident($ty:ty)),* $(,)?) => {
        /// A record of any topic.
        #[derive(Debug, Clone, PartialEq)]
        pub enum AnyRecord {
            $(
                #[doc = concat!("A record of `", stringify!($ty), "`'s topic.")]
                $variant($ty),
            )*
        }

        impl AnyRecord {
            /// The topic this record belongs to.
            pub fn topic(&self) -> Topic {
                match self { $(AnyRecord::$variant(_) => <$ty as Record>::TOPIC,)* }
            }
            /// The record's event id.
            pub fn event_id(&self) -> &str {
                match self { $(AnyRecord::$variant(r) => r.event_id(),)* }
            }
            /// The record's event time.
            pub fn event_time(&self) -> EpochMillis {
                match self { $(AnyRecord::$variant(r) => r.event_time(),)* }
            }
            /// The record's source system.
            pub fn source(&self) -> &str {
                match self { $(AnyRecord::$variant(r) => r.source(),)* }
            }
            /// The record's Kafka key.
            pub fn key(&self) -> String {
                match self { $(AnyRecord::$variant(r) => r.key(),)* }
            }
            /// Calls `f` with the typed record; lets generic code (codecs, writers) handle
            /// any topic without a match of its own.
            pub fn visit<V: RecordVisitor>(&self, v: V) -> V::Output {
                match self { $(AnyRecord::$variant(r) => v.visit(r),)* }
            }
            /// Builds a record of `topic` through `f`, which is called with that topic's type.
            pub fn build<B: RecordBuilder>(topic: Topic, b: B) -> Result<AnyRecord, B::Error> {
                $(
                    if topic == <$ty as Record>::TOPIC {
                        return b.build::<$ty>().map(AnyRecord::$variant);
                    }
                )*
                unreachable!("every Topic has a record type")
            }
        }

        $(
            impl From<$ty> for AnyRecord {
                fn from(r: $ty) -> Self {
                    AnyRecord::$variant(r)
                }
            }
        )*
    };
}

any_record!(
    PosSale(PosTransaction),
    Receipt(Receipt),
    Shipment(ShipmentEvent),
    PurchaseOrder(PurchaseOrder),
    Adjustment(InventoryAdjustment),
    Order(Order),
    OrderEvent(OrderEvent),
    Return(ReturnEvent),
    Location(Location),
    SafetyStock(SafetyStockPolicy),
    SourcingRule(SourcingRule),
    Price(PriceBookEntry),
    Availability(Availability),
    Decision(SourcingDecision),
    Disruption(Disruption),
    DeadLetter(DeadLetter),
);

/// Generic code run on the typed record inside an [`AnyRecord`].
pub trait RecordVisitor {
    /// What the visit returns.
    type Output;
    /// Called with the typed record.
    fn visit<R: Record>(self, record: &R) -> Self::Output;
}

/// Generic code that produces a typed record for a topic known only at run time.
pub trait RecordBuilder {
    /// Why building failed.
    type Error;
    /// Called with the record type of the requested topic.
    fn build<R: Record>(self) -> Result<R, Self::Error>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_topic_has_exactly_one_variant() {
        struct TopicOf;
        impl RecordBuilder for TopicOf {
            type Error = Topic;
            fn build<R: Record>(self) -> Result<R, Topic> {
                Err(R::TOPIC)
            }
        }
        for topic in Topic::ALL {
            assert_eq!(AnyRecord::build(topic, TopicOf), Err(topic));
        }
    }
}
