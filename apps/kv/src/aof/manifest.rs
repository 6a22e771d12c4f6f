//! The manifest of a multi-part AOF (Redis 7.0): one line per file, `file NAME seq N type T`,
//! T being `b` (the base: a snapshot, RDB or AOF), `i` (an increment: commands since the
//! base, in order) or `h` (history: a file a rewrite replaced, kept until it is deleted).

use std::fmt::Write as _;

/// What a manifest line names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// The base snapshot.
    Base,
    /// An incremental file of commands.
    Incr,
    /// A file a rewrite replaced.
    History,
}

impl Kind {
    fn letter(self) -> char {
        match self {
            Kind::Base => 'b',
            Kind::Incr => 'i',
            Kind::History => 'h',
        }
    }
}

/// One file of the AOF.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FileInfo {
    /// Its name in the AOF directory (never a path).
    pub(crate) name: String,
    /// Its sequence number (bases and increments count separately).
    pub(crate) seq: u64,
    /// Its role.
    pub(crate) kind: Kind,
}

/// A parsed manifest.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Manifest {
    /// The base file, if there is one.
    pub(crate) base: Option<FileInfo>,
    /// The increments, oldest first.
    pub(crate) incrs: Vec<FileInfo>,
    /// Files replaced by a rewrite, not yet deleted.
    pub(crate) history: Vec<FileInfo>,
}

/// Longest manifest line Redis reads.
const MAX_LINE: usize = 1024;

impl Manifest {
    /// Parses a manifest as Redis's `aofLoadManifestFromFile` does, with its error texts.
    pub(crate) fn parse(text: &str) -> Result<Manifest, String> {
        let mut m = Manifest::default();
        let mut lines = 0;
        let mut last_incr = 0;
        for raw in text.split_inclusive('\n') {
            lines += 1;
            if raw.starts_with('#') {
                continue;
            }
            if !raw.ends_with('\n') || raw.len() > MAX_LINE {
                return Err(if raw.len() > MAX_LINE {
                    "The AOF manifest file contains too long line".into()
                } else {
                    "Invalid AOF manifest file format".into()
                });
            }
            let words = split_args(raw.trim_matches([' ', '\t', '\r', '\n']))
                .ok_or("Invalid AOF manifest file format")?;
            if words.len() < 6 || words.len() % 2 != 0 {
                return Err("Invalid AOF manifest file format".into());
            }
            let (mut name, mut seq, mut kind) = (None, 0u64, None);
            for pair in words.chunks_exact(2) {
                let [key, value] = pair else { continue };
                if key.eq_ignore_ascii_case("file") {
                    if value.contains('/') {
                        return Err("File can't be a path, just a filename".into());
                    }
                    name = Some(value.clone());
                } else if key.eq_ignore_ascii_case("seq") {
                    seq = value.parse().unwrap_or(0);
                } else if key.eq_ignore_ascii_case("type") {
                    kind = value.chars().next();
                }
            }
            let (Some(name), true, Some(kind)) = (name, seq > 0, kind) else {
                return Err("Invalid AOF manifest file format".into());
            };
            match kind {
                'b' => {
                    if m.base.is_some() {
                        return Err("Found duplicate base file information".into());
                    }
                    m.base = Some(FileInfo {
                        name,
                        seq,
                        kind: Kind::Base,
                    });
                }
                'h' => m.history.push(FileInfo {
                    name,
                    seq,
                    kind: Kind::History,
                }),
                'i' => {
                    if seq <= last_incr {
                        return Err("Found a non-monotonic sequence number".into());
                    }
                    last_incr = seq;
                    m.incrs.push(FileInfo {
                        name,
                        seq,
                        kind: Kind::Incr,
                    });
                }
                _ => return Err("Unknown AOF file type".into()),
            }
        }
        if lines == 0 {
            return Err("Found an empty AOF manifest".into());
        }
        Ok(m)
    }

    /// The manifest's text, as Redis writes it: base, history, increments.
    pub(crate) fn render(&self) -> String {
        let mut out = String::new();
        let files = self.base.iter().chain(&self.history).chain(&self.incrs);
        for f in files {
            let _ = writeln!(
                out,
                "file {} seq {} type {}",
                quoted(&f.name),
                f.seq,
                f.kind.letter()
            );
        }
        out
    }

    /// The base and the increments, in the order they load.
    pub(crate) fn loading_order(&self) -> impl Iterator<Item = &FileInfo> {
        self.base.iter().chain(&self.incrs)
    }
}

