// anime-tf's page: pick photos, upload them as one batch, follow each job, download the results.
// Plain JavaScript, no build step. Batches are remembered in localStorage so a reload keeps them.
"use strict";

const $ = (selector, root = document) => root.querySelector(selector);
const STORE_KEY = "anime-tf-batches";
const PREVIEW_SIDE = 160;
const state = { config: null, pending: [], previews: new Map() };

function sizeLabel(side) {
  return side ? `At most ${side} px` : "Photo's own size";
}

function setMessage(text, isError = false) {
  const message = $("#message");
  message.textContent = text;
  message.classList.toggle("error", isError);
}

async function errorText(response) {
  try {
    const body = await response.json();
    return typeof body.detail === "string" ? body.detail : JSON.stringify(body.detail);
  } catch {
    return `${response.status} ${response.statusText}`;
  }
}

// ---- cards ------------------------------------------------------------------------------

function newCard(name, thumbnail) {
  const card = $("#job-template").content.firstElementChild.cloneNode(true);
  $(".name", card).textContent = name;
  $(".name", card).title = name;
  if (thumbnail) $(".before", card).src = thumbnail;
  $(".before", card).alt = `${name} (original)`;
  $(".after", card).alt = `${name} in anime style`;
  const slider = $(".slider", card);
  slider.setAttribute("aria-label", `Before and after: ${name}`);
  slider.addEventListener("input", () => card.style.setProperty("--split", `${slider.value}%`));
  setCardState(card, { state: "ready" });
  return card;
}

function stateText(job) {
  switch (job.state) {
    case "ready": return "Ready";
    case "uploading": return "Uploading…";
    case "queued": return job.queue_position ? `Queued, ${ordinal(job.queue_position)} in line` : "Queued";
    case "running": return job.stage ? `Running: ${job.stage}` : "Running…";
    case "done": return job.cached ? "Done (from cache)" : "Done";
    case "failed": return `Failed: ${job.error || "unknown error"}`;
    default: return job.state;
  }
}

function ordinal(n) {
  const suffix = n % 100 >= 11 && n % 100 <= 13 ? "th" : ["th", "st", "nd", "rd"][n % 10] || "th";
  return `${n}${suffix}`;
}

function setCardState(card, job) {
  card.dataset.state = job.state;
  $(".state", card).textContent = stateText(job);
  const progress = $("progress", card);
  progress.hidden = job.state !== "running";
  if (job.progress) progress.value = job.progress;
  else progress.removeAttribute("value");  // indeterminate until tiles or faces are counted
  $(".badge", card).textContent = job.state === "done" ? (job.cached ? "cached" : "") : "";
  if (job.state === "done" && job.result_url) {
    const after = $(".after", card);
    if (after.getAttribute("src") !== job.result_url) after.src = job.result_url;
    const link = $(".download", card);
    link.href = `${job.result_url}?download=1`;
    link.hidden = false;
    link.setAttribute("aria-label", `Download ${job.name}`);
    $(".slider", card).hidden = !$(".before", card).getAttribute("src");
    if (!$(".before", card).getAttribute("src")) $(".before", card).hidden = true;
  }
}

// ---- batches ----------------------------------------------------------------------------

function rememberedBatches() {
  try { return JSON.parse(localStorage.getItem(STORE_KEY)) || []; } catch { return []; }
}

function remember(batchId, forget = false) {
  const ids = rememberedBatches().filter((id) => id !== batchId);
  if (!forget) ids.unshift(batchId);
  localStorage.setItem(STORE_KEY, JSON.stringify(ids.slice(0, 20)));
}

function newBatchSection(title) {
  const section = $("#batch-template").content.firstElementChild.cloneNode(true);
  $("h2", section).textContent = title;
  $("#batches").prepend(section);
  return section;
}

