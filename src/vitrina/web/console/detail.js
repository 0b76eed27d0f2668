// One category: its fields, its place in the tree, and its image. Every
// control's error is shown next to it, in the API's words.

import { api, ApiError, upload } from "./api.js";
import { $, bytes, confirmDialog, h, say } from "./dom.js";
import { can, descendants, kids, ownFile, parentOf, state } from "./state.js";
import { move } from "./tree.js";

let reload = async () => {};
let jobTimer = null;

export function setup(handlers) {
  reload = handlers.reload;
  document.addEventListener("paste", (event) => {
    const file = [...(event.clipboardData?.files || [])].find((f) => f.type.startsWith("image/"));
    const zone = $("drop");
    if (!file || !zone || !can("update_catalog")) return;
    if (event.target.closest && event.target.closest("input, textarea")) return;
    event.preventDefault();
    send(file);
  });
}

function errorLine(id) {
  return h("p", { class: "error", role: "alert", id });
}

function fail(where, error) {
  say($(where), error instanceof ApiError || error instanceof Error ? error.message : String(error));
}

async function run(where, button, action) {
  say($(where), "");
  if (button) button.disabled = true;
  try {
    await action();
  } catch (error) {
    fail(where, error);
  } finally {
    if (button) button.disabled = false;
  }
}

export async function show(id) {
  const panel = $("detail");
  clearTimeout(jobTimer);
  if (!state.byId.has(id)) {
    panel.replaceChildren(h("p", { class: "empty", text: "Choose a category to see and change it." }));
    return;
  }
  let category;
  try {
    category = await api("GET", `/categories/${id}`);
  } catch (error) {
    panel.replaceChildren(h("p", { class: "error", role: "alert", text: error.message }));
    return;
  }
  if (state.selected !== id) return; // another category was chosen meanwhile
  const parts = [
    h("h2", { id: "detail-title", text: category.name }),
    category.enabled ? null : h("p", {}, h("span", { class: "badge hidden-badge", text: "hidden" }), " Not shown in the storefront."),
    imageSection(category),
    can("update_catalog") ? fieldsForm(category) : readOnlyFields(category),
    can("update_catalog") ? placeSection(category) : null,
    can("create_catalog") ? childForm(category) : null,
    can("update_catalog") ? deleteSection(category) : null,
  ];
  panel.replaceChildren(...parts.filter(Boolean));
}

// -- fields -------------------------------------------------------------------

function languages() {
  const profile = state.profile;
  const all = profile?.languages?.enabledLanguages || ["en"];
  const main = profile?.languages?.defaultLanguage || all[0];
  return { main, others: all.filter((code) => code !== main) };
}

function readOnlyFields(category) {
  return h(
    "dl",
    { class: "fields" },
    h("dt", { text: "Description" }),
    h("dd", { text: category.description || "—" }),
    h("dt", { text: "Id" }),
    h("dd", { text: String(category.id) }),
  );
}

function fieldsForm(category) {
  const { others } = languages();
  const translated = category.nameTranslated || {};
  const form = h(
    "form",
    { class: "fields", id: "fields-form" },
    h("label", { for: "f-name", text: "Name" }),
    h("input", { id: "f-name", value: category.name, maxlength: "255", required: true }),
    others.map((code) => [
      h("label", { for: `f-name-${code}`, text: `Name (${code})` }),
      h("input", { id: `f-name-${code}`, "data-lang": code, value: translated[code] || "" }),
    ]),
    h("label", { for: "f-description", text: "Description" }),
    h("textarea", { id: "f-description", text: category.description || "" }),
    h("label", { class: "check" }, h("input", { type: "checkbox", id: "f-enabled", checked: category.enabled }), "Enabled (shown in the storefront)"),
    h("div", { class: "actions" }, h("button", { type: "submit", id: "f-save", text: "Save" }), h("span", { class: "status", id: "f-saved", role: "status" })),
    errorLine("f-error"),
  );
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    run("f-error", $("f-save"), async () => {
      const names = { ...translated };
      for (const input of form.querySelectorAll("[data-lang]")) {
        if (input.value) names[input.dataset.lang] = input.value;
        else delete names[input.dataset.lang];
      }
      const { main } = languages();
      names[main] = $("f-name").value;
      await api("PUT", `/categories/${category.id}`, {
        json: {
          name: $("f-name").value,
          nameTranslated: names,
          description: $("f-description").value,
          enabled: $("f-enabled").checked,
        },
      });
      await reload(category.id);
      say($("f-saved"), "Saved.");
    });
  });
  return form;
}

