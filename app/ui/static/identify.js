// Identify: an image dropped, chosen or taken with the camera; the answer (an identity or unknown), its
// distance against the threshold, the ambiguous flag, the face box and the top candidates.

import { request } from "./api.js";
import { distanceBar, dropZone, el, fill, fmt, imageWithFace, say, sayError, thumbnail } from "./kit.js";
import { state } from "./state.js";

const $ = (id) => document.getElementById(id);
let probe = null; // the last image sent
let stream = null; // the camera, while its preview is open

function candidatesTable(answer) {
  if (!answer.candidates.length) return el("p", { class: "muted", text: "The gallery has no identities yet." });
  const rows = answer.candidates.map((c, i) =>
    el(
      "tr",
      { class: c.distance <= answer.threshold ? "within" : "" },
      el("td", { text: String(i + 1) }),
      el("td", {}, thumbnail(state.current.name, c.reference_id, `reference #${c.reference_id} of ${c.identity}`)),
      el("th", { scope: "row", text: c.identity }),
      el("td", { class: "num", text: fmt(c.distance) }),
      el("td", { class: "bar-cell" }, distanceBar(c.distance, answer.threshold)),
      el("td", { class: "num", text: `#${c.reference_id}` }),
    ),
  );
  return el(
    "table",
    { class: "candidates" },
    el("caption", { text: "Top candidates, nearest first (one row per identity, by its nearest reference)" }),
    el("thead", {}, el("tr", {},
      ["#", "Image", "Identity", "Distance", "Against the threshold", "Reference"].map((h) =>
        el("th", { scope: "col", text: h })))),
    el("tbody", {}, rows),
  );
}

function showAnswer(file, answer) {
  const known = answer.identity !== null;
  const verdict = el(
    "div",
    { class: `verdict ${known ? "match" : "unknown"}` },
    el("span", { class: "verdict-label", text: "Identity" }),
    el("strong", { class: "verdict-identity", "data-testid": "identity", text: known ? answer.identity : "unknown" }),
    answer.ambiguous
      ? el("span", { class: "badge warn", text: "ambiguous: the next identity is almost as near" })
      : null,
  );
  const why = answer.distance === null
    ? "The gallery is empty."
    : known
      ? `Nearest identity at distance ${fmt(answer.distance)}, within the threshold ${fmt(answer.threshold)}.`
      : `Nearest identity (${answer.candidates[0]?.identity}) at distance ${fmt(answer.distance)}, over the `
        + `threshold ${fmt(answer.threshold)}: not a match.`;
  fill(
    $("identify-result"),
    el("div", { class: "answer" },
      imageWithFace(file, answer.face, file.name),
      el("div", { class: "answer-text" }, verdict, el("p", { text: why }),
        distanceBar(answer.distance, answer.threshold))),
    candidatesTable(answer),
  );
}

async function identify(file) {
  probe = file;
  $("identify-submit").disabled = false;
  const result = $("identify-result");
  fill(result, el("p", { class: "message info", text: `Identifying ${file.name}…` }));
  const form = new FormData();
  form.append("gallery", state.current.name);
  form.append("image", file, file.name);
  form.append("top_k", $("identify-top-k").value);
  try {
    showAnswer(file, await request("POST", "identify", { form }));
  } catch (error) {
    const message = el("p");
    sayError(message, error);
    fill(result, message);
  }
}

function closeCamera() {
  for (const track of stream?.getTracks() ?? []) track.stop();
  stream = null;
  $("identify-video").srcObject = null;
  $("identify-camera-panel").hidden = true;
}

async function openCamera() {
  try {
    stream = await navigator.mediaDevices.getUserMedia({ video: true, audio: false });
    $("identify-video").srcObject = stream;
    $("identify-camera-panel").hidden = false;
    $("identify-capture").focus();
  } catch (error) {
    const message = el("p");
    say(message, "error", `The camera is not available: ${error.name}: ${error.message}`);
    fill($("identify-result"), message);
  }
}

function capture() {
  const video = $("identify-video");
  const canvas = el("canvas", { width: video.videoWidth, height: video.videoHeight });
  canvas.getContext("2d").drawImage(video, 0, 0);
  closeCamera();
  canvas.toBlob((blob) => identify(new File([blob], "camera.jpg", { type: "image/jpeg" })), "image/jpeg", 0.92);
}

export function startIdentify() {
  dropZone($("identify-drop"), $("identify-file"), (chosen) => identify(chosen[0]));
  $("identify-form").addEventListener("submit", (event) => {
    event.preventDefault();
    if (probe) identify(probe);
  });
  $("identify-camera").hidden = !navigator.mediaDevices?.getUserMedia;
  $("identify-camera").addEventListener("click", openCamera);
  $("identify-capture").addEventListener("click", capture);
  $("identify-camera-cancel").addEventListener("click", closeCamera);
  document.addEventListener("sg:tab", (event) => event.detail !== "identify" && closeCamera());
  let shown = null;
  state.subscribe((s) => {
    if (s.current?.name === shown) return;
    shown = s.current?.name;
    probe = null;
    $("identify-submit").disabled = true;
    fill($("identify-result"));
    closeCamera();
  });
}
