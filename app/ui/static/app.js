// The page's entry point: the API key, the service's readiness, the tabs, and the chosen gallery's heading.

import { apiKey, request } from "./api.js";
import { startBrowse } from "./browse.js";
import { startEnroll } from "./enroll.js";
import { startGalleries } from "./galleries.js";
import { startIdentify } from "./identify.js";
import { count, fmt, say, sayError } from "./kit.js";
import { state } from "./state.js";
import { startVerify } from "./verify.js";

const $ = (id) => document.getElementById(id);
const TABS = ["enroll", "identify", "verify", "browse"];

async function showService() {
  try {
    const ready = await request("GET", "ready");
    const skipped = Object.keys(ready.skipped_models);
    const unavailable = Object.keys(ready.unavailable_galleries ?? {});
    const notes = [
      skipped.length && `models not loaded: ${skipped.join(", ")}`,
      unavailable.length && `galleries unavailable: ${unavailable.join(", ")}`,
    ].filter(Boolean);
    $("service").textContent = `Service ${ready.status}${notes.length ? ` (${notes.join("; ")})` : ""}`;
    $("service").className = `service ${ready.status}`;
  } catch (error) {
    $("service").textContent = `Service: ${error.words}`;
    $("service").className = "service degraded";
  }
}

function showKeyState() {
  $("key-state").textContent = apiKey.get() ? "Key set for this tab" : "No key";
  $("key-forget").hidden = !apiKey.get();
}

// Read the models and galleries; a 401 asks for a key, in words.
async function load() {
  const message = $("galleries-message");
  try {
    await state.loadModels();
    galleries.renderModels();
    await state.reload();
    say(message, "", "");
    if (!apiKey.get()) $("key-state").textContent = "No key needed";
  } catch (error) {
    if (error.status === 401) {
      const text = apiKey.get()
        ? `The key was refused (${error.words}). Enter another key above.`
        : "This service needs an API key: enter one of its keys above.";
      say(message, "error", text);
      $("api-key").focus();
    } else {
      sayError(message, error);
    }
    state.galleries = [];
    state.loaded = false;
    state.current = null;
    state.notify();
  }
}

function selectTab(name, { focus = false } = {}) {
  for (const tab of TABS) {
    const button = $(`tab-${tab}`);
    const selected = tab === name;
    button.setAttribute("aria-selected", String(selected));
    button.tabIndex = selected ? 0 : -1;
    $(`panel-${tab}`).hidden = !selected;
    if (selected && focus) button.focus();
  }
  document.dispatchEvent(new CustomEvent("sg:tab", { detail: name }));
}

function startTabs() {
  for (const tab of TABS) $(`tab-${tab}`).addEventListener("click", () => selectTab(tab));
  document.querySelector(".tabs").addEventListener("keydown", (event) => {
    const at = TABS.indexOf(event.target.id.replace("tab-", ""));
    const to = { ArrowRight: at + 1, ArrowLeft: at - 1, Home: 0, End: TABS.length - 1 }[event.key];
    if (to === undefined || at < 0) return;
    event.preventDefault();
    selectTab(TABS[(to + TABS.length) % TABS.length], { focus: true });
  });
  selectTab("enroll");
}

function showWorkspace() {
  const gallery = state.current;
  $("workspace").hidden = !gallery;
  $("no-gallery").hidden = Boolean(gallery);
  if (!gallery) return;
  $("gallery-title").textContent = `Gallery ${gallery.name}`;
  const own = gallery.threshold_override === null ? "" : " (its own)";
  const status = gallery.status === "ready" ? "" : ` · refused: ${gallery.status.replace("_", " ")}`;
  $("gallery-summary").textContent = `model ${gallery.model} · identify threshold ${fmt(gallery.threshold)}${own}`
    + ` · ${count(gallery.identities, "identity", "identities")}`
    + ` · ${count(gallery.references, "reference", "references")} · ${gallery.index.kind} index`
    + status;
}

// Whatever goes wrong in the page itself is said in words, not left as a dead control.
function sayPageError(error) {
  say($("galleries-message"), "error", `The page hit an error: ${error?.words ?? error?.message ?? error}`);
}
window.addEventListener("error", (event) => sayPageError(event.error ?? event.message));
window.addEventListener("unhandledrejection", (event) => sayPageError(event.reason));

const galleries = startGalleries();

$("key-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const key = $("api-key").value.trim();
  if (key) apiKey.set(key);
  $("api-key").value = "";
  showKeyState();
  load();
});
$("key-forget").addEventListener("click", () => {
  apiKey.clear();
  showKeyState();
  load();
});

state.subscribe(showWorkspace);
startTabs();
startEnroll();
startIdentify();
startVerify();
startBrowse();
showKeyState();
showService();
load();
