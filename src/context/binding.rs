//! A summary's names as a policy numbers them: each category and product the customer has,
//! with its number among the policy's categories or products, kept as events are observed, so
//! that a decision reads the numbers rather than looking every name up.
//!
//! The numbers belong to one policy's names, told by their fingerprint
//! ([`Numbering::fingerprint`]): a decision under a policy with other names looks the names up
//! as if there were no binding, and the next event observed under it numbers them again.
//!
//! The numbers are stored with the summary, with a check of the names they number in their
//! order ([`StoredBinding`]): read back for maps in another order (a store that sorts object
//! keys, or edited by hand), they are dropped rather than misread.

use serde::{Deserialize, Serialize};

use crate::policy::topic_hash64;

/// What numbers a summary's names: a compiled policy's categories and products.
pub(crate) trait Numbering {
    /// A fingerprint of the names and their numbers (never 0, which stands for no policy):
    /// two policies with the same fingerprint number every name alike.
    fn fingerprint(&self) -> u64;
    /// The number of category `name`, if the policy has it.
    fn category(&self, name: &str) -> Option<usize>;
    /// The number of product `name`, if the policy has it.
    fn product(&self, name: &str) -> Option<usize>;
}

/// A hash of `lists` of names, in order: [`topic_hash64`] of each name (stable: it never
/// changes) and each list's length, folded in order. Never 0. Equal hashes mean equal lists,
/// but for about one chance in 2^64.
pub(crate) fn names_hash(lists: &mut [&mut dyn ExactSizeIterator<Item = &str>]) -> u64 {
    let hash = lists.iter_mut().fold(0, |hash, names| {
        let hash = mix(hash, names.len() as u64);
        names.fold(hash, |hash, name| mix(hash, topic_hash64(name)))
    });
    hash.max(1)
}

/// One word folded into a hash.
fn mix(hash: u64, word: u64) -> u64 {
    // The golden-ratio constant of Fibonacci hashing: odd, with well-spread bits.
    const K: u64 = 0x9E37_79B9_7F4A_7C15;
    (hash.rotate_left(5) ^ word).wrapping_mul(K)
}

/// The check a stored binding keeps: the [`names_hash`] of the summary's categories and
/// products (its names, in its order), with the binding's numbers folded in.
fn check<'n>(
    categories: &mut dyn ExactSizeIterator<Item = &'n str>,
    products: &mut dyn ExactSizeIterator<Item = &'n str>,
    numbers: [&[u32]; 2],
) -> u64 {
    let names = names_hash(&mut [categories, products]);
    numbers
        .iter()
        .flat_map(|list| list.iter())
        .fold(names, |hash, &number| mix(hash, u64::from(number)))
}

/// A name the policy does not have.
const UNNUMBERED: u32 = u32::MAX;

/// The numbers of a summary's categories and products, in the summary's order, for the policy
/// with the fingerprint (0 and empty: bound to none).
///
/// A cache of what a policy makes of the summary, not part of the customer's data: two
/// summaries are equal whatever they are bound to (`PartialEq` always holds).
#[derive(Debug, Clone, Default)]
pub(crate) struct Binding {
    fingerprint: u64,
    categories: Vec<u32>,
    products: Vec<u32>,
}

/// A [`Binding`] as stored: its numbers, and a [`check`] of them with the names they number.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct StoredBinding<N> {
    fingerprint: u64,
    check: u64,
    categories: N,
    products: N,
}

impl PartialEq for Binding {
    fn eq(&self, _: &Binding) -> bool {
        true
    }
}

/// A number as the binding keeps it (a policy has far fewer than `u32::MAX` names).
fn number(id: Option<usize>) -> u32 {
    id.and_then(|id| u32::try_from(id).ok())
        .unwrap_or(UNNUMBERED)
}

impl Binding {
    /// Whether it is bound to no policy (then it is not stored).
    pub(crate) fn is_unbound(&self) -> bool {
        self.fingerprint == 0
    }

