// Copy buttons: <button class="copy" data-copy="text" hidden>. They stay hidden without JavaScript
// (the value is on the page to select by hand). navigator.clipboard needs a secure context (HTTPS or
// localhost); elsewhere a selected textarea and execCommand("copy") do it. One polite live region
// tells screen readers "Copied", and the button says it for a moment too.
(() => {
  "use strict";
  let status;

  function announce(text) {
    if (!status) {
      status = document.createElement("div");
      status.className = "visually-hidden copy-status";
      status.setAttribute("role", "status");
      status.setAttribute("aria-live", "polite");
      document.body.appendChild(status);
    }
    status.textContent = "";
    // A change after a tick, so the same words twice are announced twice.
    window.setTimeout(() => { status.textContent = text; }, 50);
  }

  function fallbackCopy(text) {
    const area = document.createElement("textarea");
    area.value = text;
    area.setAttribute("readonly", "");
    area.style.position = "fixed";
    area.style.opacity = "0";
    document.body.appendChild(area);
    area.select();
    let ok = false;
    try { ok = document.execCommand("copy"); } catch (e) { ok = false; }
    area.remove();
    return ok;
  }

  async function copy(text) {
    if (navigator.clipboard && window.isSecureContext) {
      try { await navigator.clipboard.writeText(text); return true; } catch (e) { /* denied: try the old way */ }
    }
    return fallbackCopy(text);
  }

  function feedback(button, ok) {
    const label = button.dataset.label || button.textContent;
    button.dataset.label = label;
    button.textContent = ok ? "Copied" : "Copy failed";
    button.classList.toggle("copied", ok);
    announce(ok ? "Copied" : "Could not copy: select the text and copy it by hand");
    window.clearTimeout(Number(button.dataset.timer || 0));
    button.dataset.timer = String(window.setTimeout(() => {
      button.textContent = label;
      button.classList.remove("copied");
    }, 2000));
  }

  function setUp(root) {
    root.querySelectorAll("button.copy[data-copy]").forEach((button) => { button.hidden = false; });
  }

  document.addEventListener("click", async (event) => {
    const button = event.target.closest && event.target.closest("button.copy[data-copy]");
    if (!button) return;
    event.preventDefault();
    feedback(button, await copy(button.dataset.copy));
  });
  document.addEventListener("DOMContentLoaded", () => setUp(document));
  // htmx swaps in new records ("Check DNS now"): show their buttons too.
  document.addEventListener("htmx:afterSwap", (event) => setUp(event.target));
})();
