import { Browser, BrowserContext, expect, Page, TestInfo } from "@playwright/test";

/** A fresh room name per test, so tests never see each other's tabs. */
export function freshRoom(prefix: string): string {
  return `${prefix}-${Math.random().toString(36).slice(2, 8)}`;
}

export interface TileInfo {
  member: string;
  state: string;
  hasVideo: boolean;
  width: number;
  time: number;
}

/** Every console line of the pages the current test watches, with when and where it was. */
let journal: { at: number; page: string; text: string }[] = [];
let watched = 0;

/** Adds a line to the journal printed when a test fails: for pages of other browsers. */
export function journalLine(page: string, text: string): void {
  journal.push({ at: Date.now(), page, text });
}

/** Keeps `page`'s console lines in the journal printed when a test fails. */
export function watchConsole(page: Page, label?: string): void {
  const name = label ?? `page ${++watched}`;
  page.on("console", (message) => journal.push({ at: Date.now(), page: name, text: message.text() }));
  page.on("pageerror", (error) => journal.push({ at: Date.now(), page: name, text: `pageerror: ${error.message}` }));
}

/**
 * For `test.afterEach`: a failed test prints what its pages logged (the walls run with `&debug`,
 * so every negotiation step is there), and the next test starts with an empty journal. A
 * flake seen once in twenty runs is then seen with its cause.
 */
export function printConsoleOnFailure({}, testInfo: TestInfo): void {
  if (testInfo.status !== testInfo.expectedStatus && journal.length > 0) {
    const start = journal[0].at;
    const lines = journal.map((line) => `${((line.at - start) / 1000).toFixed(3).padStart(8)} ${line.page}: ${line.text}`);
    console.log(`--- console of "${testInfo.title}" (${journal.length} lines) ---\n${lines.join("\n")}\n--- end ---`);
  }
  journal = [];
  watched = 0;
}

/** Opens the wall of `room` in a new page and waits until it has joined. */
export async function openWall(
  context: BrowserContext,
  room: string,
  options: { base?: string; query?: string; fragment?: string } = {},
): Promise<Page> {
  const page = await context.newPage();
  const errors: string[] = [];
  page.on("pageerror", (error) => errors.push(error.message));
  (page as Page & { errors?: string[] }).errors = errors;
  const warnings: string[] = [];
  page.on("console", (message) => {
    if (message.type() === "warning") warnings.push(message.text());
  });
  (page as Page & { warnings?: string[] }).warnings = warnings;
  const query = options.query ?? "";
  watchConsole(page);
  await page.goto(`${options.base ?? ""}/?room=${room}${query}${/&debug/.test(query) ? "" : "&debug"}${options.fragment ?? ""}`);
  await expect(page.locator("main.wall")).toHaveAttribute("data-status", "joined");
  return page;
}

/** What the app warned about on the console (`portals: … failed:` and the like). */
export function pageWarnings(page: Page): string[] {
  return (page as Page & { warnings?: string[] }).warnings ?? [];
}

export function pageErrors(page: Page): string[] {
  return (page as Page & { errors?: string[] }).errors ?? [];
}

export async function memberId(page: Page): Promise<string> {
  const id = await page.locator("main.wall").getAttribute("data-member");
  expect(id).toBeTruthy();
  return id!;
}

export async function tiles(page: Page): Promise<TileInfo[]> {
  return page.evaluate(() =>
    [...document.querySelectorAll<HTMLElement>(".tile[data-member]:not(.self):not(.unproven)")].map((tile) => {
      const video = tile.querySelector("video")!;
      return {
        member: tile.dataset.member!,
        state: tile.dataset.state!,
        hasVideo: tile.dataset.video === "true",
        width: video.videoWidth,
        time: video.currentTime,
      };
    }),
  );
}

/**
 * The members whose video this page really decodes: frames have a size and playback time
 * moves on. A tile in the DOM proves nothing; this does.
 */
export async function decodedMembers(page: Page, windowMs = 700): Promise<string[]> {
  const before = await tiles(page);
  await page.waitForTimeout(windowMs);
  const after = await tiles(page);
  return after
    .filter((tile) => {
      const earlier = before.find((b) => b.member === tile.member);
      return tile.width > 0 && earlier !== undefined && tile.time > earlier.time + 0.05;
    })
    .map((tile) => tile.member)
    .sort();
}

/** Waits until `page` decodes exactly the video of `members`. */
export async function expectDecoding(page: Page, members: string[], timeout = 30_000): Promise<void> {
  const expected = [...members].sort();
  await expect
    .poll(() => decodedMembers(page), { timeout, intervals: [250, 500, 1000] })
    .toEqual(expected);
}

/** Two walls in a fresh room of `context`, once each decodes the other's video. */
export async function twoDecodingTabs(
  context: BrowserContext,
  prefix: string,
  options: { base?: string; query?: string } = {},
): Promise<{ room: string; a: Page; b: Page; idA: string; idB: string }> {
  const room = freshRoom(prefix);
  const a = await openWall(context, room, options);
  const b = await openWall(context, room, options);
  const [idA, idB] = [await memberId(a), await memberId(b)];
  await expectDecoding(a, [idB]);
  await expectDecoding(b, [idA]);
  return { room, a, b, idA, idB };
}

/**
 * A wall (`&role=wall` and `wallQuery`) and one camera (`&role=camera` and `cameraQuery`) in a
 * fresh room, each in a context of its own (the camera's may be given: a smaller fake camera, a
 * browser with two), once the wall decodes the camera. `close` closes both contexts.
 */
export async function wallAndCamera(
  browser: Browser,
  prefix: string,
  options: { wallQuery?: string; cameraQuery?: string; cameraContext?: BrowserContext } = {},
): Promise<{ room: string; wall: Page; camera: Page; id: string; screen: BrowserContext; close: () => Promise<void> }> {
  const screen = await browser.newContext();
  const cameras = options.cameraContext ?? (await browser.newContext());
  const room = freshRoom(prefix);
  const wall = await openWall(screen, room, { query: `&role=wall${options.wallQuery ?? ""}` });
  const camera = await openWall(cameras, room, { query: `&role=camera${options.cameraQuery ?? ""}` });
  const id = await memberId(camera);
  await expectDecoding(wall, [id]);
  const close = async () => {
    await cameras.close();
    await screen.close();
  };
  return { room, wall, camera, id, screen, close };
}

export async function connectionsCreated(page: Page): Promise<number> {
  return Number(await page.locator("main.wall").getAttribute("data-connections-created"));
}

/** A context whose camera request is refused, exactly as a browser refuses it. */
export async function cameraDeniedContext(browser: Browser): Promise<BrowserContext> {
  const context = await browser.newContext();
  await context.addInitScript(() => {
    const refuse = () =>
      Promise.reject(new DOMException("Permission denied", "NotAllowedError"));
    Object.defineProperty(navigator.mediaDevices, "getUserMedia", { value: refuse });
  });
  return context;
}

export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
}
