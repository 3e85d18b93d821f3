// Training Imports: the admin's page. Uses the public API only (docs/openapi.json).
"use strict";

const BASE = (() => {
  const p = location.pathname;
  const i = p.indexOf("/lambda-url/import-api");
  return i >= 0 ? p.slice(0, i + "/lambda-url/import-api".length) : "";
})();
const main = document.getElementById("main");
const status = document.getElementById("status");

const METHODS = {
  hris: { label: "HRIS employee ID", advice: "Best where an HR system is connected: employee IDs are stable and unique. The employee must already be on the roster.",
    columns: ["employee_id", "training", "completion_date"], example: ["E100", "Forklift Safety", "2024-03-31"] },
  email: { label: "Email", advice: "The usual choice: works for everyone who signs up with an email address.",
    columns: ["email", "training", "completion_date"], example: ["ana@example.com", "Forklift Safety", "2024-03-31"] },
  phone: { label: "Phone number", advice: "Suits frontline teams who sign up with a mobile number. Set the default country for numbers without +country code.",
    columns: ["phone", "training", "completion_date"], example: ["+1 415 555 2671", "Forklift Safety", "2024-03-31"] },
  name: { label: "Name", advice: "The weakest key: two people can share a name, and such rows are errors.",
    columns: ["first_name", "last_name", "training", "completion_date"], example: ["Ana", "López", "Forklift Safety", "2024-03-31"] },
};

function token() { return sessionStorage.getItem("token"); }
// A token is only ever the one this page got by signing in. One in the address (a link
// someone sent) is dropped unread: it would sign the admin into another organisation.
function dropTokenFromAddress() {
  if (/(?:^|[#&?])(?:id_|access_)?token=/.test(location.hash)) history.replaceState(null, "", location.pathname + location.search + "#/");
}
function goBack(e) { e.preventDefault(); if (history.length > 1) history.back(); else location.hash = "#/"; }

// A 401 is the authorizer turning the request away before it reached the API, so the
// request (a change too) is sent once more after the token is renewed; without a token
// that can be renewed, the page asks the admin to sign in.
async function api(method, path, body) {
  try {
    return await apiRetrying(method, path, body);
  } catch (err) {
    if (err.status !== 401) throw err;
    if (token() && await renewToken()) {
      try { return await apiRetrying(method, path, body); } catch (again) { if (again.status !== 401) throw again; }
    }
    needSignIn();
    throw err;
  }
}

// A read that gets no answer (the network failed, or nothing came back in 15 s) or a
// server-side failure (5xx: a throttled or restarting function, a gateway timeout) is
// tried once more a moment later; a write is never repeated by the page.
async function apiRetrying(method, path, body) {
  try {
    return await apiOnce(method, path, body);
  } catch (err) {
    if (method !== "GET" || (err.status !== undefined && err.status < 500)) throw err;
    await new Promise((resolve) => setTimeout(resolve, 1000));
    return apiOnce(method, path, body);
  }
}

async function apiOnce(method, path, body) {
  const headers = { "content-type": "application/json" };
  if (token()) headers.authorization = "Bearer " + token();
  const timeout = new AbortController();
  const timer = setTimeout(() => timeout.abort(), 15000);
  let resp;
  try {
    resp = await fetch(BASE + path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body), signal: method === "GET" ? timeout.signal : undefined });
  } finally {
    clearTimeout(timer);
  }
  const text = await resp.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch { data = text; }
  if (!resp.ok) {
    const err = new Error((data && data.detail) || resp.statusText);
    err.status = resp.status; err.code = data && data.code;
    throw err;
  }
  return data;
}

function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === false || v === null || v === undefined) continue;
    if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else if (k === "text") el.textContent = v;
    else el.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children.flat()) if (c !== null && c !== undefined && c !== false) el.append(c.nodeType ? c : String(c));
  return el;
}

function announce(msg) { status.textContent = ""; setTimeout(() => { status.textContent = msg; }, 50); }
// Every view drawn bumps this; a view that draws after a wait first checks that no other
// was drawn meanwhile (a sign-out while the list was loading must not bring the list back).
let viewSeq = 0;
function view() {
  const seq = ++viewSeq;
  const render = (title, ...content) => { if (seq === viewSeq) show(title, ...content); };
  render.current = () => seq === viewSeq;
  return render;
}
// Focus goes to the new view when the admin moves to another page; a view drawn again in
// place (a run that finished, a row fixed) leaves focus where the admin left it, unless
// what had it is gone.
let shownRoute = null;
function show(title, ...content) {
  viewSeq++;
  const moved = shownRoute !== location.hash;
  const active = document.activeElement;
  const focusedInside = active !== main && main.contains(active);
  main.replaceChildren(h("h1", { text: title }), ...content.filter((c) => c !== null && c !== undefined && c !== false));
  if (moved || (focusedInside && !main.contains(active))) main.focus();
  shownRoute = location.hash;
  document.title = title + " · Training Imports";
}
function alertBox(kind, msg) { return h("div", { class: "alert " + kind, role: kind === "error" ? "alert" : null }, msg); }
function badge(value) {
  // Text marks as well as colours, so that no state is shown by colour alone.
  const icons = { error: "✖ ", ready: "✔ ", imported: "✔ ", applied: "✔ ", pending: "○ ", skipped: "− ", deleted: "− ", not_imported: "− " };
  return h("span", { class: "badge " + value }, (icons[value] || "") + value.replace("_", " "));
}
function failed(err) {
  if (err.status === 401) return alertBox("error", "You are not signed in.");
  return alertBox("error", (err.code ? err.code + ": " : "") + err.message);
}

// ---- the imports ----------------------------------------------------------------------
const IMPORTS_PAGE = 50;

async function listView() {
  const render = view();
  let data;
  try { data = await api("GET", `/imports?limit=${IMPORTS_PAGE}`); } catch (e) { return render("Training Imports", failed(e)); }
  const toolbar = h("div", { class: "toolbar" }, h("a", { class: "button", href: "#/new" }, "Import from CSV"), h("a", { class: "button secondary", href: "#/join-codes" }, "Join codes"));
  if (!data.imports.length) return render("Training Imports", toolbar, alertBox("info", "No imports yet. Import past completions from a CSV file to get started."));
  const tbody = h("tbody", {}, data.imports.map(importLine));
  const content = [toolbar, h("div", { class: "table-wrap" }, h("table", {},
    h("caption", { class: "visually-hidden" }, "Imports, newest first"),
    h("thead", {}, h("tr", {}, ["File", "Matched by", "Status", "Validation", "After import", "Created", ""].map((t) => h("th", { scope: "col" }, t)))),
    tbody))];
  // Older imports, a page at a time, added under the ones shown.
  let cursor = data.next_cursor;
  if (cursor) {
    const more = h("button", { type: "button", class: "secondary", onclick: async () => {
      more.disabled = true;
      try {
        const page = await api("GET", `/imports?limit=${IMPORTS_PAGE}&cursor=${encodeURIComponent(cursor)}`);
        tbody.append(...page.imports.map(importLine));
        announce(`${page.imports.length} older imports shown`);
        cursor = page.next_cursor;
        if (cursor) more.disabled = false; else more.remove();
      } catch (e) { more.disabled = false; more.after(failed(e)); }
    } }, "Show older imports");
    content.push(h("div", { class: "toolbar" }, more));
  }
  render("Training Imports", ...content);
}

