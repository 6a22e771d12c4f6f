#!/usr/bin/env python3
"""Generate protocols/src/amqp/generated.rs from RabbitMQ's AMQP 0-9-1 codegen JSON.

    python3 protocols/gen/amqp_codegen.py            # rewrite protocols/src/amqp/generated.rs
    python3 protocols/gen/amqp_codegen.py --stdout   # print it instead (the staleness test does)

The spec is the JSON of rabbitmq-codegen (`amqp-rabbitmq-0.9.1.json`), kept beside this script so
a clean clone regenerates the same file. It lists the domains, the constants (frame types, frame
end, reply codes tagged soft-error or hard-error), and the classes with their methods, argument
names, types, ids and defaults, and the content properties of class basic.

Out of it come: the constants, `ReplyCode`, one struct per method with its field codec, the
`Method` enum and its dispatch, and `BasicProperties`. Everything the JSON does not describe (frames,
field tables, content assembly) is written by hand next to the output.

The output imports the value codecs (`wire`, `shortstr`, `table`) and their errors (`codec_error`),
never `error`: `AmqpError`'s messages name methods with the generated `method_name`, so `error`
sits above this file, and `Method::decode`, which answers with an `AmqpError`, is written by hand
in `frame.rs` around the generated `decode_method`.

Python 3 standard library only; the output depends on the JSON alone (no dates, no hash order), and
is laid out the way rustfmt would lay it out, so `cargo fmt` has nothing to change in it.
"""

import argparse
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
SPEC = os.path.join(HERE, "amqp-rabbitmq-0.9.1.json")
OUTPUT = os.path.join(HERE, "..", "src", "amqp", "generated.rs")

MAX_WIDTH = 100  # rustfmt's max_width
STRUCT_LIT_WIDTH = 18  # rustfmt's struct_lit_width

RUST_TYPE = {
    "octet": "u8",
    "short": "u16",
    "long": "u32",
    "longlong": "u64",
    "timestamp": "u64",
    "bit": "bool",
    "shortstr": "ShortStr",
    "longstr": "Bytes",
    "table": "FieldTable",
}

# Fixed wire sizes; strings and tables add their contents.
FIXED_SIZE = {"octet": 1, "short": 2, "long": 4, "longlong": 8, "timestamp": 8,
              "shortstr": 1, "longstr": 4, "table": 0}

# Reads through a `wire::Reader` named `buf`.
GET = {"octet": "buf.u8()?", "short": "buf.u16()?", "long": "buf.u32()?",
       "longlong": "buf.u64()?", "timestamp": "buf.u64()?", "shortstr": "buf.shortstr()?",
       "longstr": "buf.longstr()?", "table": "FieldTable::read(buf)?"}

PUT_INT = {"octet": "put_u8", "short": "put_u16", "long": "put_u32", "longlong": "put_u64",
           "timestamp": "put_u64"}

# Spec names that are Rust keywords.
RENAME = {"type": "kind"}
KEYWORDS = {"as", "break", "const", "continue", "crate", "else", "enum", "extern", "false", "fn",
            "for", "if", "impl", "in", "let", "loop", "match", "mod", "move", "mut", "pub", "ref",
            "return", "self", "Self", "static", "struct", "super", "trait", "true", "type",
            "unsafe", "use", "where", "while", "async", "await", "dyn", "abstract", "become",
            "box", "do", "final", "macro", "override", "priv", "typeof", "unsized", "virtual",
            "yield", "try", "gen"}

# One line of meaning per constant: the JSON has values only.
CONSTANT_DOCS = {
    "FRAME-METHOD": "Frame type of a method frame.",
    "FRAME-HEADER": "Frame type of a content header frame.",
    "FRAME-BODY": "Frame type of a content body frame.",
    "FRAME-HEARTBEAT": "Frame type of a heartbeat frame.",
    "FRAME-MIN-SIZE": "The smallest `frame-max` a peer may set: every peer accepts frames of this "
                      "size, so it is the limit before `connection.tune`.",
    "FRAME-END": "The octet that ends every frame (0xCE).",
    "REPLY-SUCCESS": "The close was asked for, not forced by an error.",
    "CONTENT-TOO-LARGE": "The content is larger than the server accepts now; retry later.",
    "NO-ROUTE": "A mandatory message could not be routed to any queue.",
    "NO-CONSUMERS": "An immediate message could not be delivered to a consumer at once.",
    "CONNECTION-FORCED": "An operator closed the connection.",
    "INVALID-PATH": "The virtual host does not exist.",
    "ACCESS-REFUSED": "The user may not use the resource.",
    "NOT-FOUND": "The resource (queue, exchange, ...) does not exist.",
    "RESOURCE-LOCKED": "The resource is exclusive to another connection.",
    "PRECONDITION-FAILED": "A precondition of the method failed (declare with other properties, "
                           "...).",
    "FRAME-ERROR": "A frame could not be decoded.",
    "SYNTAX-ERROR": "A frame held illegal field values.",
    "COMMAND-INVALID": "A method was sent where it is not allowed.",
    "CHANNEL-ERROR": "A channel was used wrongly (not open, already open, ...).",
    "UNEXPECTED-FRAME": "A frame came out of order (a body with no content header, ...).",
    "RESOURCE-ERROR": "The server ran out of a resource.",
    "NOT-ALLOWED": "The method is not allowed, as a matter of policy.",
    "NOT-IMPLEMENTED": "The functionality is not implemented by the peer.",
    "INTERNAL-ERROR": "The peer failed internally.",
}


