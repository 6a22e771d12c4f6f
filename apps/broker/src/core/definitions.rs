//! RabbitMQ's definitions file: the JSON of `rabbitmqctl export_definitions` and of the
//! management UI's "Export definitions", read as RabbitMQ 3.10 reads it
//! (`rabbit_definitions`), so a file exported from a RabbitMQ node loads unchanged.
//!
//! | item | what |
//! |---|---|
//! | [`Definitions`] | the whole file; [`parse`] reads it |
//! | [`UserDef`], [`VhostDef`], [`PermissionDef`] | users, virtual hosts, permission entries |
//! | [`QueueDef`], [`ExchangeDef`], [`BindingDef`] | topology, arguments already [`FieldTable`]s |
//! | [`json_to_field_table`], [`field_value_from_json`], [`field_table_to_json`] | arguments between JSON and AMQP |
//!
//! What is read and what is not:
//! - Unknown fields are ignored, as RabbitMQ ignores them.
//! - `topic_permissions`, `parameters`, `global_parameters` and `policies` are accepted and
//!   not applied (this broker has no topic permissions, runtime parameters or policies); the
//!   file keeps how many there were so the loader can say what it skipped.
//! - User and vhost `limits` and vhost `metadata` are accepted and not applied.
//! - `tags` is a list in 3.9 and later exports and a comma-separated string before: both are
//!   read (`rabbit_auth_backend_internal:tag_list_from`).
//! - A user without `hashing_algorithm` gets the one its file's version implies
//!   ([`Definitions::hashing_algorithm`]).
//! - When applying (the core's job), RabbitMQ skips the default exchange and exchanges named
//!   `amq.*` ([`ExchangeDef::is_importable`]), and declares nothing that already exists.

use serde::de::{Deserializer, Error as _, IgnoredAny};
use serde::Deserialize;
use serde_json::{Map, Number, Value};
use spindle_protocols::amqp::{FieldTable, FieldValue, ShortStr};

/// A definitions file that could not be read.
#[derive(Debug, thiserror::Error)]
pub(crate) enum DefinitionsError {
    /// Not JSON, or JSON not shaped as a definitions file; serde's text names the field and
    /// the line and column.
    #[error("invalid definitions file: {0}")]
    Json(#[from] serde_json::Error),
}

/// Reads a definitions file.
pub(crate) fn parse(json: &[u8]) -> Result<Definitions, DefinitionsError> {
    Ok(serde_json::from_slice(json)?)
}

/// The contents of a definitions file; every section may be absent.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct Definitions {
    /// The RabbitMQ version that exported the file (older name of `rabbitmq_version`).
    pub(crate) rabbit_version: Option<String>,
    /// The RabbitMQ version that exported the file.
    pub(crate) rabbitmq_version: Option<String>,
    /// `RabbitMQ` (or a distribution's name).
    pub(crate) product_name: Option<String>,
    /// The product's version.
    pub(crate) product_version: Option<String>,
    /// Users with their password hashes.
    pub(crate) users: Vec<UserDef>,
    /// Virtual hosts.
    pub(crate) vhosts: Vec<VhostDef>,
    /// Users' permission entries on virtual hosts.
    pub(crate) permissions: Vec<PermissionDef>,
    /// Topic permissions: read, not applied.
    pub(crate) topic_permissions: Vec<IgnoredAny>,
    /// Runtime parameters (federation, shovels): read, not applied.
    pub(crate) parameters: Vec<IgnoredAny>,
    /// Global runtime parameters (cluster name, ...): read, not applied.
    pub(crate) global_parameters: Vec<IgnoredAny>,
    /// Policies: read, not applied.
    pub(crate) policies: Vec<IgnoredAny>,
    /// Queues.
    pub(crate) queues: Vec<QueueDef>,
    /// Exchanges.
    pub(crate) exchanges: Vec<ExchangeDef>,
    /// Bindings, to queues and to exchanges.
    pub(crate) bindings: Vec<BindingDef>,
}

