//! Geo commands, as Redis 7.0: GEOADD GEODIST GEOHASH GEOPOS GEOSEARCH GEOSEARCHSTORE
//! GEORADIUS GEORADIUSBYMEMBER GEORADIUS_RO GEORADIUSBYMEMBER_RO.
//!
//! # Layout
//!
//! | file | job |
//! |---|---|
//! | `mod.rs` | the handlers: argument parsing with Redis's errors, the search over the sorted set, the replies |
//! | `geohash.rs` | Redis's geohash arithmetic: scores, cells, neighbours, distances, number formats |
//!
//! Positions are sorted-set members whose score is the 52-bit geohash Redis computes, so a
//! geo key is an ordinary sorted set (ZSCORE, ZRANGE and ZREM work on it) and GEOADD is ZADD
//! with computed scores. A search reads the score range of each of up to 9 cells in Redis's
//! order and keeps the points the exact distance test accepts; without ASC/DESC the reply is
//! in that order, as Redis's. Sorting by distance reproduces Redis's sorts too — glibc's
//! merge sort when every match is returned, Redis's partial quicksort (`pqsort`) when COUNT
//! keeps fewer — so points at equal distances come out in the same order as from
//! redis-server.
//!
//! Replies: distances are bulk strings with 4 decimals in RESP2 and RESP3 alike (Redis 7.0's
//! `addReplyDoubleDistance`); coordinates are printed with up to 17 decimals, as bulk strings
//! in RESP2 and doubles in RESP3.

mod geohash;

use bytes::Bytes;

use self::geohash::{Shape, ShapeKind};
use super::args::{arg, float_arg, int_arg, is};
use super::ctx::flags::{DENYOOM, READONLY, WRITE};
use super::ctx::{CmdResult, Ctx};
use super::zset::{store_result, zadd};
use super::{cmd, Command};
use crate::error::CmdError;
use crate::types::str::Str;
use crate::types::value::ZSet;

/// This family's rows of the command table.
pub(crate) static COMMANDS: &[Command] = &[
    cmd("geoadd", -5, WRITE | DENYOOM, (1, 1, 1), geoadd),
    cmd("geodist", -4, READONLY, (1, 1, 1), geodist),
    cmd("geohash", -2, READONLY, (1, 1, 1), geohash_),
    cmd("geopos", -2, READONLY, (1, 1, 1), geopos),
    cmd("georadius", -6, WRITE | DENYOOM, (1, 1, 1), georadius),
    cmd("georadius_ro", -6, READONLY, (1, 1, 1), georadius_ro),
    cmd(
        "georadiusbymember",
        -5,
        WRITE | DENYOOM,
        (1, 1, 1),
        georadiusbymember,
    ),
    cmd(
        "georadiusbymember_ro",
        -5,
        READONLY,
        (1, 1, 1),
        georadiusbymember_ro,
    ),
    cmd("geosearch", -7, READONLY, (1, 1, 1), geosearch),
    cmd(
        "geosearchstore",
        -8,
        WRITE | DENYOOM,
        (1, 2, 1),
        geosearchstore,
    ),
];

// ----- arguments -------------------------------------------------------------------------------

/// A float argument, with `msg` (Redis's custom text) or the standard one on failure.
fn float_or(b: &[u8], msg: Option<&str>) -> Result<f64, CmdError> {
    float_arg(b).map_err(|e| msg.map_or(e, CmdError::err))
}

/// A longitude and latitude from two arguments, within the indexable limits
/// (`extractLongLatOrReply`).
fn lon_lat(lon: &[u8], lat: &[u8]) -> Result<[f64; 2], CmdError> {
    let (x, y) = (float_arg(lon)?, float_arg(lat)?);
    if !(geohash::LONG_MIN..=geohash::LONG_MAX).contains(&x)
        || !(geohash::LAT_MIN..=geohash::LAT_MAX).contains(&y)
    {
        return Err(CmdError::err(format_args!(
            "invalid longitude,latitude pair {x:.6},{y:.6}"
        )));
    }
    Ok([x, y])
}

/// Metres per unit (`extractUnitOrReply`).
fn unit(b: &[u8]) -> Result<f64, CmdError> {
    match () {
        _ if is(b, "m") => Ok(1.0),
        _ if is(b, "km") => Ok(1000.0),
        _ if is(b, "ft") => Ok(0.3048),
        _ if is(b, "mi") => Ok(1609.34),
        _ => Err(CmdError::err(
            "unsupported unit provided. please use M, KM, FT, MI",
        )),
    }
}

/// `radius unit` (`extractDistanceOrReply`): the radius and metres per unit.
fn radius_unit(radius: &[u8], u: &[u8]) -> Result<(f64, f64), CmdError> {
    let r = float_or(radius, Some("need numeric radius"))?;
    if r < 0.0 {
        return Err(CmdError::err("radius cannot be negative"));
    }
    Ok((r, unit(u)?))
}

