// The live stream page. Without ?stream=ID: the stream list and a start form. With it: the stream's latest frame,
// its counters and, as they arrive over server-sent events (/v1/streams/ID/events): its captions, the current top
// labels of a classify stream (each classification event replaces them) and the alert log of a watch stream.
// An API key, when the server needs one, is taken from ?key= and sent as api_key (EventSource cannot set headers).
"use strict";

const params = new URLSearchParams(location.search);
const key = params.get("key");
const withKey = (url) => key ? url + (url.includes("?") ? "&" : "?") + "api_key=" + encodeURIComponent(key) : url;
const $ = (id) => document.getElementById(id);
const ms = (v) => v > 0 ? Math.round(v) + " ms" : "–";
const clock = (s) => { const m = Math.floor(s / 60); return String(m).padStart(2, "0") + ":" + (s - 60 * m).toFixed(1).padStart(4, "0"); };

async function api(path, init) {
  const response = await fetch(withKey(path), init);
  const body = await response.json();
  if (!response.ok) throw new Error(body.message || response.statusText);
  return body;
}

function showCounters(stream) {
  const s = stream.stats;
  $("c-windows-in").textContent = s.windows_in;
  $("c-captioned").textContent = s.captioned;
  $("c-dropped").textContent = s.dropped;
  $("c-failed").textContent = s.failed;
  $("c-p50").textContent = ms(s.latency_p50_ms);
  $("c-p99").textContent = ms(s.latency_p99_ms);
  $("stream-state").textContent = stream.state;
  $("stream-source").textContent = stream.source;
  if (stream.error) { $("stream-error").hidden = false; $("stream-error").textContent = stream.error; }
}

function refreshFrame(tag) {
  $("frame").src = withKey("v1/streams/" + encodeURIComponent(params.get("stream")) + "/frame.png?n=" + tag);
}

function addCaption(c) {
  const li = document.createElement("li");
  li.className = "caption";
  li.dataset.window = c.window;
  const time = document.createElement("span");
  time.className = "time";
  time.textContent = clock(c.start_s) + "–" + clock(c.end_s);
  const text = document.createElement("span");
  text.className = "text";
  text.textContent = c.text;
  const latency = document.createElement("span");
  latency.className = "latency";
  latency.textContent = ms(c.latency_ms);
  li.append(time, text, latency);
  $("captions").prepend(li);
  $("latest-caption").textContent = c.text;
  refreshFrame(c.window);
}

function span(className, text) {
  const s = document.createElement("span");
  s.className = className;
  s.textContent = text;
  return s;
}

const TopLabels = 5;

// A classification event: the window's labels, best first; the page shows the best few of the latest window.
function showLabels(c) {
  $("labels-view").hidden = false;
  $("labels-window").textContent = clock(c.start_s) + "–" + clock(c.end_s);
  $("top-labels").replaceChildren(...c.labels.slice(0, TopLabels).map((l) => {
    const li = document.createElement("li");
    li.className = "label";
    const bar = document.createElement("meter");
    bar.min = 0; bar.max = 1; bar.value = l.score;
    li.append(span("name", l.label), bar, span("score", l.score.toFixed(3)));
    return li;
  }));
  refreshFrame(c.window);
}

// Queries whose alert has started and not stopped (an alert event carries one window's starts and stops).
const active = new Set();

function addAlerts(a) {
  $("alerts-view").hidden = false;
  for (const alert of a.alerts) {
    const li = document.createElement("li");
    li.className = "alert " + alert.event;
    li.dataset.window = a.window;
    li.append(span("time", clock(a.start_s) + "–" + clock(a.end_s)), span("event", alert.event === "start" ? "started" : "stopped"),
      span("query", alert.query), span("score", alert.score.toFixed(3)));
    $("alerts").prepend(li);
    if (alert.event === "start") active.add(alert.query); else active.delete(alert.query);
  }
  $("alerts-active").textContent = active.size ? "active: " + [...active].join("; ") : "none active";
  refreshFrame(a.window);
}

function followStream(id) {
  $("stream-view").hidden = false;
  $("stream-id").textContent = id;
  refreshFrame("first");
  const events = new EventSource(withKey("v1/streams/" + encodeURIComponent(id) + "/events"));
  events.addEventListener("caption", (e) => addCaption(JSON.parse(e.data)));
  events.addEventListener("classification", (e) => showLabels(JSON.parse(e.data)));
  events.addEventListener("alert", (e) => addAlerts(JSON.parse(e.data)));
  events.addEventListener("stats", (e) => showCounters(JSON.parse(e.data)));
  events.addEventListener("end", (e) => { showCounters(JSON.parse(e.data)); refreshFrame("end"); events.close(); });
  events.onerror = () => { if (events.readyState === EventSource.CLOSED) $("stream-state").textContent = "disconnected"; };
}

// POST /v1/streams body from the form: labels comma-separated, queries separated by ';' (a query may hold commas).
function startRequest() {
  const list = (value, separator) => value.split(separator).map((v) => v.trim()).filter((v) => v.length > 0);
  const request = { source: $("source").value, realtime: $("realtime").checked, task: $("task").value.trim() || "caption" };
  const labels = list($("labels").value, ","), queries = list($("queries").value, ";");
  if (labels.length) request.labels = labels;
  if (queries.length) request.queries = queries;
  if ($("threshold").value !== "") request.threshold = Number($("threshold").value);
  return request;
}

async function listStreams() {
  $("list-view").hidden = false;
  const body = $("streams").tBodies[0];
  const render = async () => {
    try {
      const streams = await api("v1/streams");
      body.replaceChildren(...streams.map((s) => {
        const row = body.insertRow();
        const link = document.createElement("a");
        link.href = "?stream=" + encodeURIComponent(s.id) + (key ? "&key=" + encodeURIComponent(key) : "");
        link.textContent = s.id;
        row.insertCell().append(link);
        for (const v of [s.source, s.state, s.stats.captioned, s.stats.dropped, s.stats.failed, ms(s.stats.latency_p50_ms)]) row.insertCell().textContent = v;
        return row;
      }));
    } catch (e) {
      $("start-error").hidden = false;
      $("start-error").textContent = e.message;
    }
  };
  await render();
  setInterval(render, 2000);
  $("start-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    try {
      const stream = await api("v1/streams", {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify(startRequest()),
      });
      location.search = "?stream=" + encodeURIComponent(stream.id) + (key ? "&key=" + encodeURIComponent(key) : "");
    } catch (err) {
      $("start-error").hidden = false;
      $("start-error").textContent = err.message;
    }
  });
}

if (params.get("stream")) followStream(params.get("stream"));
else listStreams();