impl Definitions {
    /// The version of RabbitMQ that wrote the file: `rabbitmq_version`, else
    /// `rabbit_version`.
    pub(crate) fn version(&self) -> Option<&str> {
        self.rabbitmq_version
            .as_deref()
            .or(self.rabbit_version.as_deref())
    }

    /// The hashing algorithm of `user`'s hash: its `hashing_algorithm`, or else what the
    /// file's version used (`rabbit_auth_backend_internal:hashing_algorithm/2`): MD5 before
    /// 3.6.0 (refused when the user is added), SHA-256 from 3.6.0 on or when unknown.
    pub(crate) fn hashing_algorithm<'a>(&self, user: &'a UserDef) -> &'a str {
        if let Some(algorithm) = user.hashing_algorithm.as_deref() {
            return algorithm;
        }
        let before_3_6 = ["3.0.", "3.1.", "3.2.", "3.3.", "3.4.", "3.5."];
        match self.version() {
            Some(v) if before_3_6.iter().any(|p| v.starts_with(p)) => "rabbit_password_hashing_md5",
            _ => "rabbit_password_hashing_sha256",
        }
    }

    /// How many entries of the sections read but not applied (topic permissions,
    /// parameters, global parameters, policies) the file held, for the loader's log.
    pub(crate) fn ignored(&self) -> [(&'static str, usize); 4] {
        [
            ("topic_permissions", self.topic_permissions.len()),
            ("parameters", self.parameters.len()),
            ("global_parameters", self.global_parameters.len()),
            ("policies", self.policies.len()),
        ]
    }
}

/// A user: `{"name", "password_hash", "hashing_algorithm", "tags", "limits"}`.
#[derive(Debug, Deserialize)]
pub(crate) struct UserDef {
    /// The login name.
    pub(crate) name: String,
    /// Base64 of salt and digest; empty (or absent) for a user without a password.
    #[serde(default)]
    pub(crate) password_hash: String,
    /// A `rabbit_password_hashing_*` name; see [`Definitions::hashing_algorithm`] if absent.
    #[serde(default)]
    pub(crate) hashing_algorithm: Option<String>,
    /// Tags, from a list or a comma-separated string, blanks trimmed and empty ones dropped.
    #[serde(default, deserialize_with = "tags")]
    pub(crate) tags: Vec<String>,
}

/// A virtual host: `{"name", "limits", "metadata"}` (the last two not applied).
#[derive(Debug, Deserialize)]
pub(crate) struct VhostDef {
    /// The vhost's name.
    pub(crate) name: String,
}

/// A permission entry: `{"user", "vhost", "configure", "write", "read"}`.
#[derive(Debug, Deserialize)]
pub(crate) struct PermissionDef {
    /// The user it is for.
    pub(crate) user: String,
    /// The vhost it is on.
    pub(crate) vhost: String,
    /// The configure pattern.
    pub(crate) configure: String,
    /// The write pattern.
    pub(crate) write: String,
    /// The read pattern.
    pub(crate) read: String,
}

/// A queue: `{"name", "vhost", "durable", "auto_delete", "arguments"}` (3.10 adds `type`,
/// which `arguments`' `x-queue-type` repeats). Flags absent read as false.
#[derive(Debug, Deserialize)]
pub(crate) struct QueueDef {
    /// The queue's name.
    pub(crate) name: String,
    /// Its vhost.
    pub(crate) vhost: String,
    /// Survives a restart.
    #[serde(default)]
    pub(crate) durable: bool,
    /// Deleted when its last consumer goes.
    #[serde(default)]
    pub(crate) auto_delete: bool,
    /// `x-message-ttl`, `x-max-length`, ... as `queue.declare` would carry them.
    #[serde(default, deserialize_with = "arguments")]
    pub(crate) arguments: FieldTable,
}