/// `width height unit` (`extractBoxOrReply`): the box and metres per unit.
fn box_unit(w: &[u8], h: &[u8], u: &[u8]) -> Result<(ShapeKind, f64), CmdError> {
    let width = float_or(w, Some("need numeric width"))?;
    let height = float_or(h, Some("need numeric height"))?;
    if height < 0.0 || width < 0.0 {
        return Err(CmdError::err("height or width cannot be negative"));
    }
    Ok((ShapeKind::Box { width, height }, unit(u)?))
}

/// The position of `member` in `z`, if it is there.
fn member_pos(z: &ZSet, member: &[u8]) -> Option<[f64; 2]> {
    z.score(member).map(geohash::decode_score)
}

fn undecodable() -> CmdError {
    CmdError::err("could not decode requested zset member")
}

// ----- GEOADD GEOPOS GEOHASH GEODIST -------------------------------------------------------------

/// `GEOADD key [NX | XX] [CH] longitude latitude member [longitude latitude member …]`:
/// ZADD with each position's geohash as the score.
pub(crate) fn geoadd(ctx: &mut Ctx<'_, '_>, args: &[Bytes]) -> CmdResult {
    let (mut nx, mut xx) = (false, false);
    let mut first = 2;
    while let Some(opt) = args.get(first) {
        if is(opt, "nx") {
            nx = true;
        } else if is(opt, "xx") {
            xx = true;
        } else if !is(opt, "ch") {
            break;
        }
        first += 1;
    }
    let triples = args.get(first..).unwrap_or_default();
    if triples.len() % 3 != 0 || (xx && nx) {
        return Err(CmdError::Syntax);
    }
    let mut as_zadd: Vec<Bytes> = Vec::with_capacity(first + triples.len() / 3 * 2);
    as_zadd.push(Bytes::from_static(b"zadd"));
    as_zadd.extend(args.iter().take(first).skip(1).cloned());
    for t in triples.chunks(3) {
        if let [lon, lat, member] = t {
            let [x, y] = lon_lat(lon, lat)?;
            let score = geohash::encode_score(x, y).unwrap_or(0);
            as_zadd.push(Bytes::from(score.to_string()));
            as_zadd.push(member.clone());
        }
    }
    zadd(ctx, &as_zadd)
}

/// `GEOPOS key member [member …]`: each position, or a null array for a missing member.
pub(crate) fn geopos(ctx: &mut Ctx<'_, '_>, args: &[Bytes]) -> CmdResult {
    let dbi = ctx.dbi();
    let z = ctx
        .db
        .read_as::<ZSet>(dbi, arg(args, 1), ctx.now)?
        .map(|z| &*z);
    let members = args.get(2..).unwrap_or_default();
    ctx.out.array_len(members.len());
    for m in members {
        match z.and_then(|z| member_pos(z, m)) {
            Some([x, y]) => {
                ctx.out.array_len(2);
                ctx.out.double_text(&geohash::format_coordinate(x));
                ctx.out.double_text(&geohash::format_coordinate(y));
            }
            None => ctx.out.null_array(),
        }
    }
    Ok(())
}

/// `GEOHASH key member [member …]`: each position's 11-character standard geohash, or null.
pub(crate) fn geohash_(ctx: &mut Ctx<'_, '_>, args: &[Bytes]) -> CmdResult {
    let dbi = ctx.dbi();
    let z = ctx
        .db
        .read_as::<ZSet>(dbi, arg(args, 1), ctx.now)?
        .map(|z| &*z);
    let members = args.get(2..).unwrap_or_default();
    ctx.out.array_len(members.len());
    for m in members {
        match z.and_then(|z| z.score(m)) {
            Some(score) => ctx.out.bulk(&geohash::standard_geohash(score)),
            None => ctx.out.null(),
        }
    }
    Ok(())
}

/// `GEODIST key member1 member2 [M | KM | FT | MI]`: null when either member is missing.
pub(crate) fn geodist(ctx: &mut Ctx<'_, '_>, args: &[Bytes]) -> CmdResult {
    let to_meter = match args.len() {
        5 => unit(arg(args, 4))?,
        n if n > 5 => return Err(CmdError::Syntax),
        _ => 1.0,
    };
    let dbi = ctx.dbi();
    let z = ctx.db.read_as::<ZSet>(dbi, arg(args, 1), ctx.now)?;
    let pair = z.and_then(|z| Some((member_pos(z, arg(args, 2))?, member_pos(z, arg(args, 3))?)));
    match pair {
        Some(([x1, y1], [x2, y2])) => {
            let d = geohash::distance(x1, y1, x2, y2) / to_meter;
            ctx.out.bulk(geohash::format_distance(d).as_bytes());
        }
        None => ctx.out.null(),
    }
    Ok(())
}

// ----- searches --------------------------------------------------------------------------------

/// Which search command is parsing its arguments (Redis's `RADIUS_*`/`GEOSEARCH*` flags).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Form {
    /// GEORADIUS, GEORADIUS_RO: `key longitude latitude radius unit …`.
    Coords { store: bool },
    /// GEORADIUSBYMEMBER and its `_RO`: `key member radius unit …`.
    Member { store: bool },
    /// GEOSEARCH: `key FROM… BY… …`.
    Search,
    /// GEOSEARCHSTORE: `dst key FROM… BY… … [STOREDIST]`.
    SearchStore,
}

