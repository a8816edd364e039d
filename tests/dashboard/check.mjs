// tests/dashboard/check.mjs - drives the dashboard in Debian's Chromium
// (playwright-core, no downloaded browser). Run by tests/dashboard/run.py:
//
//   node check.mjs URL OUT_DIR
//
// 1. Loads URL and waits until the quorum table shows every node with a
//    leader among them; prints "READY".
// 2. Waits for a line "KILLED" on stdin (the brokers were killed).
// 3. Waits, without reloading the page, until the partitions table shows
//    an offline partition; takes OUT_DIR/dashboard.png.
// 4. Holds every /v1/brokers request unanswered: the page (run.py loads
//    it with ?timeout_ms=5000) must give it up
//    (the error under its panel, status stale), go on refreshing, and be
//    live again once requests are answered; prints "OK".
// Fails (exit 1) if the page asks for anything but the node it came from,
// reloads, or a step times out.
import { chromium } from "playwright-core";
import readline from "node:readline";

const [url, outDir] = process.argv.slice(2);
const origin = new URL(url).origin;
const lines = readline.createInterface({ input: process.stdin });
const nextLine = () => new Promise((resolve) => lines.once("line", resolve));
let page = null;
const inflight = new Map(); // request -> when it was sent
const failed = [];          // the last requests that failed
// What the page showed when a step failed: its tick count, status line,
// error lines and tables, so a failure in CI says where it stopped.
const pageState = async () => {
  if (!page) return "";
  return page.evaluate(() => {
    const text = (sel) => [...document.querySelectorAll(sel)].map((e) => e.textContent.trim()).filter(Boolean);
    const rowsOf = (id) => [...document.querySelectorAll("#" + id + " tbody tr")].map((r) =>
      (r.className ? "[" + r.className + "] " : "") + [...r.cells].map((c) => c.textContent.trim()).join(" "));
    return JSON.stringify({ ticks: document.body.dataset.ticks, status: text("#status"), errors: text(".err"),
      partitions: text("#partitions-summary").concat(rowsOf("partitions")), brokers: rowsOf("brokers"),
      quorum: rowsOf("quorum"), events: text("#events li").slice(0, 20) });
  }).catch((e) => "page state unavailable: " + e);
};
const fail = async (msg) => {
  const now = Date.now();
  const open = [...inflight].map(([r, t]) => r.url().replace(origin, "") + " (" + (now - t) + " ms)");
  console.log("FAIL " + msg + " " + await pageState() + " in_flight=" + JSON.stringify(open) +
              " failed=" + JSON.stringify(failed.slice(-10)));
  process.exit(1);
};

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"],
});
try {
  page = await browser.newPage({ viewport: { width: 1400, height: 1100 } });
  const foreign = [];
  page.on("request", (r) => { if (!r.url().startsWith(origin) && !r.url().startsWith("data:")) foreign.push(r.url()); });
  page.on("request", (r) => inflight.set(r, Date.now()));
  page.on("requestfinished", (r) => inflight.delete(r));
  page.on("requestfailed", (r) => { inflight.delete(r); failed.push(r.url() + " " + (r.failure() || {}).errorText); });
  const errors = [];
  page.on("pageerror", (e) => errors.push(String(e)));
  const clean = async () => {
    if (foreign.length) await fail("requests outside the node: " + foreign.join(" "));
    if (errors.length) await fail("script errors: " + errors.join(" | "));
  };
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
  if (cmd.trim() !== "KILLED") await fail("unexpected command " + cmd);
  await page.waitForFunction(() => document.querySelector("#partitions tbody tr.bad") !== null,
    null, { timeout: 30000 }).catch(() => fail("no offline partition shown"));
  const marker = await page.evaluate(() => window.__synod_marker);
  if (marker !== 42) await fail("the page reloaded");
  const ticks = await page.evaluate(() => Number(document.body.dataset.ticks));
  const offline = await page.$$eval("#partitions tbody tr.bad", (rs) => rs.map((r) => r.dataset.partition));
  const fenced = await page.$$eval("#brokers tbody tr.bad", (rs) => rs.length);
  await page.screenshot({ path: outDir + "/dashboard.png", fullPage: true });
  await clean();
  // 4. A request that is never answered (every /v1/brokers held by the
  //    browser) is given up: its panel shows the error, the status turns
  //    stale, and the page keeps refreshing the rest.
  await page.waitForFunction(() => document.getElementById("brokers-err").textContent === "" &&
    document.getElementById("status").className === "", null, { timeout: 30000 })
    .catch(() => fail("the page was not live before requests were held"));
  await page.route("**/v1/brokers*", () => {}); // neither fulfilled nor aborted
  await page.waitForFunction(() => /no answer in/.test(document.getElementById("brokers-err").textContent) &&
    document.getElementById("status").className === "stale", null, { timeout: 40000 })
    .catch(() => fail("a request never answered froze the page"));
  const t0 = await page.evaluate(() => Number(document.body.dataset.ticks));
  await page.waitForFunction((t) => Number(document.body.dataset.ticks) > t, t0, { timeout: 30000 })
    .catch(() => fail("the page stopped refreshing after a request was given up"));
  await page.unroute("**/v1/brokers*");
  await page.waitForFunction(() => document.getElementById("brokers-err").textContent === "" &&
    document.getElementById("status").className === "", null, { timeout: 30000 })
    .catch(() => fail("the page did not come back once requests were answered again"));
  await clean();
  console.log("OK offline=" + offline.join(",") + " fenced_rows=" + fenced + " ticks=" + ticks);
} finally {
  await browser.close();
}
process.exit(0);