/// An exchange: `{"name", "vhost", "type", "durable", "auto_delete", "internal",
/// "arguments"}`. Flags absent read as false (`internal` is absent from
/// `rabbitmqctl export_definitions`' output).
#[derive(Debug, Deserialize)]
pub(crate) struct ExchangeDef {
    /// The exchange's name.
    pub(crate) name: String,
    /// Its vhost.
    pub(crate) vhost: String,
    /// `direct`, `fanout`, `topic`, `headers` (checked when declared).
    #[serde(rename = "type")]
    pub(crate) kind: String,
    /// Survives a restart.
    #[serde(default)]
    pub(crate) durable: bool,
    /// Deleted when its last binding goes.
    #[serde(default)]
    pub(crate) auto_delete: bool,
    /// Only other exchanges may publish to it.
    #[serde(default)]
    pub(crate) internal: bool,
    /// `alternate-exchange`, ...
    #[serde(default, deserialize_with = "arguments")]
    pub(crate) arguments: FieldTable,
}

impl ExchangeDef {
    /// Whether RabbitMQ would declare it on import: not the default exchange (`""`) and not
    /// an `amq.*` one, which every vhost already has (`rabbit_definitions:add_exchange_int`
    /// skips them with a warning).
    pub(crate) fn is_importable(&self) -> bool {
        !self.name.is_empty() && !self.name.starts_with("amq.")
    }
}

/// What a binding leads to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum DestinationType {
    /// A queue.
    Queue,
    /// An exchange (exchange-to-exchange binding).
    Exchange,
}

/// A binding: `{"source", "vhost", "destination", "destination_type", "routing_key",
/// "arguments"}`.
#[derive(Debug, Deserialize)]
pub(crate) struct BindingDef {
    /// The exchange messages come from.
    pub(crate) source: String,
    /// The vhost of both ends.
    pub(crate) vhost: String,
    /// The queue or exchange messages go to.
    pub(crate) destination: String,
    /// Whether `destination` names a queue or an exchange.
    pub(crate) destination_type: DestinationType,
    /// The binding key.
    #[serde(default)]
    pub(crate) routing_key: String,
    /// The binding's arguments (`x-match` and the headers to match, for a headers exchange).
    #[serde(default, deserialize_with = "arguments")]
    pub(crate) arguments: FieldTable,
}

/// `tags` as a list of strings or one comma-separated string.
fn tags<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Tags {
        List(Vec<String>),
        Joined(String),
    }
    let tags = match Option::<Tags>::deserialize(d)? {
        None => Vec::new(),
        Some(Tags::List(list)) => list,
        Some(Tags::Joined(joined)) => joined.split(',').map(str::to_owned).collect(),
    };
    Ok(tags
        .into_iter()
        .map(|t| t.trim().to_owned())
        .filter(|t| !t.is_empty())
        .collect())
}

/// `arguments` as an object, converted to a field table; `[]` (Erlang's empty proplist, in
/// old exports) and `null` are an empty table, as `rabbit_definitions:args/1` reads them.
fn arguments<'de, D: Deserializer<'de>>(d: D) -> Result<FieldTable, D::Error> {
    match Value::deserialize(d)? {
        Value::Object(map) => json_to_field_table(&map).map_err(D::Error::custom),
        Value::Null => Ok(FieldTable::new()),
        Value::Array(a) if a.is_empty() => Ok(FieldTable::new()),
        other => Err(D::Error::custom(format!(
            "arguments must be an object, not {other}"
        ))),
    }
}

/// A JSON object that is not a field table.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum ArgumentError {
    /// `null`, which RabbitMQ refuses in arguments (`null_not_allowed`).
    #[error("argument '{0}' is null; null is not allowed in arguments")]
    Null(String),
    /// An integer outside the signed 64-bit range of a `long` field.
    #[error("argument '{0}' is an integer out of range for a signed 64-bit field")]
    OutOfRange(String),
    /// A name longer than a field name's 255 bytes.
    #[error("argument name '{0}' is longer than 255 bytes")]
    NameTooLong(String),
}

