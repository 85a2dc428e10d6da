// Browse: the gallery's identities page by page with their reference counts, metadata and thumbnails;
// delete an identity, or one reference.

import { enc, request } from "./api.js";
import { confirmAction, count, el, fill, forgetThumbnails, say, sayError, thumbnail } from "./kit.js";
import { state } from "./state.js";

const $ = (id) => document.getElementById(id);
const page = { offset: 0, total: 0 };
const MAX_THUMBNAILS = 24; // per identity; the oldest first

function size() {
  return Number($("browse-size").value);
}

// An identity's references: their thumbnails (a placeholder where no image was kept), each with its delete.
async function showReferences(gallery, row, holder) {
  let ids;
  try {
    ids = (await request("GET", `galleries/${enc(gallery)}/identities/${enc(row.identity)}/references`)).reference_ids;
  } catch (error) {
    const message = el("p");
    sayError(message, error);
    return fill(holder, message);
  }
  const shown = ids.slice(0, MAX_THUMBNAILS);
  const more = ids.length - shown.length;
  fill(
    holder,
    more > 0 ? el("span", { class: "muted", text: `and ${more} more` }) : null,
    shown.map((id) =>
      el("div", { class: "reference" },
        thumbnail(gallery, id, `reference #${id} of ${row.identity}`),
        el("span", { class: "muted", text: `#${id}` }),
        el("button", {
          type: "button",
          class: "icon danger-text",
          "aria-label": `Delete reference #${id} of ${row.identity}`,
          text: "✕",
          onclick: () => deleteReference(id),
        })),
    ),
  );
}

function identityItem(gallery, row) {
  const holder = el("div", { class: "references", "aria-label": `references of ${row.identity}` });
  showReferences(gallery, row, holder);
  const created = new Date(row.created_at).toLocaleString();
  return el(
    "li",
    { class: "identity", "data-identity": row.identity },
    el("div", { class: "identity-head" },
      el("strong", { class: "identity-name", text: row.identity }),
      el("span", { class: "count", text: count(row.references, "reference", "references") }),
      el("span", { class: "muted", text: `enrolled ${created}` }),
      el("button", {
        type: "button",
        class: "danger",
        "aria-label": `Delete identity ${row.identity}`,
        text: "Delete identity",
        onclick: () => deleteIdentity(row),
      })),
    row.metadata ? el("code", { class: "metadata", text: JSON.stringify(row.metadata) }) : null,
    holder,
  );
}

// One page of identities; `note` is said once it shows (what was just done).
export async function loadPage({ note = "" } = {}) {
  const gallery = state.current?.name;
  if (!gallery) return;
  const message = $("browse-message");
  try {
    const answer = await request("GET", state.galleryPath(`/identities?offset=${page.offset}&limit=${size()}`));
    if (!answer.identities.length && answer.total && page.offset) {
      page.offset = Math.max(0, page.offset - size()); // the last page emptied: step back
      return loadPage({ note });
    }
    page.total = answer.total;
    say(message, note ? "ok" : "", note);
    const first = answer.total ? page.offset + 1 : 0;
    const last = page.offset + answer.identities.length;
    $("browse-range").textContent = `Identities ${first}–${last} of ${answer.total}`;
    $("browse-prev").disabled = page.offset === 0;
    $("browse-next").disabled = last >= answer.total;
    fill($("browse-list"), answer.identities.length
      ? answer.identities.map((row) => identityItem(gallery, row))
      : el("li", { class: "muted", text: "No identities enrolled yet." }));
  } catch (error) {
    sayError(message, error);
  }
}

async function afterDelete(note) {
  await state.reload();
  await loadPage({ note });
}

async function deleteIdentity(row) {
  const question = `Delete identity “${row.identity}” and its ${count(row.references, "reference", "references")}?`;
  if (!(await confirmAction(question, "Delete identity"))) return;
  try {
    const answer = await request("DELETE", state.galleryPath(`/identities/${enc(row.identity)}`));
    const gone = count(answer.deleted_references, "reference", "references");
    await afterDelete(`Identity ${answer.identity} deleted with ${gone}.`);
  } catch (error) {
    sayError($("browse-message"), error);
  }
}

async function deleteReference(id) {
  if (!(await confirmAction(`Delete reference #${id}?`, "Delete reference"))) return;
  try {
    const answer = await request("DELETE", state.galleryPath(`/references/${id}`));
    forgetThumbnails(state.current.name);
    await afterDelete(`Reference #${answer.reference_id} of ${answer.identity} deleted.`);
  } catch (error) {
    sayError($("browse-message"), error);
  }
}

export function startBrowse() {
  $("browse-prev").addEventListener("click", () => {
    page.offset = Math.max(0, page.offset - size());
    loadPage();
  });
  $("browse-next").addEventListener("click", () => {
    page.offset += size();
    loadPage();
  });
  $("browse-size").addEventListener("change", () => {
    page.offset = 0;
    loadPage();
  });
  $("reference-form").addEventListener("submit", (event) => {
    event.preventDefault();
    deleteReference(Number($("reference-id").value));
  });
  let shown = null;
  state.subscribe((s) => {
    if (s.current?.name === shown) return;
    shown = s.current?.name;
    page.offset = 0;
    fill($("browse-list"));
    say($("browse-message"), "", "");
    if (!$("panel-browse").hidden) loadPage();
  });
  document.addEventListener("sg:tab", (event) => event.detail === "browse" && loadPage());
}
