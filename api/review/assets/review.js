// Keyboard shortcuts for the review UI. Every action is a plain form, so the pages work
// without this script; it only clicks the same buttons.
(function () {
  "use strict";
  var pendingG = false;
  function typing(target) {
    var tag = (target && target.tagName) || "";
    return tag === "INPUT" || tag === "TEXTAREA" || tag === "SELECT" || (target && target.isContentEditable);
  }
  function click(key) {
    var button = document.querySelector('[data-key="' + key + '"]');
    if (button) { button.click(); return true; }
    return false;
  }
  document.addEventListener("keydown", function (event) {
    if (event.ctrlKey || event.metaKey || event.altKey) { return; }
    var help = document.getElementById("shortcuts");
    if (event.key === "Escape" && help) { help.hidden = true; return; }
    if (typing(event.target)) { return; }
    if (pendingG) {
      pendingG = false;
      if (event.key === "q") { window.location.href = "/review/"; event.preventDefault(); }
      return;
    }
    if (event.key === "g") { pendingG = true; return; }
    if (event.key === "?") { if (help) { help.hidden = !help.hidden; } event.preventDefault(); return; }
    if (event.key === "/") {
      var search = document.querySelector("[data-focus-key='/']");
      if (search) { search.focus(); } else { window.location.href = "/review/persons"; }
      event.preventDefault();
      return;
    }
    if (["s", "d", "k", "n"].indexOf(event.key) >= 0 && click(event.key)) { event.preventDefault(); }
  });
})();
