// Pug dashboard page: reads the metrics API with the project's read key and
// draws the tiles. Plain JavaScript, no build step, nothing from other hosts.
//
// The read key lives in sessionStorage (this tab only) and leaves the
// browser only as "Authorization: Bearer" on requests to this server.
"use strict";

(function () {
  const KEY_STORAGE = "pug.readKey";
  // Query parameters that have a control on the page. The URL may also carry
  // the tile parameters in PASSED_PARAMS, which go to the API unchanged.
  const VIEW_PARAMS = ["period", "compare", "timezone", "segment_by", "at"];
  const PASSED_PARAMS = ["periods", "week_start", "segment_limit"];
  const PERIOD_NAMES = {
    day: ["day", "days"],
    week: ["week", "weeks"],
    month: ["month", "months"],
    quarter: ["quarter", "quarters"],
  };
  const SVG_NS = "http://www.w3.org/2000/svg";

  const body = document.body;
  const root = body.dataset.root || "";
  const $ = (id) => document.getElementById(id);

  // Each load takes a ticket. A response that arrives after a newer load
  // started is dropped, so fast control changes never show stale tiles.
  let loadTicket = 0;
  let metricNames = null;

  class ApiError extends Error {
    constructor(status, code, message, retryAfter) {
      super(message);
      this.status = status;
      this.code = code;
      this.retryAfter = retryAfter;
    }
  }

  // ---- small DOM helpers -------------------------------------------------

  function el(tag, attributes, ...children) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attributes || {})) {
      if (value === null || value === undefined || value === false) continue;
      if (name === "class") node.className = value;
      else if (name === "text") node.textContent = value;
      else node.setAttribute(name, value === true ? "" : String(value));
    }
    for (const child of children.flat()) {
      if (child === null || child === undefined || child === false) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }

  function svg(tag, attributes) {
    const node = document.createElementNS(SVG_NS, tag);
    for (const [name, value] of Object.entries(attributes || {})) {
      node.setAttribute(name, String(value));
    }
    return node;
  }

  function show(node, visible) {
    node.hidden = !visible;
  }

  // ---- the read key ------------------------------------------------------

  function readKey() {
    try {
      return window.sessionStorage.getItem(KEY_STORAGE);
    } catch (error) {
      return null;
    }
  }

  function storeKey(key) {
    window.sessionStorage.setItem(KEY_STORAGE, key);
  }

  function forgetKey() {
    window.sessionStorage.removeItem(KEY_STORAGE);
  }

  function askForKey(message) {
    setState("key");
    hideViews();
    setStatus("");
    const error = $("key-error");
    error.textContent = message || "";
    show(error, Boolean(message));
    show($("key-panel"), true);
    show($("change-key"), false);
    const input = $("read-key");
    input.value = "";
    input.focus();
  }

  function onKeySubmit(event) {
    event.preventDefault();
    const input = $("read-key");
    const key = input.value.trim();
    input.value = "";
    const error = $("key-error");
    if (!key) {
      error.textContent = "Enter the project's read key.";
      show(error, true);
      return;
    }
    if (key.startsWith("pw_")) {
      // A write key must not be sent as a bearer token: it would be rejected
      // and the user would not learn why.
      error.textContent =
        "That is a write key (it starts with pw_). The page needs the project's " +
        "read key, which starts with pr_.";
      show(error, true);
      return;
    }
    storeKey(key);
    show($("key-panel"), false);
    load();
  }

  // ---- the API -----------------------------------------------------------

  async function apiGet(path, params) {
    const url = new URL(root + path, window.location.origin);
    for (const [name, value] of Object.entries(params || {})) {
      if (value) url.searchParams.set(name, value);
    }
    let response;
    try {
      response = await fetch(url, {
        headers: { Authorization: "Bearer " + readKey(), Accept: "application/json" },
        cache: "no-store",
        credentials: "omit",
      });
    } catch (error) {
      throw new ApiError(0, "unreachable", "the server did not respond");
    }
    let payload = null;
    try {
      payload = await response.json();
    } catch (error) {
      payload = null;
    }
    if (!response.ok) {
      const detail = (payload && payload.error) || {};
      throw new ApiError(
        response.status,
        detail.code || "http_" + response.status,
        detail.message || response.statusText || "request failed",
        response.headers.get("Retry-After"),
      );
    }
    return payload;
  }

  async function hasEvents() {
    const answer = await apiGet("/v1/events", { limit: "1" });
    return Boolean(answer && answer.events && answer.events.length);
  }

  async function loadMetricNames() {
    if (metricNames) return metricNames;
    try {
      const answer = await apiGet("/v1/metrics");
      const metrics = Array.isArray(answer) ? answer : (answer && answer.metrics) || [];
      metricNames = new Map(metrics.map((metric) => [metric.key, metric.name]));
    } catch (error) {
      if (error.status === 401) throw error;
      // Names are a nicety: the tiles still show their metric keys.
      metricNames = new Map();
    }
    return metricNames;
  }

  // ---- states ------------------------------------------------------------

  function hideViews() {
    for (const id of ["list-view", "dashboard-view", "empty-hint", "key-panel"]) {
      show($(id), false);
    }
  }

  function setStatus(message, options) {
    if (options && options.kind === "error") setState("error");
    const status = $("status");
    status.replaceChildren();
    status.className = "status" + (options && options.kind ? " status-" + options.kind : "");
    status.setAttribute("role", options && options.kind === "error" ? "alert" : "status");
    if (!message) return;
    status.append(el("p", { text: message }));
    if (options && options.retry) {
      const retry = el("button", { type: "button", text: "Retry" });
      retry.addEventListener("click", () => load());
      status.append(retry);
    }
    if (options && options.link) {
      status.append(el("a", { href: options.link.href, text: options.link.text }));
    }
  }

  function showError(error) {
    if (error.status === 401) {
      forgetKey();
      metricNames = null;
      askForKey(
        "Read key rejected: the server did not accept that key for any project. " +
          "Check it and enter it again.",
      );
      return;
    }
    if (error.status === 0) {
      setStatus(
        "Server unreachable: no answer from " + window.location.origin +
          ". Check that pug-server is running, then retry.",
        { kind: "error", retry: true },
      );
      return;
    }
    if (error.status === 503) {
      const wait = error.retryAfter ? " Retry in " + error.retryAfter + " seconds." : "";
      setStatus("The server's database is unavailable." + wait, { kind: "error", retry: true });
      return;
    }
    if (!(error instanceof ApiError)) {
      // A bug in this page, not an API error: keep the details in the console.
      console.error(error);
      setStatus("The page failed to show this view: " + error.message, { kind: "error", retry: true });
      return;
    }
    setStatus("Request failed (" + error.status + "): " + error.message, {
      kind: "error",
      retry: true,
    });
  }

  function showEmptyHint(noEvents, noDashboards) {
    for (const node of document.querySelectorAll("#empty-hint .origin")) {
      node.textContent = window.location.origin + root;
    }
    show($("hint-no-events"), noEvents);
    show($("hint-no-dashboards"), noDashboards);
    show($("empty-hint"), noEvents || noDashboards);
  }

  // ---- the dashboard list ------------------------------------------------

  async function loadList(ticket) {
    setStatus("Loading dashboards…", { kind: "loading" });
    const [answer, anyEvents] = await Promise.all([apiGet("/v1/dashboards"), hasEvents()]);
    if (ticket !== loadTicket) return;
    const dashboards = Array.isArray(answer) ? answer : (answer && answer.dashboards) || [];
    const list = $("dashboard-list");
    list.replaceChildren(
      ...dashboards.map((dashboard) =>
        el(
          "li",
          { "data-key": dashboard.key },
          el("a", {
            href: root + "/dashboards/" + encodeURIComponent(dashboard.key),
            text: dashboard.name || dashboard.key,
          }),
          dashboard.north_star
            ? el("span", { class: "muted", text: " North Star: " + dashboard.north_star })
            : null,
        ),
      ),
    );
    setStatus("");
    show($("list-view"), true);
    if (!dashboards.length) {
      list.append(el("li", { class: "muted", text: "This project has no dashboards yet." }));
    }
    showEmptyHint(!anyEvents, !dashboards.length);
  }

  // ---- the dashboard view ------------------------------------------------

  function dashboardKey() {
    const prefix = root + "/dashboards/";
    const path = window.location.pathname;
    return path.startsWith(prefix) ? decodeURIComponent(path.slice(prefix.length)) : "";
  }

  function viewParams() {
    const search = new URLSearchParams(window.location.search);
    const params = {};
    for (const name of VIEW_PARAMS.concat(PASSED_PARAMS)) {
      const value = (search.get(name) || "").trim();
      if (value) params[name] = value;
    }
    return params;
  }

  function paramsToControls(params) {
    $("period").value = params.period || "";
    $("compare").value = params.compare || "previous";
    $("timezone").value = params.timezone || "";
    $("segment_by").value = params.segment_by || "";
    $("at").value = params.at || "";
  }

  function controlsToParams() {
    const params = {};
    for (const name of VIEW_PARAMS) {
      const value = $(name).value.trim();
      if (value) params[name] = value;
    }
    // "previous" is the API's default; leaving it out keeps shared URLs short.
    if (params.compare === "previous") delete params.compare;
    const current = viewParams();
    for (const name of PASSED_PARAMS) {
      if (current[name]) params[name] = current[name];
    }
    return params;
  }

  function onControlsChange(event) {
    if (event) event.preventDefault();
    const params = controlsToParams();
    const search = new URLSearchParams(params).toString();
    const target = window.location.pathname + (search ? "?" + search : "");
    if (target !== window.location.pathname + window.location.search) {
      window.history.pushState(null, "", target);
    }
    load();
  }

  async function loadDashboard(ticket) {
    const key = dashboardKey();
    const params = viewParams();
    paramsToControls(params);
    show($("dashboard-view"), true);
    show($("controls-error"), false);

    const tiles = $("tiles");
    tiles.setAttribute("aria-busy", "true");
    setStatus("Loading dashboard…", { kind: "loading" });
    let dashboard;
    let names;
    let anyEvents;
    try {
      [dashboard, names, anyEvents] = await Promise.all([
        apiGet("/v1/dashboards/" + encodeURIComponent(key), params),
        loadMetricNames(),
        hasEvents(),
      ]);
    } catch (error) {
      if (ticket !== loadTicket) return;
      tiles.removeAttribute("aria-busy");
      if (error.status === 404) {
        tiles.replaceChildren();
        show($("dashboard-view"), false);
        setStatus("Dashboard not found: this project has no dashboard with the key " +
          JSON.stringify(key) + ".", {
          kind: "error",
          link: { href: root + "/", text: "See all dashboards" },
        });
        return;
      }
      if (error.status === 400 || error.status === 422) {
        // The API rejected a view setting: show its message, keep the controls.
        setStatus("");
        setState("error");
        const message = $("controls-error");
        message.textContent = "The server rejected these settings: " + error.message;
        show(message, true);
        return;
      }
      throw error;
    }

    if (ticket !== loadTicket) return;
    $("dashboard-name").textContent = dashboard.name || dashboard.key;
    document.title = (dashboard.name || dashboard.key) + " · Pug";
    const all = [dashboard.north_star, ...(dashboard.inputs || [])].filter(Boolean);
    tiles.replaceChildren(
      ...all.map((tile, index) => renderTile(tile, names, index === 0, params)),
    );
    tiles.removeAttribute("aria-busy");
    setStatus("");
    showEmptyHint(!anyEvents, false);
  }

  // body[data-state] is loading, ready, error or key: a stable hook for
  // styling and for the browser tests, which wait for it to settle.
  function setState(state) {
    body.dataset.state = state;
  }

  async function load() {
    const ticket = ++loadTicket;
    if (!readKey()) {
      askForKey("");
      return;
    }
    setState("loading");
    show($("change-key"), true);
    show($("key-panel"), false);
    try {
      if (body.dataset.view === "dashboard") await loadDashboard(ticket);
      else await loadList(ticket);
    } catch (error) {
      if (ticket !== loadTicket) return;
      showError(error);
    }
    if (ticket === loadTicket && body.dataset.state === "loading") setState("ready");
  }

  // ---- number and date formatting ----------------------------------------

  function isRate(tile) {
    return /^(rate|ratio|share|fraction)\b/.test(tile.unit || "");
  }

  function unitLabel(tile) {
    const unit = tile.unit || "";
    if (isRate(tile)) return "rate";
    const group = /^groups?:(.+)$/.exec(unit);
    if (group) return group[1].endsWith("s") ? group[1] : group[1] + "s";
    if (unit === "person" || unit === "persons") return "persons";
    if (unit === "event" || unit === "events") return "events";
    return unit;
  }

  const countFormat = new Intl.NumberFormat(undefined, { maximumFractionDigits: 2 });
  const signedCountFormat = new Intl.NumberFormat(undefined, {
    maximumFractionDigits: 2,
    signDisplay: "exceptZero",
  });
  const percentFormat = new Intl.NumberFormat(undefined, {
    style: "percent",
    minimumFractionDigits: 1,
    maximumFractionDigits: 1,
  });
  const signedPercentFormat = new Intl.NumberFormat(undefined, {
    style: "percent",
    minimumFractionDigits: 1,
    maximumFractionDigits: 1,
    signDisplay: "exceptZero",
  });
  const pointsFormat = new Intl.NumberFormat(undefined, {
    minimumFractionDigits: 1,
    maximumFractionDigits: 1,
    signDisplay: "exceptZero",
  });

  function formatValue(value, rate) {
    if (value === null || value === undefined) return "no data";
    return rate ? percentFormat.format(value) : countFormat.format(value);
  }

  // Return [arrow, words] for the sign of a change: the arrow and the sign
  // carry the direction, so colour is never the only signal.
  function direction(amount) {
    if (amount > 0) return ["▲", "up"];
    if (amount < 0) return ["▼", "down"];
    return ["■", "flat"];
  }

  function describeChange(change, previousValue, rate) {
    if (!change || change.absolute === null || change.absolute === undefined) {
      return { kind: "none", absolute: "no comparison", relative: "" };
    }
    const [arrow, kind] = direction(change.absolute);
    // A rate's change is the difference of two fractions, shown in
    // percentage points.
    const absolute = rate
      ? pointsFormat.format(change.absolute * 100) + " pts"
      : signedCountFormat.format(change.absolute);
    let relative;
    if (rate) relative = "";
    else if (change.relative === null || change.relative === undefined || previousValue === 0) {
      const previousZero = previousValue === 0 || change.relative_reason === "previous_zero";
      relative = previousZero ? "no comparison: previous value is 0" : "no comparison";
    } else relative = "(" + signedPercentFormat.format(change.relative) + ")";
    return { kind, arrow, absolute, relative };
  }

  function validZone(zone) {
    try {
      new Intl.DateTimeFormat(undefined, { timeZone: zone });
      return zone;
    } catch (error) {
      return "UTC";
    }
  }

  // Intervals are half-open, so a period is shown from its start date to
  // the date of the instant just before its end.
  function formatRange(range, zone, period) {
    if (!range || !range.start || !range.end) return "";
    const start = new Date(range.start);
    const last = new Date(Date.parse(range.end) - 1);
    const format = new Intl.DateTimeFormat(undefined, {
      timeZone: validZone(zone),
      year: "numeric",
      month: "short",
      day: "numeric",
    });
    if (period === "day" || format.format(start) === format.format(last)) {
      return format.format(start);
    }
    return format.formatRange(start, last);
  }

  // ---- tiles -------------------------------------------------------------

  function renderTile(tile, names, northStar, params) {
    const rate = isRate(tile);
    const name = names.get(tile.metric) || tile.metric;
    const zone = tile.timezone || "UTC";
    const period = tile.period;
    const headingId = "tile-" + tile.metric;
    const current = tile.current || {};
    const previous = tile.previous;
    const comparing = params.compare !== "none" && previous;
    const change = comparing ? describeChange(tile.change, previous.value, rate) : null;

    const article = el("article", {
      class: "tile" + (northStar ? " tile-north-star" : ""),
      "data-metric": tile.metric,
      "aria-labelledby": headingId,
    });
    article.append(
      el(
        "header",
        { class: "tile-header" },
        northStar ? el("p", { class: "tile-badge", text: "North Star" }) : null,
        el("h2", { id: headingId, text: name }),
        el("p", { class: "tile-unit", "data-field": "unit", text: unitLabel(tile) }),
      ),
      el(
        "p",
        { class: "tile-period" },
        el("span", { class: "visually-hidden", text: "Current period: " }),
        el("span", { "data-field": "current-dates", text: formatRange(current, zone, period) }),
        " ",
        el("span", { class: "muted", text: "(" + zone + ")" }),
        current.complete === false
          ? el("span", {
              class: "partial-badge",
              "data-field": "partial",
              text: "partial: " + percentFormat.format(current.coverage || 0) + " elapsed",
            })
          : null,
      ),
      el("p", { class: "tile-value", "data-field": "current", text: formatValue(current.value, rate) }),
    );
    if (change) {
      article.append(
        el(
          "p",
          { class: "tile-change change-" + change.kind, "data-field": "change" },
          change.arrow ? el("span", { "aria-hidden": "true", text: change.arrow + " " }) : null,
          el("span", { class: "visually-hidden", text: change.kind === "none" ? "" : change.kind + " " }),
          el("span", { "data-field": "change-absolute", text: change.absolute }),
          change.relative
            ? el("span", {
                class: change.relative.startsWith("(") ? null : "change-note",
                "data-field": "change-relative",
                text: " " + change.relative,
              })
            : null,
        ),
        el(
          "p",
          { class: "tile-previous" },
          "Previous: ",
          el("span", { "data-field": "previous", text: formatValue(previous.value, rate) }),
          ", ",
          el("span", { "data-field": "previous-dates", text: formatRange(previous, zone, period) }),
        ),
      );
    } else {
      article.append(
        el("p", { class: "tile-change change-none", "data-field": "change" },
          el("span", { "data-field": "change-absolute", text: "no comparison" })),
      );
    }
    const points = seriesPoints(tile);
    if (points.length) {
      article.append(sparkline(points, name, rate, zone, period), seriesTable(points, rate, zone, period));
    }
    if (tile.segments && tile.segments.length) {
      article.append(segmentTable(tile, rate, comparing, params));
    }
    return article;
  }

  // The series ends with the current period; it is appended when the API's
  // series stops before it.
  function seriesPoints(tile) {
    const points = (tile.series || []).slice();
    const current = tile.current;
    if (current && current.start) {
      const last = points[points.length - 1];
      if (!last || Date.parse(last.start) < Date.parse(current.start)) points.push(current);
    }
    return points;
  }

  function sparkline(points, name, rate, zone, period) {
    const width = 240;
    const height = 56;
    const pad = 5;
    const values = points.map((point) => point.value).filter((value) => typeof value === "number");
    const low = Math.min(0, ...values);
    const high = Math.max(...values, low + 1e-9);
    const x = (index) =>
      points.length === 1 ? width / 2 : pad + (index * (width - 2 * pad)) / (points.length - 1);
    const y = (value) => height - pad - ((value - low) * (height - 2 * pad)) / (high - low);

    const partialCount = points.filter((point) => point.complete === false).length;
    const label =
      name + ", last " + points.length + " " + plural(period, points.length) + ": " +
      points.map((point) => formatValue(point.value, rate)).join(", ") +
      (partialCount ? "; partial periods drawn dashed and hollow" : "");
    const chart = svg("svg", {
      class: "sparkline",
      viewBox: "0 0 " + width + " " + height,
      role: "img",
      "aria-label": label,
      preserveAspectRatio: "none",
    });
    // Solid lines join two complete periods; a line that reaches a partial
    // period is dashed, and the partial point is hollow.
    for (let index = 1; index < points.length; index += 1) {
      const from = points[index - 1];
      const to = points[index];
      if (typeof from.value !== "number" || typeof to.value !== "number") continue;
      const partial = from.complete === false || to.complete === false;
      chart.append(
        svg("line", {
          x1: x(index - 1),
          y1: y(from.value),
          x2: x(index),
          y2: y(to.value),
          class: partial ? "spark-line spark-line-partial" : "spark-line",
        }),
      );
    }
    // Dots are zero-length round-capped paths with a non-scaling stroke, so
    // they stay round when the chart is stretched to the tile's width. A
    // partial period's dot is hollow: a paper-coloured core inside a ring.
    points.forEach((point, index) => {
      if (typeof point.value !== "number") return;
      const partial = point.complete === false;
      const where = "M " + x(index) + " " + y(point.value) + " h 0";
      const dot = svg("g", { class: partial ? "spark-dot spark-dot-partial" : "spark-dot" });
      dot.append(svg("path", { d: where, class: "spark-dot-ring" }));
      if (partial) dot.append(svg("path", { d: where, class: "spark-dot-core" }));
      const title = svg("title", {});
      title.textContent =
        formatRange(point, zone, period) + ": " + formatValue(point.value, rate) +
        (partial ? " (partial)" : "");
      dot.append(title);
      chart.append(dot);
    });
    return chart;
  }

  function plural(period, count) {
    const words = PERIOD_NAMES[period] || ["period", "periods"];
    return count === 1 ? words[0] : words[1];
  }

  function seriesTable(points, rate, zone, period) {
    return el(
      "details",
      { class: "tile-series" },
      el("summary", { text: "Series: " + points.length + " " + plural(period, points.length) }),
      el(
        "table",
        {},
        el("thead", {}, el("tr", {}, el("th", { scope: "col", text: "Period" }),
          el("th", { scope: "col", text: "Value" }))),
        el(
          "tbody",
          {},
          points.map((point) =>
            el(
              "tr",
              { "data-start": point.start, "data-complete": String(point.complete !== false) },
              el("td", { text: formatRange(point, zone, period) + (point.complete === false ? " (partial)" : "") }),
              el("td", { "data-field": "series-value", text: formatValue(point.value, rate) }),
            ),
          ),
        ),
      ),
    );
  }

  function segmentTable(tile, rate, comparing, params) {
    const heading = ["Segment", "Current"].concat(comparing ? ["Previous", "Change"] : []);
    return el(
      "table",
      { class: "segments" },
      el("caption", { text: "By " + (tile.segment_by || params.segment_by || "segment") }),
      el("thead", {}, el("tr", {}, heading.map((text) => el("th", { scope: "col", text })))),
      el(
        "tbody",
        {},
        tile.segments.map((segment) => {
          const label = segment.segment === null || segment.segment === undefined
            ? "(none)"
            : String(segment.segment);
          const row = el(
            "tr",
            { "data-segment": label },
            el("th", { scope: "row", text: label }),
            el("td", { "data-field": "current", text: formatValue(segment.current, rate) }),
          );
          if (comparing) {
            const change = describeChange(segment.change, segment.previous, rate);
            row.append(
              el("td", { "data-field": "previous", text: formatValue(segment.previous, rate) }),
              el(
                "td",
                { class: "change-" + change.kind, "data-field": "change" },
                change.arrow ? el("span", { "aria-hidden": "true", text: change.arrow + " " }) : null,
                change.arrow ? el("span", { class: "visually-hidden", text: change.kind + " " }) : null,
                el("span", { "data-field": "change-absolute", text: change.absolute }),
                change.relative
                  ? el("span", {
                class: change.relative.startsWith("(") ? null : "change-note",
                "data-field": "change-relative",
                text: " " + change.relative,
              })
                  : null,
              ),
            );
          }
          return row;
        }),
      ),
    );
  }

  // ---- start -------------------------------------------------------------

  function fillTimeZones() {
    if (typeof Intl.supportedValuesOf !== "function") return;
    const list = $("timezones");
    list.replaceChildren(...Intl.supportedValuesOf("timeZone").map((zone) => el("option", { value: zone })));
  }

  function start() {
    $("key-form").addEventListener("submit", onKeySubmit);
    $("change-key").addEventListener("click", () => {
      forgetKey();
      metricNames = null;
      askForKey("");
    });
    const controls = $("controls");
    controls.addEventListener("submit", onControlsChange);
    controls.addEventListener("change", onControlsChange);
    window.addEventListener("popstate", () => load());
    fillTimeZones();
    load();
  }

  start();
})();
