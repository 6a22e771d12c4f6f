//! [`ZSet`]: the sorted-set type — a skiplist with span counts over (score, member), as Redis
//! keeps it, and a hash index from member to node for O(1) lookups.
//!
//! The skiplist lives in two arenas linked by `u32` indexes, with no `Rc` and no `unsafe`:
//! nodes (member, score, back link) in one `Vec`, and every node's tower of forward links side
//! by side in another (freed nodes and towers are reused; an emptied set gives both back). A
//! link carries the next node's tower, id and score, so a search step reads one tower and
//! looks at a node only on a score tie — one cache miss per step, as Redis's inline levels.
//! Each link also records how many elements it jumps over (its *span*), which gives ranks.
//! Levels are drawn with p = 1/4, up to 32, as Redis.
//!
//! Each member is stored once, in its node. The lookup index is a hashbrown `HashTable<u32>`
//! of node ids hashed by the member bytes (foldhash with a random seed, as the keyspace and
//! [`Set`](super::set::Set)): 4 bytes a bucket, where a map from member to score held the
//! member a second time in 32-byte buckets. At a million members that was 2^21 buckets of 32 B,
//! half of them empty; the index is 2^21 buckets of 4 B (and a control byte each).
//!
//! | operation | cost |
//! |---|---|
//! | insert, remove, change a score | O(log n) expected |
//! | score of a member | O(1) |
//! | rank of a member, element at a rank | O(log n) expected |
//! | first rank whose element passes a monotone test (score ≥ bound, member ≥ lex bound) | O(log n) expected |
//! | walking k elements from a rank, either way | O(k) after the O(log n) seek |
//!
//! Elements are ordered by score, then by member bytes (Redis's order; `-0` and `0` compare
//! equal). NaN is never stored: commands refuse it before calling in.

use std::hash::BuildHasher;

use hashbrown::{DefaultHashBuilder, HashTable};

use super::str::Str;

const NIL: u32 = u32::MAX;
/// The head's node id and tower.
const HEAD: u32 = 0;
const MAX_LEVEL: usize = 32;

/// One forward link of a tower. It carries what a search needs about the node it leads to
/// (its tower, its id, its score), so a search step reads one tower and nothing else, and
/// touches a node only on a score tie.
#[derive(Debug, Clone, Copy)]
struct Link {
    /// The next node's tower (index of its level-0 link), or NIL.
    next: u32,
    /// The next node's id.
    node: u32,
    /// Elements jumped over, counting the next node.
    span: u32,
    /// The next node's score.
    score: f64,
}

const EMPTY_LINK: Link = Link {
    next: NIL,
    node: NIL,
    span: 0,
    score: 0.0,
};

#[derive(Debug, Clone)]
struct Node {
    member: Str,
    score: f64,
    /// The previous node's id (NIL for the first).
    back: u32,
    /// Where this node's links start in the tower arena.
    tower: u32,
    height: u8,
}

/// A sorted set: member → score, and (score, member) in order with ranks.
#[derive(Clone)]
pub(crate) struct ZSet {
    /// The id of every member's node, hashed by the member bytes.
    index: HashTable<u32>,
    hasher: DefaultHashBuilder,
    nodes: Vec<Node>,
    free_nodes: Vec<u32>,
    /// Every node's links, each node's `height` of them side by side (the head's first).
    links: Vec<Link>,
    /// Freed towers by height.
    free_towers: Vec<Vec<u32>>,
    level: usize,
    tail: u32,
    rng: u64,
}

impl Default for ZSet {
    fn default() -> Self {
        ZSet {
            index: HashTable::new(),
            hasher: DefaultHashBuilder::default(),
            nodes: vec![Node {
                member: Str::default(),
                score: 0.0,
                back: NIL,
                tower: HEAD,
                height: MAX_LEVEL as u8,
            }],
            free_nodes: Vec::new(),
            links: vec![EMPTY_LINK; MAX_LEVEL],
            free_towers: Vec::new(),
            level: 1,
            tail: NIL,
            rng: 0x9E37_79B9_7F4A_7C15,
        }
    }
}

