// sharp's three fits (1200, 800 and 400 px, inside the box, never enlarged,
// EXIF orientation applied, sRGB, no metadata: sharp's defaults) of each file,
// one after another as one upload would need them; the median of RUNS runs
// after a warm-up, in ms. bench/pipeline.py runs this beside vitrina.
//
//   NODE_PATH=<folder>/node_modules node bench/sharp_fits.js RUNS FILE...
//
// SHARP_CONCURRENCY=N sets libvips' threads per image (sharp.concurrency):
// sharp's default is the number of cores, but 1 on glibc Linux without
// jemalloc (against memory fragmentation), which is this machine.
//
// Prints one JSON object: {"version": ..., "files": {FILE: {"ms": ..., "bytes": [...]}}}
"use strict";
const sharp = require("sharp");

sharp.cache(false); // every upload is new, as in vitrina (libvips' cache off)
if (process.env.SHARP_CONCURRENCY) {
  sharp.concurrency(parseInt(process.env.SHARP_CONCURRENCY, 10));
}

const [runsArg, ...files] = process.argv.slice(2);
const runs = Math.max(1, parseInt(runsArg, 10) || 11);

async function fits(file) {
  const sizes = [];
  for (const box of [1200, 800, 400]) {
    const image = sharp(file)
      .rotate()
      .resize(box, box, { fit: "inside", withoutEnlargement: true });
    const out = await image.jpeg({ quality: 85, force: false }).toBuffer();
    sizes.push(out.length);
  }
  return sizes;
}

function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[sorted.length >> 1];
}

(async () => {
  const result = { version: sharp.versions.sharp, concurrency: sharp.concurrency(), files: {} };
  for (const file of files) {
    const bytes = await fits(file); // warm-up
    const times = [];
    for (let i = 0; i < runs; i++) {
      const started = process.hrtime.bigint();
      await fits(file);
      times.push(Number(process.hrtime.bigint() - started) / 1e6);
    }
    result.files[file] = { ms: median(times), bytes };
  }
  console.log(JSON.stringify(result));
})();
