//! XML-RPC's fuzz target: a property-based harness on the stable toolchain, in the style of
//! `resp_fuzz.rs`.
//!
//! Inputs are the files of `protocols/fuzz/corpus/xmlrpc/` (calls and responses written by
//! Python's `xmlrpc.client.dumps`, the specification's example, Apache's `ex:` extensions,
//! entities/CDATA/BOM/comments, nesting at and past the limit, and hostile documents:
//! billion laughs, an external entity, bad ints, base64, dates and references), mutations of
//! them (bit flips, inserted XML-significant strings and entity tricks, deleted and
//! duplicated runs, splices between files, rewritten scalars, tags renamed, values wrapped in
//! deep nesting, truncation) and generated deep documents. Every input goes to both
//! [`decode_call`] and [`decode_response`]; the properties:
//!
//! - no panic (and no stack overflow), whatever the bytes;
//! - bounded memory: the decoded values' size is at most a fixed multiple of the input's;
//! - a refusal is a [`DecodeError`] whose fault code is one of the interoperable ones and
//!   whose message is short (no echo of a huge input);
//! - what decodes re-encodes to a document that decodes to the same bytes again
//!   (`encode(decode(encode(v))) == encode(v)`, a check that also holds for NaN);
//! - nesting within the limit decodes, past it fails with [`DecodeError::TooDeep`].
//!
//! `cargo test -p spindle-protocols --test xmlrpc_fuzz` runs a quick pass; for a long run,
//! `SPINDLE_FUZZ_ITERS=2000000 cargo test --release -p spindle-protocols --test xmlrpc_fuzz`.
//! `SPINDLE_FUZZ_SEED` explores elsewhere; a failure prints the seed, iteration and input.

use std::path::PathBuf;
use std::time::Instant;

use bytes::BytesMut;
use spindle_protocols::value::Value;
use spindle_protocols::xmlrpc::{
    decode_call, decode_response, encode_call, encode_fault, encode_response, fault_code,
    DecodeError, Limits, MethodResponse,
};

mod fuzz_support;

use fuzz_support::{env_u64, mutate_generic, Rng, GENERIC_OPS};

const LIMITS: Limits = Limits {
    max_len: 64 << 10,
    max_depth: 16,
};

fn corpus() -> Vec<Vec<u8>> {
    fuzz_support::corpus("xmlrpc")
}

/// Strings that steer an XML-RPC decoder: markup, entity and reference tricks, type tags.
const SPECIAL: &[&[u8]] = &[
    b"<",
    b">",
    b"&",
    b"/",
    b"&amp;",
    b"&lt;",
    b"&#0;",
    b"&#x10FFFF;",
    b"&#xD800;",
    b"&#99999999999;",
    b"&lol;",
    b"&#x;",
    b"<![CDATA[",
    b"]]>",
    b"<!DOCTYPE x [<!ENTITY a \"&a;&a;\">]>",
    b"<!ENTITY b SYSTEM \"file:///etc/passwd\">",
    b"<!--",
    b"-->",
    b"<?x y?>",
    b"<?xml version=\"1.0\" encoding=\"latin-1\"?>",
    b"<value>",
    b"</value>",
    b"<value/>",
    b"<array><data>",
    b"</data></array>",
    b"<struct><member><name>",
    b"</name>",
    b"</member></struct>",
    b"<nil/>",
    b"<ex:nil/>",
    b"<i8>",
    b"<param>",
    b"</params>",
    b"<fault>",
    b"\xff",
    b"\xef\xbb\xbf",
    b"\0",
    b"\r\n",
    b" ",
];

/// Scalar texts worth trying: limits of integers and floats, bad dates, bad base64.
const SCALARS: &[&[u8]] = &[
    b"0",
    b"-0",
    b"+1",
    b"9223372036854775807",
    b"9223372036854775808",
    b"-9223372036854775809",
    b"99999999999999999999999999999999999999",
    b"1e999",
    b"nan",
    b"-inf",
    b"1.5",
    b"",
    b"2",
    b"20240229T23:59:59",
    b"20230229T00:00:00",
    b"99991231T23:59:59",
    b"aGVsbG8=",
    b"aGVsbG8",
    b"====",
];

const TAGS: &[&[u8]] = &[
    b"int",
    b"i4",
    b"i8",
    b"ex:i8",
    b"boolean",
    b"string",
    b"double",
    b"base64",
    b"dateTime.iso8601",
    b"nil",
    b"array",
    b"data",
    b"struct",
    b"member",
    b"name",
    b"value",
    b"param",
    b"params",
    b"fault",
    b"methodName",
    b"methodCall",
    b"methodResponse",
    b"bogus",
];

