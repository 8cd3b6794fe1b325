// Uploads FILE for PHOTO_ID with tus-js-client: a few chunks through
// ENDPOINT, then an abort (a lost connection), then a resume of the same
// upload URL through ENDPOINT2 (another server). Prints a JSON summary.
import fs from 'node:fs';
import * as tus from 'tus-js-client';

const { ENDPOINT, ENDPOINT2, TOKEN, FILE, PHOTO_ID } = process.env;
const data = fs.readFileSync(FILE);
const chunkSize = 64 * 1024;
const common = {
  headers: { Authorization: `Bearer ${TOKEN}` },
  metadata: { photo_id: PHOTO_ID, filename: 'roof.jpg', filetype: 'image/jpeg' },
  chunkSize,
  retryDelays: [0, 100, 300],
};

function firstPart() {
  return new Promise((resolve, reject) => {
    let chunks = 0;
    const up = new tus.Upload(data, {
      ...common,
      endpoint: `${ENDPOINT}/v1/uploads`,
      onChunkComplete: (_size, accepted) => {
        if (++chunks === 3) {
          up.abort().then(() => resolve({ url: up.url, accepted }));
        }
      },
      onSuccess: () => resolve({ url: up.url, accepted: data.length }),
      onError: reject,
    });
    up.start();
  });
}

function resume(url) {
  return new Promise((resolve, reject) => {
    const up = new tus.Upload(data, {
      ...common,
      uploadUrl: url,
      onSuccess: () => resolve(up.url),
      onError: reject,
    });
    up.start();
  });
}

try {
  const first = await firstPart();
  const moved = first.url.replace(new URL(ENDPOINT).origin, new URL(ENDPOINT2).origin);
  const done = await resume(moved);
  console.log(JSON.stringify({ url: done, acceptedBeforeAbort: first.accepted, size: data.length }));
} catch (err) {
  console.error(String(err));
  process.exit(1);
}
