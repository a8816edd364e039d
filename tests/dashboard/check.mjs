// tests/dashboard/check.mjs - drives the dashboard in Debian's Chromium
// (playwright-core, no downloaded browser). Run by tests/dashboard/run.py:
//
//   node check.mjs URL OUT_DIR
//
// 1. Loads URL and waits until the quorum table shows every node with a
//    leader among them; prints "READY".
// 2. Waits for a line "KILLED" on stdin (the brokers were killed).
// 3. Waits, without reloading the page, until the partitions table shows
//    an offline partition; takes OUT_DIR/dashboard.png; prints "OK".
// Fails (exit 1) if the page asks for anything but the node it came from,
// reloads, or a step times out.
import { chromium } from "playwright-core";
import readline from "node:readline";

const [url, outDir] = process.argv.slice(2);
const origin = new URL(url).origin;
const lines = readline.createInterface({ input: process.stdin });
const nextLine = () => new Promise((resolve) => lines.once("line", resolve));
const fail = (msg) => { console.log("FAIL " + msg); process.exit(1); };

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"],
});
try {
  const page = await browser.newPage({ viewport: { width: 1400, height: 1100 } });
  const foreign = [];
  page.on("request", (r) => { if (!r.url().startsWith(origin) && !r.url().startsWith("data:")) foreign.push(r.url()); });
  const errors = [];
  page.on("pageerror", (e) => errors.push(String(e)));
  await page.goto(url, { waitUntil: "load" });
  await page.evaluate(() => { window.__synod_marker = 42; });
  await page.waitForFunction(() => {
    const rows = document.querySelectorAll("#quorum tbody tr");
    return rows.length >= 3 && document.querySelector("#quorum .leader") !== null &&
      document.querySelectorAll("#brokers tbody tr").length > 0;
  }, null, { timeout: 20000 }).catch(() => fail("the quorum and brokers did not show"));
  const nodes = await page.$$eval("#quorum tbody tr", (rs) => rs.length);
  console.log("READY nodes=" + nodes);
  const cmd = await nextLine();
  if (cmd.trim() !== "KILLED") fail("unexpected command " + cmd);
  await page.waitForFunction(() => document.querySelector("#partitions tbody tr.bad") !== null,
    null, { timeout: 30000 }).catch(() => fail("no offline partition shown"));
  const marker = await page.evaluate(() => window.__synod_marker);
  if (marker !== 42) fail("the page reloaded");
  const ticks = await page.evaluate(() => Number(document.body.dataset.ticks));
  const offline = await page.$$eval("#partitions tbody tr.bad", (rs) => rs.map((r) => r.dataset.partition));
  const fenced = await page.$$eval("#brokers tbody tr.bad", (rs) => rs.length);
  await page.screenshot({ path: outDir + "/dashboard.png", fullPage: true });
  if (foreign.length) fail("requests outside the node: " + foreign.join(" "));
  if (errors.length) fail("script errors: " + errors.join(" | "));
  console.log("OK offline=" + offline.join(",") + " fenced_rows=" + fenced + " ticks=" + ticks);
} finally {
  await browser.close();
}
process.exit(0);
