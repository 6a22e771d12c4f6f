//! Reading an AOF's commands back, as Redis's `loadSingleAppendOnlyFile` does: `#`
//! annotation lines skipped, each command a RESP array of bulk strings; the offset after the
//! last whole command kept, so that a file cut short can be truncated there, and a MULTI left
//! open at the end is dropped with what followed it.

use bytes::Bytes;

/// How a file's commands ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum End {
    /// Every byte was part of a whole command (or an annotation).
    Complete,
    /// The file ends inside a command or inside a MULTI: what is valid ends at this offset.
    Truncated {
        /// Bytes of whole commands (and whole transactions) from the start.
        valid_up_to: u64,
    },
}

/// A file that cannot be read back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ReadError {
    /// Bytes that are not a command where one should start.
    Format {
        /// Where the bad bytes start.
        offset: u64,
    },
    /// The file could not be read on.
    Io {
        /// Where reading stopped.
        offset: u64,
        /// The system's error.
        message: String,
    },
    /// A command the store does not know, or one it refused while loading.
    Command {
        /// Where the command starts.
        offset: u64,
        /// What the store said.
        message: String,
    },
}

/// One step of parsing: a command and where it ended, the end of the file, or where the
/// input stops making sense.
enum Next {
    Command(Vec<Bytes>, usize),
    Eof,
    Short,
    Bad,
}

/// Parses the command starting at `pos` (annotations before it skipped).
fn next(bytes: &Bytes, mut pos: usize) -> (Next, usize) {
    loop {
        let Some(first) = bytes.get(pos) else {
            return (Next::Eof, pos);
        };
        if *first != b'#' {
            break;
        }
        match line_end(bytes, pos) {
            Some(end) => pos = end,
            None => return (Next::Eof, pos),
        }
    }
    let start = pos;
    if bytes.get(pos) != Some(&b'*') {
        return (Next::Bad, start);
    }
    let Some((argc, after)) = number_line(bytes, pos + 1) else {
        return (short_or_bad(bytes, pos), start);
    };
    if argc < 1 {
        return (Next::Bad, start);
    }
    pos = after;
    let mut argv = Vec::with_capacity((argc as usize).min(1024));
    for _ in 0..argc {
        match bytes.get(pos) {
            None => return (Next::Short, start),
            Some(b'$') => {}
            Some(_) => return (Next::Bad, start),
        }
        let Some((len, after)) = number_line(bytes, pos + 1) else {
            return (short_or_bad(bytes, pos), start);
        };
        let Ok(len) = usize::try_from(len) else {
            return (Next::Bad, start);
        };
        let end = after.saturating_add(len);
        if end.saturating_add(2) > bytes.len() {
            return (Next::Short, start);
        }
        argv.push(bytes.slice(after..end));
        pos = end + 2;
    }
    (Next::Command(argv, pos), start)
}

/// The offset after the line starting at `pos`, if it ends.
fn line_end(bytes: &[u8], pos: usize) -> Option<usize> {
    let rest = bytes.get(pos..)?;
    rest.iter().position(|&b| b == b'\n').map(|i| pos + i + 1)
}

/// A decimal number ended by `\r\n` at `pos`, and the offset after it.
fn number_line(bytes: &[u8], pos: usize) -> Option<(i64, usize)> {
    let end = line_end(bytes, pos)?;
    let text = bytes.get(pos..end.checked_sub(2)?)?;
    let n = std::str::from_utf8(text).ok()?.parse().ok()?;
    Some((n, end))
}

/// A header line that did not parse: short if the file ends inside it, bad otherwise.
fn short_or_bad(bytes: &[u8], pos: usize) -> Next {
    if line_end(bytes, pos).is_none() {
        Next::Short
    } else {
        Next::Bad
    }
}

/// One line of the fill the writer keeps ahead of the current increment's commands: an
/// empty annotation, which Redis's loader and redis-check-aof skip as they skip `#TS:` lines,
/// so the file is a valid AOF at every moment, however much of the fill commands have
/// overwritten. Lines start at even offsets; a command ending at an odd offset is followed
/// by one `#` of padding (`##\n` then reads as one annotation).
pub(crate) const FILL: &[u8; 2] = b"#\n";

/// Where the commands of `bytes` end, with the fill (and a padding `#`) after them left out:
/// the offset the writer goes on from. Commands end with `\r\n`, so the fill's `#\n` lines
/// and lone `#`s (the padding, or a fill cut short by a full disk) cannot be mistaken for
/// their last bytes.
pub(crate) fn commands_end(bytes: &[u8]) -> usize {
    let mut end = bytes.len();
    if end > 0 && bytes.get(end - 1) == Some(&b'#') {
        end -= 1;
    }
    while end >= 2 && bytes.get(end - 2..end) == Some(&FILL[..]) {
        end -= 2;
    }
    if end > 0 && end < bytes.len() && bytes.get(end - 1) == Some(&b'#') {
        end -= 1;
    }
    end
}

