#!/usr/bin/env python3
"""Writes docs_table.rs, what COMMAND, COMMAND INFO and COMMAND DOCS answer, from Redis
7.0.15's command JSON files.

    git -C <redis> archive 7.0.15 src/commands | tar -x -C /tmp/redis-7.0.15
    python3 gen_docs.py /tmp/redis-7.0.15/src/commands > docs_table.rs

Each command's reply is built here as redis-server 7.0.15 builds it at start-up and in
`addReplyCommandInfo`/`addReplyCommandDocs` (server.c): the flags it shows (with
`movablekeys` and the legacy first/last/step worked out from the key specs as
`populateCommandLegacyRangeSpec` does), the implicit ACL categories, tips lower-cased,
tokens upper-cased, the fields it leaves out when empty.
"""
import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "acl"))
from gen_table import CATEGORIES, categories, load  # noqa: E402

# addReplyFlagsForCommand's order; the hidden ones (MAY_REPLICATE, SENTINEL, ONLY_SENTINEL,
# PROTECTED, TOUCHES_ARBITRARY_KEYS) are not shown.
SHOWN_FLAGS = ["WRITE", "READONLY", "DENYOOM", "MODULE", "ADMIN", "PUBSUB", "NOSCRIPT",
               "BLOCKING", "LOADING", "STALE", "SKIP_MONITOR", "SKIP_SLOWLOG", "ASKING",
               "FAST", "NO_AUTH", "NO_MANDATORY_KEYS", "NO_ASYNC_LOADING", "NO_MULTI",
               "MOVABLE_KEYS", "ALLOW_BUSY"]
FLAG_NAMES = {"MOVABLE_KEYS": "movablekeys"}
KEY_FLAGS = [("RO", "RO"), ("RW", "RW"), ("OW", "OW"), ("RM", "RM"), ("ACCESS", "access"),
             ("UPDATE", "update"), ("INSERT", "insert"), ("DELETE", "delete"),
             ("NOT_KEY", "not_key"), ("INCOMPLETE", "incomplete"),
             ("VARIABLE_FLAGS", "variable_flags")]
GROUPS = {"sorted_set": "sorted-set"}

NODE = """/// One node of a generated reply: a RESP3 shape that [`write`](super::docs::write) lowers to RESP2 when the
/// client speaks it (maps and sets become arrays).
#[derive(Debug)]
pub(crate) enum Node {
    /// A map of bulk-string keys.
    Map(&'static [(&'static str, Node)]),
    /// An array.
    Array(&'static [Node]),
    /// A set (an array in RESP2).
    Set(&'static [Node]),
    /// A bulk string.
    Bulk(&'static str),
    /// A simple string (the flags).
    Status(&'static str),
    /// An integer.
    Int(i64),
    /// A node written once and shared: a subcommand's entry, also found by its own name.
    Ref(&'static Node),
}

"""


def s(text):
    return json.dumps(text, ensure_ascii=False)


def c_text(text):
    """`text` as redis-server holds it: Redis's generator pastes each string between quotes
    into C source, so a `"` inside ends one literal and starts the next (the empty token
    `""` is an empty string) and backslash escapes are C's."""
    out, chars = [], iter(text)
    for ch in chars:
        if ch == '"':
            continue
        if ch == "\\":
            nxt = next(chars, "")
            out.append({"n": "\n", "t": "\t", "r": "\r", "0": "\0"}.get(nxt, nxt))
            continue
        out.append(ch)
    return "".join(out)


def bulk(text):
    return "Bulk(%s)" % s(c_text(text))


def status(text):
    return "Status(%s)" % s(text)


def mapping(pairs):
    return "Map(&[%s])" % ", ".join("(%s, %s)" % (s(k), v) for k, v in pairs)


def array(items):
    return "Array(&[%s])" % ", ".join(items)


def set_(items):
    return "Set(&[%s])" % ", ".join(items)


def is_plain(spec):
    return "index" in spec["begin_search"] and "range" in spec["find_keys"]


