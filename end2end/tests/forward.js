// The inside half of the firewall of `firewalled-chromium`: listens on 127.0.0.1 at each
// PORT and carries every TCP connection to the Unix socket SOCKET, which the test serves
// from outside the namespace. Writes READY_FILE once all listen. Plain Node (no TypeScript):
// it runs before the browser, outside Playwright.
//   node forward.js READY_FILE PORT:SOCKET...
const fs = require("node:fs");
const net = require("node:net");

const [ready, ...pairs] = process.argv.slice(2);
let listening = 0;
for (const pair of pairs) {
  const colon = pair.indexOf(":");
  const [port, socket] = [Number(pair.slice(0, colon)), pair.slice(colon + 1)];
  net
    .createServer((inside) => {
      const outside = net.connect(socket);
      inside.pipe(outside).pipe(inside);
      inside.on("error", () => outside.destroy());
      outside.on("error", () => inside.destroy());
    })
    .listen(port, "127.0.0.1", () => {
      listening += 1;
      if (listening === pairs.length) fs.writeFileSync(ready, "");
    });
}
// The browser it was started for is gone (this process was handed to init): so is the need.
const parent = process.ppid;
setInterval(() => {
  if (process.ppid !== parent) process.exit(0);
}, 500);
