//! Redis's geohash arithmetic (`geohash.c`, `geohash_helper.c`), step for step, so that scores,
//! decoded positions, the boxes a search looks in and the distances it measures are the same
//! doubles redis-server computes — down to the last bit, since the replies print 17 decimals.
//!
//! A position is a 52-bit interleaved geohash (26 steps of latitude in the even bits,
//! longitude in the odd ones) over longitudes -180..180 and latitudes -85.05112878..85.05112878
//! (the Web Mercator limits); a sorted set keeps it as the member's score. Decoding yields the
//! centre of the cell, so a position read back is within a cell (≈ 0.6 m) of what was added.
//!
//! A search ([`search_areas`]) estimates a step from the radius, takes the cell holding the
//! centre and its 8 neighbours at that step (one step coarser when the shape reaches past
//! them), drops the neighbours the bounding box does not reach, and then every point in those
//! cells goes through the exact test of [`within`] (haversine distance on Redis's earth radius,
//! or the box's two axis distances).

use std::f64::consts::PI;

/// The finest step: 26 bits of each coordinate, 52 in all.
pub(crate) const STEP_MAX: u8 = 26;
/// The latitude limits (EPSG:900913): positions outside cannot be indexed.
pub(crate) const LAT_MIN: f64 = -85.05112878;
pub(crate) const LAT_MAX: f64 = 85.05112878;
pub(crate) const LONG_MIN: f64 = -180.0;
pub(crate) const LONG_MAX: f64 = 180.0;

/// Earth's quadratic mean radius for WGS-84, as Redis uses it.
const EARTH_RADIUS_IN_METERS: f64 = 6372797.560856;
const MERCATOR_MAX: f64 = 20037726.37;
/// `M_PI / 180.0`, Redis's `D_R`.
const D_R: f64 = PI / 180.0;

fn deg_rad(ang: f64) -> f64 {
    ang * D_R
}

fn rad_deg(ang: f64) -> f64 {
    ang / D_R
}

/// A geohash of `step` bits per coordinate; all zero is "no cell" (a neighbour left out).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct HashBits {
    pub(crate) bits: u64,
    pub(crate) step: u8,
}

impl HashBits {
    fn is_zero(self) -> bool {
        self.bits == 0 && self.step == 0
    }

    /// The 52-bit form: the bits shifted up to 26 steps (a sorted-set score).
    pub(crate) fn align52(self) -> u64 {
        self.bits << (52 - u32::from(self.step) * 2)
    }
}

/// A coordinate interval.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Range {
    pub(crate) min: f64,
    pub(crate) max: f64,
}

/// The longitudes Redis indexes.
pub(crate) const LONG_RANGE: Range = Range {
    min: LONG_MIN,
    max: LONG_MAX,
};
/// The latitudes Redis indexes.
pub(crate) const LAT_RANGE: Range = Range {
    min: LAT_MIN,
    max: LAT_MAX,
};

/// A cell: its longitude and latitude intervals.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Area {
    pub(crate) longitude: Range,
    pub(crate) latitude: Range,
}

/// Spreads the 32 bits of `x` over the even bits and those of `y` over the odd bits.
fn interleave64(x: u32, y: u32) -> u64 {
    const B: [u64; 5] = [
        0x5555_5555_5555_5555,
        0x3333_3333_3333_3333,
        0x0F0F_0F0F_0F0F_0F0F,
        0x00FF_00FF_00FF_00FF,
        0x0000_FFFF_0000_FFFF,
    ];
    const S: [u32; 5] = [1, 2, 4, 8, 16];
    let (mut x, mut y) = (u64::from(x), u64::from(y));
    for (b, s) in B.iter().zip(S.iter()).rev() {
        x = (x | (x << s)) & b;
        y = (y | (y << s)) & b;
    }
    x | (y << 1)
}

