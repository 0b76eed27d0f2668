// What the console knows about the signed-in store, shared by its parts.

export const state = {
  store: "",
  profile: null,
  scopes: new Set(),
  byId: new Map(), // id -> category, as the API returned it
  children: new Map(), // parent id (0 for the root) -> ids, in orderBy order
  expanded: new Set(),
  selected: null,
  searching: null, // ids found by a keyword search, or null
};

export function can(scope) {
  return state.scopes.has(scope);
}

export function parentOf(category) {
  return category.parentId || 0;
}

export function index(items) {
  state.byId = new Map(items.map((c) => [c.id, c]));
  state.children = new Map();
  for (const category of items) {
    const parent = state.byId.has(parentOf(category)) ? parentOf(category) : 0;
    if (!state.children.has(parent)) state.children.set(parent, []);
    state.children.get(parent).push(category.id);
  }
  for (const ids of state.children.values()) ids.sort(byOrder);
}

export function byOrder(a, b) {
  const x = state.byId.get(a);
  const y = state.byId.get(b);
  return x.orderBy - y.orderBy || a - b;
}

export function kids(id) {
  return state.children.get(id) || [];
}

export function descendants(id) {
  const found = [];
  const pending = [...kids(id)];
  while (pending.length) {
    const next = pending.pop();
    found.push(next);
    pending.push(...kids(next));
  }
  return found;
}

/** Whether ``url`` is one of vitrina's own files (an async upload in
 * progress points at the source URL, which the page's policy does not load). */
export function ownFile(url) {
  return typeof url === "string" && /\/images\/\d+\/\d+\.[a-z]{3,4}$/.test(url);
}
