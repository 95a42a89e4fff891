// Small helps on top of pages that work without JavaScript.
"use strict";
document.addEventListener("DOMContentLoaded", () => {
  // A zone the organiser has not chosen yet: offer the browser's own.
  const browserZone = Intl.DateTimeFormat().resolvedOptions().timeZone;
  for (const select of document.querySelectorAll("select[data-browser-zone]")) {
    if (browserZone && [...select.options].some((o) => o.value === browserZone)) {
      select.value = browserZone;
    }
  }
  // Copy buttons (hidden without JavaScript: the address can still be selected and copied by hand).
  for (const button of document.querySelectorAll("button[data-copy]")) {
    const field = document.getElementById(button.dataset.copy);
    if (!field) continue;
    button.hidden = false;
    button.addEventListener("click", async () => {
      field.select();
      try {
        await navigator.clipboard.writeText(field.value);
        button.textContent = "Copied";
      } catch {
        button.textContent = "Selected: press Ctrl+C";
      }
    });
  }
});

// The ops board refreshes itself in place (the page keeps its scroll position); without JavaScript,
// reload the page.
document.addEventListener("DOMContentLoaded", () => {
  const board = document.querySelector("[data-refresh]");
  if (!board) return;
  const seconds = Number(board.dataset.refresh) || 15;
  setInterval(async () => {
    try {
      const answer = await fetch(window.location.href, { credentials: "same-origin" });
      if (!answer.ok || answer.redirected) return;
      const fresh = new DOMParser().parseFromString(await answer.text(), "text/html").getElementById(board.id);
      const current = document.getElementById(board.id);
      if (fresh && current) current.replaceWith(fresh);
    } catch {
      // offline for a moment: the next round tries again
    }
  }, seconds * 1000);
});
