//! A HyperLogLog as Redis 7.0 keeps it in a string value (`src/hyperloglog.c`): the same
//! bytes, the same hash, the same register updates and the same estimator, so a value moves
//! between spindle kv and redis-server unchanged (GET/SET, DUMP/RESTORE) and both count it
//! alike.
//!
//! # Layout
//!
//! | bytes | what |
//! |---|---|
//! | 0..4 | the magic `HYLL` |
//! | 4 | the encoding: 0 dense, 1 sparse |
//! | 5..8 | unused (zero in a new value; copied as found) |
//! | 8..16 | the cached cardinality, little endian; the top bit of byte 15 set means stale |
//! | 16.. | dense: 16384 registers of 6 bits, each starting at the low bits of its byte; sparse: opcodes |
//!
//! The sparse opcodes run-length encode the registers in order: ZERO `00xxxxxx` (1 to 64
//! zero registers), XZERO `01xxxxxx yyyyyyyy` (1 to 16384 zero registers, 14 bits) and VAL
//! `1vvvvvxx` (1 to 4 registers holding 1 to 32). A sparse value becomes dense when a register
//! needs more than 32, or when an update would make it longer than `hll-sparse-max-bytes`.
//!
//! Every read past the end of the bytes sees a zero, as Redis's reads see the string's
//! terminating NUL: a value cut short counts as Redis counts it, and never panics.

/// Register index bits.
const P: u32 = 14;
/// Hash bits left for the run of zeros (`64 - P`).
const Q: usize = 64 - P as usize;
/// The number of registers.
pub(crate) const REGISTERS: usize = 1 << P;
/// Bits per dense register.
const BITS: usize = 6;
/// The largest value a register holds.
const REGISTER_MAX: u8 = (1 << BITS) - 1;
/// The header's length.
pub(crate) const HEADER: usize = 16;
/// A dense value's exact length.
pub(crate) const DENSE_SIZE: usize = HEADER + (REGISTERS * BITS).div_ceil(8);
/// `hll-sparse-max-bytes`'s default: the longest a sparse value grows before it becomes dense.
#[cfg(test)]
pub(crate) const SPARSE_MAX_BYTES: usize = 3000;
/// The seed Redis hashes elements with.
const SEED: u64 = 0xadc8_3b19;
/// The largest value a VAL opcode holds.
const VAL_MAX_VALUE: u8 = 32;
/// The longest run a VAL opcode covers.
const VAL_MAX_LEN: usize = 4;
/// The longest run a ZERO opcode covers.
const ZERO_MAX_LEN: usize = 64;
/// The longest run an XZERO opcode covers.
const XZERO_MAX_LEN: usize = 16384;
/// `0.5 / ln 2`, the estimator's constant for an infinite number of registers.
const ALPHA_INF: f64 = 0.721_347_520_444_481_7;
/// The magic the value starts with.
const MAGIC: &[u8; 4] = b"HYLL";
/// Where the encoding byte is.
const ENCODING_AT: usize = 4;
/// Where the cached cardinality is.
const CARD_AT: usize = 8;
/// The byte holding the cache's "stale" bit (its top bit).
const STALE_AT: usize = 15;

/// How the registers are stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Encoding {
    /// 16384 packed 6-bit registers.
    Dense,
    /// Run-length opcodes.
    Sparse,
}

/// Sparse opcodes that do not describe exactly 16384 registers (Redis's `INVALIDOBJ`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Corrupt;

/// The byte at `i`, or the zero Redis's reads find past the end.
fn at(bytes: &[u8], i: usize) -> u8 {
    bytes.get(i).copied().unwrap_or(0)
}

/// Writes `v` at `i` if `i` is inside the bytes.
fn put(bytes: &mut [u8], i: usize, v: u8) {
    if let Some(b) = bytes.get_mut(i) {
        *b = v;
    }
}

/// The encoding of `bytes` if they hold a HyperLogLog Redis accepts (`isHLLObjectOrReply`):
/// the magic, a known encoding, and a dense value of its exact length.
pub(crate) fn encoding_of(bytes: &[u8]) -> Option<Encoding> {
    if bytes.len() < HEADER || !bytes.starts_with(MAGIC) {
        return None;
    }
    match at(bytes, ENCODING_AT) {
        0 if bytes.len() == DENSE_SIZE => Some(Encoding::Dense),
        1 => Some(Encoding::Sparse),
        _ => None,
    }
}

