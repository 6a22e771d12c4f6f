//! Users, their passwords and their permissions, kept as RabbitMQ's internal backend keeps
//! them (`rabbit_auth_backend_internal`), and the SASL responses that carry a login.
//!
//! | item | what |
//! |---|---|
//! | [`Users`] | the users by name, each with its permission entries by virtual host |
//! | [`User`] | a name, tags, a salted password hash and the algorithm that made it |
//! | [`HashingAlgorithm`] | `rabbit_password_hashing_sha256` / `_sha512` (MD5 is refused) |
//! | [`Permissions`], [`Pattern`] | a user's configure/write/read patterns on one vhost |
//! | [`Access`], [`ResourceKind`] | what an operation needs, on what kind of resource |
//! | [`LoginRefused`], [`vhost_refused`], [`Users::check`] | refusals in RabbitMQ's words |
//! | [`is_loopback`] | which peers `loopback_users` (default: guest) may connect from |
//! | [`parse_plain`], [`parse_amqplain`] | `connection.start-ok`'s response for each mechanism |
//!
//! Virtual hosts themselves are the core's: `set_permissions` does not check that the vhost
//! exists (RabbitMQ answers `no_such_vhost` there; the caller checks first), and the core
//! calls [`Users::forget_vhost`] when it deletes one.
//!
//! Passwords are stored as RabbitMQ stores them: `salt ++ H(salt ++ utf8(password))` with a
//! 4-byte random salt, exported base64-encoded, so hashes move both ways between this broker
//! and a RabbitMQ node's definitions file.
//!
//! Permission patterns are regular expressions matched anywhere in the resource name, as
//! RabbitMQ's `re:run` matches them: `.*` allows everything, `^amq\.` anchors, and the empty
//! pattern stands for `^$`. They are matched on bytes, as Erlang's `re` matches a binary
//! without the `unicode` option (`.` is one byte, `\w` ASCII). The `regex` crate is not PCRE:
//! look-around, back-references and possessive quantifiers are refused when the permission is
//! set, and `$` matches only at the very end (PCRE also matches before a final newline).

use std::collections::HashMap;
use std::fmt;
use std::net::IpAddr;

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use bytes::Bytes;
use regex::bytes::{Regex, RegexBuilder};
use sha2::{Digest, Sha256, Sha512};
use spindle_protocols::amqp::{FieldTable, ReplyCode};

use crate::error::{Outcome, Refusal};

/// The user RabbitMQ creates on first start, and its password.
const GUEST: &str = "guest";

/// Bytes of random salt in front of a stored digest (`rabbit_password:generate_salt/0`).
const SALT_LEN: usize = 4;

/// What an operation needs on a resource, as `rabbit_access_control:check_resource_access`
/// names it: declaring or deleting needs configure, publishing or binding to a destination
/// write, consuming or binding from a source read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Access {
    /// Create or destroy the resource, or change how it behaves.
    Configure,
    /// Put messages into the resource.
    Write,
    /// Take messages out of the resource.
    Read,
}

/// How a stored password hash was made: the `hashing_algorithm` of RabbitMQ's definitions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum HashingAlgorithm {
    /// `rabbit_password_hashing_sha256`, RabbitMQ's default since 3.6.
    Sha256,
    /// `rabbit_password_hashing_sha512`.
    Sha512,
}

impl HashingAlgorithm {
    /// The algorithm named so in a definitions file; `rabbit_password_hashing_md5` (RabbitMQ
    /// before 3.6) and any other name are refused.
    pub(crate) fn parse(name: &str) -> Result<HashingAlgorithm, UserError> {
        match name {
            "rabbit_password_hashing_sha256" => Ok(HashingAlgorithm::Sha256),
            "rabbit_password_hashing_sha512" => Ok(HashingAlgorithm::Sha512),
            _ => Err(UserError::UnsupportedHashing(name.to_owned())),
        }
    }

    /// The name written in a definitions export.
    pub(crate) fn name(self) -> &'static str {
        match self {
            HashingAlgorithm::Sha256 => "rabbit_password_hashing_sha256",
            HashingAlgorithm::Sha512 => "rabbit_password_hashing_sha512",
        }
    }

    /// `H(salt ++ password)`: `rabbit_password:salted_hash/3`.
    fn digest(self, salt: &[u8], password: &[u8]) -> Vec<u8> {
        match self {
            HashingAlgorithm::Sha256 => Sha256::new()
                .chain_update(salt)
                .chain_update(password)
                .finalize()
                .to_vec(),
            HashingAlgorithm::Sha512 => Sha512::new()
                .chain_update(salt)
                .chain_update(password)
                .finalize()
                .to_vec(),
        }
    }

    /// `salt ++ H(salt ++ password)`, the form stored and exported (base64-encoded).
    fn salted_hash(self, salt: [u8; SALT_LEN], password: &[u8]) -> Vec<u8> {
        let mut hash = salt.to_vec();
        hash.extend_from_slice(&self.digest(&salt, password));
        hash
    }
}

