// "Recommended for you": ranking images by their nearness to the liked set, from the compact int8 vectors
// (vectors.js). Pure functions over typed arrays, no DOM.
//
// The score of an image v (all vectors re-normalised to unit length, so dot products are cosines):
//
//     score(v) = ALPHA * cos(v, c) + (1 - ALPHA) * max_j cos(v, l_j)          ALPHA = 0.5
//
// c is the liked set's centroid (the normalised mean of the liked vectors l_j), so images like the set as
// a whole rank high; the max term is each liked image's own nearness, so a mixed set (some daisies, some
// tulips) is served too: near a daisy you liked ranks high even when it is far from the centroid, which
// lies between the two kinds. Liked images are never recommended (and the caller may exclude more: those
// already seen).
//
// Cost. The max term takes one dot product per liked image, too many to compute for every image of a big
// map in a frame's time. So when n * (likes + 1) dot products exceed BUDGET, candidates are chosen first
// and only they get the full score:
//   1. every image's centroid score, on the first COARSE_DIMS components above COARSE_ABOVE images (PCA
//      orders them by variance: they carry most of the similarity), on all of them below;
//   2. the best of those (as many as the budget allows, at least MIN_CANDIDATES), plus every image the
//      caller names as near a liked one (its neighbours from the site's neighbour files: the images the
//      max term favours even far from the centroid);
//   3. the exact score of each candidate, and the best k of those.
// Below the budget (up to 5,000 images for 10 likes) every image is scored exactly.

export const ALPHA = 0.5;
export const BUDGET = 55000;         // exact dot products per recommendation (x dims multiply-adds)
export const MIN_CANDIDATES = 2000;
export const COARSE_DIMS = 16;
export const COARSE_ABOVE = 250000;  // images above which the first pass uses COARSE_DIMS components
export const MAX_TERM = 256;         // liked images in the max term (the most recent; all make the centroid)

/** Unit-length float copies of the liked images' vectors and their normalised centroid (null when the
 *  liked vectors cancel out). liked: image indices. */
export function profile({data, norms, dims}, liked) {
  const m = liked.length;
  const first = Math.max(0, m - MAX_TERM); // (the max term: the most recent MAX_TERM likes)
  const likes = new Float64Array(m * dims);
  const sum = new Float64Array(dims);
  let used = 0;
  for (let j = 0; j < m; j++) {
    const i = liked[j], len = norms[i];
    if (!(len > 0)) continue;
    for (let t = 0; t < dims; t++) {
      const x = data[i * dims + t] / len;
      if (j >= first) likes[used * dims + t] = x;
      sum[t] += x;
    }
    if (j >= first) used++;
  }
  let s = 0;
  for (let t = 0; t < dims; t++) s += sum[t] * sum[t];
  s = Math.sqrt(s);
  const centroid = s > 1e-9 ? sum.map((x) => x / s) : null;
  return {likes: likes.subarray(0, used * dims), count: used, centroid};
}

/** The exact score of image i (see the top of this file); -Infinity for an all-zero vector. buf: an
 *  optional Float64Array(dims) to work in. */
export function scoreOf({data, norms, dims}, prof, i, alpha = ALPHA, buf = new Float64Array(dims)) {
  const len = norms[i];
  if (!(len > 0)) return -Infinity;
  const o = i * dims;
  for (let t = 0; t < dims; t++) buf[t] = data[o + t];
  const {likes, count, centroid} = prof;
  let best = -Infinity;
  for (let j = 0, b = 0; j < count; j++, b += dims) {
    const d = dot(buf, likes, b, dims);
    if (d > best) best = d;
  }
  best /= len;
  if (!centroid) return best;
  return alpha * (dot(buf, centroid, 0, dims) / len) + (1 - alpha) * best;
}

/** sum over t < dims of x[t] * y[b + t] (unrolled by 4). */
function dot(x, y, b, dims) {
  let a0 = 0, a1 = 0, a2 = 0, a3 = 0, t = 0;
  for (; t + 3 < dims; t += 4) {
    a0 += x[t] * y[b + t];
    a1 += x[t + 1] * y[b + t + 1];
    a2 += x[t + 2] * y[b + t + 2];
    a3 += x[t + 3] * y[b + t + 3];
  }
  for (; t < dims; t++) a0 += x[t] * y[b + t];
  return a0 + a1 + a2 + a3;
}

