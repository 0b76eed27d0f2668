// The Apps page: the store's apps, created (the client secret shown this
// once), changed, uninstalled and deleted; a native app's page, opened in a
// frame (app-page.html); a signed test event for a category; and each app's
// delivery log (hooks.js). Like the rest of the console, a client of the
// API: the /_webhooks/… extensions, with the session's token.

import { api } from "./api.js";
import { $, confirmDialog, h, say } from "./dom.js";
import * as hooks from "./hooks.js";
import { can, state } from "./state.js";

const SCOPES = ["read_catalog", "create_catalog", "update_catalog", "read_store_profile", "public_storefront"];
const CATALOG = new Set(["read_catalog", "create_catalog", "update_catalog"]);
const EVENTS = [
  "category.created",
  "category.updated",
  "category.deleted",
  "application.installed",
  "application.uninstalled",
];

let apps = [];
let chosen = null; // an app's id, "new", or null

export function setup() {
  $("new-app").addEventListener("click", () => choose("new"));
}

export async function start() {
  for (const node of document.querySelectorAll(".write-apps")) node.hidden = !can("update_catalog");
  await refresh(chosen);
}

export function stop() {
  hooks.stop();
}

async function refresh(select) {
  try {
    apps = (await api("GET", "/_webhooks/apps")).items;
    say($("apps-error"), "");
  } catch (error) {
    apps = [];
    say($("apps-error"), error.message);
  }
  const known = select === "new" || apps.some((app) => app.id === select);
  await choose(known ? select : null);
}

function renderList() {
  const items = apps.map((app) =>
    h(
      "li",
      {},
      h(
        "button",
        { type: "button", class: "app-item", "data-id": app.id, "aria-pressed": String(app.id === chosen), onclick: () => choose(app.id) },
        h("span", { class: "name", text: app.name }),
        h("span", { class: "badge", text: app.webhookUrl ? "webhooks" : "no webhooks" }),
        app.installed ? null : h("span", { class: "badge", text: "not installed" }),
      ),
    ),
  );
  $("app-list").replaceChildren(...items);
  say($("apps-status"), apps.length ? `${apps.length} app${apps.length === 1 ? "" : "s"}` : "No apps yet.");
}

async function choose(id, secret = "") {
  chosen = id;
  hooks.stop();
  renderList();
  const panel = $("app-detail");
  const app = apps.find((a) => a.id === id);
  if (id === "new" && can("update_catalog")) {
    panel.replaceChildren(h("h2", { text: "New app" }), appForm(null));
    $("a-name").focus();
    return;
  }
  if (!app) {
    panel.replaceChildren(h("p", { class: "empty", text: "Choose an app, or create one." }));
    return;
  }
  const writes = can("update_catalog");
  panel.replaceChildren(
    ...[
      h("h2", { id: "app-title", text: app.name }),
      secret ? secretNote(secret) : null,
      summary(app),
      pageSection(app),
      hooks.section(),
      writes ? testForm(app) : null,
      writes
        ? h("details", { id: "app-settings", class: "settings" }, h("summary", { text: "Change the app" }), appForm(app))
        : null,
      writes ? deleteSection(app) : null,
    ].filter(Boolean),
  );
  hooks.start(app);
}

function secretNote(secret) {
  return h(
    "div",
    { class: "note secret", role: "status" },
    h("p", { text: "The client secret, shown only this once: it signs the app's webhooks (X-Ecwid-Webhook-Signature). Keep it with the app." }),
    h("code", { id: "app-secret", text: secret }),
  );
}

function summary(app) {
  const rows = [
    ["Client id", app.clientId],
    ["Webhook URL", app.webhookUrl || "none: no webhooks"],
    ["Events", app.events.length ? app.events.join(", ") : "every event its scopes let it see"],
    ["Scopes", app.scopes.join(", ")],
    ["Redirect URI", app.redirectUri || "—"],
    ["Iframe URL", app.iframeUrl || "—"],
    ["Installed", app.installed ? app.installed.replace("T", " ").replace("Z", " UTC") : "no: its tokens are revoked; the app installs itself again by OAuth"],
  ];
  return h("dl", { class: "summary", id: "app-summary" }, rows.flatMap(([name, value]) => [h("dt", { text: name }), h("dd", { text: value })]));
}

function checks(name, values, checked, disabled = () => false) {
  return h(
    "fieldset",
    { class: "checks" },
    h("legend", { text: name === "scope" ? "Scopes" : "Events" }),
    values.map((value) =>
      h(
        "label",
        { class: "check" },
        h("input", { type: "checkbox", name, value, checked: checked.includes(value), disabled: disabled(value) }),
        value,
      ),
    ),
    name === "event" ? h("p", { class: "hint", text: "None checked: every event its scopes let it see." }) : null,
  );
}

function chosenValues(form, name) {
  return [...form.querySelectorAll(`input[name=${name}]:checked`)].map((input) => input.value);
}

