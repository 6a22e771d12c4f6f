//! [`Backlog`]: what recovery hands the queue — each unsettled persistent record's place and
//! body length, without its bytes (a queue reads back only the few it keeps in memory).

use std::vec;

use super::record::Place;

/// A recovered record of one segment: where it is and how long its body is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Entry {
    /// The record's first byte in the segment file.
    pub(crate) offset: u32,
    /// The record's length, header included.
    pub(crate) len: u32,
    /// Its message's body length (what `x-max-length-bytes` counts).
    pub(crate) body_len: u32,
}

/// The unsettled persistent records a log held when opened, in queue order: each one's
/// [`Place`] and body length. Kept per segment (12 bytes a record), so that taking them with
/// [`IntoIterator`] gives each segment's memory back as soon as it is passed.
#[derive(Debug, Default)]
pub(crate) struct Backlog {
    segments: Vec<(u32, Vec<Entry>)>,
    len: usize,
}

impl Backlog {
    /// Adds segment `number`'s records, which follow every record already in.
    pub(crate) fn push_segment(&mut self, number: u32, entries: Vec<Entry>) {
        if !entries.is_empty() {
            self.len += entries.len();
            self.segments.push((number, entries));
        }
    }

    /// How many records.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.len
    }
}

fn place(segment: u32, e: &Entry) -> (Place, u32) {
    let place = Place {
        segment,
        offset: e.offset,
        len: e.len,
    };
    (place, e.body_len)
}

impl IntoIterator for Backlog {
    type Item = (Place, u32);
    type IntoIter = IntoIter;

    fn into_iter(self) -> IntoIter {
        IntoIter {
            segments: self.segments.into_iter(),
            current: None,
            left: self.len,
        }
    }
}

/// A [`Backlog`]'s records taken in order; a segment's entries are freed once passed.
#[derive(Debug)]
pub(crate) struct IntoIter {
    segments: vec::IntoIter<(u32, Vec<Entry>)>,
    current: Option<(u32, vec::IntoIter<Entry>)>,
    left: usize,
}

impl Iterator for IntoIter {
    type Item = (Place, u32);

    fn next(&mut self) -> Option<(Place, u32)> {
        loop {
            if let Some((number, entries)) = &mut self.current {
                if let Some(e) = entries.next() {
                    self.left -= 1;
                    return Some(place(*number, &e));
                }
            }
            // The finished segment's entries are dropped here.
            let (number, entries) = self.segments.next()?;
            self.current = Some((number, entries.into_iter()));
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.left, Some(self.left))
    }
}

impl ExactSizeIterator for IntoIter {}
