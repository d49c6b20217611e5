/* sointu studio: the page. Plain JavaScript, no build step, nothing from the internet.
 *
 * Three areas (Instruments, Session, Gifts) over the studio's JSON API (docs/studio.md).
 * Every text comes from i18n/<lang>.json; every field is checked here with the server's
 * limits, and the server's one-line {"error", "field"} is shown next to the field it names.
 * window.studio exposes a little state for the browser tests and bench/bench_studio.py.
 */
"use strict";

(function () {
  const LANGS = ["fi", "en"];
  const LANG_KEY = "sointu-studio-lang";
  const MALLETS = ["soft", "medium", "hard"];
  const RUBBABLE = ["bowl", "crystal"];   // families that can be rubbed (sung)
  const MAX_DURATION_MIN = 720;          // 12 h, sointu.session.durations.MAX_DURATION_S
  const SHARE_TOLERANCE = 1e-6;          // shares must sum to 1 within this (the validator's)
  const NAME_RE = /^[a-z0-9][a-z0-9_-]{0,39}$/;   // a preset name, as the server checks it
  const GIFT_LIMITS = { recipient: 100, allative: 100, sender: 100, message: 500, title: 250 };
  /** The largest seed (2^63-1): the seed travels as text, a browser's numbers are exact
   * only up to 2^53. */
  const MAX_SEED = 2n ** 63n - 1n;
  const PREVIEW_S = 60;

  const $ = (sel, root) => (root || document).querySelector(sel);
  const $$ = (sel, root) => Array.from((root || document).querySelectorAll(sel));

  const state = {
    lang: "en",
    texts: {},
    info: null,
    instruments: [],
    presets: [],
    recordings: [],
    instrument: null,       // the chosen instrument's name
    preset: null,           // the chosen preset's name
    session: null,          // the SESSION being edited (the server's editable view)
    sessionOk: true,        // whether it passed the page's checks at the last change
    sessionKey: null,       // the server's name for it, while unchanged (streamed previews)
    changes: 0,             // edits so far (a key answered for an older state is not kept)
    original: null,         // its instruments' keys per phase, as loaded
    rubs: [],               // each phase's rub as last shown (turned off and on: restored)
    rubKeys: [],            // its rubbed bowls' keys per phase, as loaded
    picture: { busy: false, again: false, drawn: 0, ms: null },
    auditioned: null,       // {url, seconds} of the last stroke heard
    ready: false,
  };
  window.studio = state;

  // -- texts ------------------------------------------------------------------------------

  function t(key, vars) {
    let s = state.texts[key];
    if (s === undefined) return key;
    if (vars) s = s.replace(/\{(\w+)\}/g, (m, k) => (k in vars ? String(vars[k]) : m));
    return s;
  }

  /** A text if the language file has it, else the fallback (an instrument's own words). */
  function tOr(key, fallback) {
    return key in state.texts ? state.texts[key] : fallback;
  }

  function pickLang() {
    const saved = localStorage.getItem(LANG_KEY);
    if (LANGS.includes(saved)) return saved;
    const nav = (navigator.languages && navigator.languages[0]) || navigator.language || "";
    return nav.toLowerCase().startsWith("fi") ? "fi" : "en";
  }

  async function loadTexts(lang) {
    const r = await fetch(`/static/i18n/${lang}.json`, { cache: "no-cache" });
    if (!r.ok) throw new Error(`i18n/${lang}.json: HTTP ${r.status}`);
    state.texts = await r.json();
    state.lang = lang;
    document.documentElement.lang = lang;
  }

  function applyTexts(root) {
    for (const el of $$("[data-i18n]", root)) el.textContent = t(el.dataset.i18n);
    for (const el of $$("[data-i18n-attr]", root)) {
      for (const pair of el.dataset.i18nAttr.split(";")) {
        const [attr, key] = pair.split(":");
        el.setAttribute(attr, t(key));
      }
    }
    document.title = t("app.title");
    $("#lang").value = state.lang;
  }

  async function switchLang(lang) {
    localStorage.setItem(LANG_KEY, lang);
    await loadTexts(lang);
    applyTexts(document);
    fillChoices();
    drawInstrumentList();
    showInstrument();
    fillPresetSelects();
    if (state.session) {
      drawSessionForm();
      if (state.sessionOk) drawSessionPicture();  // the picture's words follow the page
    }
    updateMessageCount();
    showClientsFile();
  }

  // -- talking to the server ----------------------------------------------------------------

  class ApiError extends Error {
    constructor(message, field, status) {
      super(message);
      this.field = field || null;
      this.status = status;
    }
  }

  async function failure(r) {
    let body = null;
    try { body = await r.json(); } catch (e) { /* not JSON: a line of text */ }
    if (body && body.error) return new ApiError(body.error, body.field, r.status);
    let text = "";
    try { text = (await r.text()).trim(); } catch (e) { /* nothing to read */ }
    return new ApiError(text || `HTTP ${r.status}`, null, r.status);
  }

  async function api(path, opts) {
    const o = Object.assign({ credentials: "same-origin" }, opts || {});
    if (o.json !== undefined) {
      o.method = o.method || "POST";
      o.headers = Object.assign({ "Content-Type": "application/json" }, o.headers || {});
      o.body = JSON.stringify(o.json);
      delete o.json;
    }
    let r;
    try {
      r = await fetch(path, o);
    } catch (e) {
      throw new ApiError(t("err.offline"), null, 0);
    }
    if (!r.ok) throw await failure(r.clone());
    return r;
  }

  const getJSON = async (path) => (await api(path)).json();
  const postJSON = async (path, json) => (await api(path, { json })).json();

  // -- errors next to fields ------------------------------------------------------------------

  function clearErrors(root) {
    for (const p of $$(".error", root)) { p.hidden = true; p.textContent = ""; }
    for (const el of $$("[aria-invalid]", root)) el.removeAttribute("aria-invalid");
  }

  /** The .field in ``root`` whose data-field is ``field`` or the longest prefix of it. */
  function fieldFor(root, field) {
    if (!field) return null;
    const names = [field, field.replace(/^defaults\./, ""), field.replace(/^session\./, "")];
    let best = null;
    let bestLen = -1;
    for (const el of $$(".field[data-field]", root)) {
      const f = el.dataset.field;
      if (!f) continue;
      for (const n of names) {
        const fits = n === f || (n.startsWith(f) && /[.[]/.test(n.charAt(f.length)));
        if (fits && f.length > bestLen) { best = el; bestLen = f.length; }
      }
    }
    return best;
  }

  /** Shows one line next to the field it names (or at the foot of ``root``). */
  function showError(root, field, message) {
    const wrap = fieldFor(root, field);
    let p = wrap ? $(":scope > .error", wrap) : null;
    if (!p) p = $(".form-error", root) || $("#page-error");
    const shown = wrap || !field ? message : `${field}: ${message}`;
    p.textContent = p.hidden || !p.textContent ? shown : `${p.textContent} ${shown}`;
    p.hidden = false;
    if (!p.id) p.id = `err-${Math.random().toString(36).slice(2, 9)}`;
    if (wrap) {
      const input = wrap.matches("input, select, textarea") ? wrap
        : (field && $(`[data-field="${CSS.escape(field)}"]:is(input, select, textarea)`, wrap))
          || $("input, select, textarea", wrap);
      if (input) {
        input.setAttribute("aria-invalid", "true");
        const ids = (input.getAttribute("aria-describedby") || "").split(" ").filter(Boolean);
        if (!ids.includes(p.id)) ids.push(p.id);
        input.setAttribute("aria-describedby", ids.join(" "));
      }
    }
    return p;
  }

  /** Moves the keyboard to the first field marked wrong in ``root`` (after a button). */
  function focusFirstError(root) {
    const bad = $("[aria-invalid=true]", root);
    if (bad) bad.focus();
  }

  function showApiError(root, e, focus = true) {
    if (e instanceof ApiError) showError(root, e.field, e.message);
    else showError(root, null, String(e && e.message ? e.message : e));
    if (focus) focusFirstError(root);
  }

  // -- numbers typed by people (a comma is a decimal point in Finnish) ------------------------

  function parseNumber(text) {
    const s = String(text).trim().replace(",", ".").replace(/\s/g, "").replace("−", "-");
    if (!/^-?(\d+\.?\d*|\.\d+)$/.test(s)) return NaN;
    return Number(s);
  }

  function showNumber(x, digits) {
    if (x === null || x === undefined || Number.isNaN(x)) return "";
    const v = digits === undefined ? x : Number(x.toFixed(digits));
    const s = String(v);
    return state.lang === "fi" ? s.replace(".", ",") : s;
  }

  function clock(seconds) {
    const s = Math.max(0, Math.round(seconds));
    const h = Math.floor(s / 3600);
    const m = Math.floor((s % 3600) / 60);
    const ss = String(s % 60).padStart(2, "0");
    return h ? `${h}:${String(m).padStart(2, "0")}:${ss}` : `${m}:${ss}`;
  }

  /**
   * Checks one typed number against a rule {min, max, minOpen, integer}; returns the number
   * or throws the page's one-line message.
   */
  function checkNumber(text, rule) {
    const x = parseNumber(text);
    const span = `${showNumber(rule.min)}…${showNumber(rule.max)}`;
    if (Number.isNaN(x)) throw new Error(t(rule.integer ? "err.integer" : "err.number", { span }));
    if (rule.integer && !Number.isInteger(x)) throw new Error(t("err.integer", { span }));
    const low = rule.minOpen ? x <= rule.min : x < rule.min;
    if (low || x > rule.max) {
      throw new Error(t(rule.minOpen ? "err.range_open" : "err.range",
        { span, min: showNumber(rule.min), max: showNumber(rule.max) }));
    }
    return x;
  }

  // -- tabs -------------------------------------------------------------------------------

  function openTab(name, focus) {
    for (const b of $$("[role=tab]")) {
      const on = b.dataset.tab === name;
      b.setAttribute("aria-selected", on ? "true" : "false");
      b.tabIndex = on ? 0 : -1;
      if (on && focus) b.focus();
    }
    for (const s of $$("[role=tabpanel]")) s.hidden = s.id !== name;
    if (location.hash !== `#${name}`) history.replaceState(null, "", `#${name}`);
    if (name === "session" && !state.session && state.presets.length) choosePreset($("#preset").value);
  }

  function setupTabs() {
    const tabs = $$("[role=tab]");
    for (const b of tabs) {
      b.addEventListener("click", () => openTab(b.dataset.tab));
      b.addEventListener("keydown", (ev) => {
        const i = tabs.indexOf(b);
        let j = null;
        if (ev.key === "ArrowRight") j = (i + 1) % tabs.length;
        if (ev.key === "ArrowLeft") j = (i - 1 + tabs.length) % tabs.length;
        if (ev.key === "Home") j = 0;
        if (ev.key === "End") j = tabs.length - 1;
        if (j !== null) { ev.preventDefault(); openTab(tabs[j].dataset.tab, true); }
      });
    }
  }

  // -- shared choices (formats, mixes, languages, presets) -------------------------------------

  function fillSelect(sel, values, label, keep) {
    const old = keep !== undefined ? keep : sel.value;
    sel.replaceChildren(...values.map((v) => {
      const o = document.createElement("option");
      o.value = v;
      o.textContent = label(v);
      return o;
    }));
    if (values.includes(old)) sel.value = old;
  }

  function fillChoices() {
    const info = state.info || {};
    const formats = info.formats || ["flac"];
    const mixes = info.mixes || ["speakers", "headphones"];
    for (const sel of $$("select.formats")) {
      const first = sel.id === "render-format" ? "flac" : (formats.includes("mp3") ? "mp3" : formats[0]);
      fillSelect(sel, formats, (f) => tOr(`format.${f}`, f.toUpperCase()), sel.value || first);
    }
    for (const sel of $$("select.mixes")) {
      const first = sel.id === "render-mix" ? "speakers" : "headphones";
      fillSelect(sel, mixes, (m) => t(`mix.${m}`), sel.value || first);
    }
    for (const sel of $$("select.gift-langs")) {
      fillSelect(sel, info.languages || LANGS, (l) => t(`langname.${l}`), sel.value || state.lang);
    }
  }

  function presetLabel(p) {
    const titles = p.titles || (typeof p.title === "object" ? p.title : null) || {};
    const title = titles[state.lang] || p.title || titles.en;
    const own = p.source === "folder" ? ` · ${t("sess.own")}` : "";
    return title && title !== p.name ? `${title} (${p.name})${own}` : `${p.name}${own}`;
  }

  function fillPresetSelects() {
    const names = state.presets.map((p) => p.name);
    const label = (n) => presetLabel(state.presets.find((p) => p.name === n));
    fillSelect($("#preset"), names, label, state.preset || $("#preset").value);
    const gift = names.includes("gift-30") ? "gift-30" : names[0];
    for (const sel of $$("select.presets")) fillSelect(sel, names, label, sel.value || gift);
  }

  // -- instruments ---------------------------------------------------------------------------

  function instrumentText(inst) {
    return {
      title: tOr(`instrument.${inst.name}.title`, inst.name),
      description: tOr(`instrument.${inst.name}.description`, inst.description || ""),
      family: tOr(`family.${inst.family}`, inst.family),
    };
  }

  function drawInstrumentList() {
    const list = $("#instrument-list");
    const byTitle = state.instruments.slice().sort((a, b) =>
      instrumentText(a).title.localeCompare(instrumentText(b).title, state.lang));
    list.replaceChildren(...byTitle.map((inst) => {
      const words = instrumentText(inst);
      const label = document.createElement("label");
      label.className = "instrument";
      const input = document.createElement("input");
      input.type = "radio";
      input.name = "instrument";
      input.value = inst.name;
      input.checked = inst.name === state.instrument;
      input.addEventListener("change", () => { state.instrument = inst.name; showInstrument(); });
      const name = document.createElement("span");
      name.className = "name";
      name.textContent = words.title;
      const fam = document.createElement("span");
      fam.className = "family";
      fam.textContent = words.family;
      const desc = document.createElement("span");
      desc.className = "desc";
      desc.textContent = words.description;
      label.append(input, name, fam, desc);
      return label;
    }));
  }

  function currentInstrument() {
    return state.instruments.find((i) => i.name === state.instrument) || null;
  }

  function strikeQuery() {
    const f = $("#audition-form");
    const mallet = $("input[name=mallet]:checked", f).value;
    const rub = $("input[name=rub]:checked", f).value;
    const q = new URLSearchParams({
      instrument: state.instrument,
      mallet,
      velocity: $("#velocity").value,
      position: $("#position").value,
      rub,
    });
    return q.toString();
  }

  function showInstrument() {
    const inst = currentInstrument();
    if (!inst) return;
    const words = instrumentText(inst);
    $("#inst-name").textContent = words.title;
    $("#inst-desc").textContent = words.description;
    const hz = inst.fundamental_hz ? `${showNumber(inst.fundamental_hz, 1)} Hz` : "";
    $("#inst-meta").textContent = [words.family, hz && t("inst.fundamental", { hz })]
      .filter(Boolean).join(" · ");
    const rub = $("#rub-choice");
    rub.disabled = !inst.can_rub;
    $("#rub-hint").hidden = !!inst.can_rub;
    if (!inst.can_rub && rub.checked) $("input[name=rub][value='0']").checked = true;
    $("#velocity-out").textContent = showNumber(Number($("#velocity").value), 2);
    $("#position-out").textContent = `${$("#position").value}°`;
    drawStrikePicture();
  }

  let strikePictureTimer = null;
  function drawStrikePicture() {
    clearTimeout(strikePictureTimer);
    strikePictureTimer = setTimeout(() => {
      const img = $("#inst-picture");
      const inst = currentInstrument();
      img.alt = inst ? t("inst.picture_alt", { name: instrumentText(inst).title }) : "";
      img.src = `/api/strike.png?${strikeQuery()}&lang=${state.lang}`;  // its words too
      img.hidden = false;
    }, 120);
  }

  /**
   * Plays ``url`` in ``audio`` as the server streams it (the first block plays at once).
   * Resolves when it plays; a refused request is fetched again to read its one-line error.
   */
  function stream(audio, url) {
    return new Promise((resolve, reject) => {
      const cleanup = () => {
        audio.removeEventListener("playing", ok);
        audio.removeEventListener("error", bad);
      };
      const ok = () => { cleanup(); resolve(); };
      const bad = async () => {
        cleanup();
        try {
          await api(url);  // the server's {"error", "field"}, if it refused
          reject(new ApiError(t("err.audio"), null, 0));
        } catch (e) {
          reject(e);
        }
      };
      audio.addEventListener("playing", ok);
      audio.addEventListener("error", bad);
      if (audio.src.startsWith("blob:")) URL.revokeObjectURL(audio.src);
      audio.src = url;
      audio.play().catch(() => { /* autoplay refused: the controls are there */ });
    });
  }

  async function audition(ev) {
    if (ev) ev.preventDefault();
    const form = $("#audition-form");
    clearErrors(form);
    if (!state.instrument) return;
    const status = $("#audition-status");
    const audio = $("#inst-audio");
    status.textContent = t("status.working");
    const url = `/api/strike.wav?${strikeQuery()}`;
    state.auditioned = { url, clicked: performance.now() };
    try {
      await stream(audio, url);
      const seconds = audio.duration;
      status.textContent = Number.isFinite(seconds) && seconds > 0
        ? t("inst.heard", { seconds: showNumber(seconds, 1) }) : "";
    } catch (e) {
      status.textContent = "";
      showApiError(form, e);
    }
  }

  function setupInstruments() {
    $("#audition-form").addEventListener("submit", audition);
    for (const el of $$("#audition-form input")) {
      el.addEventListener("input", () => {
        $("#velocity-out").textContent = showNumber(Number($("#velocity").value), 2);
        $("#position-out").textContent = `${$("#position").value}°`;
      });
      el.addEventListener("change", drawStrikePicture);
    }
  }

  // -- the session form ------------------------------------------------------------------------

  let uid = 0;

  /**
   * One labelled text field bound to the session: ``path`` names it as the server does
   * (phases[0].share), ``get``/``set`` move the value between the input and the session,
   * ``rule`` is checked on every change.
   */
  function numberField(opts) {
    const wrap = document.createElement("div");
    wrap.className = `field ${opts.cls || ""}`.trim();
    wrap.dataset.field = opts.path;
    const id = `f${++uid}`;
    const label = document.createElement("label");
    label.htmlFor = id;
    label.textContent = opts.label;
    const input = document.createElement("input");
    input.type = "text";
    input.inputMode = opts.rule.integer && opts.rule.min >= 0 ? "numeric" : "decimal";
    input.id = id;
    input.autocomplete = "off";
    input.dataset.field = opts.path;
    input.value = opts.show(opts.get());
    input._shown = input.value;
    input._check = () => {
      if (input.value === input._shown) return;
      opts.set(opts.parse ? opts.parse(input.value) : checkNumber(input.value, opts.rule));
    };
    input.addEventListener("change", sessionChanged);
    wrap.append(label, input);
    return finishField(wrap, opts.hint);
  }

  /** A field's hint (if any) and its hidden error line, appended to ``wrap``. */
  function finishField(wrap, hint) {
    if (hint) {
      const h = document.createElement("p");
      h.className = "hint";
      h.textContent = hint;
      wrap.append(h);
    }
    const err = document.createElement("p");
    err.className = "error";
    err.hidden = true;
    wrap.append(err);
    return wrap;
  }

  /** A seed typed in the page: 0..2^63-1 as text (the CLI's rule). */
  function checkSeed(text) {
    const s = text.trim();
    if (!/^[0-9]{1,19}$/.test(s) || BigInt(s) > MAX_SEED) throw new Error(t("err.seed"));
    return BigInt(s).toString();
  }

  /** The value an input was drawn with while its text is unchanged (a share shown as
   * 16,7 % stays 0.1666667), else the newly typed number, checked. */
  function keptOr(input, rule) {
    return input.value === input._shown ? input._was : checkNumber(input.value, rule);
  }

  /** A [low, high] pair as two inputs in one field. */
  function pairField(opts) {
    const wrap = document.createElement("fieldset");
    wrap.className = "field pair";
    wrap.dataset.field = opts.path;
    const legend = document.createElement("legend");
    legend.textContent = opts.label;
    wrap.append(legend);
    const box = document.createElement("div");
    box.className = "pair-inputs";
    const inputs = [0, 1].map((k) => {
      const id = `f${++uid}`;
      const l = document.createElement("label");
      l.htmlFor = id;
      l.className = "sr-only";
      l.textContent = `${opts.label}: ${t(k ? "form.high" : "form.low")}`;
      const input = document.createElement("input");
      input.type = "text";
      input.inputMode = "decimal";
      input.id = id;
      input.autocomplete = "off";
      input.dataset.field = opts.path;
      input.value = opts.show(opts.get()[k]);
      input._shown = input.value;
      input._was = opts.get()[k];
      input.addEventListener("change", sessionChanged);
      if (k) {
        const dash = document.createElement("span");
        dash.className = "dash";
        dash.setAttribute("aria-hidden", "true");
        dash.textContent = "–";
        box.append(dash);
      }
      box.append(l, input);
      return input;
    });
    inputs[0]._check = () => {
      const [lo, hi] = inputs.map((i) => keptOr(i, opts.rule));
      if (lo > hi) throw new Error(t("err.order"));
      opts.set([lo, hi]);
    };
    wrap.append(box);
    return finishField(wrap);
  }

  /** A table name -> weight (mallets, instruments) as one fieldset of small inputs. */
  function weightsField(opts) {
    const wrap = document.createElement("fieldset");
    wrap.className = "field weights";
    wrap.dataset.field = opts.path;
    const legend = document.createElement("legend");
    legend.textContent = opts.label;
    wrap.append(legend);
    const box = document.createElement("div");
    box.className = "weight-inputs";
    const rule = { min: 0, max: 1000 };
    const given = opts.get();  // null: an optional table left out
    const inputs = opts.names.map((name) => {
      const id = `f${++uid}`;
      const cell = document.createElement("div");
      cell.className = "weight";
      const l = document.createElement("label");
      l.htmlFor = id;
      l.textContent = opts.nameLabel(name);
      const input = document.createElement("input");
      input.type = "text";
      input.inputMode = "decimal";
      input.id = id;
      input.autocomplete = "off";
      input.dataset.field = `${opts.path}.${name}`;
      input.dataset.name = name;
      const w = given ? given[name] : undefined;
      input.value = !given && opts.optional ? "" : showNumber(w === undefined ? 0 : w);
      input._shown = input.value;
      input._was = w === undefined ? 0 : w;
      input.addEventListener("change", sessionChanged);
      cell.append(l, input);
      box.append(cell);
      return input;
    });
    inputs[0]._check = () => {
      const out = {};
      let bad = null;
      for (const input of inputs) {
        try {
          const w = opts.optional && !input.value.trim() ? 0 : keptOr(input, rule);
          if (w > 0 || opts.keep(input.dataset.name)) out[input.dataset.name] = w;
        } catch (e) {
          bad = bad || [input.dataset.field, e.message];
        }
      }
      if (bad) { const e = new Error(bad[1]); e.field = bad[0]; throw e; }
      if (!Object.values(out).some((w) => w > 0)) {
        if (opts.optional) { opts.set(null); return; }  // all empty: as at the start
        throw new Error(t("err.weights"));
      }
      opts.set(out);
    };
    wrap.append(box);
    return finishField(wrap, opts.hint);
  }

  /** A phase's rubbed (singing) bowls: on or off, which bowls and how often, how long and
   * how strongly; off removes the phase's [phases.rub]. */
  function rubFields(ph, p, singers, i) {
    const wrap = document.createElement("fieldset");
    wrap.className = "field rub";
    wrap.dataset.field = `${p}.rub`;
    const legend = document.createElement("legend");
    legend.textContent = t("sess.rub");
    const id = `f${++uid}`;
    const on = document.createElement("input");
    on.type = "checkbox";
    on.id = id;
    on.checked = !!ph.rub;
    on.dataset.field = `${p}.rub`;
    const label = document.createElement("label");
    label.htmlFor = id;
    label.className = "check";
    label.textContent = t("sess.rub_on");
    label.prepend(on);
    wrap.append(legend, label);
    on.addEventListener("change", () => {
      ph.rub = on.checked ? (state.rubs[i] || {
        instruments: Object.fromEntries(singers.map((k) => [k, 1])),
        interval_s: [240, 420], duration_s: [25, 50], velocity: [0.35, 0.5],
      }) : null;
      drawSessionForm();  // the rub's fields come and go
      sessionChanged();
    });
    if (ph.rub) {
      state.rubs[i] = ph.rub;
      const rub = ph.rub;
      const grid = document.createElement("div");
      grid.className = "phase-grid";
      grid.append(
        pairField({
          path: `${p}.rub.interval_s`, label: t("sess.rub_interval"), rule: { min: 5, max: 1800 },
          get: () => rub.interval_s, show: (x) => showNumber(x, 1),
          set: (v) => { rub.interval_s = v; },
        }),
        pairField({
          path: `${p}.rub.duration_s`, label: t("sess.rub_duration"), rule: { min: 3, max: 300 },
          get: () => rub.duration_s, show: (x) => showNumber(x, 1),
          set: (v) => { rub.duration_s = v; },
        }),
        pairField({
          path: `${p}.rub.velocity`, label: t("sess.rub_velocity"), rule: { min: 0, max: 1 },
          get: () => rub.velocity, show: (x) => showNumber(x, 2),
          set: (v) => { rub.velocity = v; },
        }),
      );
      wrap.append(weightsField({
        path: `${p}.rub.instruments`, label: t("sess.rub_which"), names: singers,
        nameLabel: instrumentLabel, get: () => rub.instruments,
        keep: (k) => (state.rubKeys[i] || []).includes(k),  // a 0 the file has stays
        set: (v) => { rub.instruments = v; },
      }), grid);
    }
    return finishField(wrap, t("sess.rub_hint"));
  }

  /** One of the phase's signals (a few strokes of a tingsha or chime at a set time): how
   * many strokes (0 removes it) and how strong. */
  function signalFields(sig, path) {
    const wrap = document.createElement("fieldset");
    wrap.className = "field signal";
    wrap.dataset.field = path;
    const legend = document.createElement("legend");
    const when = typeof sig.at_s === "number"
      ? t(sig.at_s < 0 ? "sess.signal_end" : "sess.signal_start",
        { s: showNumber(Math.abs(sig.at_s), 1) })
      : t("sess.signal_at", { percent: showNumber((sig.at || 0) * 100, 0) });
    legend.textContent = t("sess.signal", { instrument: instrumentLabel(sig.instrument), when });
    const grid = document.createElement("div");
    grid.className = "phase-grid";
    grid.append(
      numberField({
        path: `${path}.count`, label: t("sess.signal_count"), cls: "short",
        rule: { min: 0, max: 64, integer: true },
        get: () => sig.count, show: (x) => String(x), set: (x) => { sig.count = x; },
      }),
      pairField({
        path: `${path}.velocity`, label: t("sess.signal_velocity"), rule: { min: 0, max: 1 },
        get: () => sig.velocity, show: (x) => showNumber(x, 2),
        set: (v) => { sig.velocity = v; },
      }),
    );
    wrap.append(legend, grid);
    return finishField(wrap);
  }

  function phaseTitle(name) {
    return tOr(`phase.${name}`, name);
  }

  function instrumentLabel(key) {
    const si = (state.session.instruments || {})[key] || {};
    const base = tOr(`instrument.${key}.title`, null) || tOr(`instrument.${si.instrument}.title`, key);
    return base;
  }

  function drawSessionForm() {
    const s = state.session;
    const num = (x, d) => showNumber(x, d);
    const basics = $("#basics");
    basics.replaceChildren(
      numberField({
        path: "duration_s", label: t("sess.length"), hint: t("sess.length_hint"),
        rule: { min: 0, max: MAX_DURATION_MIN, minOpen: true },
        get: () => s.duration_s / 60, show: (x) => num(x, 2),
        set: (x) => { s.duration_s = Math.round(x * 60 * 1000) / 1000; },
      }),
      numberField({
        path: "seed", label: t("sess.seed"), hint: t("sess.seed_hint"),
        rule: { min: 0, max: Number.MAX_SAFE_INTEGER, integer: true }, parse: checkSeed,
        get: () => s.seed, show: (x) => String(x), set: (x) => { s.seed = x; },
      }),
      numberField({
        path: "loudness_lufs", label: t("sess.loudness"), hint: t("sess.loudness_hint"),
        rule: { min: -40, max: -10 },
        get: () => s.loudness_lufs, show: (x) => num(x, 1), set: (x) => { s.loudness_lufs = x; },
      }),
    );

    const keys = Object.keys(s.instruments || {});
    const phases = $("#phases");
    phases.replaceChildren(...s.phases.map((ph, i) => {
      const box = document.createElement("fieldset");
      box.className = "phase";
      box.dataset.phase = String(i);
      const legend = document.createElement("legend");
      legend.textContent = phaseTitle(ph.name);
      const minutes = document.createElement("span");
      minutes.className = "phase-minutes";
      box.append(legend, minutes);
      const p = `phases[${i}]`;
      const grid = document.createElement("div");
      grid.className = "phase-grid";
      grid.append(numberField({
        path: `${p}.share`, label: t("sess.share"), cls: "short",
        rule: { min: 0, max: 100, minOpen: true },
        get: () => ph.share * 100, show: (x) => num(x, 1),
        set: (x) => { ph.share = Math.round(x * 1e5) / 1e7; },
      }));
      if (Array.isArray(ph.interval_s)) {
        grid.append(pairField({
          path: `${p}.interval_s`,
          label: t(Array.isArray(ph.interval_end_s) ? "sess.interval_start" : "sess.interval"), rule: { min: 2, max: 900 },
          get: () => ph.interval_s, show: (x) => num(x, 1), set: (v) => { ph.interval_s = v; },
        }));
      }
      if (Array.isArray(ph.interval_end_s)) {
        grid.append(pairField({
          path: `${p}.interval_end_s`, label: t("sess.interval_end"), rule: { min: 2, max: 900 },
          get: () => ph.interval_end_s, show: (x) => num(x, 1),
          set: (v) => { ph.interval_end_s = v; },
        }));
      }
      if (Array.isArray(ph.velocity)) {
        grid.append(pairField({
          path: `${p}.velocity`,
          label: t(Array.isArray(ph.velocity_end) ? "sess.velocity_start" : "sess.velocity"), rule: { min: 0, max: 1 },
          get: () => ph.velocity, show: (x) => num(x, 2), set: (v) => { ph.velocity = v; },
        }));
      }
      if (Array.isArray(ph.velocity_end)) {
        grid.append(pairField({
          path: `${p}.velocity_end`, label: t("sess.velocity_end"), rule: { min: 0, max: 1 },
          get: () => ph.velocity_end, show: (x) => num(x, 2),
          set: (v) => { ph.velocity_end = v; },
        }));
      }
      if (ph.gong_waves !== null && ph.gong_waves !== undefined) {
        grid.append(numberField({
          path: `${p}.gong_waves`, label: t("sess.gong_waves"), cls: "short",
          rule: { min: 0, max: 12, integer: true },
          get: () => ph.gong_waves, show: (x) => String(x), set: (x) => { ph.gong_waves = x; },
        }));
      }
      box.append(grid);
      if (ph.instruments && keys.length) {
        const had = state.original[i] || [];
        box.append(weightsField({
          path: `${p}.instruments`, label: t("sess.which"), names: keys,
          nameLabel: instrumentLabel, get: () => ph.instruments,
          keep: (k) => had.includes(k), set: (v) => { ph.instruments = v; },
        }));
      }
      if (ph.mallets) {
        box.append(weightsField({
          path: `${p}.mallets`, label: t("sess.mallets"), names: MALLETS,
          nameLabel: (m) => t(`mallet.${m}`), get: () => ph.mallets,
          keep: (m) => m in ph.mallets, set: (v) => { ph.mallets = v; },
        }));
        box.append(weightsField({
          path: `${p}.mallets_end`, label: t("sess.mallets_end"), names: MALLETS,
          hint: t("sess.mallets_end_hint"), optional: true,
          nameLabel: (m) => t(`mallet.${m}`), get: () => ph.mallets_end || null,
          keep: (m) => !!ph.mallets_end && m in ph.mallets_end,
          set: (v) => { ph.mallets_end = v; },
        }));
      }
      const singers = keys.filter((k) => RUBBABLE.includes(s.instruments[k].family));
      if (singers.length) box.append(rubFields(ph, p, singers, i));
      (ph.signals || []).forEach((sig, k) => box.append(signalFields(sig, `${p}.signals[${k}]`)));
      return box;
    }));

    const levels = $("#levels");
    levels.replaceChildren(...keys.map((k) => numberField({
      path: `instruments.${k}.level_db`, label: instrumentLabel(k), cls: "short",
      rule: { min: -40, max: 12 },
      get: () => s.instruments[k].level_db || 0, show: (x) => num(x, 1),
      set: (x) => { s.instruments[k].level_db = x; },
    })));

    fillVoices();
    updateTimes();
  }

  function fillVoices() {
    const sel = $("#voice");
    const names = state.recordings.map((r) => r.name);
    const current = state.session ? state.session.voice : null;
    if (current && !names.includes(current)) names.unshift(current);
    const none = document.createElement("option");
    none.value = "";
    none.textContent = t("sess.no_voice");
    sel.replaceChildren(none, ...names.map((n) => {
      const o = document.createElement("option");
      o.value = n;
      const rec = state.recordings.find((r) => r.name === n);
      o.textContent = rec && rec.seconds ? `${n} (${clock(rec.seconds)})` : n;
      return o;
    }));
    sel.value = current || "";
  }

  /** The minutes each phase gets and the range of the start slider, after a change. */
  function updateTimes() {
    const s = state.session;
    for (const box of $$("#phases .phase")) {
      const ph = s.phases[Number(box.dataset.phase)];
      $(".phase-minutes", box).textContent = Number.isFinite(ph.share)
        ? t("sess.phase_minutes", { minutes: showNumber((ph.share * s.duration_s) / 60, 1) }) : "";
    }
    const start = $("#start");
    start.max = String(Math.max(0, Math.floor((s.duration_s - 1) / 15) * 15));
    if (Number(start.value) > Number(start.max)) start.value = start.max;
    showStart();
  }

  /** The chosen start and the session's length, as a clock (12:30 / 1:00:00). */
  function showStart() {
    const at = clock(Number($("#start").value));
    $("#start-out").textContent = state.session ? `${at} / ${clock(state.session.duration_s)}` : at;
  }

  /** Checks every session field in the page; true when all are good (errors shown). */
  function checkSession() {
    const form = $("#session-form");
    for (const sel of ["#basics", "#phases", "#levels"]) clearErrors($(sel));
    clearErrors($("[data-field=phases]", form));
    let ok = true;
    for (const input of $$("#basics input, #phases input, #levels input")) {
      if (!input._check) continue;
      try {
        input._check();
      } catch (e) {
        ok = false;
        showError(form, e.field || input.dataset.field, e.message);
      }
    }
    const shares = state.session.phases.map((p) => p.share).filter((x) => Number.isFinite(x));
    const sum = shares.reduce((a, b) => a + b, 0);
    if (ok && shares.length && Math.abs(sum - 1) > SHARE_TOLERANCE) {
      ok = false;
      showError(form, "phases", t("err.shares", { sum: showNumber(sum * 100, 4) }));
    }
    state.sessionOk = ok;
    return ok;
  }

  function sessionChanged() {
    if (!state.session) return;
    state.changes += 1;
    state.sessionKey = null;
    const ok = checkSession();
    updateTimes();
    if (ok) drawSessionPicture();
  }

  function sessionBody() {
    const s = state.session;
    const voice = $("#voice").value;
    s.voice = voice || null;
    return s;
  }

  /** Redraws the session picture; changes that come while one is drawn wait for it. */
  async function drawSessionPicture() {
    const pic = state.picture;
    if (pic.busy) { pic.again = true; return; }
    pic.busy = true;
    pic.again = false;
    const t0 = performance.now();
    const status = $("#picture-status");
    status.textContent = t("status.drawing");
    const changes = state.changes;
    try {
      const r = await api(`/api/session/picture.png?lang=${state.lang}`, { json: sessionBody() });
      if (changes === state.changes) state.sessionKey = r.headers.get("X-Sointu-Session-Key");
      const blob = await r.blob();
      const img = $("#session-picture");
      const old = img.src;
      await new Promise((resolve, reject) => {
        img.onload = resolve;
        img.onerror = () => reject(new Error(t("err.picture")));
        img.src = URL.createObjectURL(blob);
      });
      if (old.startsWith("blob:")) URL.revokeObjectURL(old);
      img.hidden = false;
      img.alt = t("sess.picture_alt", { name: state.preset || "" });
      pic.drawn += 1;
      pic.ms = performance.now() - t0;
      img.dataset.drawn = String(pic.drawn);
      status.textContent = "";
    } catch (e) {
      status.textContent = "";
      showApiError($("#session-form"), e, false);  // drawn after a change: keep the focus
    } finally {
      pic.busy = false;
      // a change made meanwhile, if it passed the page's checks (a refused one waits)
      if (pic.again && state.sessionOk) drawSessionPicture();
    }
  }

  let presetAsked = 0;
  async function choosePreset(name) {
    if (!name) return;
    const form = $("#session-form");
    clearErrors(form);
    const asked = ++presetAsked;
    try {
      const data = await getJSON(`/api/presets/${encodeURIComponent(name)}`);
      if (asked !== presetAsked) return;  // another preset was chosen meanwhile
      state.preset = name;
      state.session = data.session;
      state.sessionOk = true;
      state.sessionKey = null;
      state.changes += 1;
      if (data.session.mix) $("#render-mix").value = data.session.mix;
      state.original = data.session.phases.map((p) => Object.keys(p.instruments || {}));
      state.rubs = [];
      state.rubKeys = data.session.phases.map((p) => Object.keys((p.rub || {}).instruments || {}));
      $("#preset").value = name;
      const p = state.presets.find((x) => x.name === name);
      $("#preset-desc").textContent = p ? tOr(`preset.${name}.description`, p.description || "") : "";
      $("#start").value = "0";
      drawSessionForm();
      drawSessionPicture();
    } catch (e) {
      showApiError(form, e);
    }
  }

  /** The key the server knows the current session by (from its picture or a check). */
  async function sessionKey() {
    if (state.sessionKey) return state.sessionKey;
    const form = $("#session-form");
    const out = await postJSON("/api/session/check", sessionBody());
    if (out.problems && out.problems.length) {
      for (const p of out.problems) showError(form, p.field, p.error);
      return null;
    }
    return out.key;
  }

  async function preview() {
    const form = $("#session-form");
    clearErrors($("#preview").closest(".card"));
    if (!state.session || !checkSession()) { focusFirstError($("#session-form")); return; }
    const status = $("#preview-status");
    status.textContent = t("status.working");
    const start = Number($("#start").value);
    try {
      const key = await sessionKey();
      if (!key) { status.textContent = ""; return; }
      const q = new URLSearchParams({ start_s: String(start), seconds: String(PREVIEW_S) });
      await stream($("#session-audio"), `/api/session/${encodeURIComponent(key)}/preview.wav?${q}`);
      status.textContent = t("sess.playing_from", { at: clock(start) });
    } catch (e) {
      status.textContent = "";
      state.sessionKey = null;  // forgotten by the server (it keeps the last 32): ask again
      showApiError(form, e);
    }
  }

  async function savePreset() {
    const form = $("#session-form");
    const card = $("#save").closest(".card");
    clearErrors(card);
    const status = $("#save-status");
    status.textContent = "";
    const name = $("#save-name").value.trim();
    if (!name) { showError(card, "name", t("err.required")); return; }
    if (!NAME_RE.test(name)) { showError(card, "name", t("err.name")); return; }
    if (!state.session || !checkSession()) { focusFirstError($("#session-form")); return; }
    status.textContent = t("status.saving");
    try {
      const out = await postJSON("/api/presets", { name, session: sessionBody() });
      state.presets = await getJSON("/api/presets");
      state.preset = out.name;
      fillPresetSelects();
      $("#preset").value = out.name;
      await choosePreset(out.name);
      status.textContent = t("sess.saved", { name: out.name });
    } catch (e) {
      status.textContent = "";
      showApiError(form, e);
    }
  }

  // -- jobs: renders and gifts with progress ----------------------------------------------------

  function downloadLink(name) {
    const li = document.createElement("li");
    const a = document.createElement("a");
    a.href = `/api/files/${encodeURIComponent(name)}`;
    a.setAttribute("download", name);
    a.className = "download";
    a.textContent = `${t("job.download")}: ${name}`;
    li.append(a);
    return li;
  }

  /**
   * Follows a job until it is done or failed: the bar, a line of status, the files to
   * download and (for many gifts) one row per gift with its own bar.
   */
  async function followJob(id, ui) {
    ui.box.hidden = false;
    ui.files.replaceChildren();
    if (ui.items) ui.items.replaceChildren();
    for (;;) {
      let job;
      try {
        job = await getJSON(`/api/jobs/${encodeURIComponent(id)}`);
      } catch (e) {
        showApiError(ui.root, e);
        return null;
      }
      ui.bar.value = job.progress || 0;
      ui.bar.textContent = `${Math.round((job.progress || 0) * 100)} %`;
      ui.status.textContent = job.state === "running"
        ? t("job.running", { percent: Math.round((job.progress || 0) * 100) })
        : t(`job.${job.state}`);
      if (ui.items && job.items) drawItems(ui.items, job.items);
      if (job.state === "done") {
        ui.files.replaceChildren(...(job.files || []).map(downloadLink));
        return job;
      }
      if (job.state === "failed") {
        showError(ui.root, job.field || null, job.error || t("job.failed"));
        return job;
      }
      await new Promise((res) => setTimeout(res, 250));
    }
  }

  function drawItems(list, items) {
    list.replaceChildren(...items.map((it) => {
      const li = document.createElement("li");
      li.className = `item ${it.state || ""}`;
      const label = document.createElement("span");
      label.className = "label";
      label.textContent = it.label;
      const bar = document.createElement("progress");
      bar.max = 1;
      bar.value = it.progress || 0;
      bar.setAttribute("aria-label", it.label);
      const st = document.createElement("span");
      st.className = "status";
      st.textContent = t(`job.${it.state || "running"}`, { percent: Math.round((it.progress || 0) * 100) });
      li.append(label, bar, st);
      if (it.file && (it.state === "done" || it.state === "skipped")) {
        const a = downloadLink(it.file).firstChild;
        a.textContent = t("job.download");
        li.append(a);
      }
      if (it.error) {
        const e = document.createElement("span");
        e.className = "error";
        e.textContent = it.error;
        li.append(e);
      }
      return li;
    }));
  }

  function jobUI(prefix, root, items) {
    return {
      root, box: $(`#${prefix}-job`), bar: $(`#${prefix}-progress`),
      status: $(`#${prefix}-status`), files: $(`#${prefix}-files`) || document.createElement("ul"),
      items: items ? $(`#${prefix}-items`) : null,
    };
  }

  async function render() {
    const form = $("#session-form");
    clearErrors($("#render").closest(".card"));
    if (!state.session || !checkSession()) { focusFirstError($("#session-form")); return; }
    const btn = $("#render");
    btn.disabled = true;
    try {
      const { job } = await postJSON("/api/render", {
        session: sessionBody(), format: $("#render-format").value, mix: $("#render-mix").value,
      });
      await followJob(job, jobUI("render", $("#render").closest(".card")));
    } catch (e) {
      showApiError(form, e);
    } finally {
      btn.disabled = false;
    }
  }

  // -- gifts ---------------------------------------------------------------------------------

  function checkGift(form) {
    let ok = true;
    const recipient = $("#recipient").value.trim();
    if (!recipient) { showError(form, "recipient", t("err.recipient")); ok = false; }
    const fields = [["recipient", "#recipient"], ["allative", "#allative"], ["sender", "#sender"],
      ["message", "#message"], ["title", "#gift-title"]];
    const bad = new Set();
    for (const [key, id] of fields) {
      const text = $(id).value.trim();
      if (text.length > GIFT_LIMITS[key]) {
        showError(form, key, t("err.too_long", { max: GIFT_LIMITS[key] }));
      } else if (/[\u0000-\u001f\u007f-\u009f]/.test(key === "message" ? text : text.replace(/\s+/g, " "))) {
        showError(form, key, t("err.control"));
      } else continue;
      bad.add(key);
      ok = false;
    }
    // as sointu gift --for-allative: Finnish titles only, the name then -lle
    const allative = giftAllative();
    if (allative && !bad.has("allative")) {
      if ($("#gift-lang").value !== "fi") {
        showError(form, "allative", t("err.allative_lang"));
        ok = false;
      } else if (!allative.toLowerCase().endsWith("lle") || !/\p{L}/u.test(allative.slice(0, -3))) {
        showError(form, "allative", t("err.allative"));
        ok = false;
      }
    }
    return ok;
  }

  function giftAllative() {
    return $("#allative").value.trim().split(/\s+/).join(" ");
  }

  async function makeGift(ev) {
    ev.preventDefault();
    const form = $("#gift-form");
    clearErrors(form);
    if (!checkGift(form)) { focusFirstError(form); return; }
    const btn = $("#gift-make");
    btn.disabled = true;
    try {
      const body = {
        preset: $("#gift-preset").value, recipient: $("#recipient").value.trim(),
        sender: $("#sender").value.trim() || null, message: $("#message").value.trim() || null,
        lang: $("#gift-lang").value, mix: $("#gift-mix").value, format: $("#gift-format").value,
        allative: giftAllative() || null, title: $("#gift-title").value.trim() || null,
      };
      const out = await postJSON("/api/gift", body);
      const ui = jobUI("gift", form);
      await followJob(out.job, ui);
      if (out.note) ui.status.textContent = `${ui.status.textContent} · ${out.note}`;
    } catch (e) {
      showApiError(form, e);
    } finally {
      btn.disabled = false;
    }
  }

  async function makeGifts(ev) {
    ev.preventDefault();
    const form = $("#gifts-form");
    clearErrors(form);
    const file = $("#clients").files[0];
    let ok = true;
    if (!file) { showError(form, "clients", t("err.clients")); ok = false; }
    for (const [key, id] of [["sender", "#gifts-sender"], ["message", "#gifts-message"]]) {
      if ($(id).value.trim().length > GIFT_LIMITS[key]) {
        showError(form, key, t("err.too_long", { max: GIFT_LIMITS[key] }));
        ok = false;
      }
    }
    if (!ok) { focusFirstError(form); return; }
    const btn = $("#gifts-make");
    btn.disabled = true;
    try {
      const data = new FormData();
      data.append("clients", file);
      data.append("preset", $("#gifts-preset").value);
      data.append("lang", $("#gifts-lang").value);
      data.append("mix", $("#gifts-mix").value);
      data.append("sender", $("#gifts-sender").value.trim());
      data.append("message", $("#gifts-message").value.trim());
      const { job } = await (await api("/api/gifts", { method: "POST", body: data })).json();
      await followJob(job, jobUI("gifts", form, true));
    } catch (e) {
      showApiError(form, e);
    } finally {
      btn.disabled = false;
    }
  }

  function showClientsFile() {
    const f = $("#clients").files[0];
    $("#clients-name").textContent = f ? f.name : t("form.no_file");
  }

  function updateMessageCount() {
    const n = $("#message").value.trim().length;
    $("#message-count").textContent = t("gift.count", { n, max: GIFT_LIMITS.message });
  }

  // -- recordings ----------------------------------------------------------------------------

  async function upload() {
    const input = $("#voice-file");
    const wrap = input.closest(".field");
    clearErrors(wrap);
    const file = input.files[0];
    if (!file) return;
    const status = $("#upload-status");
    status.textContent = t("status.uploading");
    try {
      const data = new FormData();
      data.append("file", file);
      const out = await (await api("/api/recordings", { method: "POST", body: data })).json();
      state.recordings = await getJSON("/api/recordings");
      if (state.session) state.session.voice = out.name;
      fillVoices();
      $("#voice").value = out.name;
      status.textContent = t("sess.uploaded", { name: out.name, seconds: showNumber(out.seconds, 1) });
      sessionChanged();
    } catch (e) {
      status.textContent = "";
      showApiError(wrap.parentElement, e.field ? e : new ApiError(e.message, "file"));
    }
    input.value = "";
  }

  // -- start -------------------------------------------------------------------------------

  async function start() {
    const lang = pickLang();
    // the first view (instruments) waits for these; the presets (the server validates
    // every one) and recordings fill their lists when they come
    const loads = [loadTexts(lang), getJSON("/api/info"), getJSON("/api/instruments")];
    const presets = getJSON("/api/presets");
    const recordings = getJSON("/api/recordings").catch(() => []);
    presets.catch(() => {});  // shown by presetsArrived
    try {
      const [, info, instruments] = await Promise.all(loads);
      Object.assign(state, { info, instruments });
    } catch (e) {
      if (!Object.keys(state.texts).length) await loadTexts("en").catch(() => {});
      applyTexts(document);
      document.body.classList.remove("loading");
      pageError(e);
      return;
    }
    state.instrument = (state.instruments[0] || {}).name || null;
    applyTexts(document);
    fillChoices();
    drawInstrumentList();
    showInstrument();
    fillPresetSelects();
    $("#folder").textContent = state.info.folder
      ? t("app.folder", { folder: state.info.folder, version: state.info.version || "" }) : "";
    setupTabs();
    setupInstruments();
    $("#lang").addEventListener("change", (ev) => switchLang(ev.target.value));
    $("#preset").addEventListener("change", (ev) => choosePreset(ev.target.value));
    $("#start").addEventListener("input", showStart);
    $("#preview").addEventListener("click", preview);
    $("#save").addEventListener("click", savePreset);
    $("#render").addEventListener("click", render);
    $("#voice").addEventListener("change", sessionChanged);
    $("#voice-file").addEventListener("change", upload);
    $("#clients").addEventListener("change", showClientsFile);
    $("#session-form").addEventListener("submit", (ev) => ev.preventDefault());
    $("#gift-form").addEventListener("submit", makeGift);
    $("#gifts-form").addEventListener("submit", makeGifts);
    $("#message").addEventListener("input", updateMessageCount);
    updateMessageCount();
    showClientsFile();
    const tab = location.hash.slice(1);
    openTab(["instruments", "session", "gifts"].includes(tab) ? tab : "instruments");
    document.body.classList.remove("loading");
    state.ready = true;
    document.body.dataset.ready = "1";
    performance.mark("studio-ready");
    presetsArrived(presets, recordings);
  }

  async function presetsArrived(presets, recordings) {
    try {
      state.presets = await presets;
    } catch (e) {
      pageError(e);
      return;
    }
    state.recordings = await recordings;
    fillPresetSelects();
    if (state.session) fillVoices();
    if (!$("#session").hidden && !state.session) choosePreset($("#preset").value);
    document.body.dataset.presets = "1";
    performance.mark("studio-presets");
  }

  function pageError(e) {
    const p = $("#page-error");
    p.textContent = e.message;
    p.hidden = false;
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
