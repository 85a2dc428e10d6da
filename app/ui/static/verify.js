// Verify, under the gallery's model and threshold: two images, or one image against an enrolled identity;
// the answer (same or not), the distance against the threshold and the face boxes.

import { request } from "./api.js";
import { distanceBar, dropZone, el, fill, fmt, imageWithFace, say, sayError } from "./kit.js";
import { state } from "./state.js";

const $ = (id) => document.getElementById(id);
const chosen = { a: null, b: null };

function mode() {
  return document.querySelector('input[name="verify-mode"]:checked').value;
}

function showMode() {
  const identity = mode() === "identity";
  $("verify-drop-b").hidden = identity;
  $("verify-identity-row").hidden = !identity;
  $("verify-identity").required = identity;
  if (identity) loadIdentities();
}

async function loadIdentities() {
  try {
    const page = await request("GET", state.galleryPath("/identities?offset=0&limit=1000"));
    fill($("verify-identities"), page.identities.map((i) => el("option", { value: i.identity })));
  } catch {
    // the list only helps typing; verify itself reports any error
  }
}

function choose(slot, files) {
  chosen[slot] = files[0];
  $(`verify-name-${slot}`).textContent = files[0].name;
}

function showAnswer(answer, images) {
  const faces = answer.faces ?? [];
  const same = answer.identity ? `is ${answer.identity}` : "same identity";
  const verdict = answer.match ? same : answer.identity ? `is not ${answer.identity}` : "different identities";
  const compared = answer.references ? ` (nearest of its ${answer.references} references)` : "";
  fill(
    $("verify-result"),
    el("div", { class: `verdict ${answer.match ? "match" : "unknown"}` },
      el("span", { class: "verdict-label", text: "Verdict" }),
      el("strong", { "data-testid": "verdict", text: verdict })),
    el("p", { text: `Distance ${fmt(answer.distance)}${compared}, threshold ${fmt(answer.threshold)} `
      + `(model ${answer.model}).` }),
    distanceBar(answer.distance, answer.threshold),
    el("div", { class: "pair" }, images.map((file, i) => imageWithFace(file, faces[i], file.name))),
  );
}

function refuse(result, text) {
  const message = el("p");
  say(message, "error", text);
  fill(result, message);
}

async function verify(event) {
  event.preventDefault();
  const result = $("verify-result");
  const message = el("p");
  const form = new FormData();
  form.append("gallery", state.current.name);
  let images;
  if (mode() === "pair") {
    if (!chosen.a || !chosen.b) return refuse(result, "Choose both images.");
    form.append("image_a", chosen.a, chosen.a.name);
    form.append("image_b", chosen.b, chosen.b.name);
    images = [chosen.a, chosen.b];
  } else {
    if (!chosen.a) return refuse(result, "Choose the image.");
    form.append("identity", $("verify-identity").value.trim());
    form.append("image", chosen.a, chosen.a.name);
    images = [chosen.a];
  }
  fill(result, el("p", { class: "message info", text: "Comparing…" }));
  try {
    showAnswer(await request("POST", "verify", { form }), images);
  } catch (error) {
    sayError(message, error);
    fill(result, message);
  }
}

export function startVerify() {
  dropZone($("verify-drop-a"), $("verify-file-a"), (files) => choose("a", files));
  dropZone($("verify-drop-b"), $("verify-file-b"), (files) => choose("b", files));
  for (const radio of document.querySelectorAll('input[name="verify-mode"]')) {
    radio.addEventListener("change", showMode);
  }
  $("verify-form").addEventListener("submit", verify);
  let shown = null;
  state.subscribe((s) => {
    if (s.current?.name === shown) return;
    shown = s.current?.name;
    chosen.a = chosen.b = null;
    $("verify-name-a").textContent = $("verify-name-b").textContent = "";
    fill($("verify-result"));
  });
  document.addEventListener("sg:tab", (event) => event.detail === "verify" && state.current && showMode());
}