impl Form {
    fn is_search(self) -> bool {
        matches!(self, Form::Search | Form::SearchStore)
    }

    /// Whether STORE/STOREDIST with a key are accepted.
    fn store_keyword(self) -> bool {
        matches!(
            self,
            Form::Coords { store: true } | Form::Member { store: true }
        )
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Sort {
    None,
    Asc,
    Desc,
}

/// One point found: where it is, how far (metres), its score and member.
#[derive(Debug, Clone, Copy)]
struct Point<'a> {
    xy: [f64; 2],
    dist: f64,
    score: f64,
    member: &'a Str,
}

/// Redis's `sort_gp_asc`: 1, 0 or -1 by distance (a NaN distance sorts below everything and
/// equal to nothing, as the C comparison makes it).
fn cmp_asc(a: &Point<'_>, b: &Point<'_>) -> i32 {
    if a.dist > b.dist {
        1
    } else if a.dist == b.dist {
        0
    } else {
        -1
    }
}

/// A search as parsed: its shape, options and where the result goes.
#[derive(Debug)]
struct Query {
    shape: Shape,
    withdist: bool,
    withhash: bool,
    withcoord: bool,
    sort: Sort,
    any: bool,
    /// 0: all.
    count: usize,
    /// STORE/STOREDIST's key (GEOSEARCHSTORE's destination), and whether distances are stored.
    store: Option<(Bytes, bool)>,
}

/// Parses a search's arguments (`georadiusGeneric`) in Redis's order, so the first error
/// Redis would report is the one returned. `z` is the source set (the position of a
/// FROMMEMBER or a GEORADIUSBYMEMBER member is read from it while parsing); `None` when the
/// key is missing, and then no search runs.
fn parse(args: &[Bytes], form: Form, z: Option<&ZSet>) -> Result<Query, CmdError> {
    let mut shape = Shape {
        lon: 0.0,
        lat: 0.0,
        conversion: 0.0,
        kind: ShapeKind::Radius(0.0),
    };
    let mut store: Option<(Bytes, bool)> = None;
    let base = match form {
        Form::Coords { .. } => {
            [shape.lon, shape.lat] = lon_lat(arg(args, 2), arg(args, 3))?;
            let (r, conversion) = radius_unit(arg(args, 4), arg(args, 5))?;
            (shape.kind, shape.conversion) = (ShapeKind::Radius(r), conversion);
            6
        }
        Form::Member { .. } => {
            // Without the key, the member and radius are not looked at (Redis parses the
            // options only to know which empty reply to give).
            if let Some(z) = z {
                [shape.lon, shape.lat] = member_pos(z, arg(args, 2)).ok_or_else(undecodable)?;
                let (r, conversion) = radius_unit(arg(args, 3), arg(args, 4))?;
                (shape.kind, shape.conversion) = (ShapeKind::Radius(r), conversion);
            }
            5
        }
        Form::Search => 2,
        Form::SearchStore => {
            store = Some((args.get(1).cloned().unwrap_or_default(), false));
            3
        }
    };
    let (mut withdist, mut withhash, mut withcoord, mut any) = (false, false, false, false);
    let (mut frommember, mut fromloc, mut byradius, mut bybox) = (false, false, false, false);
    let mut sort = Sort::None;
    let mut count = 0usize;
    let rest = args.get(base..).unwrap_or_default();
    let mut i = 0;
    while let Some(a) = rest.get(i) {
        let left = rest.len() - i - 1;
        let next = |k: usize| arg(rest, i + k);
        if is(a, "withdist") {
            withdist = true;
        } else if is(a, "withhash") {
            withhash = true;
        } else if is(a, "withcoord") {
            withcoord = true;
        } else if is(a, "any") {
            any = true;
        } else if is(a, "asc") {
            sort = Sort::Asc;
        } else if is(a, "desc") {
            sort = Sort::Desc;
        } else if is(a, "count") && left >= 1 {
            let n = int_arg(next(1))?;
            if n <= 0 {
                return Err(CmdError::err("COUNT must be > 0"));
            }
            count = usize::try_from(n).unwrap_or(usize::MAX);
            i += 1;
        } else if (is(a, "store") || is(a, "storedist")) && left >= 1 && form.store_keyword() {
            store = Some((
                rest.get(i + 1).cloned().unwrap_or_default(),
                is(a, "storedist"),
            ));
            i += 1;
        } else if is(a, "storedist") && form == Form::SearchStore {
            if let Some((_, dist)) = store.as_mut() {
                *dist = true;
            }
        } else if is(a, "frommember") && left >= 1 && form.is_search() && !fromloc {
            if let Some(z) = z {
                [shape.lon, shape.lat] = member_pos(z, next(1)).ok_or_else(undecodable)?;
            }
            frommember = true;
            i += 1;
        } else if is(a, "fromlonlat") && left >= 2 && form.is_search() && !frommember {
            [shape.lon, shape.lat] = lon_lat(next(1), next(2))?;
            fromloc = true;
            i += 2;
        } else if is(a, "byradius") && left >= 2 && form.is_search() && !bybox {
            let (r, conversion) = radius_unit(next(1), next(2))?;
            (shape.kind, shape.conversion) = (ShapeKind::Radius(r), conversion);
            byradius = true;
            i += 2;
        } else if is(a, "bybox") && left >= 3 && form.is_search() && !byradius {
            (shape.kind, shape.conversion) = box_unit(next(1), next(2), next(3))?;
            bybox = true;
            i += 3;
        } else {
            return Err(CmdError::Syntax);
        }
        i += 1;
    }
    if store.is_some() && (withdist || withhash || withcoord) {
        let who = if form == Form::SearchStore {
            "GEOSEARCHSTORE"
        } else {
            "STORE option in GEORADIUS"
        };
        return Err(CmdError::err(format_args!(
            "{who} is not compatible with WITHDIST, WITHHASH and WITHCOORD options"
        )));
    }
    let name = String::from_utf8_lossy(arg(args, 0));
    if form.is_search() && !(frommember || fromloc) {
        return Err(CmdError::err(format_args!(
            "exactly one of FROMMEMBER or FROMLONLAT can be specified for {name}"
        )));
    }
    if form.is_search() && !(byradius || bybox) {
        return Err(CmdError::err(format_args!(
            "exactly one of BYRADIUS and BYBOX can be specified for {name}"
        )));
    }
    if any && count == 0 {
        return Err(CmdError::err("the ANY argument requires COUNT argument"));
    }
    Ok(Query {
        shape,
        withdist,
        withhash,
        withcoord,
        sort,
        any,
        count,
        store,
    })
}

/// The points of `z` in the query's cells that pass the exact test, in Redis's order: cell
/// by cell (centre, N, S, E, W, NE, NW, SE, SW; a cell equal to the one read just before is
/// skipped), by score within a cell; with ANY, it stops at COUNT points
/// (`membersOfAllNeighbors`).
fn collect<'a>(z: &'a ZSet, q: &Query) -> Vec<Point<'a>> {
    let limit = if q.any { q.count } else { 0 };
    let full = |found: &Vec<Point<'a>>| limit != 0 && found.len() >= limit;
    let mut found: Vec<Point<'a>> = Vec::new();
    let cells = geohash::search_areas(&q.shape);
    // Redis compares a cell with the last one read only once a neighbour has been read
    // (its `last_processed` starts at the centre's index 0, which reads as "none").
    let mut last: Option<geohash::HashBits> = None;
    for (i, cell) in cells.iter().enumerate() {
        let Some(cell) = *cell else { continue };
        if last == Some(cell) {
            continue;
        }
        if full(&found) {
            break;
        }
        let (min, max) = geohash::score_span(cell);
        let first = z.rank_where_score(|s| s < min);
        for (member, score) in z.iter_from(first, false) {
            if score >= max {
                break;
            }
            if let Some((xy, dist)) = geohash::within(&q.shape, score) {
                found.push(Point {
                    xy,
                    dist,
                    score,
                    member,
                });
            }
            if full(&found) {
                break;
            }
        }
        if i > 0 {
            last = Some(cell);
        }
    }
    found
}

