//! A policy's category or product names, numbered in the order they are first named, and a
//! look-up that suits a decision: it asks for a customer's few names (their categories,
//! favourites, never categories, products), for which a short key per name (its length and up
//! to eight bytes) costs less than hashing the whole name and comparing it in full. A policy's
//! few keys (at most 64) each have a slot of their own ([`Slots`]); more are hashed.

use std::collections::HashMap;
use std::sync::Arc;

use indexmap::IndexSet;

use super::slots::{self, Slots};
use crate::context::numbered;

/// A name's length and up to eight of its bytes: all its bytes when it is at most eight bytes
/// long (so equal keys mean equal names), the first eight when it is longer (equal keys then
/// mean the names must be compared in full).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct NameKey {
    bytes: u64,
    len: usize,
}

impl NameKey {
    /// The key of `name`: for 8 bytes or more, its first eight; for 4 to 7, its first four and
    /// last four bytes (which overlap and together cover it); for 1 to 3, its first, middle and
    /// last bytes (which cover it); for none, zero.
    #[inline]
    fn of(name: &str) -> NameKey {
        let b = name.as_bytes();
        let bytes = if let Some(head) = b.first_chunk::<8>() {
            u64::from_le_bytes(*head)
        } else if let (Some(head), Some(tail)) = (b.first_chunk::<4>(), b.last_chunk::<4>()) {
            u64::from(u32::from_le_bytes(*head)) | u64::from(u32::from_le_bytes(*tail)) << 32
        } else {
            let byte = |at: Option<&u8>| u64::from(at.copied().unwrap_or(0));
            byte(b.first()) | byte(b.get(b.len() / 2)) << 8 | byte(b.last()) << 16
        };
        NameKey {
            bytes,
            len: b.len(),
        }
    }

    /// The key as one number, for [`Slots`] (two keys may share it: a slot's key is compared
    /// in full).
    #[inline(always)]
    fn folded(&self) -> u64 {
        self.bytes ^ (self.len as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15)
    }

    /// Whether the key holds all of its name.
    #[inline]
    fn is_whole(&self) -> bool {
        self.len <= 8
    }
}

/// Numbered names (each once) with their keys.
#[derive(Debug, Clone, Default)]
pub(crate) struct Names {
    set: IndexSet<Arc<str>, foldhash::fast::RandomState>,
    /// By number.
    keys: Vec<NameKey>,
    /// The first number of each key (names longer than eight bytes may share one).
    by_key: HashMap<NameKey, usize, foldhash::fast::RandomState>,
    /// The same, in a slot each, for a policy's few names (`None`: looked up in `by_key`).
    slots: Option<Slots>,
}

impl Names {
    /// The number of `name`, numbering it if it is new.
    pub(crate) fn insert(&mut self, name: &str) -> usize {
        if let Some(id) = self.set.get_index_of(name) {
            return id;
        }
        let key = NameKey::of(name);
        self.by_key.entry(key).or_insert(self.keys.len());
        self.keys.push(key);
        // Built again for each new name (a policy's few; compiled once).
        self.slots = None;
        if self.by_key.len() <= slots::MAX_KEYS {
            let firsts: Vec<(u64, usize)> = self
                .by_key
                .iter()
                .map(|(key, &id)| (key.folded(), id))
                .collect();
            self.slots = Slots::build(&firsts);
        }
        self.set.insert_full(name.into()).0
    }

    /// The number of `name`, if it is one of these: its key looked up, in its slot or by hash
    /// (**O(1)**; a name longer than eight bytes is then compared in full with the names of
    /// its key).
    #[inline]
    pub(crate) fn index_of(&self, name: &str) -> Option<usize> {
        let key = NameKey::of(name);
        let id = match &self.slots {
            Some(slots) => slots
                .get(key.folded())
                .filter(|&id| self.keys.get(id) == Some(&key))?,
            None => *self.by_key.get(&key)?,
        };
        match key.is_whole() {
            true => Some(id),
            false => self.find_long(id, name),
        }
    }

    /// The number of `name`, a name longer than eight bytes whose key is first found at `id`:
    /// compared in full with the names of its key from there (out of the scan's way).
    #[inline(never)]
    fn find_long(&self, id: usize, name: &str) -> Option<usize> {
        let key = self.keys.get(id)?;
        (id..self.keys.len()).find(|&other| {
            self.keys.get(other) == Some(key)
                && self.set.get_index(other).is_some_and(|n| **n == *name)
        })
    }