impl std::fmt::Debug for ZSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

impl ZSet {
    /// An empty sorted set.
    pub(crate) fn new() -> Self {
        ZSet::default()
    }

    /// The number of members.
    pub(crate) fn len(&self) -> usize {
        self.index.len()
    }

    /// True when empty.
    pub(crate) fn is_empty(&self) -> bool {
        self.index.is_empty()
    }

    /// The id of `member`'s node, given the member's `hash`.
    fn find(&self, hash: u64, member: &[u8]) -> Option<u32> {
        let nodes = &self.nodes;
        self.index
            .find(hash, |&id| {
                nodes
                    .get(id as usize)
                    .is_some_and(|n| n.member.as_bytes() == member)
            })
            .copied()
    }

    /// The score of `member`.
    pub(crate) fn score(&self, member: &[u8]) -> Option<f64> {
        let id = self.find(self.hasher.hash_one(member), member)?;
        self.nodes.get(id as usize).map(|n| n.score)
    }

    /// Adds or moves `member` to `score`; true if it was new. `score` must not be NaN.
    pub(crate) fn insert(&mut self, member: Str, score: f64) -> bool {
        let hash = self.hasher.hash_one(member.as_bytes());
        match self.find(hash, &member) {
            Some(id) => {
                let was = self.nodes.get(id as usize).map_or(score, |n| n.score);
                if was.to_bits() != score.to_bits() && !self.list_rescore(was, score, &member) {
                    self.list_remove(was, &member);
                    // The list has one element fewer than the index while the node moves.
                    let moved = self.list_insert(score, member, self.len() - 1);
                    if moved != id {
                        if let Some(slot) = self.index.find_mut(hash, |&i| i == id) {
                            *slot = moved;
                        }
                    }
                }
                false
            }
            None => {
                let id = self.list_insert(score, member, self.len());
                let (nodes, hasher) = (&self.nodes, &self.hasher);
                self.index.insert_unique(hash, id, |&i| {
                    hasher.hash_one(
                        nodes
                            .get(i as usize)
                            .map_or(&[][..], |n| n.member.as_bytes()),
                    )
                });
                true
            }
        }
    }

    /// Removes `member`; true if it was there.
    pub(crate) fn remove(&mut self, member: &[u8]) -> bool {
        let hash = self.hasher.hash_one(member);
        let nodes = &self.nodes;
        let found = self.index.find_entry(hash, |&id| {
            nodes
                .get(id as usize)
                .is_some_and(|n| n.member.as_bytes() == member)
        });
        let Ok(entry) = found else {
            return false;
        };
        let (id, _) = entry.remove();
        if let Some(score) = self.nodes.get(id as usize).map(|n| n.score) {
            self.list_remove(score, member);
        }
        true
    }

    /// Removes and returns the lowest (or, with `max`, the highest) element.
    pub(crate) fn pop(&mut self, max: bool) -> Option<(Str, f64)> {
        let id = if max {
            self.tail
        } else {
            self.link(HEAD, 0).node
        };
        let node = self.nodes.get(id as usize)?;
        let (member, score) = (node.member.clone(), node.score);
        self.remove(&member);
        Some((member, score))
    }

    /// The 0-based rank of `member` in ascending order.
    pub(crate) fn rank(&self, member: &[u8]) -> Option<usize> {
        let score = self.score(member)?;
        let (mut x, mut xn) = (HEAD, HEAD);
        let mut rank = 0usize;
        for i in (0..self.level).rev() {
            loop {
                let l = self.link(x, i);
                let ahead = l.next != NIL
                    && (l.score < score || (l.score == score && self.member_of(l.node) <= member));
                if !ahead {
                    break;
                }
                rank += l.span as usize;
                (x, xn) = (l.next, l.node);
            }
            if xn != HEAD && self.member_of(xn) == member {
                return rank.checked_sub(1);
            }
        }
        None
    }