fn find(data: &[u8], needle: &[u8], from: usize) -> Option<usize> {
    (from..data.len().saturating_sub(needle.len()) + 1).find(|&i| data[i..].starts_with(needle))
}

fn mutate(rng: &mut Rng, corpus: &[Vec<u8>]) -> Vec<u8> {
    let mut data = corpus[rng.below(corpus.len())].clone();
    let ops = if rng.below(2) == 0 {
        1
    } else {
        1 + rng.below(4)
    };
    for _ in 0..ops {
        let at = rng.below(data.len() + 1);
        match rng.below(GENERIC_OPS + 5) {
            op @ 0..GENERIC_OPS if mutate_generic(rng, &mut data, corpus, op, 256) => {}
            5 => {
                // Rewrite the text after a '>' up to the next '<': where scalars live.
                if let Some(start) = find(&data, b">", at).map(|i| i + 1) {
                    let end = find(&data, b"<", start).unwrap_or(data.len());
                    let s = SCALARS[rng.below(SCALARS.len())];
                    data.splice(start..end, s.iter().copied());
                }
            }
            6 => {
                // Rename a tag (start or end): mismatched, unknown or misplaced elements.
                if let Some(lt) = find(&data, b"<", at) {
                    let start = lt + 1 + usize::from(data.get(lt + 1) == Some(&b'/'));
                    let end = (start..data.len())
                        .find(|&i| matches!(data[i], b'>' | b'/' | b' '))
                        .unwrap_or(data.len());
                    let t = TAGS[rng.below(TAGS.len())];
                    data.splice(start..end, t.iter().copied());
                }
            }
            7 => {
                // Wrap the value at a '<value>' in arrays and structs, past the limit or not.
                if let Some(start) = find(&data, b"<value>", at) {
                    if let Some(end) = find(&data, b"</value>", start).map(|i| i + 8) {
                        let levels = rng.below(2 * LIMITS.max_depth + 4);
                        let (open, close): (&[u8], &[u8]) = if rng.below(2) == 0 {
                            (b"<value><array><data>", b"</data></array></value>")
                        } else {
                            (
                                b"<value><struct><member><name>n</name>",
                                b"</member></struct></value>",
                            )
                        };
                        data.splice(end..end, close.repeat(levels));
                        data.splice(start..start, open.repeat(levels));
                    }
                }
            }
            8 => data.truncate(at),
            _ => {
                let s = SPECIAL[rng.below(SPECIAL.len())];
                data.splice(at..at, s.iter().copied());
            }
        }
    }
    data.truncate(LIMITS.max_len + 16);
    data
}

/// A generated document nested `depth` levels deep, mixing arrays and structs.
fn deep(rng: &mut Rng, depth: usize) -> Vec<u8> {
    let arrays: Vec<bool> = (0..depth).map(|_| rng.below(2) == 0).collect();
    let mut open = Vec::new();
    let mut close = Vec::new();
    for &array in &arrays {
        open.extend_from_slice(if array {
            b"<value><array><data>".as_slice()
        } else {
            b"<value><struct><member><name>k</name>".as_slice()
        });
    }
    for &array in arrays.iter().rev() {
        close.extend_from_slice(if array {
            b"</data></array></value>".as_slice()
        } else {
            b"</member></struct></value>".as_slice()
        });
    }
    let mut doc = b"<methodCall><methodName>d</methodName><params><param>".to_vec();
    doc.extend_from_slice(&open);
    doc.extend_from_slice(b"<value><i4>1</i4></value>");
    doc.extend_from_slice(&close);
    doc.extend_from_slice(b"</param></params></methodCall>");
    doc
}

/// The memory a value holds, roughly: its nodes and its heap bytes.
fn footprint(v: &Value) -> usize {
    let node = std::mem::size_of::<Value>();
    node + match v {
        Value::String(s) => s.len(),
        Value::Binary(b) => b.len(),
        Value::Array(items) => items.iter().map(footprint).sum(),
        Value::Struct(members) => members
            .iter()
            .map(|(k, v)| std::mem::size_of::<(String, Value)>() + k.len() + footprint(v))
            .sum(),
        _ => 0,
    }
}

fn check_error(e: &DecodeError, input: &[u8]) {
    let codes = [
        fault_code::PARSE_ERROR,
        fault_code::UNSUPPORTED_ENCODING,
        fault_code::INVALID_ENCODING_CHAR,
        fault_code::INVALID_REQUEST,
    ];
    assert!(codes.contains(&e.fault_code()), "{e:?}");
    let fault = e.to_fault();
    assert!(
        fault.fault_string.len() < 400,
        "long fault string {} for {} input bytes",
        fault.fault_string.len(),
        input.len()
    );
}