// One import in the list. One whose file never arrived (an upload cancelled, failed, or
// left when the tab closed) says so and can be deleted.
function importLine(i) {
  const notUploaded = i.status === "created";
  const remove = notUploaded ? h("button", { type: "button", class: "danger", "aria-label": `Delete ${i.file_name}, never uploaded`, onclick: async (e) => {
    if (!confirm(`Delete the import of ${i.file_name}? Its file never arrived, so it has no rows.`)) return;
    const line = e.target.closest("tr");
    try { await api("DELETE", `/imports/${i.import_id}`); line.remove(); announce(`The import of ${i.file_name} is deleted`); }
    catch (err) { line.after(h("tr", {}, h("td", { colspan: "7" }, failed(err)))); }
  } }, "Delete") : null;
  return h("tr", { "data-import": i.import_id },
    h("td", {}, h("a", { href: "#/imports/" + i.import_id }, i.file_name)),
    h("td", {}, METHODS[i.method] ? METHODS[i.method].label : i.method),
    h("td", {}, notUploaded ? h("span", { class: "badge deleted" }, "− not uploaded") : badge(i.status)),
    h("td", {}, notUploaded ? "" : `${i.outcomes.ready} ready, ${i.outcomes.pending} pending, ${i.outcomes.error} errors, ${i.outcomes.skipped} skipped`),
    h("td", {}, notUploaded ? "" : `${i.statuses.imported} imported, ${i.statuses.pending} pending, ${i.statuses.applied} applied`),
    h("td", {}, new Date(i.created_at).toLocaleString()),
    h("td", {}, remove));
}

// ---- a new import -----------------------------------------------------------------------
function templateCsv(method) {
  const m = METHODS[method];
  return m.columns.join(",") + "\n" + m.example.map((c) => (c.includes(",") ? `"${c}"` : c)).join(",") + "\n";
}

function newView() {
  let method = "email";
  let file = null;
  const format = h("div", { class: "format", id: "format" });
  const renderFormat = () => {
    const m = METHODS[method];
    const blob = URL.createObjectURL(new Blob([templateCsv(method)], { type: "text/csv" }));
    format.replaceChildren(
      h("p", {}, "Columns: ", ...m.columns.flatMap((c, i) => [i ? ", " : "", h("code", {}, c)]), ". Headers are matched ignoring case and spaces; other columns are ignored."),
      h("p", {}, "Training is the training's ID or exact title; it must be published. Dates like 2024-03-31, 31/03/2024 or 31 Mar 2024."),
      h("pre", {}, templateCsv(method)),
      h("a", { class: "button secondary", href: blob, download: `training-import-${method}.csv` }, "Download template"));
    country.hidden = method !== "phone";
  };
  const radios = Object.entries(METHODS).map(([key, m]) => h("label", { class: "method" },
    h("input", { type: "radio", name: "method", value: key, checked: key === method, onchange: () => { method = key; renderFormat(); } }),
    " " + m.label, h("span", { class: "advice" }, m.advice)));
  const countryInput = h("input", { type: "text", id: "country", maxlength: "2", placeholder: "US", autocomplete: "off" });
  const country = h("p", { hidden: true }, h("label", { for: "country" }, "Default country for phone numbers (ISO code, e.g. US, GB)"), countryInput);
  const dateSel = h("select", { id: "date-format" }, h("option", { value: "auto" }, "Decide from the file"), h("option", { value: "dmy" }, "Day first (31/03/2024)"), h("option", { value: "mdy" }, "Month first (03/31/2024)"));
  const fileInput = h("input", { type: "file", id: "file", accept: ".csv,text/csv,text/plain" });
  const fileName = h("p", { "aria-live": "polite" });
  const pick = (f) => { file = f; fileName.textContent = f ? `Selected: ${f.name} (${f.size} bytes)` : ""; };
  fileInput.addEventListener("change", () => pick(fileInput.files[0]));
  const drop = h("div", { class: "drop" }, h("label", { for: "file" }, "Upload a CSV file"), h("p", {}, "Choose a file, or drag and drop it here."), fileInput, fileName);
  drop.addEventListener("dragover", (e) => { e.preventDefault(); drop.classList.add("over"); });
  drop.addEventListener("dragleave", () => drop.classList.remove("over"));
  drop.addEventListener("drop", (e) => { e.preventDefault(); drop.classList.remove("over"); pick(e.dataTransfer.files[0]); });
  const paste = h("textarea", { id: "paste", spellcheck: "false" });
  const errors = h("div");
  const submit = h("button", { type: "submit" }, "Validate");
  const uploading = h("div", { class: "upload-progress", hidden: true });
  const form = h("form", { onsubmit: async (e) => {
    e.preventDefault();
    errors.replaceChildren();
    const options = { method, file_name: file ? file.name : "pasted.csv" };
    if (countryInput.value.trim()) options.default_country = countryInput.value.trim();
    if (dateSel.value !== "auto") options.date_format = dateSel.value;
    submit.disabled = true;
    try {
      let created;
      if (file) {
        created = await api("POST", "/imports", { ...options, size: file.size });
        try {
          await upload(created.upload, file, uploading);
        } catch (err) {
          // Nothing is left half-made: the import whose file did not arrive goes too.
          await api("DELETE", `/imports/${created.import.import_id}`).catch(() => {});
          throw err;
        }
      } else if (paste.value.trim()) {
        created = await api("POST", "/imports", { ...options, csv: paste.value });
      } else {
        throw new Error("Choose a file or paste the CSV data first.");
      }
      location.hash = "#/imports/" + created.import.import_id;
    } catch (err) {
      errors.replaceChildren(failed(err));
      submit.disabled = false;
    }
  } },
    h("fieldset", {}, h("legend", {}, "1. How are rows matched to people?"), radios),
    h("fieldset", {}, h("legend", {}, "2. The CSV format"), format, country, h("p", {}, h("label", { for: "date-format" }, "Dates"), dateSel)),
    h("fieldset", {}, h("legend", {}, "3. The data"), drop, h("p", {}, h("label", { for: "paste" }, "…or paste the CSV here")), paste),
    errors, uploading, submit);
  show("Import from CSV", h("p", {}, h("a", { href: "#/" }, "← All imports")), form);
  renderFormat();
}