def legacy_range(c):
    """(firstkey, lastkey, keystep) as COMMAND INFO shows them, and whether the keys move."""
    specs = c.get("key_specs", [])
    movable = False
    if not specs:
        return (0, 0, 0), movable
    if len(specs) == 1 and is_plain(specs[0]):
        sp = specs[0]
        pos = sp["begin_search"]["index"]["pos"]
        r = sp["find_keys"]["range"]
        last = r["lastkey"] + pos if r["lastkey"] >= 0 else r["lastkey"]
        return (pos, last, r["step"]), "INCOMPLETE" in sp["flags"]
    first, last, prev_last = None, 0, 0
    for sp in specs:
        if not is_plain(sp):
            movable = True
            continue
        pos = sp["begin_search"]["index"]["pos"]
        r = sp["find_keys"]["range"]
        if r["step"] != 1 or (prev_last and prev_last != pos - 1):
            movable = True
            continue
        if "INCOMPLETE" in sp["flags"]:
            movable = True
        first = pos if first is None else min(first, pos)
        abs_last = r["lastkey"] + pos if r["lastkey"] >= 0 else r["lastkey"]
        # An unsigned comparison, as Redis makes it: a negative (from the end) wins.
        last = max(last, abs_last, key=lambda v: v & 0xFFFFFFFF)
        prev_last = last
    if first is None:
        return (0, 0, 0), True
    return (first, last, 1), movable


def command_flags(c):
    flags = set(c.get("command_flags", []))
    _, movable = legacy_range(c)
    # 7.0.15 derives it from the key specs only (a key function alone does not set it).
    if movable:
        flags.add("MOVABLE_KEYS")
    return [FLAG_NAMES.get(f, f.lower()) for f in SHOWN_FLAGS if f in flags]


def key_spec(sp):
    pairs = []
    if sp.get("notes"):
        pairs.append(("notes", bulk(sp["notes"])))
    pairs.append(("flags", set_(status(n) for f, n in KEY_FLAGS if f in sp.get("flags", []))))
    bs = sp["begin_search"]
    if "index" in bs:
        begin = mapping([("type", bulk("index")),
                         ("spec", mapping([("index", "Int(%d)" % bs["index"]["pos"])]))])
    elif "keyword" in bs:
        begin = mapping([("type", bulk("keyword")),
                         ("spec", mapping([("keyword", bulk(bs["keyword"]["keyword"])),
                                           ("startfrom", "Int(%d)" % bs["keyword"]["startfrom"])]))])
    else:
        begin = mapping([("type", bulk("unknown")), ("spec", mapping([]))])
    pairs.append(("begin_search", begin))
    fk = sp["find_keys"]
    if "range" in fk:
        r = fk["range"]
        find = mapping([("type", bulk("range")),
                        ("spec", mapping([("lastkey", "Int(%d)" % r["lastkey"]),
                                          ("keystep", "Int(%d)" % r["step"]),
                                          ("limit", "Int(%d)" % r["limit"])]))])
    elif "keynum" in fk:
        k = fk["keynum"]
        find = mapping([("type", bulk("keynum")),
                        ("spec", mapping([("keynumidx", "Int(%d)" % k["keynumidx"]),
                                          ("firstkey", "Int(%d)" % k["firstkey"]),
                                          ("keystep", "Int(%d)" % k["step"])]))])
    else:
        find = mapping([("type", bulk("unknown")), ("spec", mapping([]))])
    pairs.append(("find_keys", find))
    return mapping(pairs)


def info(name, c, sub_refs):
    (first, last, step), _ = legacy_range(c)
    cats = categories(c)
    return array([
        bulk(name),
        "Int(%d)" % c["arity"],
        set_(status(f) for f in command_flags(c)),
        "Int(%d)" % first, "Int(%d)" % last, "Int(%d)" % step,
        set_(status("@" + n) for i, n in enumerate(CATEGORIES) if cats & (1 << i)),
        set_(bulk(t.lower()) for t in c.get("command_tips", [])),
        set_(key_spec(sp) for sp in c.get("key_specs", [])),
        array(sub_refs) if sub_refs else set_([]),
    ])


