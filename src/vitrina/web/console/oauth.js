// The consent page of an app's install (GET /api/oauth/authorize, drawn by
// web/oauth.py): the store owner signs in as in the console (a sign-in link,
// or a secret token of the store; the session is the console's, kept in this
// tab's sessionStorage), then Install or Cancel.
//
// Install is a POST of JSON with the session's token in the Authorization
// header: another site can neither read the token nor send that header (nor
// JSON) without this origin's consent, so it cannot press Install for the
// owner. The page has no form a browser would submit on its own.

import { api, ApiError, exchange, session, signIn, signOut, takeFragment } from "./api.js";
import { $, say } from "./dom.js";

const consent = $("consent");
const asked = consent.dataset;
const store = asked.store;
const install = $("install");
const cancel = $("cancel");

function leave(where) {
  // only where the server checked: the app's registered redirect URI
  location.assign(where);
}

/** A device app reads the answer from the page's title (Ecwid's oob). */
function answerInTitle(title, text) {
  document.title = title;
  say($("consent-done"), text);
  install.disabled = true;
  cancel.disabled = true;
}

function showSignIn(why) {
  install.disabled = true;
  say($("who"), why);
  $("consent-signin").hidden = false;
}

/** Whether this tab's console session is one of the app's store that works. */
async function signedIn() {
  const saved = session();
  if (!saved) {
    showSignIn(`Sign in to store ${store} to install the app.`);
    return false;
  }
  if (saved.store !== store) {
    showSignIn(`This tab is signed in to store ${saved.store}; the app is for store ${store}. Sign in to store ${store}.`);
    return false;
  }
  say($("who"), `Checking the session of store ${store} …`);
  try {
    const token = await api("GET", "/_token");
    if (token.public) throw new ApiError(403, "PUBLIC", "A public token cannot install an app: sign in with a secret token.");
  } catch (error) {
    if (error.code === "INVALID_API_TOKEN") signOut(); // expired or revoked: it is of no use
    showSignIn(error.message);
    return false;
  }
  $("consent-signin").hidden = true;
  say($("who"), `Signed in to ${asked.storeName} (store ${store}).`);
  install.disabled = false;
  install.focus();
  return true;
}

/** A pasted sign-in link (…/console/#store=N&signin=CODE) or token. */
async function signInWith(value) {
  const text = value.trim();
  const hash = text.includes("#") ? text.slice(text.indexOf("#") + 1) : "";
  const params = new URLSearchParams(hash);
  if (params.has("signin")) {
    if (params.get("store") !== store) throw new ApiError(400, "STORE", `That link signs in to store ${params.get("store")}, not to store ${store}.`);
    const made = await exchange(store, params.get("signin"));
    signIn(store, made.token, made.expiresAt);
  } else if (/^secret_[A-Za-z0-9_-]+$/.test(text)) {
    signIn(store, text);
  } else {
    throw new ApiError(400, "FORM", "Paste a sign-in link (it has #store=…&signin=… in it) or a secret token.");
  }
}

$("consent-signin").addEventListener("submit", async (event) => {
  event.preventDefault();
  say($("signin-error"), "");
  try {
    await signInWith($("signin-value").value);
    $("signin-value").value = "";
    await signedIn();
  } catch (error) {
    say($("signin-error"), error.message);
  }
});

install.addEventListener("click", async () => {
  install.disabled = true;
  say($("consent-error"), "");
  const body = {
    client_id: asked.clientId,
    redirect_uri: asked.redirectUri,
    response_type: "code",
    scope: asked.scope,
  };
  if (asked.state !== undefined) body.state = asked.state;
  let answer;
  try {
    const response = await fetch("/api/oauth/authorize", {
      method: "POST",
      headers: { Authorization: `Bearer ${session().token}`, "Content-Type": "application/json" },
      body: JSON.stringify(body),
      cache: "no-store",
      credentials: "omit",
    });
    answer = await response.json().catch(() => null);
    if (!response.ok) throw new ApiError(response.status, answer?.errorCode || "", answer?.errorMessage || `The server answered ${response.status}`);
  } catch (error) {
    say($("consent-error"), error.status === 0 || error instanceof TypeError ? "The server cannot be reached." : error.message);
    install.disabled = false;
    return;
  }
  if (answer.location) {
    say($("consent-done"), `Installed. Going back to ${asked.appName} …`);
    leave(answer.location);
  } else {
    answerInTitle(answer.title, `Installed. ${asked.appName} reads its code from this page's title; you may close the page.`);
  }
});

cancel.addEventListener("click", () => {
  if (asked.oob === "true") answerInTitle("oauth_response:error=access_denied", "Cancelled. Nothing was installed; you may close the page.");
  else leave(asked.cancel);
});

async function start() {
  const link = takeFragment(); // a sign-in link may point here too: …/authorize?…#store=N&signin=CODE
  if (link && link.kind === "signin" && link.store === store) {
    try {
      const made = await exchange(link.store, link.code);
      signIn(link.store, made.token, made.expiresAt);
    } catch (error) {
      say($("signin-error"), error.message);
    }
  }
  await signedIn();
}

start();
