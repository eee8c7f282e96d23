// mitmllm's Providers page: a client of the JSON API of docs/admin.md, in plain ES2020.
//
// One long poll of GET /admin/api/state keeps `state` current; render() turns it into
// cards and model groups by updating the existing elements in place (keyed by name), so a
// refresh never steals focus, closes the form, or loses what a card was showing. All text
// from the API goes in through textContent, never as HTML.
"use strict";

const TOKEN_KEY = "mitmllm.listenToken";
// The server answers a long poll within 25 s; a request still open after this has been lost.
const POLL_TIMEOUT_MS = 35000;
const RETRY_FIRST_MS = 500;
const RETRY_MAX_MS = 5000;
const CARD_MODELS_SHOWN = 12;  // a card lists this many models; the Models section has all
const KEY_SET = "set — leave blank to keep";
const KEY_NOT_SET = "not set";
// The fields a preset fills: choosing a preset resets these and leaves the others alone.
const PRESET_FIELDS = ["host", "protocol", "port", "base_path", "format", "auth"];

const $ = (id) => document.getElementById(id);

let state = null;          // the last answer of GET /admin/api/state
let uid = 0;               // for element ids that labels point at
let pollTrouble = false;   // the long poll is failing: the status line says so
const cardNotes = new Map();   // provider name -> {text, tone}: a card's last test result
const pending = new Set();     // provider names whose Enabled switch is being saved

// ---------------------------------------------------------------------------------------
// The API

class ApiError extends Error {
  constructor(status, message, field) {
    super(message);
    this.status = status;
    this.field = field || null;
  }
}