/// `name` as Redis writes it in a manifest: as it is, or quoted with escapes when it holds
/// spaces, quotes or unprintable bytes (`sdscatrepr`).
fn quoted(name: &str) -> String {
    let plain = name
        .bytes()
        .all(|b| b.is_ascii_graphic() && b != b'"' && b != b'\'' && b != b'\\');
    if plain {
        return name.to_string();
    }
    let mut out = String::from("\"");
    for b in name.bytes() {
        match b {
            b'\\' => out.push_str("\\\\"),
            b'"' => out.push_str("\\\""),
            b'\n' => out.push_str("\\n"),
            b'\r' => out.push_str("\\r"),
            b'\t' => out.push_str("\\t"),
            0x07 => out.push_str("\\a"),
            0x08 => out.push_str("\\b"),
            b if b.is_ascii_graphic() || b == b' ' => out.push(char::from(b)),
            b => {
                let _ = write!(out, "\\x{b:02x}");
            }
        }
    }
    out.push('"');
    out
}

/// Splits a line into words as Redis's `sdssplitargs`: spaces separate, double quotes allow
/// escapes (`\n`, `\xHH`…), single quotes only `\'`; `None` for unbalanced quotes.
pub(crate) fn split_args(line: &str) -> Option<Vec<String>> {
    let bytes = line.as_bytes();
    let mut words = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        while bytes.get(i).is_some_and(|b| b.is_ascii_whitespace()) {
            i += 1;
        }
        if i >= bytes.len() {
            break;
        }
        let mut word = Vec::new();
        match bytes.get(i) {
            Some(b'"') => {
                i += 1;
                loop {
                    match *bytes.get(i)? {
                        b'\\' => {
                            let e = *bytes.get(i + 1)?;
                            i += 2;
                            match e {
                                b'n' => word.push(b'\n'),
                                b'r' => word.push(b'\r'),
                                b't' => word.push(b'\t'),
                                b'b' => word.push(0x08),
                                b'a' => word.push(0x07),
                                b'x' => {
                                    let hex = std::str::from_utf8(bytes.get(i..i + 2)?).ok()?;
                                    word.push(u8::from_str_radix(hex, 16).ok()?);
                                    i += 2;
                                }
                                other => word.push(other),
                            }
                        }
                        b'"' => {
                            i += 1;
                            break;
                        }
                        b => {
                            word.push(b);
                            i += 1;
                        }
                    }
                }
            }
            Some(b'\'') => {
                i += 1;
                loop {
                    match *bytes.get(i)? {
                        b'\\' if bytes.get(i + 1) == Some(&b'\'') => {
                            word.push(b'\'');
                            i += 2;
                        }
                        b'\'' => {
                            i += 1;
                            break;
                        }
                        b => {
                            word.push(b);
                            i += 1;
                        }
                    }
                }
            }
            _ => {
                while let Some(&b) = bytes.get(i) {
                    if b.is_ascii_whitespace() {
                        break;
                    }
                    word.push(b);
                    i += 1;
                }
            }
        }
        words.push(String::from_utf8(word).ok()?);
    }
    Some(words)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redis_manifests_parse_and_render_back() {
        let text = "file appendonly.aof.1.base.rdb seq 1 type b\n\
                    file appendonly.aof.1.incr.aof seq 1 type i\n\
                    file appendonly.aof.2.incr.aof seq 2 type i\n";
        let m = Manifest::parse(text).unwrap();
        assert_eq!(m.base.as_ref().unwrap().name, "appendonly.aof.1.base.rdb");
        assert_eq!(m.incrs.len(), 2);
        assert_eq!(m.render(), text);
        let names: Vec<&str> = m.loading_order().map(|f| f.name.as_str()).collect();
        assert_eq!(names.len(), 3);
        // Comments are skipped; keys in any case and order; quoted names.
        let m = Manifest::parse("# hi\nTYPE i SEQ 3 FILE \"a b.aof\"\n").unwrap();
        assert_eq!(m.incrs[0].name, "a b.aof");
        assert_eq!(m.render(), "file \"a b.aof\" seq 3 type i\n");
    }

    #[test]
    fn bad_manifests_are_refused_in_redis_words() {
        for (text, err) in [
            ("", "Found an empty AOF manifest"),
            ("file a seq 1\n", "Invalid AOF manifest file format"),
            ("file a seq 0 type i\n", "Invalid AOF manifest file format"),
            (
                "file d/a seq 1 type i\n",
                "File can't be a path, just a filename",
            ),
            (
                "file a seq 1 type b\nfile b seq 2 type b\n",
                "Found duplicate base file information",
            ),
            (
                "file a seq 2 type i\nfile b seq 1 type i\n",
                "Found a non-monotonic sequence number",
            ),
            ("file a seq 1 type x\n", "Unknown AOF file type"),
            (
                "file \"a seq 1 type i\n",
                "Invalid AOF manifest file format",
            ),
            ("file a seq 1 type i", "Invalid AOF manifest file format"),
        ] {
            assert_eq!(Manifest::parse(text).unwrap_err(), err, "{text:?}");
        }
    }
}