function appForm(app) {
  const field = (id, text, value, more = {}) => [
    h("label", { for: id, text }),
    h("input", { id, value: value || "", autocomplete: "off", ...more }),
  ];
  // a token grants no catalogue scope it lacks (the server says so too)
  const lacking = (scope) => CATALOG.has(scope) && !can(scope);
  const form = h(
    "form",
    { class: "fields", id: "app-form", novalidate: true },
    field("a-name", "Name", app?.name, { maxlength: "255", required: true }),
    field("a-webhook", "Webhook URL", app?.webhookUrl, { type: "url", placeholder: "https://app.example/webhooks" }),
    checks("event", EVENTS, app?.events || []),
    checks("scope", SCOPES, app?.scopes || ["read_catalog"], lacking),
    field("a-redirect", "Redirect URI (OAuth)", app?.redirectUri, { type: "url" }),
    field("a-iframe", "Iframe URL (the app's page)", app?.iframeUrl, { type: "url" }),
    h(
      "div",
      { class: "actions" },
      h("button", { type: "submit", id: "a-save", text: app ? "Save" : "Create app" }),
      h("span", { class: "status", id: "a-saved", role: "status" }),
    ),
    h("p", { class: "error", role: "alert", id: "a-error" }),
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    say($("a-error"), "");
    $("a-save").disabled = true;
    const body = {
      name: $("a-name").value,
      webhookUrl: $("a-webhook").value.trim(),
      events: chosenValues(form, "event"),
      scopes: chosenValues(form, "scope"),
      redirectUri: $("a-redirect").value.trim(),
      iframeUrl: $("a-iframe").value.trim(),
    };
    try {
      if (app) {
        await api("PUT", `/_webhooks/apps/${app.id}`, { json: body });
        apps = (await api("GET", "/_webhooks/apps")).items;
        await choose(app.id);
        $("app-settings").open = true; // where the change was made
        say($("a-saved"), "Saved.");
      } else {
        const created = await api("POST", "/_webhooks/apps", { json: body });
        apps = (await api("GET", "/_webhooks/apps")).items;
        await choose(created.id, created.clientSecret);
      }
    } catch (error) {
      say($("a-error"), error.message);
      $("a-save").disabled = false;
    }
  });
  return form;
}

function testForm(app) {
  const categories = [...state.byId.values()].sort((a, b) => a.name.localeCompare(b.name) || a.id - b.id);
  const select = h(
    "select",
    { id: "test-category" },
    categories.map((c) => h("option", { value: String(c.id), text: `${c.name} (#${c.id})` })),
  );
  const button = h("button", { type: "button", id: "send-test", text: "Send test event", disabled: !categories.length || !app.webhookUrl });
  button.addEventListener("click", async () => {
    say($("test-error"), "");
    say($("test-status"), "");
    try {
      const sent = await api("POST", `/_webhooks/apps/${app.id}/test`, { json: { categoryId: Number(select.value) } });
      say($("test-status"), `Queued delivery #${sent.id}: ${sent.eventType} of category #${sent.entityId}.`);
      hooks.refresh();
    } catch (error) {
      say($("test-error"), error.message);
    }
  });
  const why = !app.webhookUrl ? "The app has no webhook URL." : categories.length ? "" : "The store has no category to name yet.";
  return h(
    "fieldset",
    {},
    h("legend", { text: "Send test event" }),
    h("p", { class: "hint", text: "A signed category.updated for the category you pick, sent to this app alone." }),
    h("div", { class: "inline" }, h("label", { for: "test-category", class: "visually-hidden", text: "Category" }), select, button),
    h("p", { class: "status", id: "test-status", role: "status", text: why }),
    h("p", { class: "error", id: "test-error", role: "alert" }),
  );
}

/** A native app's page: its iframe URL, with the payload, in a frame. */
function pageSection(app) {
  if (!app.iframeUrl) return null;
  const frameHolder = h("div", { id: "app-page-holder" });
  const open = h("button", { type: "button", class: "primary", id: "open-app", text: "Open app", disabled: !app.installed });
  const close = h("button", { type: "button", id: "close-app", text: "Close", hidden: true });
  open.addEventListener("click", () => {
    // the page that holds the frame may frame this origin alone (web/console)
    const origin = new URL(app.iframeUrl).origin;
    const query = new URLSearchParams({ app: String(app.id), origin });
    frameHolder.replaceChildren(h("iframe", { class: "app-frame", id: "app-page", title: `${app.name}: the app's page`, src: `app-page.html?${query}` }));
    open.hidden = true;
    close.hidden = false;
  });
  close.addEventListener("click", () => {
    frameHolder.replaceChildren();
    open.hidden = false;
    close.hidden = true;
  });
  const why = app.installed ? "The app's own page, opened with the payload Ecwid hands a native app." : "Not installed: the app has no page until it is installed again.";
  return h(
    "section",
    { class: "app-page", "aria-label": "The app's page" },
    h("div", { class: "inline" }, h("p", { class: "hint", text: why }), h("span", {}, open, close)),
    frameHolder,
  );
}

function uninstallButton(app) {
  const button = h("button", { type: "button", id: "uninstall-app", text: "Uninstall" });
  button.addEventListener("click", async () => {
    const text = `Uninstall “${app.name}”? Its tokens stop working and it hears application.uninstalled. It stays here, and installs itself again by OAuth.`;
    if (!(await confirmDialog(text, "Uninstall"))) return;
    try {
      await api("POST", `/_webhooks/apps/${app.id}/uninstall`);
      await refresh(app.id);
    } catch (error) {
      say($("delete-app-error"), error.message);
    }
  });
  return button;
}

function deleteSection(app) {
  const button = h("button", { type: "button", class: "danger", id: "delete-app", text: "Delete app" });
  button.addEventListener("click", async () => {
    const text = `Delete the app “${app.name}”? Its tokens stop working, its waiting events are dropped, and it hears application.uninstalled.`;
    if (!(await confirmDialog(text))) return;
    try {
      await api("DELETE", `/_webhooks/apps/${app.id}`);
      await refresh(null);
    } catch (error) {
      say($("delete-app-error"), error.message);
    }
  });
  return h(
    "div",
    { class: "actions" },
    app.installed ? uninstallButton(app) : null,
    button,
    h("p", { class: "error", role: "alert", id: "delete-app-error" }),
  );
}