// Every call goes through here: the listen token (if the user gave one), and on anything
// that changes something the CSRF token and a JSON content type (a cross-site form cannot
// send either). A 401 asks for the token and tries again.
async function api(method, path, body, signal) {
  for (;;) {
    const headers = {accept: "application/json"};
    const token = sessionStorage.getItem(TOKEN_KEY);
    if (token) headers.authorization = `Bearer ${token}`;
    if (method !== "GET") {
      headers["content-type"] = "application/json";
      headers["x-csrf-token"] = state ? state.csrf : "";
    }
    const response = await fetch(path, {
      method, headers, signal, cache: "no-store", credentials: "same-origin",
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    if (response.status === 401) {
      await askForToken(token !== null);
      continue;
    }
    let payload = null;
    try {
      payload = await response.json();
    } catch (_) {
      payload = null;  // an empty or non-JSON body: the status says enough
    }
    if (!response.ok) {
      const error = (payload && payload.error) || {};
      throw new ApiError(response.status, error.message || `HTTP ${response.status}`,
                         error.field);
    }
    return payload;
  }
}

const providerPath = (name) => `/admin/api/providers/${encodeURIComponent(name)}`;
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// Many requests may get a 401 at once (the poll, a save): they all wait for one prompt.
let tokenPrompt = null;
function askForToken(refused) {
  if (tokenPrompt) return tokenPrompt;
  tokenPrompt = new Promise((resolve) => {
    const dialog = $("token");
    showAlert($("token-error"), refused ? "That token was refused. Check listen.token "
                                          + "in the config file." : "");
    $("f-token").value = "";
    $("token-form").onsubmit = (event) => {
      event.preventDefault();
      const token = $("f-token").value.trim();
      if (!token) {
        showAlert($("token-error"), "Enter the listen token.");
        $("f-token").focus();
        return;
      }
      sessionStorage.setItem(TOKEN_KEY, token);
      $("f-token").value = "";
      tokenPrompt = null;
      dialog.close();
      resolve();
    };
    openDialog(dialog, $("f-token"));
  });
  return tokenPrompt;
}

// ---------------------------------------------------------------------------------------
// Live state: a long poll, retried with a growing pause while the proxy is unreachable.

async function pollForever() {
  let retry = RETRY_FIRST_MS;
  for (;;) {
    const since = state ? `?since=${encodeURIComponent(state.version)}` : "";
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(), POLL_TIMEOUT_MS);
    try {
      const next = await api("GET", `/admin/api/state${since}`, undefined, controller.signal);
      render(next);
      retry = RETRY_FIRST_MS;
      setPollTrouble(null);
    } catch (error) {
      setPollTrouble(error);
      await sleep(retry);
      retry = Math.min(retry * 2, RETRY_MAX_MS);
    } finally {
      clearTimeout(timer);
    }
  }
}

function setPollTrouble(error) {
  pollTrouble = error !== null;
  if (!error) {
    if ($("status").dataset.kind === "trouble") setStatus("");
    return;
  }
  // An answer from the API (403: wrong host or origin) will not fix itself by waiting, but
  // retrying is harmless and picks up a config change; say what the server said.
  const text = error instanceof ApiError ? `${error.message} Retrying…` : "Reconnecting…";
  setStatus(text, "trouble");
}

let statusTimer = null;
function setStatus(text, kind) {
  const status = $("status");
  if (pollTrouble && kind !== "trouble") return;  // "Reconnecting…" matters more
  clearTimeout(statusTimer);
  status.textContent = text;
  status.dataset.kind = kind || "";
  if (kind === "note") statusTimer = setTimeout(() => setStatus(""), 4000);
}

// ---------------------------------------------------------------------------------------
// Rendering

// Brings a container's children in line with `items`, reusing the child with the same key:
// an existing element is only updated (and moved only when out of order), so focus, open
// details and transient text on it survive a refresh.
function reconcile(container, items, keyOf, create, update) {
  const existing = new Map();
  for (const child of container.children) existing.set(child.dataset.key, child);
  let cursor = container.firstElementChild;
  for (const item of items) {
    const key = keyOf(item);
    let node = existing.get(key);
    if (node) {
      existing.delete(key);
    } else {
      node = create(item);
      node.dataset.key = key;
    }
    update(node, item);
    if (node === cursor) cursor = cursor.nextElementSibling;
    else container.insertBefore(node, cursor);
  }
  for (const node of existing.values()) node.remove();
}

function fromTemplate(id) {
  return $(id).content.firstElementChild.cloneNode(true);
}

function render(next) {
  if (!state) setStatus("");  // the first answer: no longer "Loading…"
  state = next;
  $("listen-url").textContent = `Clients use ${next.listen.url}`;
  $("config-path").textContent = next.config_path ? `· ${next.config_path}` : "";
  const rows = next.providers.map((p) => ({local: false, name: p.name, provider: p}));
  if (next.local) rows.push({local: true, name: next.local.name, provider: next.local});
  reconcile($("cards"), rows, (row) => (row.local ? "local:" : "remote:") + row.name,
            createCard, updateCard);
  $("no-providers").hidden = next.providers.length > 0;
  for (const name of cardNotes.keys()) {
    if (!next.providers.some((p) => p.name === name)) cardNotes.delete(name);
  }
  reconcile($("model-groups"), rows, (row) => (row.local ? "local:" : "remote:") + row.name,
            createGroup, updateGroup);
  applySearch();
}

function providerNamed(name) {
  return state ? state.providers.find((p) => p.name === name) : undefined;
}

function stateText(provider) {
  return provider.state === "error" ? `error: ${provider.error || "unknown"}` : provider.state;
}

const plural = (n, word) => `${n} ${word}${n === 1 ? "" : "s"}`;

function createCard(row) {
  const card = fromTemplate("card-template");
  const heading = card.querySelector(".card-name");
  heading.id = `card-name-${++uid}`;
  card.setAttribute("aria-labelledby", heading.id);
  card.dataset.name = row.name;
  if (row.local) {
    // The local MLX row has no settings of its own here: state and models only.
    card.classList.add("local");
    card.querySelector(".card-enabled").remove();
    card.querySelector(".card-actions").remove();
    return card;
  }
  const name = () => card.dataset.name;
  card.querySelector(".card-enabled input").addEventListener("change", (event) =>
    setEnabled(name(), event.target));
  card.querySelector(".act-edit").addEventListener("click", () => {
    const provider = providerNamed(name());
    if (provider) openEditor(provider);
  });
  card.querySelector(".act-test").addEventListener("click", () => testSaved(name()));
  card.querySelector(".act-delete").addEventListener("click", () => confirmDelete(name()));
  return card;
}

function updateCard(card, row) {
  const p = row.provider;
  card.dataset.state = p.state;
  card.querySelector(".card-name").textContent = p.name;
  card.querySelector(".card-url").textContent = row.local ? "MLX models on this machine" : p.url;
  card.querySelector(".card-format").textContent = row.local ? "MLX" : p.settings.format;
  card.querySelector(".card-count").textContent = plural(p.models.length, "model");
  card.querySelector(".card-state").textContent = stateText(p);
  const chips = card.querySelector(".card-models");
  const shown = p.models.slice(0, CARD_MODELS_SHOWN).map((m) => m.id);
  if (p.models.length > shown.length) shown.push(`+${p.models.length - shown.length} more`);
  reconcile(chips, shown, (id) => id, () => document.createElement("li"),
            (li, id) => { li.textContent = id; });
  chips.hidden = shown.length === 0;
  if (row.local) return;
  const note = cardNotes.get(p.name);
  const noteEl = card.querySelector(".card-note");
  noteEl.textContent = note ? note.text : "";
  noteEl.dataset.tone = note ? note.tone : "";
  const enabled = card.querySelector(".card-enabled input");
  if (!pending.has(p.name)) enabled.checked = p.settings.enabled;
}

function createGroup(row) {
  const group = fromTemplate("group-template");
  const heading = group.querySelector(".group-name");
  heading.id = `group-name-${++uid}`;
  group.setAttribute("aria-labelledby", heading.id);
  group.querySelector(".model-list").setAttribute("aria-labelledby", heading.id);
  return group;
}

function updateGroup(group, row) {
  const p = row.provider;
  group.querySelector(".group-name").textContent = p.name;
  reconcile(group.querySelector(".model-list"), p.models, (m) => m.use, createModel,
            updateModel);
  group.querySelector(".group-empty").textContent =
    p.models.length ? "" : `No models (${stateText(p)})`;
  group.dataset.count = String(p.models.length);
}

function createModel(model) {
  const li = fromTemplate("model-template");
  li.querySelector(".copy").addEventListener("click", () => copyModel(li));
  return li;
}

function updateModel(li, model) {
  li.dataset.use = model.use;
  li.dataset.id = model.id;
  li.querySelector(".model-use").textContent = model.use;
  li.querySelector(".copy").setAttribute("aria-label", `Copy ${model.use}`);
}

// The search filters every group at once; a group with no match is hidden while searching.
function applySearch() {
  const query = $("model-search").value.trim().toLowerCase();
  let visible = 0;
  for (const group of $("model-groups").children) {
    let inGroup = 0;
    for (const li of group.querySelectorAll(".model")) {
      const match = !query || li.dataset.use.toLowerCase().includes(query)
                    || li.dataset.id.toLowerCase().includes(query);
      li.hidden = !match;
      if (match) inGroup += 1;
    }
    group.hidden = Boolean(query) && inGroup === 0;
    group.querySelector(".group-empty").hidden = Boolean(query) || group.dataset.count !== "0";
    visible += inGroup;
  }
  $("no-models").hidden = !query || visible > 0;
}

async function copyModel(li) {
  const text = li.dataset.use;
  const confirmation = li.querySelector(".copied");
  try {
    if (navigator.clipboard && window.isSecureContext) {
      await navigator.clipboard.writeText(text);
    } else {
      copyWithSelection(text);  // a plain-http listen address that is not loopback
    }
    confirmation.textContent = "Copied";
  } catch (_) {
    confirmation.textContent = "Copy failed";
  }
  clearTimeout(li.copiedTimer);
  li.copiedTimer = setTimeout(() => { confirmation.textContent = ""; }, 2000);
}

function copyWithSelection(text) {
  const area = document.createElement("textarea");
  area.value = text;
  area.setAttribute("readonly", "");
  area.className = "offscreen";
  document.body.append(area);
  area.select();
  const ok = document.execCommand("copy");
  area.remove();
  if (!ok) throw new Error("copy refused");
}

// ---------------------------------------------------------------------------------------
// Card actions

// While the request runs the switch is marked busy rather than disabled: disabling the
// focused element would throw the keyboard user's focus back to the page.
async function setEnabled(name, input) {
  const wanted = input.checked;
  if (pending.has(name)) {
    input.checked = !wanted;  // one change at a time
    return;
  }
  pending.add(name);
  input.setAttribute("aria-disabled", "true");
  try {
    const result = await api("POST", `${providerPath(name)}/enabled`, {enabled: wanted});
    // Show the answer now; the long poll brings the same (or newer) state right after.
    if (state && result && result.provider) {
      state.providers = state.providers.map((p) => (p.name === name ? result.provider : p));
    }
    cardNotes.delete(name);
    setStatus(`${name} ${wanted ? "enabled" : "disabled"}`, "note");
  } catch (error) {
    input.checked = !wanted;
    cardNotes.set(name, {text: error.message, tone: "error"});
  } finally {
    pending.delete(name);
    input.removeAttribute("aria-disabled");
    if (state) render(state);
  }
}

// Tests the saved settings: without an api_key in the body the API uses the stored key.
async function testSaved(name) {
  const provider = providerNamed(name);
  if (!provider) return;
  cardNotes.set(name, {text: "Testing…", tone: "busy"});
  render(state);
  try {
    const result = await api("POST", "/admin/api/test", {settings: provider.settings});
    cardNotes.set(name, testNote(result));
  } catch (error) {
    cardNotes.set(name, {text: `Test failed: ${error.message}`, tone: "error"});
  }
  if (state) render(state);
}

function testNote(result) {
  if (result.state === "connected") {
    return {text: `Test: connected, ${plural(result.models.length, "model")}`, tone: "ok"};
  }
  return {text: `Test: error: ${result.error || "unknown"}`, tone: "error"};
}

function confirmDelete(name) {
  const dialog = $("confirm");
  $("confirm-title").textContent = `Delete ${name}?`;
  $("confirm-text").textContent = `${name} is removed from the config file, and its API key `
    + "and secret header values are deleted from the keychain too. Its models leave "
    + "/v1/models.";
  showAlert($("confirm-error"), "");
  $("confirm-form").onsubmit = async (event) => {
    event.preventDefault();
    try {
      const result = await api("DELETE", providerPath(name));
      cardNotes.delete(name);
      dialog.close();
      const count = result ? result.keychain_entries : undefined;
      const entries = typeof count === "number"
        ? ` and ${count} keychain ${count === 1 ? "entry" : "entries"}` : "";
      setStatus(`Deleted ${name}${entries}`, "note");
    } catch (error) {
      showAlert($("confirm-error"), error.message);
    }
  };
  // The safe choice has the focus, so Enter does not delete by accident.
  openDialog(dialog, $("confirm-cancel"));
}

// ---------------------------------------------------------------------------------------
// Dialogs: modal, so focus moves in and the page behind is inert; Escape closes (the
// browser's `cancel`); on close the focus goes back to what opened it, or to "Add provider"
// when that is gone (a deleted card).

function openDialog(dialog, focus) {
  const opener = document.activeElement;
  dialog.addEventListener("close", () => {
    const target = opener && opener.isConnected && opener !== document.body
      ? opener : $("add-provider");
    target.focus();
  }, {once: true});
  dialog.showModal();
  if (focus) focus.focus();
}

function showAlert(element, text) {
  element.textContent = text;
  element.hidden = !text;
}

// ---------------------------------------------------------------------------------------
// The add / edit form

const editor = {editing: null, secrets: null, nameTouched: false, busy: false};

function fillSelect(select, values, labels) {
  select.replaceChildren(...values.map((value, i) => {
    const option = document.createElement("option");
    option.value = value;
    option.textContent = labels ? labels[i] : value;
    return option;
  }));
}

function openEditor(provider) {
  const choices = state.choices;
  fillSelect($("f-preset"), state.presets.map((p) => p.id), state.presets.map((p) => p.label));
  fillSelect($("f-protocol"), choices.protocol);
  fillSelect($("f-format"), choices.format);
  fillSelect($("f-auth"), choices.auth);
  fillSelect($("f-hosted_tools"), choices.hosted_tools);
  clearFormErrors();
  $("test-result").hidden = true;
  $("header-rows").replaceChildren();
  $("f-api_key").value = "";
  $("f-clear_api_key").checked = false;

  editor.editing = provider ? provider.name : null;
  editor.secrets = provider ? provider.secrets : null;
  editor.nameTouched = Boolean(provider);
  if (provider) {
    $("editor-title").textContent = `Edit ${provider.name}`;
    const known = state.presets.some((p) => p.id === provider.settings.preset);
    $("f-preset").value = known ? provider.settings.preset : "custom";
    editor.preset = provider.settings.preset;
    fillForm(provider.settings);
  } else {
    $("editor-title").textContent = "Add provider";
    fillForm({...state.defaults, name: "", models: [], headers: []});
    $("f-preset").value = "custom";
    applyPreset("custom");
  }
  const key = provider ? provider.secrets.api_key : {set: false, origin: null};
  $("f-api_key").placeholder = key.set ? KEY_SET : KEY_NOT_SET;
  $("api-key-origin").textContent = !key.set ? "Stored in the keychain, never in the file."
    : key.origin === "keychain" ? "Stored in the keychain."
    : `Read from the environment variable ${key.origin}.`;
  $("clear-key-row").hidden = !(key.set && key.origin === "keychain");
  openDialog($("editor"), provider ? $("f-name") : $("f-preset"));
}

function fillForm(settings) {
  $("f-name").value = settings.name || "";
  for (const field of [...PRESET_FIELDS, "timeout", "max_tokens_default", "hosted_tools"]) {
    setField(field, settings[field]);
  }
  $("f-enabled").checked = settings.enabled !== false;
  $("f-auto_connect").checked = settings.auto_connect !== false;
  $("f-models").value = (settings.models || []).join("\n");
  for (const header of settings.headers || []) addHeaderRow(header);
}

function setField(field, value) {
  const input = $(`f-${field}`);
  if (input.tagName === "SELECT") {
    // A preset that says nothing about a choice leaves the first one (the API's default).
    input.value = value == null ? input.options[0].value : String(value);
  } else {
    input.value = value == null ? "" : String(value);
  }
}

function applyPreset(id) {
  const preset = state.presets.find((p) => p.id === id);
  if (!preset) return;
  const fields = preset.fields;
  for (const field of PRESET_FIELDS) setField(field, fields[field]);
  editor.preset = fields.preset || id;
  // The name follows the preset until the user types one (as Osaurus does).
  if (!editor.nameTouched) $("f-name").value = id === "custom" ? "" : id;
}

function addHeaderRow(header) {
  const row = fromTemplate("header-row");
  const n = ++uid;
  const [nameLabel, valueLabel] = row.querySelectorAll(".field label");
  const nameInput = row.querySelector(".h-name");
  const valueInput = row.querySelector(".h-value");
  const secret = row.querySelector(".h-secret");
  nameInput.id = `h-name-${n}`;
  valueInput.id = `h-value-${n}`;
  nameLabel.htmlFor = nameInput.id;
  valueLabel.htmlFor = valueInput.id;
  nameInput.value = header ? header.name : "";
  secret.checked = Boolean(header && header.secret);
  valueInput.value = header && !header.secret ? header.value || "" : "";
  row.dataset.storedName = header ? header.name : "";
  row.setAttribute("aria-label", `Header ${$("header-rows").children.length + 1}`);
  secret.addEventListener("change", () => showHeaderSecrecy(row));
  nameInput.addEventListener("input", () => showHeaderSecrecy(row));
  row.querySelector(".h-remove").addEventListener("click", () => {
    const rows = [...$("header-rows").children];
    const next = rows[rows.indexOf(row) + 1] || rows[rows.indexOf(row) - 1];
    row.remove();
    [...$("header-rows").children].forEach((r, i) => r.setAttribute("aria-label",
                                                                     `Header ${i + 1}`));
    (next ? next.querySelector(".h-name") : $("add-header")).focus();
  });
  $("header-rows").append(row);
  showHeaderSecrecy(row);
  return row;
}

// A secret header's value is write-only, like the API key: a password field whose
// placeholder says whether the keychain holds one; blank keeps it.
function showHeaderSecrecy(row) {
  const value = row.querySelector(".h-value");
  const name = row.querySelector(".h-name").value.trim();
  if (row.querySelector(".h-secret").checked) {
    value.type = "password";
    value.autocomplete = "new-password";
    const stored = editor.secrets && editor.secrets.headers[name];
    value.placeholder = stored && stored.set ? KEY_SET : KEY_NOT_SET;
  } else {
    value.type = "text";
    value.autocomplete = "off";
    value.placeholder = "";
  }
}

// A number field holds text so that whatever was typed reaches the API, whose message then
// names the field ("expected an integer from 1 to 65535, got 99999").
function numberOrText(text) {
  const trimmed = text.trim();
  if (trimmed === "") return undefined;
  const number = Number(trimmed);
  return Number.isFinite(number) ? number : trimmed;
}

// The form as the API's `settings`, plus the write-only secrets. A blank field is left out,
// so the preset's value (then the default) applies, as docs/admin.md says.
function formBody() {
  const text = (id) => $(id).value.trim();
  const settings = {
    name: text("f-name"),
    preset: editor.preset || "custom",
    protocol: $("f-protocol").value,
    port: numberOrText($("f-port").value) ?? null,
    format: $("f-format").value,
    auth: $("f-auth").value,
    enabled: $("f-enabled").checked,
    auto_connect: $("f-auto_connect").checked,
    hosted_tools: $("f-hosted_tools").value,
    models: $("f-models").value.split(/[\s,]+/).filter(Boolean),
    headers: [],
  };
  if (text("f-host")) settings.host = text("f-host");
  if (text("f-base_path")) settings.base_path = text("f-base_path");
  const timeout = numberOrText($("f-timeout").value);
  if (timeout !== undefined) settings.timeout = timeout;
  const maxTokens = numberOrText($("f-max_tokens_default").value);
  if (maxTokens !== undefined) settings.max_tokens_default = maxTokens;

  const secretHeaders = {};
  for (const row of $("header-rows").children) {
    const name = row.querySelector(".h-name").value.trim();
    const value = row.querySelector(".h-value").value;
    const secret = row.querySelector(".h-secret").checked;
    if (!name && !value) continue;
    settings.headers.push({name, value: secret ? null : value, secret});
    if (secret && value) secretHeaders[name] = value;
  }
  const body = {settings};
  if ($("f-api_key").value) body.api_key = $("f-api_key").value;
  if (Object.keys(secretHeaders).length) body.secret_headers = secretHeaders;
  return body;
}

function clearFormErrors() {
  showAlert($("editor-error"), "");
  for (const element of $("editor").querySelectorAll("[aria-invalid]")) {
    element.removeAttribute("aria-invalid");
    element.removeAttribute("aria-errormessage");
  }
}

// The API names the field it refused (`error.field`): mark it and put the cursor there.
// Header fields may come as "headers" or "headers[1].name"; they go to the header rows.
function showFormError(error) {
  showAlert($("editor-error"), error.message);
  let input = null;
  const field = error.field || "";
  if (/^(secret_)?headers/.test(field)) {
    const index = Number((field.match(/\[(\d+)\]/) || [])[1] || 0);
    const row = $("header-rows").children[index];
    input = row ? row.querySelector(/value/.test(field) ? ".h-value" : ".h-name") : null;
  } else if (field) {
    input = $(`f-${field}`);
  }
  if (input) {
    input.setAttribute("aria-invalid", "true");
    input.setAttribute("aria-errormessage", "editor-error");
    input.focus();
  }
}

// Busy, not disabled, for the same reason as the switch: the focus stays on the button.
function setFormBusy(busy) {
  editor.busy = busy;
  for (const id of ["editor-save", "editor-test"]) {
    if (busy) $(id).setAttribute("aria-disabled", "true");
    else $(id).removeAttribute("aria-disabled");
  }
}

async function saveEditor(event) {
  event.preventDefault();
  if (editor.busy) return;
  clearFormErrors();
  const body = formBody();
  if (editor.editing !== null && $("f-clear_api_key").checked) body.clear_api_key = true;
  setFormBusy(true);
  try {
    const result = editor.editing === null
      ? await api("POST", "/admin/api/providers", body)
      : await api("PUT", providerPath(editor.editing), body);
    $("editor").close();
    setStatus(`Saved ${result.provider.name}`, "note");
  } catch (error) {
    showFormError(error);
  } finally {
    setFormBusy(false);
  }
}

// Tests what the form says now, unsaved.
async function testEditor() {
  if (editor.busy) return;
  clearFormErrors();
  const summary = $("test-summary");
  const list = $("test-models");
  $("test-result").hidden = false;
  summary.textContent = "Testing…";
  $("test-result").dataset.tone = "busy";
  list.replaceChildren();
  setFormBusy(true);
  try {
    const result = await api("POST", "/admin/api/test", formBody());
    const note = testNote(result);
    summary.textContent = note.text;
    $("test-result").dataset.tone = note.tone;
    list.replaceChildren(...(result.models || []).map((id) => {
      const li = document.createElement("li");
      li.textContent = id;
      return li;
    }));
    $("test-result").scrollIntoView({block: "nearest"});  // below the fold of a long form
  } catch (error) {
    $("test-result").hidden = true;
    showFormError(error);
  } finally {
    setFormBusy(false);
  }
}

// Secrets typed into the form do not outlive it.
function resetSecrets() {
  $("f-api_key").value = "";
  for (const input of $("header-rows").querySelectorAll(".h-value")) {
    if (input.type === "password") input.value = "";
  }
}

// ---------------------------------------------------------------------------------------

function start() {
  $("add-provider").addEventListener("click", () => { if (state) openEditor(null); });
  $("model-search").addEventListener("input", applySearch);
  $("editor-form").addEventListener("submit", saveEditor);
  $("editor-cancel").addEventListener("click", () => $("editor").close());
  $("editor-test").addEventListener("click", testEditor);
  $("editor").addEventListener("close", resetSecrets);
  $("f-preset").addEventListener("change", (event) => applyPreset(event.target.value));
  $("f-name").addEventListener("input", () => { editor.nameTouched = true; });
  // A key typed in means it is to be sent: a preset without auth would otherwise drop it.
  $("f-api_key").addEventListener("input", () => {
    if ($("f-api_key").value && $("f-auth").value === "none") $("f-auth").value = "api_key";
  });
  $("add-header").addEventListener("click", () => {
    addHeaderRow(null).querySelector(".h-name").focus();
  });
  // Typing in a refused field clears its mark; the message stays until the next try.
  $("editor-form").addEventListener("input", (event) => {
    event.target.removeAttribute("aria-invalid");
  });
  $("confirm-cancel").addEventListener("click", () => $("confirm").close());
  // The token is needed to go on at all: Escape does not dismiss its prompt.
  $("token").addEventListener("cancel", (event) => event.preventDefault());
  setStatus("Loading…");
  pollForever();
}

start();
