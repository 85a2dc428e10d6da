// The service's HTTP API as the page uses it: the API key (kept in sessionStorage), requests with the key,
// upload progress, and the service's JSON error body turned into an ApiError (status, code, message).

const KEY_NAME = "sg.apiKey";
// The API lives beside the page: /ui -> /, /prefix/ui -> /prefix/ behind a proxy.
const BASE = new URL(".", document.baseURI);

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }

  // "422 no_face: no face found in camera.jpg"
  get words() {
    return this.status ? `${this.status} ${this.code}: ${this.message}` : this.message;
  }
}

export const apiKey = {
  get: () => sessionStorage.getItem(KEY_NAME) || "",
  set: (value) => sessionStorage.setItem(KEY_NAME, value),
  clear: () => sessionStorage.removeItem(KEY_NAME),
};

export function url(path) {
  return new URL(path, BASE).href;
}

function errorOf(xhr) {
  let body = null;
  try {
    body = JSON.parse(xhr.responseText);
  } catch {
    // not JSON: a proxy's page, or nothing at all
  }
  if (body && body.error && body.error.code) {
    return new ApiError(xhr.status, body.error.code, body.error.message || "");
  }
  return new ApiError(xhr.status, "http_error", xhr.statusText || "the service answered with an error");
}

// One request. `json` sends a JSON body, `form` a FormData (multipart); `onProgress(fraction)` follows the
// upload. Resolves with the parsed JSON answer; rejects with an ApiError.
export function request(method, path, { json, form, onProgress } = {}) {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open(method, url(path));
    const key = apiKey.get();
    if (key) xhr.setRequestHeader("X-API-Key", key);
    if (onProgress) {
      xhr.upload.onprogress = (event) => event.lengthComputable && onProgress(event.loaded / event.total);
    }
    xhr.onload = () => {
      if (xhr.status < 200 || xhr.status >= 300) return reject(errorOf(xhr));
      try {
        resolve(xhr.responseText ? JSON.parse(xhr.responseText) : null);
      } catch {
        reject(new ApiError(xhr.status, "bad_answer", "the service's answer was not JSON"));
      }
    };
    xhr.onerror = () => reject(new ApiError(0, "network_error", "The service did not answer: is it running?"));
    if (json !== undefined) {
      xhr.setRequestHeader("Content-Type", "application/json");
      xhr.send(JSON.stringify(json));
    } else {
      xhr.send(form ?? null);
    }
  });
}

// An image the API serves (it needs the key, which an <img src> cannot send): an object URL, or null when
// the service has none (any answer but 200).
export async function imageUrl(path) {
  const headers = apiKey.get() ? { "X-API-Key": apiKey.get() } : {};
  try {
    const answer = await fetch(url(path), { headers });
    if (answer.status !== 200) return null;
    const blob = await answer.blob();
    return blob.type.startsWith("image/") ? URL.createObjectURL(blob) : null;
  } catch {
    return null;
  }
}

export const enc = encodeURIComponent;
