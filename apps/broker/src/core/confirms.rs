//! [`Confirms`]: publisher confirms decided and not yet sent, per channel. They wait here, in
//! the core, rather than in the connection, because a confirm for a persistent message may only
//! leave after the message store's fsync, which happens once per reactor turn for every
//! connection at once (the broker's before-flush hook); until then nothing of the channel's
//! confirm stream may leave, since a later `multiple` ack would cover it.

use std::collections::HashMap;

use spindle_reactor::ConnId;

/// One confirm to write: (channel, delivery tag, multiple, ack — false for a nack).
pub(crate) type ConfirmFrame = (u16, u64, bool, bool);

/// One channel's confirms in the order decided: (channel, [(sequence number, ack)]).
type ChannelConfirms = (u16, Vec<(u64, bool)>);

/// Confirms decided, by connection and channel, in the order they were decided.
#[derive(Debug, Default)]
pub(crate) struct Confirms {
    pending: HashMap<ConnId, Vec<ChannelConfirms>>,
}

impl Confirms {
    /// Records the confirm of publish `seq` on `channel`: ack, or nack when `ack` is false.
    pub(crate) fn push(&mut self, conn: ConnId, channel: u16, seq: u64, ack: bool) {
        let channels = self.pending.entry(conn).or_default();
        match channels.iter_mut().find(|(n, _)| *n == channel) {
            Some((_, list)) => list.push((seq, ack)),
            None => channels.push((channel, vec![(seq, ack)])),
        }
    }

    /// What the turn stored could not be made durable: every ack waiting becomes a nack.
    pub(crate) fn fail_all(&mut self) {
        for (_, list) in self.pending.values_mut().flatten() {
            for (_, ack) in list.iter_mut() {
                *ack = false;
            }
        }
    }

    /// Whether any confirm waits.
    pub(crate) fn is_empty(&self) -> bool {
        self.pending.is_empty()
    }

    /// Takes the confirms of one connection, coalesced (see [`coalesce`]).
    pub(crate) fn take(&mut self, conn: ConnId) -> Vec<ConfirmFrame> {
        self.pending.remove(&conn).map(frames).unwrap_or_default()
    }

    /// Takes the confirms of one channel.
    pub(crate) fn take_channel(&mut self, conn: ConnId, channel: u16) -> Vec<ConfirmFrame> {
        let Some(channels) = self.pending.get_mut(&conn) else {
            return Vec::new();
        };
        let Some(i) = channels.iter().position(|(n, _)| *n == channel) else {
            return Vec::new();
        };
        let taken = channels.swap_remove(i);
        if channels.is_empty() {
            self.pending.remove(&conn);
        }
        frames(vec![taken])
    }

    /// Takes every connection's confirms.
    pub(crate) fn take_all(&mut self) -> Vec<(ConnId, Vec<ConfirmFrame>)> {
        self.pending
            .drain()
            .map(|(conn, channels)| (conn, frames(channels)))
            .collect()
    }
}

fn frames(channels: Vec<ChannelConfirms>) -> Vec<ConfirmFrame> {
    channels
        .into_iter()
        .flat_map(|(channel, list)| {
            coalesce(list)
                .into_iter()
                .map(move |(tag, multiple, ack)| (channel, tag, multiple, ack))
        })
        .collect()
}

/// A channel's confirms as few frames: a run of acks becomes one `basic.ack` with `multiple`
/// (every publish before it is settled too, since each is decided in order), a nack stays
/// alone. Each item: (tag, multiple, ack).
pub(crate) fn coalesce(confirms: Vec<(u64, bool)>) -> Vec<(u64, bool, bool)> {
    let mut out: Vec<(u64, bool, bool)> = Vec::new();
    let mut run: Option<(u64, usize)> = None; // last tag of the current ack run, its length
    for (seq, ack) in confirms {
        if ack {
            run = Some(match run {
                Some((_, n)) => (seq, n + 1),
                None => (seq, 1),
            });
            continue;
        }
        if let Some((last, n)) = run.take() {
            out.push((last, n > 1, true));
        }
        out.push((seq, false, false));
    }
    if let Some((last, n)) = run {
        out.push((last, n > 1, true));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn confirms_coalesce_runs_of_acks_and_keep_nacks_apart() {
        let list = vec![
            (1, true),
            (2, true),
            (3, true),
            (4, false),
            (5, true),
            (6, false),
        ];
        assert_eq!(
            coalesce(list),
            [
                (3, true, true),
                (4, false, false),
                (5, false, true),
                (6, false, false)
            ]
        );
    }

    #[test]
    fn confirms_are_taken_per_connection_and_channel() {
        let (a, b) = (ConnId::from_parts(1, 1), ConnId::from_parts(2, 1));
        let mut c = Confirms::default();
        c.push(a, 1, 1, true);
        c.push(a, 1, 2, true);
        c.push(a, 2, 1, false);
        c.push(b, 1, 7, true);
        assert_eq!(c.take_channel(a, 2), [(2, 1, false, false)]);
        assert_eq!(c.take(a), [(1, 2, true, true)]);
        assert!(c.take(a).is_empty());
        assert_eq!(c.take_all(), [(b, vec![(1, 7, false, true)])]);
        assert!(c.is_empty());
    }
}