def camel(name):
    return "".join(part.capitalize() for part in name.replace("_", "-").split("-"))


def snake(name):
    s = name.replace("-", "_").replace(" ", "_")
    s = RENAME.get(s, s)
    if s in KEYWORDS:
        sys.exit("field name %r is a Rust keyword: add it to RENAME" % name)
    return s


def rust_str(s):
    """A Rust string literal for `s` (ASCII only in this spec)."""
    out = []
    for ch in s:
        if ch in "\\\"":
            out.append("\\" + ch)
        elif " " <= ch <= "~":
            out.append(ch)
        else:
            out.append("\\u{%x}" % ord(ch))
    return '"' + "".join(out) + '"'


class Spec:
    def __init__(self, data):
        self.data = data
        self.domains = {name: typ for name, typ in data["domains"]}
        self.classes = []
        for c in data["classes"]:
            methods = []
            for m in c["methods"]:
                fields = []
                for a in m["arguments"]:
                    domain = a.get("domain", a.get("type"))
                    fields.append({
                        "spec_name": a["name"],
                        "name": snake(a["name"]),
                        "domain": domain,
                        "type": self.resolve(domain),
                        "default": a.get("default-value"),
                    })
                methods.append({
                    "class": c,
                    "class_name": c["name"],
                    "class_id": c["id"],
                    "spec_name": m["name"],
                    "id": m["id"],
                    "struct": camel(c["name"]) + camel(m["name"]),
                    "full_name": "%s.%s" % (c["name"], m["name"]),
                    "synchronous": bool(m.get("synchronous", False)),
                    "content": bool(m.get("content", False)),
                    "fields": fields,
                })
            props = [{"spec_name": p["name"], "name": snake(p["name"]),
                      "type": self.resolve(p.get("domain", p.get("type")))}
                     for p in c.get("properties", [])]
            self.classes.append({"name": c["name"], "id": c["id"], "methods": methods,
                                 "properties": props})
        self.methods = [m for c in self.classes for m in c["methods"]]

    def resolve(self, domain):
        seen = set()
        while domain in self.domains and self.domains[domain] != domain:
            if domain in seen:
                sys.exit("domain loop at %r" % domain)
            seen.add(domain)
            domain = self.domains[domain]
        if domain not in RUST_TYPE:
            sys.exit("unknown type %r" % domain)
        return domain


def pack(fields):
    """Groups fields as they go on the wire: runs of bits share octets (at most 8 each, first bit
    in the least significant position); any other field ends a run."""
    groups = []
    run = None
    for f in fields:
        if f["type"] == "bit":
            if run is None or len(run) == 8:
                run = []
                groups.append(("bits", run))
            run.append(f)
        else:
            run = None
            groups.append(("field", f))
    return groups


def default_expr(f):
    t, d = f["type"], f["default"]
    if t == "bit":
        return "true" if d else "false"
    if t in PUT_INT:
        return str(d or 0)
    if t == "shortstr":
        return "ShortStr::from_static(%s)" % rust_str(d) if d else "ShortStr::new()"
    if t == "longstr":
        return "Bytes::from_static(b%s)" % rust_str(d) if d else "Bytes::new()"
    if t == "table":
        if d:
            sys.exit("non-empty table defaults are not supported")
        return "FieldTable::new()"
    raise AssertionError(t)


def is_type_default(f):
    d = f["default"]
    return d is None or d in (0, False, "", {})


class Writer:
    def __init__(self):
        self.lines = []

    def __call__(self, line="", indent=0):
        self.lines.append(("    " * indent + line).rstrip())

    def doc(self, text, indent=0, prefix="///"):
        """A doc comment, wrapped at the max width."""
        width = MAX_WIDTH - 4 * indent - len(prefix) - 1
        for para in text.split("\n"):
            if not para:
                self(prefix, indent)
                continue
            line = ""
            for word in para.split(" "):
                if line and len(line) + 1 + len(word) > width:
                    self(prefix + " " + line, indent)
                    line = word
                else:
                    line = line + " " + word if line else word
            self(prefix + " " + line, indent)

    def struct_lit(self, head, inits, tail, indent):
        """`head Name { a, b }tail` on one line if rustfmt would keep it there, else one field a
        line."""
        body = ", ".join(inits)
        one = "    " * indent + head + " { " + body + " }" + tail
        if not inits:
            self(head + " {}" + tail, indent)
        elif len(body) <= STRUCT_LIT_WIDTH and len(one) <= MAX_WIDTH:
            self(head + " { " + body + " }" + tail, indent)
        else:
            self(head + " {", indent)
            for i in inits:
                self(i + ",", indent + 1)
            self("}" + tail, indent)


