// The category tree: parent and child, in orderBy order, hidden categories
// marked; keyboard navigation (arrows, Home, End, Enter) and drag and drop to
// move a category under another or between siblings.

import { api, ApiError } from "./api.js";
import { $, h, say } from "./dom.js";
import { can, descendants, kids, ownFile, parentOf, state } from "./state.js";

let onSelect = () => {};
let onChanged = async () => {};

export function setup(handlers) {
  onSelect = handlers.select;
  onChanged = handlers.changed;
  const tree = $("tree");
  tree.addEventListener("keydown", keyboard);
}

function row(category, depth) {
  const id = category.id;
  const children = kids(id);
  const open = state.expanded.has(id) || state.searching !== null;
  const item = h("li", {
    role: "treeitem",
    class: "treeitem",
    "data-id": id,
    "aria-level": depth + 1,
    "aria-selected": String(state.selected === id),
    "aria-expanded": children.length && state.searching === null ? String(open) : null,
    tabindex: state.selected === id ? "0" : "-1",
  });
  const toggle = h("button", {
    type: "button",
    class: children.length && state.searching === null ? "toggle" : "toggle leaf",
    tabindex: "-1",
    "aria-hidden": "true",
    text: open ? "▾" : "▸",
    onclick: (event) => {
      event.stopPropagation();
      setExpanded(id, !open);
    },
  });
  const thumb = ownFile(category.thumbnailUrl)
    ? h("img", { class: "thumb", src: category.thumbnailUrl, alt: "", loading: "lazy", width: 36, height: 36 })
    : h("span", { class: "thumb", "aria-hidden": "true" });
  const line = h(
    "div",
    { class: "row", draggable: can("update_catalog") ? "true" : null },
    toggle,
    thumb,
    h("span", { class: "name", text: category.name }),
    category.enabled ? null : h("span", { class: "badge hidden-badge", text: "hidden" }),
  );
  line.addEventListener("click", () => select(id));
  if (can("update_catalog")) dragAndDrop(line, id);
  item.append(line);
  if (children.length && open && state.searching === null) {
    item.append(h("ul", { role: "group" }, children.map((child) => row(state.byId.get(child), depth + 1))));
  }
  return item;
}

export function render() {
  const tree = $("tree");
  const ids = state.searching ?? kids(0);
  tree.replaceChildren(...ids.filter((id) => state.byId.has(id)).map((id) => row(state.byId.get(id), 0)));
  if (!ids.length) {
    say($("tree-status"), state.searching ? "No category matches." : "No categories yet.");
  } else {
    const count = state.byId.size;
    say($("tree-status"), state.searching ? `${ids.length} found` : `${count} ${count === 1 ? "category" : "categories"}`);
  }
  if (!tree.querySelector('[tabindex="0"]')) tree.querySelector(".treeitem")?.setAttribute("tabindex", "0");
}

export function select(id, focus = true) {
  state.selected = id;
  for (const ancestor of ancestors(id)) state.expanded.add(ancestor);
  render();
  const item = $("tree").querySelector(`[data-id="${id}"]`);
  if (item && focus) item.focus();
  return onSelect(id);
}

function ancestors(id) {
  const found = [];
  let category = state.byId.get(id);
  while (category && parentOf(category) && state.byId.has(parentOf(category))) {
    found.push(parentOf(category));
    category = state.byId.get(parentOf(category));
  }
  return found;
}

function setExpanded(id, open) {
  if (open) state.expanded.add(id);
  else state.expanded.delete(id);
  render();
  $("tree").querySelector(`[data-id="${id}"]`)?.focus();
}

function visibleItems() {
  return [...$("tree").querySelectorAll(".treeitem")];
}

function keyboard(event) {
  const item = event.target.closest(".treeitem");
  if (!item) return;
  const id = Number(item.dataset.id);
  const items = visibleItems();
  const at = items.indexOf(item);
  const focus = (target) => {
    if (!target) return;
    for (const other of items) other.setAttribute("tabindex", "-1");
    target.setAttribute("tabindex", "0");
    target.focus();
  };
  const open = item.getAttribute("aria-expanded");
  switch (event.key) {
    case "ArrowDown": focus(items[at + 1]); break;
    case "ArrowUp": focus(items[at - 1]); break;
    case "Home": focus(items[0]); break;
    case "End": focus(items[items.length - 1]); break;
    case "ArrowRight":
      if (open === "false") setExpanded(id, true);
      else if (open === "true") focus(items[at + 1]);
      break;
    case "ArrowLeft":
      if (open === "true") setExpanded(id, false);
      else focus(item.parentElement.closest(".treeitem"));
      break;
    case "Enter":
    case " ":
      select(id);
      break;
    default:
      return;
  }
  event.preventDefault();
}

// -- moving -----------------------------------------------------------------

function dragAndDrop(line, id) {
  line.addEventListener("dragstart", (event) => {
    event.dataTransfer.setData("application/x-vitrina-category", String(id));
    event.dataTransfer.effectAllowed = "move";
  });
  line.addEventListener("dragover", (event) => {
    if (!event.dataTransfer.types.includes("application/x-vitrina-category")) return;
    event.preventDefault();
    line.classList.remove("drop-before", "drop-after", "drop-inside");
    line.classList.add(`drop-${where(line, event)}`);
  });
  line.addEventListener("dragleave", () => line.classList.remove("drop-before", "drop-after", "drop-inside"));
  line.addEventListener("drop", async (event) => {
    const moved = Number(event.dataTransfer.getData("application/x-vitrina-category"));
    line.classList.remove("drop-before", "drop-after", "drop-inside");
    if (!moved) return;
    event.preventDefault();
    await moveAndReport(moved, id, where(line, event));
  });
}

function where(line, event) {
  const box = line.getBoundingClientRect();
  const y = (event.clientY - box.top) / box.height;
  return y < 0.28 ? "before" : y > 0.72 ? "after" : "inside";
}

async function moveAndReport(id, target, position) {
  try {
    await move(id, target, position);
    say($("tree-status"), `Moved “${state.byId.get(id).name}”.`);
  } catch (error) {
    say($("tree-status"), error instanceof ApiError ? error.message : String(error));
  }
}

/** Put ``id`` inside ``target`` (last), or before or after it among its
 * siblings; siblings are renumbered 10, 20, 30… where their order changed. */
export async function move(id, target, position) {
  if (id === target) return;
  if (descendants(id).includes(target)) throw new Error("A category cannot move under its own subcategory.");
  const moving = state.byId.get(id);
  const parent = position === "inside" ? target : parentOf(state.byId.get(target));
  const siblings = kids(parent).filter((other) => other !== id);
  if (position === "inside") siblings.push(id);
  else siblings.splice(siblings.indexOf(target) + (position === "after" ? 1 : 0), 0, id);
  const writes = [];
  siblings.forEach((other, i) => {
    const category = state.byId.get(other);
    const fields = {};
    if ((i + 1) * 10 !== category.orderBy) fields.orderBy = (i + 1) * 10;
    if (other === id && parentOf(moving) !== parent) fields.parentId = parent;
    if (Object.keys(fields).length) writes.push([other, fields]);
  });
  for (const [other, fields] of writes) {
    await api("PUT", `/categories/${other}`, { json: fields });
  }
  if (position === "inside") state.expanded.add(target);
  await onChanged(id);
}
