// Drive the dashboard page in headless Chromium and print what it shows as
// JSON on stdout. tests/browser/*.py call this with one scenario at a time:
//
//   node run.js '{"scenario": "dashboard", "baseUrl": "...", "readKey": "...", ...}'
//
// Every scenario opens a fresh profile and ends within the deadline below.
"use strict";

const fs = require("fs");
const os = require("os");
const path = require("path");
const { chromium } = require("playwright-core");

const DEADLINE_MS = 60000;
const WAIT_MS = 15000;

// The machine's network is closed: these flags stop Chromium from calling
// home, which would only produce refused connections.
const CHROMIUM_ARGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

// Read what the page shows: the tiles' visible text, the URL and the state.
function readPage() {
  const text = (node) => (node ? node.textContent.trim() : null);
  const visible = (id) => {
    const node = document.getElementById(id);
    return Boolean(node) && !node.hidden;
  };
  const tileFields = (tile) => {
    const fields = {};
    for (const node of tile.querySelectorAll("[data-field]")) {
      if (node.closest("table") || node.closest(".tile") !== tile) continue;
      fields[node.dataset.field] = text(node);
    }
    return fields;
  };
  const rowFields = (row) => {
    const fields = {};
    for (const node of row.querySelectorAll("[data-field]")) fields[node.dataset.field] = text(node);
    return fields;
  };
  return {
    state: document.body.dataset.state || null,
    path: window.location.pathname,
    search: window.location.search,
    status: text(document.getElementById("status")),
    keyPanel: visible("key-panel"),
    keyError: visible("key-error") ? text(document.getElementById("key-error")) : null,
    controlsError: visible("controls-error") ? text(document.getElementById("controls-error")) : null,
    emptyHint: visible("empty-hint") ? text(document.getElementById("empty-hint")) : null,
    noEventsHint: visible("hint-no-events"),
    noDashboardsHint: visible("hint-no-dashboards"),
    dashboardName: visible("dashboard-view") ? text(document.getElementById("dashboard-name")) : null,
    controls: {
      period: document.getElementById("period").value,
      compare: document.getElementById("compare").value,
      timezone: document.getElementById("timezone").value,
      segment_by: document.getElementById("segment_by").value,
      at: document.getElementById("at").value,
    },
    dashboards: Array.from(document.querySelectorAll("#dashboard-list li[data-key]")).map((item) => ({
      key: item.dataset.key,
      text: text(item.querySelector("a")),
      href: item.querySelector("a").getAttribute("href"),
    })),
    tiles: Array.from(document.querySelectorAll("#tiles .tile")).map((tile) => {
      const chart = tile.querySelector("svg.sparkline");
      const box = tile.getBoundingClientRect();
      return {
        metric: tile.dataset.metric,
        northStar: tile.classList.contains("tile-north-star"),
        name: text(tile.querySelector("h2")),
        fields: tileFields(tile),
        series: Array.from(tile.querySelectorAll(".tile-series tbody tr")).map((row) => ({
          start: row.dataset.start,
          complete: row.dataset.complete === "true",
          value: text(row.querySelector("[data-field=series-value]")),
        })),
        segments: Array.from(tile.querySelectorAll("table.segments tbody tr")).map((row) => ({
          segment: row.dataset.segment,
          ...rowFields(row),
        })),
        chart: chart
          ? {
              role: chart.getAttribute("role"),
              label: chart.getAttribute("aria-label"),
              dots: chart.querySelectorAll(".spark-dot").length,
              partialDots: chart.querySelectorAll(".spark-dot-partial").length,
              partialLines: chart.querySelectorAll(".spark-line-partial").length,
              partialDash: Array.from(chart.querySelectorAll(".spark-line-partial")).map(
                (line) => getComputedStyle(line).strokeDasharray,
              ),
            }
          : null,
        box: { x: Math.round(box.x), y: Math.round(box.y), width: Math.round(box.width) },
      };
    }),
    scrollWidth: document.documentElement.scrollWidth,
    innerWidth: window.innerWidth,
    html: document.documentElement.outerHTML,
    sessionKeyStored: window.sessionStorage.getItem("pug.readKey") !== null,
  };
}

async function settle(page) {
  await page.waitForFunction(
    () => {
      const state = document.body.dataset.state;
      return state && state !== "loading";
    },
    null,
    { timeout: WAIT_MS },
  );
  return page.evaluate(readPage);
}

async function enterKey(page, key) {
  await page.waitForSelector("#read-key", { state: "visible", timeout: WAIT_MS });
  await page.fill("#read-key", key);
  await page.click("#key-form button[type=submit]");
  return settle(page);
}