def gen_header(w, spec):
    w("// generated by protocols/gen/amqp_codegen.py from shared/spec/amqp-rabbitmq-0.9.1.json "
      "— do not edit")
    w("// (the spec is kept as protocols/gen/amqp-rabbitmq-0.9.1.json; after changing it or the "
      "script, run")
    w("// `python3 protocols/gen/amqp_codegen.py`; the test amqp_codegen checks this file is "
      "current)")
    w()
    w("//! The data of the spec as Rust: constants, [`ReplyCode`], one struct per method, "
      "[`Method`],")
    w("//! and [`BasicProperties`].")
    w("//!")
    w("//! Field names are the spec's in snake case, except `type`, which is `kind`. Field types:")
    w("//! octet `u8`, short `u16`, long `u32`, longlong and timestamp `u64`, bit `bool`, shortstr")
    w("//! [`ShortStr`], longstr [`Bytes`], table [`FieldTable`]. Each struct's `Default` holds "
      "the")
    w("//! spec's default values (zero, false or empty where it names none).")
    w("//!")
    w("//! Consecutive bit fields share octets, first field in the least significant bit, 8 to "
      "an octet;")
    w("//! any other field ends a run:")
    w("//!")
    w("//! ```text")
    w("//! queue.declare: ticket u16 | queue shortstr | bits: passive 0x01, durable 0x02, "
      "exclusive 0x04,")
    w("//!                auto-delete 0x08, nowait 0x10 | arguments table")
    w("//! ```")
    w()
    w("use std::fmt;")
    w()
    w("use bytes::{Buf, Bytes, BytesMut};")
    w()
    w("use super::wire::{self, Reader, Writer};")
    w("use super::{EncodeError, FieldTable, Malformed, ShortStr};")
    w()
    w("/// The AMQP version these definitions are for: 0-9-1, major part.")
    w("pub const VERSION_MAJOR: u8 = %d;" % spec.data["major-version"])
    w("/// The AMQP version these definitions are for: 0-9-1, minor part.")
    w("pub const VERSION_MINOR: u8 = %d;" % spec.data["minor-version"])
    w("/// The AMQP version these definitions are for: 0-9-1, revision.")
    w("pub const VERSION_REVISION: u8 = %d;" % spec.data["revision"])
    w("/// The IANA port of AMQP.")
    w("pub const PORT: u16 = %d;" % spec.data["port"])


def reply_constants(spec):
    return [c for c in spec.data["constants"]
            if "class" in c or c["name"].startswith("REPLY-")]


def gen_constants(w, spec):
    for c in spec.data["constants"]:
        if c in reply_constants(spec):
            continue
        name = c["name"].replace("-", "_")
        typ = "u32" if c["name"] == "FRAME-MIN-SIZE" else "u8"
        w()
        w.doc(CONSTANT_DOCS.get(c["name"], "`%s` of the spec." % c["name"]))
        w("pub const %s: %s = %d;" % (name, typ, c["value"]))


def gen_reply_code(w, spec):
    codes = reply_constants(spec)
    w()
    w.doc("A reply code of `connection.close`, `channel.close` and `basic.return`, as the spec "
          "lists them.\n\n"
          "Soft errors close the channel, hard errors the connection; see "
          "[`is_hard_error`](Self::is_hard_error). A close may carry a code that is not listed; "
          "methods hold the raw `u16` and [`from_code`](Self::from_code) maps it.")
    w("#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]")
    w("#[repr(u16)]")
    w("pub enum ReplyCode {")
    for c in codes:
        kind = {"soft-error": " Soft error.", "hard-error": " Hard error."}.get(c.get("class"), "")
        desc = CONSTANT_DOCS.get(c["name"], "")
        desc = desc[:1].lower() + desc[1:]
        w.doc("%d `%s`: %s%s" % (c["value"], c["name"].replace("-", "_"), desc, kind), 1)
        w("%s = %d," % (camel(c["name"].lower()), c["value"]), 1)
    w("}")
    w()
    w("impl ReplyCode {")
    w("/// Every reply code, in the spec's order.", 1)
    w("pub const ALL: [ReplyCode; %d] = [" % len(codes), 1)
    for c in codes:
        w("ReplyCode::%s," % camel(c["name"].lower()), 2)
    w("];", 1)
    w()
    w("/// The reply code with this number, if the spec lists it.", 1)
    w("pub fn from_code(code: u16) -> Option<ReplyCode> {", 1)
    w("match code {", 2)
    for c in codes:
        w("%d => Some(ReplyCode::%s)," % (c["value"], camel(c["name"].lower())), 3)
    w("_ => None,", 3)
    w("}", 2)
    w("}", 1)
    w()
    w("/// The number sent on the wire.", 1)
    w("pub fn code(self) -> u16 {", 1)
    w("self as u16", 2)
    w("}", 1)
    w()
    w("/// The spec's name, as RabbitMQ starts its reply texts: `NOT_FOUND`.", 1)
    w("pub fn text(self) -> &'static str {", 1)
    w("match self {", 2)
    for c in codes:
        w('ReplyCode::%s => "%s",' % (camel(c["name"].lower()), c["name"].replace("-", "_")), 3)
    w("}", 2)
    w("}", 1)
    for cls, fn, what in (("soft-error", "is_soft_error", "closes the channel"),
                          ("hard-error", "is_hard_error", "closes the connection")):
        w()
        w("/// Whether the spec classes this code as a %s: it %s." % (cls.replace("-", " "), what),
          1)
        w("pub fn %s(self) -> bool {" % fn, 1)
        w("match self {", 2)
        for c in codes:
            w("ReplyCode::%s => %s," % (camel(c["name"].lower()),
                                        "true" if c.get("class") == cls else "false"), 3)
        w("}", 2)
        w("}", 1)
    w("}")
    w()
    w("impl fmt::Display for ReplyCode {")
    w("/// `404 NOT_FOUND`.", 1)
    w("fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {", 1)
    w('write!(f, "{} {}", self.code(), self.text())', 2)
    w("}", 1)
    w("}")