/// A JSON object as a field table, as `rabbit_misc:to_amqp_table` converts it (see
/// [`field_value_from_json`]).
pub(crate) fn json_to_field_table(map: &Map<String, Value>) -> Result<FieldTable, ArgumentError> {
    map.iter()
        .map(|(name, value)| {
            let key = ShortStr::try_from(name.as_str())
                .map_err(|_| ArgumentError::NameTooLong(name.clone()))?;
            Ok((key, field_value_from_json(name, value)?))
        })
        .collect()
}

/// A JSON value as a field value, as `rabbit_misc:type_val` converts it: integers → `l`
/// (long), other numbers → `d` (double), strings → `S`, booleans → `t`, arrays → `A`,
/// objects → `F`. `null` is refused, as RabbitMQ refuses it (`null_not_allowed`); `name`
/// (the argument it belongs to) names it in the error.
pub(crate) fn field_value_from_json(
    name: &str,
    value: &Value,
) -> Result<FieldValue, ArgumentError> {
    Ok(match value {
        Value::Null => return Err(ArgumentError::Null(name.to_owned())),
        Value::Bool(b) => FieldValue::Bool(*b),
        Value::Number(n) => number_value(name, n)?,
        Value::String(s) => FieldValue::from(s.as_str()),
        Value::Array(items) => FieldValue::Array(
            items
                .iter()
                .map(|v| field_value_from_json(name, v))
                .collect::<Result<_, _>>()?,
        ),
        Value::Object(map) => FieldValue::Table(json_to_field_table(map)?),
    })
}

fn number_value(name: &str, n: &Number) -> Result<FieldValue, ArgumentError> {
    if let Some(i) = n.as_i64() {
        Ok(FieldValue::I64(i))
    } else if n.is_u64() {
        Err(ArgumentError::OutOfRange(name.to_owned()))
    } else {
        Ok(FieldValue::F64(n.as_f64().unwrap_or(f64::NAN)))
    }
}

/// A field table as a JSON object, as `rabbit_misc:amqp_table` writes arguments in an
/// export: numbers of every width as JSON numbers (a decimal as its value, a timestamp as
/// its seconds), strings and byte arrays as strings (invalid UTF-8 replaced), `V` as `null`;
/// of duplicate names the last counts.
pub(crate) fn field_table_to_json(table: &FieldTable) -> Map<String, Value> {
    table
        .iter()
        .map(|(k, v)| {
            (
                String::from_utf8_lossy(k.as_bytes()).into_owned(),
                field_value_to_json(v),
            )
        })
        .collect()
}

fn field_value_to_json(value: &FieldValue) -> Value {
    match value {
        FieldValue::Bool(b) => Value::Bool(*b),
        FieldValue::I8(v) => (*v).into(),
        FieldValue::U8(v) => (*v).into(),
        FieldValue::I16(v) => (*v).into(),
        FieldValue::U16(v) => (*v).into(),
        FieldValue::I32(v) => (*v).into(),
        FieldValue::U32(v) => (*v).into(),
        FieldValue::I64(v) | FieldValue::I64L(v) => (*v).into(),
        FieldValue::Timestamp(v) => (*v).into(),
        FieldValue::F32(v) => float(f64::from(*v)),
        FieldValue::F64(v) => float(*v),
        FieldValue::Decimal(d) => float(f64::from(d.value) / 10f64.powi(i32::from(d.scale))),
        FieldValue::LongStr(b) | FieldValue::ByteArray(b) => {
            Value::String(String::from_utf8_lossy(b).into_owned())
        }
        FieldValue::Array(items) => Value::Array(items.iter().map(field_value_to_json).collect()),
        FieldValue::Table(t) => Value::Object(field_table_to_json(t)),
        FieldValue::Void => Value::Null,
    }
}