/// GEORADIUS and its kin, GEOSEARCH and GEOSEARCHSTORE: `src` is the source key's index.
fn search(ctx: &mut Ctx<'_, '_>, args: &[Bytes], src: usize, form: Form) -> CmdResult {
    let dbi = ctx.dbi();
    let now = ctx.now;
    let z = ctx
        .db
        .read_as::<ZSet>(dbi, arg(args, src), now)?
        .map(|z| &*z);
    let mut q = parse(args, form, z)?;
    let Some(z) = z else {
        match &q.store {
            Some((dst, _)) => {
                ctx.db.delete(dbi, dst, now);
                ctx.out.int(0);
            }
            None => ctx.out.array_len(0),
        }
        return Ok(());
    };
    // COUNT without an order means the nearest ones (but ANY takes the first found).
    if q.count != 0 && q.sort == Sort::None && !q.any {
        q.sort = Sort::Asc;
    }
    let mut found = collect(z, &q);
    let total = found.len();
    let returned = if q.count == 0 {
        total
    } else {
        total.min(q.count)
    };
    match q.sort {
        Sort::None => {}
        Sort::Asc => order(&mut found, returned, cmp_asc),
        Sort::Desc => order(&mut found, returned, |a, b| -cmp_asc(a, b)),
    }
    let conversion = q.shape.conversion;
    if let Some((dst, storedist)) = q.store {
        let items: Vec<(Str, f64)> = found
            .iter()
            .take(returned)
            .map(|p| {
                let score = if storedist {
                    p.dist / conversion
                } else {
                    p.score
                };
                (p.member.clone(), score)
            })
            .collect();
        store_result(ctx, &dst, items);
        return Ok(());
    }
    let extras = usize::from(q.withdist) + usize::from(q.withhash) + usize::from(q.withcoord);
    let out = &mut *ctx.out;
    out.array_len(returned);
    for p in found.iter().take(returned) {
        if extras > 0 {
            out.array_len(extras + 1);
        }
        out.bulk(p.member);
        if q.withdist {
            out.bulk(geohash::format_distance(p.dist / conversion).as_bytes());
        }
        if q.withhash {
            out.int(geohash::c_to_i64(p.score));
        }
        if q.withcoord {
            let [x, y] = p.xy;
            out.array_len(2);
            out.double_text(&geohash::format_coordinate(x));
            out.double_text(&geohash::format_coordinate(y));
        }
    }
    Ok(())
}

