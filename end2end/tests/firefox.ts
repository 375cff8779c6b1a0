import puppeteer, { Browser, Page } from "puppeteer-core";
import { journalLine } from "./helpers";

let opened = 0;

/**
 * Debian's Firefox ESR, driven by puppeteer-core over WebDriver BiDi: Playwright's Firefox
 * support needs its own patched build, which a closed network cannot download, while this is
 * the stock browser people run. The prefs give it a fake camera without a prompt, and ICE
 * candidates on loopback with their real addresses (not mDNS names nobody here resolves).
 */
export async function launchFirefox(): Promise<Browser> {
  return puppeteer.launch({
    browser: "firefox",
    executablePath: "/usr/bin/firefox-esr",
    headless: true,
    // Without it, Firefox looks up a Mozilla host for its remote settings at start.
    env: { ...process.env, MOZ_REMOTE_SETTINGS_DEVTOOLS: "1" },
    extraPrefsFirefox: {
      "media.navigator.streams.fake": true,
      "media.navigator.permission.disabled": true,
      "media.peerconnection.ice.loopback": true,
      "media.peerconnection.ice.obfuscate_host_addresses": false,
      "media.autoplay.default": 0,
    },
  });
}

/** Opens the wall of `room` (with `&debug`) in a new Firefox tab and waits until it joined. */
export async function openFirefoxWall(browser: Browser, base: string, room: string, query = ""): Promise<Page> {
  const page = await browser.newPage();
  const name = `firefox ${++opened}`;
  page.on("console", (message) => journalLine(name, message.text()));
  page.on("pageerror", (error) => journalLine(name, `pageerror: ${error}`));
  await page.goto(`${base}/?room=${room}&debug${query}`);
  await page.waitForSelector('main.wall[data-status="joined"]', { timeout: 30_000 });
  return page;
}

export async function firefoxMemberId(page: Page): Promise<string> {
  const id = await page.$eval("main.wall", (wall) => wall.getAttribute("data-member"));
  if (!id) throw new Error("no member id");
  return id;
}

/**
 * The members whose video this Firefox tab decodes: frames presented to a tile's `<video>`
 * within `windowMs`, counted with `requestVideoFrameCallback` (Firefox moves `currentTime` on
 * without frames). The tab is brought to the front first: Firefox paints a background tab
 * about once a second.
 */
export async function firefoxDecodedMembers(page: Page, windowMs = 1_000): Promise<string[]> {
  await page.bringToFront();
  return page.evaluate(async (windowMs: number) => {
    const tiles = [...document.querySelectorAll<HTMLElement>(".tile[data-member]:not(.self):not(.unproven)")];
    const counts = tiles.map((tile) => {
      const video = tile.querySelector("video")!;
      const count = { member: tile.dataset.member!, frames: 0, stop: false };
      const next = () =>
        video.requestVideoFrameCallback(() => {
          count.frames += 1;
          if (!count.stop) next();
        });
      next();
      return count;
    });
    await new Promise((resolve) => setTimeout(resolve, windowMs));
    for (const count of counts) count.stop = true;
    // At least a few frames: one could be the last of a stream that just stopped.
    return counts.filter((count) => count.frames >= 3).map((count) => count.member).sort();
  }, windowMs);
}

/** Waits until the Firefox tab decodes exactly the video of `members`. */
export async function expectFirefoxDecoding(page: Page, members: string[], timeout = 30_000): Promise<void> {
  const expected = JSON.stringify([...members].sort());
  const deadline = Date.now() + timeout;
  let seen: string[] = [];
  while (Date.now() < deadline) {
    seen = await firefoxDecodedMembers(page);
    if (JSON.stringify(seen) === expected) return;
  }
  throw new Error(`Firefox decodes ${JSON.stringify(seen)}, not ${expected}`);
}