    /// The element at 0-based `rank` in ascending order.
    pub(crate) fn get_by_rank(&self, rank: usize) -> Option<(&Str, f64)> {
        let id = self.id_at(rank)?;
        let n = self.nodes.get(id as usize)?;
        Some((&n.member, n.score))
    }

    /// How many elements pass `pred`, which must hold for a prefix of the order and fail for
    /// the rest (e.g. "member < b"); that is also the rank of the first element failing it.
    pub(crate) fn rank_where(&self, mut pred: impl FnMut(f64, &[u8]) -> bool) -> usize {
        let mut x = HEAD;
        let mut rank = 0usize;
        for i in (0..self.level).rev() {
            loop {
                let l = self.link(x, i);
                if l.next == NIL || !pred(l.score, self.member_of(l.node)) {
                    break;
                }
                rank += l.span as usize;
                x = l.next;
            }
        }
        rank
    }

    /// [`rank_where`](Self::rank_where) for a test on the score alone (e.g. "score < 5"):
    /// reads no node, only the links it walks, so it is the cheaper seek for score ranges.
    pub(crate) fn rank_where_score(&self, mut pred: impl FnMut(f64) -> bool) -> usize {
        let mut x = HEAD;
        let mut rank = 0usize;
        for i in (0..self.level).rev() {
            loop {
                let l = self.link(x, i);
                if l.next == NIL || !pred(l.score) {
                    break;
                }
                rank += l.span as usize;
                x = l.next;
            }
        }
        rank
    }

