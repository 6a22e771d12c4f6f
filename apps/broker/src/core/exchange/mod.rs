//! Exchanges and their routing rules: one file per rule behind the [`Route`] trait, as
//! RabbitMQ's exchange types are (direct, fanout, topic, headers).
//!
//! | file | rule |
//! |---|---|
//! | `direct.rs` | the routing key equals the binding key |
//! | `fanout.rs` | every binding, whatever the key |
//! | `topic.rs` | dot-separated words; `*` matches one word, `#` zero or more (a trie) |
//! | `headers.rs` | the message's headers against the binding's arguments (`x-match` all/any) |
//! | `route.rs` | what they share: the [`Route`] trait, [`Destination`], [`Binding`] |

mod direct;
mod fanout;
mod headers;
mod route;
mod topic;

pub(crate) use route::{Destination, Route};

/// The four exchange types.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ExchangeType {
    Direct,
    Fanout,
    Topic,
    Headers,
}

impl ExchangeType {
    /// The type named in `exchange.declare` (`direct`, `fanout`, `topic`, `headers`); `None`
    /// for any other (RabbitMQ: 503 COMMAND_INVALID "invalid exchange type").
    pub(crate) fn parse(name: &[u8]) -> Option<ExchangeType> {
        match name {
            b"direct" => Some(ExchangeType::Direct),
            b"fanout" => Some(ExchangeType::Fanout),
            b"topic" => Some(ExchangeType::Topic),
            b"headers" => Some(ExchangeType::Headers),
            _ => None,
        }
    }

    /// The name as declared and listed.
    pub(crate) fn name(self) -> &'static str {
        match self {
            ExchangeType::Direct => "direct",
            ExchangeType::Fanout => "fanout",
            ExchangeType::Topic => "topic",
            ExchangeType::Headers => "headers",
        }
    }

    /// An empty routing table of this type.
    pub(crate) fn new_route(self) -> Box<dyn Route> {
        match self {
            ExchangeType::Direct => Box::new(direct::Direct::default()),
            ExchangeType::Fanout => Box::new(fanout::Fanout::default()),
            ExchangeType::Topic => Box::new(topic::Topic::default()),
            ExchangeType::Headers => Box::new(headers::Headers::default()),
        }
    }
}