// The file, PUT to its presigned URL with its progress shown and a way to stop it.
// Resolves when S3 has it; rejects when it is refused, fails or is cancelled.
function upload(target, file, box) {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    const bar = h("progress", { id: "upload-progress", max: String(file.size || 1), value: "0" });
    const label = h("label", { for: "upload-progress" }, `Uploading ${file.name}: 0 %`);
    const cancel = h("button", { type: "button", class: "secondary", onclick: () => xhr.abort() }, "Cancel upload");
    box.replaceChildren(h("p", {}, label), bar, h("div", { class: "toolbar" }, cancel));
    box.hidden = false;
    let said = 0;
    xhr.upload.addEventListener("progress", (e) => {
      if (!e.lengthComputable) return;
      bar.value = e.loaded;
      const pct = Math.floor((e.loaded / e.total) * 100);
      label.textContent = `Uploading ${file.name}: ${pct} %`;
      // The live region hears every quarter, not every tick.
      if (pct >= said + 25) { said = pct - (pct % 25); announce(`Uploaded ${said} %`); }
    });
    const done = (err) => { box.hidden = true; box.replaceChildren(); err ? reject(err) : resolve(); };
    xhr.addEventListener("load", () => (xhr.status >= 200 && xhr.status < 300) ? done() : done(new Error("The upload was refused (" + xhr.status + "). Try again.")));
    xhr.addEventListener("error", () => done(new Error("The upload failed: the connection dropped. Try again.")));
    xhr.addEventListener("abort", () => { announce("Upload cancelled"); done(new Error("The upload was cancelled. Nothing was imported.")); });
    xhr.open("PUT", target.url);
    xhr.setRequestHeader("content-type", target.headers["content-type"]);
    xhr.send(file);
  });
}

// ---- one import ---------------------------------------------------------------------------
let poller = null;
function stopPolling() { if (poller) { clearTimeout(poller); poller = null; } }

// One page of an import's rows. Over a large import a filter can answer with no rows
// and a cursor (the API stops after looking at 20,000 rows): follow it a while.
async function rowsPage(id, query, cursor) {
  let rows = [], next = cursor;
  for (let asks = 0; asks < 20; asks++) {
    const r = await api("GET", `/imports/${id}/rows?limit=500&${query}` + (next ? `&cursor=${encodeURIComponent(next)}` : ""));
    rows = rows.concat(r.rows);
    next = r.next_cursor || null;
    if (rows.length || !next) break;
  }
  return { rows, next };
}

const BUSY = ["created", "uploaded", "validating", "importing"];

async function importView(id, filter) {
  const render = view();
  stopPolling();
  let imp, page = { rows: [], next: null };
  const query = filter ? (["ready", "pending", "error", "skipped"].includes(filter) ? `outcome=${filter}` : `status=${filter}`) : "";
  try {
    imp = (await api("GET", `/imports/${id}`)).import;
    // While the file is checked or imported only the summary is asked for; the rows are
    // fetched once, when the run is over.
    if (!BUSY.includes(imp.status)) page = await rowsPage(id, query, null);
  } catch (e) { return render("Import", h("p", {}, h("a", { href: "#/" }, "← All imports")), failed(e)); }
  const busy = BUSY.includes(imp.status);
  const content = [h("p", {}, h("a", { href: "#/" }, "← All imports"))];
  content.push(h("p", {}, "Status: ", badge(imp.status), ` · matched by ${METHODS[imp.method].label} · ${imp.rows_total} rows`));
  // Who did what to this import, and when.
  const history = [
    imp.created_by ? "Created by " + stampText(imp.created_by) : (imp.source === "drop" ? "Dropped into the upload bucket on " + new Date(imp.created_at).toLocaleString() : null),
    imp.from_import ? h("span", {}, "The file of ", h("a", { href: "#/imports/" + imp.from_import }, "an earlier import"), ", validated again") : null,
    imp.commit && imp.commit.by ? "Imported by " + stampText(imp.commit.by) : null,
    imp.pending_deleted_by ? "Pending rows deleted by " + stampText(imp.pending_deleted_by) : null,
  ].filter(Boolean);
  if (history.length) content.push(h("ul", { class: "history", "aria-label": "History" }, history.map((line) => h("li", {}, line))));
  if (imp.status === "failed" && imp.failure) {
    content.push(alertBox("error", `${imp.failure.code}: ${imp.failure.message}`));
    // A column the file has under a name no alias knows: say which column holds what.
    if (imp.failure.code === "MISSING_COLUMN") {
      content.push(h("div", { class: "toolbar" }, h("a", { class: "button", href: `#/imports/${id}/mapping` }, "Match the file's columns")));
    }
  }
  if (busy) {
    const box = h("div", { class: "run-progress" }, progressParts(imp));
    content.push(box);
    if (render.current()) watchRun(id, filter, box, 1000);
  }
  const panel = detectedPanel(imp);
  if (panel) content.push(panel);
  const o = imp.outcomes, st = imp.statuses;
  const committed = ["importing", "imported"].includes(imp.status);
  const filters = committed
    ? [["", "All rows", imp.rows_total], ["imported", "Imported", st.imported], ["pending", "Waiting for sign-up", st.pending], ["applied", "Applied at sign-up", st.applied], ["deleted", "Deleted", st.deleted], ["not_imported", "Not imported", st.not_imported]]
    : [["", "All rows", imp.rows_total], ["ready", "Ready", o.ready], ["pending", "Pending sign-up", o.pending], ["error", "Errors", o.error], ["skipped", "Skipped", o.skipped]];
  if (imp.status !== "failed") {
    content.push(h("ul", { class: "counts", "aria-label": "Rows by outcome" }, filters.map(([key, label, n]) => h("li", {},
      h("button", { type: "button", "aria-pressed": String((filter || "") === key), onclick: () => { location.hash = `#/imports/${id}` + (key ? "/" + key : ""); } }, `${label}: ${n}`)))));
  }
  if (imp.status === "validated") {
    const skip = h("input", { type: "checkbox", id: "skip" });
    const go = h("button", { type: "button", disabled: o.error > 0, onclick: async () => {
      go.disabled = true;
      try { await api("POST", `/imports/${id}/commit`, { skip_invalid_rows: skip.checked }); announce("Import started"); importView(id, filter); }
      catch (e) { main.prepend(failed(e)); go.disabled = false; }
    } }, "Import");
    skip.addEventListener("change", () => { go.disabled = o.error > 0 && !skip.checked; });
    const tools = [go];
    if (o.error > 0) {
      tools.unshift(h("span", {}, skip, " ", h("label", { for: "skip" }, o.error === 1 ? "Skip the row with errors" : `Skip the ${o.error} rows with errors`)));
      tools.push(h("button", { type: "button", class: "secondary", onclick: () => downloadReport(id, imp.file_name) }, "Download error report"));
    }
    content.push(h("div", { class: "toolbar" }, tools));
    if (o.error > 0) content.push(h("p", {}, "Fix the rows in red here, or download the error report, fix it in your spreadsheet and upload it as a new import."));
  }
  if (committed && st.pending > 0) {
    content.push(h("div", { class: "toolbar" }, h("button", { type: "button", class: "danger", onclick: async () => {
      if (!confirm(`Delete all ${st.pending} rows still waiting for sign-up? This cannot be undone.`)) return;
      // A large import takes several requests: each answers with a cursor until done.
      let deleted = 0, cursor = null;
      try {
        do {
          const r = await api("DELETE", `/imports/${id}/pending-rows` + (cursor ? `?cursor=${encodeURIComponent(cursor)}` : ""));
          deleted += r.deleted;
          cursor = r.next_cursor || null;
          if (cursor) announce(`Deleting… ${deleted} pending rows deleted so far`);
        } while (cursor);
        announce(`${deleted} pending rows deleted`);
        importView(id, filter);
      }
      catch (e) { main.prepend(failed(e)); }
    } }, "Delete all pending rows")));
  }
  if (busy) {
    content.push(alertBox("info", "The rows are shown here once the run is over."));
  } else if (imp.status !== "failed") {
    const table = rowsTable(imp, page.rows, filter);
    content.push(table);
    if (page.next) content.push(moreRows(imp, query, filter, table, page.next));
  }
  render(imp.file_name, ...content);
}