/// Runs both decoders over `input`, checking the properties; "call"/"response"/"error"
/// outcomes for the corpus test.
fn run(input: &[u8]) -> (bool, bool) {
    // Values take at most this many bytes per input byte (an empty `<value/>`, 8 bytes,
    // is the densest: one Value in a vector that may have doubled).
    let bound = 16 * input.len() + 1024;
    let mut out = BytesMut::new();
    let call_ok = match decode_call(input, &LIMITS) {
        Ok(call) => {
            let size: usize =
                call.params.iter().map(footprint).sum::<usize>() + call.method_name.len();
            assert!(
                size <= bound,
                "call of {size} bytes from {} input bytes",
                input.len()
            );
            encode_call(&call.method_name, &call.params, &mut out);
            let again = decode_call(
                &out,
                &Limits {
                    max_len: usize::MAX,
                    ..LIMITS
                },
            )
            .unwrap_or_else(|e| panic!("re-encoded call does not decode: {e}\n{out:?}"));
            let mut out2 = BytesMut::new();
            encode_call(&again.method_name, &again.params, &mut out2);
            assert_eq!(out, out2, "call re-encodes differently");
            true
        }
        Err(e) => {
            check_error(&e, input);
            false
        }
    };
    out.clear();
    let response_ok = match decode_response(input, &LIMITS) {
        Ok(response) => {
            match &response {
                MethodResponse::Value(v) => {
                    assert!(footprint(v) <= bound);
                    encode_response(v, &mut out);
                }
                MethodResponse::Fault(f) => encode_fault(f, &mut out),
            }
            let again = decode_response(
                &out,
                &Limits {
                    max_len: usize::MAX,
                    ..LIMITS
                },
            )
            .unwrap_or_else(|e| panic!("re-encoded response does not decode: {e}\n{out:?}"));
            let mut out2 = BytesMut::new();
            match &again {
                MethodResponse::Value(v) => encode_response(v, &mut out2),
                MethodResponse::Fault(f) => encode_fault(f, &mut out2),
            }
            assert_eq!(out, out2, "response re-encodes differently");
            true
        }
        Err(e) => {
            check_error(&e, input);
            false
        }
    };
    (call_ok, response_ok)
}

#[test]
fn xmlrpc_decoders() {
    let corpus = corpus();
    let seed = env_u64("SPINDLE_FUZZ_SEED", 0x5EED);
    let iterations = env_u64("SPINDLE_FUZZ_ITERS", 3000) as usize;
    let mut rng = Rng(seed);
    let started = Instant::now();
    let (mut calls, mut responses, mut refused) = (0usize, 0usize, 0usize);
    for i in 0..iterations {
        let input = match corpus.get(i) {
            Some(c) => c.clone(),
            None if i % 50 == 0 => deep(&mut rng, i / 50 % 400),
            None => mutate(&mut rng, &corpus),
        };
        let outcome = std::panic::catch_unwind(|| run(&input));
        let (call, response) = outcome.unwrap_or_else(|_| {
            panic!(
                "seed {seed:#x}, iteration {i}, input {:?}",
                String::from_utf8_lossy(&input)
            )
        });
        calls += call as usize;
        responses += response as usize;
        refused += (!call && !response) as usize;
    }
    eprintln!(
        "xmlrpc fuzz: seed {seed:#x}, {iterations} iterations in {:.1?}: \
         {calls} calls, {responses} responses, {refused} refused by both",
        started.elapsed()
    );
}

#[test]
fn nesting_limit_is_exact() {
    let mut rng = Rng(1);
    for depth in 0..=LIMITS.max_depth + 2 {
        let result = decode_call(&deep(&mut rng, depth), &LIMITS);
        if depth <= LIMITS.max_depth {
            assert!(result.is_ok(), "{depth}: {result:?}");
        } else {
            assert_eq!(
                result.unwrap_err(),
                DecodeError::TooDeep {
                    max: LIMITS.max_depth
                }
            );
        }
    }
    // Far past the limit, and past what a thread's stack could recurse through.
    let huge = deep(&mut rng, 200_000);
    let result = decode_call(
        &huge,
        &Limits {
            max_len: usize::MAX,
            max_depth: usize::MAX,
        },
    );
    assert!(matches!(result, Err(DecodeError::TooDeep { .. })));
}

#[test]
fn corpus_seeds_are_realistic() {
    // `call_*` seeds decode as calls, `resp_*` as responses; `bad_*` are refused by both.
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus/xmlrpc");
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let input = std::fs::read(&path).unwrap();
        let (call, response) = run(&input);
        let want = if name.starts_with("call_") {
            (true, false)
        } else if name.starts_with("resp_") {
            (false, true)
        } else {
            (false, false)
        };
        assert_eq!(
            (call, response),
            want,
            "{name}: {:?}",
            decode_call(&input, &LIMITS)
        );
    }
}