function followBatch(batchId, section, cards) {
  const link = $(".download-all", section);
  link.href = `/api/batches/${batchId}.zip`;
  const title = $("h2", section).textContent;
  const summary = () => {
    const states = [...cards.values()].map((card) => card.dataset.state);
    const done = states.filter((s) => s === "done").length;
    const failed = states.filter((s) => s === "failed").length;
    link.hidden = done === 0;
    link.textContent = `Download all (${done} in a zip)`;
    $("h2", section).textContent =
      `${title}: ${done} of ${states.length} done${failed ? `, ${failed} failed` : ""}`;
  };
  summary();
  const source = new EventSource(`/api/batches/${batchId}/events`);
  source.addEventListener("status", (event) => {
    const job = JSON.parse(event.data);
    const card = cards.get(job.id);
    if (card) setCardState(card, job);
    summary();
  });
  source.addEventListener("end", () => source.close());
  source.onerror = () => {
    if (source.readyState === EventSource.CLOSED) setMessage("Lost contact with the server; reload to see your results.", true);
  };
}

async function restoreBatches() {
  for (const batchId of rememberedBatches().reverse()) {
    const response = await fetch(`/api/batches/${batchId}`);
    if (!response.ok) { remember(batchId, true); continue; }
    const batch = await response.json();
    const section = newBatchSection(batchTitle(batch.jobs[0], batch.jobs.length));
    const cards = new Map();
    for (const job of batch.jobs) {
      const card = newCard(job.name, null);
      setCardState(card, job);
      cards.set(job.id, card);
      $(".cards", section).append(card);
    }
    followBatch(batchId, section, cards);
  }
}

function batchTitle(job, count) {
  const style = job ? job.style : "";
  return `${count} photo${count === 1 ? "" : "s"}, ${style}`;
}

// ---- choosing photos and starting -------------------------------------------------------

function choose(files) {
  const images = [...files];
  if (!images.length) return;
  for (const item of state.pending) URL.revokeObjectURL(item.url);
  state.pending = images.map((file) => ({ file, url: URL.createObjectURL(file) }));
  const pending = $("#pending");
  pending.replaceChildren(...state.pending.map((item) => (item.card = newCard(item.file.name, item.url))));
  $("#start").disabled = false;
  setMessage(`${images.length} photo${images.length === 1 ? "" : "s"} ready. Press Start.`);
  makePreviews(images[0]);
}

function chunksUnderLimit(items, maxBytes) {
  const chunks = [[]];
  let size = 0;
  for (const item of items) {
    if (size + item.file.size > maxBytes * 0.95 && chunks.at(-1).length) { chunks.push([]); size = 0; }
    chunks.at(-1).push(item);
    size += item.file.size;
  }
  return chunks;
}

async function start() {
  if (!state.pending.length) return;
  const items = state.pending;
  state.pending = [];
  $("#start").disabled = true;
  const options = { style: $("#style").value, faces: $("#faces").checked, max_side: $("#size").value };
  const section = newBatchSection(`${items.length} photo${items.length === 1 ? "" : "s"}, ${options.style}`);
  const cards = new Map();
  for (const item of items) {
    $(".cards", section).append(item.card);
    setCardState(item.card, { state: "uploading" });
  }
  $("#pending").replaceChildren();
  let batchId = null;
  const limit = state.config.max_upload_mb * 1e6;
  for (const chunk of chunksUnderLimit(items, limit)) {
    const form = new FormData();
    for (const item of chunk) form.append("files", item.file, item.file.name);
    form.append("style", options.style);
    form.append("faces", options.faces ? "true" : "false");
    if (options.max_side) form.append("max_side", options.max_side);
    if (batchId) form.append("batch", batchId);
    const response = await fetch("/api/jobs", { method: "POST", body: form });
    if (!response.ok) {
      const reason = await errorText(response);
      const wait = response.headers.get("Retry-After");
      for (const item of chunk) setCardState(item.card, { state: "failed", error: reason });
      setMessage(wait ? `${reason} (about ${wait} s)` : reason, true);
      continue;
    }
    const answer = await response.json();
    batchId = answer.batch;
    answer.jobs.forEach((job, i) => {
      cards.set(job.id, chunk[i].card);
      setCardState(chunk[i].card, job);
    });
  }
  if (batchId) {
    remember(batchId);
    followBatch(batchId, section, cards);
    setMessage("Uploaded. Results appear as they finish; drag the slider on a result to compare.");
  }
  (section.querySelector(".job") || section).focus?.();
}

