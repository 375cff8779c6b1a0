import { expect, test } from "@playwright/test";
import {
  cameraDeniedContext,
  connectionsCreated,
  decodedMembers,
  expectDecoding,
  freshRoom,
  memberId,
  openWall,
  printConsoleOnFailure,
  tiles,
} from "./helpers";
import { OwnServer } from "./own-server";

test.afterEach(printConsoleOnFailure);

test("a server restart during a call: the video keeps playing, the mesh comes back whole", async ({ browser }) => {
  // The same secret across the restart, as the README tells operators to set it.
  const server = new OwnServer(3011, { PORTALS_SECRET: "end-to-end restart test" });
  await server.start();
  const context = await browser.newContext();
  const room = freshRoom("restart");
  const pages = [];
  for (let i = 0; i < 3; i++) pages.push(await openWall(context, room, { base: server.base }));
  const ids = await Promise.all(pages.map(memberId));
  for (const [i, page] of pages.entries()) {
    await expectDecoding(page, ids.filter((_, j) => j !== i));
  }
  const created = await Promise.all(pages.map(connectionsCreated));

  await server.stop("SIGKILL");
  for (const page of pages) {
    await expect(page.locator('[data-banner="reconnecting"]')).toContainText("Reconnecting in");
  }
  // Peer to peer: the outage does not stop a single frame.
  for (const [i, page] of pages.entries()) {
    expect(await decodedMembers(page, 1_500)).toEqual(ids.filter((_, j) => j !== i).sort());
  }

  await server.start();
  for (const [i, page] of pages.entries()) {
    await expect(page.locator("main.wall")).toHaveAttribute("data-status", "joined", { timeout: 30_000 });
    await expect(page.locator("main.wall")).toHaveAttribute("data-member", ids[i]);
  }
  for (const [i, page] of pages.entries()) {
    const others = ids.filter((_, j) => j !== i);
    await expectDecoding(page, others);
    const members = (await tiles(page)).map((tile) => tile.member).sort();
    expect(members, "one tile per member, no duplicates").toEqual(others.sort());
    expect(await connectionsCreated(page), "the calls were kept, not rebuilt").toBe(created[i]);
  }
  await context.close();
  await server.stop();
});

test("a full room is explained in the page and the others are undisturbed", async ({ browser }) => {
  const server = new OwnServer(3012, { PORTALS_MAX_MEMBERS: "2" });
  await server.start();
  // Viewers only: this test is about the room limit, not about video.
  const context = await cameraDeniedContext(browser);
  const room = freshRoom("full");
  const a = await openWall(context, room, { base: server.base });
  const b = await openWall(context, room, { base: server.base });
  const late = await context.newPage();
  await late.goto(`${server.base}/?room=${room}`);
  await expect(late.locator('[data-banner="fatal"]')).toContainText("full");
  await expect(late.locator("main.wall")).toHaveAttribute("data-status", "fatal");
  // It does not keep knocking.
  await late.waitForTimeout(2_000);
  await expect(late.locator('[data-banner="reconnecting"]')).toHaveCount(0);
  for (const page of [a, b]) expect((await tiles(page)).length).toBe(1);
  await context.close();
  await server.stop();
});
