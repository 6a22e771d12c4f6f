//! Pub/Sub: SUBSCRIBE UNSUBSCRIBE PSUBSCRIBE PUNSUBSCRIBE PUBLISH PUBSUB.
//!
//! PUBLISH does not write to other connections itself: it frames the message for each
//! subscriber (an array in RESP2, a push in RESP3) and leaves it in the client's outbox; the
//! session hands them to the reactor with `write_to`, checking each subscriber's output buffer
//! against `client-output-buffer-limit pubsub`.

use bytes::{Bytes, BytesMut};
use spindle_protocols::resp::{ReplyWriter, Version};

use super::args::is;
use super::ctx::{CmdResult, Ctx};
use crate::error::CmdError;
use crate::glob;
use crate::shared::Subscriber;

fn me(ctx: &Ctx<'_, '_>) -> Result<Subscriber, CmdError> {
    let conn = ctx
        .client
        .conn
        .ok_or_else(|| CmdError::err("this connection cannot subscribe"))?;
    Ok(Subscriber {
        client: ctx.client.id,
        conn,
        resp: ctx.client.resp,
    })
}

/// Writes `[kind, name, count]` as a push (RESP3) or an array (RESP2).
fn confirm(ctx: &mut Ctx<'_, '_>, kind: &str, name: Option<&[u8]>, count: usize) {
    if let Some(info) = ctx.shared.clients.get_mut(&ctx.client.id) {
        info.pubsub = count > 0;
    }
    ctx.out.push_len(3);
    ctx.out.bulk(kind.as_bytes());
    match name {
        Some(n) => ctx.out.bulk(n),
        None => ctx.out.null(),
    }
    ctx.out.int(count as i64);
}

/// `SUBSCRIBE channel…`
pub(crate) fn subscribe(ctx: &mut Ctx<'_, '_>, args: &[Bytes]) -> CmdResult {
    let sub = me(ctx)?;
    for ch in args.get(1..).unwrap_or_default() {
        // Copied: an argument shares the whole read buffer, which a subscription would pin.
        let ch = &Bytes::copy_from_slice(ch);
        if ctx.client.channels.insert(ch.clone()) {
            ctx.shared.channels.entry(ch.clone()).or_default().push(sub);
        }
        let n = ctx.client.subscription_count();
        confirm(ctx, "subscribe", Some(ch), n);
    }
    Ok(())
}

/// `PSUBSCRIBE pattern…`
pub(crate) fn psubscribe(ctx: &mut Ctx<'_, '_>, args: &[Bytes]) -> CmdResult {
    let sub = me(ctx)?;
    for p in args.get(1..).unwrap_or_default() {
        let p = &Bytes::copy_from_slice(p);
        if ctx.client.patterns.insert(p.clone()) {
            ctx.shared.patterns.push((p.clone(), sub));
        }
        let n = ctx.client.subscription_count();
        confirm(ctx, "psubscribe", Some(p), n);
    }
    Ok(())
}

/// `UNSUBSCRIBE [channel…]` (all when none given)
pub(crate) fn unsubscribe(ctx: &mut Ctx<'_, '_>, args: &[Bytes]) -> CmdResult {
    let names: Vec<Bytes> = match args.get(1..) {
        Some(n) if !n.is_empty() => n.to_vec(),
        _ => ctx.client.channels.iter().cloned().collect(),
    };
    if names.is_empty() {
        let n = ctx.client.subscription_count();
        confirm(ctx, "unsubscribe", None, n);
    }
    for ch in names {
        if ctx.client.channels.remove(&ch) {
            if let Some(subs) = ctx.shared.channels.get_mut(&ch) {
                subs.retain(|s| s.client != ctx.client.id);
                if subs.is_empty() {
                    ctx.shared.channels.remove(&ch);
                }
            }
        }
        let n = ctx.client.subscription_count();
        confirm(ctx, "unsubscribe", Some(&ch), n);
    }
    Ok(())
}

/// `PUNSUBSCRIBE [pattern…]` (all when none given)
pub(crate) fn punsubscribe(ctx: &mut Ctx<'_, '_>, args: &[Bytes]) -> CmdResult {
    let names: Vec<Bytes> = match args.get(1..) {
        Some(n) if !n.is_empty() => n.to_vec(),
        _ => ctx.client.patterns.iter().cloned().collect(),
    };
    if names.is_empty() {
        let n = ctx.client.subscription_count();
        confirm(ctx, "punsubscribe", None, n);
    }
    for p in names {
        if ctx.client.patterns.remove(&p) {
            let id = ctx.client.id;
            ctx.shared
                .patterns
                .retain(|(q, s)| !(s.client == id && *q == p));
        }
        let n = ctx.client.subscription_count();
        confirm(ctx, "punsubscribe", Some(&p), n);
    }
    Ok(())
}

