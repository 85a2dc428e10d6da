// What the page knows: the served models, the galleries, and the gallery being worked on. Parts of the page
// subscribe to changes; `reload()` reads the galleries again (after an enroll or a delete).

import { enc, request } from "./api.js";

const listeners = new Set();

export const state = {
  models: new Map(), // name -> the /models entry
  galleries: [],
  loaded: false, // whether `galleries` holds the service's answer (not yet, or refused without a key)
  current: null, // the /galleries entry being worked on

  subscribe(listener) {
    listeners.add(listener);
  },

  notify() {
    for (const listener of listeners) listener(this);
  },

  async loadModels() {
    const answer = await request("GET", "models");
    this.models = new Map(answer.models.map((m) => [m.name, m]));
  },

  async reload() {
    const answer = await request("GET", "galleries");
    this.galleries = answer.galleries;
    this.loaded = true;
    const name = this.current?.name;
    this.current = this.galleries.find((g) => g.name === name) ?? null;
    this.notify();
  },

  choose(name) {
    this.current = this.galleries.find((g) => g.name === name) ?? null;
    this.notify();
  },

  model() {
    return this.current ? this.models.get(this.current.model) : undefined;
  },

  galleryPath(suffix = "") {
    return `galleries/${enc(this.current.name)}${suffix}`;
  },
};