    /// The binding to store, for a summary with `categories` and `products` (its names, in
    /// its order); `None` when bound to no policy. **O(names)**.
    pub(crate) fn to_stored<'n>(
        &self,
        mut categories: impl ExactSizeIterator<Item = &'n str>,
        mut products: impl ExactSizeIterator<Item = &'n str>,
    ) -> Option<StoredBinding<&[u32]>> {
        let numbers = [self.categories.as_slice(), self.products.as_slice()];
        (!self.is_unbound()).then(|| StoredBinding {
            fingerprint: self.fingerprint,
            check: check(&mut categories, &mut products, numbers),
            categories: numbers[0],
            products: numbers[1],
        })
    }

    /// The binding `stored` for a summary read back with `categories` and `products` (its
    /// names, in its order): bound as stored if it numbers these names in this order (and its
    /// numbers are as stored), else bound to no policy. **O(names)**.
    pub(crate) fn from_stored<'n>(
        stored: StoredBinding<Vec<u32>>,
        mut categories: impl ExactSizeIterator<Item = &'n str>,
        mut products: impl ExactSizeIterator<Item = &'n str>,
    ) -> Binding {
        let numbers = [stored.categories.as_slice(), stored.products.as_slice()];
        let aligned = numbers[0].len() == categories.len()
            && numbers[1].len() == products.len()
            && stored.check == check(&mut categories, &mut products, numbers);
        if !aligned {
            return Binding::default();
        }
        Binding {
            fingerprint: stored.fingerprint,
            categories: stored.categories,
            products: stored.products,
        }
    }

    /// Bound to `numbering`, with `categories` and `products` (the summary's names, in its
    /// order) numbered again unless they are bound to it already. **O(names)** look-ups when
    /// they are numbered, **O(1)** otherwise.
    pub(crate) fn bind<'n>(
        &mut self,
        numbering: &dyn Numbering,
        categories: impl ExactSizeIterator<Item = &'n str>,
        products: impl ExactSizeIterator<Item = &'n str>,
    ) {
        if self.fingerprint == numbering.fingerprint()
            && self.categories.len() == categories.len()
            && self.products.len() == products.len()
        {
            return;
        }
        self.fingerprint = numbering.fingerprint();
        self.categories = categories.map(|c| number(numbering.category(c))).collect();
        self.products = products.map(|p| number(numbering.product(p))).collect();
    }

    /// Bound to no policy: what changes the names under no numbering does.
    pub(crate) fn unbind(&mut self) {
        *self = Binding::default();
    }

    /// The summary's new category `name`, added after the others (unbinds it under no
    /// numbering, or another one than it is bound to).
    pub(crate) fn push_category(&mut self, numbering: Option<&dyn Numbering>, name: &str) {
        match numbering.filter(|n| n.fingerprint() == self.fingerprint) {
            Some(numbering) => self.categories.push(number(numbering.category(name))),
            None => self.unbind(),
        }
    }

    /// The summary's new product `name`, added after the others (as
    /// [`Binding::push_category`]).
    pub(crate) fn push_product(&mut self, numbering: Option<&dyn Numbering>, name: &str) {
        match numbering.filter(|n| n.fingerprint() == self.fingerprint) {
            Some(numbering) => self.products.push(number(numbering.product(name))),
            None => self.unbind(),
        }
    }

    /// The summary's product at `index` removed, the last one put in its place (as
    /// `IndexMap::swap_remove_index` does).
    pub(crate) fn swap_remove_product(&mut self, index: usize) {
        if index < self.products.len() {
            self.products.swap_remove(index);
        } else {
            self.unbind();
        }
    }

    /// The numbers of the summary's `count` categories, if it is bound to the policy with
    /// `fingerprint` (and has a number for each).
    #[inline]
    pub(crate) fn categories(&self, fingerprint: u64, count: usize) -> Option<&[u32]> {
        (self.fingerprint == fingerprint && self.categories.len() == count)
            .then_some(&self.categories)
    }

    /// The numbers of the summary's `count` products (as [`Binding::categories`]).
    #[inline]
    pub(crate) fn products(&self, fingerprint: u64, count: usize) -> Option<&[u32]> {
        (self.fingerprint == fingerprint && self.products.len() == count).then_some(&self.products)
    }
}

/// A number read from a binding: `None` for a name the policy does not have.
#[inline(always)]
pub(crate) fn numbered(number: u32) -> Option<usize> {
    (number != UNNUMBERED).then_some(number as usize)
}
