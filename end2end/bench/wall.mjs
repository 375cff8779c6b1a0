// The wall figures of BENCHMARKS.md: how long a room takes to show everyone's video, and how
// smoothly the watching tab then decodes it, in Debian's Chromium with fake cameras, every tab
// in one browser on this machine (as a home wall's tabs share one TV's CPU).
//
//   node bench/wall.mjs <base url> mesh 4 6 8     N `both` tabs in one room
//   node bench/wall.mjs <base url> wall 4 8 16    one `role=wall` tab and N `role=camera` tabs
//
// Prints one JSON line per room: `ready_ms`, from the first tab opened until the watched tab
// (the first tab of a mesh, the wall of a wall) decodes every video it should, or null if that
// never happened within the timeout, with `decoding` (how many it did decode then), and
// `last_joined_ms`, when the last tab had loaded and joined (the rest is media set-up); then the
// per-second decoded frame rates of each of its videos over 5 s (`fps_median`, `fps_min`),
// counted with `requestVideoFrameCallback`, the frames the page really got to paint, and
// `decoded_fps_median`, the same from `framesDecoded` of its connections' stats. A commit
// that knows no roles treats `role=` as absent: its "wall" rows measure N + 1 `both` tabs.
import { launchChromium, median } from "./browser.mjs";

const [base, shape, ...sizes] = process.argv.slice(2);
const timeoutMs = Number(process.env.WALL_TIMEOUT_MS ?? 90_000);

/** Counts the frames each `<video>` of a tile presents, keyed by the tile's member, and notes
 * when the page joined its room. */
function countFrames() {
  const counts = {};
  window.__frames = counts;
  // Every peer connection, for the frames its decoder turned out (which the page may then not
  // get to paint: the two counts tell decoding from presenting apart).
  const peers = [];
  window.__peers = peers;
  const Native = window.RTCPeerConnection;
  window.RTCPeerConnection = class extends Native {
    constructor(...args) {
      super(...args);
      peers.push(this);
    }
  };
  const joined = setInterval(() => {
    if (document.querySelector("main.wall")?.dataset.status === "joined") {
      window.__joinedAt = Date.now();
      clearInterval(joined);
    }
  }, 20);
  const watched = new WeakSet();
  const watch = () => {
    for (const tile of document.querySelectorAll(".tile[data-member]:not(.self)")) {
      const video = tile.querySelector("video");
      if (!video || watched.has(video)) continue;
      watched.add(video);
      const member = tile.dataset.member;
      const step = () => {
        if (video.videoWidth > 0) counts[member] = (counts[member] ?? 0) + 1;
        video.requestVideoFrameCallback(step);
      };
      video.requestVideoFrameCallback(step);
    }
  };
  setInterval(watch, 100);
}

const frames = (page) => page.evaluate(() => ({ ...window.__frames }));

/** Frames decoded so far per inbound video stream of the page's open connections. */
const decoded = (page) =>
  page.evaluate(async () => {
    const counts = {};
    for (const peer of window.__peers) {
      if (peer.connectionState === "closed") continue;
      (await peer.getStats()).forEach((report) => {
        if (report.type === "inbound-rtp" && report.kind === "video") counts[report.id] = report.framesDecoded ?? 0;
      });
    }
    return counts;
  });

/** Members whose frame count moved on within 250 ms (seven frames at 30 a second). */
async function decoding(page) {
  const before = await frames(page);
  await page.waitForTimeout(250);
  const after = await frames(page);
  return Object.keys(after).filter((member) => after[member] > (before[member] ?? 0)).length;
}

async function room(browser, size) {
  const name = `bench-${shape}-${size}-${Math.random().toString(36).slice(2, 8)}`;
  const context = await browser.newContext({ viewport: { width: 1280, height: 720 } });
  await context.addInitScript(countFrames);
  const urls =
    shape === "mesh"
      ? Array.from({ length: size }, () => `${base}/?room=${name}`)
      : [`${base}/?room=${name}&role=wall`, ...Array.from({ length: size }, () => `${base}/?room=${name}&role=camera`)];
  const expected = shape === "mesh" ? size - 1 : size;
  const started = Date.now();
  const pages = [];
  for (const url of urls) {
    const page = await context.newPage();
    // Not awaited one by one: tabs of a real room open independently of each other.
    pages.push(page);
    page.goto(url).catch(() => {});
  }
  const watched = pages[0];
  await watched.bringToFront();
  let ready_ms = null;
  let seen = 0;
  while (Date.now() - started < timeoutMs) {
    seen = await decoding(watched).catch(() => 0);
    if (seen >= expected) {
      ready_ms = Date.now() - started;
      break;
    }
  }
  // How much of the wait was the tabs' own loading: the last one to join, after the first opened.
  const joinedAt = await Promise.all(pages.map((page) => page.evaluate(() => window.__joinedAt ?? null).catch(() => null)));
  const last_joined_ms = joinedAt.includes(null) ? null : Math.max(...joinedAt) - started;
  const rates = [];
  const decodedRates = [];
  if (ready_ms !== null) {
    let before = await frames(watched);
    let decodedBefore = await decoded(watched);
    for (let second = 0; second < 5; second++) {
      await watched.waitForTimeout(1000);
      const after = await frames(watched);
      const decodedAfter = await decoded(watched);
      for (const member of Object.keys(after)) rates.push(after[member] - (before[member] ?? 0));
      for (const stream of Object.keys(decodedAfter)) {
        if (stream in decodedBefore) decodedRates.push(decodedAfter[stream] - decodedBefore[stream]);
      }
      before = after;
      decodedBefore = decodedAfter;
    }
  }
  await context.close();
  return {
    shape,
    size,
    tabs: urls.length,
    ready_ms,
    last_joined_ms,
    decoding: seen,
    expected,
    fps_median: rates.length ? median(rates) : null,
    fps_min: rates.length ? Math.min(...rates) : null,
    decoded_fps_median: decodedRates.length ? median(decodedRates) : null,
  };
}

const browser = await launchChromium();
try {
  for (const size of sizes.map(Number)) {
    console.log(JSON.stringify(await room(browser, size)));
  }
} finally {
  await browser.close();
}
