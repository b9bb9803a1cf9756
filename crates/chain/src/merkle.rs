//! The Merkle tree over a block's vote ids, so a receipt can prove a vote is in a block with a
//! short path instead of the whole block.
//!
//! Leaves are `SHA-256(0x00 ‖ vote id)`, inner nodes `SHA-256(0x01 ‖ left ‖ right)` (the prefixes
//! keep a leaf from passing for a node). Each level pairs nodes left to right; an odd last node is
//! carried up unchanged, never duplicated, so no two different vote lists share a root. The root of
//! no votes is `SHA-256("")`.

use crate::hash::{sha256, Hash};

fn leaf(id: &Hash) -> Hash {
    sha256(&[&[0x00], &id.0])
}

fn node(left: &Hash, right: &Hash) -> Hash {
    sha256(&[&[0x01], &left.0, &right.0])
}

fn next_level(level: &[Hash]) -> Vec<Hash> {
    level
        .chunks(2)
        .map(|pair| match pair {
            [l, r] => node(l, r),
            [single] => *single,
            _ => unreachable!("chunks(2) yields one or two items"),
        })
        .collect()
}

/// The root over `ids` in order.
pub fn root(ids: &[Hash]) -> Hash {
    if ids.is_empty() {
        return sha256(&[]);
    }
    let mut level: Vec<Hash> = ids.iter().map(leaf).collect();
    while level.len() > 1 {
        level = next_level(&level);
    }
    level[0]
}

/// The sibling hashes from leaf `index` up to the root (levels where the node is carried up have
/// no sibling and add nothing). `None` when `index` is out of range.
pub fn proof(ids: &[Hash], index: usize) -> Option<Vec<Hash>> {
    if index >= ids.len() {
        return None;
    }
    let mut path = Vec::new();
    let mut level: Vec<Hash> = ids.iter().map(leaf).collect();
    let mut i = index;
    while level.len() > 1 {
        let sibling = i ^ 1;
        if sibling < level.len() {
            path.push(level[sibling]);
        }
        level = next_level(&level);
        i /= 2;
    }
    Some(path)
}

/// Checks that `id` is leaf `index` of a tree of `n` leaves with root `root`.
pub fn verify(id: &Hash, index: usize, n: usize, path: &[Hash], root: &Hash) -> bool {
    if index >= n {
        return false;
    }
    let mut acc = leaf(id);
    let (mut i, mut width) = (index, n);
    let mut siblings = path.iter();
    while width > 1 {
        let sibling = i ^ 1;
        if sibling < width {
            let Some(s) = siblings.next() else {
                return false;
            };
            acc = if i % 2 == 0 {
                node(&acc, s)
            } else {
                node(s, &acc)
            };
        }
        i /= 2;
        width = width.div_ceil(2);
    }
    siblings.next().is_none() && acc == *root
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(n: usize) -> Vec<Hash> {
        (0..n as u32).map(|i| sha256(&[&i.to_be_bytes()])).collect()
    }

    #[test]
    fn every_leaf_proves_for_every_size() {
        for n in 1..40 {
            let ids = ids(n);
            let r = root(&ids);
            for (i, id) in ids.iter().enumerate() {
                let p = proof(&ids, i).unwrap();
                assert!(verify(id, i, n, &p, &r), "n={n} i={i}");
                assert!(
                    !verify(id, (i + 1) % n, n, &p, &r) || n == 1,
                    "wrong index n={n} i={i}"
                );
                assert!(!verify(&sha256(&[b"x"]), i, n, &p, &r));
            }
            assert!(proof(&ids, n).is_none());
        }
    }

    #[test]
    fn odd_node_is_not_duplicated() {
        let a = ids(3);
        let mut b = a.clone();
        b.push(a[2]);
        assert_ne!(root(&a), root(&b));
        assert_eq!(root(&[]), sha256(&[]));
    }
}
