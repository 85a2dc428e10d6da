// Small building blocks of the page: elements, messages, the distance bar, an image with its face box,
// drop zones, the confirmation dialog and reference thumbnails.

import { enc, imageUrl } from "./api.js";

// el("p", {class: "x", onclick: f}, "text", child, ...)
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
    else if (name === "class") node.className = value;
    else if (name === "text") node.textContent = value;
    else node.setAttribute(name, value === true ? "" : value);
  }
  node.append(...children.flat().filter((c) => c !== null && c !== undefined && c !== false));
  return node;
}

export function fill(node, ...children) {
  node.replaceChildren(...children.flat().filter((c) => c !== null && c !== undefined && c !== false));
  return node;
}

// A message in a live region: kind "error" (the API's code and message), "ok" or "info"; empty hides it.
export function say(node, kind, text) {
  node.hidden = !text;
  node.className = `message ${kind}`;
  node.textContent = text || "";
}

export function sayError(node, error) {
  say(node, "error", error.words ?? String(error.message ?? error));
}

// "1 identity", "2 identities"
export function count(n, one, many) {
  return `${n} ${n === 1 ? one : many}`;
}

export function fmt(value, digits = 3) {
  return value === null || value === undefined ? "n/a" : Number(value).toFixed(digits);
}

export function percent(value) {
  return value === null || value === undefined ? "n/a" : `${(100 * value).toFixed(1)} %`;
}

// The distance against the threshold, as a bar from 0 to `max` with the threshold marked.
export function distanceBar(distance, threshold, { max = 2 } = {}) {
  const scale = Math.max(max, distance ?? 0, threshold ?? 0);
  const within = distance !== null && distance <= threshold;
  const label =
    distance === null
      ? `no distance (empty gallery), threshold ${fmt(threshold)}`
      : `distance ${fmt(distance)} ${within ? "at or under" : "over"} the threshold ${fmt(threshold)}`;
  return el(
    "div",
    { class: "bar-wrap" },
    el(
      "div",
      { class: "bar", role: "img", "aria-label": label, title: label },
      el("div", {
        class: `bar-fill ${within ? "within" : "over"}`,
        style: `width: ${(100 * (distance ?? 0)) / scale}%`,
      }),
      el("div", { class: "bar-mark", style: `left: ${(100 * threshold) / scale}%` }),
    ),
    el("div", { class: "bar-legend", "aria-hidden": "true" },
      el("span", { text: `distance ${fmt(distance)}` }),
      el("span", { text: `threshold ${fmt(threshold)}` })),
  );
}

// The image the user sent, with the detected face's box drawn over it (face models).
export function imageWithFace(file, face, caption) {
  const src = URL.createObjectURL(file);
  const img = el("img", { src, alt: caption });
  const frame = el("div", { class: "face-frame" }, img);
  img.addEventListener("load", () => URL.revokeObjectURL(src), { once: true });
  if (face && face.box) {
    img.addEventListener("load", () => {
      const [left, top, right, bottom] = face.box;
      const w = img.naturalWidth;
      const h = img.naturalHeight;
      const how = face.detected ? "detected face" : "taken as a face crop";
      frame.append(
        el("div", {
          class: "face-box",
          role: "img",
          "aria-label": `${how}: box ${left}, ${top}, ${right}, ${bottom}`,
          style: `left: ${(100 * left) / w}%; top: ${(100 * top) / h}%; width: ${(100 * (right - left)) / w}%;`
            + ` height: ${(100 * (bottom - top)) / h}%`,
        }),
      );
    });
  }
  const notes = [];
  if (face) {
    notes.push(face.detected ? "face detected" : "no face detected: the image was taken as a face crop");
    if (face.faces > 1) notes.push(`${face.faces} faces found, the largest was used`);
  }
  return el("figure", { class: "probe" }, frame, el("figcaption", { text: [caption, ...notes].join(" · ") }));
}

// Make `zone` accept dropped files for `input` (a file input inside it); `onFiles(files)` gets each choice.
export function dropZone(zone, input, onFiles) {
  const take = (files) => files.length && onFiles(Array.from(files));
  input.addEventListener("change", () => {
    take(input.files);
    input.value = "";
  });
  zone.addEventListener("dragover", (event) => {
    event.preventDefault();
    zone.classList.add("dragging");
  });
  zone.addEventListener("dragleave", () => zone.classList.remove("dragging"));
  zone.addEventListener("drop", (event) => {
    event.preventDefault();
    zone.classList.remove("dragging");
    const files = Array.from(event.dataTransfer.files);
    take(input.multiple ? files : files.slice(0, 1));
  });
}

// A modal yes/no question; resolves true when the user confirms.
export function confirmAction(question, action) {
  const dialog = document.getElementById("confirm");
  document.getElementById("confirm-text").textContent = question;
  document.getElementById("confirm-yes").textContent = action;
  dialog.returnValue = "";
  dialog.showModal();
  document.getElementById("confirm-no").focus();
  return new Promise((resolve) => {
    dialog.addEventListener("close", () => resolve(dialog.returnValue === "yes"), { once: true });
  });
}

const thumbs = new Map();

// A reference's thumbnail, or a placeholder when the service keeps none for it.
export function thumbnail(gallery, referenceId, label) {
  const holder = el("div", { class: "thumb placeholder", role: "img", "aria-label": `${label}: no image kept` },
    el("span", { "aria-hidden": "true", text: `#${referenceId}` }));
  const key = `${gallery}/${referenceId}`;
  if (!thumbs.has(key)) {
    thumbs.set(key, imageUrl(`galleries/${enc(gallery)}/references/${referenceId}/thumbnail`));
  }
  thumbs.get(key).then((src) => {
    if (!src) return;
    holder.replaceWith(el("img", { class: "thumb", src, alt: label }));
  });
  return holder;
}

export function forgetThumbnails(gallery) {
  for (const key of thumbs.keys()) if (key.startsWith(`${gallery}/`)) thumbs.delete(key);
}