// ---- style previews of the first photo ------------------------------------------------

async function smallCopy(file) {
  const bitmap = await createImageBitmap(file);
  const scale = Math.min(1, PREVIEW_SIDE / Math.max(bitmap.width, bitmap.height));
  const canvas = document.createElement("canvas");
  canvas.width = Math.max(1, Math.round(bitmap.width * scale));
  canvas.height = Math.max(1, Math.round(bitmap.height * scale));
  canvas.getContext("2d").drawImage(bitmap, 0, 0, canvas.width, canvas.height);
  return new Promise((resolve) => canvas.toBlob(resolve, "image/png"));
}

async function makePreviews(file) {
  let blob;
  try { blob = await smallCopy(file); } catch { return; }  // the server will judge the file itself
  for (const button of $("#previews").children) {
    const form = new FormData();
    form.append("files", blob, "preview.png");
    form.append("style", button.dataset.style);
    const response = await fetch("/api/jobs", { method: "POST", body: form });
    if (!response.ok) continue;
    const job = (await response.json()).jobs[0];
    waitForPreview(job, button);
  }
}

async function waitForPreview(job, button) {
  for (let tries = 0; tries < 240 && (job.state === "queued" || job.state === "running"); tries++) {
    await new Promise((resolve) => setTimeout(resolve, 500));
    const response = await fetch(`/api/jobs/${job.id}`);
    if (!response.ok) return;
    job = await response.json();
  }
  if (job.state !== "done") return;
  const image = document.createElement("img");
  image.src = job.result_url;
  image.alt = "";
  $(".placeholder, img", button).replaceWith(image);
}

function selectStyle(name) {
  $("#style").value = name;
  for (const button of $("#previews").children) button.setAttribute("aria-pressed", String(button.dataset.style === name));
}

// ---- set-up -----------------------------------------------------------------------------

async function init() {
  const response = await fetch("/api/styles");
  state.config = await response.json();
  const styleSelect = $("#style");
  for (const style of state.config.styles) {
    styleSelect.add(new Option(style.name, style.name, style.default, style.default));
    const button = document.createElement("button");
    button.type = "button";
    button.className = "preview";
    button.dataset.style = style.name;
    button.setAttribute("aria-label", `Use the ${style.name} style`);
    const placeholder = document.createElement("span");
    placeholder.className = "placeholder";
    button.append(placeholder, document.createTextNode(style.name));
    button.addEventListener("click", () => selectStyle(style.name));
    $("#previews").append(button);
  }
  selectStyle(styleSelect.value);
  styleSelect.addEventListener("change", () => selectStyle(styleSelect.value));
  for (const side of state.config.sizes) $("#size").add(new Option(sizeLabel(side), side ?? ""));
  $("#size").value = "1024";
  if (!state.config.faces) {
    $("#faces").disabled = true;
    $("#faces-row").classList.add("unavailable");
    $("#faces-row small").textContent = "not offered by this server";
  }
  $("#limits").textContent = `JPEG, PNG, WebP, GIF, BMP or TIFF; up to ${state.config.max_files} at a time, ` +
    `${state.config.max_upload_mb} MB per upload`;

  const drop = $("#drop");
  $("#files").addEventListener("change", (event) => { choose(event.target.files); event.target.value = ""; });
  drop.addEventListener("dragover", (event) => { event.preventDefault(); drop.classList.add("over"); });
  drop.addEventListener("dragleave", () => drop.classList.remove("over"));
  drop.addEventListener("drop", (event) => {
    event.preventDefault();
    drop.classList.remove("over");
    choose(event.dataTransfer.files);
  });
  $("#start").addEventListener("click", start);
  await restoreBatches();
}

document.addEventListener("DOMContentLoaded", () => init().catch((err) => setMessage(`Cannot reach the server: ${err}`, true)));