/// The inverse of [`interleave64`]: the even bits in the low half, the odd bits in the high.
fn deinterleave64(interleaved: u64) -> u64 {
    const B: [u64; 6] = [
        0x5555_5555_5555_5555,
        0x3333_3333_3333_3333,
        0x0F0F_0F0F_0F0F_0F0F,
        0x00FF_00FF_00FF_00FF,
        0x0000_FFFF_0000_FFFF,
        0x0000_0000_FFFF_FFFF,
    ];
    const S: [u32; 6] = [0, 1, 2, 4, 8, 16];
    let mut x = interleaved;
    let mut y = interleaved >> 1;
    for (b, s) in B.iter().zip(S.iter()) {
        x = (x | (x >> s)) & b;
        y = (y | (y >> s)) & b;
    }
    x | (y << 32)
}

/// The cell of `step` bits holding (`longitude`, `latitude`) over the given ranges; `None`
/// outside them or outside the indexable limits (`geohashEncode`).
pub(crate) fn encode(
    long_range: Range,
    lat_range: Range,
    longitude: f64,
    latitude: f64,
    step: u8,
) -> Option<HashBits> {
    if step > 32 || step == 0 {
        return None;
    }
    let outside = |v: f64, min: f64, max: f64| v > max || v < min;
    if outside(longitude, LONG_MIN, LONG_MAX)
        || outside(latitude, LAT_MIN, LAT_MAX)
        || outside(latitude, lat_range.min, lat_range.max)
        || outside(longitude, long_range.min, long_range.max)
    {
        return None;
    }
    let cells = (1u64 << step) as f64;
    let lat_offset = (latitude - lat_range.min) / (lat_range.max - lat_range.min) * cells;
    let long_offset = (longitude - long_range.min) / (long_range.max - long_range.min) * cells;
    // Truncated as C converts a double to uint32_t (the offsets lie in 0..=2^step).
    Some(HashBits {
        bits: interleave64(lat_offset as u32, long_offset as u32),
        step,
    })
}

/// The cell `hash` stands for over the given ranges; `None` for the zero hash
/// (`geohashDecode`).
pub(crate) fn decode(long_range: Range, lat_range: Range, hash: HashBits) -> Option<Area> {
    if hash.is_zero() {
        return None;
    }
    let sep = deinterleave64(hash.bits);
    let lat_scale = lat_range.max - lat_range.min;
    let long_scale = long_range.max - long_range.min;
    let ilato = sep as u32;
    let ilono = (sep >> 32) as u32;
    let cells = (1u64 << hash.step.min(63)) as f64;
    // `ilato + 1` is a 32-bit sum in C: it wraps for an all-ones cell of a hash that was
    // not made by `encode`.
    let at = |i: u32, range: Range, scale: f64| range.min + (f64::from(i) * 1.0 / cells) * scale;
    Some(Area {
        latitude: Range {
            min: at(ilato, lat_range, lat_scale),
            max: at(ilato.wrapping_add(1), lat_range, lat_scale),
        },
        longitude: Range {
            min: at(ilono, long_range, long_scale),
            max: at(ilono.wrapping_add(1), long_range, long_scale),
        },
    })
}

/// The centre of `area` as (longitude, latitude), kept within the indexable limits.
fn area_center(area: &Area) -> [f64; 2] {
    let lon = ((area.longitude.min + area.longitude.max) / 2.0).clamp(LONG_MIN, LONG_MAX);
    let lat = ((area.latitude.min + area.latitude.max) / 2.0).clamp(LAT_MIN, LAT_MAX);
    [lon, lat]
}

/// 2^63, the first double beyond a signed 64-bit integer.
const TWO_63: f64 = (1u64 << 63) as f64;

/// `(long long)v` as x86-64 computes it (`cvttsd2si`): truncated, and the "indefinite"
/// `i64::MIN` for NaN and whatever does not fit. WITHHASH prints a score this way.
pub(crate) fn c_to_i64(v: f64) -> i64 {
    if (-TWO_63..TWO_63).contains(&v) {
        v as i64
    } else {
        i64::MIN
    }
}

/// `(uint64_t)score` as gcc compiles it for x86-64: exact for 0..2^64, two's complement for
/// negative values down to -2^63, and the conversion's "indefinite" results elsewhere. Only
/// a score not made by GEOADD gets there, and Redis decodes whatever comes out.
fn score_bits(score: f64) -> u64 {
    if score >= TWO_63 {
        (c_to_i64(score - TWO_63) as u64) ^ (1u64 << 63)
    } else {
        c_to_i64(score) as u64
    }
}