def arg_list(args):
    items = []
    for a in args:
        pairs = [("name", bulk(a["name"].lower())), ("type", bulk(a["type"]))]
        if "key_spec_index" in a:
            pairs.append(("key_spec_index", "Int(%d)" % a["key_spec_index"]))
        if a.get("token"):
            pairs.append(("token", bulk(a["token"].upper())))
        for field in ("summary", "since", "deprecated_since"):
            if a.get(field):
                pairs.append((field, bulk(a[field])))
        flags = [f for f in ("optional", "multiple", "multiple_token") if a.get(f)]
        if flags:
            pairs.append(("flags", set_(status(f) for f in flags)))
        if a["type"] in ("oneof", "block"):
            pairs.append(("arguments", arg_list(a.get("arguments", []))))
        items.append(mapping(pairs))
    return array(items)


def docs(c, sub_pairs):
    pairs = []
    for field in ("summary", "since"):
        if c.get(field):
            pairs.append((field, bulk(c[field])))
    pairs.append(("group", bulk(GROUPS.get(c["group"], c["group"]))))
    if c.get("complexity"):
        pairs.append(("complexity", bulk(c["complexity"])))
    if c.get("doc_flags"):
        pairs.append(("doc_flags", set_(status(f.lower()) for f in ("DEPRECATED", "SYSCMD")
                                        if f in c["doc_flags"])))
    for field in ("deprecated_since", "replaced_by"):
        if c.get(field):
            pairs.append((field, bulk(c[field])))
    if c.get("history"):
        pairs.append(("history", set_(array([bulk(since), bulk(change)])
                                      for since, change in c["history"])))
    if c.get("arguments"):
        pairs.append(("arguments", arg_list(c["arguments"])))
    if sub_pairs:
        pairs.append(("subcommands", "Map(&[%s])" % ", ".join(sub_pairs)))
    return mapping(pairs)


def ident(name, kind):
    return "%s_%s" % (kind, name.upper().replace("|", "_").replace("-", "_"))


def main():
    top, subs = load(sys.argv[1])
    out = sys.stdout
    out.write("//! Generated by `gen_docs.py` from Redis 7.0.15's `src/commands/*.json`: do not "
              "edit.\n//! What redis-server 7.0.15 answers to COMMAND INFO and COMMAND DOCS for "
              "each command.\n\nuse self::Node::*;\n\n")
    out.write(NODE)
    entries = []
    for name in sorted(top):
        children = subs.get(name, {})
        info_refs, doc_pairs = [], []
        for sub in sorted(children):
            full = name + "|" + sub
            c = children[sub]
            out.write("static %s: Node = %s;\n" % (ident(full, "INFO"), info(full, c, [])))
            out.write("static %s: Node = %s;\n" % (ident(full, "DOCS"), docs(c, [])))
            info_refs.append("Ref(&%s)" % ident(full, "INFO"))
            doc_pairs.append("(%s, Ref(&%s))" % (s(full), ident(full, "DOCS")))
            entries.append(full)
        c = top[name]
        out.write("static %s: Node = %s;\n" % (ident(name, "INFO"), info(name, c, info_refs)))
        out.write("static %s: Node = %s;\n" % (ident(name, "DOCS"), docs(c, doc_pairs)))
        entries.append(name)
    out.write("\n/// Every command and subcommand by full name (`get`, `config|get`): its COMMAND "
              "INFO entry and its COMMAND DOCS map.\n#[rustfmt::skip]\n"
              "pub(crate) static ENTRIES: &[(&str, &Node, &Node)] = &[\n")
    for full in entries:
        out.write("    (%s, &%s, &%s),\n" % (s(full), ident(full, "INFO"), ident(full, "DOCS")))
    out.write("];\n")


if __name__ == "__main__":
    main()
