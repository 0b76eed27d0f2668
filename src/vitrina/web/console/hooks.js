// An app's delivery log: its deliveries newest first, each with every
// attempt (status, duration, error, the request as sent, the answer's first
// 2 KiB, the next attempt), "Send again"; polled every two seconds while it
// is on screen, like the request log.

import { api } from "./api.js";
import { $, h, say } from "./dom.js";
import { can, state } from "./state.js";

const PAGE = 50;
let app = null;
let timer = null;
let shown = ""; // what the table draws, to redraw only on a change
const open = new Set(); // deliveries whose attempts are shown
const details = new Map(); // delivery id -> [key, attempts]

export function section() {
  const columns = ["Time", "Event", "Entity", "State", "Attempts", "Last answer", ""];
  return h(
    "section",
    { class: "deliveries", "aria-labelledby": "hooks-title" },
    h("h3", { id: "hooks-title", text: "Delivery log" }),
    h("p", {
      class: "hint",
      text: "Newest first. An event is sent until the app answers 200, 201, 202, 204 or 209; it may arrive more than once, so apps dedupe by eventId.",
    }),
    h("div", { class: "filters" }, h("label", { class: "check" }, h("input", { type: "checkbox", id: "hooks-live", checked: true, onchange: () => schedule(0) }), "Live")),
    h("p", { class: "error", role: "alert", id: "hooks-error" }),
    h("p", { class: "status", role: "status", id: "hooks-status" }),
    h("p", { class: "status", role: "status", id: "hooks-done" }),
    h(
      "div",
      { class: "table-wrap" },
      h("table", { id: "hooks-table" }, h("thead", {}, h("tr", {}, columns.map((text) => h("th", { scope: "col", text })))), h("tbody", { id: "hooks-rows" })),
    ),
  );
}

export function start(chosen) {
  app = chosen;
  shown = "";
  open.clear();
  details.clear();
  schedule(0);
}

export function stop() {
  app = null;
  clearTimeout(timer);
}

export function refresh() {
  if (app) schedule(0);
}

function schedule(delay) {
  clearTimeout(timer);
  timer = setTimeout(poll, delay);
}

async function poll() {
  const current = app;
  if (!current || !$("hooks-rows")) return;
  try {
    const page = await api("GET", "/_webhooks/deliveries", { params: { app: current.id, limit: PAGE } });
    if (app !== current) return;
    await draw(page.items);
    say($("hooks-error"), "");
  } catch (error) {
    if (app === current) say($("hooks-error"), error.message);
  }
  if (app === current && $("hooks-live")?.checked && !document.hidden) schedule(2000);
}

function when(text) {
  return text ? new Date(text).toLocaleString() : "";
}

function entity(delivery) {
  if (!delivery.eventType.startsWith("category.")) return `App #${delivery.entityId}`;
  const category = state.byId.get(delivery.entityId);
  return category ? `${category.name} (#${delivery.entityId})` : `Category #${delivery.entityId}`;
}

function answer(status) {
  return status === null ? "no answer" : `HTTP ${status}`;
}

async function attemptsOf(delivery) {
  const key = `${delivery.state}/${delivery.attemptCount}/${delivery.updated}`;
  const known = details.get(delivery.id);
  if (known && known[0] === key) return known[1];
  const found = (await api("GET", `/_webhooks/deliveries/${delivery.id}`)).attempts;
  details.set(delivery.id, [key, found]);
  return found;
}

async function draw(items) {
  const opened = await Promise.all(items.filter((d) => open.has(d.id)).map(attemptsOf));
  const signature = JSON.stringify([items, opened]);
  if (signature === shown) return;
  shown = signature;
  const focused = document.activeElement?.dataset?.action ? [document.activeElement.dataset.action, document.activeElement.dataset.id] : null;
  const rows = [];
  for (const delivery of items) {
    rows.push(row(delivery));
    if (open.has(delivery.id)) rows.push(attemptRow(delivery, details.get(delivery.id)[1]));
  }
  $("hooks-rows").replaceChildren(...rows);
  say($("hooks-status"), items.length ? "" : "No deliveries yet: the app's events will show here.");
  if (focused) $("hooks-rows").querySelector(`[data-action="${focused[0]}"][data-id="${focused[1]}"]`)?.focus();
}

function row(delivery) {
  const toggle = h("button", {
    type: "button",
    class: "link",
    "data-action": "attempts",
    "data-id": delivery.id,
    "aria-expanded": String(open.has(delivery.id)),
    text: open.has(delivery.id) ? "Hide attempts" : "Attempts",
    onclick: () => {
      if (open.has(delivery.id)) open.delete(delivery.id);
      else open.add(delivery.id);
      schedule(0);
    },
  });
  const again = can("update_catalog")
    ? h("button", { type: "button", "data-action": "replay", "data-id": delivery.id, text: "Send again", onclick: () => replay(delivery) })
    : null;
  const last = delivery.attemptCount ? answer(delivery.lastStatus) : "—";
  return h(
    "tr",
    { "data-id": delivery.id, class: `delivery ${delivery.state}` },
    h("td", {}, h("time", { datetime: delivery.created, text: when(delivery.created) })),
    h("td", { text: delivery.eventType }),
    h("td", { text: entity(delivery) }),
    h("td", { class: "state", text: delivery.state === "pending" && delivery.nextAttemptAt ? `pending, next ${when(delivery.nextAttemptAt)}` : delivery.state }),
    h("td", { text: String(delivery.attemptCount) }),
    h("td", { text: last, title: delivery.lastError || null }),
    h("td", { class: "actions-cell" }, toggle, again),
  );
}

function headers(sent) {
  return Object.entries(sent)
    .map(([name, value]) => `${name}: ${value}`)
    .join("\n");
}

function attemptRow(delivery, attempts) {
  const items = attempts.map((a) =>
    h(
      "li",
      { class: "attempt", "data-number": a.number },
      h("p", {}, h("strong", { text: `Attempt ${a.number}` }), ` · ${when(a.time)} · ${answer(a.status)} · ${a.durationMs.toFixed(1)} ms`),
      a.error ? h("p", { class: "attempt-error", text: a.error }) : null,
      h("p", { class: "hint", text: a.nextAttemptAt ? `Next attempt ${when(a.nextAttemptAt)}` : "No attempt follows." }),
      h("p", { class: "label", text: "Request as sent" }),
      h("pre", { class: "sent" }, `${headers(a.requestHeaders)}\n\n${a.requestBody}`),
      h("p", { class: "label", text: "Answer (its first 2 KiB)" }),
      h("pre", { class: "answer" }, a.response || "(empty)"),
    ),
  );
  const body = items.length
    ? h("ol", { class: "attempts" }, items)
    : h("p", { class: "hint", text: `Not sent yet (event ${delivery.eventId}).` });
  return h(
    "tr",
    { class: "attempts-row", "data-for": delivery.id },
    h("td", { colspan: "7" }, h("p", { class: "hint", text: `eventId ${delivery.eventId} · eventCreated ${delivery.eventCreated}` }), body),
  );
}

async function replay(delivery) {
  say($("hooks-error"), "");
  try {
    const queued = await api("POST", `/_webhooks/deliveries/${delivery.id}/replay`);
    say($("hooks-done"), `Queued delivery #${queued.id}: ${queued.eventType} again, same eventId.`);
    schedule(0);
  } catch (error) {
    say($("hooks-error"), error.message);
  }
}
