// Per-image file URLs (docs/site-format.md): flat `<dir>/<id>.<ext>` (versions 1-2), or sharded
// `<dir>/<shard>/<id>.<ext>` with "shard": "fnv1a-8" (version 3), and the URL of a level-1 atlas tile.

const UTF8 = new TextEncoder();

/** The low 8 bits of the 32-bit FNV-1a hash of the id's UTF-8 bytes, as 2 lower-case hex digits. */
export function shardOf(id) {
  let h = 0x811c9dc5;
  for (const b of UTF8.encode(String(id))) {
    h ^= b;
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return (h & 0xff).toString(16).padStart(2, "0");
}

/** The URL of an image's file in a per-image folder (manifest `thumbs` or `lightbox` entry). */
export function imageFileUrl(entry, id) {
  const name = `${encodeURIComponent(id)}.${entry.ext}`;
  return entry.shard === "fnv1a-8" ? `${entry.dir}/${shardOf(id)}/${name}` : `${entry.dir}/${name}`;
}

/** The URL of level-1 atlas tile t (manifest atlas.tiles, atlas.format). */
export function tileUrl(atlas, t) {
  const tiles = atlas.tiles;
  const ext = atlas.format === "jpeg" ? "jpg" : atlas.format || "webp";
  return `${tiles.dir}/${Math.floor(t / (tiles.shard || 1000))}/${t}.${ext}`;
}