/// A new, empty value: sparse, all registers in XZERO opcodes, the cached cardinality 0.
pub(crate) fn new_sparse() -> Vec<u8> {
    let mut v = Vec::with_capacity(HEADER + 2);
    v.extend_from_slice(MAGIC);
    v.extend_from_slice(&[1, 0, 0, 0]);
    v.extend_from_slice(&[0; 8]);
    let mut left = REGISTERS;
    while left > 0 {
        let run = left.min(XZERO_MAX_LEN);
        v.extend_from_slice(&xzero(run));
        left -= run;
    }
    v
}

/// The cached cardinality, if it is not stale.
pub(crate) fn cached(bytes: &[u8]) -> Option<u64> {
    if at(bytes, STALE_AT) & 0x80 != 0 {
        return None;
    }
    Some(
        (CARD_AT..CARD_AT + 8)
            .rev()
            .fold(0u64, |n, i| n << 8 | u64::from(at(bytes, i))),
    )
}

/// Stores `card` as the cached cardinality (valid).
pub(crate) fn set_cached(bytes: &mut [u8], card: u64) {
    for (i, b) in card.to_le_bytes().into_iter().enumerate() {
        put(bytes, CARD_AT + i, b);
    }
}

/// Marks the cached cardinality stale, keeping its other bits as Redis does.
pub(crate) fn invalidate(bytes: &mut [u8]) {
    put(bytes, STALE_AT, at(bytes, STALE_AT) | 0x80);
}

/// MurmurHash64A, as Redis has it (little-endian reads whatever the machine).
pub(crate) fn murmur64a(key: &[u8], seed: u64) -> u64 {
    const M: u64 = 0xc6a4_a793_5bd1_e995;
    const R: u32 = 47;
    let mut h = seed ^ (key.len() as u64).wrapping_mul(M);
    let mut chunks = key.chunks_exact(8);
    for chunk in &mut chunks {
        let mut k = chunk.iter().rev().fold(0u64, |k, &b| k << 8 | u64::from(b));
        k = k.wrapping_mul(M);
        k ^= k >> R;
        k = k.wrapping_mul(M);
        h ^= k;
        h = h.wrapping_mul(M);
    }
    let tail = chunks.remainder();
    if !tail.is_empty() {
        for (i, &b) in tail.iter().enumerate() {
            h ^= u64::from(b) << (8 * i);
        }
        h = h.wrapping_mul(M);
    }
    h ^= h >> R;
    h = h.wrapping_mul(M);
    h ^= h >> R;
    h
}

/// The register an element goes to and the length of its hash's `0…01` run, 1 to 51
/// (`hllPatLen`).
pub(crate) fn pattern(element: &[u8]) -> (usize, u8) {
    let hash = murmur64a(element, SEED);
    let index = (hash & (REGISTERS as u64 - 1)) as usize;
    // The bit above the Q used ones ends every run, so the count stays at most Q + 1.
    let rest = (hash >> P) | (1u64 << Q);
    (index, rest.trailing_zeros() as u8 + 1)
}

/// Dense register `i` of `regs` (the bytes after the header).
pub(crate) fn dense_get(regs: &[u8], i: usize) -> u8 {
    let byte = i * BITS / 8;
    let fb = (i * BITS) & 7;
    let b0 = u32::from(at(regs, byte));
    let b1 = u32::from(at(regs, byte + 1));
    (((b0 >> fb) | (b1 << (8 - fb))) & u32::from(REGISTER_MAX)) as u8
}

/// Sets dense register `i` of `regs` to `v` (at most 63).
pub(crate) fn dense_set(regs: &mut [u8], i: usize, v: u8) {
    let byte = i * BITS / 8;
    let fb = (i * BITS) & 7;
    let fb8 = 8 - fb;
    let v = u32::from(v);
    let max = u32::from(REGISTER_MAX);
    if let Some(b) = regs.get_mut(byte) {
        *b &= !((max << fb) as u8);
        *b |= (v << fb) as u8;
    }
    if let Some(b) = regs.get_mut(byte + 1) {
        *b &= !((max >> fb8) as u8);
        *b |= (v >> fb8) as u8;
    }
}

