// Enroll: an identity, several images dropped or chosen (sent in one request), optional metadata; upload
// progress, then the stored reference ids, or the API's error marked on the image it names.

import { request } from "./api.js";
import { dropZone, el, fill, say, thumbnail } from "./kit.js";
import { state } from "./state.js";

const $ = (id) => document.getElementById(id);
let files = []; // [{file, url, status}]
let shownGallery = null;

function kb(size) {
  return size < 1024 * 1024 ? `${Math.max(1, Math.round(size / 1024))} kB` : `${(size / 1048576).toFixed(1)} MB`;
}

function renderFiles() {
  fill(
    $("enroll-list"),
    files.map((entry, i) =>
      el(
        "li",
        { class: `file ${entry.status?.kind ?? ""}` },
        el("img", { src: entry.url, alt: "" }),
        el("span", { class: "file-name", text: entry.file.name }),
        el("span", { class: "muted", text: kb(entry.file.size) }),
        entry.status ? el("span", { class: `file-status ${entry.status.kind}`, text: entry.status.text }) : null,
        el("button", {
          type: "button",
          class: "icon",
          "aria-label": `Remove ${entry.file.name}`,
          text: "✕",
          onclick: () => {
            URL.revokeObjectURL(entry.url);
            files.splice(i, 1);
            renderFiles();
          },
        }),
      ),
    ),
  );
  $("enroll-clear").hidden = !files.length;
}

function addFiles(chosen) {
  const stored = files.filter((entry) => entry.status?.kind === "stored");
  for (const entry of stored) URL.revokeObjectURL(entry.url);
  files = files.filter((entry) => !stored.includes(entry)).map((entry) => ({ ...entry, status: null }));
  for (const file of chosen) files.push({ file, url: URL.createObjectURL(file), status: null });
  renderFiles();
}

function clearFiles() {
  for (const entry of files) URL.revokeObjectURL(entry.url);
  files = [];
  renderFiles();
}

// The metadata box: empty, or a JSON object (checked here too, so that a typo costs no upload).
function metadata() {
  const raw = $("enroll-metadata").value.trim();
  if (!raw) return null;
  let value;
  try {
    value = JSON.parse(raw);
  } catch (error) {
    throw new Error(`Metadata is not valid JSON: ${error.message}`);
  }
  if (value === null || typeof value !== "object" || Array.isArray(value)) {
    throw new Error("Metadata must be a JSON object, such as {\"employee_id\": 1815}.");
  }
  return raw;
}

// The API refuses the whole request for one bad image and names it in the message: mark that image.
function markFailed(error) {
  let named = false;
  for (const entry of files) {
    const hit = error.message.includes(entry.file.name);
    entry.status = hit ? { kind: "failed", text: `${error.code}: ${error.message}` } : { kind: "", text: "not stored" };
    named ||= hit;
  }
  renderFiles();
  return named;
}

function showEnrolled(answer) {
  const faces = answer.faces ?? [];
  files.forEach((entry, i) => {
    const face = faces[i];
    const where = face ? (face.detected ? " · face found" : " · taken as a face crop") : "";
    const many = face && face.faces > 1 ? ` (${face.faces} faces, largest used)` : "";
    entry.status = { kind: "stored", text: `reference #${answer.reference_ids[i]}${where}${many}` };
  });
  renderFiles();
  const ids = answer.reference_ids.map((id) => `#${id}`).join(", ");
  const noun = answer.enrolled === 1 ? "image" : "images";
  const message = el("p");
  const refs = answer.enrolled === 1 ? "reference" : "references";
  say(message, "ok", `Enrolled ${answer.enrolled} ${noun} of ${answer.identity} as ${refs} ${ids}.`);
  const stored = answer.reference_ids.map((id) =>
    thumbnail(answer.gallery, id, `reference #${id} of ${answer.identity}, as stored`));
  fill($("enroll-result"), message, el("div", { class: "references" }, stored));
}

async function enroll(event) {
  event.preventDefault();
  const result = $("enroll-result");
  const progress = $("enroll-progress");
  if (!files.length) return say(result, "error", "Choose or drop at least one image.");
  let meta;
  try {
    meta = metadata();
  } catch (error) {
    return say(result, "error", error.message);
  }
  const form = new FormData();
  form.append("gallery", state.current.name);
  form.append("identity", $("enroll-identity").value.trim());
  for (const entry of files) form.append("images", entry.file, entry.file.name);
  if (meta) form.append("metadata", meta);
  $("enroll-submit").disabled = true;
  progress.hidden = false;
  progress.value = 0;
  say(result, "info", `Uploading ${files.length} images…`);
  try {
    const answer = await request("POST", "enroll", {
      form,
      onProgress: (done) => {
        progress.value = done;
        if (done >= 1) say(result, "info", "Uploaded; embedding and storing…");
      },
    });
    showEnrolled(answer);
    await state.reload();
  } catch (error) {
    const named = markFailed(error);
    const rest = named ? " Nothing was stored; remove the marked image and enroll again." : " Nothing was stored.";
    say(result, "error", `${error.words.replace(/[.\s]*$/, ".")}${rest}`);
  } finally {
    $("enroll-submit").disabled = false;
    progress.hidden = true;
  }
}

export function startEnroll() {
  dropZone($("enroll-drop"), $("enroll-files"), addFiles);
  $("enroll-form").addEventListener("submit", enroll);
  $("enroll-clear").addEventListener("click", clearFiles);
  renderFiles();
  state.subscribe((s) => {
    if (s.current?.name !== shownGallery) {
      shownGallery = s.current?.name;
      say($("enroll-result"), "", "");
      clearFiles();
    }
  });
}