/// The (longitude, latitude) a sorted-set score stands for (`decodeGeohash`): the centre of
/// its 26-step cell.
pub(crate) fn decode_score(score: f64) -> [f64; 2] {
    let hash = HashBits {
        bits: score_bits(score),
        step: STEP_MAX,
    };
    decode(LONG_RANGE, LAT_RANGE, hash)
        .map(|a| area_center(&a))
        .unwrap_or_default()
}

/// The score GEOADD gives (`longitude`, `latitude`), or `None` outside the limits.
pub(crate) fn encode_score(longitude: f64, latitude: f64) -> Option<u64> {
    encode(LONG_RANGE, LAT_RANGE, longitude, latitude, STEP_MAX).map(HashBits::align52)
}

/// The 11-character standard geohash of a score (GEOHASH): the decoded position encoded
/// again over latitudes -90..90, its 52 bits as 10 base-32 digits and a final `0`.
pub(crate) fn standard_geohash(score: f64) -> [u8; 11] {
    const ALPHABET: &[u8; 32] = b"0123456789bcdefghjkmnpqrstuvwxyz";
    let [lon, lat] = decode_score(score);
    let world = Range {
        min: -90.0,
        max: 90.0,
    };
    let bits = encode(LONG_RANGE, world, lon, lat, STEP_MAX).map_or(0, |h| h.bits);
    let mut out = [b'0'; 11];
    for (i, c) in out.iter_mut().take(10).enumerate() {
        let idx = (bits >> (52 - (i + 1) * 5)) & 0x1f;
        *c = ALPHABET.get(idx as usize).copied().unwrap_or(b'0');
    }
    out
}

fn move_x(hash: &mut HashBits, d: i8) {
    if d == 0 {
        return;
    }
    let mut x = hash.bits & 0xaaaa_aaaa_aaaa_aaaa;
    let y = hash.bits & 0x5555_5555_5555_5555;
    let shift = 64 - u32::from(hash.step) * 2;
    let zz = 0x5555_5555_5555_5555u64 >> shift;
    if d > 0 {
        x = x.wrapping_add(zz + 1);
    } else {
        x |= zz;
        x = x.wrapping_sub(zz + 1);
    }
    x &= 0xaaaa_aaaa_aaaa_aaaau64 >> shift;
    hash.bits = x | y;
}

fn move_y(hash: &mut HashBits, d: i8) {
    if d == 0 {
        return;
    }
    let x = hash.bits & 0xaaaa_aaaa_aaaa_aaaa;
    let mut y = hash.bits & 0x5555_5555_5555_5555;
    let shift = 64 - u32::from(hash.step) * 2;
    let zz = 0xaaaa_aaaa_aaaa_aaaau64 >> shift;
    if d > 0 {
        y = y.wrapping_add(zz + 1);
    } else {
        y |= zz;
        y = y.wrapping_sub(zz + 1);
    }
    y &= 0x5555_5555_5555_5555u64 >> shift;
    hash.bits = x | y;
}

/// The eight neighbours of a cell, in the order a search visits them after the cell itself:
/// north, south, east, west, north-east, north-west, south-east, south-west (wrapping around
/// the edges as the bit arithmetic does).
fn neighbors(hash: HashBits) -> [HashBits; 8] {
    let moved = |dx: i8, dy: i8| {
        let mut h = hash;
        move_x(&mut h, dx);
        move_y(&mut h, dy);
        h
    };
    [
        moved(0, 1),
        moved(0, -1),
        moved(1, 0),
        moved(-1, 0),
        moved(1, 1),
        moved(-1, 1),
        moved(1, -1),
        moved(-1, -1),
    ]
}

/// The step whose cells are about as large as `range_meters` at `lat`
/// (`geohashEstimateStepsByRadius`).
pub(crate) fn estimate_steps(range_meters: f64, lat: f64) -> u8 {
    if range_meters == 0.0 {
        return 26;
    }
    let mut range = range_meters;
    let mut step: i32 = 1;
    while range < MERCATOR_MAX {
        range *= 2.0;
        step += 1;
    }
    step -= 2;
    // Cells narrow towards the poles.
    if !(-66.0..=66.0).contains(&lat) {
        step -= 1;
        if !(-80.0..=80.0).contains(&lat) {
            step -= 1;
        }
    }
    step.clamp(1, 26) as u8
}

