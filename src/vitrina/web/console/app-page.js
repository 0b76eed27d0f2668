// A native app's page, held in a frame of the console's Apps page
// (app-page.html?app=ID&origin=ORIGIN, served by web/console with a policy
// that lets this page alone frame ORIGIN). It asks the API for the app's
// iframe URL with the payload Ecwid hands an app (a token made for this
// opening, encrypted with the app's client secret), and frames it.

import { api, session } from "./api.js";
import { $, h, say } from "./dom.js";

async function open() {
  const query = new URLSearchParams(location.search);
  const app = query.get("app") || "";
  const origin = query.get("origin") || "";
  if (!/^\d{1,10}$/.test(app)) throw new Error("The page names no app.");
  if (!session()) throw new Error("Sign in to the console first.");
  const page = await api("POST", `/_webhooks/apps/${app}/page`);
  const url = new URL(page.url);
  // the policy would block it anyway; say why instead
  if (url.origin !== origin) throw new Error(`The app's page is at ${url.origin} now, not ${origin}: reload the Apps page.`);
  const frame = h("iframe", {
    id: "app-frame",
    title: "The app's page",
    referrerpolicy: "no-referrer",
    sandbox: "allow-scripts allow-forms allow-same-origin allow-popups allow-downloads",
    allow: "clipboard-write",
  });
  frame.src = url.href;
  document.body.append(frame);
  say($("app-page-status"), "");
  $("app-page-status").hidden = true;
}

open().catch((error) => {
  say($("app-page-status"), "");
  say($("app-page-error"), error.message);
});