def field_doc(f):
    t = f["type"]
    typ = t if f["domain"] == t else "%s: %s" % (f["domain"], t)
    d = f["default"]
    if d is None:
        return "`%s` (%s)." % (f["spec_name"], typ)
    if isinstance(d, bool):
        shown = "true" if d else "false"
    elif isinstance(d, str):
        shown = '"%s"' % d
    elif isinstance(d, dict):
        shown = "empty"
    else:
        shown = str(d)
    return "`%s` (%s), default %s." % (f["spec_name"], typ, shown)


def has_nowait(m):
    return any(f["name"] == "nowait" for f in m["fields"])


def method_doc(m):
    text = "`%s`: class %d, method %d." % (m["full_name"], m["class_id"], m["id"])
    if m["synchronous"]:
        if has_nowait(m):
            text += " Synchronous unless `nowait` is set: the peer answers it."
        else:
            text += " Synchronous: the peer answers it."
    if m["content"]:
        text += " Carries content: a content header and body frames follow it."
    return text


def gen_method_struct(w, m):
    fields = m["fields"]
    derives = ["Debug", "Clone"]
    if not fields:
        derives += ["Copy"]
    derive_default = all(is_type_default(f) for f in fields)
    if derive_default:
        derives += ["Default"]
    derives += ["PartialEq"]
    if not any(f["type"] == "table" for f in fields):
        derives += ["Eq"]
    w()
    w.doc(method_doc(m))
    w("#[derive(%s)]" % ", ".join(derives))
    if not fields:
        w("pub struct %s;" % m["struct"])
    else:
        w("pub struct %s {" % m["struct"])
        for f in fields:
            w.doc(field_doc(f), 1)
            w("pub %s: %s," % (f["name"], RUST_TYPE[f["type"]]), 1)
        w("}")

    if not derive_default:
        w()
        w("impl Default for %s {" % m["struct"])
        w("fn default() -> Self {", 1)
        w.struct_lit(m["struct"], ["%s: %s" % (f["name"], default_expr(f)) for f in fields], "",
                     2)
        w("}", 1)
        w("}")

    w()
    w("impl %s {" % m["struct"])
    w("/// The class id, %d." % m["class_id"], 1)
    w("pub const CLASS_ID: u16 = %d;" % m["class_id"], 1)
    w("/// The method id, %d." % m["id"], 1)
    w("pub const METHOD_ID: u16 = %d;" % m["id"], 1)
    w("/// The name, `%s`." % m["full_name"], 1)
    w('pub const NAME: &\'static str = "%s";' % m["full_name"], 1)
    if fields:
        gen_decode_fields(w, m)
        gen_fields_len(w, m)
        gen_write_fields(w, m)
    w("}")

    w()
    w("impl From<%s> for Method {" % m["struct"])
    w("fn from(m: %s) -> Self {" % m["struct"], 1)
    w("Method::%s(m)" % m["struct"], 2)
    w("}", 1)
    w("}")


def bit_names(groups):
    runs = [g for kind, g in groups if kind == "bits"]
    if len(runs) == 1:
        return {id(runs[0]): "bits"}
    return {id(r): "bits%d" % i for i, r in enumerate(runs)}