/// A user of the internal database.
#[derive(Debug, Clone)]
pub(crate) struct User {
    /// The login name.
    pub(crate) name: String,
    /// Tags such as `administrator`, `monitoring`, `management` (for the management API).
    pub(crate) tags: Vec<String>,
    /// `salt ++ digest`; empty for a user without a password, who cannot log in with one.
    password_hash: Vec<u8>,
    hashing: HashingAlgorithm,
    /// Permission entries by virtual host.
    permissions: HashMap<String, Permissions>,
}

impl User {
    /// The stored hash as a definitions file holds it (base64 of salt and digest).
    pub(crate) fn password_hash_base64(&self) -> String {
        BASE64.encode(&self.password_hash)
    }

    /// The algorithm that made the stored hash.
    pub(crate) fn hashing_algorithm(&self) -> HashingAlgorithm {
        self.hashing
    }

    /// Whether `password` is this user's: RabbitMQ's check, the digest compared in constant
    /// time. A blank password never is (RabbitMQ refuses blank passwords before hashing).
    fn password_matches(&self, password: &str) -> bool {
        if password.is_empty() {
            return false;
        }
        let Some((salt, digest)) = self.password_hash.split_at_checked(SALT_LEN) else {
            return false;
        };
        constant_time_eq(digest, &self.hashing.digest(salt, password.as_bytes()))
    }

    /// The permission entries, by virtual host, for the management API and exports.
    pub(crate) fn permissions(&self) -> impl Iterator<Item = (&str, &Permissions)> {
        self.permissions.iter().map(|(v, p)| (v.as_str(), p))
    }
}

/// Whether two byte strings are equal, in a time that depends only on their lengths.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// One permission pattern: the text as set (and exported) and its compiled form.
#[derive(Debug, Clone)]
pub(crate) struct Pattern {
    source: String,
    regex: Regex,
}

impl Pattern {
    /// Compiles `source` as RabbitMQ reads it: the empty pattern means `^$`.
    fn compile(source: &str) -> Result<Pattern, PermissionError> {
        let effective = if source.is_empty() { "^$" } else { source };
        let regex = RegexBuilder::new(effective)
            .unicode(false)
            .build()
            .map_err(|e| PermissionError::InvalidPattern {
                pattern: source.to_owned(),
                reason: e.to_string(),
            })?;
        Ok(Pattern {
            source: source.to_owned(),
            regex,
        })
    }

    /// The pattern as set.
    pub(crate) fn as_str(&self) -> &str {
        &self.source
    }
}

/// A user's configure, write and read patterns on one virtual host.
#[derive(Debug, Clone)]
pub(crate) struct Permissions {
    /// Resources the user may declare and delete.
    pub(crate) configure: Pattern,
    /// Resources the user may publish to.
    pub(crate) write: Pattern,
    /// Resources the user may consume from.
    pub(crate) read: Pattern,
}

impl Permissions {
    fn pattern(&self, access: Access) -> &Pattern {
        match access {
            Access::Configure => &self.configure,
            Access::Write => &self.write,
            Access::Read => &self.read,
        }
    }
}

/// A user could not be added, changed or found.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum UserError {
    /// `add_user` of a name already taken (`rabbitmqctl add_user`: `user_already_exists`).
    #[error("user '{0}' already exists")]
    AlreadyExists(String),
    /// No user of that name.
    #[error("user '{0}' does not exist")]
    NoSuchUser(String),
    /// A hashing algorithm this broker does not implement (MD5, or an unknown module).
    #[error(
        "unsupported password hashing algorithm '{0}' (supported: rabbit_password_hashing_sha256, rabbit_password_hashing_sha512)"
    )]
    UnsupportedHashing(String),
    /// A stored hash that is not base64, or too short to hold the salt and a digest.
    #[error("password hash of user '{user}' is not a base64 salted {algorithm} hash")]
    BadHash {
        /// The user it was given for.
        user: String,
        /// The algorithm it was said to be made with.
        algorithm: &'static str,
    },
}

/// Permissions could not be set or cleared.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum PermissionError {
    /// No user of that name.
    #[error("user '{0}' does not exist")]
    NoSuchUser(String),
    /// A pattern that does not compile (RabbitMQ: `invalid_regexp`).
    #[error("regular expression '{pattern}' is invalid: {reason}")]
    InvalidPattern {
        /// The pattern as given.
        pattern: String,
        /// What the regex compiler said.
        reason: String,
    },
}

/// Why a login was refused; `Display` is RabbitMQ's text, which the connection sends as
/// `ACCESS_REFUSED - <mechanism> login refused: <text>` ([`LoginRefused::refusal`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum LoginRefused {
    /// An empty password, which the internal backend refuses before looking.
    BlankPassword(String),
    /// No such user, or the wrong password (RabbitMQ does not say which).
    InvalidCredentials(String),
    /// A user of `loopback_users` (default: guest) connecting from elsewhere.
    LoopbackOnly(String),
}

impl LoginRefused {
    /// What the connection is closed with (403 ACCESS_REFUSED) after a login made with
    /// `mechanism` (`PLAIN`, `AMQPLAIN`), as `rabbit_reader:auth_fail` words it.
    pub(crate) fn refusal(&self, mechanism: &str) -> Refusal {
        Refusal::access_refused(format!("{mechanism} login refused: {self}"))
    }
}