/** The value above which `want` of the scores lie (a histogram of 4,096 bins; NaN-free input). */
function threshold(scores, want) {
  let lo = Infinity, hi = -Infinity;
  for (let i = 0; i < scores.length; i++) {
    const v = scores[i];
    if (v === -Infinity) continue;
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  if (!(hi > lo)) return lo;
  const bins = 4096, counts = new Uint32Array(bins), w = bins / (hi - lo);
  for (let i = 0; i < scores.length; i++) {
    const v = scores[i];
    if (v !== -Infinity) counts[Math.min(bins - 1, Math.floor((v - lo) * w))]++;
  }
  let seen = 0;
  for (let b = bins - 1; b >= 0; b--) {
    seen += counts[b];
    if (seen >= want) return lo + b / w;
  }
  return lo;
}

/**
 * The k best images for the liked ones, best first: {indices: Uint32Array, scores: Float32Array, exact}.
 * store: {data: Int8Array(n dims), norms, dims, n}; liked: image indices; exclude(i): true for images never
 * to recommend besides the liked ones (or null); near: image indices to consider whatever their centroid
 * score (the liked images' neighbours). exact: whether every image was scored exactly.
 */
export function recommend(store, liked, k, {exclude = null, near = [], alpha = ALPHA, budget = BUDGET} = {}) {
  const {data, norms, dims, n} = store;
  const skip = new Uint8Array(n);
  for (const i of liked) if (i >= 0 && i < n) skip[i] = 1;
  if (exclude) for (let i = 0; i < n; i++) if (!skip[i] && exclude(i)) skip[i] = 1;
  const prof = profile(store, Array.from(liked).filter((i) => i >= 0 && i < n));
  k = Math.max(0, Math.floor(k));
  if (!prof.count || !k) return {indices: new Uint32Array(0), scores: new Float32Array(0), exact: true};

  let candidates;
  const want = Math.max(MIN_CANDIDATES, 2 * k, Math.floor(budget / (prof.count + 1)));
  const exact = want >= n;
  if (exact) {
    candidates = [];
    for (let i = 0; i < n; i++) if (!skip[i]) candidates.push(i);
  } else {
    // 1. the centroid score of every image (on the leading components of a big map)
    const c = prof.centroid || prof.likes.subarray(0, dims);
    const d0 = n > COARSE_ABOVE ? Math.min(COARSE_DIMS, dims) : dims;
    const coarse = new Float32Array(n);
    for (let i = 0, o = 0; i < n; i++, o += dims) {
      const len = norms[i];
      if (skip[i] || !(len > 0)) { coarse[i] = -Infinity; continue; }
      let a0 = 0, a1 = 0, a2 = 0, a3 = 0;
      let t = 0;
      for (; t + 3 < d0; t += 4) {
        a0 += data[o + t] * c[t];
        a1 += data[o + t + 1] * c[t + 1];
        a2 += data[o + t + 2] * c[t + 2];
        a3 += data[o + t + 3] * c[t + 3];
      }
      for (; t < d0; t++) a0 += data[o + t] * c[t];
      coarse[i] = (a0 + a1 + a2 + a3) / len;
    }
    // 2. the best of them, and the images near a liked one
    const cut = threshold(coarse, want);
    const pick = new Uint8Array(n);
    candidates = [];
    for (let i = 0; i < n; i++) if (coarse[i] >= cut && coarse[i] !== -Infinity) { pick[i] = 1; candidates.push(i); }
    for (const i of near) if (i >= 0 && i < n && !skip[i] && !pick[i]) { pick[i] = 1; candidates.push(i); }
  }
  // 3. the exact score of every candidate; the best k
  const buf = new Float64Array(dims);
  const scores = new Float64Array(candidates.length);
  for (let j = 0; j < candidates.length; j++) scores[j] = scoreOf(store, prof, candidates[j], alpha, buf);
  const top = best(scores, candidates, k);
  return {indices: Uint32Array.from(top, (j) => candidates[j]), scores: Float32Array.from(top, (j) => scores[j]), exact};
}

/** The positions of the k highest scores (ties: the smaller index first), best first; -Infinity never. */
function best(scores, indices, k) {
  const m = scores.length;
  let pool = [];
  if (m > 4 * k) {
    // the k-th best is at least the k-th best of a histogram cut: keep what is above it, then sort that
    const cut = threshold(scores, k);
    for (let j = 0; j < m; j++) if (scores[j] >= cut && scores[j] !== -Infinity) pool.push(j);
    if (pool.length < k) pool = Array.from({length: m}, (_, j) => j).filter((j) => scores[j] !== -Infinity);
  } else {
    for (let j = 0; j < m; j++) if (scores[j] !== -Infinity) pool.push(j);
  }
  pool.sort((a, b) => scores[b] - scores[a] || indices[a] - indices[b]);
  return pool.slice(0, k);
}