/// Raises dense register `i` to `count` if it is lower; true if it changed.
fn dense_raise(regs: &mut [u8], i: usize, count: u8) -> bool {
    if count > dense_get(regs, i) {
        dense_set(regs, i, count);
        true
    } else {
        false
    }
}

/// Adds `element` to the dense registers `regs`; true if a register changed.
pub(crate) fn dense_add(regs: &mut [u8], element: &[u8]) -> bool {
    let (index, count) = pattern(element);
    dense_raise(regs, index, count)
}

/// One sparse opcode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Op {
    /// ZERO: a run of 1 to 64 zero registers.
    Zero(usize),
    /// XZERO: a run of 1 to 16384 zero registers.
    XZero(usize),
    /// VAL: a value 1 to 32, a run of 1 to 4 registers.
    Val(u8, usize),
}

impl Op {
    /// The registers it covers.
    fn run(self) -> usize {
        match self {
            Op::Zero(n) | Op::XZero(n) | Op::Val(_, n) => n,
        }
    }

    /// Its length in bytes.
    fn len(self) -> usize {
        match self {
            Op::XZero(_) => 2,
            _ => 1,
        }
    }
}

fn is_zero(b: u8) -> bool {
    b & 0xc0 == 0
}

fn is_xzero(b: u8) -> bool {
    b & 0xc0 == 0x40
}

fn is_val(b: u8) -> bool {
    b & 0x80 != 0
}

fn val_value(b: u8) -> u8 {
    ((b >> 2) & 0x1f) + 1
}

fn val_len(b: u8) -> usize {
    usize::from(b & 0x3) + 1
}

/// The VAL opcode for `len` (1 to 4) registers of `value` (1 to 32).
fn val(value: u8, len: usize) -> u8 {
    ((value - 1) << 2 | (len as u8 - 1)) | 0x80
}

/// The ZERO opcode for `len` (1 to 64) registers.
fn zero(len: usize) -> u8 {
    (len - 1) as u8
}

/// The XZERO opcode for `len` (1 to 16384) registers.
fn xzero(len: usize) -> [u8; 2] {
    let l = len - 1;
    [(l >> 8) as u8 | 0x40, (l & 0xff) as u8]
}

/// The opcode at `p` of `bytes`.
fn op_at(bytes: &[u8], p: usize) -> Op {
    let b = at(bytes, p);
    if is_zero(b) {
        Op::Zero(usize::from(b & 0x3f) + 1)
    } else if is_xzero(b) {
        Op::XZero((usize::from(b & 0x3f) << 8 | usize::from(at(bytes, p + 1))) + 1)
    } else {
        Op::Val(val_value(b), val_len(b))
    }
}

/// The opcodes of a sparse value, in order.
pub(crate) fn ops(bytes: &[u8]) -> impl Iterator<Item = Op> + '_ {
    let mut p = HEADER;
    std::iter::from_fn(move || {
        if p >= bytes.len() {
            return None;
        }
        let op = op_at(bytes, p);
        p += op.len();
        Some(op)
    })
}

/// Calls `each(register, value)` for every non-zero register of a sparse value, in order;
/// false (stopping there) once the opcodes run past the last register, or if they end short
/// of it. Redis 7.0.15 as Debian ships it (with the CVE-2025-32023 fix) refuses a run past
/// the end of any opcode kind, and so does every reader here: only opcodes covering exactly
/// the 16384 registers are valid.
fn walk_sparse(bytes: &[u8], mut each: impl FnMut(usize, u8)) -> bool {
    let mut idx = 0usize;
    for op in ops(bytes) {
        let n = op.run();
        if idx + n > REGISTERS {
            return false;
        }
        if let Op::Val(v, _) = op {
            for i in idx..idx + n {
                each(i, v);
            }
        }
        idx += n;
    }
    idx == REGISTERS
}

/// Makes a sparse value dense, keeping its header but the encoding (`hllSparseToDense`); a
/// dense value is left as it is. A corrupt value is left unchanged.
pub(crate) fn to_dense(bytes: &mut Vec<u8>) -> Result<(), Corrupt> {
    if at(bytes, ENCODING_AT) == 0 {
        return Ok(());
    }
    let mut dense = vec![0u8; DENSE_SIZE];
    for i in 0..HEADER {
        put(&mut dense, i, at(bytes, i));
    }
    put(&mut dense, ENCODING_AT, 0);
    let regs = dense.get_mut(HEADER..).unwrap_or_default();
    if !walk_sparse(bytes, |i, v| dense_set(regs, i, v)) {
        return Err(Corrupt);
    }
    *bytes = dense;
    Ok(())
}