// -- place in the tree ------------------------------------------------------

function label(id) {
  const names = [];
  for (let category = state.byId.get(id); category; category = state.byId.get(parentOf(category))) {
    names.unshift(category.name);
    if (!parentOf(category)) break;
  }
  return names.join(" › ");
}

function placeSection(category) {
  const blocked = new Set([category.id, ...descendants(category.id)]);
  const choices = [...state.byId.keys()].filter((id) => !blocked.has(id)).sort((a, b) => label(a).localeCompare(label(b)));
  const siblings = kids(parentOf(category));
  const at = siblings.indexOf(category.id);
  const parent = h(
    "select",
    { id: "p-parent" },
    h("option", { value: "0", text: "(top level)" }),
    choices.map((id) => h("option", { value: String(id), text: label(id), selected: id === parentOf(category) })),
  );
  const moveTo = h("button", { type: "button", id: "p-move", text: "Move" });
  const up = h("button", { type: "button", id: "p-up", text: "Move up", disabled: at <= 0 });
  const down = h("button", { type: "button", id: "p-down", text: "Move down", disabled: at === -1 || at >= siblings.length - 1 });
  moveTo.addEventListener("click", () =>
    run("p-error", moveTo, async () => {
      const target = Number(parent.value);
      if (target === parentOf(category)) return;
      if (target === 0) {
        const roots = kids(0);
        if (roots.length) await move(category.id, roots[roots.length - 1], "after");
        else await api("PUT", `/categories/${category.id}`, { json: { parentId: 0 } }).then(() => reload(category.id));
      } else {
        await move(category.id, target, "inside");
      }
    }),
  );
  up.addEventListener("click", () => run("p-error", up, () => move(category.id, siblings[at - 1], "before")));
  down.addEventListener("click", () => run("p-error", down, () => move(category.id, siblings[at + 1], "after")));
  return h(
    "fieldset",
    {},
    h("legend", { text: "Place" }),
    h("label", { for: "p-parent", text: "Parent" }),
    h("div", { class: "actions" }, parent, moveTo),
    h("div", { class: "actions" }, up, down),
    h("p", { class: "hint", text: "Or drag it in the tree: onto a category to put it inside, onto an edge to put it before or after." }),
    errorLine("p-error"),
  );
}

function childForm(category) {
  const form = h(
    "form",
    { class: "inline", id: "child-form" },
    h("label", { for: "child-name", class: "visually-hidden", text: "New subcategory name" }),
    h("input", { id: "child-name", placeholder: "New subcategory", maxlength: "255" }),
    h("button", { type: "submit", text: "Add subcategory" }),
  );
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    run("child-error", form.querySelector("button"), async () => {
      const created = await api("POST", "/categories", { json: { name: $("child-name").value, parentId: category.id } });
      state.expanded.add(category.id);
      await reload(created.id);
    });
  });
  return h("fieldset", {}, h("legend", { text: "Subcategory" }), form, errorLine("child-error"));
}

function deleteSection(category) {
  const button = h("button", { type: "button", class: "danger", id: "delete-category", text: "Delete category" });
  button.addEventListener("click", async () => {
    const below = descendants(category.id).length;
    const text = below
      ? `Delete “${category.name}” and its ${below} subcategor${below === 1 ? "y" : "ies"}? This cannot be undone.`
      : `Delete “${category.name}”? This cannot be undone.`;
    if (!(await confirmDialog(text))) return;
    run("delete-error", button, async () => {
      await api("DELETE", `/categories/${category.id}`);
      state.selected = null;
      await reload(null);
    });
  });
  return h("div", { class: "actions" }, button, errorLine("delete-error"));
}

// -- the image ----------------------------------------------------------------

function imageSection(category) {
  const parts = [h("legend", { text: "Image" })];
  if (category.originalImageUrl && !ownFile(category.originalImageUrl)) {
    parts.push(h("p", { class: "status", text: "Downloading from " + category.originalImageUrl }));
  } else if (category.originalImageUrl) {
    parts.push(filesTable(category));
  } else {
    parts.push(h("p", { class: "status", text: "No image." }));
  }
  parts.push(h("p", { id: "job", class: "job", role: "status" }));
  if (can("update_catalog")) parts.push(...imageControls(category));
  return h("fieldset", { id: "image" }, parts);
}