def gen_decode_fields(w, m):
    groups = pack(m["fields"])
    names = bit_names(groups)
    w()
    w("fn decode_fields(buf: &mut Reader<'_>) -> Result<Self, Malformed> {", 1)
    inits = []
    for kind, g in groups:
        if kind == "bits":
            var = names[id(g)]
            w("let %s = buf.u8()?;" % var, 2)
            for i, f in enumerate(g):
                inits.append("%s: %s & 0x%02x != 0" % (f["name"], var, 1 << i))
        else:
            w("let %s = %s;" % (g["name"], GET[g["type"]]), 2)
            inits.append(g["name"])
    w.struct_lit("Ok(%s" % m["struct"], inits, ")", 2)
    w("}", 1)


def gen_fields_len(w, m):
    fixed = 0
    variable = []
    for kind, g in pack(m["fields"]):
        if kind == "bits":
            fixed += 1
            continue
        fixed += FIXED_SIZE[g["type"]]
        if g["type"] in ("shortstr", "longstr"):
            variable.append("self.%s.len()" % g["name"])
        elif g["type"] == "table":
            variable.append("self.%s.encoded_len()?" % g["name"])
    w()
    w("fn fields_len(&self) -> Result<usize, EncodeError> {", 1)
    if not variable:
        w("Ok(%d)" % fixed, 2)
    else:
        w("let mut len = %d;" % fixed, 2)
        for v in variable:
            w("len += %s;" % v, 2)
        w("Ok(len)", 2)
    w("}", 1)


def gen_write_fields(w, m):
    w()
    w("fn write_fields(&self, out: &mut Writer<'_>) {", 1)
    for kind, g in pack(m["fields"]):
        if kind == "bits":
            if len(g) == 1:
                w("wire::put_u8(out, u8::from(self.%s));" % g[0]["name"], 2)
                continue
            w("let mut bits = u8::from(self.%s);" % g[0]["name"], 2)
            for i, f in enumerate(g[1:], 1):
                w("bits |= u8::from(self.%s) << %d;" % (f["name"], i), 2)
            w("wire::put_u8(out, bits);", 2)
        elif g["type"] in PUT_INT:
            w("wire::%s(out, self.%s);" % (PUT_INT[g["type"]], g["name"]), 2)
        elif g["type"] == "shortstr":
            w("wire::put_shortstr(out, &self.%s);" % g["name"], 2)
        elif g["type"] == "longstr":
            w("wire::put_longstr(out, &self.%s);" % g["name"], 2)
        elif g["type"] == "table":
            w("self.%s.write(out);" % g["name"], 2)
    w("}", 1)


def match_arm(w, pattern, value, indent):
    """`pattern => value,` on one line, or rustfmt's split form when it does not fit."""
    line = "%s => %s%s" % (pattern, value, "" if value.endswith("}") else ",")
    if len("    " * indent + line) <= MAX_WIDTH:
        w(line, indent)
    else:
        w("%s => {" % pattern, indent)
        w(value, indent + 1)
        w("}", indent)