    /// Pairs a customer's named entries with these names, walking whichever side costs less:
    /// `mine` (`count` entries), each numbered by `numbers` (their numbers among these names,
    /// in the same order: the customer's summary keeps them when it was observed under this
    /// policy) or else looked up here by key, or each of these names looked up with `theirs`.
    /// Calls `each` with the number and value of every name on both sides. **O(min(count, n))**
    /// look-ups for these n names, or **O(min(count, 8n))** reads and **O(n)** look-ups at
    /// most when `mine` are numbered.
    #[inline]
    pub(crate) fn join<'a, V>(
        &self,
        (count, mine): (usize, impl Iterator<Item = (&'a str, V)>),
        numbers: Option<&[u32]>,
        theirs: impl Fn(&str) -> Option<V>,
        mut each: impl FnMut(usize, V),
    ) {
        /// How many numbered entries cost about one look-up (a hash or key, a probe and a
        /// comparison, against a read and a comparison).
        const NUMBERED_PER_LOOK_UP: usize = 8;
        match numbers {
            Some(numbers) if count <= self.len().saturating_mul(NUMBERED_PER_LOOK_UP) => {
                for ((name, value), &number) in mine.zip(numbers) {
                    debug_assert_eq!(numbered(number), self.index_of(name), "{name}");
                    if let Some(id) = numbered(number) {
                        each(id, value);
                    }
                }
            }
            None if count <= self.len() => {
                for (name, value) in mine {
                    if let Some(id) = self.index_of(name) {
                        each(id, value);
                    }
                }
            }
            _ => {
                for (id, name) in self.iter().enumerate() {
                    if let Some(value) = theirs(name) {
                        each(id, value);
                    }
                }
            }
        }
    }

    /// The name numbered `id`.
    pub(crate) fn get(&self, id: usize) -> Option<&Arc<str>> {
        self.set.get_index(id)
    }

    /// How many names there are.
    #[inline]
    pub(crate) fn len(&self) -> usize {
        self.keys.len()
    }

    /// Whether there are none.
    #[inline]
    pub(crate) fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// The names, by number.
    pub(crate) fn iter(&self) -> impl ExactSizeIterator<Item = &str> + '_ {
        self.set.iter().map(|name| &**name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_tell_short_names_apart_and_leave_long_ones_to_a_full_comparison() {
        let names = [
            "",
            "a",
            "b",
            "ab",
            "ba",
            "abc",
            "acb",
            "abcd",
            "abce",
            "abcde",
            "abdde",
            "abcdefg",
            "abcdxfg",
            "abcdefgh",
            "abcdefgi",
            "abcdefghi",
            "abcdefghj",
            "abcdefgh-long",
        ];
        for a in names {
            for b in names {
                let (ka, kb) = (NameKey::of(a), NameKey::of(b));
                if ka.is_whole() {
                    assert_eq!(ka == kb, a == b, "{a:?} {b:?}");
                } else if a == b {
                    assert_eq!(ka, kb);
                }
            }
        }
    }

    #[test]
    fn a_name_is_found_by_its_number_among_few_or_many() {
        for count in [0, 1, 5, 32, 33, 100, 1000] {
            let mut names = Names::default();
            // Long names sharing their first eight bytes, and short ones.
            let name = |i: usize| {
                if i % 2 == 0 {
                    format!("category-{i}")
                } else {
                    format!("c{i}")
                }
            };
            for i in 0..count {
                assert_eq!(names.insert(&name(i)), i);
            }
            if count > 0 {
                assert_eq!(names.insert(&name(0)), 0, "a name is numbered once");
            }
            assert_eq!(names.len(), count);
            for i in 0..count {
                assert_eq!(names.index_of(&name(i)), Some(i));
                assert_eq!(names.get(i).map(|n| &**n), Some(name(i).as_str()));
            }
            for missing in ["category-", "category-1000", "c", "c1000", "", "categories"] {
                assert_eq!(names.index_of(missing), None, "{missing}");
            }
        }
    }

    #[test]
    fn a_join_pairs_the_same_names_whichever_side_it_walks() {
        let mut names = Names::default();
        for i in 0..4 {
            names.insert(&format!("n{i}"));
        }
        // Fewer, as many, more and many more names than the policy's (past 8x its four), the
        // first four of them the policy's.
        for count in [0, 2, 4, 5, 32, 33, 100] {
            let mine: Vec<String> = (0..count).map(|i| format!("n{i}")).collect();
            let numbers: Vec<u32> = mine
                .iter()
                .map(|m| names.index_of(m).map_or(u32::MAX, |id| id as u32))
                .collect();
            let pairs = |numbers: Option<&[u32]>| {
                let mut pairs = Vec::new();
                names.join(
                    (mine.len(), mine.iter().map(String::as_str).zip(0..)),
                    numbers,
                    |name| mine.iter().position(|m| m == name),
                    |id, at| pairs.push((id, at)),
                );
                pairs.sort_unstable();
                pairs
            };
            let expected: Vec<(usize, usize)> = (0..count.min(4)).map(|i| (i, i)).collect();
            assert_eq!(pairs(None), expected, "{count} names, looked up");
            assert_eq!(pairs(Some(&numbers)), expected, "{count} names, numbered");
        }
    }
}
