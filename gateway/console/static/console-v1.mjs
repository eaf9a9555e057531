// console-v1.mjs: the console's few behaviours beyond htmx. Everything works without it too:
// forms post, downloads download; with it the officer sees a release's progress, and a found
// account goes into the targets with one button.

// "Add as a target" after a look-up: append the account to the targets, checked like a typed one.
document.addEventListener("click", (event) => {
  const button = event.target.closest("[data-add-target]");
  if (!button) return;
  const targets = document.getElementById("targets");
  if (!targets) return;
  const lines = targets.value.split("\n").map((l) => l.trim()).filter(Boolean);
  if (!lines.includes(button.dataset.addTarget)) lines.push(button.dataset.addTarget);
  targets.value = lines.join("\n");
  targets.dispatchEvent(new Event("change", { bubbles: true }));
  targets.focus();
});

const PK_DESCRIPTOR = [0x50, 0x4b, 0x07, 0x08]; // ends records.jsonl in the stored zip

function kb(bytes) {
  return bytes < 1024 ? `${bytes} bytes` : `${(bytes / 1024).toFixed(bytes < 10240 ? 1 : 0)} KB`;
}

function filename(disposition) {
  const match = /filename="([^"]+)"/.exec(disposition || "");
  return match ? match[1] : "release.zip";
}

async function errorText(response) {
  const html = await response.text();
  const doc = new DOMParser().parseFromString(html, "text/html");
  return doc.getElementById("error-message")?.textContent?.trim() || `${response.status} ${response.statusText}`;
}

// A release download: stream it, count the records as they arrive, then save the zip.
async function download(form) {
  const button = form.querySelector("button[type=submit]");
  const box = form.querySelector("[data-progress]");
  const bar = box.querySelector("progress");
  const text = box.querySelector("[data-progress-text]");
  button.disabled = true;
  box.hidden = false;
  bar.removeAttribute("value"); // indeterminate until the release has started
  text.textContent = "Starting the release…";
  try {
    const response = await fetch(form.action, { method: "POST", body: new FormData(form), credentials: "same-origin" });
    if (!response.ok) throw new Error(await errorText(response));
    const candidates = Number(response.headers.get("x-wsg-candidates") || "0");
    bar.max = Math.max(candidates, 1);
    bar.value = 0;
    const reader = response.body.getReader();
    const chunks = [];
    let bytes = 0;
    let records = 0;
    let inRecords = true;
    let started = false; // records begin at their first "{", after the zip's local header
    let matched = 0; // bytes of PK_DESCRIPTOR matched so far, across chunks
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      chunks.push(value);
      bytes += value.length;
      for (let i = 0; inRecords && i < value.length; i++) {
        const b = value[i];
        if (!started) {
          started = b === 0x7b;
          continue;
        }
        if (b === 0x0a) records++;
        matched = b === PK_DESCRIPTOR[matched] ? matched + 1 : b === PK_DESCRIPTOR[0] ? 1 : 0;
        if (matched === PK_DESCRIPTOR.length) inRecords = false;
      }
      bar.value = Math.min(records, bar.max);
      text.textContent = `${records.toLocaleString()} records received (${kb(bytes)}); ${candidates.toLocaleString()} candidate records examined at most.`;
    }
    bar.value = bar.max;
    const name = filename(response.headers.get("content-disposition"));
    const url = URL.createObjectURL(new Blob(chunks, { type: "application/zip" }));
    const link = document.createElement("a");
    link.href = url;
    link.download = name;
    document.body.append(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(url), 60_000);
    text.textContent = `Done: ${records.toLocaleString()} records, saved as ${name} (${kb(bytes)}). `;
    const page = document.createElement("a");
    page.href = `${location.pathname}#releases`;
    page.textContent = "See what left and what was protected";
    page.addEventListener("click", () => location.reload());
    text.append(page, " (the release's page, listed under Releases).");
    text.dataset.done = "true";
  } catch (error) {
    text.textContent = `The release did not complete: ${error.message}. Nothing was saved; the audit log records why.`;
    text.dataset.done = "false";
  } finally {
    button.disabled = false;
  }
}

document.addEventListener("submit", (event) => {
  const form = event.target.closest("form[data-download]");
  if (!form || !window.ReadableStream) return;
  event.preventDefault();
  download(form);
});
