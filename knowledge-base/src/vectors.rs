//! Brute-force vector search over one contiguous `f32` matrix (row-major, [`DIM`] columns).
//! Rows are tombstoned on removal and the matrix is compacted when a quarter of it is dead.

use std::cmp::Ordering;
use std::collections::BinaryHeap;

use schema::Language;

use crate::embed::DIM;

/// The dot product of two equal-length slices, written with eight independent accumulators so
/// the compiler vectorises it.
#[must_use]
pub(crate) fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [0f32; 8];
    let (ca, cb) = (a.chunks_exact(8), b.chunks_exact(8));
    let (ra, rb) = (ca.remainder(), cb.remainder());
    for (x, y) in ca.zip(cb) {
        for i in 0..8 {
            acc[i] += x[i] * y[i];
        }
    }
    let mut sum: f32 = acc.iter().sum();
    for (x, y) in ra.iter().zip(rb) {
        sum += x * y;
    }
    sum
}

#[derive(Clone, Copy, Debug)]
struct RowMeta {
    slot: u64,
    /// What the row embeds: see `Entry::rows` in `index.rs`.
    part: u32,
    language: Language,
    alive: bool,
}

/// The best row of one document for a query.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct VectorHit {
    pub slot: u64,
    pub part: u32,
    pub similarity: f32,
}

#[derive(Debug, Default)]
pub(crate) struct VectorStore {
    data: Vec<f32>,
    rows: Vec<RowMeta>,
    dead: usize,
}

#[derive(PartialEq)]
struct MinSim(f32, usize);
impl Eq for MinSim {}
impl PartialOrd for MinSim {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for MinSim {
    // Reversed so that a `BinaryHeap` keeps the smallest similarity on top.
    fn cmp(&self, other: &Self) -> Ordering {
        other.0.total_cmp(&self.0).then(other.1.cmp(&self.1))
    }
}

impl VectorStore {
    pub fn len(&self) -> usize {
        self.rows.len() - self.dead
    }

    /// Appends rows; returns their indices. Each vector must have [`DIM`] floats.
    pub fn push(&mut self, slot: u64, language: Language, vectors: &[(u32, Vec<f32>)]) -> Vec<usize> {
        let mut out = Vec::with_capacity(vectors.len());
        for (part, v) in vectors {
            debug_assert_eq!(v.len(), DIM);
            out.push(self.rows.len());
            self.rows.push(RowMeta { slot, part: *part, language, alive: true });
            self.data.extend_from_slice(v);
        }
        out
    }

    pub fn row(&self, row: usize) -> &[f32] {
        &self.data[row * DIM..(row + 1) * DIM]
    }

    /// Tombstones rows. Returns true when the caller should compact.
    pub fn kill(&mut self, rows: &[usize]) -> bool {
        for &r in rows {
            if let Some(m) = self.rows.get_mut(r)
                && m.alive
            {
                m.alive = false;
                self.dead += 1;
            }
        }
        self.dead > 1024 && self.dead * 4 > self.rows.len()
    }

    /// Drops dead rows; returns the new index of every old row (`None` for dead ones).
    pub fn compact(&mut self) -> Vec<Option<usize>> {
        let mut map = vec![None; self.rows.len()];
        let mut next = 0;
        for (old, slot) in map.iter_mut().enumerate() {
            let meta = self.rows[old];
            if meta.alive {
                if old != next {
                    self.data.copy_within(old * DIM..(old + 1) * DIM, next * DIM);
                    self.rows[next] = meta;
                }
                *slot = Some(next);
                next += 1;
            }
        }
        self.rows.truncate(next);
        self.data.truncate(next * DIM);
        self.dead = 0;
        map
    }

    /// The `k` documents whose best row is most similar to `query`, best first.
    pub fn search(&self, query: &[f32], language: Option<Language>, k: usize) -> Vec<VectorHit> {
        if k == 0 || query.len() != DIM {
            return Vec::new();
        }
        // Documents with several rows may fill several places, so keep more rows than documents.
        let keep = k * 4;
        let mut heap: BinaryHeap<MinSim> = BinaryHeap::with_capacity(keep + 1);
        for (i, (meta, row)) in self.rows.iter().zip(self.data.chunks_exact(DIM)).enumerate() {
            if !meta.alive || language.is_some_and(|l| l != meta.language) {
                continue;
            }
            let s = dot(query, row);
            if heap.len() < keep {
                heap.push(MinSim(s, i));
            } else if heap.peek().is_some_and(|min| s > min.0) {
                heap.pop();
                heap.push(MinSim(s, i));
            }
        }
        let mut rows = heap.into_vec();
        rows.sort_by(|a, b| b.0.total_cmp(&a.0));
        let mut out: Vec<VectorHit> = Vec::with_capacity(k);
        for MinSim(similarity, i) in rows {
            let meta = self.rows[i];
            if out.iter().any(|h| h.slot == meta.slot) {
                continue;
            }
            out.push(VectorHit { slot: meta.slot, part: meta.part, similarity });
            if out.len() == k {
                break;
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unit(seed: usize) -> Vec<f32> {
        let mut v: Vec<f32> = (0..DIM).map(|i| ((i * 7 + seed * 13) % 17) as f32 - 8.0).collect();
        let n = dot(&v, &v).sqrt();
        v.iter_mut().for_each(|x| *x /= n);
        v
    }

    #[test]
    fn finds_the_same_vector_first_and_forgets_killed_rows_after_compaction() {
        let mut s = VectorStore::default();
        let mut rows = Vec::new();
        for slot in 0..20u64 {
            rows.push(s.push(slot, Language::En, &[(0, unit(slot as usize))]));
        }
        let hits = s.search(&unit(5), None, 3);
        assert_eq!(hits[0].slot, 5);
        assert!((hits[0].similarity - 1.0).abs() < 1e-5);
        s.kill(&rows[5]);
        assert!(s.search(&unit(5), None, 3).iter().all(|h| h.slot != 5));
        let map = s.compact();
        assert_eq!(map[5], None);
        assert_eq!(map[6], Some(5));
        assert_eq!(s.len(), 19);
        assert_eq!(s.search(&unit(6), None, 1)[0].slot, 6);
        assert!(s.search(&unit(6), Some(Language::Es), 1).is_empty());
    }
}