function filesTable(category) {
  const rows = [
    ["Thumbnail", category.thumbnailUrl, category.thumbnail],
    ["HD thumbnail", category.hdThumbnailUrl, null],
    ["Image", category.imageUrl, null],
    ["Original", category.originalImageUrl, category.originalImage],
  ];
  const table = h(
    "table",
    { class: "files" },
    h("thead", {}, h("tr", {}, ["File", "Preview", "Pixels", "Bytes"].map((t) => h("th", { scope: "col", text: t })))),
    h(
      "tbody",
      {},
      rows.map(([name, url, size]) => {
        const pixels = h("td", { text: size ? `${size.width} × ${size.height}` : "…" });
        const weight = h("td", { text: "…" });
        const preview = h("img", { src: url, alt: `${name} of ${category.name}`, loading: "lazy" });
        preview.addEventListener("load", () => say(pixels, `${preview.naturalWidth} × ${preview.naturalHeight}`));
        fetch(url, { method: "HEAD", cache: "no-store" })
          .then((r) => say(weight, bytes(Number(r.headers.get("content-length")))))
          .catch(() => say(weight, "—"));
        return h("tr", {}, h("th", { scope: "row" }, h("a", { href: url, target: "_blank", rel: "noopener", text: name })), h("td", {}, preview), pixels, weight);
      }),
    ),
  );
  const border = category.borderInfo;
  const swatch = border
    ? h(
        "p",
        {},
        "Border colour ",
        swatchOf(border.dominatingColor),
        ` rgba(${border.dominatingColor.red}, ${border.dominatingColor.green}, ${border.dominatingColor.blue}, ${border.dominatingColor.alpha}) · ${border.homogeneity ? "even" : "uneven"}`,
      )
    : null;
  return h("div", {}, h("div", { class: "table-wrap" }, table), swatch, srcsetSnippet(category));
}