// How far a run is: the label and bar, drawn again in place at each look.
function progressParts(imp) {
  const parts = [];
  if (imp.status === "validating" && imp.rows_in_file > 0) {
    parts.push(h("p", {}, h("label", { for: "progress" }, `Checking: ${imp.rows_validated} of ${imp.rows_in_file} rows`)),
      h("progress", { id: "progress", max: String(imp.rows_in_file), value: String(imp.rows_validated) }));
  }
  if (imp.status === "importing") {
    parts.push(h("p", {}, h("label", { for: "progress" }, `Importing: ${imp.rows_committed} of ${imp.rows_total} rows`)),
      h("progress", { id: "progress", max: String(imp.rows_total || 1), value: String(imp.rows_committed) }));
  }
  parts.push(alertBox("info", imp.status === "importing" ? "Importing… this page updates by itself." : "Checking the file… this page updates by itself."));
  return parts;
}

// While a run goes on: only the summary is asked for, a little less often each time (1 s,
// then up to every 5 s), and only the progress is drawn again; focus stays where the
// admin left it. When the run is over the import is drawn once, with its rows.
// The run's view is the one shown as long as its progress box is in the page.
function watchRun(id, filter, box, delay) {
  poller = setTimeout(async () => {
    if (!box.isConnected) return;
    let imp;
    try { imp = (await api("GET", `/imports/${id}`)).import; }
    catch { if (box.isConnected) watchRun(id, filter, box, Math.min(delay * 2, 10000)); return; }
    if (!box.isConnected) return;
    if (BUSY.includes(imp.status)) {
      box.replaceChildren(...progressParts(imp));
      return watchRun(id, filter, box, Math.min(Math.round(delay * 1.5), 5000));
    }
    announce({ imported: "The import is finished", validated: "The file is checked", failed: "The import failed" }[imp.status] || "The import is " + imp.status);
    importView(id, filter);
  }, delay);
}

const ROLE_LABELS = { email: "Email", phone: "Phone number", employee_id: "Employee ID", full_name: "Full name", first_name: "First name", last_name: "Last name", training: "Training", completion_date: "Completion date" };

// What the validation found out about the file, and (before the import) a way to read
// it otherwise: another date order or country, or another column mapping.
function detectedPanel(imp) {
  if (!imp.encoding && !imp.date_order) return null;
  const orders = { dmy: "day first (31/03/2024)", mdy: "month first (03/31/2024)", undecided: "not settled by the file" };
  const set = imp.options.date_format && imp.options.date_format !== "auto";
  const columns = imp.options.columns && Object.keys(imp.options.columns).length
    ? Object.entries(imp.options.columns).map(([r, c]) => `${ROLE_LABELS[r] || r}: ${c}`).join(", ") + " (your mapping)"
    : "found by their headers";
  const items = [
    ["Encoding", imp.encoding || "not known"],
    ["Delimiter", imp.delimiter === "tab" ? "tab" : imp.delimiter ? `“${imp.delimiter}”` : "not known"],
    ["Dates", (orders[imp.date_order] || "not known") + (set ? " (as you chose)" : " (from the file)")],
    ["Default country", imp.options.default_country || "none"],
    ["Ignored columns", imp.ignored_columns.length ? imp.ignored_columns.join(", ") : "none"],
    ["Columns", columns],
  ];
  const panel = h("section", { class: "detected-panel", "aria-labelledby": "detected-title" },
    h("h2", { id: "detected-title" }, "How the file was read"),
    h("dl", { class: "detected" }, items.flatMap(([k, v]) => [h("dt", {}, k), h("dd", {}, v)])));
  if (imp.status === "validated") panel.append(readOtherwise(imp));
  return panel;
}

function readOtherwise(imp) {
  const order = h("select", { id: "again-date-format" },
    h("option", { value: "auto", selected: !imp.options.date_format || imp.options.date_format === "auto" }, "Decide from the file"),
    h("option", { value: "dmy", selected: imp.options.date_format === "dmy" }, "Day first (31/03/2024)"),
    h("option", { value: "mdy", selected: imp.options.date_format === "mdy" }, "Month first (03/31/2024)"));
  const country = h("input", { type: "text", id: "again-country", maxlength: "2", placeholder: "US", autocomplete: "off", value: imp.options.default_country || null });
  const problem = h("div");
  const again = h("button", { type: "button", onclick: async () => {
    again.disabled = true;
    try { await validateAgain(imp, { date_format: order.value === "auto" ? undefined : order.value, default_country: country.value.trim() || undefined, columns: imp.options.columns }); }
    catch (e) { again.disabled = false; problem.replaceChildren(failed(e)); }
  } }, "Validate again");
  return h("details", { class: "read-otherwise" },
    h("summary", {}, "Read the file otherwise"),
    h("p", {}, "A new validation of the same file; this one stays as it is."),
    h("p", {}, h("label", { for: "again-date-format" }, "Dates"), order),
    h("p", {}, h("label", { for: "again-country" }, "Default country for phone numbers (ISO code, e.g. US, GB)"), country),
    h("div", { class: "toolbar" }, again, h("a", { class: "button secondary", href: `#/imports/${imp.import_id}/mapping` }, "Change the column mapping")),
    problem);
}

