//! CRC-64/Jones as Redis computes it (`crc64.c`): reflected polynomial 0xad93d23594c935a9,
//! initial value 0, no final xor. It guards the end of an RDB file and every DUMP payload.

/// The reflected form of the Jones polynomial.
const POLY: u64 = 0x95ac_9329_ac4b_c9b5;

/// One table of 256 entries, built at compile time.
const TABLE: [u64; 256] = {
    let mut table = [0u64; 256];
    let mut i = 0;
    while i < 256 {
        let mut crc = i as u64;
        let mut bit = 0;
        while bit < 8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ POLY
            } else {
                crc >> 1
            };
            bit += 1;
        }
        // A const block cannot use `get_mut`; `i < 256` bounds the index.
        #[allow(clippy::indexing_slicing)]
        {
            table[i] = crc;
        }
        i += 1;
    }
    table
};

/// Continues `crc` over `bytes` (start with 0).
pub(crate) fn crc64(mut crc: u64, bytes: &[u8]) -> u64 {
    for &b in bytes {
        let slot = TABLE
            .get(((crc ^ u64::from(b)) & 0xff) as usize)
            .copied()
            .unwrap_or(0);
        crc = slot ^ (crc >> 8);
    }
    crc
}