/// Sorts the points by `cmp` as Redis does: all of them with glibc's `qsort` (a stable merge
/// sort) when all are returned, else only the first `returned` with Redis's `pqsort`.
fn order<'a>(
    points: &mut [Point<'a>],
    returned: usize,
    cmp: impl Fn(&Point<'a>, &Point<'a>) -> i32,
) {
    if returned == points.len() {
        merge_sort(points, &cmp);
    } else if returned > 0 {
        pqsort(points, &cmp, 0, returned - 1);
    }
}

/// glibc's `msort_with_tmp`: halves of `n / 2` and the rest, merged taking the left element
/// while `cmp(left, right) <= 0`.
fn merge_sort<T: Copy>(v: &mut [T], cmp: &impl Fn(&T, &T) -> i32) {
    if v.len() <= 1 {
        return;
    }
    let n1 = v.len() / 2;
    let (left, right) = v.split_at_mut(n1);
    merge_sort(left, cmp);
    merge_sort(right, cmp);
    let mut merged = Vec::with_capacity(v.len());
    let (mut l, mut r) = (v.iter().take(n1).peekable(), v.iter().skip(n1).peekable());
    while let (Some(a), Some(b)) = (l.peek(), r.peek()) {
        if cmp(a, b) <= 0 {
            merged.push(**a);
            l.next();
        } else {
            merged.push(**b);
            r.next();
        }
    }
    merged.extend(l.copied());
    merged.extend(r.copied());
    for (dst, src) in v.iter_mut().zip(merged) {
        *dst = src;
    }
}

/// Redis's `pqsort` (Bentley & McIlroy's quicksort that only recurses into the parts that
/// overlap the ranks `lo..=hi`), over indexes instead of byte pointers, so equal distances
/// are ordered as redis-server orders them.
fn pqsort<T>(v: &mut [T], cmp: &impl Fn(&T, &T) -> i32, lo: usize, hi: usize) {
    let len = v.len();
    pqsort_part(v, cmp, 0, len, lo, hi);
}

fn pqsort_part<T>(
    v: &mut [T],
    cmp: &impl Fn(&T, &T) -> i32,
    mut a: usize,
    mut n: usize,
    lo: usize,
    hi: usize,
) {
    let c = |v: &[T], i: usize, j: usize| match (v.get(i), v.get(j)) {
        (Some(x), Some(y)) => cmp(x, y),
        _ => 0,
    };
    let swap = |v: &mut [T], i: usize, j: usize| {
        if i < v.len() && j < v.len() {
            v.swap(i, j);
        }
    };
    let vecswap = |v: &mut [T], i: usize, j: usize, n: usize| {
        for k in 0..n {
            swap(v, i + k, j + k);
        }
    };
    let med3 = |v: &[T], a: usize, b: usize, d: usize| {
        if c(v, a, b) < 0 {
            if c(v, b, d) < 0 {
                b
            } else if c(v, a, d) < 0 {
                d
            } else {
                a
            }
        } else if c(v, b, d) > 0 {
            b
        } else if c(v, a, d) < 0 {
            a
        } else {
            d
        }
    };
    loop {
        if n < 7 {
            for pm in a + 1..a + n {
                let mut pl = pm;
                while pl > a && c(v, pl - 1, pl) > 0 {
                    swap(v, pl, pl - 1);
                    pl -= 1;
                }
            }
            return;
        }
        let mut pm = a + n / 2;
        if n > 7 {
            let mut pl = a;
            let mut pn = a + n - 1;
            if n > 40 {
                let d = n / 8;
                pl = med3(v, pl, pl + d, pl + 2 * d);
                pm = med3(v, pm - d, pm, pm + d);
                pn = med3(v, pn - 2 * d, pn - d, pn);
            }
            pm = med3(v, pl, pm, pn);
        }
        swap(v, a, pm);
        let (mut pa, mut pb) = (a + 1, a + 1);
        let (mut pc, mut pd) = (a + n - 1, a + n - 1);
        loop {
            while pb <= pc {
                let r = c(v, pb, a);
                if r > 0 {
                    break;
                }
                if r == 0 {
                    swap(v, pa, pb);
                    pa += 1;
                }
                pb += 1;
            }
            while pb <= pc {
                let r = c(v, pc, a);
                if r < 0 {
                    break;
                }
                if r == 0 {
                    swap(v, pc, pd);
                    pd -= 1;
                }
                pc -= 1;
            }
            if pb > pc {
                break;
            }
            swap(v, pb, pc);
            pb += 1;
            pc -= 1;
        }
        let pn = a + n;
        let r = (pa - a).min(pb - pa);
        vecswap(v, a, pb - r, r);
        let r = (pd - pc).min(pn - pd - 1);
        vecswap(v, pb, pn - r, r);
        // Only the parts that hold some of the ranks lo..=hi are sorted further.
        let overlaps = |start: usize, len: usize| {
            let end = start + len - 1;
            !((lo < start && hi < start) || (lo > end && hi > end))
        };
        let r = pb - pa;
        if r > 1 && overlaps(a, r) {
            pqsort_part(v, cmp, a, r, lo, hi);
        }
        let r = pd - pc;
        if r > 1 {
            a = pn - r;
            n = r;
            if overlaps(a, n) {
                continue;
            }
        }
        return;
    }
}

