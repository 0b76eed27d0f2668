// The request log: the store's last API requests, newest first, filtered by
// status class and path, polled while it is on screen.

import { api } from "./api.js";
import { $, h, say } from "./dom.js";

const MAX_ROWS = 1000;
let newest = 0;
let timer = null;
let active = false;

export function setup() {
  for (const id of ["log-status", "log-path"]) {
    $(id).addEventListener("input", () => restart());
  }
  $("log-live").addEventListener("change", () => (active ? schedule(0) : null));
  $("log-filters").addEventListener("submit", (event) => event.preventDefault());
  document.addEventListener("visibilitychange", () => {
    if (!document.hidden && active) schedule(0);
  });
}

export function start() {
  active = true;
  restart();
}

export function stop() {
  active = false;
  clearTimeout(timer);
}

function restart() {
  newest = 0;
  $("log-rows").replaceChildren();
  schedule(0);
}

function schedule(delay) {
  clearTimeout(timer);
  timer = setTimeout(poll, delay);
}

function row(entry) {
  const when = new Date(entry.time);
  const target = entry.path + (entry.query ? `?${entry.query}` : "");
  return h(
    "tr",
    { "data-id": entry.id },
    h("td", {}, h("time", { datetime: entry.time, text: when.toLocaleTimeString() })),
    h("td", { text: entry.method }),
    h("td", { class: "path", text: target }),
    h("td", { class: `s${String(entry.status)[0]}`, text: String(entry.status) }),
    h("td", { text: `${entry.durationMs.toFixed(1)} ms` }),
    h("td", { text: entry.errorCode || "" }),
  );
}

async function poll() {
  if (!active) return;
  try {
    const page = await api("GET", "/_requests", {
      params: { after: newest, status: $("log-status").value, path: $("log-path").value, limit: 200 },
    });
    say($("log-error"), "");
    if (page.items.length) {
      newest = Math.max(newest, ...page.items.map((e) => e.id));
      const body = $("log-rows");
      body.prepend(...page.items.map(row));
      while (body.children.length > MAX_ROWS) body.lastElementChild.remove();
    }
  } catch (error) {
    say($("log-error"), error.message);
  }
  if (active && $("log-live").checked && !document.hidden) schedule(2000);
}