// An <img srcset> for the category's image, from the widths the server
// allows (?width=, docs/images.md): those below the original's width, and
// the original's own size once (a width is never enlarged).
function srcsetSnippet(category) {
  const listed = document.querySelector('meta[name="vitrina-image-widths"]')?.content || "";
  const allowed = listed.split(",").map(Number).filter((w) => w > 0);
  if (!allowed.length) return null;
  const full = category.originalImage?.width || 0;
  let widths = allowed.filter((w) => !full || w < full);
  const top = allowed.find((w) => full && w >= full);
  if (top) widths.push(top);
  if (!widths.length) widths = [allowed[0]];
  const url = category.imageUrl;
  const shown = (w) => (full && w > full ? full : w);
  const alt = (category.alt?.main || category.name || "").replace(/&/g, "&amp;").replace(/"/g, "&quot;").replace(/</g, "&lt;");
  const lines = widths.map((w, i) => `${" ".repeat(13)}${url}?width=${w} ${shown(w)}w${i < widths.length - 1 ? "," : '"'}`);
  const text = [
    `<img src="${url}"`,
    `     srcset="${lines.join("\n").trimStart()}`,
    `     sizes="(max-width: 600px) 100vw, 50vw"`,
    `     alt="${alt}">`,
  ].join("\n");
  const code = h("pre", { class: "snippet" }, h("code", { id: "srcset", text }));
  const copy = h("button", { type: "button", id: "copy-srcset", text: "Copy" });
  copy.addEventListener("click", () => navigator.clipboard?.writeText(text).then(() => say(copy, "Copied")));
  return h(
    "details",
    { id: "srcset-snippet" },
    h("summary", { text: "Responsive <img srcset> for this image" }),
    h("p", { text: "Each width is made on first request; browsers that accept AVIF or WebP get it at the same URLs." }),
    code,
    copy,
  );
}

function swatchOf(colour) {
  const swatch = h("span", { class: "swatch", role: "img", "aria-label": "border colour" });
  // A CSSOM property, not an inline style attribute: allowed by style-src 'self'.
  swatch.style.backgroundColor = `rgba(${colour.red}, ${colour.green}, ${colour.blue}, ${colour.alpha / 255})`;
  return swatch;
}

function imageControls(category) {
  const file = h("input", { type: "file", id: "file", accept: "image/*" });
  const zone = h(
    "div",
    { class: "drop", id: "drop" },
    h("p", { text: category.originalImageUrl ? "Drop a new image here to replace it, paste one, or choose a file." : "Drop an image here, paste one, or choose a file." }),
    h("label", { for: "file", text: "Choose a file" }),
    file,
  );
  zone.addEventListener("dragover", (event) => {
    if (!event.dataTransfer.types.includes("Files")) return;
    event.preventDefault();
    zone.classList.add("over");
  });
  zone.addEventListener("dragleave", () => zone.classList.remove("over"));
  zone.addEventListener("drop", (event) => {
    zone.classList.remove("over");
    const dropped = event.dataTransfer.files[0];
    if (!dropped) return;
    event.preventDefault();
    send(dropped);
  });
  file.addEventListener("change", () => file.files[0] && send(file.files[0]));

  const url = h("input", { id: "url", type: "url", placeholder: "https://…", inputmode: "url" });
  const width = h("input", { id: "url-width", type: "number", min: "1", value: "1000" });
  const height = h("input", { id: "url-height", type: "number", min: "1", value: "1000" });
  const now = h("button", { type: "button", id: "url-now", text: "Upload from URL" });
  const later = h("button", { type: "button", id: "url-async", text: "Upload in the background" });
  now.addEventListener("click", () =>
    run("url-error", now, async () => {
      say($("job"), "Downloading…");
      try {
        await api("POST", `/categories/${category.id}/image`, { params: { externalUrl: url.value } });
      } finally {
        say($("job"), "");
      }
      await reload(category.id);
    }),
  );
  later.addEventListener("click", () =>
    run("url-error", later, async () => {
      const started = await api("POST", `/categories/${category.id}/image/async`, {
        json: { url: url.value, width: Number(width.value), height: Number(height.value) },
      });
      await reload(category.id);
      watchJob(category.id, started.id);
    }),
  );
  const remove = h("button", { type: "button", id: "delete-image", text: "Delete image", disabled: !category.originalImageUrl });
  remove.addEventListener("click", async () => {
    if (!(await confirmDialog(`Delete the image of “${category.name}”?`))) return;
    run("upload-error", remove, async () => {
      await api("DELETE", `/categories/${category.id}/image`);
      await reload(category.id);
    });
  });
  return [
    zone,
    h("progress", { id: "progress", max: "1", value: "0", hidden: true, "aria-label": "Upload progress" }),
    h("p", { id: "upload-status", class: "status", role: "status" }),
    errorLine("upload-error"),
    h("div", { class: "actions" }, remove),
    h(
      "details",
      {},
      h("summary", { text: "Upload from a URL" }),
      h("div", { class: "fields" },
        h("label", { for: "url", text: "Image URL (https)" }), url,
        h("label", { for: "url-width", text: "Width, for the background upload" }), width,
        h("label", { for: "url-height", text: "Height" }), height),
      h("div", { class: "actions" }, now, later),
      errorLine("url-error"),
    ),
  ];
}

async function send(file) {
  const id = state.selected;
  const progress = $("progress");
  progress.hidden = false;
  progress.value = 0;
  say($("upload-error"), "");
  say($("upload-status"), `Uploading ${file.name || "the pasted image"} (${bytes(file.size)})…`);
  try {
    await upload(`/categories/${id}/image`, file, (done) => {
      if (done === "processing") {
        progress.value = 1;
        say($("upload-status"), "Processing…");
      } else {
        progress.value = done;
        say($("upload-status"), `Uploading… ${Math.round(done * 100)}%`);
      }
    });
    await reload(id);
    say($("upload-status"), "Uploaded.");
  } catch (error) {
    progress.hidden = true;
    say($("upload-status"), "");
    fail("upload-error", error);
  }
}

function watchJob(categoryId, imageId) {
  const check = async () => {
    if (state.selected !== categoryId) return;
    try {
      const job = await api("GET", `/_jobs/${imageId}`);
      const line = $("job");
      line.className = `job ${job.state}`;
      say(line, job.state === "failed" ? `Background upload failed: ${job.error || "no reason given"}` : `Background upload: ${job.state}`);
      if (job.state === "queued" || job.state === "running") {
        jobTimer = setTimeout(check, 1000);
      } else {
        await reload(categoryId);
        const after = $("job");
        after.className = `job ${job.state}`;
        say(after, job.state === "failed" ? `Background upload failed: ${job.error || "no reason given"}` : `Background upload: ${job.state}`);
      }
    } catch (error) {
      fail("url-error", error);
    }
  };
  jobTimer = setTimeout(check, 300);
}
