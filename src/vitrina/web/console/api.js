// The console is a client of the public REST API like any app: the token is
// kept in sessionStorage and sent only in the Authorization header. A sign-in
// link carries a single-use code, never a token: the page exchanges it once
// (POST /console/session) for a session token that expires.

const KEY = "vitrina.console";

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

export function session() {
  try {
    const saved = JSON.parse(sessionStorage.getItem(KEY) || "null");
    return saved && saved.store && saved.token ? saved : null;
  } catch {
    return null;
  }
}

export function signIn(store, token, expiresAt = "") {
  const saved = { store: String(store), token: String(token), expiresAt: String(expiresAt) };
  sessionStorage.setItem(KEY, JSON.stringify(saved));
}

/** Remember the store's name beside the session, for the question a sign-in
 * link asks when this tab is already signed in. */
export function rememberName(name) {
  const saved = session();
  if (saved) sessionStorage.setItem(KEY, JSON.stringify({ ...saved, name: String(name) }));
}

export function signOut() {
  sessionStorage.removeItem(KEY);
}

/** What the address's fragment asks for, cleared from the address bar at
 * once: a sign-in link (#store=N&signin=CODE; a fragment never reaches a
 * server), an old link that carries a token (no longer accepted: it would
 * stay in the browser's history), or nothing. */
export function takeFragment() {
  const params = new URLSearchParams(location.hash.slice(1));
  if (location.hash) history.replaceState(null, "", location.pathname + location.search);
  if (params.has("token")) return { kind: "token" };
  const code = params.get("signin");
  if (code === null) return null;
  const store = params.get("store") || "";
  return /^\d{1,10}$/.test(store) && code ? { kind: "signin", store, code } : { kind: "broken" };
}

/** Exchange a sign-in code, once, for a session: {storeId, token, scopes, expiresAt}. */
export async function exchange(store, code) {
  let response;
  try {
    response = await fetch("/console/session", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ storeId: Number(store), code }),
      cache: "no-store",
    });
  } catch {
    throw new ApiError(0, "NETWORK", "The server cannot be reached");
  }
  const data = await response.json().catch(() => null);
  if (!response.ok) throw explain(response.status, data);
  return data;
}

function url(path, params) {
  const { store } = session();
  const query = new URLSearchParams();
  for (const [name, value] of Object.entries(params || {})) {
    if (value !== undefined && value !== null && value !== "") query.set(name, String(value));
  }
  const text = query.toString();
  return `/api/v3/${encodeURIComponent(store)}${path}${text ? "?" + text : ""}`;
}

function explain(status, data) {
  const message = (data && data.errorMessage) || `The server answered ${status}`;
  const code = (data && data.errorCode) || "";
  if (status === 403 && code === "INSUFFICIENT_APP_SCOPE") {
    return new ApiError(status, code, `${message}. Ask for a token with that scope.`);
  }
  const saved = session();
  if (code === "INVALID_API_TOKEN" && saved && saved.expiresAt && Date.parse(saved.expiresAt) <= Date.now()) {
    return new ApiError(
      status,
      code,
      `This console session has expired. Open a new sign-in link: vitrina console-link --store ${saved.store}`,
    );
  }
  return new ApiError(status, code, message);
}

export async function api(method, path, { params, json, body, contentType } = {}) {
  const headers = { Authorization: `Bearer ${session().token}` };
  let payload = body;
  if (json !== undefined) {
    headers["Content-Type"] = "application/json";
    payload = JSON.stringify(json);
  } else if (contentType) {
    headers["Content-Type"] = contentType;
  }
  let response;
  try {
    response = await fetch(url(path, params), { method, headers, body: payload, cache: "no-store" });
  } catch {
    throw new ApiError(0, "NETWORK", "The server cannot be reached");
  }
  const data = await response.json().catch(() => null);
  if (!response.ok) throw explain(response.status, data);
  return data;
}

/** POST a file as the raw body, reporting upload progress (0 to 1) and then
 * "processing" once every byte is sent. */
export function upload(path, file, onProgress) {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open("POST", url(path));
    xhr.setRequestHeader("Authorization", `Bearer ${session().token}`);
    xhr.setRequestHeader("Content-Type", file.type || "application/octet-stream");
    xhr.upload.onprogress = (event) => {
      if (event.lengthComputable) onProgress(event.loaded / event.total);
    };
    xhr.upload.onload = () => onProgress("processing");
    xhr.onerror = () => reject(new ApiError(0, "NETWORK", "The upload was interrupted"));
    xhr.onload = () => {
      let data = null;
      try {
        data = JSON.parse(xhr.responseText);
      } catch {
        data = null;
      }
      if (xhr.status >= 200 && xhr.status < 300) resolve(data);
      else reject(explain(xhr.status, data));
    };
    xhr.send(file);
  });
}

// What the tree draws; the chosen category is fetched whole.
const TREE_FIELDS = "total,count,items(id,parentId,orderBy,name,enabled,thumbnailUrl)";

/** Every category the token may see, page by page, with the tree's fields. */
export async function allCategories(params = {}) {
  const items = [];
  for (let offset = 0; ; offset += 100) {
    const query = { ...params, offset, limit: 100, responseFields: TREE_FIELDS };
    const page = await api("GET", "/categories", { params: query });
    items.push(...page.items);
    if (page.count < 100 || items.length >= page.total) return items;
  }
}