def gen_method_enum(w, spec):
    methods = spec.methods
    w()
    w.doc("Any AMQP 0-9-1 method: what a method frame carries.\n\n"
          "[`decode`](Self::decode) reads a method's arguments given its class and method ids; "
          "[`encode`](Self::encode) writes the ids and the arguments, which is the payload of a "
          "method frame:")
    w("///")
    w("/// ```text")
    w("/// +--------------+---------------+----------------------------+")
    w("/// | class-id u16 | method-id u16 | arguments, in spec order   |")
    w("/// +--------------+---------------+----------------------------+")
    w("/// ```")
    w("#[derive(Debug, Clone, PartialEq)]")
    w("pub enum Method {")
    for m in methods:
        w("/// `%s`." % m["full_name"], 1)
        w("%s(%s)," % (m["struct"], m["struct"]), 1)
    w("}")
    w()
    w("impl Method {")

    w.doc("The class id.", 1)
    w("pub fn class_id(&self) -> u16 {", 1)
    w("self.ids().0", 2)
    w("}", 1)
    w()
    w.doc("The method id.", 1)
    w("pub fn method_id(&self) -> u16 {", 1)
    w("self.ids().1", 2)
    w("}", 1)
    w()
    w.doc("The class and method ids.", 1)
    w("pub fn ids(&self) -> (u16, u16) {", 1)
    w("match self {", 2)
    for m in methods:
        match_arm(w, "Method::%s(_)" % m["struct"], "(%d, %d)" % (m["class_id"], m["id"]), 3)
    w("}", 2)
    w("}", 1)
    w()
    w.doc("The name, `class.method` as in the spec: `basic.publish`.", 1)
    w("pub fn name(&self) -> &'static str {", 1)
    w("match self {", 2)
    for m in methods:
        match_arm(w, "Method::%s(_)" % m["struct"], '"%s"' % m["full_name"], 3)
    w("}", 2)
    w("}", 1)
    w()
    w.doc("Whether content (a content header and body frames) follows this method: "
          "`basic.publish`, `basic.return`, `basic.deliver` and `basic.get-ok`.", 1)
    w("pub fn has_content(&self) -> bool {", 1)
    w("match self {", 2)
    for m in methods:
        match_arm(w, "Method::%s(_)" % m["struct"], "true" if m["content"] else "false", 3)
    w("}", 2)
    w("}", 1)
    w()
    w.doc("Whether the peer answers this method, as RabbitMQ reckons it: the spec marks the "
          "method synchronous and, if it has a `nowait` field, that field is false.", 1)
    w("pub fn is_synchronous(&self) -> bool {", 1)
    w("match self {", 2)
    for m in methods:
        if m["synchronous"] and has_nowait(m):
            match_arm(w, "Method::%s(m)" % m["struct"], "!m.nowait", 3)
        else:
            match_arm(w, "Method::%s(_)" % m["struct"], "true" if m["synchronous"] else "false",
                      3)
    w("}", 2)
    w("}", 1)
    w()
    w.doc("The bytes [`encode`](Self::encode) writes: ids and arguments.\n\n"
          "# Errors\n\n"
          "[`EncodeError::TooDeep`] for a field table nested too deeply, "
          "[`EncodeError::TooLong`] if the whole exceeds the 4 GiB a frame can carry.", 1)
    w("pub fn encoded_len(&self) -> Result<usize, EncodeError> {", 1)
    w("let fields = match self {", 2)
    for m in methods:
        if m["fields"]:
            match_arm(w, "Method::%s(m)" % m["struct"], "m.fields_len()?", 3)
        else:
            match_arm(w, "Method::%s(_)" % m["struct"], "0", 3)
    w("};", 2)
    w("let len = 4 + fields;", 2)
    w("if len > u32::MAX as usize {", 2)
    w("return Err(EncodeError::TooLong { len });", 3)
    w("}", 2)
    w("Ok(len)", 2)
    w("}", 1)
    w()
    w.doc("Appends the class id, the method id and the arguments to `out`, reserving their exact "
          "size first: the payload of a method frame.\n\n"
          "# Errors\n\n"
          "As [`encoded_len`](Self::encoded_len); nothing is written then.", 1)
    w("pub fn encode(&self, out: &mut BytesMut) -> Result<(), EncodeError> {", 1)
    w("wire::append(out, self.encoded_len()?, |w| self.write(w));", 2)
    w("Ok(())", 2)
    w("}", 1)
    w()
    w("/// Writes a method [`encoded_len`](Self::encoded_len) accepted: ids and arguments.", 1)
    w("pub(crate) fn write(&self, out: &mut Writer<'_>) {", 1)
    w("match self {", 2)
    for m in methods:
        ids = "wire::put_ids(out, %d, %d)" % (m["class_id"], m["id"])
        if m["fields"]:
            w("Method::%s(m) => {" % m["struct"], 3)
            w("%s;" % ids, 4)
            w("m.write_fields(out);", 4)
            w("}", 3)
        else:
            match_arm(w, "Method::%s(_)" % m["struct"], ids, 3)
    w("}", 2)
    w("}", 1)
    w("}")

    w()
    w.doc("Reads the arguments of method `class_id`.`method_id` through `buf`; `None` for ids the "
          "spec does not list. [`Method::decode`], beside the frame decoder, turns these answers "
          "into [`AmqpError`](super::AmqpError)s.")
    w("pub(crate) fn decode_method(")
    w("class_id: u16,", 1)
    w("method_id: u16,", 1)
    w("buf: &mut Reader<'_>,", 1)
    w(") -> Result<Option<Method>, Malformed> {")
    w("let method = match (class_id, method_id) {", 1)
    for m in methods:
        pattern = "(%d, %d)" % (m["class_id"], m["id"])
        if m["fields"]:
            value = "Method::%s(%s::decode_fields(buf)?)" % (m["struct"], m["struct"])
        else:
            value = "Method::%s(%s)" % (m["struct"], m["struct"])
        match_arm(w, pattern, value, 2)
    w("_ => return Ok(None),", 2)
    w("};", 1)
    w("Ok(Some(method))", 1)
    w("}")

    w()
    w.doc("The name of method `class_id`.`method_id` (`basic.publish`), if the spec lists it: "
          "for messages about methods that could not be decoded.")
    w("pub fn method_name(class_id: u16, method_id: u16) -> Option<&'static str> {")
    w("match (class_id, method_id) {", 1)
    for m in methods:
        match_arm(w, "(%d, %d)" % (m["class_id"], m["id"]), 'Some("%s")' % m["full_name"], 2)
    w("_ => None,", 2)
    w("}", 1)
    w("}")
    w()
    w.doc("The name of class `class_id` (`basic`), if the spec lists it.")
    w("pub fn class_name(class_id: u16) -> Option<&'static str> {")
    w("match class_id {", 1)
    for c in spec.classes:
        w('%d => Some("%s"),' % (c["id"], c["name"]), 2)
    w("_ => None,", 2)
    w("}", 1)
    w("}")


