// Compact vectors for recommendations (site format 5, manifest `vectors`; docs/site-format.md): per image
// `dims` int8 values (v ~= q * scale, the first PCA components, L2-normalised before quantising), in
// chunks of `chunk` images, `<dir>/<c>.i8`. Loaded whole, once, when first needed (the first like): 64
// bytes per image, 64 MB at a million images, with progress. Each image's norm is computed as its chunk
// arrives, so that scoring divides by the true length of the quantised vector.

const CONCURRENCY = 4;

export class VectorStore {
  constructor(loader, manifest) {
    const e = manifest.vectors;
    this.loader = loader;
    this.n = manifest.count;
    this.available = !!(e && e.dims > 0 && e.chunk > 0 && e.dir && e.dtype === "int8");
    this.dims = this.available ? e.dims : 0;
    this.chunk = this.available ? e.chunk : 1;
    this.dir = this.available ? e.dir : "";
    this.scale = this.available ? Number(e.scale) : 0;
    this.loaded = null; // the promise of {data, norms, dims, n}
    this.progress = {chunks: 0, of: this.available ? Math.ceil(this.n / this.chunk) : 0, bytes: 0};
  }

  get bytes() {
    return this.n * this.dims;
  }

  /** Every vector: {data: Int8Array(n dims), norms: Float32Array(n) (of the int8 vectors), dims, n};
   *  onProgress({chunks, of, bytes}) as chunks arrive. Fetched once. */
  load(onProgress = () => {}) {
    if (!this.available) return Promise.reject(new Error("this map has no vectors for recommendations (built with --no-vectors, or before format version 5)"));
    if (!this.loaded) {
      const {n, dims, chunk} = this;
      const data = new Int8Array(n * dims), norms = new Float32Array(n);
      const count = this.progress.of;
      let next = 0;
      const worker = async () => {
        while (next < count) {
          const c = next++;
          const url = `${this.dir}/${c}.i8`;
          const rows = Math.min(chunk, n - c * chunk);
          const buf = await this.loader.bytes(url);
          if (buf.byteLength !== rows * dims) throw new Error(`${url}: expected ${rows * dims} bytes, found ${buf.byteLength}`);
          const part = new Int8Array(buf);
          data.set(part, c * chunk * dims);
          for (let r = 0, o = 0; r < rows; r++) {
            let s = 0;
            for (let t = 0; t < dims; t++, o++) s += part[o] * part[o];
            norms[c * chunk + r] = Math.sqrt(s);
          }
          this.progress.chunks++;
          this.progress.bytes += buf.byteLength;
          onProgress({...this.progress});
        }
      };
      this.loaded = Promise.all(Array.from({length: Math.min(CONCURRENCY, count)}, worker))
        .then(() => ({data, norms, dims, n}));
      this.loaded.catch(() => { this.loaded = null; this.progress.chunks = 0; this.progress.bytes = 0; });
    }
    return this.loaded;
  }
}