/// Runs every command of `bytes` through `apply`, in order, and says how the file ended.
/// `apply` gets each command and returns an error text to stop the load with; `progress` is
/// told how many bytes are done every few thousand commands.
#[cfg(test)]
pub(crate) fn replay(
    bytes: &Bytes,
    apply: impl FnMut(&[Bytes]) -> Result<(), String>,
    progress: &mut dyn FnMut(u64),
) -> Result<End, ReadError> {
    let mut whole = Some(bytes.clone());
    replay_from(|_| Ok(whole.take()), apply, progress)
}

/// As [`replay`], reading the file in pieces: `more(at_least)` gives the next bytes (at least
/// that many, unless the file ends first; `None` at its end), so a file is never held whole —
/// only the pieces its commands still point into. A command longer than a piece is read on
/// by asking for pieces that at least double what is held, so no byte is copied more than
/// about twice.
pub(crate) fn replay_from(
    mut more: impl FnMut(usize) -> std::io::Result<Option<Bytes>>,
    mut apply: impl FnMut(&[Bytes]) -> Result<(), String>,
    progress: &mut dyn FnMut(u64),
) -> Result<End, ReadError> {
    let mut window = Bytes::new();
    // The file offset of `window[0]`.
    let mut base = 0usize;
    let mut pos = 0;
    let mut ended = false;
    let mut count = 0u32;
    let mut before_multi = None;
    loop {
        let (step, start) = next(&window, pos);
        match step {
            Next::Command(argv, end) => {
                let name = argv.first().map(|n| n.to_ascii_lowercase());
                match name.as_deref() {
                    Some(b"multi") => before_multi = Some(base + start),
                    Some(b"exec") | Some(b"discard") => before_multi = None,
                    _ => {}
                }
                apply(&argv).map_err(|message| ReadError::Command {
                    offset: (base + start) as u64,
                    message,
                })?;
                pos = end;
                count = count.wrapping_add(1);
                if count.is_multiple_of(4096) {
                    progress((base + pos) as u64);
                }
            }
            // The window ends inside a command or an annotation: read on.
            Next::Eof | Next::Short if !ended => {
                let kept = window.len().saturating_sub(start);
                match more(kept.max(1)) {
                    Ok(Some(piece)) => {
                        let mut joined = bytes::BytesMut::with_capacity(kept + piece.len());
                        joined.extend_from_slice(window.get(start..).unwrap_or_default());
                        joined.extend_from_slice(&piece);
                        window = joined.freeze();
                        base += start;
                        pos = 0;
                    }
                    Ok(None) => ended = true,
                    Err(e) => {
                        return Err(ReadError::Io {
                            offset: (base + start) as u64,
                            message: e.to_string(),
                        })
                    }
                }
            }
            Next::Eof => {
                return Ok(match before_multi {
                    Some(at) => End::Truncated {
                        valid_up_to: at as u64,
                    },
                    None => End::Complete,
                })
            }
            Next::Short => {
                return Ok(End::Truncated {
                    valid_up_to: before_multi.unwrap_or(base + start) as u64,
                })
            }
            Next::Bad => {
                return Err(ReadError::Format {
                    offset: (base + start) as u64,
                })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What `apply` does in these tests: each command's words, joined, into `seen`.
    fn record(seen: &mut Vec<String>) -> impl FnMut(&[Bytes]) -> Result<(), String> + '_ {
        |argv| {
            let words: Vec<String> = argv
                .iter()
                .map(|a| String::from_utf8_lossy(a).into_owned())
                .collect();
            seen.push(words.join(" "));
            Ok(())
        }
    }

    fn all(text: &[u8]) -> (Result<End, ReadError>, Vec<String>) {
        let mut seen = Vec::new();
        let end = replay(
            &Bytes::copy_from_slice(text),
            record(&mut seen),
            &mut |_| {},
        );
        (end, seen)
    }

    const TWO: &[u8] =
        b"*2\r\n$6\r\nSELECT\r\n$1\r\n0\r\n*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$2\r\nv\n\r\n";

    #[test]
    fn whole_files_replay_every_command_and_skip_annotations() {
        let mut text = b"#TS:1700000000\r\n".to_vec();
        text.extend_from_slice(TWO);
        let (end, seen) = all(&text);
        assert_eq!(end, Ok(End::Complete));
        assert_eq!(seen, ["SELECT 0", "SET k v\n"]);
        assert_eq!(all(b"").0, Ok(End::Complete));
    }

    #[test]
    fn a_cut_anywhere_in_the_last_command_truncates_after_the_one_before() {
        let first_len = b"*2\r\n$6\r\nSELECT\r\n$1\r\n0\r\n".len() as u64;
        for cut in first_len as usize + 1..TWO.len() {
            let (end, seen) = all(&TWO[..cut]);
            assert_eq!(
                end,
                Ok(End::Truncated {
                    valid_up_to: first_len
                }),
                "cut at {cut}"
            );
            assert_eq!(seen, ["SELECT 0"]);
        }
    }

    #[test]
    fn the_fill_after_the_commands_is_left_out() {
        // Commands ending at an even offset, then the fill; at an odd one, the padding too.
        for extra in [&b""[..], b"*1\r\n$4\r\nPING\r\n"] {
            let mut text = TWO.to_vec();
            text.extend_from_slice(extra);
            let commands = text.len();
            if commands % 2 == 1 {
                text.push(b'#');
            }
            for _ in 0..1000 {
                text.extend_from_slice(FILL);
            }
            assert_eq!(commands_end(&text), commands);
            // Valid as it is: the fill reads as annotations.
            assert_eq!(all(&text).0, Ok(End::Complete));
            // A fill cut short (odd length), or none at all.
            text.push(b'#');
            assert_eq!(commands_end(&text), commands);
            assert_eq!(commands_end(&text[..commands]), commands);
        }
        assert_eq!(commands_end(b""), 0);
        assert_eq!(commands_end(b"#\n#\n"), 0);
    }

    /// `text` replayed from pieces of `size` bytes (the reader asked for at least what it
    /// holds gets that much more, as a file source gives it).
    fn in_pieces(text: &[u8], size: usize) -> (Result<End, ReadError>, Vec<String>) {
        let mut at = 0;
        let mut seen = Vec::new();
        let end = replay_from(
            |at_least| {
                if at == text.len() {
                    return Ok(None);
                }
                let n = at_least.max(size).min(text.len() - at);
                at += n;
                Ok(Some(Bytes::copy_from_slice(&text[at - n..at])))
            },
            record(&mut seen),
            &mut |_| {},
        );
        (end, seen)
    }

    #[test]
    fn read_in_pieces_of_any_size_a_file_replays_as_read_whole() {
        let mut files: Vec<Vec<u8>> = Vec::new();
        let mut text = b"#TS:1700000000\r\n".to_vec();
        text.extend_from_slice(TWO);
        text.extend_from_slice(b"*1\r\n$5\r\nMULTI\r\n*2\r\n$4\r\nINCR\r\n$1\r\nn\r\n");
        files.push(text.clone());
        text.extend_from_slice(b"*1\r\n$4\r\nEXEC\r\n#\n#\n");
        files.push(text.clone());
        let mut garbage = TWO.to_vec();
        garbage.extend_from_slice(b"hello\r\n");
        files.push(garbage);
        for cut in 1..TWO.len() {
            files.push(TWO[..cut].to_vec());
        }
        for file in &files {
            let whole = all(file);
            for size in [1, 2, 3, 7, 16, 1000] {
                assert_eq!(in_pieces(file, size), whole, "pieces of {size}: {file:?}");
            }
        }
    }

    #[test]
    fn an_open_multi_at_the_end_is_dropped_with_what_follows_it() {
        let mut text = TWO.to_vec();
        let before = text.len() as u64;
        text.extend_from_slice(b"*1\r\n$5\r\nMULTI\r\n*2\r\n$4\r\nINCR\r\n$1\r\nn\r\n");
        let (end, _) = all(&text);
        assert_eq!(
            end,
            Ok(End::Truncated {
                valid_up_to: before
            })
        );
        text.extend_from_slice(b"*1\r\n$4\r\nEXEC\r\n");
        assert_eq!(all(&text).0, Ok(End::Complete));
        // Cut inside the EXEC: back to before the MULTI.
        let (end, _) = all(&text[..text.len() - 3]);
        assert_eq!(
            end,
            Ok(End::Truncated {
                valid_up_to: before
            })
        );
    }

    #[test]
    fn garbage_in_the_middle_is_a_format_error_at_its_offset() {
        let mut text = TWO.to_vec();
        let at = text.len() as u64;
        text.extend_from_slice(b"hello\r\n");
        text.extend_from_slice(TWO);
        assert_eq!(all(&text).0, Err(ReadError::Format { offset: at }));
        assert_eq!(all(b"*0\r\n").0, Err(ReadError::Format { offset: 0 }));
        assert_eq!(all(b"*1\r\n:1\r\n").0, Err(ReadError::Format { offset: 0 }));
        assert_eq!(all(b"*x\r\n").0, Err(ReadError::Format { offset: 0 }));
    }

    #[test]
    fn a_refused_command_stops_the_load_at_its_offset() {
        let r = replay(
            &Bytes::from_static(TWO),
            |argv| {
                if argv[0] == "SET" {
                    Err("unknown".into())
                } else {
                    Ok(())
                }
            },
            &mut |_| {},
        );
        let offset = b"*2\r\n$6\r\nSELECT\r\n$1\r\n0\r\n".len() as u64;
        assert_eq!(
            r,
            Err(ReadError::Command {
                offset,
                message: "unknown".into()
            })
        );
    }
}
