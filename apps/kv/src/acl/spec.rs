//! The shapes of the command catalog's rows: a command's entry and its key specs, as Redis's
//! command table keeps them (the generated `table.rs` is made of these).

/// Where a key spec's search begins.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Begin {
    /// At this argument.
    Index(i32),
    /// After this keyword, searched from this argument (negative: from the end, backwards).
    Keyword(&'static str, i32),
    /// Only the command's own key function knows.
    Unknown,
}

/// How a key spec finds its keys from where the search began.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Find {
    /// `(lastkey, step, limit)`: keys up to `lastkey` (relative; negative from the end).
    Range(i32, i32, i32),
    /// `(keynumidx, firstkey, step)`: the number of keys is an argument.
    Keynum(i32, i32, i32),
    /// Only the command's own key function knows.
    Unknown,
}

/// One of a command's key specs (Redis's `keySpec`).
#[derive(Debug, Clone, Copy)]
pub(crate) struct KeySpec {
    pub(crate) begin: Begin,
    pub(crate) find: Find,
    /// [`key`] bits.
    pub(crate) flags: u16,
}

/// Key-spec flag bits, in the order of Redis's `CMD_KEY_*`.
pub(crate) mod key {
    /// Reads the key's value.
    pub(crate) const ACCESS: u16 = 1 << 4;
    /// Updates the value.
    pub(crate) const UPDATE: u16 = 1 << 5;
    /// Adds to the value.
    pub(crate) const INSERT: u16 = 1 << 6;
    /// Deletes content.
    pub(crate) const DELETE: u16 = 1 << 7;
    /// Not a key (routing only).
    pub(crate) const NOT_KEY: u16 = 1 << 8;
    /// The spec may miss keys.
    pub(crate) const INCOMPLETE: u16 = 1 << 9;
    /// Some keys' flags depend on the arguments.
    pub(crate) const VARIABLE_FLAGS: u16 = 1 << 10;
    /// Read-only access (`RO`).
    pub(crate) const RO: u16 = 1;
    /// Read-write access (`RW`).
    pub(crate) const RW: u16 = 1 << 1;
    /// Overwrite (`OW`).
    pub(crate) const OW: u16 = 1 << 2;
}

/// One command or subcommand of the catalog.
#[derive(Debug)]
pub(crate) struct Entry {
    /// Lower-case full name: `get`, `config|get`.
    pub(crate) name: &'static str,
    /// How many subcommand entries follow this container.
    pub(crate) subs: usize,
    /// Redis arity.
    pub(crate) arity: i32,
    /// Allowed before AUTH (and so by any ACL).
    pub(crate) no_auth: bool,
    /// ACL category bits, in the order of [`CATEGORIES`](super::CATEGORIES).
    pub(crate) categories: u32,
    pub(crate) specs: &'static [KeySpec],
    /// Redis's key function, when the specs are not enough (`setGetKeys`…), or "".
    pub(crate) getkeys: &'static str,
}

impl Entry {
    /// A subcommand (its name has a `|`).
    pub(crate) fn is_sub(&self) -> bool {
        self.name.contains('|')
    }

    /// Whether some argument may be a key.
    pub(crate) fn has_keys(&self) -> bool {
        !self.getkeys.is_empty() || self.specs.iter().any(|s| s.flags & key::NOT_KEY == 0)
    }
}
