// The live caption page. Without ?stream=ID: the stream list and a start form. With it: the stream's latest frame,
// its captions as they arrive (server-sent events from /v1/streams/ID/events) and its counters.
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

function followStream(id) {
  $("stream-view").hidden = false;
  $("stream-id").textContent = id;
  refreshFrame("first");
  const events = new EventSource(withKey("v1/streams/" + encodeURIComponent(id) + "/events"));
  events.addEventListener("caption", (e) => addCaption(JSON.parse(e.data)));
  events.addEventListener("stats", (e) => showCounters(JSON.parse(e.data)));
  events.addEventListener("end", (e) => { showCounters(JSON.parse(e.data)); refreshFrame("end"); events.close(); });
  events.onerror = () => { if (events.readyState === EventSource.CLOSED) $("stream-state").textContent = "disconnected"; };
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
        body: JSON.stringify({ source: $("source").value, realtime: $("realtime").checked }),
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
