//! A look-up table for a policy's few keys (its category and product names' keys, its
//! topics' keys), built once when the policy is compiled: each key has a slot of its own,
//! found with one multiplication and one read, no probing. A decision looks up a customer's
//! few names and the pick's topic on every call, and a hash table's probe (hashing, a group
//! match, a compare) costs several times that.

/// Keys, each in a slot of its own with a number.
#[derive(Debug, Clone)]
pub(crate) struct Slots {
    /// Odd: a key's slot is the top bits of `key * multiplier`.
    multiplier: u64,
    /// 64 minus the number of those bits.
    shift: u32,
    /// Per slot: its key's number plus one (0: no key).
    slots: Box<[u32]>,
}

/// Up to how many keys [`Slots::build`] tries to place; past them, callers keep their hash
/// table (the search for a multiplier grows with the square of the keys).
pub(crate) const MAX_KEYS: usize = 64;

/// How many multipliers [`Slots::build`] tries per table size.
const TRIES: usize = 256;

impl Slots {
    /// A table for `keys` (distinct), each with its number: `None` if there are more than
    /// [`MAX_KEYS`], or no multiplier tried puts each in a slot of its own (two equal keys,
    /// or bad luck), for the caller to look them up by hash instead.
    ///
    /// With at least four slots per key, a random multiplier separates n keys with a
    /// probability of about e^(-n/8) (n = 8: 0.37); each size up doubles the slots and
    /// halves the exponent. Deterministic: the multipliers come from a fixed sequence.
    pub(crate) fn build(keys: &[(u64, usize)]) -> Option<Slots> {
        if keys.len() > MAX_KEYS {
            return None;
        }
        let mut seed = 0x243F_6A88_85A3_08D3u64;
        // At least four slots per key, at least two slots (so that the shift is below 64).
        let least = (keys.len() * 4).next_power_of_two().max(2);
        for size in [least, least * 2, least * 4, least * 8] {
            let bits = size.trailing_zeros();
            let mut slots = vec![0u32; size];
            for _ in 0..TRIES {
                let multiplier = next(&mut seed) | 1;
                let shift = 64 - bits;
                slots.fill(0);
                let placed = keys.iter().all(|&(key, number)| {
                    let slot = slot_of(key, multiplier, shift);
                    match (slots.get_mut(slot), u32::try_from(number + 1)) {
                        (Some(entry), Ok(number)) if *entry == 0 => {
                            *entry = number;
                            true
                        }
                        _ => false,
                    }
                });
                if placed {
                    return Some(Slots {
                        multiplier,
                        shift,
                        slots: slots.into_boxed_slice(),
                    });
                }
            }
        }
        None
    }

    /// The number of the key in `key`'s slot, if any: `key`'s own number if it is one of the
    /// keys, any key's (or none) if it is not. The caller compares the keys.
    #[inline(always)]
    pub(crate) fn get(&self, key: u64) -> Option<usize> {
        let entry = *self.slots.get(slot_of(key, self.multiplier, self.shift))?;
        (entry as usize).checked_sub(1)
    }
}

/// The slots of `items`' keys (`key_of` each), numbered by position: for [`position`].
pub(crate) fn of_sorted<T>(items: &[T], key_of: impl Fn(&T) -> u16) -> Option<Slots> {
    let keys: Vec<(u64, usize)> = items
        .iter()
        .enumerate()
        .map(|(at, item)| (u64::from(key_of(item)), at))
        .collect();
    Slots::build(&keys)
}

/// The position of the item whose key is `key` in `items` (sorted by `key_of`, keys
/// distinct): through `slots` ([`of_sorted`]) when they were built, by binary search if not.
#[inline(always)]
pub(crate) fn position<T>(
    slots: Option<&Slots>,
    items: &[T],
    key: u16,
    key_of: impl Fn(&T) -> u16,
) -> Option<usize> {
    match slots {
        Some(slots) => slots
            .get(u64::from(key))
            .filter(|&at| items.get(at).is_some_and(|item| key_of(item) == key)),
        None => items.binary_search_by_key(&key, key_of).ok(),
    }
}

/// `key`'s slot: the top `64 - shift` bits of its product with `multiplier`.
#[inline(always)]
fn slot_of(key: u64, multiplier: u64, shift: u32) -> usize {
    // Below 2^(64 - shift), a table size that fits a usize.
    (key.wrapping_mul(multiplier) >> shift) as usize
}

/// The next number of a splitmix64 sequence.
fn next(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn every_key_finds_its_own_number_and_others_find_another_or_none() {
        for n in [0, 1, 2, 7, 8, 16, 33, 64] {
            // Numbered backwards, to tell numbers from positions.
            let keys: Vec<(u64, usize)> =
                (0..n).map(|k| (k as u64 * 0x1_0001 + 17, n - k)).collect();
            let slots = Slots::build(&keys).expect("a table for up to 64 keys");
            for &(key, number) in &keys {
                assert_eq!(slots.get(key), Some(number), "{n} keys");
            }
            for other in [0u64, 1, u64::MAX, 0x1_0001 * 1000] {
                if let Some(number) = slots.get(other) {
                    assert!(keys.iter().any(|&(key, n)| n == number && key != other));
                }
            }
        }
    }

    proptest! {
        /// Any distinct keys up to 64 (spread out, dense, or differing only in their top bits)
        /// get a table in which each finds its own number, and any other key finds none or
        /// another key's.
        #[test]
        fn any_few_distinct_keys_each_find_their_own_number(
            keys in proptest::collection::hash_set(
                prop_oneof![any::<u64>(), 0..128u64, (0..128u64).prop_map(|k| k << 57)],
                0..=MAX_KEYS,
            ),
            others in proptest::collection::vec(any::<u64>(), 16),
        ) {
            let keys: Vec<(u64, usize)> = keys.into_iter().zip(0..).collect();
            let slots = Slots::build(&keys);
            prop_assert!(slots.is_some(), "no table for {} keys", keys.len());
            let slots = slots.unwrap_or_else(|| unreachable!("asserted just above"));
            for &(key, number) in &keys {
                prop_assert_eq!(slots.get(key), Some(number));
            }
            for other in others.into_iter().filter(|o| keys.iter().all(|&(k, _)| k != *o)) {
                if let Some(number) = slots.get(other) {
                    prop_assert!(keys.iter().any(|&(_, n)| n == number));
                }
            }
        }
    }

    #[test]
    fn equal_keys_or_too_many_have_no_table() {
        assert!(Slots::build(&[(5, 0), (9, 1), (5, 2)]).is_none());
        let many: Vec<(u64, usize)> = (0..=MAX_KEYS).map(|k| (k as u64, k)).collect();
        assert!(Slots::build(&many).is_none());
    }
}