/// `GEORADIUS key longitude latitude radius unit [WITHCOORD] [WITHDIST] [WITHHASH]
/// [COUNT count [ANY]] [ASC | DESC] [STORE key | STOREDIST key]`
pub(crate) fn georadius(ctx: &mut Ctx<'_, '_>, args: &[Bytes]) -> CmdResult {
    search(ctx, args, 1, Form::Coords { store: true })
}

/// `GEORADIUS_RO key longitude latitude radius unit …` without STORE.
pub(crate) fn georadius_ro(ctx: &mut Ctx<'_, '_>, args: &[Bytes]) -> CmdResult {
    search(ctx, args, 1, Form::Coords { store: false })
}

/// `GEORADIUSBYMEMBER key member radius unit …` with GEORADIUS's options.
pub(crate) fn georadiusbymember(ctx: &mut Ctx<'_, '_>, args: &[Bytes]) -> CmdResult {
    search(ctx, args, 1, Form::Member { store: true })
}

/// `GEORADIUSBYMEMBER_RO key member radius unit …` without STORE.
pub(crate) fn georadiusbymember_ro(ctx: &mut Ctx<'_, '_>, args: &[Bytes]) -> CmdResult {
    search(ctx, args, 1, Form::Member { store: false })
}

/// `GEOSEARCH key FROMMEMBER member | FROMLONLAT longitude latitude
/// BYRADIUS radius unit | BYBOX width height unit [ASC | DESC] [COUNT count [ANY]]
/// [WITHCOORD] [WITHDIST] [WITHHASH]`
pub(crate) fn geosearch(ctx: &mut Ctx<'_, '_>, args: &[Bytes]) -> CmdResult {
    search(ctx, args, 1, Form::Search)
}