impl fmt::Display for LoginRefused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LoginRefused::BlankPassword(user) => write!(
                f,
                "user '{user}' attempted to log in with a blank password, which is prohibited \
                 by the internal authN backend. To use TLS/x509 certificate-based \
                 authentication, see the rabbitmq_auth_mechanism_ssl plugin and configure the \
                 client to use the EXTERNAL authentication mechanism. Alternatively change the \
                 password for the user to be non-blank."
            ),
            LoginRefused::InvalidCredentials(user) => {
                write!(f, "user '{user}' - invalid credentials")
            }
            LoginRefused::LoopbackOnly(user) => {
                write!(f, "user '{user}' can only connect via localhost")
            }
        }
    }
}

/// Whether a client connecting from `addr` counts as local for `loopback_users`, as
/// `rabbit_net:is_loopback` decides: `127.0.0.0/8`, `::1`, and IPv4 loopback addresses
/// mapped into IPv6 (`::ffff:127.0.0.1`, what a dual-stack listener reports).
pub(crate) fn is_loopback(addr: IpAddr) -> bool {
    match addr {
        IpAddr::V4(v4) => v4.is_loopback(),
        IpAddr::V6(v6) => {
            v6.is_loopback() || v6.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback())
        }
    }
}

/// What the connection is closed with (530 NOT_ALLOWED) after a `connection.open` to a
/// virtual host the user has no permission entry on ([`Users::may_open`]), or that does not
/// exist (`rabbit_access_control:check_vhost_access` words both alike).
pub(crate) fn vhost_refused(vhost: &str, user: &str) -> Refusal {
    Refusal::new(
        ReplyCode::NotAllowed,
        format!("access to vhost '{vhost}' refused for user '{user}'"),
    )
}

/// The kinds of resource permissions apply to, as RabbitMQ names them in its refusals.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ResourceKind {
    /// An exchange; the default one (`""`) is checked as `amq.default`.
    Exchange,
    /// A queue.
    Queue,
}

impl ResourceKind {
    fn name(self) -> &'static str {
        match self {
            ResourceKind::Exchange => "exchange",
            ResourceKind::Queue => "queue",
        }
    }
}

/// The users and their permissions.
#[derive(Debug, Clone)]
pub(crate) struct Users {
    users: HashMap<String, User>,
    /// Users who may connect only from a loopback address (RabbitMQ's `loopback_users`).
    loopback_users: Vec<String>,
}

impl Default for Users {
    /// No users; `loopback_users` is RabbitMQ's default, `[guest]`.
    fn default() -> Self {
        Users {
            users: HashMap::new(),
            loopback_users: vec![GUEST.to_owned()],
        }
    }
}

impl Users {
    /// What a fresh RabbitMQ node has: `guest`/`guest`, tagged `administrator`, with `.*`
    /// `.*` `.*` on `/`, and allowed to connect from loopback addresses only.
    pub(crate) fn with_default_guest() -> Users {
        let mut users = Users::default();
        let guest = User {
            name: GUEST.to_owned(),
            tags: vec!["administrator".to_owned()],
            password_hash: HashingAlgorithm::Sha256.salted_hash(random_salt(), GUEST.as_bytes()),
            hashing: HashingAlgorithm::Sha256,
            permissions: Permissions::all()
                .map(|all| ("/".to_owned(), all))
                .into_iter()
                .collect(),
        };
        users.users.insert(guest.name.clone(), guest);
        users
    }

    /// Sets who may connect from loopback addresses only (`loopback_users`; empty: anyone
    /// from anywhere).
    pub(crate) fn set_loopback_users(&mut self, names: Vec<String>) {
        self.loopback_users = names;
    }

    #[cfg(test)]
    /// The user of that name.
    pub(crate) fn get(&self, name: &str) -> Option<&User> {
        self.users.get(name)
    }

