import { expect, Page, test } from "@playwright/test";
import { expectDecoding, freshRoom, memberId, openWall, printConsoleOnFailure } from "./helpers";

test.afterEach(printConsoleOnFailure);

/** The default uplink budget, kbit/s (`--uplink-kbps`, `DEFAULT_UPLINK_KBPS`). */
const DEFAULT_BUDGET_KBPS = 2_500;
/**
 * A budget the others set with `&uplink=`: small enough that five links of a 1280×720 camera
 * want more, so that it binds (two busy cores keep Chromium's own estimate under the default).
 */
const TIGHT_BUDGET_KBPS = 600;

/** Video bytes the page has sent so far over all its links (`window.__portals`, `&debug`). */
async function videoBytesSent(page: Page): Promise<number> {
  return page.evaluate(async () => {
    let bytes = 0;
    const links = (window as any).__portals.links as Record<string, RTCPeerConnection>;
    for (const connection of Object.values(links)) {
      (await connection.getStats()).forEach((report: any) => {
        if (report.type === "outbound-rtp" && report.kind === "video") bytes += report.bytesSent ?? 0;
      });
    }
    return bytes;
  });
}

/** The `maxBitrate` the page gave its video senders, summed over its links, bit/s. */
async function maxBitrates(page: Page): Promise<number> {
  return page.evaluate(() => {
    let total = 0;
    const links = (window as any).__portals.links as Record<string, RTCPeerConnection>;
    for (const connection of Object.values(links)) {
      for (const sender of connection.getSenders()) {
        if (sender.track?.kind === "video") total += sender.getParameters().encodings[0]?.maxBitrate ?? Infinity;
      }
    }
    return total;
  });
}

/** The size of the frames `page` sends to `member` now, in pixels. */
async function pixelsSentTo(page: Page, member: string): Promise<number> {
  return page.evaluate(async (member) => {
    const connection = (window as any).__portals.links[member] as RTCPeerConnection | undefined;
    let pixels = 0;
    (await connection?.getStats())?.forEach((report: any) => {
      if (report.type === "outbound-rtp" && report.kind === "video" && report.frameWidth) {
        pixels = report.frameWidth * report.frameHeight;
      }
    });
    return pixels;
  }, member);
}

test("six tabs each send within the uplink budget, and each link follows its receiver's tile", async ({ browser }) => {
  test.setTimeout(150_000);
  const context = await browser.newContext();
  const room = freshRoom("budget");
  const tabs: Page[] = [];
  // The second tab is the sender whose link the test resizes, on the default budget.
  const budgets = [TIGHT_BUDGET_KBPS, DEFAULT_BUDGET_KBPS, ...Array(4).fill(TIGHT_BUDGET_KBPS)];
  for (const budget of budgets) {
    const query = budget === DEFAULT_BUDGET_KBPS ? "" : `&uplink=${budget}`;
    tabs.push(await openWall(context, room, { query }));
  }
  const ids = await Promise.all(tabs.map(memberId));
  for (const [i, tab] of tabs.entries()) {
    await expectDecoding(tab, ids.filter((_, j) => j !== i).sort(), 60_000);
  }

  // Every tab's video, all links together, averaged over 5 s.
  const started = Date.now();
  const before = await Promise.all(tabs.map(videoBytesSent));
  await tabs[0].waitForTimeout(5_000);
  const after = await Promise.all(tabs.map(videoBytesSent));
  const seconds = (Date.now() - started) / 1000;
  const kbps = after.map((bytes, i) => ((bytes - before[i]) * 8) / 1000 / seconds);
  console.log(`outbound video per tab, kbit/s: ${kbps.map((rate) => rate.toFixed(0)).join(", ")}`);
  for (const [i, rate] of kbps.entries()) {
    expect(rate).toBeGreaterThan(0);
    expect(rate).toBeLessThanOrEqual(budgets[i] * 1.1);
    // What the tab asked of its encoders: the budget less a tenth of headroom, whatever
    // Chromium's own estimate of the network would have allowed.
    const asked = await maxBitrates(tabs[i]);
    expect(asked).toBeLessThanOrEqual(budgets[i] * 1000 * 0.9);
  }

  // One receiver enlarges its tile of one sender (a click), then another one, which puts the
  // sender's in the strip: that link follows, larger then smaller than in the grid.
  const [receiver, sender] = [tabs[0], tabs[1]];
  const [idReceiver, idSender] = [ids[0], ids[1]];
  const small = await pixelsSentTo(sender, idReceiver);
  expect(small).toBeGreaterThan(0);
  await receiver.locator(`.tile[data-member="${idSender}"]`).click();
  await expect
    .poll(() => pixelsSentTo(sender, idReceiver), { timeout: 5_000, intervals: [250] })
    .toBeGreaterThanOrEqual(2 * small);
  const large = await pixelsSentTo(sender, idReceiver);
  await receiver.locator(`.tile[data-member="${ids[2]}"]`).click();
  await expect
    .poll(() => pixelsSentTo(sender, idReceiver), { timeout: 5_000, intervals: [250] })
    .toBeLessThan(Math.min(large / 2, small));
  console.log(`pixels sent on one link: ${small} → ${large} → ${await pixelsSentTo(sender, idReceiver)}`);
  await context.close();
});
