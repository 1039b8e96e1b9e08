// anime-tf on the user's own device: the same page as `anime-tf serve`, with the model run here.
// Plain JavaScript modules, no build step, no request but GETs of this site's own files.
import { loadModel, stylizeBitmap } from "./stylize.js";
import { zipBlobs } from "./zip.js";

const $ = (selector, root = document) => root.querySelector(selector);
const SIZES = [512, 1024, 2048, null];
const state = { model: null, pending: [], busy: false };

function setMessage(text, isError = false) {
  $("#message").textContent = text;
  $("#message").classList.toggle("error", isError);
}

function plural(n, word) {
  return `${n} ${word}${n === 1 ? "" : "s"}`;
}

function newCard(file) {
  const card = $("#job-template").content.firstElementChild.cloneNode(true);
  const url = URL.createObjectURL(file);
  $(".name", card).textContent = $(".name", card).title = file.name;
  $(".before", card).src = url;
  $(".before", card).alt = `${file.name} (original)`;
  $(".after", card).alt = `${file.name} in anime style`;
  const slider = $(".slider", card);
  slider.setAttribute("aria-label", `Before and after: ${file.name}`);
  slider.addEventListener("input", () => card.style.setProperty("--split", `${slider.value}%`));
  setCardState(card, "ready", "Ready");
  return card;
}

function setCardState(card, cardState, text, progress) {
  card.dataset.state = cardState;
  $(".state", card).textContent = text;
  const bar = $("progress", card);
  bar.hidden = cardState !== "running";
  if (progress) bar.value = progress; else bar.removeAttribute("value");
}

function resultName(name) {
  return `${name.replace(/\.[^.]+$/, "") || name}.png`;
}

function choose(files) {
  const images = [...files];
  if (!images.length) return;
  state.pending = images.map((file) => ({ file, card: newCard(file) }));
  $("#pending").replaceChildren(...state.pending.map((item) => item.card));
  $("#start").disabled = !state.model || state.busy;
  setMessage(`${plural(images.length, "photo")} ready. Press Start.`);
}

async function stylizeOne(item, maxSide) {
  const { file, card } = item;
  setCardState(card, "running", "Running…");
  let bitmap;
  try {
    bitmap = await createImageBitmap(file, { imageOrientation: "from-image" });
  } catch {
    setCardState(card, "failed", "Failed: not an image this browser can open");
    return null;
  }
  try {
    const started = performance.now();
    const image = await stylizeBitmap(state.model, bitmap, {
      maxSide, onProgress: (done, stage) => setCardState(card, "running", `Running: ${stage}`, done),
    });
    const canvas = new OffscreenCanvas(image.width, image.height);
    canvas.getContext("2d").putImageData(image, 0, 0);
    const blob = await canvas.convertToBlob({ type: "image/png" });
    const url = URL.createObjectURL(blob);
    $(".after", card).src = url;
    const link = $(".download", card);
    link.href = url;
    link.download = resultName(file.name);
    link.hidden = false;
    link.setAttribute("aria-label", `Download ${file.name}`);
    $(".slider", card).hidden = false;
    card.dataset.width = image.width;
    card.dataset.height = image.height;
    setCardState(card, "done", `Done in ${((performance.now() - started) / 1000).toFixed(1)} s`);
    return { name: resultName(file.name), blob };
  } catch (err) {
    setCardState(card, "failed", `Failed: ${err.message || err}`);
    return null;
  } finally {
    bitmap.close();
  }
}

function uniqueNames(results) {
  const seen = new Map();
  return results.map(({ name, blob }) => {
    const count = seen.get(name) || 0;
    seen.set(name, count + 1);
    return { name: count ? name.replace(/\.png$/, `-${count + 1}.png`) : name, blob };
  });
}

async function start() {
  if (!state.pending.length || state.busy) return;
  const items = state.pending;
  state.pending = [];
  state.busy = true;
  $("#start").disabled = true;
  const maxSide = Number($("#size").value) || null;
  const section = $("#batch-template").content.firstElementChild.cloneNode(true);
  $("h2", section).textContent = `${plural(items.length, "photo")}, ${state.model.site.style}`;
  $("#batches").prepend(section);
  for (const item of items) $(".cards", section).append(item.card);
  const results = [];
  for (const [index, item] of items.entries()) {
    setMessage(`Stylizing ${index + 1} of ${items.length}…`);
    const result = await stylizeOne(item, maxSide);
    if (result) results.push(result);
  }
  if (results.length) {
    const link = $(".download-all", section);
    link.href = URL.createObjectURL(await zipBlobs(uniqueNames(results)));
    link.hidden = false;
  }
  const failed = items.length - results.length;
  setMessage(`${plural(results.length, "photo")} done${failed ? `, ${failed} failed` : ""}. ` +
    "Drag the slider on a result to compare.", failed > 0);
  state.busy = false;
  $("#start").disabled = !state.pending.length;
}

async function init() {
  const site = await (await fetch("site.json")).json();
  for (const side of SIZES) {
    $("#size").add(new Option(side ? `At most ${side} px` : "Photo's own size", side ?? ""));
  }
  $("#size").value = String(site.default_side);
  $("#style").add(new Option(`${site.style} (${site.quantization})`, site.style, true, true));
  $("#files").addEventListener("change", (event) => { choose(event.target.files); event.target.value = ""; });
  const drop = $("#drop");
  drop.addEventListener("dragover", (event) => { event.preventDefault(); drop.classList.add("over"); });
  drop.addEventListener("dragleave", () => drop.classList.remove("over"));
  drop.addEventListener("drop", (event) => {
    event.preventDefault();
    drop.classList.remove("over");
    choose(event.dataTransfer.files);
  });
  $("#start").addEventListener("click", start);
  state.model = await loadModel(site);
  document.body.dataset.threads = state.model.threads;
  document.body.dataset.ready = "true";
  setMessage(`Ready: ${site.style}, ${plural(state.model.threads, "thread")}` +
    (self.crossOriginIsolated ? "." : " (serve with COOP/COEP headers for more: see docs/web.md)."));
  $("#start").disabled = !state.pending.length;
}

init().catch((err) => setMessage(`Cannot load the model: ${err.message || err}`, true));