    /// The elements from 0-based `rank` on, ascending, or descending with `rev` (towards rank 0).
    pub(crate) fn iter_from(&self, rank: usize, rev: bool) -> Iter<'_> {
        Iter {
            set: self,
            at: self.id_at(rank).unwrap_or(NIL),
            rev,
        }
    }

    /// All elements, ascending.
    pub(crate) fn iter(&self) -> Iter<'_> {
        Iter {
            set: self,
            at: self.link(HEAD, 0).node,
            rev: false,
        }
    }

    // ----- the skiplist ----------------------------------------------------------------------

    /// The member of node `id`. Every id reached by following links is a live node; an id that
    /// were not would read as the empty member rather than panic.
    fn member_of(&self, id: u32) -> &[u8] {
        self.nodes
            .get(id as usize)
            .map_or(&[][..], |n| n.member.as_bytes())
    }

    #[cfg(test)]
    fn node(&self, id: u32) -> &Node {
        &self.nodes[id as usize]
    }

    /// Link `level` of the tower starting at `tower`.
    fn link(&self, tower: u32, level: usize) -> Link {
        self.links
            .get(tower as usize + level)
            .copied()
            .unwrap_or(EMPTY_LINK)
    }

    /// Link `level` of the tower starting at `tower`, mutably (towers are allocated at their
    /// full height, so every level below a node's height exists).
    fn link_mut(&mut self, tower: u32, level: usize) -> Option<&mut Link> {
        self.links.get_mut(tower as usize + level)
    }

    /// True if the element `l` leads to sorts before (score, member); NIL never does.
    fn link_before(&self, l: Link, score: f64, member: &[u8]) -> bool {
        l.next != NIL && (l.score < score || (l.score == score && self.member_of(l.node) < member))
    }

    fn id_at(&self, rank: usize) -> Option<u32> {
        let target = rank.checked_add(1)?;
        if target > self.len() {
            return None;
        }
        let (mut x, mut xn) = (HEAD, HEAD);
        let mut traversed = 0usize;
        for i in (0..self.level).rev() {
            loop {
                let l = self.link(x, i);
                if l.next != NIL && traversed + l.span as usize <= target {
                    traversed += l.span as usize;
                    (x, xn) = (l.next, l.node);
                } else {
                    break;
                }
            }
            if traversed == target {
                return Some(xn);
            }
        }
        None
    }

    fn random_level(&mut self) -> usize {
        let mut level = 1;
        loop {
            // xorshift64
            self.rng ^= self.rng << 13;
            self.rng ^= self.rng >> 7;
            self.rng ^= self.rng << 17;
            // p = 1/4 per extra level, as Redis.
            if self.rng & 3 != 0 || level >= MAX_LEVEL {
                return level;
            }
            level += 1;
        }
    }

    fn alloc_tower(&mut self, height: usize) -> u32 {
        if let Some(t) = self.free_towers.get_mut(height).and_then(|f| f.pop()) {
            return t;
        }
        let t = self.links.len() as u32;
        self.links.extend(std::iter::repeat_n(EMPTY_LINK, height));
        t
    }

    /// Links a new node for (score, member) into a list of `old_len` elements; its id.
    fn list_insert(&mut self, score: f64, member: Str, old_len: usize) -> u32 {
        // update[i]: (tower, node id) of the last element before the new one on level i, and
        // rank[i] its rank; the loops stop at MAX_LEVEL by zipping with the arrays.
        let mut update = [(HEAD, HEAD); MAX_LEVEL];
        let mut rank = [0usize; MAX_LEVEL];
        let (mut x, mut xn) = (HEAD, HEAD);
        let mut above = 0usize;
        for (i, (u, r)) in update
            .iter_mut()
            .zip(rank.iter_mut())
            .enumerate()
            .take(self.level)
            .rev()
        {
            *r = above;
            loop {
                let l = self.link(x, i);
                if !self.link_before(l, score, &member) {
                    break;
                }
                *r += l.span as usize;
                (x, xn) = (l.next, l.node);
            }
            *u = (x, xn);
            above = *r;
        }
        let level = self.random_level();
        if level > self.level {
            for i in self.level..level {
                // update[i] and rank[i] already are (HEAD, HEAD) and 0 above the old level.
                if let Some(l) = self.link_mut(HEAD, i) {
                    l.span = old_len as u32;
                }
            }
            self.level = level;
        }
        let tower = self.alloc_tower(level);
        let (_, prev) = update.first().copied().unwrap_or((HEAD, HEAD));
        let node = Node {
            member,
            score,
            back: if prev == HEAD { NIL } else { prev },
            tower,
            height: level as u8,
        };
        let id = match self.free_nodes.pop() {
            Some(id) => {
                if let Some(slot) = self.nodes.get_mut(id as usize) {
                    *slot = node;
                }
                id
            }
            None => {
                self.nodes.push(node);
                (self.nodes.len() - 1) as u32
            }
        };
        let rank0 = rank.first().copied().unwrap_or(0);
        for (i, (&(u, _), &r)) in update.iter().zip(rank.iter()).enumerate().take(level) {
            let ul = self.link(u, i);
            let below = (rank0 - r) as u32;
            if let Some(l) = self.link_mut(tower, i) {
                *l = Link {
                    span: ul.span - below,
                    ..ul
                };
            }
            if let Some(l) = self.link_mut(u, i) {
                *l = Link {
                    next: tower,
                    node: id,
                    span: below + 1,
                    score,
                };
            }
        }
        for (i, &(u, _)) in update.iter().enumerate().take(self.level).skip(level) {
            if let Some(l) = self.link_mut(u, i) {
                l.span += 1;
            }
        }
        let next = self.link(tower, 0).node;
        if next == NIL {
            self.tail = id;
        } else if let Some(n) = self.nodes.get_mut(next as usize) {
            n.back = id;
        }
        id
    }

    /// Moves `member` from `old` to `new` in place when its neighbours allow it (the common
    /// small ZINCRBY), as Redis's `zslUpdateScore`; false if it has to be unlinked and
    /// reinserted instead.
    fn list_rescore(&mut self, old: f64, new: f64, member: &[u8]) -> bool {
        let mut update = [HEAD; MAX_LEVEL];
        let mut x = HEAD;
        for (i, u) in update.iter_mut().enumerate().take(self.level).rev() {
            loop {
                let l = self.link(x, i);
                if !self.link_before(l, old, member) {
                    break;
                }
                x = l.next;
            }
            *u = x;
        }
        let first = self.link(x, 0);
        let (target, id) = (first.next, first.node);
        let Some(node) = self.nodes.get(id as usize) else {
            return false;
        };
        if target == NIL || node.member.as_bytes() != member {
            return false;
        }
        let after_prev = match self.nodes.get(node.back as usize) {
            Some(p) => p.score < new || (p.score == new && p.member.as_bytes() < member),
            None => true,
        };
        let next = self.link(target, 0);
        let before_next = next.next == NIL
            || new < next.score
            || (new == next.score && member < self.member_of(next.node));
        if !(after_prev && before_next) {
            return false;
        }
        let height = node.height as usize;
        if let Some(n) = self.nodes.get_mut(id as usize) {
            n.score = new;
        }
        for (i, &u) in update.iter().enumerate().take(height) {
            if let Some(l) = self.link_mut(u, i) {
                l.score = new;
            }
        }
        true
    }

    fn list_remove(&mut self, score: f64, member: &[u8]) {
        let mut update = [HEAD; MAX_LEVEL];
        let mut x = HEAD;
        for (i, u) in update.iter_mut().enumerate().take(self.level).rev() {
            loop {
                let l = self.link(x, i);
                if !self.link_before(l, score, member) {
                    break;
                }
                x = l.next;
            }
            *u = x;
        }
        let first = self.link(x, 0);
        let (target, id) = (first.next, first.node);
        match self.nodes.get(id as usize) {
            Some(n) if target != NIL && n.score == score && n.member.as_bytes() == member => {}
            _ => return,
        }
        for (i, &u) in update.iter().enumerate().take(self.level) {
            let ul = self.link(u, i);
            if ul.next == target {
                let tl = self.link(target, i);
                if let Some(l) = self.link_mut(u, i) {
                    *l = Link {
                        span: ul.span + tl.span - 1,
                        ..tl
                    };
                }
            } else if let Some(l) = self.link_mut(u, i) {
                l.span = ul.span.saturating_sub(1);
            }
        }
        let next = self.link(target, 0).node;
        let Some((back, height)) = self.nodes.get(id as usize).map(|n| (n.back, n.height)) else {
            return;
        };
        if next == NIL {
            self.tail = back;
        } else if let Some(n) = self.nodes.get_mut(next as usize) {
            n.back = back;
        }
        while self.level > 1 && self.link(HEAD, self.level - 1).next == NIL {
            self.level -= 1;
        }
        if self.is_empty() {
            // Emptied: give the arenas back (the index no longer holds the member).
            self.nodes.truncate(1);
            self.links.truncate(MAX_LEVEL);
            self.free_nodes.clear();
            self.free_towers.clear();
            return;
        }
        let height = height as usize;
        if let Some(slot) = self.nodes.get_mut(id as usize) {
            slot.member = Str::default();
        }
        self.free_nodes.push(id);
        if self.free_towers.len() <= height {
            self.free_towers.resize_with(height + 1, Vec::new);
        }
        if let Some(free) = self.free_towers.get_mut(height) {
            free.push(target);
        }
    }
}