def gen_properties(w, spec):
    for c in spec.classes:
        props = c["properties"]
        if not props:
            continue
        if len(props) > 15:
            sys.exit("more than 15 properties need a second flag word: not supported")
        name = camel(c["name"]) + "Properties"
        bit = {p["name"]: 1 << (15 - i) for i, p in enumerate(props)}
        unused = 0
        for i in range(len(props), 15):
            unused |= 1 << (15 - i)
        w()
        w.doc("The properties of a `%s` content header: %d optional fields, each present when its "
              "flag is set." % (c["name"], len(props)))
        w("///")
        w("/// ```text")
        w("/// +-----------+--------------------+---------------------------------------+")
        w("/// | flags u16 | [more flag words]  | each present property, in this order  |")
        w("/// +-----------+--------------------+---------------------------------------+")
        for p in props:
            w("/// flag 0x%04x  %-18s %s" % (bit[p["name"]], p["spec_name"], p["type"]))
        w("/// flag 0x0001  another flag word follows (never set on encode: these properties fit one)")
        w("/// ```")
        w("///")
        w.doc("Decoding refuses flags for properties the class does not have "
              "([`Malformed::PropertyFlags`]), and accepts continuation words only if they name "
              "no property.")
        w("#[derive(Debug, Clone, Default, PartialEq)]")
        w("pub struct %s {" % name)
        for p in props:
            w("/// `%s` (%s)." % (p["spec_name"], p["type"]), 1)
            w("pub %s: Option<%s>," % (p["name"], RUST_TYPE[p["type"]]), 1)
        w("}")
        w()
        w("impl %s {" % name)
        w("/// The class these properties belong to, %d." % c["id"], 1)
        w("pub const CLASS_ID: u16 = %d;" % c["id"], 1)
        w()
        w("/// The property flags: one bit per present property.", 1)
        w("pub fn flags(&self) -> u16 {", 1)
        w("let mut flags = 0;", 2)
        for p in props:
            w("if self.%s.is_some() {" % p["name"], 2)
            w("flags |= 0x%04x;" % bit[p["name"]], 3)
            w("}", 2)
        w("flags", 2)
        w("}", 1)
        w()
        w.doc("Reads the flags and the present properties from the front of `buf` (a content "
              "header after class id, weight and body size). Strings and tables share `buf`'s "
              "memory.\n\n"
              "# Errors\n\n"
              "[`Malformed`] if the bytes run out, a table does not decode, or flags name "
              "properties that do not exist.", 1)
        w("pub fn decode(buf: &mut Bytes) -> Result<Self, Malformed> {", 1)
        w("let mut props = %s::default();" % name, 2)
        w("let mut reader = Reader::new(buf);", 2)
        w("let result = props.read_into(&mut reader);", 2)
        w("let read = reader.position();", 2)
        w("buf.advance(read);", 2)
        w("result.map(|()| props)", 2)
        w("}", 1)
        w()
        w.doc("[`decode`](Self::decode) through a [`Reader`], into `self`, which is "
              "`Default`: a content header decodes its properties in the box they stay in, "
              "rather than moving them, a few hundred bytes, from call to call.", 1)
        w("pub(crate) fn read_into(&mut self, buf: &mut Reader<'_>) -> Result<(), Malformed> {",
          1)
        w("let flags = buf.u16()?;", 2)
        w("if flags & 0x%04x != 0 {" % unused, 2)
        w("return Err(Malformed::PropertyFlags { flags });", 3)
        w("}", 2)
        w("let mut more = flags & 0x0001 != 0;", 2)
        w("while more {", 2)
        w("let word = buf.u16()?;", 3)
        w("if word & 0xfffe != 0 {", 3)
        w("return Err(Malformed::PropertyFlags { flags: word });", 4)
        w("}", 3)
        w("more = word & 0x0001 != 0;", 3)
        w("}", 2)
        for p in props:
            w("if flags & 0x%04x != 0 {" % bit[p["name"]], 2)
            w("self.%s = Some(%s);" % (p["name"], GET[p["type"]]), 3)
            w("}", 2)
        w("Ok(())", 2)
        w("}", 1)
        w()
        w.doc("The bytes [`encode`](Self::encode) writes: flags and present properties.\n\n"
              "# Errors\n\n"
              "[`EncodeError::TooDeep`] or [`EncodeError::TooLong`] for a bad `headers` table.",
              1)
        w("pub fn encoded_len(&self) -> Result<usize, EncodeError> {", 1)
        w("let mut len = 2;", 2)
        for p in props:
            t = p["type"]
            if t in ("shortstr", "longstr"):
                w("if let Some(v) = &self.%s {" % p["name"], 2)
                w("len += %d + v.len();" % FIXED_SIZE[t], 3)
                w("}", 2)
            elif t == "table":
                w("if let Some(v) = &self.%s {" % p["name"], 2)
                w("len += v.encoded_len()?;", 3)
                w("}", 2)
            else:
                w("if self.%s.is_some() {" % p["name"], 2)
                w("len += %d;" % FIXED_SIZE[t], 3)
                w("}", 2)
        w("Ok(len)", 2)
        w("}", 1)
        w()
        w.doc("Appends the flags and the present properties to `out`.\n\n"
              "# Errors\n\n"
              "As [`encoded_len`](Self::encoded_len); nothing is written then.", 1)
        w("pub fn encode(&self, out: &mut BytesMut) -> Result<(), EncodeError> {", 1)
        w("wire::append(out, self.encoded_len()?, |w| self.write(w));", 2)
        w("Ok(())", 2)
        w("}", 1)
        w()
        w("/// Writes properties [`encoded_len`](Self::encoded_len) accepted.", 1)
        w("pub(crate) fn write(&self, out: &mut Writer<'_>) {", 1)
        w("// The flags are filled in at the end: one test per property, not two.", 2)
        w("let at = wire::start_flags(out);", 2)
        w("let mut flags = 0;", 2)
        for p in props:
            t = p["type"]
            if t in PUT_INT:
                w("if let Some(v) = self.%s {" % p["name"], 2)
                w("flags |= 0x%04x;" % bit[p["name"]], 3)
                w("wire::%s(out, v);" % PUT_INT[t], 3)
            elif t == "shortstr":
                w("if let Some(v) = &self.%s {" % p["name"], 2)
                w("flags |= 0x%04x;" % bit[p["name"]], 3)
                w("wire::put_shortstr(out, v);", 3)
            elif t == "longstr":
                w("if let Some(v) = &self.%s {" % p["name"], 2)
                w("flags |= 0x%04x;" % bit[p["name"]], 3)
                w("wire::put_longstr(out, v);", 3)
            elif t == "table":
                w("if let Some(v) = &self.%s {" % p["name"], 2)
                w("flags |= 0x%04x;" % bit[p["name"]], 3)
                w("v.write(out);", 3)
            else:
                raise AssertionError(t)
            w("}", 2)
        w("wire::end_flags(out, at, flags);", 2)
        w("}", 1)
        w("}")


