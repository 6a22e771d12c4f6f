//! Redis's glob-style pattern matching (KEYS, SCAN MATCH, CONFIG GET, PSUBSCRIBE):
//! `*` any run, `?` any byte, `[abc]` a set, `[^a]` a negated set, `[a-c]` a range, `\x` the
//! literal `x`. Iterative with one backtrack point, so no pattern is exponential.

/// True if `text` matches `pattern`; `nocase` compares ASCII letters ignoring case.
pub(crate) fn matches(pattern: &[u8], text: &[u8], nocase: bool) -> bool {
    let eq = |a: u8, b: u8| {
        if nocase {
            a.eq_ignore_ascii_case(&b)
        } else {
            a == b
        }
    };
    let (mut p, mut t) = (0usize, 0usize);
    // Where to resume after the last `*`: (pattern index after the star, text index).
    let mut star: Option<(usize, usize)> = None;
    loop {
        if let Some(&pc) = pattern.get(p) {
            match pc {
                b'*' => {
                    // Collapse runs of stars.
                    while pattern.get(p) == Some(&b'*') {
                        p += 1;
                    }
                    if p == pattern.len() {
                        return true;
                    }
                    star = Some((p, t));
                    continue;
                }
                _ => {
                    if let Some(&tc) = text.get(t) {
                        if let Some(next) = match_one(pattern, p, tc, nocase, &eq) {
                            p = next;
                            t += 1;
                            continue;
                        }
                    }
                }
            }
        } else if t == text.len() {
            return true;
        }
        // Mismatch: let the last star swallow one more byte.
        match star {
            Some((sp, st)) if st < text.len() => {
                star = Some((sp, st + 1));
                p = sp;
                t = st + 1;
            }
            _ => return false,
        }
    }
}

/// Matches the single pattern element at `p` against `c`; returns the index after the element.
fn match_one(
    pattern: &[u8],
    p: usize,
    c: u8,
    nocase: bool,
    eq: &impl Fn(u8, u8) -> bool,
) -> Option<usize> {
    match pattern.get(p)? {
        b'?' => Some(p + 1),
        b'\\' if p + 1 < pattern.len() => {
            let lit = *pattern.get(p + 1)?;
            eq(lit, c).then_some(p + 2)
        }
        b'[' => {
            let mut i = p + 1;
            let negate = pattern.get(i) == Some(&b'^');
            if negate {
                i += 1;
            }
            let mut matched = false;
            loop {
                match pattern.get(i) {
                    None => {
                        // Unterminated class: Redis treats the end as closing it.
                        break;
                    }
                    Some(b']') => {
                        i += 1;
                        break;
                    }
                    Some(b'\\') if i + 1 < pattern.len() => {
                        if pattern.get(i + 1).is_some_and(|&l| eq(l, c)) {
                            matched = true;
                        }
                        i += 2;
                    }
                    Some(&lo)
                        if pattern.get(i + 1) == Some(&b'-')
                            && i + 2 < pattern.len()
                            && pattern.get(i + 2) != Some(&b']') =>
                    {
                        let hi = *pattern.get(i + 2)?;
                        let (lo, hi) = if lo > hi { (hi, lo) } else { (lo, hi) };
                        let (lo, hi, cc) = if nocase {
                            (
                                lo.to_ascii_lowercase(),
                                hi.to_ascii_lowercase(),
                                c.to_ascii_lowercase(),
                            )
                        } else {
                            (lo, hi, c)
                        };
                        if cc >= lo && cc <= hi {
                            matched = true;
                        }
                        i += 3;
                    }
                    Some(&l) => {
                        if eq(l, c) {
                            matched = true;
                        }
                        i += 1;
                    }
                }
            }
            (matched != negate).then_some(i)
        }
        &l => eq(l, c).then_some(p + 1),
    }
}

#[cfg(test)]
mod tests {
    use super::matches;

    #[test]
    fn redis_glob_semantics() {
        let cases: &[(&str, &str, bool)] = &[
            ("*", "", true),
            ("*", "anything", true),
            ("h?llo", "hello", true),
            ("h?llo", "hllo", false),
            ("h*llo", "heeeello", true),
            ("h*llo", "hllo", true),
            ("h[ae]llo", "hallo", true),
            ("h[ae]llo", "hillo", false),
            ("h[^e]llo", "hallo", true),
            ("h[^e]llo", "hello", false),
            ("h[a-b]llo", "hbllo", true),
            ("h[a-b]llo", "hcllo", false),
            ("h\\*llo", "h*llo", true),
            ("h\\*llo", "hello", false),
            ("a*b*c", "aXXbYYc", true),
            ("a*b*c", "aXXbYY", false),
            ("*.txt", "notes.txt", true),
            ("user:*:name", "user:1000:name", true),
            ("maxmemory*", "maxmemory-policy", true),
        ];
        for (p, t, want) in cases {
            assert_eq!(
                matches(p.as_bytes(), t.as_bytes(), false),
                *want,
                "{p} ~ {t}"
            );
        }
        assert!(matches(b"HELLO", b"hello", true));
        assert!(!matches(b"HELLO", b"hello", false));
    }

    #[test]
    fn pathological_patterns_stay_linear_ish() {
        let text = vec![b'a'; 5000];
        let pattern = "a*".repeat(50) + "b";
        assert!(!matches(pattern.as_bytes(), &text, false));
    }
}