/// Raises sparse register `index` to `count` if it is lower (`hllSparseSet`), in place when
/// the opcodes allow, else splitting the opcode that covers it; makes the value dense first
/// when `count` does not fit a VAL opcode or the split would grow the value past `max_bytes`.
/// True if a register changed.
pub(crate) fn sparse_set(
    bytes: &mut Vec<u8>,
    index: usize,
    count: u8,
    max_bytes: usize,
) -> Result<bool, Corrupt> {
    if count > VAL_MAX_VALUE {
        return promote(bytes, index, count);
    }
    // Step 1: the opcode covering `index`, the register it starts at, and the one before it.
    let end = bytes.len();
    let mut p = HEADER;
    let mut first = 0usize;
    let mut prev = None;
    let mut op = None;
    while p < end {
        let this = op_at(bytes, p);
        op = Some(this);
        if index < first + this.run() {
            break;
        }
        prev = Some(p);
        p += this.len();
        first += this.run();
    }
    let op = match op {
        Some(op) if p < end => op,
        _ => return Err(Corrupt),
    };
    // Step 2: the cases changed in place — a VAL already high enough, a VAL or ZERO of one
    // register — else the opcode is split into up to three (XZERO-VAL-XZERO, 5 bytes).
    let in_place = match op {
        Op::Val(old, _) if old >= count => return Ok(false),
        Op::Val(_, 1) | Op::Zero(1) => {
            put(bytes, p, val(count, 1));
            true
        }
        _ => false,
    };
    if !in_place {
        let last = first + op.run() - 1;
        let mut seq = [0u8; 5];
        let mut n = 0;
        let mut push = |b: u8| {
            put(&mut seq, n, b);
            n += 1;
        };
        let zeros = |len: usize, push: &mut dyn FnMut(u8)| {
            if len > ZERO_MAX_LEN {
                let [a, b] = xzero(len);
                push(a);
                push(b);
            } else {
                push(zero(len));
            }
        };
        match op {
            Op::Zero(_) | Op::XZero(_) => {
                if index != first {
                    zeros(index - first, &mut push);
                }
                push(val(count, 1));
                if index != last {
                    zeros(last - index, &mut push);
                }
            }
            Op::Val(current, _) => {
                if index != first {
                    push(val(current, index - first));
                }
                push(val(count, 1));
                if index != last {
                    push(val(current, last - index));
                }
            }
        }
        // Step 3: the new sequence replaces the opcode, unless the value would outgrow the
        // sparse limit.
        if n > op.len() && end + (n - op.len()) > max_bytes {
            return promote(bytes, index, count);
        }
        let old_end = (p + op.len()).min(end);
        bytes.splice(p..old_end, seq.get(..n).unwrap_or_default().iter().copied());
        // An XZERO cut short at the end counted as two bytes: Redis's new length is the old
        // one plus the difference, which drops the sequence's last byte.
        bytes.truncate((end + n).saturating_sub(op.len()));
    }
    // Step 4: adjacent VALs of one value merge, scanning up to 5 opcodes from the one before.
    let mut p = prev.unwrap_or(HEADER);
    let mut scan = 5;
    while p < bytes.len() && scan > 0 {
        scan -= 1;
        let b = at(bytes, p);
        if is_xzero(b) {
            p += 2;
            continue;
        }
        if is_zero(b) {
            p += 1;
            continue;
        }
        let next = at(bytes, p + 1);
        if p + 1 < bytes.len() && is_val(next) && val_value(b) == val_value(next) {
            let len = val_len(b) + val_len(next);
            if len <= VAL_MAX_LEN {
                put(bytes, p + 1, val(val_value(b), len));
                bytes.remove(p);
                // The merged opcode may merge again with the one on its right.
                continue;
            }
        }
        p += 1;
    }
    invalidate(bytes);
    Ok(true)
}

/// Makes the value dense and raises register `index` to `count` there.
fn promote(bytes: &mut Vec<u8>, index: usize, count: u8) -> Result<bool, Corrupt> {
    to_dense(bytes)?;
    let regs = bytes.get_mut(HEADER..).unwrap_or_default();
    Ok(dense_raise(regs, index, count))
}

