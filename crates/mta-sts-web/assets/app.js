// Adds a "Copy" button to each block meant to be copied (pre.copy). Everything else on the page
// works without this script; without the clipboard API (an insecure context) it adds nothing.
"use strict";

(function () {
  if (!navigator.clipboard) {
    return;
  }
  for (const block of document.querySelectorAll("pre.copy")) {
    const button = document.createElement("button");
    button.type = "button";
    button.className = "copy-button";
    button.textContent = "Copy";
    button.addEventListener("click", async function () {
      try {
        await navigator.clipboard.writeText(block.textContent);
        button.textContent = "Copied";
      } catch (_) {
        button.textContent = "Copy failed: select the text instead";
      }
      setTimeout(function () {
        button.textContent = "Copy";
      }, 2000);
    });
    block.after(button);
  }
})();
