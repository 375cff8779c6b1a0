// Where the second tab's main thread spends its time on the way to its first remote frame:
// the breakdown behind the first-frame figure of BENCHMARKS.md. As bench/first-frame.mjs (a
// fresh browser: a tab with a camera, then a second tab of its room), but the second tab's
// load is recorded with Chromium's tracing, and its renderer's main thread is summed from the
// start of the navigation to the first frame:
//
//   busy              the thread's tasks, all of them
//   wasm_compile      V8 compiling the wasm's functions as each is first called (the module is
//                     compiled lazily, on the thread that calls it) and flushing the
//                     instruction cache after; `wasm_functions` counts them
//   script            the JS glue's module: compiled and evaluated
//   style_layout      style and layout
//   paint             paint and the commit to the compositor
//   other             the rest of `busy`: the app's own code and Leptos's, the browser's APIs
//
// Tracing slows the page (its figures run above first-frame.mjs's); the shares are what it
// is for. The summary's medians are taken column by column, so its parts need not add up to
// its `busy`; each run's row does.
//
//   node bench/first-frame-trace.mjs <base url> [runs]
//
// Prints one JSON line per run, then the medians (`"summary": true`).
import { awaitInPage, firstTabWithCamera, launchChromium, median } from "./browser.mjs";

const [base, runsArg] = process.argv.slice(2);
const runs = Number(runsArg ?? 5);

/** Runs in the second tab before the app: marks its first remote frame. */
function markFirstFrame() {
  window.__firstFrame = new Promise((resolve) => {
    const watched = new WeakSet();
    new MutationObserver(() => {
      for (const video of document.querySelectorAll(".tile[data-member]:not(.self) video")) {
        if (watched.has(video)) continue;
        watched.add(video);
        video.requestVideoFrameCallback(() => {
          performance.mark("first-frame-trace:frame");
          resolve();
        });
      }
    }).observe(document, { childList: true, subtree: true });
  });
}

const categories = [
  "devtools.timeline",
  "blink.user_timing",
  "loading",
  "toplevel",
  "v8",
  "v8.wasm",
  "disabled-by-default-v8.compile",
];

/** The main thread's time by kind, from the trace's events. */
function breakdown(events) {
  const frame = events.find((event) => event.name === "first-frame-trace:frame");
  if (!frame) throw new Error("the trace has no first frame");
  const pid = frame.pid;
  const main = events.find(
    (event) => event.pid === pid && event.ph === "M" && event.name === "thread_name" && event.args?.name === "CrRendererMain",
  );
  if (!main) throw new Error("the trace names no main thread for the second tab");
  const starts = events.filter((event) => event.pid === pid && event.name === "navigationStart");
  if (!starts.length) throw new Error("the trace has no navigationStart for the second tab");
  const start = Math.min(...starts.map((event) => event.ts));
  const on = events.filter(
    (event) => event.pid === pid && event.tid === main.tid && event.ph === "X" && event.ts >= start && event.ts <= frame.ts,
  );
  const sum = (...names) => on.filter((event) => names.includes(event.name)).reduce((total, event) => total + event.dur, 0) / 1000;
  const row = {
    to_frame: (frame.ts - start) / 1000,
    busy: sum("ThreadControllerImpl::RunTask"),
    wasm_compile: sum("wasm.CompileLazy", "FlushInstructionCache"),
    wasm_functions: on.filter((event) => event.name === "wasm.CompileLazy").length,
    script: sum("v8.compileModule", "v8.evaluateModule"),
    style_layout: sum("UpdateLayoutTree", "Layout"),
    paint: sum("Paint", "Commit"),
  };
  row.other = row.busy - row.wasm_compile - row.script - row.style_layout - row.paint;
  for (const key of Object.keys(row)) row[key] = Math.round(row[key] * 10) / 10;
  return row;
}

const browser = await launchChromium();
const rows = [];
try {
  for (let run = 0; run < runs; run++) {
    const context = await browser.newContext({ viewport: { width: 1280, height: 720 } });
    const { room } = await firstTabWithCamera(context, base, "first-frame-trace");
    const second = await context.newPage();
    await second.addInitScript(markFirstFrame);
    const session = await context.newCDPSession(second);
    const events = [];
    session.on("Tracing.dataCollected", ({ value }) => events.push(...value));
    const complete = new Promise((resolve) => session.once("Tracing.tracingComplete", resolve));
    await session.send("Tracing.start", { traceConfig: { includedCategories: categories } });
    await second.goto(`${base}/?room=${room}`);
    await awaitInPage(second, "__firstFrame");
    await session.send("Tracing.end");
    await complete;
    const row = { run, ...breakdown(events) };
    rows.push(row);
    console.log(JSON.stringify(row));
    await context.close();
  }
} finally {
  await browser.close().catch(() => {});
}
const summary = { summary: true, runs: rows.length };
for (const key of Object.keys(rows[0] ?? {}).filter((key) => key !== "run")) {
  summary[key] = median(rows.map((row) => row[key]));
}
console.log(JSON.stringify(summary));