    /// Every user, in no particular order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = &User> {
        self.users.values()
    }

    /// Adds a user whose password is hashed here (SHA-256, a fresh random salt), as
    /// `rabbitmqctl add_user` does; a name already taken is refused.
    pub(crate) fn add_user(
        &mut self,
        name: &str,
        password: &str,
        tags: Vec<String>,
    ) -> Result<(), UserError> {
        if self.users.contains_key(name) {
            return Err(UserError::AlreadyExists(name.to_owned()));
        }
        let hashing = HashingAlgorithm::Sha256;
        let password_hash = hashing.salted_hash(random_salt(), password.as_bytes());
        self.users.insert(
            name.to_owned(),
            User {
                name: name.to_owned(),
                tags,
                password_hash,
                hashing,
                permissions: HashMap::new(),
            },
        );
        Ok(())
    }

    /// Adds a user, or changes an existing one's hash and tags (its permissions stay), from
    /// a hash as a definitions file holds it: base64 of salt and digest, made by
    /// `hashing_algorithm` (a `rabbit_password_hashing_*` name). This is how
    /// `rabbit_auth_backend_internal:put_user` imports a user. An empty hash makes a user
    /// without a password, who cannot log in with one.
    pub(crate) fn add_user_with_hash(
        &mut self,
        name: &str,
        password_hash_base64: &str,
        hashing_algorithm: &str,
        tags: Vec<String>,
    ) -> Result<(), UserError> {
        let hashing = HashingAlgorithm::parse(hashing_algorithm)?;
        let bad_hash = || UserError::BadHash {
            user: name.to_owned(),
            algorithm: hashing.name(),
        };
        let password_hash = BASE64
            .decode(password_hash_base64)
            .map_err(|_| bad_hash())?;
        if !password_hash.is_empty() && password_hash.len() <= SALT_LEN {
            return Err(bad_hash());
        }
        match self.users.get_mut(name) {
            Some(user) => {
                user.password_hash = password_hash;
                user.hashing = hashing;
                user.tags = tags;
            }
            None => {
                self.users.insert(
                    name.to_owned(),
                    User {
                        name: name.to_owned(),
                        tags,
                        password_hash,
                        hashing,
                        permissions: HashMap::new(),
                    },
                );
            }
        }
        Ok(())
    }

    /// Removes a user and its permissions.
    pub(crate) fn delete_user(&mut self, name: &str) -> Result<(), UserError> {
        self.users
            .remove(name)
            .map(drop)
            .ok_or_else(|| UserError::NoSuchUser(name.to_owned()))
    }

    #[cfg(test)]
    /// The user, if `password` is theirs; `None` for an unknown user, a wrong password or a
    /// blank one. See [`login`](Self::login) for the reason, in RabbitMQ's words.
    pub(crate) fn authenticate(&self, name: &str, password: &str) -> Option<&User> {
        self.login(name, password, true).ok()
    }

    /// The whole login check of `connection.start-ok`, in RabbitMQ's order: a blank password
    /// is refused, then the user and password are checked, then `loopback_users` against
    /// where the client connects from ([`is_loopback`] of the peer's address).
    pub(crate) fn login(
        &self,
        name: &str,
        password: &str,
        from_loopback: bool,
    ) -> Result<&User, LoginRefused> {
        if password.is_empty() {
            return Err(LoginRefused::BlankPassword(name.to_owned()));
        }
        let user = self
            .users
            .get(name)
            .filter(|u| u.password_matches(password))
            .ok_or_else(|| LoginRefused::InvalidCredentials(name.to_owned()))?;
        if !from_loopback && self.loopback_only(name) {
            return Err(LoginRefused::LoopbackOnly(name.to_owned()));
        }
        Ok(user)
    }

    /// Whether the user may connect from loopback addresses only (RabbitMQ's
    /// `loopback_users`, `[guest]` by default): from elsewhere the login is refused with 403
    /// ACCESS_REFUSED ([`LoginRefused::LoopbackOnly`]).
    pub(crate) fn loopback_only(&self, name: &str) -> bool {
        self.loopback_users.iter().any(|u| u == name)
    }

    /// Sets the user's patterns on `vhost` (RabbitMQ: `set_permissions`), replacing any it
    /// had. Each is a regular expression matched anywhere in a resource's name; `""` matches
    /// only the empty name, so grants nothing. The caller checks that the vhost exists.
    pub(crate) fn set_permissions(
        &mut self,
        user: &str,
        vhost: &str,
        configure: &str,
        write: &str,
        read: &str,
    ) -> Result<(), PermissionError> {
        let permissions = Permissions {
            configure: Pattern::compile(configure)?,
            write: Pattern::compile(write)?,
            read: Pattern::compile(read)?,
        };
        let entry = self
            .users
            .get_mut(user)
            .ok_or_else(|| PermissionError::NoSuchUser(user.to_owned()))?;
        entry.permissions.insert(vhost.to_owned(), permissions);
        Ok(())
    }

    /// Removes the user's permission entry on `vhost`, if any; the user then may no longer
    /// open that vhost.
    pub(crate) fn clear_permissions(
        &mut self,
        user: &str,
        vhost: &str,
    ) -> Result<(), PermissionError> {
        let entry = self
            .users
            .get_mut(user)
            .ok_or_else(|| PermissionError::NoSuchUser(user.to_owned()))?;
        entry.permissions.remove(vhost);
        Ok(())
    }

    /// Removes every user's permission entry on a vhost being deleted.
    pub(crate) fn forget_vhost(&mut self, vhost: &str) {
        for user in self.users.values_mut() {
            user.permissions.remove(vhost);
        }
    }

    /// Whether the user may open `vhost` (`connection.open`): it has a permission entry
    /// there, whatever its patterns (`rabbit_auth_backend_internal:check_vhost_access`).
    /// Refused: 530 NOT_ALLOWED, [`vhost_refused`].
    pub(crate) fn may_open(&self, user: &str, vhost: &str) -> bool {
        self.users
            .get(user)
            .is_some_and(|u| u.permissions.contains_key(vhost))
    }

    #[cfg(test)]
    /// Whether the user may use the resource `name` of `vhost` as `access` needs, as
    /// `rabbit_access_control:check_resource_access` decides: the pattern for `access`
    /// matches somewhere in the name. The name `""` is checked as `amq.default`: RabbitMQ does
    /// so for the default exchange, and a queue is never checked under the name `""` (the
    /// server names such a queue, or the channel's last queue stands in for it, first).
    pub(crate) fn allowed(&self, user: &str, vhost: &str, access: Access, name: &[u8]) -> bool {
        self.permits(user, vhost, access, default_exchange_as_amq_default(name))
    }

    /// Whether the user may use a resource of a known kind, refused as RabbitMQ
    /// refuses: 403 ACCESS_REFUSED "access to exchange 'amq.default' in vhost '/' refused for
    /// user 'bob'" (a soft code: the channel closes).
    pub(crate) fn check(
        &self,
        user: &str,
        vhost: &str,
        access: Access,
        kind: ResourceKind,
        name: &[u8],
    ) -> Outcome<()> {
        let name = match kind {
            ResourceKind::Exchange => default_exchange_as_amq_default(name),
            ResourceKind::Queue => name,
        };
        if self.permits(user, vhost, access, name) {
            return Ok(());
        }
        Err(Refusal::access_refused(format!(
            "access to {} '{}' in vhost '{vhost}' refused for user '{user}'",
            kind.name(),
            String::from_utf8_lossy(name)
        )))
    }

    fn permits(&self, user: &str, vhost: &str, access: Access, name: &[u8]) -> bool {
        self.users
            .get(user)
            .and_then(|u| u.permissions.get(vhost))
            .is_some_and(|p| p.pattern(access).regex.is_match(name))
    }
}

