// The first-frame figure of BENCHMARKS.md, with the timeline that explains it: a tab with a
// camera waits in a room, a second tab opens it, and the second tab's page notes when each step
// of its way to the first decoded remote frame happened, in milliseconds since its navigation
// began (what `performance.now()` counts from).
//
//   node bench/first-frame.mjs <base url>[,<base url>...] [runs]
//
// With several base URLs (servers of different builds), the runs alternate between them, so
// that each build meets the machine in the same state: on a shared machine the medians of two
// separate sittings differed by 80 ms for the same build.
//
// The steps are seen from outside the app (a script run before the page's own wraps the
// WebSocket, getUserMedia and RTCPeerConnection), so the same script times any commit:
//
//   html, css, js, wasm  when each had arrived (resource timing)
//   hydrate, hydrated    the app's own marks around Leptos's hydration, where it has them
//   socket               the app created its WebSocket (the wall page is running: hydration)
//   open, welcome, info  the socket opened, its `welcome` and first `info` came
//   camera_asked, camera getUserMedia called, and resolved
//   link                 the first RTCPeerConnection made
//   offer, answer        the first local offer set, the first remote answer set
//   track                the first remote track
//   connected            the first connection `connected` (ICE and DTLS done)
//   presented            when the first frame of a remote tile's <video> was handed to the
//                        compositor (requestVideoFrameCallback's presentationTime); it is on
//                        screen at the next display refresh
//   frame                when that callback ran, on the page's main thread
//
// Each run is made twice, by two browsers:
//
//   fresh      a new incognito context per run, as a browser that never opened the wall: the
//              second tab finds the page's files in the HTTP cache (the first tab loaded them)
//              but no compiled code, so V8 compiles the wasm's functions as they are first
//              called (lazily, on the main thread)
//   returning  one profile on disk for the whole sitting, warmed by a wall left open for
//              8 seconds on each base URL first, as a browser (a TV, a phone) that showed the
//              wall yesterday: its disk caches have the page's files and what V8 kept of
//              them (not the wasm's compiled code: a traced returning tab still compiles its
//              functions as they are first called, see BENCHMARKS.md)
//
// The second tab reports its first frame through a promise, not by being polled: a poll every
// 10 ms ran on the very main thread being measured.
//
// Prints one JSON line per run, then one per base URL and browser with the median of every
// step (`"summary": true`).
import { chromium } from "@playwright/test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { args, awaitInPage, firstTabWithCamera, launchChromium, median } from "./browser.mjs";

const [bases, runsArg] = process.argv.slice(2);
const runs = Number(runsArg ?? 9);

/** Runs in the second tab before the app: notes the first time each step happens. */
function timeline() {
  const steps = {};
  window.__steps = steps;
  const note = (step) => {
    if (!(step in steps)) steps[step] = performance.now();
  };
  const NativeSocket = window.WebSocket;
  window.WebSocket = class extends NativeSocket {
    constructor(...args) {
      super(...args);
      note("socket");
      this.addEventListener("open", () => note("open"));
      this.addEventListener("message", (event) => {
        const type = typeof event.data === "string" ? event.data.match(/"type"\s*:\s*"(\w+)"/)?.[1] : null;
        if (type === "welcome" || type === "info") note(type);
      });
    }
  };
  const devices = navigator.mediaDevices;
  const getUserMedia = devices.getUserMedia.bind(devices);
  devices.getUserMedia = (constraints) => {
    note("camera_asked");
    return getUserMedia(constraints).then((stream) => {
      note("camera");
      return stream;
    });
  };
  const NativePeer = window.RTCPeerConnection;
  window.RTCPeerConnection = class extends NativePeer {
    constructor(...args) {
      super(...args);
      note("link");
      this.addEventListener("track", () => note("track"));
      this.addEventListener("connectionstatechange", () => this.connectionState === "connected" && note("connected"));
    }
    setLocalDescription(...args) {
      return super.setLocalDescription(...args).then((result) => {
        if (this.localDescription?.type === "offer") note("offer");
        return result;
      });
    }
    setRemoteDescription(...args) {
      return super.setRemoteDescription(...args).then((result) => {
        if (this.remoteDescription?.type === "answer") note("answer");
        return result;
      });
    }
  };
  let framed;
  window.__firstFrame = new Promise((resolve) => (framed = resolve));
  const watched = new WeakSet();
  new MutationObserver(() => {
    for (const video of document.querySelectorAll(".tile[data-member]:not(.self) video")) {
      if (watched.has(video)) continue;
      watched.add(video);
      video.requestVideoFrameCallback((_, frame) => {
        note("frame");
        // The compositor shows a video's frames without the main thread: the callback
        // can run well after the frame was presented, when the page is busy.
        if (!("presented" in steps)) steps.presented = frame.presentationTime;
        framed();
      });
    }
  }).observe(document, { childList: true, subtree: true });
}