// A new import of the same file with other options; the page goes to it.
async function validateAgain(imp, options) {
  const body = { method: imp.method, from_import: imp.import_id, file_name: imp.file_name };
  for (const [k, v] of Object.entries(options)) if (v !== undefined && v !== null) body[k] = v;
  const created = await api("POST", "/imports", body);
  announce("Validating the file again");
  location.hash = "#/imports/" + created.import.import_id;
}

// The columns an import method needs, as roles.
function missingRoles(method, chosen) {
  const need = { email: ["email"], phone: ["phone"], hris: ["employee_id"], name: [] }[method].concat(["training", "completion_date"]);
  const missing = need.filter((r) => !chosen.includes(r));
  if (method === "name" && !chosen.includes("full_name") && !(chosen.includes("first_name") && chosen.includes("last_name"))) missing.unshift("full_name");
  return missing;
}

// Mapping the file's columns: its header row with the first values of each column, and
// for each what it holds (or nothing). Offered first: the mapping given last for a file
// with the same headers, else the one this import had, else what the headers said.
async function mappingView(id) {
  const render = view();
  stopPolling();
  let imp, shown;
  try {
    imp = (await api("GET", `/imports/${id}`)).import;
    shown = await api("GET", `/imports/${id}/preview`);
  } catch (e) { return render("Match the columns", h("p", {}, h("a", { href: `#/imports/${id}` }, "← The import")), failed(e)); }
  const pv = shown.preview;
  const start = shown.remembered_columns || imp.options.columns || shown.detected_columns || {};
  const roleOf = {};
  for (const [role, header] of Object.entries(start)) roleOf[header] = role;
  const selects = pv.headers.map((header, i) => h("select", { id: `map-${i}`, "data-header": header },
    h("option", { value: "" }, "Nothing: ignore it"),
    shown.roles.map((r) => h("option", { value: r, selected: roleOf[header] === r }, ROLE_LABELS[r] || r))));
  const rows = pv.headers.map((header, i) => h("tr", {},
    h("th", { scope: "row" }, header || `Column ${i + 1}`),
    h("td", {}, h("ul", { class: "samples" }, pv.samples.map((s) => h("li", {}, s[i] || "(empty)")))),
    h("td", {}, h("label", { for: `map-${i}`, class: "visually-hidden" }, `What the column ${header || i + 1} holds`), selects[i])));
  const problem = h("div");
  const go = h("button", { type: "button", onclick: async () => {
    problem.replaceChildren();
    const columns = {};
    const twice = [];
    selects.forEach((s) => { if (!s.value) return; if (columns[s.value]) twice.push(ROLE_LABELS[s.value]); columns[s.value] = s.dataset.header; });
    if (twice.length) return problem.replaceChildren(alertBox("error", `${twice.join(", ")} is chosen for more than one column: choose one column for it.`));
    const missing = missingRoles(imp.method, Object.keys(columns));
    if (missing.length) return problem.replaceChildren(alertBox("error", `Choose the column that holds: ${missing.map((r) => ROLE_LABELS[r]).join(", ")}.`));
    go.disabled = true;
    try { await validateAgain(imp, { columns, date_format: imp.options.date_format, default_country: imp.options.default_country }); }
    catch (e) { go.disabled = false; problem.replaceChildren(failed(e)); }
  } }, "Validate with these columns");
  render("Match the columns",
    h("p", {}, h("a", { href: `#/imports/${id}` }, "← The import")),
    h("p", {}, `For each column of ${imp.file_name}, say what it holds. Matched by ${METHODS[imp.method].label}: the file needs `,
      missingRoles(imp.method, []).map((r) => ROLE_LABELS[r]).join(", ").replace("Full name", "a full name (or first and last name)"), "."),
    shown.remembered_columns ? alertBox("info", "These are the columns you chose last for a file with these headers.") : null,
    h("p", {}, `Read as ${pv.encoding}, delimiter ${pv.delimiter === "tab" ? "tab" : "“" + pv.delimiter + "”"}; ${pv.samples.length === 1 ? "its first row" : `its first ${pv.samples.length} rows`} shown.`),
    h("div", { class: "table-wrap" }, h("table", { class: "mapping" },
      h("caption", { class: "visually-hidden" }, "The file's columns"),
      h("thead", {}, h("tr", {}, ["Column", "First values", "Holds"].map((c) => h("th", { scope: "col" }, c)))),
      h("tbody", {}, rows))),
    problem,
    h("div", { class: "toolbar" }, go));
}

// "Show more rows": the next page, added under the rows shown.
function moreRows(imp, query, filter, table, cursor) {
  const more = h("button", { type: "button", class: "secondary", onclick: async () => {
    more.disabled = true;
    try {
      const page = await rowsPage(imp.import_id, query, cursor);
      let tbody = table.querySelector("tbody");
      if (!tbody) {
        const fresh = rowsTable(imp, page.rows, filter);
        table.replaceWith(fresh);
        table = fresh;
      } else {
        const headers = rowHeaders(imp, page.rows);
        tbody.append(...page.rows.map((r) => rowLine(imp, r, filter, headers)));
      }
      announce(`${page.rows.length} more rows shown`);
      if (page.next) { cursor = page.next; more.disabled = false; } else more.remove();
    } catch (e) { more.disabled = false; more.after(failed(e)); }
  } }, "Show more rows");
  return h("div", { class: "toolbar" }, more);
}

function rowHeaders(imp, rows) {
  return imp.headers.length ? imp.headers : (rows[0] ? rows[0].cells.map((_, i) => `Column ${i + 1}`) : []);
}

function rowsTable(imp, rows, filter) {
  if (!rows.length) return alertBox("info", "No rows here.");
  const headers = rowHeaders(imp, rows);
  const body = rows.map((r) => rowLine(imp, r, filter, headers));
  return h("div", { class: "table-wrap" }, h("table", {},
    h("caption", { class: "visually-hidden" }, "Rows of the file"),
    h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "Line"), ...headers.map((c) => h("th", { scope: "col" }, c)), h("th", { scope: "col" }, "Result"), h("th", { scope: "col" }, "Actions"))),
    h("tbody", {}, body)));
}