/// Elements in order from a rank: `(member, score)`.
#[derive(Debug, Clone)]
pub(crate) struct Iter<'a> {
    set: &'a ZSet,
    at: u32,
    rev: bool,
}

impl<'a> Iterator for Iter<'a> {
    type Item = (&'a Str, f64);

    fn next(&mut self) -> Option<Self::Item> {
        let set = self.set;
        let node = set.nodes.get(self.at as usize)?;
        self.at = if self.rev {
            node.back
        } else {
            set.link(node.tower, 0).node
        };
        Some((&node.member, node.score))
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
    }

    fn naive_sorted(m: &HashMap<Vec<u8>, f64>) -> Vec<(Vec<u8>, f64)> {
        let mut v: Vec<(Vec<u8>, f64)> = m.iter().map(|(k, s)| (k.clone(), *s)).collect();
        v.sort_by(|a, b| a.1.partial_cmp(&b.1).unwrap().then_with(|| a.0.cmp(&b.0)));
        v
    }

    /// Checks links, spans, back pointers and every query against the naive order.
    fn check(z: &ZSet, want: &[(Vec<u8>, f64)]) {
        assert_eq!(z.len(), want.len());
        let got: Vec<(Vec<u8>, f64)> = z.iter().map(|(m, s)| (m.to_vec(), s)).collect();
        assert_eq!(got, want);
        let rev: Vec<(Vec<u8>, f64)> = z
            .iter_from(want.len().saturating_sub(1), true)
            .map(|(m, s)| (m.to_vec(), s))
            .collect();
        let mut want_rev = want.to_vec();
        want_rev.reverse();
        if !want.is_empty() {
            assert_eq!(rev, want_rev);
        }
        // rank of every node id, then the spans of every link on every level.
        let mut rank_of = HashMap::new();
        rank_of.insert(HEAD, 0usize);
        let mut x = z.link(HEAD, 0);
        let mut r = 1;
        while x.next != NIL {
            rank_of.insert(x.next, r);
            assert_eq!(z.node(x.node).tower, x.next);
            r += 1;
            x = z.link(x.next, 0);
        }
        for i in 0..z.level {
            let mut x = HEAD;
            loop {
                let l = z.link(x, i);
                if l.next == NIL {
                    break;
                }
                assert_eq!(l.span as usize, rank_of[&l.next] - rank_of[&x], "level {i}");
                assert_eq!(
                    l.score.to_bits(),
                    z.node(l.node).score.to_bits(),
                    "level {i}"
                );
                assert!(z.node(l.node).height as usize > i);
                x = l.next;
            }
        }
        assert!(z.level == 1 || z.link(HEAD, z.level - 1).next != NIL);
        for (i, (m, s)) in want.iter().enumerate() {
            assert_eq!(z.rank(m), Some(i));
            assert_eq!(z.score(m), Some(*s));
            let (gm, gs) = z.get_by_rank(i).unwrap();
            assert_eq!((&gm[..], gs), (&m[..], *s));
        }
        assert!(z.get_by_rank(want.len()).is_none());
        assert_eq!(z.rank(b"not there at all"), None);
    }

    #[test]
    fn random_operations_match_a_sorted_vec() {
        let mut rng = Rng(0xDEAD_BEEF_1234_5678);
        let mut z = ZSet::new();
        let mut naive: HashMap<Vec<u8>, f64> = HashMap::new();
        for step in 0..20_000u32 {
            let member = format!("m{}", rng.next() % 300).into_bytes();
            // Few distinct scores so ties (ordered by member) are common.
            let score = match rng.next() % 10 {
                0 => f64::INFINITY,
                1 => f64::NEG_INFINITY,
                2 => -0.0,
                _ => (rng.next() % 40) as f64 - 20.0,
            };
            match rng.next() % 5 {
                0 => {
                    assert_eq!(z.remove(&member), naive.remove(&member).is_some());
                }
                1 => {
                    let max = rng.next().is_multiple_of(2);
                    let want = naive_sorted(&naive);
                    let expect = if max { want.last() } else { want.first() }.cloned();
                    let got = z.pop(max).map(|(m, s)| (m.to_vec(), s));
                    assert_eq!(got, expect);
                    if let Some((m, _)) = expect {
                        naive.remove(&m);
                    }
                }
                2 if naive.contains_key(&member) => {
                    // A small nudge, as ZINCRBY: mostly moved in place.
                    let old = naive[&member];
                    let nudged = old + [-0.5, -0.25, 0.25, 0.5][(rng.next() % 4) as usize];
                    assert!(!z.insert(Str::new(&member), nudged));
                    naive.insert(member, nudged);
                }
                _ => {
                    let new = z.insert(Str::new(&member), score);
                    assert_eq!(new, naive.insert(member, score).is_none());
                }
            }
            if step.is_multiple_of(50) {
                let want = naive_sorted(&naive);
                check(&z, &want);
                // first rank with score >= bound, as a monotone predicate
                let bound = (rng.next() % 40) as f64 - 20.0;
                let expect = want.iter().filter(|(_, s)| *s < bound).count();
                assert_eq!(z.rank_where(|s, _| s < bound), expect);
                assert_eq!(z.rank_where_score(|s| s < bound), expect);
                let le = want.iter().filter(|(_, s)| *s <= bound).count();
                assert_eq!(z.rank_where_score(|s| s <= bound), le);
            }
        }
        let want = naive_sorted(&naive);
        check(&z, &want);
        while z.pop(false).is_some() {}
        check(&z, &[]);
        assert_eq!(z.level, 1);
        // The emptied arena starts over cleanly.
        assert_eq!(z.nodes.len(), 1);
        let mut again = Vec::new();
        for i in 0..50u32 {
            let m = format!("x{i:02}").into_bytes();
            z.insert(Str::new(&m), f64::from(i % 5));
            again.push((m, f64::from(i % 5)));
        }
        again.sort_by(|a, b| a.1.partial_cmp(&b.1).unwrap().then_with(|| a.0.cmp(&b.0)));
        check(&z, &again);
    }

    #[test]
    fn lex_bound_rank_on_equal_scores() {
        let mut z = ZSet::new();
        for m in ["a", "b", "c", "d", "e"] {
            z.insert(Str::from(m), 0.0);
        }
        assert_eq!(z.rank_where(|_, m| m < &b"c"[..]), 2);
        assert_eq!(z.rank_where(|_, m| m <= &b"c"[..]), 3);
        let from_c: Vec<&[u8]> = z.iter_from(2, false).map(|(m, _)| &m[..]).collect();
        assert_eq!(from_c, [&b"c"[..], b"d", b"e"]);
        assert!(!z.insert(Str::from("c"), 10.0));
        assert_eq!(z.rank(b"c"), Some(4));
        assert_eq!(
            z.get_by_rank(0).map(|(m, _)| m.to_vec()),
            Some(b"a".to_vec())
        );
        assert!(z.iter_from(99, false).next().is_none());
    }

    /// Scale check, run by hand: `cargo test --release -p spindle-kv zset_scale -- --ignored
    /// --nocapture`. Every operation stays logarithmic at a million members.
    #[test]
    #[ignore]
    fn zset_scale() {
        let n = 1_000_000u64;
        let mut rng = Rng(42);
        let mut z = ZSet::new();
        let t = std::time::Instant::now();
        for i in 0..n {
            z.insert(
                Str::new(format!("member:{i}").as_bytes()),
                (rng.next() % 1000) as f64,
            );
        }
        let insert = t.elapsed();
        let t = std::time::Instant::now();
        let mut sum = 0usize;
        for i in 0..n {
            sum += z.rank(format!("member:{i}").as_bytes()).unwrap();
        }
        let rank = t.elapsed();
        let t = std::time::Instant::now();
        for i in 0..n {
            sum += z.score(format!("member:{i}").as_bytes()).unwrap() as usize;
        }
        let lookup = t.elapsed();
        let t = std::time::Instant::now();
        for r in (0..n as usize).step_by(7) {
            sum += z.get_by_rank(r).map_or(0, |(m, _)| m.len());
        }
        let by_rank = t.elapsed();
        let t = std::time::Instant::now();
        for i in 0..n {
            assert!(z.remove(format!("member:{i}").as_bytes()));
        }
        let remove = t.elapsed();
        println!(
            "{n} members: insert {insert:?}, rank {rank:?} (hash lookup alone {lookup:?}), by rank (n/7) {by_rank:?}, remove {remove:?} ({sum})"
        );
    }
}