/** When the page's own resources had arrived, from resource timing. */
const arrivals = (page) =>
  page.evaluate(() => {
    const at = {};
    at.html = performance.getEntriesByType("navigation")[0]?.responseEnd;
    // The app's own marks (`portals:hydrate`, `portals:hydrated`), where it has them.
    for (const mark of performance.getEntriesByType("mark")) {
      const step = mark.name.replace(/^portals:/, "");
      if (mark.name.startsWith("portals:") && !(step in at)) at[step] = mark.startTime;
    }
    for (const entry of performance.getEntriesByType("resource")) {
      const kind = entry.name.match(/\.(css|js|wasm)(\?|$)/)?.[1];
      if (kind && !(kind in at)) at[kind] = entry.responseEnd;
    }
    return at;
  });

const order = ["html", "css", "js", "wasm", "hydrate", "socket", "hydrated", "open", "welcome", "info", "camera_asked", "camera", "link", "offer", "answer", "track", "connected", "presented", "frame"];

const viewport = { width: 1280, height: 720 };
const urls = bases.split(",");
const browser = await launchChromium();
const profile = mkdtempSync(join(tmpdir(), "portals-first-frame-"));

/** A tab with a camera in a new room, then a second tab of it, timed; both closed after. */
async function measure(context, base) {
  const { room, first } = await firstTabWithCamera(context, base, "first-frame");
  const second = await context.newPage();
  await second.addInitScript(timeline);
  const opened = Date.now();
  await second.goto(`${base}/?room=${room}`);
  await awaitInPage(second, "__firstFrame");
  const took = Date.now() - opened;
  const steps = { ...(await arrivals(second)), ...(await second.evaluate(() => window.__steps)) };
  await second.close();
  await first.close();
  return { took, steps };
}

const rows = [];
let returning;
try {
  returning = await chromium.launchPersistentContext(profile, { executablePath: "/usr/bin/chromium", args, viewport });
  for (const base of urls) {
    const warm = await returning.newPage();
    await warm.goto(`${base}/?room=first-frame-warm-up`);
    await warm.waitForTimeout(8_000);
    await warm.close();
  }
  for (let run = 0; run < runs * urls.length; run++) {
    const base = urls[run % urls.length];
    for (const kind of ["fresh", "returning"]) {
      const context = kind === "fresh" ? await browser.newContext({ viewport }) : returning;
      const { took, steps } = await measure(context, base);
      if (kind === "fresh") await context.close();
      const row = { run, base, browser: kind, goto_to_frame_ms: took };
      for (const step of order) row[step] = step in steps ? Math.round(steps[step]) : null;
      rows.push(row);
      console.log(JSON.stringify(row));
    }
  }
} finally {
  // Closing must not hide the error that brought us here.
  await returning?.close().catch(() => {});
  await browser.close().catch(() => {});
  rmSync(profile, { recursive: true, force: true });
}
for (const base of urls) {
  for (const kind of ["fresh", "returning"]) {
    const mine = rows.filter((row) => row.base === base && row.browser === kind);
    const summary = { summary: true, base, browser: kind, runs: mine.length };
    for (const key of ["goto_to_frame_ms", ...order]) {
      const values = mine.map((row) => row[key]).filter((value) => value !== null);
      summary[key] = values.length ? median(values) : null;
    }
    console.log(JSON.stringify(summary));
  }
}
