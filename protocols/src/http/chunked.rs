//! The chunked transfer coding, decoded incrementally: sizes in hex, data, CRLF, and the
//! trailer section at the end (read within the header limits and dropped).

use bytes::{Buf, BytesMut};

use super::error::HttpError;
use super::head::{find_lf, strip_cr, Limits};

/// Longest chunk-size line (size and extensions) accepted.
const MAX_SIZE_LINE: usize = 4096;

/// Where a chunked body's decoding stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Chunked {
    /// Expecting a chunk-size line.
    Size,
    /// In a chunk's data, with this many bytes to go.
    Data(u64),
    /// Expecting the CRLF after a chunk's data.
    DataEnd,
    /// In the trailer section: its bytes and fields so far.
    Trailers { size: usize, fields: usize },
}

impl Chunked {
    /// Moves what `buf` holds into `body`: `Ok(true)` once the last chunk and the trailers
    /// have been read (the bytes after them stay in `buf`), `Ok(false)` when more is needed.
    pub(crate) fn decode(
        &mut self,
        buf: &mut BytesMut,
        body: &mut BytesMut,
        limits: &Limits,
    ) -> Result<bool, HttpError> {
        loop {
            match *self {
                Chunked::Size => {
                    let Some(lf) = find_lf(buf) else {
                        if buf.len() > MAX_SIZE_LINE {
                            return Err(HttpError::Malformed("chunk size line too long"));
                        }
                        return Ok(false);
                    };
                    if lf > MAX_SIZE_LINE {
                        return Err(HttpError::Malformed("chunk size line too long"));
                    }
                    let size = chunk_size(strip_cr(buf.get(..lf).unwrap_or_default()))?;
                    buf.advance(lf + 1);
                    if size == 0 {
                        *self = Chunked::Trailers { size: 0, fields: 0 };
                    } else {
                        if (body.len() as u64).saturating_add(size) > limits.max_body {
                            return Err(HttpError::BodyTooLarge {
                                limit: limits.max_body,
                            });
                        }
                        *self = Chunked::Data(size);
                    }
                }
                Chunked::Data(left) => {
                    if buf.is_empty() {
                        return Ok(false);
                    }
                    let n = usize::try_from(left).unwrap_or(usize::MAX).min(buf.len());
                    body.extend_from_slice(buf.get(..n).unwrap_or_default());
                    buf.advance(n);
                    let left = left - n as u64;
                    *self = if left == 0 {
                        Chunked::DataEnd
                    } else {
                        Chunked::Data(left)
                    };
                }
                Chunked::DataEnd => match buf.first() {
                    None => return Ok(false),
                    Some(b'\n') => {
                        buf.advance(1);
                        *self = Chunked::Size;
                    }
                    Some(b'\r') => match buf.get(1) {
                        None => return Ok(false),
                        Some(b'\n') => {
                            buf.advance(2);
                            *self = Chunked::Size;
                        }
                        Some(_) => return Err(HttpError::Malformed("chunk data too long")),
                    },
                    Some(_) => return Err(HttpError::Malformed("chunk data too long")),
                },
                Chunked::Trailers { size, fields } => {
                    let too_large = HttpError::HeadersTooLarge {
                        limit: limits.max_headers_size,
                    };
                    let Some(lf) = find_lf(buf) else {
                        if size + buf.len() > limits.max_headers_size + 2 {
                            return Err(too_large);
                        }
                        return Ok(false);
                    };
                    let size = size + lf + 1;
                    if size > limits.max_headers_size + 2 {
                        return Err(too_large);
                    }
                    let empty = strip_cr(buf.get(..lf).unwrap_or_default()).is_empty();
                    buf.advance(lf + 1);
                    if empty {
                        *self = Chunked::Size;
                        return Ok(true);
                    }
                    if fields + 1 > limits.max_headers {
                        return Err(HttpError::TooManyHeaders {
                            limit: limits.max_headers,
                        });
                    }
                    *self = Chunked::Trailers {
                        size,
                        fields: fields + 1,
                    };
                }
            }
        }
    }
}