/// Adds `element` to a valid value of either encoding (`hllAdd`); true if a register
/// changed. A sparse value may become dense on the way.
pub(crate) fn add(bytes: &mut Vec<u8>, element: &[u8], max_bytes: usize) -> Result<bool, Corrupt> {
    let (index, count) = pattern(element);
    set_register(bytes, index, count, max_bytes)
}

/// Raises register `index` to `count` in a value of either encoding.
pub(crate) fn set_register(
    bytes: &mut Vec<u8>,
    index: usize,
    count: u8,
    max_bytes: usize,
) -> Result<bool, Corrupt> {
    if at(bytes, ENCODING_AT) == 0 {
        let regs = bytes.get_mut(HEADER..).unwrap_or_default();
        Ok(dense_raise(regs, index, count))
    } else {
        sparse_set(bytes, index, count, max_bytes)
    }
}

/// Raises each of `max` (one byte per register) to the register's value in `bytes`, a valid
/// value of either encoding (`hllMerge`).
pub(crate) fn merge_into(max: &mut [u8], bytes: &[u8]) -> Result<(), Corrupt> {
    let mut raise = |i: usize, v: u8| {
        if let Some(m) = max.get_mut(i) {
            *m = (*m).max(v);
        }
    };
    if at(bytes, ENCODING_AT) == 0 {
        let regs = bytes.get(HEADER..).unwrap_or_default();
        for i in 0..REGISTERS {
            raise(i, dense_get(regs, i));
        }
        return Ok(());
    }
    if !walk_sparse(bytes, raise) {
        return Err(Corrupt);
    }
    Ok(())
}

/// How many registers hold each value 0 to 63.
pub(crate) type Histogram = [u64; 64];

fn count_in(hist: &mut Histogram, v: u8, n: u64) {
    if let Some(h) = hist.get_mut(usize::from(v)) {
        *h += n;
    }
}

/// The register histogram of a valid value; `Err` for sparse opcodes that do not cover
/// exactly the 16384 registers.
pub(crate) fn histogram(bytes: &[u8]) -> Result<Histogram, Corrupt> {
    let mut hist = [0u64; 64];
    if at(bytes, ENCODING_AT) == 0 {
        // Three bytes hold four registers exactly.
        let regs = bytes.get(HEADER..DENSE_SIZE).unwrap_or_default();
        for c in regs.chunks_exact(3) {
            if let [a, b, d] = *c {
                let (a, b, d) = (u32::from(a), u32::from(b), u32::from(d));
                for v in [a, a >> 6 | b << 2, b >> 4 | d << 4, d >> 2] {
                    count_in(&mut hist, (v & 63) as u8, 1);
                }
            }
        }
        return Ok(hist);
    }
    let mut idx = 0usize;
    for op in ops(bytes) {
        let (v, n) = match op {
            Op::Zero(n) | Op::XZero(n) => (0, n),
            Op::Val(v, n) => (v, n),
        };
        count_in(&mut hist, v, n as u64);
        idx = idx.saturating_add(n);
    }
    if idx != REGISTERS {
        return Err(Corrupt);
    }
    Ok(hist)
}

/// The histogram of registers kept one per byte (PFCOUNT's union of several keys).
pub(crate) fn raw_histogram(regs: &[u8]) -> Histogram {
    let mut hist = [0u64; 64];
    for &v in regs {
        count_in(&mut hist, v, 1);
    }
    hist
}

/// Otmar Ertl's σ ("New cardinality estimation algorithms for HyperLogLog sketches",
/// arXiv:1702.01284), summed until it stops changing, as Redis sums it.
fn sigma(mut x: f64) -> f64 {
    if x == 1.0 {
        return f64::INFINITY;
    }
    let mut y = 1.0;
    let mut z = x;
    loop {
        x *= x;
        let before = z;
        z += x * y;
        y += y;
        // A NaN would never settle; it cannot come from a histogram, but stop anyway.
        if before == z || z.is_nan() {
            return z;
        }
    }
}

/// Otmar Ertl's τ, as Redis sums it.
fn tau(mut x: f64) -> f64 {
    // Outside (0, 1) the series has no meaning (Redis only calls it inside [0, 1]).
    if !(x > 0.0 && x < 1.0) {
        return 0.0;
    }
    let mut y = 1.0;
    let mut z = 1.0 - x;
    loop {
        x = x.sqrt();
        let before = z;
        y *= 0.5;
        let d = 1.0 - x;
        z -= d * d * y;
        if before == z {
            return z / 3.0;
        }
    }
}