function rowLine(imp, r, filter, headers) {
  const problems = r.issues.length ? h("ul", { class: r.outcome === "skipped" ? "warnings" : "problems" }, r.issues.map((i) => h("li", {}, (i.column ? `${i.column}: ` : "") + i.message))) : null;
  const warnings = (r.warnings || []).length ? h("ul", { class: "warnings" }, r.warnings.map((i) => h("li", {}, "Warning: " + i.message))) : null;
  const actions = h("div", { class: "row-actions" });
  if (imp.status === "validated" && r.outcome !== "ready") {
    actions.append(h("button", { type: "button", class: "secondary", "aria-label": `Fix row ${r.row}`, onclick: (e) => editRow(imp, r, e.target.closest("tr"), filter) }, "Fix"));
  }
  if (r.status === "pending") {
    actions.append(h("button", { type: "button", class: "danger", "aria-label": `Delete pending row ${r.row}`, onclick: async () => {
      if (!confirm(`Delete row ${r.row}, which waits for its person to sign up? This cannot be undone.`)) return;
      try { await api("DELETE", `/imports/${imp.import_id}/rows/${r.row}`); announce(`Row ${r.row} deleted`); importView(imp.import_id, filter); }
      catch (e) { main.prepend(failed(e)); }
    } }, "Delete"));
  }
  if (r.status === "applied") actions.append(h("span", {}, "Applied at sign-up on " + new Date(r.applied_at).toLocaleDateString()));
  const who = [r.fixed_by ? "Fixed by " + stampText(r.fixed_by) : null, r.deleted_by ? "Deleted by " + stampText(r.deleted_by) : null].filter(Boolean);
  if (who.length) actions.append(h("p", { class: "who" }, who.join(" · ")));
  const person = r.person_id && ["imported", "applied"].includes(r.status) ? h("a", { href: `#/people/${r.person_id}` }, "Completed tab") : null;
  return h("tr", { class: r.outcome === "error" ? "row-error" : null, "data-row": String(r.row) },
    h("th", { scope: "row" }, String(r.row)),
    ...headers.map((_, i) => h("td", {}, r.cells[i] || "")),
    h("td", {}, badge(r.status === "validated" ? r.outcome : r.status), problems, warnings, r.commit_note ? h("p", {}, r.commit_note) : null),
    h("td", {}, actions, person));
}

function editRow(imp, row, tr, filter) {
  const inputs = imp.headers.map((c, i) => h("input", { type: "text", class: "cell-edit", value: row.cells[i] || "", "aria-label": `${c}, row ${row.row}` }));
  const save = h("button", { type: "button", onclick: async () => {
    const cells = {};
    imp.headers.forEach((c, i) => { if (inputs[i].value !== (row.cells[i] || "")) cells[c] = inputs[i].value; });
    try {
      const r = await api("PATCH", `/imports/${imp.import_id}/rows/${row.row}`, { cells });
      announce(`Row ${row.row} checked again: ${r.row.outcome}`);
      importView(imp.import_id, filter);
    } catch (e) { tr.after(h("tr", {}, h("td", { colspan: String(imp.headers.length + 3) }, failed(e)))); }
  } }, "Save");
  const cancel = h("button", { type: "button", class: "secondary", onclick: () => importView(imp.import_id, filter) }, "Cancel");
  tr.replaceChildren(h("th", { scope: "row" }, String(row.row)), ...inputs.map((i) => h("td", {}, i)), h("td", {}, "Editing"), h("td", {}, h("div", { class: "row-actions" }, save, cancel)));
  inputs[0].focus();
}

async function downloadReport(id, fileName, waited = 0, renewed = false) {
  // JSON for a large import's report: a link to it, or word that it is being written.
  const headers = { accept: "application/json, text/csv" };
  if (token()) headers.authorization = "Bearer " + token();
  let resp;
  try { resp = await fetch(BASE + `/imports/${id}/error-report`, { headers }); } catch (e) { return announce("The error report could not be downloaded: " + e.message); }
  if (resp.status === 401) {
    // As for every call: renew the token once, else sign in.
    if (!renewed && token() && await renewToken()) return downloadReport(id, fileName, waited, true);
    return needSignIn();
  }
  const type = resp.headers.get("content-type") || "";
  if (resp.status === 202) {
    const r = await resp.json();
    if (waited > 600) return announce("The error report is taking long to write; try again in a few minutes.");
    announce(waited ? "Still writing the error report…" : "Writing the error report of a large import; it downloads by itself when ready.");
    const wait = (r.retry_after_seconds || 3) * 1000;
    return setTimeout(() => downloadReport(id, fileName, waited + wait / 1000), wait);
  }
  if (!resp.ok) {
    const r = type.includes("json") ? await resp.json() : {};
    return announce("The error report could not be downloaded: " + (r.detail || resp.status));
  }
  const href = type.includes("json") ? (await resp.json()).url : URL.createObjectURL(await resp.blob());
  const a = h("a", { href, download: fileName.replace(/\.csv$/i, "") + "-errors.csv" });
  document.body.append(a); a.click(); a.remove();
  announce("Error report downloaded");
}

// Who did something and when: "ana@acme.com on 2 Dec 2026, 10:04".
function stampText(st) {
  if (!st) return "";
  const when = new Date(st.at).toLocaleString(undefined, { day: "numeric", month: "short", year: "numeric", hour: "2-digit", minute: "2-digit" });
  return `${st.email || st.sub} on ${when}`;
}

