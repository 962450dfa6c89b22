//! Vector search over one contiguous `f32` matrix (row-major, [`DIM`] columns). Rows are
//! tombstoned on removal and the matrix is compacted when a quarter of it is dead.
//!
//! Below [`IVF_MIN_ROWS`] rows the search is an exact scan. A full scan of 100,000 rows reads
//! 150 MB per query (measured p50 15 ms, p99 30 ms on the 2-core machine), so from
//! [`IVF_MIN_ROWS`] on an inverted file index (IVF) is used: spherical k-means puts the rows into
//! about √n clusters, a query scans the rows of its closest clusters until it has seen about 1 row in 12, and the
//! clusters are retrained when the matrix has doubled since the last training. New rows are
//! assigned to their closest cluster as they come. This is approximate: a nearest row in an
//! unprobed cluster is missed.

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

/// From this many rows on, search through the IVF clusters instead of scanning everything.
pub(crate) const IVF_MIN_ROWS: usize = 20_000;
/// Rows sampled to train the clusters.
const IVF_SAMPLE: usize = 16_384;
const IVF_ITERATIONS: usize = 6;
const NO_CLUSTER: u32 = u32::MAX;

#[derive(Debug)]
struct Ivf {
    centroids: Vec<f32>,
    /// Per cluster: its rows, and a copy of their vectors stored together so that scanning a
    /// cluster reads memory sequentially (scattered rows were measured 4x slower per row).
    lists: Vec<Vec<u32>>,
    list_data: Vec<Vec<f32>>,
    trained_on: usize,
}

impl Ivf {
    fn nearest(&self, v: &[f32]) -> u32 {
        let mut best = (0u32, f32::MIN);
        for (i, c) in self.centroids.chunks_exact(DIM).enumerate() {
            let s = dot(v, c);
            if s > best.1 {
                best = (u32::try_from(i).unwrap_or(0), s);
            }
        }
        best.0
    }

    fn min_probes(&self) -> usize {
        4.min(self.lists.len())
    }
}

fn normalise(v: &mut [f32]) {
    let n = dot(v, v).sqrt();
    if n > 0.0 {
        v.iter_mut().for_each(|x| *x /= n);
    }
}

#[derive(Clone, Copy, Debug)]
struct RowMeta {
    slot: u64,
    cluster: u32,
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

#[derive(Debug)]
pub(crate) struct VectorStore {
    data: Vec<f32>,
    rows: Vec<RowMeta>,
    dead: usize,
    ivf: Option<Ivf>,
    ivf_min_rows: usize,
}

impl Default for VectorStore {
    fn default() -> Self {
        Self { data: Vec::new(), rows: Vec::new(), dead: 0, ivf: None, ivf_min_rows: IVF_MIN_ROWS }
    }
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
            let row = self.rows.len();
            out.push(row);
            let cluster = match &mut self.ivf {
                Some(ivf) => {
                    let c = ivf.nearest(v);
                    ivf.lists[c as usize].push(u32::try_from(row).unwrap_or(u32::MAX));
                    ivf.list_data[c as usize].extend_from_slice(v);
                    c
                }
                None => NO_CLUSTER,
            };
            self.rows.push(RowMeta { slot, cluster, part: *part, language, alive: true });
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
        if let Some(ivf) = &mut self.ivf {
            ivf.lists.iter_mut().for_each(Vec::clear);
            ivf.list_data.iter_mut().for_each(Vec::clear);
            for (i, m) in self.rows.iter().enumerate() {
                let c = m.cluster as usize;
                if let (Some(list), Some(data)) = (ivf.lists.get_mut(c), ivf.list_data.get_mut(c)) {
                    list.push(u32::try_from(i).unwrap_or(u32::MAX));
                    data.extend_from_slice(&self.data[i * DIM..(i + 1) * DIM]);
                }
            }
        }
        map
    }

    /// Trains the IVF clusters when there are enough rows and the matrix has doubled since the
    /// last training (or drops them when it shrank below the threshold). Returns whether it trained.
    pub fn maybe_train(&mut self) -> bool {
        let alive = self.len();
        if alive < self.ivf_min_rows {
            if self.ivf.is_some() && alive < self.ivf_min_rows / 2 {
                self.ivf = None;
                self.rows.iter_mut().for_each(|m| m.cluster = NO_CLUSTER);
            }
            return false;
        }
        if self.ivf.as_ref().is_some_and(|ivf| alive < ivf.trained_on * 2) {
            return false;
        }
        self.train();
        true
    }

