// Line numbers beside the rules textarea: follow typing and scrolling; a click on "line N" jumps there.
document.addEventListener("DOMContentLoaded", () => {
  const text = document.querySelector("textarea.rules-text");
  const gutter = document.querySelector(".rules-editor .gutter");
  if (!text || !gutter) return;
  const bad = new Set([...gutter.querySelectorAll(".bad")].map((el) => el.textContent));
  const render = () => {
    const count = text.value.split("\n").length;
    if (gutter.children.length === count) return;
    gutter.replaceChildren(...Array.from({ length: count }, (_, i) => {
      const span = document.createElement("span");
      span.textContent = String(i + 1);
      if (bad.has(span.textContent)) span.className = "bad";
      return span;
    }));
  };
  text.addEventListener("input", render);
  text.addEventListener("scroll", () => { gutter.scrollTop = text.scrollTop; });
  document.querySelectorAll("[data-line]").forEach((link) => link.addEventListener("click", (event) => {
    event.preventDefault();
    const lines = text.value.split("\n");
    const line = Number(link.dataset.line);
    const start = lines.slice(0, line - 1).reduce((n, l) => n + l.length + 1, 0);
    text.focus();
    text.setSelectionRange(start, start + (lines[line - 1] || "").length);
  }));
  render();
});
