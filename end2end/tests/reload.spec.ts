import { expect, test } from "@playwright/test";
import { expectDecoding, memberId, printConsoleOnFailure, tiles, twoDecodingTabs } from "./helpers";
import { installHooks } from "./hooks";

test.afterEach(printConsoleOnFailure);

test("a reload comes back as the same member, and the others see no leave or join", async ({ browser }) => {
  const context = await browser.newContext();
  await installHooks(context);
  const { a, b, idA, idB } = await twoDecodingTabs(context, "reload");
  const infosBefore = await b.evaluate(() => (window as any).__hooks.received.length as number);

  await a.reload();
  await expect(a.locator("main.wall")).toHaveAttribute("data-status", "joined");
  expect(await memberId(a)).toBe(idA);
  await expectDecoding(a, [idB]);
  await expectDecoding(b, [idA]);

  // Every `info` B got since then still lists A: nobody saw it leave and come back.
  const infos = await b.evaluate(
    (since) =>
      ((window as any).__hooks.received as { type: string; members?: { id: string }[] }[])
        .slice(since)
        .filter((message) => message.type === "info")
        .map((message) => message.members!.map((member) => member.id)),
    infosBefore,
  );
  for (const members of infos) expect(members).toContain(idA);
  expect((await tiles(b)).map((tile) => tile.member)).toEqual([idA]);

  // A duplicated tab (which copies sessionStorage) joins as a member of its own and does not
  // take the session from the original.
  const copy = await context.newPage();
  await copy.goto(new URL("/", a.url()).href);
  await copy.evaluate(
    (entries) => {
      for (const [key, value] of entries) sessionStorage.setItem(key, value);
    },
    await a.evaluate(() => Object.entries(sessionStorage)),
  );
  await copy.goto(a.url());
  await expect(copy.locator("main.wall")).toHaveAttribute("data-status", "joined");
  expect(await memberId(copy)).not.toBe(idA);
  await expect(a.locator("main.wall")).toHaveAttribute("data-status", "joined");
  expect(await memberId(a)).toBe(idA);
  await expectDecoding(b, [idA, await memberId(copy)].sort());
  await context.close();
});