/// The cardinality estimate of a register histogram (`hllCount`), the same floating-point
/// operations in the same order as Redis, so the same result to the unit.
pub(crate) fn estimate(hist: &Histogram) -> u64 {
    let m = REGISTERS as f64;
    let h = |i: usize| hist.get(i).copied().unwrap_or(0) as f64;
    let mut z = m * tau((m - h(Q + 1)) / m);
    for j in (1..=Q).rev() {
        z += h(j);
        z *= 0.5;
    }
    z += m * sigma(h(0) / m);
    (ALPHA_INF * m * m / z).round() as u64
}

/// The estimate of a valid value of either encoding.
pub(crate) fn count(bytes: &[u8]) -> Result<u64, Corrupt> {
    histogram(bytes).map(|h| estimate(&h))
}

/// PFDEBUG DECODE's text of a sparse value: `z:len`, `Z:len` and `v:value,len`, space
/// separated.
pub(crate) fn decode(bytes: &[u8]) -> String {
    let mut out = String::new();
    for op in ops(bytes) {
        if !out.is_empty() {
            out.push(' ');
        }
        match op {
            Op::Zero(n) => out.push_str(&format!("z:{n}")),
            Op::XZero(n) => out.push_str(&format!("Z:{n}")),
            Op::Val(v, n) => out.push_str(&format!("v:{v},{n}")),
        }
    }
    out
}

/// A small generator for PFSELFTEST's random registers and seed (xorshift64*): the test
/// needs variety, not quality.
#[derive(Debug)]
struct Rand(u64);

impl Rand {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
}

