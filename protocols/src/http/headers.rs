//! [`Headers`]: a message's header fields, in order, names compared without case.

use bytes::Bytes;

/// A message's header fields, in the order they arrived or were added.
///
/// Names keep the case they were given and are compared without case; a repeated field
/// keeps every occurrence, in order ([`get_all`](Self::get_all)). Decoded names and values
/// share the receive buffer (no copies).
///
/// ```
/// use spindle_protocols::http::Headers;
///
/// let mut h = Headers::new();
/// h.append("Accept", "text/html");
/// h.append("accept", "application/json");
/// assert_eq!(h.get("ACCEPT"), Some(&b"text/html"[..]));
/// assert_eq!(h.get_all("accept").count(), 2);
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Headers {
    fields: Vec<(Bytes, Bytes)>,
}

impl Headers {
    /// No fields.
    pub fn new() -> Self {
        Headers::default()
    }

    /// No fields, with room for `n`.
    pub fn with_capacity(n: usize) -> Self {
        Headers {
            fields: Vec::with_capacity(n),
        }
    }

    /// Adds a field after the others, keeping any of the same name.
    pub fn append(&mut self, name: impl Into<Bytes>, value: impl Into<Bytes>) {
        self.fields.push((name.into(), value.into()));
    }

    /// Replaces every field named `name` with one field, placed where the first was (or last).
    pub fn set(&mut self, name: &str, value: impl Into<Bytes>) {
        let value = value.into();
        match self.position(name) {
            Some(at) => {
                if let Some(field) = self.fields.get_mut(at) {
                    field.1 = value;
                }
                let mut i = 0;
                self.fields.retain(|(n, _)| {
                    let keep = i <= at || !n.eq_ignore_ascii_case(name.as_bytes());
                    i += 1;
                    keep
                });
            }
            None => self
                .fields
                .push((Bytes::copy_from_slice(name.as_bytes()), value)),
        }
    }

    /// Removes every field named `name`; true if there was one.
    pub fn remove(&mut self, name: &str) -> bool {
        let before = self.fields.len();
        self.fields
            .retain(|(n, _)| !n.eq_ignore_ascii_case(name.as_bytes()));
        self.fields.len() != before
    }

    fn position(&self, name: &str) -> Option<usize> {
        self.fields
            .iter()
            .position(|(n, _)| n.eq_ignore_ascii_case(name.as_bytes()))
    }

    /// The value of the first field named `name`.
    pub fn get(&self, name: &str) -> Option<&[u8]> {
        self.fields
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name.as_bytes()))
            .map(|(_, v)| &v[..])
    }

    /// The value of the first field named `name`, if it is UTF-8.
    pub fn get_str(&self, name: &str) -> Option<&str> {
        self.get(name).and_then(|v| std::str::from_utf8(v).ok())
    }

    /// The values of every field named `name`, in order.
    pub fn get_all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a [u8]> + 'a {
        self.fields
            .iter()
            .filter(move |(n, _)| n.eq_ignore_ascii_case(name.as_bytes()))
            .map(|(_, v)| &v[..])
    }

    /// True if a field named `name` is present.
    pub fn contains(&self, name: &str) -> bool {
        self.position(name).is_some()
    }

    /// True if a comma-separated list field (`Connection`, `Transfer-Encoding`...) holds
    /// `token`, in any of its occurrences, compared without case.
    pub fn has_token(&self, name: &str, token: &str) -> bool {
        self.tokens(name)
            .any(|t| t.eq_ignore_ascii_case(token.as_bytes()))
    }

    /// The elements of a comma-separated list field, across its occurrences, trimmed, empty
    /// elements skipped.
    pub fn tokens<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a [u8]> + 'a {
        self.get_all(name)
            .flat_map(|v| v.split(|&b| b == b','))
            .map(trim)
            .filter(|t| !t.is_empty())
    }

    /// Every field as (name, value), in order.
    pub fn iter(&self) -> impl Iterator<Item = (&[u8], &[u8])> {
        self.fields.iter().map(|(n, v)| (&n[..], &v[..]))
    }

    /// How many fields there are, repeats included.
    pub fn len(&self) -> usize {
        self.fields.len()
    }

    /// True if there are no fields.
    pub fn is_empty(&self) -> bool {
        self.fields.is_empty()
    }
}

/// `bytes` without leading and trailing spaces and tabs (HTTP's OWS).
pub(crate) fn trim(bytes: &[u8]) -> &[u8] {
    let start = bytes
        .iter()
        .position(|&b| b != b' ' && b != b'\t')
        .unwrap_or(bytes.len());
    let end = bytes
        .iter()
        .rposition(|&b| b != b' ' && b != b'\t')
        .map_or(start, |i| i + 1);
    bytes.get(start..end).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_replaces_all_in_place_of_the_first() {
        let mut h = Headers::new();
        h.append("A", "1");
        h.append("B", "2");
        h.append("a", "3");
        h.set("A", "x");
        assert_eq!(
            h.iter().collect::<Vec<_>>(),
            [(&b"A"[..], &b"x"[..]), (&b"B"[..], &b"2"[..])]
        );
        h.set("C", "y");
        assert_eq!(h.len(), 3);
        assert!(h.remove("c"));
        assert!(!h.remove("c"));
    }

    #[test]
    fn tokens_across_fields() {
        let mut h = Headers::new();
        h.append("Connection", " keep-alive ,, Upgrade");
        h.append("connection", "CLOSE");
        assert!(h.has_token("connection", "close"));
        assert!(h.has_token("Connection", "upgrade"));
        assert_eq!(h.tokens("connection").count(), 3);
        assert_eq!(trim(b" \t "), b"");
    }
}