/// What a search covers: a circle of `radius` or a `width` × `height` box, in the unit
/// `conversion` metres long, around (`lon`, `lat`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Shape {
    pub(crate) lon: f64,
    pub(crate) lat: f64,
    /// Metres per unit of the sizes (1, 1000, 0.3048, 1609.34).
    pub(crate) conversion: f64,
    pub(crate) kind: ShapeKind,
}

/// The two kinds of search area.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum ShapeKind {
    Radius(f64),
    Box { width: f64, height: f64 },
}

impl Shape {
    /// (min longitude, min latitude, max longitude, max latitude) around the shape, wider at
    /// the edge nearer the pole (`geohashBoundingBox`).
    fn bounding_box(&self) -> [f64; 4] {
        let (h, w) = match self.kind {
            ShapeKind::Radius(r) => (r, r),
            ShapeKind::Box { width, height } => (height / 2.0, width / 2.0),
        };
        let height = self.conversion * h;
        let width = self.conversion * w;
        let lat_delta = rad_deg(height / EARTH_RADIUS_IN_METERS);
        let long_delta_top =
            rad_deg(width / EARTH_RADIUS_IN_METERS / deg_rad(self.lat + lat_delta).cos());
        let long_delta_bottom =
            rad_deg(width / EARTH_RADIUS_IN_METERS / deg_rad(self.lat - lat_delta).cos());
        let long_delta = if self.lat < 0.0 {
            long_delta_bottom
        } else {
            long_delta_top
        };
        [
            self.lon - long_delta,
            self.lat - lat_delta,
            self.lon + long_delta,
            self.lat + lat_delta,
        ]
    }
}

/// The cells a search reads, in Redis's order: the centre's cell, then its neighbours
/// (north, south, east, west, NE, NW, SE, SW), each `None` when the bounding box does not
/// reach it (`geohashCalculateAreasByShapeWGS84`).
pub(crate) fn search_areas(shape: &Shape) -> [Option<HashBits>; 9] {
    let [min_lon, min_lat, max_lon, max_lat] = shape.bounding_box();
    let radius_meters = match shape.kind {
        ShapeKind::Radius(r) => r,
        ShapeKind::Box { width, height } => {
            ((width / 2.0) * (width / 2.0) + (height / 2.0) * (height / 2.0)).sqrt()
        }
    } * shape.conversion;
    let mut steps = estimate_steps(radius_meters, shape.lat);
    let at_step = |steps: u8| {
        let hash = encode(LONG_RANGE, LAT_RANGE, shape.lon, shape.lat, steps).unwrap_or_default();
        let area = decode(LONG_RANGE, LAT_RANGE, hash);
        (hash, neighbors(hash), area)
    };
    let (mut hash, mut around, mut area) = at_step(steps);
    // One step coarser when a side neighbour does not reach the bounding box's edge.
    let cell = |h: HashBits| decode(LONG_RANGE, LAT_RANGE, h);
    let [n, s, e, w, ..] = around;
    let decrease = cell(n).is_some_and(|a| a.latitude.max < max_lat)
        || cell(s).is_some_and(|a| a.latitude.min > min_lat)
        || cell(e).is_some_and(|a| a.longitude.max < max_lon)
        || cell(w).is_some_and(|a| a.longitude.min > min_lon);
    if steps > 1 && decrease {
        steps -= 1;
        (hash, around, area) = at_step(steps);
    }
    let mut cells = [None; 9];
    if let Some(c) = cells.first_mut() {
        *c = Some(hash);
    }
    for (c, h) in cells.iter_mut().skip(1).zip(around) {
        *c = Some(h);
    }
    if let (true, Some(area)) = (steps >= 2, area) {
        // Indexes into `cells`: 1 N, 2 S, 3 E, 4 W, 5 NE, 6 NW, 7 SE, 8 SW.
        let mut drop = |which: [usize; 3]| {
            for i in which {
                if let Some(c) = cells.get_mut(i) {
                    *c = None;
                }
            }
        };
        if area.latitude.min < min_lat {
            drop([2, 8, 7]);
        }
        if area.latitude.max > max_lat {
            drop([1, 5, 6]);
        }
        if area.longitude.min < min_lon {
            drop([4, 8, 6]);
        }
        if area.longitude.max > max_lon {
            drop([3, 7, 5]);
        }
    }
    cells
}

