// Labelling pages: the keyboard-first labelling view, the label-error review buttons, and the
// "run curation now" form. Everything goes through the /v1 API with fetch().
(() => {
  "use strict";

  const COOKIE = "flywheel_annotator";

  async function api(path, options = {}) {
    const resp = await fetch(path, {
      credentials: "same-origin",
      headers: { "content-type": "application/json" },
      ...options,
    });
    const body = await resp.json().catch(() => ({}));
    if (!resp.ok) {
      const err = new Error((body.error && body.error.message) || resp.statusText);
      err.status = resp.status;
      throw err;
    }
    return body;
  }

  function qs(params) {
    const q = new URLSearchParams();
    for (const [k, v] of Object.entries(params)) if (v !== null && v !== undefined && v !== "") q.set(k, v);
    const s = q.toString();
    return s ? "?" + s : "";
  }

  function setCookie(value) {
    document.cookie = `${COOKIE}=${encodeURIComponent(value)}; path=/; max-age=31536000; samesite=strict`;
  }

  function getCookie() {
    const hit = document.cookie.split("; ").find((c) => c.startsWith(COOKIE + "="));
    return hit ? decodeURIComponent(hit.slice(COOKIE.length + 1)) : "";
  }

  function el(tag, attrs = {}, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs)) {
      if (k === "class") node.className = v;
      else if (k === "text") node.textContent = v;
      else node.setAttribute(k, v);
    }
    for (const c of children) if (c !== null && c !== undefined) node.append(c);
    return node;
  }

  function uid() {
    if (window.crypto && crypto.randomUUID) return crypto.randomUUID();
    return Date.now().toString(36) + Math.random().toString(36).slice(2);
  }

  const fmt = (v) => (typeof v === "number" ? (Number.isInteger(v) ? String(v) : v.toPrecision(4)) : v === null ? "—" : String(v));

  // -- the labelling view ---------------------------------------------------------------------
  function labeller(root) {
    const model = root.dataset.model;
    const mode = root.dataset.mode;
    const run = root.dataset.run || null;
    const classes = JSON.parse(root.dataset.classes || "[]");
    const regression = root.dataset.task === "regression";
    const $ = (id) => document.getElementById(id);
    const nameInput = $("annotator");
    const base = `/v1/models/${encodeURIComponent(model)}`;

    // Number keys: a class named by a digit answers to that digit; otherwise classes go 1..9, 0.
    const byName = classes.length > 0 && classes.length <= 10 && classes.every((c) => /^[0-9]$/.test(c));
    const keyFor = (i) => (byName ? classes[i] : classes.length <= 10 ? (i < 9 ? String(i + 1) : "0") : String(i + 1));

    const state = { annotator: "", item: null, selected: null, shownAt: 0, busy: false, session: 0, digits: "", digitTimer: null, skipped: new Set() };
    // What happened, with times, for tests and the labelling-speed benchmark.
    const log = [];
    window.flywheelLabeller = { log, state };

    function say(message, isError = false) {
      const s = $("status");
      s.textContent = message || "";
      s.classList.toggle("error", !!isError);
    }

    function showProgress(p) {
      if (!p) return;
      const done = run ? p.done : state.session;
      const total = done + p.remaining;
      $("progress-fill").style.width = total ? `${(100 * done) / total}%` : "0%";
      $("progress-text").textContent = `${done} done · ${p.remaining} left`;
      root.dataset.done = String(done);
      root.dataset.remaining = String(p.remaining);
    }

    function choose(label) {
      state.selected = label;
      for (const b of $("choices").querySelectorAll("button")) {
        b.setAttribute("aria-checked", String(b.dataset.label === String(label)));
      }
      if (regression) $("number-input").value = label === null || label === undefined ? "" : label;
    }

    function renderInputs(view, event) {
      const box = $("inputs");
      box.replaceChildren();
      for (const img of view.images) {
        const fig = el("figure", {}, img.src ? el("img", { src: img.src, alt: `${img.name} of ${event.event_id}` }) : el("p", { class: "empty", text: img.missing ? "no image" : "this image cannot be shown" }), el("figcaption", { text: img.name }));
        box.append(fig);
      }
      for (const t of view.texts) {
        box.append(el("div", { class: "muted", text: t.name }), el("div", { class: "text", "data-feature": t.name, text: t.value ?? "" }));
      }
      if (view.table.length) {
        const body = el("tbody");
        for (const row of view.table) {
          const td = el("td", { text: fmt(row.value) });
          if (row.out_of_range) {
            td.className = "out-of-range";
            td.title = `outside the usual range ${fmt(row.range[0])} – ${fmt(row.range[1])}`;
          }
          body.append(el("tr", { "data-feature": row.name }, el("th", { text: row.name }), td));
        }
        box.append(el("table", { class: "compact inputs-table" }, body));
      }
      for (const e of view.embeddings) {
        box.append(el("p", { class: "muted", text: `${e.name}: embedding of ${e.dim} values (${e.head.join(", ")}…)` }));
      }
    }

    function render(item, preselect) {
      state.item = item;
      $("done").hidden = !!item;
      $("item").hidden = !item;
      if (!item) {
        root.dataset.ready = "";
        return;
      }
      const ev = item.event;
      const link = $("item-event");
      link.textContent = ev.event_id;
      link.href = `/models/${encodeURIComponent(model)}/events/${encodeURIComponent(ev.event_id)}`;
      $("item-reason").textContent = `${item.reason.selector}: ${item.reason.signal}`;
      $("item-eval").hidden = !item.reason.for_evaluation;
      const guess = item.view.guess;
      $("guess-label").textContent = guess.label === null || guess.label === undefined ? "—" : String(guess.label);
      $("guess-confidence").textContent = guess.confidence === null || guess.confidence === undefined ? "" : `(${Math.round(guess.confidence * 100)}% confident)`;
      const disputed = $("disputed");
      disputed.hidden = !item.labels;
      if (item.labels) {
        disputed.textContent = "Annotators said: " + item.labels.map((l) => `${l.annotator}: ${l.label}`).join(" · ");
      }
      renderInputs(item.view, ev);
      const choices = $("choices");
      choices.replaceChildren();
      $("number").hidden = !regression;
      if (!regression) {
        classes.forEach((c, i) => {
          const b = el("button", { type: "button", role: "radio", "data-label": c, "aria-checked": "false", tabindex: "-1" }, el("kbd", { text: keyFor(i) }), c);
          b.addEventListener("click", () => choose(c));
          choices.append(b);
        });
      }
      choose(preselect !== undefined && preselect !== null ? preselect : guess.label);
      if (regression) $("number-input").focus();
      else if (document.activeElement && document.activeElement !== document.body) document.activeElement.blur();
      state.shownAt = performance.now();
      root.dataset.ready = ev.event_id;
      log.push({ event: "ready", event_id: ev.event_id, at: state.shownAt });
    }

    async function guarded(fn) {
      if (state.busy) return;
      state.busy = true;
      try {
        await fn();
      } catch (err) {
        say(err.message, true);
        if (err.status === 409 && mode !== "adjudicate") await loadNext();
      } finally {
        state.busy = false;
      }
    }

    async function loadNext() {
      if (mode === "adjudicate") {
        const res = await api(`${base}/adjudications${qs({ limit: 50 })}`);
        const item = res.items.find((i) => !state.skipped.has(i.event_id)) || null;
        showProgress({ done: state.session, remaining: res.items.filter((i) => !state.skipped.has(i.event_id)).length });
        render(item, item ? majority(item.labels) : null);
        return;
      }
      const res = await api(`${base}/queue/next${qs({ annotator: state.annotator, run_id: run })}`, { method: "POST" });
      showProgress(res.progress);
      render(res.item);
    }

    function majority(labels) {
      const counts = new Map();
      for (const l of labels) counts.set(JSON.stringify(l.label), (counts.get(JSON.stringify(l.label)) || 0) + 1);
      let best = null;
      let n = 0;
      for (const [k, c] of counts) if (c > n) [best, n] = [k, c];
      return best === null ? null : JSON.parse(best);
    }

    function answer() {
      if (!regression) return state.selected;
      const raw = $("number-input").value.trim();
      if (raw === "" || !Number.isFinite(Number(raw))) return null;
      return Number(raw);
    }

    const elapsed = () => Math.max(0, (performance.now() - state.shownAt) / 1000);

    async function submit() {
      const item = state.item;
      const label = answer();
      if (!item) return;
      if (label === null || label === undefined) {
        say(regression ? "Type a number first." : "Pick a class first (its number key).", true);
        return;
      }
      const accepted = String(label) === String(item.view.guess.label);
      const spent = elapsed();
      if (mode === "adjudicate") {
        await api(`${base}/adjudications`, {
          method: "POST",
          body: JSON.stringify({ event_id: item.event_id, adjudicator: state.annotator, label, time_spent_s: spent, submission_id: uid() }),
        });
        log.push({ event: "stored", event_id: item.event_id, label, accepted, at: performance.now() });
        state.session += 1;
        say(`Adjudicated ${item.event_id} as ${label}.`);
        await loadNext();
        return;
      }
      const res = await api(`${base}/annotations${qs({ next: "true", run_id: run })}`, {
        method: "POST",
        body: JSON.stringify({ event_id: item.event_id, annotator: state.annotator, label, time_spent_s: spent, submission_id: uid() }),
      });
      log.push({ event: "stored", event_id: item.event_id, label, accepted, at: performance.now() });
      state.session += 1;
      say(`Labelled ${item.event_id} as ${label}.`);
      showProgress(res.next.progress);
      render(res.next.item);
    }

    async function skip() {
      const item = state.item;
      if (!item) return;
      if (mode === "adjudicate") {
        state.skipped.add(item.event_id);
        say(`Skipped ${item.event_id}.`);
        await loadNext();
        return;
      }
      const res = await api(`${base}/annotations${qs({ next: "true", run_id: run })}`, {
        method: "POST",
        body: JSON.stringify({ event_id: item.event_id, annotator: state.annotator, skip: true, time_spent_s: elapsed() }),
      });
      log.push({ event: "skipped", event_id: item.event_id, at: performance.now() });
      state.session += 1;
      say(`Skipped ${item.event_id}.`);
      showProgress(res.next.progress);
      render(res.next.item);
    }

    async function undo() {
      if (mode === "adjudicate") {
        say("Adjudications are final; there is nothing to undo here.", true);
        return;
      }
      const res = await api(`${base}/annotations/undo${qs({ annotator: state.annotator, run_id: run })}`, { method: "POST" });
      if (!res.item) {
        say("Nothing to undo.");
        return;
      }
      log.push({ event: "undone", event_id: res.item.event_id, previous: res.previous, at: performance.now() });
      state.session = Math.max(0, state.session - 1);
      say(`Undid your answer for ${res.item.event_id}${res.previous !== null ? ` (${res.previous})` : " (skip)"}.`);
      showProgress(res.progress);
      render(res.item, res.previous);
    }

    function pickDigit(key) {
      if (classes.length <= 10) {
        const i = classes.findIndex((_, j) => keyFor(j) === key);
        if (i >= 0) choose(classes[i]);
        return;
      }
      // More than ten classes: digits typed within 700 ms form one number.
      state.digits += key;
      clearTimeout(state.digitTimer);
      const i = Number(state.digits) - 1;
      if (i >= 0 && i < classes.length) choose(classes[i]);
      state.digitTimer = setTimeout(() => (state.digits = ""), 700);
    }

    function toggleKeys(force) {
      const d = $("keys");
      const open = force === undefined ? !d.open : force;
      if (open && !d.open) d.show();
      if (!open && d.open) d.close();
    }

    document.addEventListener("keydown", (e) => {
      if (e.ctrlKey || e.metaKey || e.altKey) return;
      const inName = e.target === nameInput;
      const inNumber = e.target && e.target.id === "number-input";
      if (e.key === "Escape") {
        toggleKeys(false);
        return;
      }
      if (inName) return; // the name form handles its own Enter
      if (e.key === "?") {
        e.preventDefault();
        toggleKeys();
        return;
      }
      if (!state.item || !state.annotator) return;
      const key = e.key.toLowerCase();
      if (key === "enter") {
        e.preventDefault();
        guarded(submit);
      } else if (key === "s") {
        e.preventDefault();
        guarded(skip);
      } else if (key === "u") {
        e.preventDefault();
        guarded(undo);
      } else if (/^[0-9]$/.test(e.key) && !regression && !inNumber) {
        e.preventDefault();
        pickDigit(e.key);
      }
    });

    async function start() {
      const name = nameInput.value.trim();
      if (!name) {
        nameInput.focus();
        return;
      }
      state.annotator = name;
      setCookie(name);
      nameInput.blur();
      root.dataset.annotator = name;
      await guarded(loadNext);
    }

    $("who").addEventListener("submit", (e) => {
      e.preventDefault();
      start();
    });
    if (!nameInput.value) nameInput.value = getCookie();
    if (nameInput.value.trim()) start();
    else nameInput.focus();
  }

  // -- label-error review buttons ---------------------------------------------------------------
  function reviews(table) {
    const model = table.dataset.model;
    table.addEventListener("click", async (e) => {
      const button = e.target.closest("button");
      if (!button) return;
      const row = button.closest("tr");
      let reviewer = getCookie();
      if (!reviewer) {
        reviewer = (window.prompt("Your name (recorded with the decision):") || "").trim();
        if (!reviewer) return;
        setCookie(reviewer);
      }
      const body = button.classList.contains("relabel")
        ? { action: "relabel", label: JSON.parse(button.dataset.label), reviewer }
        : { action: "confirm", reviewer };
      const status = document.getElementById("status");
      try {
        const res = await api(`/v1/models/${encodeURIComponent(model)}/label-errors/${encodeURIComponent(row.dataset.event)}`, {
          method: "POST",
          body: JSON.stringify(body),
        });
        row.querySelector(".status").textContent = `${res.status} by ${res.reviewer}`;
        row.querySelector(".decide").replaceChildren();
        status.textContent = `${row.dataset.event}: ${res.status}.`;
      } catch (err) {
        status.textContent = err.message;
        status.classList.add("error");
      }
    });
  }

  // -- run curation now ---------------------------------------------------------------------------
  function curationForm(form) {
    form.addEventListener("submit", async (e) => {
      e.preventDefault();
      const out = form.querySelector(".run-result");
      const data = new FormData(form);
      out.textContent = "running…";
      try {
        const res = await api(`/v1/models/${encodeURIComponent(form.dataset.model)}/curation/runs`, {
          method: "POST",
          body: JSON.stringify({ policy: { budget: Number(data.get("budget")) }, k: Number(data.get("k")) }),
        });
        out.textContent = `queued ${res.picked} of ${res.candidates} candidates`;
        setTimeout(() => window.location.reload(), 600);
      } catch (err) {
        out.textContent = err.message;
      }
    });
  }

  document.addEventListener("DOMContentLoaded", () => {
    const root = document.getElementById("labeller");
    if (root) labeller(root);
    const table = document.querySelector("table.label-errors");
    if (table) reviews(table);
    const form = document.getElementById("run-curation");
    if (form) curationForm(form);
  });
})();