/// The name permissions are checked under: `amq.default` for the default exchange's `""`.
fn default_exchange_as_amq_default(name: &[u8]) -> &[u8] {
    if name.is_empty() {
        b"amq.default"
    } else {
        name
    }
}

impl Permissions {
    /// `.*` for all three: everything. `None` only if `.*` failed to compile, which it does
    /// not; the caller then grants nothing (fails closed).
    fn all() -> Option<Permissions> {
        let all = Pattern::compile(".*").ok()?;
        Some(Permissions {
            configure: all.clone(),
            write: all.clone(),
            read: all,
        })
    }
}

/// Four random bytes for a salt, read from `/dev/urandom`; where that cannot be read, the
/// clock hashed with std's randomly keyed `RandomState` (SipHash under a per-process random
/// key), which is unpredictable enough for a salt, whose only job is to differ.
fn random_salt() -> [u8; SALT_LEN] {
    use std::io::Read as _;
    let mut salt = [0u8; SALT_LEN];
    let read = std::fs::File::open("/dev/urandom").and_then(|mut f| f.read_exact(&mut salt));
    if read.is_err() {
        use std::hash::{BuildHasher as _, Hasher as _};
        let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default();
        hasher.write_u128(now);
        let bits = hasher.finish().to_be_bytes();
        salt.copy_from_slice(bits.get(..SALT_LEN).unwrap_or(&[0; SALT_LEN]));
    }
    salt
}

/// The SASL `PLAIN` response, `authzid NUL user NUL password`, as RabbitMQ 3.10's
/// `rabbit_auth_mechanism_plain` reads it: the authzid must be empty (the response starts
/// with NUL), the user runs to the next NUL, the password to the end and holds no NUL.
/// `None` for anything else, and for names or passwords that are not UTF-8 (RabbitMQ
/// answers 502 SYNTAX_ERROR "response ... invalid" to a malformed response).
pub(crate) fn parse_plain(response: &[u8]) -> Option<(String, String)> {
    let rest = response.strip_prefix(b"\0")?;
    let end = rest.iter().position(|&b| b == 0)?;
    let (user, tail) = rest.split_at(end);
    let password = tail.get(1..)?;
    if password.contains(&0) {
        return None;
    }
    Some((
        String::from_utf8(user.to_vec()).ok()?,
        String::from_utf8(password.to_vec()).ok()?,
    ))
}