    fn train(&mut self) {
        let alive: Vec<usize> = (0..self.rows.len()).filter(|&i| self.rows[i].alive).collect();
        let nlist = ((alive.len() as f64).sqrt() as usize).clamp(16, 2048);
        let stride = (alive.len() / IVF_SAMPLE).max(1);
        let sample: Vec<usize> = alive.iter().step_by(stride).copied().collect();
        let cstride = (sample.len() / nlist).max(1);
        let mut centroids: Vec<f32> = Vec::with_capacity(nlist * DIM);
        for &r in sample.iter().step_by(cstride).take(nlist) {
            centroids.extend_from_slice(self.row(r));
        }
        let nlist = centroids.len() / DIM;
        let mut ivf = Ivf {
            centroids,
            lists: vec![Vec::new(); nlist],
            list_data: vec![Vec::new(); nlist],
            trained_on: alive.len(),
        };
        for _ in 0..IVF_ITERATIONS {
            let mut sums = vec![0f32; nlist * DIM];
            let mut counts = vec![0usize; nlist];
            for &r in &sample {
                let c = ivf.nearest(self.row(r)) as usize;
                counts[c] += 1;
                for (s, x) in sums[c * DIM..(c + 1) * DIM].iter_mut().zip(self.row(r)) {
                    *s += x;
                }
            }
            for c in 0..nlist {
                if counts[c] > 0 {
                    let sum = &mut sums[c * DIM..(c + 1) * DIM];
                    normalise(sum);
                    ivf.centroids[c * DIM..(c + 1) * DIM].copy_from_slice(sum);
                }
            }
        }
        for i in 0..self.rows.len() {
            let c = if self.rows[i].alive { ivf.nearest(self.row(i)) } else { NO_CLUSTER };
            self.rows[i].cluster = c;
            if let (Some(list), Some(data)) = (ivf.lists.get_mut(c as usize), ivf.list_data.get_mut(c as usize)) {
                list.push(u32::try_from(i).unwrap_or(u32::MAX));
                data.extend_from_slice(&self.data[i * DIM..(i + 1) * DIM]);
            }
        }
        self.ivf = Some(ivf);
    }

    /// The `k` documents whose best row is most similar to `query`, best first.
    pub fn search(&self, query: &[f32], language: Option<Language>, k: usize) -> Vec<VectorHit> {
        if k == 0 || query.len() != DIM {
            return Vec::new();
        }
        // Documents with several rows may fill several places, so keep more rows than documents.
        let keep = k * 4;
        let mut heap: BinaryHeap<MinSim> = BinaryHeap::with_capacity(keep + 1);
        let mut visit = |i: usize, row: &[f32]| {
            let meta = &self.rows[i];
            if !meta.alive || language.is_some_and(|l| l != meta.language) {
                return;
            }
            let s = dot(query, row);
            if heap.len() < keep {
                heap.push(MinSim(s, i));
            } else if heap.peek().is_some_and(|min| s > min.0) {
                heap.pop();
                heap.push(MinSim(s, i));
            }
        };
        match &self.ivf {
            None => self.data.chunks_exact(DIM).enumerate().for_each(|(i, row)| visit(i, row)),
            Some(ivf) => {
                let mut order: Vec<(f32, usize)> =
                    ivf.centroids.chunks_exact(DIM).map(|c| dot(query, c)).zip(0..).collect();
                order.sort_unstable_by(|a, b| b.0.total_cmp(&a.0));
                // Closest clusters first, until about 1 row in 12 has been visited (clusters are
                // uneven, so a fixed number of clusters would not bound the work).
                let budget = (self.rows.len() / 12).max(1_000);
                let mut visited = 0;
                for (probed, &(_, c)) in order.iter().enumerate() {
                    if probed >= ivf.min_probes() && visited >= budget {
                        break;
                    }
                    visited += ivf.lists[c].len();
                    for (&r, row) in ivf.lists[c].iter().zip(ivf.list_data[c].chunks_exact(DIM)) {
                        visit(r as usize, row);
                    }
                }
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

    #[test]
    fn ivf_finds_exact_neighbours_of_stored_rows() {
        // Points around 40 directions, so clusters are real; a stored row must find itself.
        let mut s = VectorStore { ivf_min_rows: 2_000, ..VectorStore::default() };
        let mut state = 12345u64;
        let mut next = || {
            state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            ((state >> 33) as f32 / (1u64 << 31) as f32) - 0.5
        };
        let centres: Vec<Vec<f32>> = (0..40).map(|_| (0..DIM).map(|_| next()).collect()).collect();
        let mut kept = Vec::new();
        for slot in 0..2_500u64 {
            let c = &centres[(slot % 40) as usize];
            let mut v: Vec<f32> = c.iter().map(|x| x + 0.3 * next()).collect();
            normalise(&mut v);
            if slot % 100 == 0 {
                kept.push((slot, v.clone()));
            }
            s.push(slot, Language::En, &[(0, v)]);
        }
        assert!(s.maybe_train());
        assert!(!s.maybe_train(), "no retraining before the matrix doubles");
        for (slot, v) in &kept {
            assert_eq!(s.search(v, None, 1)[0].slot, *slot);
        }
        // Rows added after training are found too.
        let mut v: Vec<f32> = centres[3].iter().map(|x| x + 0.3 * next()).collect();
        normalise(&mut v);
        s.push(999_999, Language::En, &[(0, v.clone())]);
        assert_eq!(s.search(&v, None, 1)[0].slot, 999_999);
    }
}