// ---- join codes ---------------------------------------------------------------------------
async function joinCodesView(note) {
  const render = view();
  stopPolling();
  let data;
  try { data = await api("GET", "/join-codes"); } catch (e) { return render("Join codes", failed(e)); }
  const create = h("button", { type: "button", onclick: async () => {
    create.disabled = true;
    try { const r = await api("POST", "/join-codes"); joinCodesView(`New join code ${r.join_code.code}. Hand it to the people who should join.`); }
    catch (e) { create.disabled = false; main.append(failed(e)); }
  } }, "Create a join code");
  const rows = data.join_codes.map((c) => h("tr", {},
    h("td", {}, h("code", {}, c.code)),
    h("td", {}, c.active ? h("span", { class: "badge ready" }, "✔ active") : h("span", { class: "badge deleted" }, "− revoked")),
    h("td", {}, h("div", {}, "Created by " + stampText(c.created)), c.revoked ? h("div", {}, "Revoked by " + stampText(c.revoked)) : null),
    h("td", {}, c.active ? h("button", { type: "button", class: "danger", "aria-label": `Revoke join code ${c.code}`, onclick: async () => {
      if (!confirm(`Revoke join code ${c.code}? Nobody can sign up with it any more; people who already did stay.`)) return;
      try { await api("DELETE", `/join-codes/${c.code}`); joinCodesView(`Join code ${c.code} is revoked.`); } catch (e) { main.append(failed(e)); }
    } }, "Revoke") : null)));
  render("Join codes",
    h("p", {}, h("a", { href: "#/", onclick: goBack }, "← Back")),
    h("p", {}, "People sign themselves up with a join code of your organisation and confirm their email or phone with the code they are sent. Their pending completions are applied then. Revoke a code that has leaked."),
    note ? alertBox("info", note) : null,
    h("div", { class: "toolbar" }, create),
    rows.length ? h("div", { class: "table-wrap" }, h("table", {},
      h("caption", { class: "visually-hidden" }, "Join codes, newest first"),
      h("thead", {}, h("tr", {}, ["Code", "State", "History", ""].map((t) => h("th", { scope: "col" }, t)))),
      h("tbody", {}, rows)))
      : alertBox("info", "No join codes yet: only people you invite can sign up."));
  if (note) announce(note);
}

// ---- a person -----------------------------------------------------------------------------
async function personView(id) {
  const render = view();
  stopPolling();
  let data;
  try { data = await api("GET", `/people/${id}/completions`); } catch (e) { return render("Person", failed(e)); }
  const p = data.person;
  const name = p.name || p.email || p.phone || p.employee_id || p.person_id;
  render(name,
    h("p", {}, h("a", { href: "#/", onclick: goBack }, "← Back")),
    h("nav", { "aria-label": "Profile" }, h("span", { class: "tab", "aria-current": "page" }, "Completed")),
    data.completions.length ? h("div", { class: "table-wrap" }, h("table", {},
      h("caption", { class: "visually-hidden" }, "Completed trainings"),
      h("thead", {}, h("tr", {}, ["Training", "Completed on", "Source"].map((t) => h("th", { scope: "col" }, t)))),
      h("tbody", {}, data.completions.map((c) => h("tr", {}, h("td", {}, c.training_title), h("td", {}, c.completed_on), h("td", {}, h("a", { href: `#/imports/${c.source_import}` }, "Imported")))))))
      : alertBox("info", "No completed trainings yet."));
}

// ---- signing in ---------------------------------------------------------------------------
// Deployed, every API call needs the Cognito ID token of an admin. The page signs in with
// the user pool's app client straight from the browser (GET /sign-in.json says which):
// InitiateAuth with USER_PASSWORD_AUTH, a new password at the first sign-in
// (NEW_PASSWORD_REQUIRED), and the refresh token to renew the ID token when it expires.
// Tokens live in sessionStorage: closing the tab signs out.
let signInSettings = null;
function signInConfig() {
  if (!signInSettings) {
    signInSettings = fetch(BASE + "/sign-in.json").then((r) => (r.ok ? r.json() : { sign_in: null })).then((d) => d.sign_in).catch(() => { signInSettings = null; return null; });
  }
  return signInSettings;
}

async function cognito(action, body) {
  const config = await signInConfig();
  if (!config) throw new Error("This page has no sign-in set up: the API was deployed without a user pool client (USER_POOL_CLIENT_ID).");
  let resp;
  try {
    resp = await fetch(config.endpoint, { method: "POST", headers: { "content-type": "application/x-amz-json-1.1", "x-amz-target": "AWSCognitoIdentityProviderService." + action }, body: JSON.stringify({ ClientId: config.client_id, ...body }) });
  } catch (e) {
    throw new Error("The sign-in service did not answer (" + e.message + "). Check the connection and try again.");
  }
  const data = await resp.json().catch(() => ({}));
  if (!resp.ok) throw new Error(signInProblem(action, String(data.__type || data.code || "").split("#").pop(), data.message || ""));
  return data;
}

function signInProblem(action, type, detail) {
  if (type === "NotAuthorizedException" && /disabled|expired|session/i.test(detail)) return detail + " Sign in again, or ask an administrator of your organisation.";
  // Signing in, any of these means the address or the password is wrong (Cognito says
  // NotAuthorized; some local emulators say InvalidPassword).
  if (action === "InitiateAuth" && ["NotAuthorizedException", "UserNotFoundException", "InvalidPasswordException"].includes(type)) {
    return "The email, phone number or password is not right. Check them and try again.";
  }
  switch (type) {
    case "UserNotConfirmedException": return "This account is not confirmed yet. Confirm it from the message you were sent, then sign in.";
    case "PasswordResetRequiredException": return "Your password must be reset first: choose \"Forgot your password?\" and use the code you were sent.";
    case "CodeMismatchException": return "That code is not the one sent. Check it and try again.";
    case "ExpiredCodeException": return "That code has expired. Ask for a new one.";
    case "InvalidPasswordException": return "That password cannot be used: " + detail;
    case "InvalidParameterException": return "Something in the form cannot be used: " + detail + " Phone numbers are written with + and the country code.";
    case "TooManyRequestsException":
    case "LimitExceededException": return "Too many attempts. Wait a minute, then try again.";
    default: return "Signing in failed: " + (detail || type || "no answer") + ".";
  }
}

function claimsOf(jwt) {
  try {
    const part = atob(jwt.split(".")[1].replace(/-/g, "+").replace(/_/g, "/"));
    return JSON.parse(new TextDecoder().decode(Uint8Array.from(part, (c) => c.charCodeAt(0))));
  } catch { return {}; }
}

function keepTokens(result) {
  sessionStorage.setItem("token", result.IdToken);
  if (result.RefreshToken) sessionStorage.setItem("refresh", result.RefreshToken);
  renderAccount();
}

async function renewToken() {
  const refresh = sessionStorage.getItem("refresh");
  if (!refresh) return false;
  try {
    const r = await cognito("InitiateAuth", { AuthFlow: "REFRESH_TOKEN_AUTH", AuthParameters: { REFRESH_TOKEN: refresh } });
    if (!r.AuthenticationResult) return false;
    keepTokens(r.AuthenticationResult);
    return true;
  } catch { return false; }
}

function signOut(note) {
  sessionStorage.removeItem("token");
  sessionStorage.removeItem("refresh");
  renderAccount();
  signInView(note);
}

function needSignIn() {
  sessionStorage.removeItem("token");
  sessionStorage.removeItem("refresh");
  renderAccount();
  if (!location.hash.startsWith("#/sign-in")) {
    sessionStorage.setItem("after-sign-in", location.hash || "#/");
    location.hash = "#/sign-in";
  }
}