/// The `AMQPLAIN` response: a field table's entries without the table's 4-byte length,
/// holding `LOGIN` and `PASSWORD` as strings (`S`, or `x` as RabbitMQ also accepts), the
/// first of each name counting. `None` if the entries do not decode, a field is missing or
/// of another type, or is not UTF-8.
pub(crate) fn parse_amqplain(response: &[u8]) -> Option<(String, String)> {
    let len = u32::try_from(response.len()).ok()?;
    let mut framed = Vec::with_capacity(4 + response.len());
    framed.extend_from_slice(&len.to_be_bytes());
    framed.extend_from_slice(response);
    let table = FieldTable::decode(&mut Bytes::from(framed)).ok()?;
    let field = |name: &str| -> Option<String> {
        let bytes = table.get(name)?.as_bytes()?;
        String::from_utf8(bytes.to_vec()).ok()
    };
    Some((field("LOGIN")?, field("PASSWORD")?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::BytesMut;
    use spindle_protocols::amqp::{FieldValue, ShortStr};

    fn tags(t: &[&str]) -> Vec<String> {
        t.iter().map(|s| s.to_string()).collect()
    }

    /// The example of RabbitMQ's "Credentials and Passwords" guide (section "Computing
    /// Password Hash"): salt `908D C60A`, password `test12`. The SHA-512 hash is Python's
    /// `base64.b64encode(salt + hashlib.sha512(salt + b"test12").digest())`.
    const DOC_SHA256: &str = "kI3GCqW5JLMJa4iX1lo7X4D6XbYqlLgxIs30+P6tENUV2POR";
    const DOC_SHA512: &str = "kI3GChuNuIYf8lRbCCxZjgjKwsY19ns6+uFO0zcXRBGA/XGJPYD8OWMy7EB8TaOm\
                              AzjP2azv84GbINYwX2cDWb4DHnc=";
    const DOC_SALT: [u8; 4] = [0x90, 0x8d, 0xc6, 0x0a];

    #[test]
    fn hashes_as_rabbitmq_does() {
        let made = HashingAlgorithm::Sha256.salted_hash(DOC_SALT, b"test12");
        assert_eq!(BASE64.encode(&made), DOC_SHA256);
        let made = HashingAlgorithm::Sha512.salted_hash(DOC_SALT, b"test12");
        assert_eq!(BASE64.encode(&made), DOC_SHA512);
    }

    #[test]
    fn users_from_rabbitmq_hashes_log_in() {
        let mut users = Users::default();
        users
            .add_user_with_hash("a", DOC_SHA256, "rabbit_password_hashing_sha256", tags(&[]))
            .unwrap();
        users
            .add_user_with_hash(
                "b",
                DOC_SHA512,
                "rabbit_password_hashing_sha512",
                tags(&["x"]),
            )
            .unwrap();
        assert_eq!(users.authenticate("a", "test12").unwrap().name, "a");
        assert_eq!(users.authenticate("b", "test12").unwrap().tags, ["x"]);
        assert!(users.authenticate("a", "test13").is_none());
        assert!(users.authenticate("a", "").is_none());
        assert!(users.authenticate("nobody", "test12").is_none());
        // Exported as imported.
        assert_eq!(users.get("b").unwrap().password_hash_base64(), DOC_SHA512);
        assert_eq!(
            users.get("b").unwrap().hashing_algorithm().name(),
            "rabbit_password_hashing_sha512"
        );
    }

    #[test]
    fn bad_hashes_and_md5_are_refused() {
        let mut users = Users::default();
        // RabbitMQ's guide's MD5 example (salt CAD5089B, "simon").
        assert_eq!(
            users.add_user_with_hash(
                "m",
                "ytUIm8s3AnKsXQjptplKFytfVxI=",
                "rabbit_password_hashing_md5",
                vec![]
            ),
            Err(UserError::UnsupportedHashing(
                "rabbit_password_hashing_md5".into()
            ))
        );
        let bad = UserError::BadHash {
            user: "m".into(),
            algorithm: "rabbit_password_hashing_sha256",
        };
        let sha = "rabbit_password_hashing_sha256";
        assert_eq!(
            users.add_user_with_hash("m", "not base64!", sha, vec![]),
            Err(bad.clone())
        );
        assert_eq!(users.add_user_with_hash("m", "AQID", sha, vec![]), Err(bad));
        assert!(users.get("m").is_none());
        // An empty hash: a user without a password.
        users.add_user_with_hash("m", "", sha, vec![]).unwrap();
        assert!(users.authenticate("m", "").is_none());
        assert!(users.authenticate("m", "x").is_none());
    }

    #[test]
    fn add_change_and_delete_users() {
        let mut users = Users::default();
        users
            .add_user("alice", "wonder", tags(&["management"]))
            .unwrap();
        assert_eq!(
            users.add_user("alice", "other", vec![]),
            Err(UserError::AlreadyExists("alice".into()))
        );
        let alice = users.authenticate("alice", "wonder").unwrap();
        assert_eq!(alice.hashing_algorithm(), HashingAlgorithm::Sha256);
        let stored = BASE64.decode(alice.password_hash_base64()).unwrap();
        assert_eq!(stored.len(), 4 + 32);
        // Two hashes of one password differ by their salt.
        users.add_user("bob", "wonder", vec![]).unwrap();
        assert_ne!(
            users.get("bob").unwrap().password_hash_base64(),
            users.get("alice").unwrap().password_hash_base64()
        );
        // Re-importing a user changes its hash and tags and keeps its permissions.
        users
            .set_permissions("alice", "/", ".*", ".*", ".*")
            .unwrap();
        users
            .add_user_with_hash(
                "alice",
                DOC_SHA256,
                "rabbit_password_hashing_sha256",
                vec![],
            )
            .unwrap();
        assert!(users.authenticate("alice", "wonder").is_none());
        assert!(users
            .authenticate("alice", "test12")
            .unwrap()
            .tags
            .is_empty());
        assert!(users.may_open("alice", "/"));
        assert_eq!(users.delete_user("alice"), Ok(()));
        assert_eq!(
            users.delete_user("alice"),
            Err(UserError::NoSuchUser("alice".into()))
        );
        assert!(!users.may_open("alice", "/"));
        assert_eq!(users.iter().count(), 1);
    }

    #[test]
    fn guest_defaults() {
        let users = Users::with_default_guest();
        let guest = users.authenticate("guest", "guest").unwrap();
        assert_eq!(guest.tags, ["administrator"]);
        assert!(users.may_open("guest", "/"));
        assert!(!users.may_open("guest", "other"));
        for access in [Access::Configure, Access::Write, Access::Read] {
            assert!(users.allowed("guest", "/", access, b"anything"));
            assert!(users.allowed("guest", "/", access, b""));
            assert!(!users.allowed("guest", "other", access, b"anything"));
        }
        let (vhost, p) = guest.permissions().next().unwrap();
        assert_eq!(
            (vhost, p.configure.as_str(), p.read.as_str()),
            ("/", ".*", ".*")
        );
        assert!(users.loopback_only("guest"));
        assert!(users.login("guest", "guest", true).is_ok());
        let refused = users.login("guest", "guest", false).unwrap_err();
        assert_eq!(refused, LoginRefused::LoopbackOnly("guest".into()));
        assert_eq!(
            refused.refusal("PLAIN").reply_text(),
            "ACCESS_REFUSED - PLAIN login refused: user 'guest' can only connect via localhost"
        );
        // A wrong password is reported as such, wherever the client is.
        assert_eq!(
            users
                .login("guest", "nope", false)
                .unwrap_err()
                .refusal("AMQPLAIN")
                .reply_text(),
            "ACCESS_REFUSED - AMQPLAIN login refused: user 'guest' - invalid credentials"
        );
        assert!(matches!(
            users.login("guest", "", true),
            Err(LoginRefused::BlankPassword(_))
        ));
        let refused = vhost_refused("/", "x");
        assert_eq!(refused.code, ReplyCode::NotAllowed);
        assert_eq!(
            refused.reply_text(),
            "NOT_ALLOWED - access to vhost '/' refused for user 'x'"
        );
        let mut anywhere = users.clone();
        anywhere.set_loopback_users(vec![]);
        assert!(anywhere.login("guest", "guest", false).is_ok());
    }

    #[test]
    fn permission_patterns_match_as_rabbitmq_does() {
        let mut users = Users::default();
        users.add_user("u", "p", vec![]).unwrap();
        assert!(!users.may_open("u", "v"));
        users
            .set_permissions("u", "v", "^amq\\.", "orders", "")
            .unwrap();
        assert!(users.may_open("u", "v"));
        let ok = |access, name: &str| users.allowed("u", "v", access, name.as_bytes());
        // Anchored where the pattern anchors, anywhere otherwise.
        assert!(ok(Access::Configure, "amq.gen-1"));
        assert!(!ok(Access::Configure, "x.amq.gen"));
        assert!(ok(Access::Write, "orders"));
        assert!(ok(Access::Write, "new-orders-2"));
        assert!(!ok(Access::Write, "order"));
        // "" is "^$": nothing but the empty name, and the default exchange is checked as
        // amq.default, so "" grants nothing.
        assert!(!ok(Access::Read, "orders"));
        assert!(!ok(Access::Read, ""));
        // The default exchange, "", is checked as amq.default.
        assert!(ok(Access::Configure, ""));
        assert!(!ok(Access::Write, ""));
        // Another vhost, another user: nothing.
        assert!(!users.allowed("u", "w", Access::Write, b"orders"));
        assert!(!users.allowed("x", "v", Access::Write, b"orders"));
        // Bytes, as Erlang's re matches a binary: `.` is one byte; non-ASCII literals match
        // their UTF-8 bytes.
        users
            .set_permissions("u", "v", "^.{2}$", "^é", ".*")
            .unwrap();
        assert!(users.allowed("u", "v", Access::Configure, "é".as_bytes()));
        assert!(users.allowed("u", "v", Access::Write, "écrit".as_bytes()));
        assert!(users.allowed("u", "v", Access::Read, b"\xff\x00"));
        users.clear_permissions("u", "v").unwrap();
        assert!(!users.may_open("u", "v"));
        assert!(!users.allowed("u", "v", Access::Read, b"x"));
    }

    #[test]
    fn refusals_name_the_resource_as_rabbitmq_does() {
        let mut users = Users::default();
        users.add_user("bob", "p", vec![]).unwrap();
        users.set_permissions("bob", "/", "^q$", "", ".*").unwrap();
        assert_eq!(
            users.check("bob", "/", Access::Configure, ResourceKind::Queue, b"q"),
            Ok(())
        );
        let refused = users
            .check("bob", "/", Access::Write, ResourceKind::Exchange, b"")
            .unwrap_err();
        assert_eq!(refused.code, ReplyCode::AccessRefused);
        assert_eq!(
            refused.reply_text(),
            "ACCESS_REFUSED - access to exchange 'amq.default' in vhost '/' refused for user 'bob'"
        );
        let refused = users
            .check("bob", "/", Access::Configure, ResourceKind::Queue, b"jobs")
            .unwrap_err();
        assert_eq!(
            refused.reply_text(),
            "ACCESS_REFUSED - access to queue 'jobs' in vhost '/' refused for user 'bob'"
        );
        // Read's `.*` covers the default exchange under its checked name too.
        assert!(users
            .check("bob", "/", Access::Read, ResourceKind::Exchange, b"")
            .is_ok());
    }

    #[test]
    fn loopback_addresses_as_rabbitmq_sees_them() {
        for local in ["127.0.0.1", "127.1.2.3", "::1", "::ffff:127.0.0.1"] {
            assert!(is_loopback(local.parse().unwrap()), "{local}");
        }
        for remote in ["10.0.0.1", "::ffff:10.0.0.1", "fe80::1", "0.0.0.0", "::"] {
            assert!(!is_loopback(remote.parse().unwrap()), "{remote}");
        }
    }

    #[test]
    fn permission_errors() {
        let mut users = Users::default();
        assert_eq!(
            users.set_permissions("u", "v", ".*", ".*", ".*"),
            Err(PermissionError::NoSuchUser("u".into()))
        );
        assert_eq!(
            users.clear_permissions("u", "v"),
            Err(PermissionError::NoSuchUser("u".into()))
        );
        users.add_user("u", "p", vec![]).unwrap();
        let err = users
            .set_permissions("u", "v", ".*", "(unclosed", ".*")
            .unwrap_err();
        assert!(
            matches!(err, PermissionError::InvalidPattern { ref pattern, .. } if pattern == "(unclosed")
        );
        assert!(err
            .to_string()
            .starts_with("regular expression '(unclosed' is invalid"));
        // PCRE's look-ahead is not supported: refused when set, never silently widened.
        assert!(users
            .set_permissions("u", "v", "^(?!amq\\.).*", ".*", ".*")
            .is_err());
        assert!(!users.may_open("u", "v"));
    }

    #[test]
    fn forgetting_a_vhost_drops_its_entries() {
        let mut users = Users::with_default_guest();
        users.add_user("u", "p", vec![]).unwrap();
        users.set_permissions("u", "/", ".*", ".*", ".*").unwrap();
        users.set_permissions("u", "v", ".*", ".*", ".*").unwrap();
        users.forget_vhost("/");
        assert!(!users.may_open("guest", "/"));
        assert!(!users.may_open("u", "/"));
        assert!(users.may_open("u", "v"));
    }

    #[test]
    fn plain_responses() {
        let ok = |user: &str, pass: &str| Some((user.to_string(), pass.to_string()));
        assert_eq!(parse_plain(b"\0guest\0guest"), ok("guest", "guest"));
        assert_eq!(parse_plain(b"\0\0"), ok("", ""));
        assert_eq!(
            parse_plain("\0usér\0pässword".as_bytes()),
            ok("usér", "pässword")
        );
        // RabbitMQ 3.10 requires an empty authzid.
        assert_eq!(parse_plain(b"admin\0guest\0guest"), None);
        for bad in [
            &b""[..],
            b"\0",
            b"\0guest",
            b"guest\0guest",
            b"\0guest\0pass\0",
            b"\0guest\0pa\0ss",
            b"\0\xff\0x",
            b"\0x\0\xc3",
        ] {
            assert_eq!(parse_plain(bad), None, "{bad:?}");
        }
    }

    /// The entries of a table, without its length, as AMQPLAIN clients send them.
    fn amqplain(entries: &[(&str, FieldValue)]) -> Vec<u8> {
        let table: FieldTable = entries
            .iter()
            .map(|(k, v)| (ShortStr::try_from(*k).unwrap(), v.clone()))
            .collect();
        let mut out = BytesMut::new();
        table.encode(&mut out).unwrap();
        out[4..].to_vec()
    }

    #[test]
    fn amqplain_responses() {
        let ok = Some(("guest".to_string(), "secret".to_string()));
        let response = amqplain(&[("LOGIN", "guest".into()), ("PASSWORD", "secret".into())]);
        assert_eq!(
            &response[..],
            b"\x05LOGINS\x00\x00\x00\x05guest\x08PASSWORDS\x00\x00\x00\x06secret"
        );
        assert_eq!(parse_amqplain(&response), ok);
        // Order does not matter; other fields are ignored; the first of a name counts.
        let response = amqplain(&[
            ("PASSWORD", "secret".into()),
            ("X", 1i32.into()),
            ("LOGIN", "guest".into()),
            ("LOGIN", "other".into()),
        ]);
        assert_eq!(parse_amqplain(&response), ok);
        // Byte arrays count as strings, as in RabbitMQ.
        let response = amqplain(&[
            ("LOGIN", FieldValue::ByteArray(Bytes::from_static(b"guest"))),
            ("PASSWORD", "secret".into()),
        ]);
        assert_eq!(parse_amqplain(&response), ok);
        // Missing, mistyped, malformed: None.
        assert_eq!(
            parse_amqplain(&amqplain(&[("LOGIN", "guest".into())])),
            None
        );
        let typed = amqplain(&[("LOGIN", "guest".into()), ("PASSWORD", 7i32.into())]);
        assert_eq!(parse_amqplain(&typed), None);
        let full = amqplain(&[("LOGIN", "guest".into()), ("PASSWORD", "secret".into())]);
        for cut in 0..full.len() {
            if cut > 0 {
                assert_eq!(parse_amqplain(&full[..cut]), None, "cut at {cut}");
            }
        }
        assert_eq!(parse_amqplain(b""), None);
        assert_eq!(parse_amqplain(b"\x05LOGINZ"), None);
        assert_eq!(parse_amqplain(b"\xff"), None);
    }
}