/// The scores a cell's points have: `[min, max)` (`scoresOfGeoHashBox`).
pub(crate) fn score_span(hash: HashBits) -> (f64, f64) {
    let min = hash.align52();
    let max = HashBits {
        bits: hash.bits.wrapping_add(1),
        step: hash.step,
    }
    .align52();
    (min as f64, max as f64)
}

/// Distance along a meridian between two latitudes, in metres.
fn lat_distance(lat1d: f64, lat2d: f64) -> f64 {
    EARTH_RADIUS_IN_METERS * (deg_rad(lat2d) - deg_rad(lat1d)).abs()
}

/// The great-circle distance in metres between two positions, by the haversine formula on
/// Redis's earth radius (`geohashGetDistance`).
pub(crate) fn distance(lon1d: f64, lat1d: f64, lon2d: f64, lat2d: f64) -> f64 {
    let lon1r = deg_rad(lon1d);
    let lon2r = deg_rad(lon2d);
    let v = ((lon2r - lon1r) / 2.0).sin();
    if v == 0.0 {
        return lat_distance(lat1d, lat2d);
    }
    let lat1r = deg_rad(lat1d);
    let lat2r = deg_rad(lat2d);
    let u = ((lat2r - lat1r) / 2.0).sin();
    let a = u * u + lat1r.cos() * lat2r.cos() * v * v;
    2.0 * EARTH_RADIUS_IN_METERS * a.sqrt().asin()
}

/// The position of `score` and its distance from the shape's centre in metres, if it lies
/// within the shape (`geoWithinShape`).
pub(crate) fn within(shape: &Shape, score: f64) -> Option<([f64; 2], f64)> {
    let xy = decode_score(score);
    let [x, y] = xy;
    let dist = match shape.kind {
        ShapeKind::Radius(r) => {
            let d = distance(shape.lon, shape.lat, x, y);
            // Written as Redis's `d > radius` test: a NaN distance passes.
            if d > r * shape.conversion {
                return None;
            }
            d
        }
        ShapeKind::Box { width, height } => {
            let (width_m, height_m) = (width * shape.conversion, height * shape.conversion);
            if lat_distance(y, shape.lat) > height_m / 2.0
                || distance(x, y, shape.lon, y) > width_m / 2.0
            {
                return None;
            }
            distance(shape.lon, shape.lat, x, y)
        }
    };
    Some((xy, dist))
}

/// A coordinate as Redis prints it (`addReplyHumanLongDouble`): `%.17Lf` of the exact value
/// with the trailing zeros (and a bare point) removed, and `-0` written `0`.
pub(crate) fn format_coordinate(v: f64) -> String {
    if v.is_infinite() {
        return if v > 0.0 { "inf" } else { "-inf" }.to_string();
    }
    let mut s = format!("{v:.17}");
    if s.contains('.') {
        let kept = s.trim_end_matches('0').trim_end_matches('.').len();
        s.truncate(kept);
    }
    if s == "-0" {
        s = "0".to_string();
    }
    s
}

/// A distance as Redis prints it (`addReplyDoubleDistance`): rounded half to even at 4
/// decimals, all 4 written.
pub(crate) fn format_distance(d: f64) -> String {
    if d == 0.0 {
        return "0.0000".to_string();
    }
    // llrint, which rounds half to even and gives the same "indefinite" value for what does
    // not fit (no distance on earth comes near).
    let n = c_to_i64((d * 10000.0).round_ties_even());
    let sign = if n < 0 { "-" } else { "" };
    let m = n.unsigned_abs();
    format!("{sign}{}.{:04}", m / 10000, m % 10000)
}

#[cfg(test)]
mod tests {
    use super::*;

    const PALERMO: u64 = 3479099956230698;
    const CATANIA: u64 = 3479447370796909;

    fn pos(score: f64) -> [String; 2] {
        decode_score(score).map(format_coordinate)
    }

