//! A policy's category or product names, numbered in the order they are first named, and a
//! look-up that suits a decision: it asks for a customer's few names (their categories,
//! favourites, never categories, products), for which a short key per name, found in a small
//! table of keys, costs less than hashing the name (and comparing it in full).

use std::sync::Arc;

use indexmap::IndexSet;

/// A name's length and up to eight of its bytes: all its bytes when it is at most eight bytes
/// long (so equal keys mean equal names), the first eight when it is longer (equal keys then
/// mean the names must be compared in full).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
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

    /// Whether the key holds all of its name.
    #[inline]
    fn is_whole(&self) -> bool {
        self.len <= 8
    }

    /// Where the key's probe starts in a table of `1 << (64 - shift)` slots: the top bits of
    /// a multiplicative hash of its bytes and length.
    #[inline]
    fn slot(&self, shift: u32) -> usize {
        let mixed = (self.bytes ^ self.len as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        // The slot is below the table's length, which is a usize.
        (mixed >> shift) as usize
    }
}

/// The names' numbers by key: an open-addressing table of `slots` (a power of two, at least
/// twice the names, so a probe always meets an empty slot), each the number of a name plus
/// one (0: empty), probed from [`NameKey::slot`] onwards.
#[derive(Debug, Clone, Default)]
struct KeyTable {
    slots: Vec<u32>,
    /// 64 minus the log2 of the slots' count.
    shift: u32,
}

impl KeyTable {
    /// Adds the last of `keys` (by number), first growing the table to twice the names' count
    /// if it is not that large (rebuilt from `keys`: amortized **O(1)** per name).
    fn push(&mut self, keys: &[NameKey]) {
        let wanted = (keys.len() * 2).next_power_of_two();
        if self.slots.len() < wanted {
            self.slots = vec![0; wanted];
            self.shift = 64 - wanted.trailing_zeros();
            for id in 0..keys.len() {
                self.place(keys, id);
            }
        } else {
            self.place(keys, keys.len() - 1);
        }
    }

    /// Puts name `id` of `keys` (stored as `id + 1`) in the first empty slot of its probe.
    fn place(&mut self, keys: &[NameKey], id: usize) {
        let (Some(key), Ok(stored)) = (keys.get(id), u32::try_from(id + 1)) else {
            // Not reached: `id` is one of `keys`, and names number fewer than a policy's bytes.
            return;
        };
        let mask = self.slots.len() - 1;
        let mut at = key.slot(self.shift);
        while self.slots.get(at).is_some_and(|slot| *slot != 0) {
            at = (at + 1) & mask;
        }
        if let Some(slot) = self.slots.get_mut(at) {
            *slot = stored;
        }
    }
}

/// Numbered names (each once) with their keys.
#[derive(Debug, Clone, Default)]
pub(crate) struct Names {
    set: IndexSet<Arc<str>, foldhash::fast::RandomState>,
    /// By number.
    keys: Vec<NameKey>,
    /// The numbers by key.
    table: KeyTable,
}

impl Names {
    /// The number of `name`, numbering it if it is new.
    pub(crate) fn insert(&mut self, name: &str) -> usize {
        if let Some(id) = self.set.get_index_of(name) {
            return id;
        }
        self.keys.push(NameKey::of(name));
        self.table.push(&self.keys);
        self.set.insert_full(name.into()).0
    }

    /// The number of `name`, if it is one of these: its key found in the table of keys
    /// (**O(1)**, a few instructions; a name longer than eight bytes is compared in full only
    /// with names of its key).
    #[inline(always)]
    pub(crate) fn index_of(&self, name: &str) -> Option<usize> {
        let key = NameKey::of(name);
        let slots = &self.table.slots;
        let mask = slots.len().wrapping_sub(1);
        let mut at = key.slot(self.table.shift);
        // At most every slot; an empty one ends the probe well before (see `KeyTable`).
        for _ in 0..slots.len() {
            let id = (*slots.get(at)? as usize).checked_sub(1)?;
            if self.keys.get(id) == Some(&key) && (key.is_whole() || self.is_named(id, name)) {
                return Some(id);
            }
            at = (at + 1) & mask;
        }
        None
    }

    /// Whether name `id` is `name` (compared in full: out of the look-up's way).
    #[inline(never)]
    fn is_named(&self, id: usize, name: &str) -> bool {
        self.set.get_index(id).is_some_and(|n| **n == *name)
    }

    /// Pairs a customer's named entries with these names, walking whichever side has fewer:
    /// `mine` (`count` entries) each looked up here by key, or each of these names looked up
    /// with `theirs`. Calls `each` with the number and value of every name on both sides.
    /// **O(min(count, n))** look-ups for these n names.
    #[inline]
    pub(crate) fn join<'a, V>(
        &self,
        (count, mine): (usize, impl Iterator<Item = (&'a str, V)>),
        theirs: impl Fn(&str) -> Option<V>,
        mut each: impl FnMut(usize, V),
    ) {
        if count <= self.len() {
            for (name, value) in mine {
                if let Some(id) = self.index_of(name) {
                    each(id, value);
                }
            }
        } else {
            for (id, name) in self.iter().enumerate() {
                if let Some(value) = theirs(name) {
                    each(id, value);
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
    pub(crate) fn iter(&self) -> impl Iterator<Item = &str> + '_ {
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
}