/// `GEOSEARCHSTORE destination source FROM… BY… [ASC | DESC] [COUNT count [ANY]] [STOREDIST]`
pub(crate) fn geosearchstore(ctx: &mut Ctx<'_, '_>, args: &[Bytes]) -> CmdResult {
    search(ctx, args, 2, Form::SearchStore)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testkit::{a, arr, b, e, i, Frame, SYNTAX, T as H, WRONGTYPE};

    const SICILY: &str = "GEOADD k 13.361389 38.115556 Palermo 15.087269 37.502669 Catania";

    fn pair(x: &str, y: &str) -> Frame {
        arr(vec![b(x), b(y)])
    }

    /// Cases checked against redis-server 7.0.15.
    #[test]
    fn add_pos_hash_dist() {
        let mut h = H::new();
        h.check(&[
            (SICILY, i(2)),
            ("ZSCORE k Palermo", b("3479099956230698")),
            (
                "GEOPOS k Palermo nope",
                arr(vec![
                    pair("13.36138933897018433", "38.11555639549629859"),
                    Frame::Null,
                ]),
            ),
            ("GEOPOS k", arr(vec![])),
            ("GEOPOS nokey a", arr(vec![Frame::Null])),
            (
                "GEOHASH k Palermo nope Catania",
                arr(vec![b("sqc8b49rny0"), Frame::Null, b("sqdtr74hyu0")]),
            ),
            ("GEODIST k Palermo Catania", b("166274.1516")),
            ("GEODIST k Palermo Catania km", b("166.2742")),
            ("GEODIST k Palermo Catania MI", b("103.3182")),
            ("GEODIST k Palermo Catania ft", b("545518.8700")),
            ("GEODIST k Palermo nope", Frame::Null),
            ("GEODIST nokey a b", Frame::Null),
            (
                "GEODIST nokey a b foo",
                e("ERR unsupported unit provided. please use M, KM, FT, MI"),
            ),
            ("GEODIST k Palermo Catania km x", e(SYNTAX)),
            ("GEOADD k xx 1 1 newone", i(0)),
            ("GEOADD k xx ch 13.5 38 Palermo", i(1)),
            ("GEOADD k nx 1 1 Palermo 2 2 Newer", i(1)),
            ("GEOADD nokey xx 1 1 m", i(0)),
            ("EXISTS nokey", i(0)),
            ("GEOADD k nx xx 1 2 m", e(SYNTAX)),
            ("GEOADD k ch ch ch", e(SYNTAX)),
            ("GEOADD k gt 1 2 m", e(SYNTAX)),
            ("GEOADD k 1 x m", e("ERR value is not a valid float")),
            (
                "GEOADD k 181 0 m",
                e("ERR invalid longitude,latitude pair 181.000000,0.000000"),
            ),
            (
                "GEOADD k 0 -90 m 1 1 n",
                e("ERR invalid longitude,latitude pair 0.000000,-90.000000"),
            ),
            ("EXISTS n", i(0)),
            ("SET s v", Frame::Simple("OK".into())),
            ("GEOADD s 1 1 m", e(WRONGTYPE)),
            ("GEOPOS s a", e(WRONGTYPE)),
            ("GEOHASH s a", e(WRONGTYPE)),
            ("GEODIST s a b", e(WRONGTYPE)),
        ]);
    }

    #[test]
    fn search_replies_and_stores() {
        let mut h = H::new();
        h.run(SICILY);
        let item = |name: &str, dist: &str| arr(vec![b(name), b(dist)]);
        h.check(&[
            (
                "GEOSEARCH k FROMLONLAT 15 37 BYRADIUS 200 km ASC",
                a(&["Catania", "Palermo"]),
            ),
            (
                "GEOSEARCH k FROMLONLAT 15 37 BYRADIUS 200 km WITHDIST DESC",
                arr(vec![
                    item("Palermo", "190.4424"),
                    item("Catania", "56.4413"),
                ]),
            ),
            (
                "GEOSEARCH k FROMLONLAT 15 37 BYBOX 400 400 km WITHDIST ASC",
                arr(vec![
                    item("Catania", "56.4413"),
                    item("Palermo", "190.4424"),
                ]),
            ),
            (
                "GEOSEARCH k FROMLONLAT 15 37 BYRADIUS 100 km",
                a(&["Catania"]),
            ),
            (
                "GEORADIUSBYMEMBER k Palermo 200 km WITHDIST WITHHASH WITHCOORD COUNT 1",
                arr(vec![arr(vec![
                    b("Palermo"),
                    b("0.0000"),
                    i(3479099956230698),
                    pair("13.36138933897018433", "38.11555639549629859"),
                ])]),
            ),
            (
                "GEOSEARCH k FROMMEMBER Catania BYRADIUS 1 m",
                a(&["Catania"]),
            ),
            (
                "GEOSEARCHSTORE d k FROMLONLAT 15 37 BYRADIUS 200 km STOREDIST",
                i(2),
            ),
            // The same double redis-server prints as 56.441257870158204 (its %.17g).
            ("ZSCORE d Catania", b("56.4412578701582")),
            ("GEORADIUS k 15 37 200 km STORE d COUNT 1", i(1)),
            (
                "ZRANGE d 0 -1 WITHSCORES",
                a(&["Catania", "3479447370796909"]),
            ),
            ("GEOSEARCHSTORE d k FROMLONLAT 15 37 BYRADIUS 1 km", i(0)),
            ("EXISTS d", i(0)),
            (
                "GEOSEARCH nokey FROMMEMBER nope BYRADIUS 10 km",
                arr(vec![]),
            ),
            ("GEOSEARCHSTORE d nokey FROMLONLAT 1 1 BYRADIUS 1 km", i(0)),
            ("GEORADIUSBYMEMBER nokey nope x parsec", arr(vec![])),
        ]);
    }

    #[test]
    fn search_errors() {
        let mut h = H::new();
        h.run(SICILY);
        h.run("SET s v");
        let not_with = "ERR STORE option in GEORADIUS is not compatible with WITHDIST, WITHHASH and WITHCOORD options";
        h.check(&[
            ("GEOSEARCH k FROMMEMBER Palermo BYRADIUS 10 km BYBOX 1 1 km", e(SYNTAX)),
            ("GEOSEARCH k FROMMEMBER Palermo FROMLONLAT 1 1 BYRADIUS 10 km", e(SYNTAX)),
            (
                "GeoSearch k FROMMEMBER Palermo COUNT 1 ASC",
                e("ERR exactly one of BYRADIUS and BYBOX can be specified for GeoSearch"),
            ),
            (
                "GEOSEARCH k BYRADIUS 10 km ASC WITHDIST",
                e("ERR exactly one of FROMMEMBER or FROMLONLAT can be specified for GEOSEARCH"),
            ),
            (
                "GEOSEARCH k FROMMEMBER nope BYRADIUS 10 km",
                e("ERR could not decode requested zset member"),
            ),
            (
                "GEOSEARCH nokey FROMMEMBER nope BYRADIUS x km",
                e("ERR need numeric radius"),
            ),
            (
                "GEOSEARCH k FROMLONLAT 1 1 BYRADIUS -1 km",
                e("ERR radius cannot be negative"),
            ),
            (
                "GEOSEARCH k FROMLONLAT 1 1 BYBOX x 1 km",
                e("ERR need numeric width"),
            ),
            (
                "GEOSEARCH k FROMLONLAT 1 1 BYBOX 1 x km",
                e("ERR need numeric height"),
            ),
            (
                "GEOSEARCH k FROMLONLAT 1 1 BYBOX -1 1 km",
                e("ERR height or width cannot be negative"),
            ),
            (
                "GEOSEARCH k FROMLONLAT 1 1 BYRADIUS 1 km ANY",
                e("ERR the ANY argument requires COUNT argument"),
            ),
            (
                "GEOSEARCH k FROMLONLAT 1 1 BYRADIUS 1 km COUNT 0",
                e("ERR COUNT must be > 0"),
            ),
            (
                "GEOSEARCH k FROMLONLAT 1 1 BYRADIUS 1 km COUNT x",
                e("ERR value is not an integer or out of range"),
            ),
            ("GEOSEARCH k FROMLONLAT 1 1 BYRADIUS 1 km COUNT", e(SYNTAX)),
            ("GEOSEARCH k FROMLONLAT 1 1 BYRADIUS 1 km STORE x", e(SYNTAX)),
            ("GEOSEARCH k FROMLONLAT 1 1 BYRADIUS 1 km STOREDIST", e(SYNTAX)),
            ("GEOSEARCH s FROMMEMBER a BYRADIUS 1 km", e(WRONGTYPE)),
            (
                "GEOSEARCHSTORE d k FROMLONLAT 1 1 BYRADIUS 1 km WITHDIST",
                e("ERR GEOSEARCHSTORE is not compatible with WITHDIST, WITHHASH and WITHCOORD options"),
            ),
            ("GEOSEARCHSTORE d k FROMLONLAT 1 1 BYRADIUS 1 km STORE x", e(SYNTAX)),
            ("GEOSEARCHSTORE d s FROMLONLAT 1 1 BYRADIUS 1 km", e(WRONGTYPE)),
            ("GEORADIUS k 1 1 1 km WITHDIST STORE x", e(not_with)),
            ("GEORADIUS k 1 1 1 km STORE", e(SYNTAX)),
            ("GEORADIUS k 1 1 1 km FROMMEMBER Palermo", e(SYNTAX)),
            ("GEORADIUS_RO k 1 1 1 km STORE x", e(SYNTAX)),
            ("GEORADIUSBYMEMBER_RO k Palermo 1 km STOREDIST x", e(SYNTAX)),
            (
                "GEORADIUS k 200 1 1 km",
                e("ERR invalid longitude,latitude pair 200.000000,1.000000"),
            ),
            (
                "GEORADIUS k 1 1 1 parsec",
                e("ERR unsupported unit provided. please use M, KM, FT, MI"),
            ),
            ("GEORADIUS s 1 1 1 km", e(WRONGTYPE)),
            (
                "GEORADIUSBYMEMBER k nope 1 km",
                e("ERR could not decode requested zset member"),
            ),
            ("GEORADIUSBYMEMBER nokey nope x parsec WITHDIST STORE y", e(not_with)),
            ("GEORADIUSBYMEMBER nokey nope x parsec bogus", e(SYNTAX)),
        ]);
    }

    #[test]
    fn resp3_coordinates_are_doubles_and_distances_strings() {
        let mut h = H::with_resp3();
        h.run(SICILY);
        h.check(&[
            (
                "GEOPOS k Palermo nope",
                arr(vec![
                    arr(vec![
                        Frame::Double(13.361389338970184),
                        Frame::Double(38.1155563954963),
                    ]),
                    Frame::Null,
                ]),
            ),
            ("GEODIST k Palermo Catania", b("166274.1516")),
            ("GEODIST k Palermo nope", Frame::Null),
            (
                "GEOSEARCH k FROMLONLAT 15 37 BYRADIUS 100 km WITHDIST WITHCOORD",
                arr(vec![arr(vec![
                    b("Catania"),
                    b("56.4413"),
                    arr(vec![
                        Frame::Double(15.087267458438873),
                        Frame::Double(37.50266842333162),
                    ]),
                ])]),
            ),
        ]);
    }

    /// Sorting agrees with a stable sort by distance, and the partial sort gets the first
    /// ranks right, with many ties.
    #[test]
    fn sorts_order_by_distance() {
        let m = Str::from("m");
        let mut seed = 0x1234_5678_9ABC_DEF0u64;
        for n in [0usize, 1, 2, 6, 7, 8, 40, 41, 100, 500] {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let pts: Vec<Point<'_>> = (0..n)
                .map(|k| Point {
                    xy: [k as f64, 0.0],
                    dist: ((seed >> (k % 50)) % 13) as f64,
                    score: k as f64,
                    member: &m,
                })
                .collect();
            let mut want = pts.clone();
            want.sort_by(|a, b| a.dist.total_cmp(&b.dist));
            let mut got = pts.clone();
            merge_sort(&mut got, &cmp_asc);
            let key = |v: &[Point<'_>]| v.iter().map(|p| (p.dist, p.xy[0])).collect::<Vec<_>>();
            assert_eq!(key(&got), key(&want), "stable, n={n}");
            for k in [1usize, 3, 10] {
                if k >= n {
                    continue;
                }
                let mut part = pts.clone();
                pqsort(&mut part, &cmp_asc, 0, k - 1);
                let d = |v: &[Point<'_>]| v.iter().take(k).map(|p| p.dist).collect::<Vec<_>>();
                assert_eq!(d(&part), d(&want), "first {k} of {n}");
                let mut all: Vec<f64> = part.iter().map(|p| p.xy[0]).collect();
                all.sort_by(f64::total_cmp);
                assert_eq!(all, (0..n).map(|k| k as f64).collect::<Vec<_>>());
            }
        }
    }
}