/// A float as a JSON number; NaN and infinities, which JSON cannot hold, as `null`.
fn float(v: f64) -> Value {
    Number::from_f64(v).map_or(Value::Null, Value::Number)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::auth::{Access, Users};
    use bytes::Bytes;
    use serde_json::json;
    use spindle_protocols::amqp::Decimal;

    /// A `rabbitmqctl export_definitions` file in RabbitMQ 3.10.7's format (keys sorted,
    /// tags as lists, vhost limits as `[]`, queues with `type`). Passwords: guest `test12`
    /// (the hash of RabbitMQ's passwords guide), orders `orders-pass` (salt 5F1A2B3C,
    /// SHA-256), watcher `watcher-pass` (salt 0A0B0C0D, SHA-512), hashed with Python's
    /// hashlib as `rabbit_password` does.
    const EXPORT_3_10: &[u8] =
        include_bytes!("../../tests/fixtures/definitions-rabbitmq-3.10.json");

    fn obj(v: Value) -> Map<String, Value> {
        match v {
            Value::Object(m) => m,
            _ => unreachable!(),
        }
    }

    #[test]
    fn loads_a_rabbitmq_3_10_export() {
        let defs = parse(EXPORT_3_10).unwrap();
        assert_eq!(defs.version(), Some("3.10.7"));
        assert_eq!(defs.product_name.as_deref(), Some("RabbitMQ"));
        assert_eq!(
            defs.ignored(),
            [
                ("topic_permissions", 0),
                ("parameters", 0),
                ("global_parameters", 1),
                ("policies", 1)
            ]
        );

        let names: Vec<&str> = defs.vhosts.iter().map(|v| v.name.as_str()).collect();
        assert_eq!(names, ["/", "shop"]);

        // Users and permissions go into Users and work.
        let mut users = Users::default();
        for u in &defs.users {
            users
                .add_user_with_hash(
                    &u.name,
                    &u.password_hash,
                    defs.hashing_algorithm(u),
                    u.tags.clone(),
                )
                .unwrap();
        }
        for p in &defs.permissions {
            users
                .set_permissions(&p.user, &p.vhost, &p.configure, &p.write, &p.read)
                .unwrap();
        }
        assert_eq!(
            users.authenticate("guest", "test12").unwrap().tags,
            ["administrator"]
        );
        assert!(users
            .authenticate("orders", "orders-pass")
            .unwrap()
            .tags
            .is_empty());
        assert_eq!(
            users.authenticate("watcher", "watcher-pass").unwrap().tags,
            ["monitoring", "management"]
        );
        assert!(users.may_open("orders", "shop") && !users.may_open("orders", "/"));
        assert!(users.allowed("orders", "shop", Access::Configure, b"orders.created"));
        assert!(!users.allowed("orders", "shop", Access::Configure, b"events"));
        assert!(users.allowed("orders", "shop", Access::Write, b"events"));
        assert!(!users.allowed("orders", "shop", Access::Write, b"events2"));
        assert!(users.allowed("watcher", "shop", Access::Read, b"orders.created"));
        assert!(!users.allowed("watcher", "shop", Access::Write, b"orders.created"));

        // Topology.
        let q = &defs.queues[0];
        assert_eq!(
            (q.name.as_str(), q.vhost.as_str(), q.durable, q.auto_delete),
            ("orders.created", "shop", true, false)
        );
        assert_eq!(
            q.arguments.get("x-message-ttl"),
            Some(&FieldValue::I64(60000))
        );
        assert_eq!(
            q.arguments.get("x-queue-type"),
            Some(&FieldValue::from("classic"))
        );
        assert!(defs.queues[1].arguments.is_empty() && !defs.queues[1].durable);

        let x = &defs.exchanges[0];
        assert_eq!(
            (x.name.as_str(), x.kind.as_str(), x.durable, x.internal),
            ("events", "topic", true, false)
        );
        assert!(x.is_importable());
        assert_eq!(
            defs.exchanges[1].arguments.get("alternate-exchange"),
            Some(&FieldValue::from("unrouted"))
        );

        let b = &defs.bindings;
        assert_eq!(b.len(), 3);
        assert_eq!(
            (
                b[0].source.as_str(),
                b[0].destination.as_str(),
                b[0].destination_type,
                b[0].routing_key.as_str()
            ),
            (
                "events",
                "orders.created",
                DestinationType::Queue,
                "order.*.created"
            )
        );
        assert_eq!(
            (b[1].destination.as_str(), b[1].destination_type),
            ("audit", DestinationType::Exchange)
        );
        assert_eq!(
            b[2].arguments.get("x-match"),
            Some(&FieldValue::from("all"))
        );
    }

    #[test]
    fn older_and_sparser_files() {
        // Tags as 3.8 and earlier wrote them; no hashing_algorithm; `[]` arguments; no
        // `internal`; unknown fields; absent sections.
        let defs = parse(
            br#"{"rabbit_version": "3.8.9",
                 "users": [{"name": "a", "password_hash": "", "tags": "administrator, monitoring,"},
                           {"name": "b", "password_hash": "", "tags": ""}],
                 "exchanges": [{"name": "amq.topic", "vhost": "/", "type": "topic", "durable": true,
                                "auto_delete": false, "arguments": [], "future_field": 1},
                               {"name": "", "vhost": "/", "type": "direct"}],
                 "queues": [{"name": "q", "vhost": "/", "arguments": null}],
                 "something_new": {"x": 1}}"#,
        )
        .unwrap();
        assert_eq!(defs.version(), Some("3.8.9"));
        assert_eq!(defs.users[0].tags, ["administrator", "monitoring"]);
        assert!(defs.users[1].tags.is_empty());
        assert_eq!(
            defs.hashing_algorithm(&defs.users[0]),
            "rabbit_password_hashing_sha256"
        );
        assert!(defs.exchanges[0].arguments.is_empty());
        assert!(!defs.exchanges[0].is_importable() && !defs.exchanges[1].is_importable());
        assert!(defs.queues[0].arguments.is_empty() && !defs.queues[0].durable);
        assert!(defs.bindings.is_empty() && defs.permissions.is_empty());

        // Before 3.6 hashes were MD5, which adding the user then refuses.
        let old = parse(br#"{"rabbit_version": "3.5.7", "users": [{"name": "a", "password_hash": "", "tags": ""},
            {"name": "b", "password_hash": "", "hashing_algorithm": "rabbit_password_hashing_sha512", "tags": ""}]}"#)
        .unwrap();
        assert_eq!(
            old.hashing_algorithm(&old.users[0]),
            "rabbit_password_hashing_md5"
        );
        assert_eq!(
            old.hashing_algorithm(&old.users[1]),
            "rabbit_password_hashing_sha512"
        );
        assert!(parse(b"{}").unwrap().version().is_none());
    }

    #[test]
    fn errors_name_the_problem() {
        let cases: [(&[u8], &str); 6] = [
            (b"{\"users\": [", "EOF while parsing a list at line 1 column 11"),
            (b"{\"users\": [{\"password_hash\": \"\"}]}", "missing field `name` at line 1 column 32"),
            (b"{\"queues\": 3}", "invalid type: integer `3`, expected a sequence at line 1 column 12"),
            (
                b"{\"queues\": [{\"name\": \"q\", \"vhost\": \"/\",\n \"arguments\": {\"x-dead\": null}}]}",
                "argument 'x-dead' is null; null is not allowed in arguments at line 2 column 31",
            ),
            (
                b"{\"bindings\": [{\"source\": \"x\", \"vhost\": \"/\", \"destination\": \"q\", \"destination_type\": \"topic\"}]}",
                "unknown variant `topic`, expected `queue` or `exchange`",
            ),
            (b"{\"queues\": [{\"name\": \"q\", \"vhost\": \"/\", \"arguments\": \"x\"}]}", "arguments must be an object"),
        ];
        for (json, expected) in cases {
            let err = parse(json).unwrap_err().to_string();
            assert!(err.starts_with("invalid definitions file: "), "{err}");
            assert!(err.contains(expected), "{err} does not contain {expected}");
        }
    }

    #[test]
    fn json_arguments_become_rabbitmq_field_types() {
        let args = obj(json!({
            "int": 5, "neg": -5, "float": 1.5, "whole float": 2.0, "str": "s", "yes": true,
            "list": [1, "a", false, [2.5]], "nested": {"k": {"deep": 1}}, "big": i64::MAX
        }));
        let table = json_to_field_table(&args).unwrap();
        assert_eq!(table.get("int"), Some(&FieldValue::I64(5)));
        assert_eq!(table.get("neg"), Some(&FieldValue::I64(-5)));
        assert_eq!(table.get("float"), Some(&FieldValue::F64(1.5)));
        assert_eq!(table.get("whole float"), Some(&FieldValue::F64(2.0)));
        assert_eq!(table.get("str"), Some(&FieldValue::from("s")));
        assert_eq!(table.get("yes"), Some(&FieldValue::Bool(true)));
        assert_eq!(table.get("big"), Some(&FieldValue::I64(i64::MAX)));
        assert_eq!(
            table.get("list"),
            Some(&FieldValue::Array(vec![
                FieldValue::I64(1),
                FieldValue::from("a"),
                FieldValue::Bool(false),
                FieldValue::Array(vec![FieldValue::F64(2.5)]),
            ]))
        );
        let nested = table.get("nested").unwrap().as_table().unwrap();
        assert_eq!(
            nested.get("k").unwrap().as_table().unwrap().get("deep"),
            Some(&FieldValue::I64(1))
        );
        // And back.
        assert_eq!(
            Value::Object(field_table_to_json(&table)),
            Value::Object(args)
        );

        assert_eq!(
            json_to_field_table(&obj(json!({"a": [1, null]}))),
            Err(ArgumentError::Null("a".into()))
        );
        assert_eq!(
            json_to_field_table(&obj(json!({"a": u64::MAX}))),
            Err(ArgumentError::OutOfRange("a".into()))
        );
        let long = "n".repeat(256);
        assert_eq!(
            json_to_field_table(&obj(json!({ long.clone(): 1 }))),
            Err(ArgumentError::NameTooLong(long))
        );
    }

    #[test]
    fn every_field_type_exports() {
        let table: FieldTable = [
            ("b", FieldValue::I8(-1)),
            ("u16", FieldValue::U16(7)),
            ("ts", FieldValue::Timestamp(1_700_000_000)),
            ("L", FieldValue::I64L(-3)),
            ("f", FieldValue::F32(0.5)),
            ("nan", FieldValue::F64(f64::NAN)),
            (
                "dec",
                FieldValue::Decimal(Decimal {
                    scale: 2,
                    value: 125,
                }),
            ),
            (
                "bytes",
                FieldValue::ByteArray(Bytes::from_static(b"ab\xff")),
            ),
            ("void", FieldValue::Void),
            ("dup", FieldValue::I32(1)),
            ("dup", FieldValue::I32(2)),
        ]
        .into_iter()
        .map(|(k, v)| (ShortStr::try_from(k).unwrap(), v))
        .collect();
        assert_eq!(
            Value::Object(field_table_to_json(&table)),
            json!({"b": -1, "u16": 7, "ts": 1_700_000_000u64, "L": -3, "f": 0.5, "nan": null,
                   "dec": 1.25, "bytes": "ab\u{fffd}", "void": null, "dup": 2})
        );
    }
}