/// A chunk-size line's size: hex digits, then optional whitespace and `;extensions`.
fn chunk_size(line: &[u8]) -> Result<u64, HttpError> {
    let bad = HttpError::Malformed("invalid chunk size");
    let digits = line.iter().take_while(|b| b.is_ascii_hexdigit()).count();
    if digits == 0 || digits > 15 {
        return Err(bad);
    }
    let rest = line.get(digits..).unwrap_or_default();
    let rest = rest
        .iter()
        .position(|&b| b != b' ' && b != b'\t')
        .and_then(|i| rest.get(i..))
        .unwrap_or_default();
    if !(rest.is_empty() || rest.first() == Some(&b';')) || rest.contains(&b'\r') {
        return Err(bad);
    }
    let hex = line.get(..digits).unwrap_or_default();
    Ok(hex.iter().fold(0u64, |n, &b| {
        n * 16 + u64::from(char::from(b).to_digit(16).unwrap_or(0))
    }))
}

/// Appends `data` as one chunk (nothing for empty data, which would end the body).
pub fn encode_chunk(out: &mut BytesMut, data: &[u8]) {
    if data.is_empty() {
        return;
    }
    out.extend_from_slice(format!("{:x}\r\n", data.len()).as_bytes());
    out.extend_from_slice(data);
    out.extend_from_slice(b"\r\n");
}

/// Appends the last chunk, which ends a chunked body (no trailers).
pub fn encode_last_chunk(out: &mut BytesMut) {
    out.extend_from_slice(b"0\r\n\r\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(input: &[u8], limits: &Limits) -> Result<(Vec<u8>, Vec<u8>), HttpError> {
        let mut state = Chunked::Size;
        let mut buf = BytesMut::from(input);
        let mut body = BytesMut::new();
        assert!(state.decode(&mut buf, &mut body, limits)?, "incomplete");
        Ok((body.to_vec(), buf.to_vec()))
    }

    #[test]
    fn decodes_with_extensions_and_trailers() {
        let l = Limits::default();
        let (body, rest) = run(
            b"4;x=y\r\nWiki\r\n5 \r\npedia\r\nE\r\n in\r\n\r\nchunks.\r\n0\r\nT: 1\r\n\r\nNEXT",
            &l,
        )
        .unwrap();
        assert_eq!(body, b"Wikipedia in\r\n\r\nchunks.");
        assert_eq!(rest, b"NEXT");
        assert_eq!(run(b"0\n\n", &l).unwrap().0, b"");
    }

    #[test]
    fn errors() {
        let l = Limits {
            max_body: 5,
            max_headers: 1,
            ..Limits::default()
        };
        assert_eq!(run(b"6\r\n", &l), Err(HttpError::BodyTooLarge { limit: 5 }));
        assert_eq!(
            run(b"3\r\nabc\r\n3\r\n", &l),
            Err(HttpError::BodyTooLarge { limit: 5 })
        );
        assert!(matches!(run(b"x\r\n", &l), Err(HttpError::Malformed(_))));
        assert!(matches!(
            run(b"1\r\nab\r\n", &l),
            Err(HttpError::Malformed(_))
        ));
        assert!(matches!(
            run(b"0\r\nA: 1\r\nB: 2\r\n\r\n", &l),
            Err(HttpError::TooManyHeaders { .. })
        ));
        assert!(matches!(
            run(b"ffffffffffffffff\r\n", &l),
            Err(HttpError::Malformed(_))
        ));
    }

    #[test]
    fn encodes() {
        let mut out = BytesMut::new();
        encode_chunk(&mut out, b"hello, world");
        encode_chunk(&mut out, b"");
        encode_last_chunk(&mut out);
        assert_eq!(&out[..], b"c\r\nhello, world\r\n0\r\n\r\n");
    }
}
