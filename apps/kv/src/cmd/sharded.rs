//! Sharded pub/sub: SSUBSCRIBE SUNSUBSCRIBE SPUBLISH, as Redis 7.0 serves them outside a
//! cluster (one shard: every shard channel is this server's). Shard channels are a namespace
//! of their own: a PUBLISH does not reach an SSUBSCRIBE, nor a pattern; messages are framed
//! `[smessage, channel, payload]` (a push in RESP3). As PUBLISH, SPUBLISH leaves the framed
//! messages in the client's outbox for the session to write.

use bytes::{Bytes, BytesMut};
use spindle_protocols::resp::{ReplyWriter, Version};

use super::ctx::{cmd, flags::*, CmdResult, Command, Ctx};
use crate::error::CmdError;
use crate::shared::Subscriber;

/// This family's rows of the command table.
pub(crate) static COMMANDS: &[Command] = &[
    cmd("ssubscribe", -2, PUBSUB, (1, -1, 1), ssubscribe),
    cmd("sunsubscribe", -1, PUBSUB, (1, -1, 1), sunsubscribe),
    cmd("spublish", 3, FAST, (1, 1, 1), spublish),
];

/// Writes `[kind, channel, count]` as a push (RESP3) or an array (RESP2); the count is the
/// client's shard subscriptions only, as Redis's `clientShardSubscriptionsCount`.
fn confirm(ctx: &mut Ctx<'_, '_>, kind: &str, channel: Option<&[u8]>) {
    let count = ctx.client.shard_channels.len();
    let total = count + ctx.client.subscription_count();
    if let Some(info) = ctx.shared.clients.get_mut(&ctx.client.id) {
        info.pubsub = total > 0;
    }
    ctx.out.push_len(3);
    ctx.out.bulk(kind.as_bytes());
    match channel {
        Some(c) => ctx.out.bulk(c),
        None => ctx.out.null(),
    }
    ctx.out.int(count as i64);
}

/// `SSUBSCRIBE shardchannel…`
pub(crate) fn ssubscribe(ctx: &mut Ctx<'_, '_>, args: &[Bytes]) -> CmdResult {
    if ctx.client.in_exec || ctx.client.multi.is_some() {
        return Err(CmdError::err(
            "SSUBSCRIBE isn't allowed for a DENY BLOCKING client",
        ));
    }
    let conn = ctx
        .client
        .conn
        .ok_or_else(|| CmdError::err("SSUBSCRIBE isn't allowed for a DENY BLOCKING client"))?;
    let sub = Subscriber {
        client: ctx.client.id,
        conn,
        resp: ctx.client.resp,
    };
    for ch in args.get(1..).unwrap_or_default() {
        // Copied: an argument shares the whole read buffer, which a subscription would pin.
        let ch = Bytes::copy_from_slice(ch);
        if ctx.client.shard_channels.insert(ch.clone()) {
            ctx.shared
                .intro
                .shard_channels
                .entry(ch.clone())
                .or_default()
                .push(sub);
        }
        confirm(ctx, "ssubscribe", Some(&ch));
    }
    Ok(())
}

/// `SUNSUBSCRIBE [shardchannel…]` (all when none given).
pub(crate) fn sunsubscribe(ctx: &mut Ctx<'_, '_>, args: &[Bytes]) -> CmdResult {
    let names: Vec<Bytes> = match args.get(1..) {
        Some(n) if !n.is_empty() => n.to_vec(),
        _ => ctx.client.shard_channels.iter().cloned().collect(),
    };
    if names.is_empty() {
        confirm(ctx, "sunsubscribe", None);
    }
    for ch in names {
        if ctx.client.shard_channels.remove(&ch) {
            forget(&mut ctx.shared.intro.shard_channels, &ch, ctx.client.id);
        }
        confirm(ctx, "sunsubscribe", Some(&ch));
    }
    Ok(())
}

/// Removes client `id` from `channel`'s subscribers, and the channel when none is left.
pub(crate) fn forget(
    channels: &mut std::collections::HashMap<Bytes, Vec<Subscriber>>,
    channel: &[u8],
    id: u64,
) {
    if let Some(subs) = channels.get_mut(channel) {
        subs.retain(|s| s.client != id);
        if subs.is_empty() {
            channels.remove(channel);
        }
    }
}

/// `[smessage, channel, payload]` for a subscriber speaking `resp`.
fn frame(resp: Version, channel: &[u8], payload: &[u8]) -> Bytes {
    let mut buf = BytesMut::with_capacity(payload.len() + channel.len() + 48);
    let mut w = ReplyWriter::new(resp, &mut buf);
    w.push_len(3);
    w.bulk(b"smessage");
    w.bulk(channel);
    w.bulk(payload);
    buf.freeze()
}

/// `SPUBLISH shardchannel message`: the number of clients that received it.
pub(crate) fn spublish(ctx: &mut Ctx<'_, '_>, args: &[Bytes]) -> CmdResult {
    let channel = args.get(1).map_or(&[][..], |b| b);
    let payload = args.get(2).map_or(&[][..], |b| b);
    let mut receivers = 0;
    let (mut resp2, mut resp3) = (None, None);
    if let Some(subs) = ctx.shared.intro.shard_channels.get(channel) {
        for s in subs {
            let slot = if s.resp == Version::Resp3 {
                &mut resp3
            } else {
                &mut resp2
            };
            let message = slot
                .get_or_insert_with(|| frame(s.resp, channel, payload))
                .clone();
            ctx.client.outbox.push((s.conn, message));
            receivers += 1;
        }
    }
    ctx.out.int(receivers);
    Ok(())
}

#[cfg(test)]
mod tests {
    use crate::testkit::{e, i, Frame, T as Harness};

    #[test]
    fn spublish_reaches_shard_subscribers_only() {
        let mut h = Harness::new();
        let mut sub = h.other(3);
        let got = h.run_as(&mut sub, "SSUBSCRIBE news");
        assert_eq!(
            got,
            Frame::Array(vec![
                Frame::Bulk("ssubscribe".into()),
                Frame::Bulk("news".into()),
                i(1)
            ])
        );
        assert_eq!(h.run("PUBLISH news plain"), i(0));
        assert_eq!(h.run("SPUBLISH news hi"), i(1));
        let (conn, message) = h.client.outbox.pop().expect("a message");
        assert_eq!(Some(conn), sub.conn);
        assert_eq!(
            &message[..],
            b"*3\r\n$8\r\nsmessage\r\n$4\r\nnews\r\n$2\r\nhi\r\n"
        );
        assert_eq!(
            h.run_as(&mut sub, "GET k"),
            e("ERR Can't execute 'get': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context")
        );
        h.run_as(&mut sub, "SUNSUBSCRIBE");
        assert_eq!(h.run("SPUBLISH news hi"), i(0));
    }
}