def sample_value(f, i):
    """A value unlike the spec's default, distinct per field position."""
    t = f["type"]
    if t == "bit":
        return "false" if f["default"] else "true"
    if t in PUT_INT:
        bits = {"octet": 8, "short": 16, "long": 32, "longlong": 64, "timestamp": 64}[t]
        v = (0x0102030405060708 + i * 0x1111) % (1 << bits)
        if v == (f["default"] or 0):
            v += 1
        return "0x%x" % v
    if t == "shortstr":
        return 'ShortStr::from_static("%s-%d")' % (f["spec_name"], i)
    if t == "longstr":
        return 'Bytes::from_static(b"%s\\x00\\xff%d")' % (f["spec_name"], i)
    if t == "table":
        return "sample_table(%d)" % i
    raise AssertionError(t)


def gen_samples(w, spec):
    w()
    w("/// One value of every method, every field unlike its default: for the round-trip tests.")
    w("#[cfg(test)]")
    w("pub(crate) fn sample_methods() -> Vec<Method> {")
    w("fn sample_table(i: i32) -> FieldTable {", 1)
    w("let mut t = FieldTable::new();", 2)
    w('t.push(ShortStr::from_static("n"), i.into());', 2)
    w("t", 2)
    w("}", 1)
    w("vec![", 1)
    for m in spec.methods:
        if not m["fields"]:
            w("Method::%s(%s)," % (m["struct"], m["struct"]), 2)
            continue
        inits = ["%s: %s" % (f["name"], sample_value(f, i)) for i, f in enumerate(m["fields"])]
        w.struct_lit("Method::%s(%s" % (m["struct"], m["struct"]), inits, "),", 2)
    w("]", 1)
    w("}")


def generate(spec):
    w = Writer()
    gen_header(w, spec)
    gen_constants(w, spec)
    gen_reply_code(w, spec)
    for m in spec.methods:
        gen_method_struct(w, m)
    gen_method_enum(w, spec)
    gen_properties(w, spec)
    gen_samples(w, spec)
    return "\n".join(w.lines) + "\n"


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--stdout", action="store_true", help="print instead of writing the file")
    parser.add_argument("--spec", default=SPEC, help="the codegen JSON (default: beside me)")
    parser.add_argument("--output", default=OUTPUT, help="where to write (default: %(default)s)")
    args = parser.parse_args()
    with open(args.spec, encoding="utf-8") as f:
        spec = Spec(json.load(f))
    text = generate(spec)
    if args.stdout:
        sys.stdout.buffer.write(text.encode("utf-8"))
    else:
        with open(args.output, "w", encoding="utf-8", newline="\n") as f:
            f.write(text)


if __name__ == "__main__":
    main()