async function openWithKey(context, config, target) {
  const page = await context.newPage();
  watch(page, config);
  await page.goto(config.baseUrl + target, { waitUntil: "domcontentloaded" });
  const before = await settle(page);
  const after = await enterKey(page, config.readKey);
  return { page, before, after };
}

// Record requests to other origins, CSP violations and script errors.
const observed = { foreignRequests: [], consoleErrors: [], pageErrors: [], requestUrls: [] };

function watch(page, config) {
  const origin = new URL(config.baseUrl).origin;
  page.on("request", (request) => {
    const url = request.url();
    observed.requestUrls.push(url);
    if (!url.startsWith(origin) && !url.startsWith("data:")) observed.foreignRequests.push(url);
  });
  page.on("console", (message) => {
    if (message.type() === "error") observed.consoleErrors.push(message.text());
  });
  page.on("pageerror", (error) => observed.pageErrors.push(String(error)));
}

const scenarios = {
  // Open a dashboard with the view in the URL, enter the key, read the
  // tiles, save a screenshot, then reload to check the view and key persist.
  async dashboard(context, config) {
    const { page, before, after } = await openWithKey(context, config, config.path);
    if (config.screenshot) {
      fs.mkdirSync(path.dirname(config.screenshot), { recursive: true });
      await page.screenshot({ path: config.screenshot, fullPage: true });
    }
    await page.reload({ waitUntil: "domcontentloaded" });
    const reloaded = await settle(page);
    return { before, after, reloaded };
  },

  // Change the period, then the segment, then go back in history.
  async controls(context, config) {
    const { page, after } = await openWithKey(context, config, config.path);
    await page.selectOption("#period", config.period);
    const periodChanged = await settle(page);
    await page.fill("#segment_by", config.segmentBy);
    await page.press("#segment_by", "Enter");
    const segmented = await settle(page);
    await page.goBack({ waitUntil: "commit" });
    await page.waitForFunction((search) => window.location.search === search, periodChanged.search);
    const back = await settle(page);
    return { initial: after, periodChanged, segmented, back };
  },

  // A key the server rejects, then a write key, then the right key.
  async badKey(context, config) {
    const page = await context.newPage();
    watch(page, config);
    await page.goto(config.baseUrl + config.path, { waitUntil: "domcontentloaded" });
    await settle(page);
    const rejected = await enterKey(page, config.wrongKey);
    await page.fill("#read-key", config.writeKey);
    await page.click("#key-form button[type=submit]");
    const writeKey = await page.evaluate(readPage);
    const accepted = await enterKey(page, config.readKey);
    return { rejected, writeKey, accepted };
  },

  // Requests to the API fail at the network level, and the page reports it.
  async unreachable(context, config) {
    const page = await context.newPage();
    watch(page, config);
    await page.goto(config.baseUrl + config.path, { waitUntil: "domcontentloaded" });
    await settle(page);
    await page.route("**/v1/**", (route) => route.abort("connectionrefused"));
    const failed = await enterKey(page, config.readKey);
    await page.unroute("**/v1/**");
    await page.click("#status button");
    const retried = await settle(page);
    return { failed, retried };
  },

  // The dashboard list, or its empty state.
  async list(context, config) {
    const { after } = await openWithKey(context, config, "/");
    return { after };
  },

  // A phone's width: one column and no sideways scrolling.
  async phone(context, config) {
    const page = await context.newPage();
    await page.setViewportSize({ width: 375, height: 800 });
    watch(page, config);
    await page.goto(config.baseUrl + config.path, { waitUntil: "domcontentloaded" });
    await settle(page);
    const after = await enterKey(page, config.readKey);
    if (config.screenshot) await page.screenshot({ path: config.screenshot, fullPage: true });
    return { after };
  },
};

async function main() {
  const config = JSON.parse(process.argv[2]);
  const scenario = scenarios[config.scenario];
  if (!scenario) throw new Error("unknown scenario " + config.scenario);
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), "pug-chromium-"));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: config.chromium || "/usr/bin/chromium",
    headless: true,
    args: CHROMIUM_ARGS,
    locale: "en-US",
    timezoneId: "UTC",
    viewport: { width: 1280, height: 900 },
  });
  const timer = setTimeout(() => {
    process.stderr.write("scenario timed out after " + DEADLINE_MS + " ms\n");
    process.exit(3);
  }, DEADLINE_MS);
  try {
    const result = await scenario(context, config);
    process.stdout.write(JSON.stringify({ result, observed }) + "\n");
  } finally {
    clearTimeout(timer);
    await context.close();
    fs.rmSync(profile, { recursive: true, force: true });
  }
}

main().catch((error) => {
  process.stderr.write((error && error.stack) || String(error));
  process.stderr.write("\n");
  process.exit(1);
});