    #[test]
    fn encode_matches_redis_scores() {
        // Scores redis-server 7.0.15 gives these positions.
        assert_eq!(encode_score(13.361389, 38.115556), Some(PALERMO));
        assert_eq!(encode_score(15.087269, 37.502669), Some(CATANIA));
        assert_eq!(encode_score(0.0, 0.0), Some(3377699720527872));
        assert_eq!(encode_score(-0.0000001, 0.0000001), Some(1876499844737706));
        assert_eq!(encode_score(-180.0, LAT_MIN), Some(0));
        // The very corner overflows its cell into the 53rd bit, as in Redis.
        assert_eq!(encode_score(180.0, LAT_MAX), Some(13510798882111488));
        assert_eq!(encode_score(180.000001, 0.0), None);
        assert_eq!(encode_score(0.0, 85.06), None);
        assert_eq!(encode_score(0.0, -85.06), None);
    }

    #[test]
    fn decode_matches_redis_positions() {
        assert_eq!(
            pos(PALERMO as f64),
            ["13.36138933897018433", "38.11555639549629859"]
        );
        assert_eq!(
            pos(CATANIA as f64),
            ["15.08726745843887329", "37.50266842333162032"]
        );
        assert_eq!(
            pos(3377699720527872.0),
            ["0.00000268220901489", "0.00000126736058093"]
        );
        assert_eq!(
            pos(1876499844737706.0),
            ["-0.00000268220901489", "0.00000126736058093"]
        );
        assert_eq!(pos(13510798882111488.0), ["180", "85.0511287799999991"]);
        // Scores no GEOADD makes decode as redis-server decodes them on x86-64.
        let corner = ["-179.99999731779098511", "-85.05112751263942528"];
        assert_eq!(pos(0.0), corner);
        assert_eq!(pos(f64::INFINITY), corner);
        assert_eq!(pos(1e30), corner);
        assert_eq!(pos(-1.0), ["180", "85.0511287799999991"]);
        assert_eq!(pos(f64::NEG_INFINITY), ["180", "-85.05112751263942528"]);
        assert_eq!(pos(1e19), ["180", "85.0511287799999991"]);
        assert_eq!(
            pos(1.5),
            ["-179.99999731779098511", "-85.05112497791824921"]
        );
        assert_eq!(
            pos(4503599627370496.0),
            ["-179.99999731779098511", "85.0511287799999991"]
        );
    }

    #[test]
    fn standard_geohash_strings() {
        let s = |score: f64| String::from_utf8(standard_geohash(score).to_vec()).unwrap();
        assert_eq!(s(PALERMO as f64), "sqc8b49rny0");
        assert_eq!(s(CATANIA as f64), "sqdtr74hyu0");
        assert_eq!(s(3377699720527872.0), "s0000000000");
        assert_eq!(s(1876499844737706.0), "ebpbpbpbpb0");
        assert_eq!(s(13510798882111488.0), "bp05b5048p0");
        assert_eq!(s(0.0), "00bh0hbj200");
        assert_eq!(s(1.5), "00bh0hbj210");
    }

    #[test]
    fn distances_as_redis_prints_them() {
        let [x1, y1] = decode_score(PALERMO as f64);
        let [x2, y2] = decode_score(CATANIA as f64);
        let d = distance(x1, y1, x2, y2);
        assert_eq!(format_distance(d), "166274.1516");
        assert_eq!(format_distance(d / 1000.0), "166.2742");
        assert_eq!(format_distance(distance(x2, y2, x1, y1)), "166274.1516");
        assert_eq!(
            format_distance(distance(15.0, 37.0, x2, y2) / 1000.0),
            "56.4413"
        );
        assert_eq!(
            format_distance(distance(15.0, 37.0, x1, y1) / 1000.0),
            "190.4424"
        );
        // Same longitude: the meridian distance alone.
        assert_eq!(distance(10.0, 0.0, 10.0, 1.0), lat_distance(0.0, 1.0));
        let [a, b] = decode_score(13510798882111488.0);
        let [c, e] = decode_score(0.0);
        assert_eq!(format_distance(distance(a, b, c, e)), "18919844.5891");
        assert_eq!(format_distance(0.0), "0.0000");
        assert_eq!(format_distance(0.00001), "0.0000");
        assert_eq!(format_distance(1.23456), "1.2346");
        assert_eq!(format_distance(2.5), "2.5000");
    }

