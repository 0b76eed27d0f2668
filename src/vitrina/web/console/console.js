// The console's entry: sign in, load the store, switch between the category
// tree and the request log.

import {
  allCategories,
  api,
  ApiError,
  exchange,
  rememberName,
  session,
  signIn,
  signOut,
  takeFragment,
} from "./api.js";
import * as apps from "./apps.js";
import * as detail from "./detail.js";
import { $, confirmDialog, say } from "./dom.js";
import * as log from "./log.js";
import { can, index, state } from "./state.js";
import * as tree from "./tree.js";

async function load(selectId = state.selected) {
  const items = await allCategories(can("read_catalog") ? { hidden_categories: "true" } : {});
  index(items);
  if (selectId !== null && !state.byId.has(selectId)) selectId = null;
  state.selected = selectId;
  if (state.searching !== null) await search($("search").value);
  if (selectId !== null) {
    await tree.select(selectId, false);
  } else {
    tree.render();
    await detail.show(null);
  }
}

async function search(keyword) {
  if (!keyword.trim()) {
    state.searching = null;
    $("search-clear").hidden = true;
  } else {
    const found = await allCategories({ keyword, hidden_categories: "true" });
    state.searching = found.map((c) => c.id);
    $("search-clear").hidden = false;
  }
  tree.render();
}

const SECTIONS = ["catalog", "requests", "apps"];

function showTab(name) {
  for (const section of SECTIONS) {
    $(section).hidden = section !== name;
    $(`tab-${section}`).setAttribute("aria-pressed", String(section === name));
  }
  if (name === "requests") log.start();
  else log.stop();
  if (name === "apps") apps.start();
  else apps.stop();
}

async function enter() {
  const { store } = session();
  state.store = store;
  const [token, profile] = await Promise.all([api("GET", "/_token"), api("GET", "/profile")]);
  state.scopes = new Set(token.public ? ["read_catalog"] : token.scopes);
  state.profile = profile;
  rememberName(profile.settings.storeName);
  say($("store-name"), `${profile.settings.storeName} · store ${store}`);
  document.title = `${profile.settings.storeName} · vitrina console`;
  const readOnly = !can("update_catalog") || !can("create_catalog");
  const note = $("readonly-note");
  note.hidden = !readOnly;
  const missing = ["create_catalog", "update_catalog"].filter((s) => !can(s));
  say(
    note,
    token.public
      ? "Signed in with a public token: you see enabled categories only and cannot change anything."
      : readOnly
        ? `This token lacks ${missing.join(" and ")}, so the controls that need ${missing.length > 1 ? "them" : "it"} are hidden.`
        : "",
  );
  for (const node of document.querySelectorAll(".write")) node.hidden = !can("create_catalog");
  $("tab-requests").hidden = token.public;
  $("tab-apps").hidden = token.public || !can("read_catalog");
  $("signin").hidden = true;
  $("tabs").hidden = false;
  showTab("catalog");
  await load(null);
}

const NEW_LINK = "vitrina console-link --store N prints a sign-in link (make run prints one at every start)";

function notice(text) {
  say($("link-notice"), text);
  $("link-notice").hidden = !text;
}

/** Exchange a sign-in link's code for a session. A tab already signed in
 * shows its store and asks first, naming both stores; Cancel keeps the
 * session and leaves the code unused. */
async function signInWith(link) {
  // the store this tab is in shows behind the question
  if (session() && $("tabs").hidden) await tryEnter();
  const current = session(); // null when that session had ended
  if (current) {
    const here = current.name ? `“${current.name}” (store ${current.store})` : `store ${current.store}`;
    const replace = await confirmDialog(
      `This tab is signed in to ${here}. The link you opened signs in to store ${link.store}. ` +
        `Leave ${here} and sign in to store ${link.store}?`,
      `Sign in to store ${link.store}`,
      false,
    );
    if (!replace) {
      notice(`You are still signed in to ${here}. The sign-in link was not used.`);
      return;
    }
  }
  try {
    const made = await exchange(link.store, link.code);
    signIn(made.storeId, made.token, made.expiresAt);
  } catch (error) {
    notice(error.message);
    return;
  }
  if (current) location.reload(); // a fresh page for the other session
  else await tryEnter();
}

async function start() {
  const link = takeFragment();
  tree.setup({ select: (id) => detail.show(id), changed: (id) => load(id) });
  detail.setup({ reload: (id) => load(id) });
  log.setup();
  apps.setup();

  $("signin-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const store = $("signin-store").value.trim();
    const token = $("signin-token").value.trim();
    if (!/^\d+$/.test(store) || !token) {
      say($("signin-error"), "Enter a store id (a number) and a token.");
      return;
    }
    signIn(store, token);
    await tryEnter();
  });
  $("sign-out").addEventListener("click", () => {
    signOut();
    location.reload();
  });
  $("tab-catalog").addEventListener("click", () => showTab("catalog"));
  $("tab-requests").addEventListener("click", () => showTab("requests"));
  $("tab-apps").addEventListener("click", () => showTab("apps"));
  $("search-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    await search($("search").value).catch((error) => say($("tree-status"), error.message));
  });
  $("search-clear").addEventListener("click", async () => {
    $("search").value = "";
    await search("");
  });
  $("new-root-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    say($("new-root-error"), "");
    try {
      const created = await api("POST", "/categories", { json: { name: $("new-root-name").value } });
      $("new-root-name").value = "";
      await load(created.id);
    } catch (error) {
      say($("new-root-error"), error.message);
    }
  });
  // a link pasted into this tab's address bar changes only the fragment
  window.addEventListener("hashchange", () => follow(takeFragment()));
  if (!(await follow(link)) && session()) await tryEnter();
}

/** Act on what the address's fragment asked for; whether it was a sign-in link. */
async function follow(link) {
  if (!link) return false;
  notice("");
  if (link.kind === "token") {
    notice(
      "Links that carry a token are no longer accepted: the token would stay in the browser's " +
        "history (it has been cleared from the address bar; consider revoking it with " +
        `vitrina token revoke). ${NEW_LINK}; or paste a store id and a token.`,
    );
    return false;
  }
  if (link.kind === "broken") {
    notice(`This sign-in link is incomplete. ${NEW_LINK}.`);
    return false;
  }
  await signInWith(link);
  return true;
}

async function tryEnter() {
  say($("signin-error"), "");
  try {
    await enter();
  } catch (error) {
    signOut();
    $("signin").hidden = false;
    $("tabs").hidden = true;
    $("catalog").hidden = true;
    const text = error instanceof ApiError && error.status === 403
      ? `${error.message} (check the store id and the token).`
      : error.message;
    say($("signin-error"), text);
  }
}

start();