/// PFSELFTEST (`pfselftestCommand`): `cycles` rounds of random values written to every dense
/// register and read back, then elements 1 to `adds` (each xored with a random seed) added to
/// a dense and a sparse value at once, checking at 1, 10, 100… that a small value is still
/// sparse, that both encodings estimate alike, and that the error is within 6 standard
/// errors. The error text is Redis's.
pub(crate) fn selftest(cycles: u32, adds: u64, max_bytes: usize, seed: u64) -> Result<(), String> {
    let mut rand = Rand(seed | 1);
    let mut dense = new_sparse();
    to_dense(&mut dense).map_err(|_| "TESTFAILED dense/sparse disagree".to_string())?;
    let mut expected = vec![0u8; REGISTERS];
    for _ in 0..cycles {
        let regs = dense.get_mut(HEADER..).unwrap_or_default();
        for (i, e) in expected.iter_mut().enumerate() {
            let r = (rand.next() >> 32) as u8 & REGISTER_MAX;
            *e = r;
            dense_set(regs, i, r);
        }
        for (i, &e) in expected.iter().enumerate() {
            let got = dense_get(regs, i);
            if got != e {
                return Err(format!(
                    "TESTFAILED Register {i} should be {e} but is {got}"
                ));
            }
        }
    }
    for b in dense.get_mut(HEADER..).unwrap_or_default() {
        *b = 0;
    }
    let mut sparse = new_sparse();
    let relerr = 1.04 / (REGISTERS as f64).sqrt();
    let mut checkpoint = 1u64;
    let seed = rand.next();
    for j in 1..=adds {
        let element = (j ^ seed).to_le_bytes();
        dense_add(dense.get_mut(HEADER..).unwrap_or_default(), &element);
        if add(&mut sparse, &element, max_bytes).is_err() {
            return Err("TESTFAILED dense/sparse disagree".into());
        }
        if j != checkpoint {
            continue;
        }
        if j < (max_bytes / 2) as u64 && encoding_of(&sparse) != Some(Encoding::Sparse) {
            return Err("TESTFAILED sparse encoding not used".into());
        }
        let card = count(&dense).unwrap_or(0);
        if count(&sparse).ok() != Some(card) {
            return Err("TESTFAILED dense/sparse disagree".into());
        }
        let maxerr = if j == 10 {
            1
        } else {
            (relerr * 6.0 * checkpoint as f64).ceil() as u64
        };
        if checkpoint.abs_diff(card) > maxerr {
            return Err(format!(
                "TESTFAILED Too big error. card:{checkpoint} abserr:{}",
                checkpoint.abs_diff(card)
            ));
        }
        checkpoint *= 10;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The registers of a value of either encoding, one per byte.
    fn registers(bytes: &[u8]) -> Vec<u8> {
        let mut max = vec![0u8; REGISTERS];
        merge_into(&mut max, bytes).unwrap();
        max
    }

    #[test]
    fn hash_places_elements_as_redis_server() {
        // Elements of 0 to 17 bytes (every tail length, one and two 8-byte blocks), then
        // PFDEBUG DECODE, read from redis-server 7.0.15.
        let mut v = new_sparse();
        for n in [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 16, 17] {
            add(&mut v, "x".repeat(n).as_bytes(), SPARSE_MAX_BYTES).unwrap();
        }
        assert_eq!(
            decode(&v),
            "Z:1289 v:1,1 Z:1489 v:5,1 Z:1510 v:2,1 Z:785 v:2,1 Z:861 v:2,1 Z:2087 v:6,1 \
             Z:1550 v:1,1 Z:771 v:1,1 Z:96 v:1,1 Z:988 v:1,1 Z:2322 v:2,1 Z:2615 v:2,1 z:9"
        );
        assert_eq!(count(&v), Ok(12));
        let mut v = new_sparse();
        add(
            &mut v,
            b"the quick brown fox jumps over the lazy dog",
            SPARSE_MAX_BYTES,
        )
        .unwrap();
        assert_eq!(decode(&v), "Z:5508 v:3,1 Z:10875");
    }

    #[test]
    fn new_value_is_sparse_and_empty() {
        let v = new_sparse();
        assert_eq!(v.len(), HEADER + 2);
        assert_eq!(encoding_of(&v), Some(Encoding::Sparse));
        assert_eq!(decode(&v), "Z:16384");
        assert_eq!(count(&v), Ok(0));
        assert_eq!(cached(&v), Some(0));
    }

    #[test]
    fn dense_registers_round_trip_without_touching_neighbours() {
        let mut regs = vec![0u8; DENSE_SIZE - HEADER];
        for i in 0..REGISTERS {
            dense_set(&mut regs, i, (i % 64) as u8);
        }
        for i in 0..REGISTERS {
            assert_eq!(dense_get(&regs, i), (i % 64) as u8, "register {i}");
        }
        dense_set(&mut regs, 5, 0);
        assert_eq!(dense_get(&regs, 4), 4);
        assert_eq!(dense_get(&regs, 5), 0);
        assert_eq!(dense_get(&regs, 6), 6);
        // The last register ends in the last byte: nothing is written past it.
        dense_set(&mut regs, REGISTERS - 1, 63);
        assert_eq!(dense_get(&regs, REGISTERS - 1), 63);
        assert_eq!(regs.len(), DENSE_SIZE - HEADER);
    }

    #[test]
    fn sparse_set_splits_and_merges_opcodes() {
        let mut v = new_sparse();
        assert_eq!(sparse_set(&mut v, 100, 3, SPARSE_MAX_BYTES), Ok(true));
        assert_eq!(decode(&v), "Z:100 v:3,1 Z:16283");
        // Lower or equal: nothing changes.
        assert_eq!(sparse_set(&mut v, 100, 2, SPARSE_MAX_BYTES), Ok(false));
        // A neighbour of the same value merges into one VAL of two.
        assert_eq!(sparse_set(&mut v, 101, 3, SPARSE_MAX_BYTES), Ok(true));
        assert_eq!(decode(&v), "Z:100 v:3,2 Z:16282");
        // Splitting a VAL run.
        assert_eq!(sparse_set(&mut v, 101, 5, SPARSE_MAX_BYTES), Ok(true));
        assert_eq!(decode(&v), "Z:100 v:3,1 v:5,1 Z:16282");
        // A short zero run uses ZERO.
        assert_eq!(sparse_set(&mut v, 110, 1, SPARSE_MAX_BYTES), Ok(true));
        assert_eq!(decode(&v), "Z:100 v:3,1 v:5,1 z:8 v:1,1 Z:16273");
        assert_eq!(cached(&v), None);
        let regs = registers(&v);
        assert_eq!((regs[100], regs[101], regs[110], regs[0]), (3, 5, 1, 0));
    }

    #[test]
    fn sparse_becomes_dense_for_a_big_value_or_past_the_limit() {
        let mut v = new_sparse();
        assert_eq!(sparse_set(&mut v, 7, 33, SPARSE_MAX_BYTES), Ok(true));
        assert_eq!(encoding_of(&v), Some(Encoding::Dense));
        assert_eq!(registers(&v)[7], 33);
        // A tiny limit: the first split that grows the value promotes it.
        let mut v = new_sparse();
        assert_eq!(sparse_set(&mut v, 9000, 2, 20), Ok(true));
        assert_eq!(encoding_of(&v), Some(Encoding::Dense));
        assert_eq!(registers(&v)[9000], 2);
        // The header (magic, stale cache bit) survives the promotion.
        assert!(v.starts_with(b"HYLL\0"));
    }

    #[test]
    fn corrupt_sparse_values_are_refused() {
        let mut v = new_sparse();
        v.truncate(HEADER + 1); // XZERO cut short: reads see a zero byte, 16129 registers
        assert_eq!(count(&v), Err(Corrupt));
        assert_eq!(to_dense(&mut v.clone()), Err(Corrupt));
        let mut max = vec![0u8; REGISTERS];
        assert_eq!(merge_into(&mut max, &v), Err(Corrupt));
        assert_eq!(sparse_set(&mut v, 16383, 1, SPARSE_MAX_BYTES), Err(Corrupt));
        let mut empty = new_sparse();
        empty.truncate(HEADER);
        assert_eq!(sparse_set(&mut empty, 0, 1, SPARSE_MAX_BYTES), Err(Corrupt));
        // One VAL past the end of registers already covered: corrupt for every reader, as
        // redis-server 7.0.15 (Debian, with the CVE-2025-32023 fix) answers.
        let mut past = new_sparse();
        past.push(val(1, 1));
        assert_eq!(count(&past), Err(Corrupt));
        assert_eq!(to_dense(&mut past.clone()), Err(Corrupt));
        assert_eq!(merge_into(&mut max, &past), Err(Corrupt));
        assert!(encoding_of(b"HYLL\0\0\0\0\0\0\0\0\0\0\0\0short").is_none());
        assert!(encoding_of(b"HYLL\x02\0\0\0\0\0\0\0\0\0\0\0").is_none());
    }

    #[test]
    fn sparse_and_dense_agree_and_merge() {
        let mut sparse = new_sparse();
        let mut dense = new_sparse();
        to_dense(&mut dense).unwrap();
        for n in 0..2000u32 {
            let e = format!("element:{n}");
            let a = add(&mut sparse, e.as_bytes(), SPARSE_MAX_BYTES).unwrap();
            let b = add(&mut dense, e.as_bytes(), SPARSE_MAX_BYTES).unwrap();
            assert_eq!(a, b, "{e}");
        }
        assert_eq!(registers(&sparse), registers(&dense));
        assert_eq!(count(&sparse), count(&dense));
        let mut max = vec![0u8; REGISTERS];
        merge_into(&mut max, &sparse).unwrap();
        assert_eq!(estimate(&raw_histogram(&max)), count(&dense).unwrap());
    }

    #[test]
    fn estimates_equal_redis_server() {
        // PFADD h <the elements> then PFCOUNT h, read from redis-server 7.0.15.
        let mut v = new_sparse();
        for e in ["a", "b", "c"] {
            add(&mut v, e.as_bytes(), SPARSE_MAX_BYTES).unwrap();
        }
        assert_eq!(decode(&v), "Z:8436 v:1,1 Z:4274 v:2,1 Z:3068 v:1,1 Z:603");
        assert_eq!(count(&v), Ok(3));
        for (n, want) in REDIS_COUNTS {
            let mut v = new_sparse();
            for i in 0..*n {
                add(&mut v, format!("e{i}").as_bytes(), SPARSE_MAX_BYTES).unwrap();
            }
            assert_eq!(count(&v), Ok(*want), "{n} elements");
        }
    }

    /// `PFADD k e0 e1 … e(n-1)` then `PFCOUNT k` on redis-server 7.0.15: (n, count).
    const REDIS_COUNTS: &[(u32, u64)] = &[
        (1, 1),
        (10, 10),
        (100, 100),
        (1000, 1008),
        (5000, 4968),
        (20000, 19901),
        (100_000, 100_853),
    ];

    #[test]
    fn selftest_passes_in_small() {
        assert_eq!(selftest(3, 20_000, SPARSE_MAX_BYTES, 42), Ok(()));
    }
}