    #[test]
    fn coordinate_text() {
        assert_eq!(format_coordinate(-0.0), "0");
        assert_eq!(format_coordinate(1.0), "1");
        assert_eq!(format_coordinate(-1.5), "-1.5");
        assert_eq!(format_coordinate(0.1), "0.10000000000000001");
        assert_eq!(format_coordinate(1e-18), "0");
        assert_eq!(format_coordinate(-1e-18), "0");
    }

    #[test]
    fn interleave_round_trips() {
        let mut x = 0x9E37_79B9u32;
        for _ in 0..1000 {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            let y = x.rotate_left(7) ^ 0x5555;
            let v = interleave64(x, y);
            assert_eq!(deinterleave64(v), u64::from(x) | (u64::from(y) << 32));
        }
        assert_eq!(interleave64(1, 0), 1);
        assert_eq!(interleave64(0, 1), 2);
    }

    #[test]
    fn neighbours_are_adjacent_cells() {
        let h = encode(LONG_RANGE, LAT_RANGE, 13.36, 38.11, 10).unwrap();
        let cell = decode(LONG_RANGE, LAT_RANGE, h).unwrap();
        let [n, s, e, w, ne, nw, se, sw] =
            neighbors(h).map(|n| decode(LONG_RANGE, LAT_RANGE, n).unwrap());
        assert_eq!(n.latitude.min, cell.latitude.max);
        assert_eq!(s.latitude.max, cell.latitude.min);
        assert_eq!(e.longitude.min, cell.longitude.max);
        assert_eq!(w.longitude.max, cell.longitude.min);
        assert_eq!((ne.latitude, ne.longitude), (n.latitude, e.longitude));
        assert_eq!((nw.latitude, nw.longitude), (n.latitude, w.longitude));
        assert_eq!((se.latitude, se.longitude), (s.latitude, e.longitude));
        assert_eq!((sw.latitude, sw.longitude), (s.latitude, w.longitude));
        // East of the last column wraps to the first (the antimeridian).
        let edge = encode(LONG_RANGE, LAT_RANGE, 179.99, 0.0, 8).unwrap();
        let east = decode(LONG_RANGE, LAT_RANGE, neighbors(edge)[2]).unwrap();
        assert_eq!(east.longitude.min, -180.0);
    }

    #[test]
    fn steps_by_radius() {
        assert_eq!(estimate_steps(0.0, 0.0), 26);
        assert_eq!(estimate_steps(200_000.0, 0.0), 6);
        assert_eq!(estimate_steps(200_000.0, 70.0), 5);
        assert_eq!(estimate_steps(200_000.0, -85.0), 4);
        assert_eq!(estimate_steps(1.0, 0.0), 24);
        assert_eq!(estimate_steps(0.001, 0.0), 26);
        assert_eq!(estimate_steps(1e9, 0.0), 1);
        assert_eq!(estimate_steps(f64::INFINITY, 0.0), 1);
    }

    #[test]
    fn search_cells_cover_the_shape() {
        let shape = Shape {
            lon: 15.0,
            lat: 37.0,
            conversion: 1000.0,
            kind: ShapeKind::Radius(200.0),
        };
        let cells = search_areas(&shape);
        let centre = cells[0].unwrap();
        assert!(centre.step <= 6);
        for pt in [PALERMO, CATANIA] {
            let s = pt as f64;
            assert!(cells.iter().flatten().any(|&c| {
                let (min, max) = score_span(c);
                (min..max).contains(&s)
            }));
            assert!(within(&shape, s).is_some());
        }
        let small = Shape {
            kind: ShapeKind::Radius(50.0),
            ..shape
        };
        assert!(within(&small, PALERMO as f64).is_none());
        let boxed = Shape {
            kind: ShapeKind::Box {
                width: 400.0,
                height: 400.0,
            },
            ..shape
        };
        assert!(within(&boxed, PALERMO as f64).is_some());
        let flat = Shape {
            kind: ShapeKind::Box {
                width: 400.0,
                height: 50.0,
            },
            ..shape
        };
        assert!(within(&flat, PALERMO as f64).is_none());
    }
}
