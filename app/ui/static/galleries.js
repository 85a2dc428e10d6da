// The galleries column: the list (choose one to work on), a new gallery with its model, delete with
// confirmation; and the model's description, from GET /models.

import { enc, request } from "./api.js";
import { confirmAction, count, el, fill, fmt, forgetThumbnails, percent, say, sayError } from "./kit.js";
import { state } from "./state.js";

const $ = (id) => document.getElementById(id);

export function describeModel(model) {
  if (!model) return "This model is not served now.";
  const t = model.trained_on;
  const test = model.test;
  const sources = t.sources.length ? ` (${t.sources.join(", ")})` : "";
  const lines = [
    `${model.face ? "Face model: faces are detected and aligned first. " : ""}`
      + `Threshold ${fmt(model.threshold)} (${model.metric} distance; at or under is a match).`,
    `Trained for ${t.recipe ?? model.name}${sources}: ${t.classes ?? "?"} identities, `
      + `${t.images?.toLocaleString("en") ?? "?"} images; ${model.encoder ?? "encoder"}, ${model.input}.`,
    `On held-out ${test.split ?? "test"} identities: ROC AUC ${fmt(test.roc_auc)}, `
      + `true accepts at 1 % false accepts ${percent(test.tar_at_far_1e_2)}`
      + (test.top1 === null ? "." : `, nearest identity right ${percent(test.top1)} with ${test.top1_references}`
        + ` reference${test.top1_references === 1 ? "" : "s"} each.`),
  ];
  return lines.map((line) => el("p", { text: line }));
}

function galleryItem(gallery) {
  const current = state.current?.name === gallery.name;
  const counts = `${count(gallery.identities, "identity", "identities")} · `
    + count(gallery.references, "reference", "references");
  const status = gallery.status === "ready" ? "" : ` · ${gallery.status.replace("_", " ")}`;
  return el(
    "li",
    { class: current ? "current" : "" },
    el(
      "button",
      {
        type: "button",
        class: "gallery-choose",
        "aria-current": current ? "true" : null,
        "data-gallery": gallery.name,
        onclick: () => state.choose(gallery.name),
      },
      el("strong", { text: gallery.name }),
      el("span", { class: "muted", text: `${gallery.model} · ${counts}${status}` }),
    ),
    el("button", {
      type: "button",
      class: "icon danger-text",
      "aria-label": `Delete gallery ${gallery.name}`,
      title: `Delete gallery ${gallery.name}`,
      text: "✕",
      onclick: () => deleteGallery(gallery),
    }),
  );
}

async function deleteGallery(gallery) {
  const question = `Delete gallery “${gallery.name}” with its ${count(gallery.identities, "identity", "identities")}`
    + ` and ${count(gallery.references, "reference", "references")}? This cannot be undone.`;
  if (!(await confirmAction(question, "Delete gallery"))) return;
  try {
    await request("DELETE", `galleries/${enc(gallery.name)}`);
    forgetThumbnails(gallery.name); // a gallery made again under this name numbers its references anew
    say($("galleries-message"), "ok", `Gallery ${gallery.name} deleted.`);
    await state.reload();
  } catch (error) {
    sayError($("galleries-message"), error);
  }
}

function renderList() {
  const list = $("gallery-list");
  if (!state.galleries.length) {
    fill(list, state.loaded ? el("li", { class: "muted", text: "No galleries yet." }) : null);
  } else {
    fill(list, state.galleries.map(galleryItem));
  }
}

function renderModels() {
  const select = $("create-model");
  const chosen = select.value;
  fill(select, [...state.models.values()].map((m) => el("option", { value: m.name, text: m.name })));
  if (state.models.has(chosen)) select.value = chosen;
  showModel();
}

function showModel() {
  fill($("create-model-info"), describeModel(state.models.get($("create-model").value)));
}

async function createGallery(event) {
  event.preventDefault();
  const message = $("create-message");
  const raw = $("create-threshold").value.trim();
  const body = { name: $("create-name").value.trim(), model: $("create-model").value,
    threshold: raw === "" ? null : Number(raw) };
  const keep = $("create-keep").value;
  if (keep) body.keep_images = keep === "true";
  try {
    const created = await request("POST", "galleries", { json: body });
    say(message, "ok", `Gallery ${created.name} created (threshold ${fmt(created.threshold)}).`);
    $("create-form").reset();
    $("create").open = false;
    renderModels();
    await state.reload();
    state.choose(created.name);
  } catch (error) {
    sayError(message, error);
  }
}

export function startGalleries() {
  $("create-model").addEventListener("change", showModel);
  $("create-form").addEventListener("submit", createGallery);
  state.subscribe(renderList);
  return { renderModels };
}