/// Frames a message for a subscriber: `[message, channel, payload]`, or
/// `[pmessage, pattern, channel, payload]` for a pattern subscription.
fn frame(resp: Version, pattern: Option<&[u8]>, channel: &[u8], payload: &[u8]) -> Bytes {
    let mut buf = BytesMut::with_capacity(payload.len() + channel.len() + 48);
    let mut w = ReplyWriter::new(resp, &mut buf);
    match pattern {
        Some(p) => {
            w.push_len(4);
            w.bulk(b"pmessage");
            w.bulk(p);
        }
        None => {
            w.push_len(3);
            w.bulk(b"message");
        }
    }
    w.bulk(channel);
    w.bulk(payload);
    buf.freeze()
}

/// `PUBLISH channel message`: the number of clients that received it.
pub(crate) fn publish(ctx: &mut Ctx<'_, '_>, args: &[Bytes]) -> CmdResult {
    let channel = args.get(1).map_or(&[][..], |b| b);
    let payload = args.get(2).map_or(&[][..], |b| b);
    let mut receivers = 0;
    let (mut resp2, mut resp3) = (None, None);
    if let Some(subs) = ctx.shared.channels.get(channel) {
        for s in subs {
            let slot = if s.resp == Version::Resp3 {
                &mut resp3
            } else {
                &mut resp2
            };
            let message = slot
                .get_or_insert_with(|| frame(s.resp, None, channel, payload))
                .clone();
            ctx.client.outbox.push((s.conn, message));
            receivers += 1;
        }
    }
    for (pattern, s) in &ctx.shared.patterns {
        if glob::matches(pattern, channel, false) {
            ctx.client
                .outbox
                .push((s.conn, frame(s.resp, Some(pattern), channel, payload)));
            receivers += 1;
        }
    }
    ctx.out.int(receivers);
    Ok(())
}

/// PUBSUB HELP's lines after the first, as Redis 7.0 words them.
const PUBSUB_HELP: &[&str] = &[
    "CHANNELS [<pattern>]",
    "    Return the currently active channels matching a <pattern> (default: '*').",
    "NUMPAT",
    "    Return number of subscriptions to patterns.",
    "NUMSUB [<channel> ...]",
    "    Return the number of subscribers for the specified channels, excluding",
    "    pattern subscriptions(default: no channels).",
    "SHARDCHANNELS [<pattern>]",
    "    Return the currently active shard level channels matching a <pattern> (default: '*').",
    "SHARDNUMSUB [<shardchannel> ...]",
    "    Return the number of subscribers for the specified shard level channel(s)",
    "HELP",
    "    Prints this help.",
];

/// `PUBSUB CHANNELS [pattern] | NUMSUB [channel…] | NUMPAT | SHARDCHANNELS [pattern] |
/// SHARDNUMSUB [channel…] | HELP`. NUMSUB answers a flat array of channel and count in RESP3
/// too, as Redis 7.0 does (clients parse it as such). The SHARD subcommands look at the shard
/// channels of SSUBSCRIBE. The engine has checked the subcommand and its arity against the
/// table of subcommands.
pub(crate) fn pubsub(ctx: &mut Ctx<'_, '_>, args: &[Bytes]) -> CmdResult {
    let sub = args.get(1).map_or(&[][..], |b| b);
    let rest = args.get(2..).unwrap_or_default();
    if (is(sub, "channels") || is(sub, "shardchannels")) && rest.len() <= 1 {
        let pattern = rest.first();
        let channels = if is(sub, "channels") {
            &ctx.shared.channels
        } else {
            &ctx.shared.intro.shard_channels
        };
        let names: Vec<Bytes> = channels
            .keys()
            .filter(|c| pattern.is_none_or(|p| glob::matches(p, c, false)))
            .cloned()
            .collect();
        ctx.out.array_len(names.len());
        for n in names {
            ctx.out.bulk(&n);
        }
    } else if is(sub, "numsub") || is(sub, "shardnumsub") {
        let shard = is(sub, "shardnumsub");
        ctx.out.array_len(rest.len() * 2);
        for ch in rest {
            let n = if shard {
                ctx.shared.intro.shard_channels.get(ch).map_or(0, Vec::len)
            } else {
                ctx.shared.channels.get(ch).map_or(0, Vec::len)
            };
            ctx.out.bulk(ch);
            ctx.out.int(n as i64);
        }
    } else if is(sub, "numpat") && rest.is_empty() {
        let mut patterns: Vec<&Bytes> = ctx.shared.patterns.iter().map(|(p, _)| p).collect();
        patterns.sort();
        patterns.dedup();
        ctx.out.int(patterns.len() as i64);
    } else if is(sub, "help") && rest.is_empty() {
        ctx.out.array_len(PUBSUB_HELP.len() + 1);
        ctx.out
            .simple("PUBSUB <subcommand> [<arg> [value] [opt] ...]. Subcommands are:");
        for line in PUBSUB_HELP {
            ctx.out.simple(line);
        }
    } else {
        return Err(CmdError::err(format!(
            "unknown subcommand or wrong number of arguments for '{}'. Try PUBSUB HELP.",
            String::from_utf8_lossy(sub)
        )));
    }
    Ok(())
}