function signedIn(result) {
  keepTokens(result);
  const back = sessionStorage.getItem("after-sign-in") || "#/";
  sessionStorage.removeItem("after-sign-in");
  announce("Signed in");
  if (location.hash === back) route(); else location.hash = back;
}

function signInForm(fields, submitLabel, run) {
  const problem = h("div", { class: "sign-in-problem" });
  const button = h("button", { type: "submit" }, submitLabel);
  const form = h("form", { class: "sign-in", onsubmit: async (ev) => {
    ev.preventDefault();
    button.disabled = true;
    problem.replaceChildren();
    try { await run(); } catch (e) { problem.replaceChildren(alertBox("error", e.message)); button.disabled = false; }
  } }, ...fields.map(([label, input]) => h("p", {}, h("label", { for: input.id }, label), input)), button, problem);
  return form;
}

function signInView(note) {
  stopPolling();
  const user = h("input", { id: "sign-in-user", type: "text", autocomplete: "username", required: true, spellcheck: "false", autocapitalize: "none" });
  const password = h("input", { id: "sign-in-password", type: "password", autocomplete: "current-password", required: true });
  const form = signInForm([["Email or phone number (with + and country code)", user], ["Password", password]], "Sign in", async () => {
    const username = user.value.trim();
    const r = await cognito("InitiateAuth", { AuthFlow: "USER_PASSWORD_AUTH", AuthParameters: { USERNAME: username, PASSWORD: password.value } });
    if (r.ChallengeName === "NEW_PASSWORD_REQUIRED") return newPasswordView(username, r.Session);
    if (!r.AuthenticationResult) throw new Error("Signing in asks for a step this page does not offer (" + r.ChallengeName + "). Ask an administrator of your organisation.");
    signedIn(r.AuthenticationResult);
  });
  const forgot = h("button", { type: "button", class: "link", onclick: () => resetView(user.value.trim()) }, "Forgot your password?");
  show("Sign in", note ? alertBox("info", note) : null, h("p", {}, "Sign in with the account your organisation gave you as an admin."), form, h("p", {}, forgot));
  user.focus();
}

// A forgotten password, or one an administrator reset: Cognito sends a code (by email or
// text message) that sets a new password.
function resetView(username) {
  const user = h("input", { id: "reset-user", type: "text", autocomplete: "username", required: true, spellcheck: "false", autocapitalize: "none", value: username || null });
  const send = signInForm([["Email or phone number (with + and country code)", user]], "Send me a code", async () => {
    const r = await cognito("ForgotPassword", { Username: user.value.trim() });
    const to = r.CodeDeliveryDetails && r.CodeDeliveryDetails.Destination;
    newPasswordWithCodeView(user.value.trim(), to ? "A code was sent to " + to + "." : "A code was sent, if the account exists.");
  });
  const have = h("button", { type: "button", class: "link", onclick: () => newPasswordWithCodeView(user.value.trim(), null) }, "I already have a code");
  show("Reset your password", h("p", {}, "We send a code to the email address or phone number of your account."), send, h("p", {}, have, " · ", h("a", { href: "#/sign-in", onclick: (e) => { e.preventDefault(); signInView(); } }, "Back to sign in")));
  user.focus();
}

function newPasswordWithCodeView(username, note) {
  const user = h("input", { id: "code-user", type: "text", autocomplete: "username", required: true, spellcheck: "false", autocapitalize: "none", value: username || null });
  const code = h("input", { id: "reset-code", type: "text", inputmode: "numeric", autocomplete: "one-time-code", required: true });
  const password = h("input", { id: "reset-password", type: "password", autocomplete: "new-password", required: true });
  const again = h("input", { id: "reset-password-again", type: "password", autocomplete: "new-password", required: true });
  const form = signInForm([["Email or phone number (with + and country code)", user], ["Code", code], ["New password", password], ["New password again", again]], "Set new password", async () => {
    if (password.value !== again.value) throw new Error("The two passwords are not the same. Type the new password twice.");
    await cognito("ConfirmForgotPassword", { Username: user.value.trim(), ConfirmationCode: code.value.trim(), Password: password.value });
    signInView("Your password is changed. Sign in with it.");
  });
  show("Set a new password", note ? alertBox("info", note) : null, form);
  (username ? code : user).focus();
}

function newPasswordView(username, session) {
  const password = h("input", { id: "new-password", type: "password", autocomplete: "new-password", required: true });
  const again = h("input", { id: "new-password-again", type: "password", autocomplete: "new-password", required: true });
  const form = signInForm([["New password", password], ["New password again", again]], "Set password and sign in", async () => {
    if (password.value !== again.value) throw new Error("The two passwords are not the same. Type the new password twice.");
    const r = await cognito("RespondToAuthChallenge", { ChallengeName: "NEW_PASSWORD_REQUIRED", Session: session, ChallengeResponses: { USERNAME: username, NEW_PASSWORD: password.value } });
    if (!r.AuthenticationResult) throw new Error("Signing in asks for a step this page does not offer (" + r.ChallengeName + "). Ask an administrator of your organisation.");
    signedIn(r.AuthenticationResult);
  });
  show("Choose a new password", alertBox("info", "This is your first sign-in: choose the password you will use from now on."), form);
  password.focus();
}

// Who is signed in, and "Sign out", in the page's header.
async function renderAccount() {
  const box = document.getElementById("account");
  if (!box) return;
  const claims = token() ? claimsOf(token()) : null;
  if (claims) {
    const who = claims.email || claims.phone_number || claims["cognito:username"] || "an admin";
    return box.replaceChildren(h("span", {}, "Signed in as " + who + " "), h("button", { type: "button", class: "link", onclick: () => signOut("You are signed out.") }, "Sign out"));
  }
  box.replaceChildren(...((await signInConfig()) ? [h("a", { href: "#/sign-in" }, "Sign in")] : []));
}

// ---- routing ------------------------------------------------------------------------------
function route() {
  dropTokenFromAddress();
  stopPolling();
  const parts = location.hash.replace(/^#\/?/, "").split("/").filter(Boolean);
  if (parts[0] === "sign-in") return signInView();
  if (parts[0] === "new") return newView();
  if (parts[0] === "imports" && parts[1] && parts[2] === "mapping") return mappingView(parts[1]);
  if (parts[0] === "imports" && parts[1]) return importView(parts[1], parts[2]);
  if (parts[0] === "people" && parts[1]) return personView(parts[1]);
  if (parts[0] === "join-codes") return joinCodesView();
  return listView();
}
window.addEventListener("hashchange", route);
renderAccount();
route();
