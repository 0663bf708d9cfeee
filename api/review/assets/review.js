// Keyboard shortcuts for the review UI. Every action is a plain form, so the pages work
// without this script; it only clicks the same buttons. A reviewer can turn the
// single-key shortcuts off (WCAG 2.1.4, kept with the account: the page's
// data-shortcuts says which); the help is a modal <dialog> that takes the focus and gives
// it back to where it was.
(function () {
  "use strict";
  var pendingG = false;
  var returnTo = null;
  function enabled() { return document.body.getAttribute("data-shortcuts") === "on"; }
  function typing(target) {
    var tag = (target && target.tagName) || "";
    return tag === "INPUT" || tag === "TEXTAREA" || tag === "SELECT" || (target && target.isContentEditable);
  }
  function click(key) {
    var button = document.querySelector('[data-key="' + key + '"]');
    if (button) { button.click(); return true; }
    return false;
  }
  function help() { return document.getElementById("shortcuts"); }
  function openHelp() {
    var dialog = help();
    if (!dialog || dialog.open) { return; }
    returnTo = document.activeElement;
    dialog.showModal();
    var close = document.getElementById("shortcuts-close");
    if (close) { close.focus(); }
  }
  function wire() {
    var dialog = help();
    var opener = document.getElementById("shortcuts-open");
    if (opener) { opener.addEventListener("click", openHelp); }
    if (dialog) {
      dialog.addEventListener("close", function () {
        if (returnTo && typeof returnTo.focus === "function") { returnTo.focus(); }
        returnTo = null;
      });
    }
  }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", wire);
  } else {
    wire();
  }
  document.addEventListener("keydown", function (event) {
    if (event.ctrlKey || event.metaKey || event.altKey) { return; }
    var dialog = help();
    if (dialog && dialog.open) { return; }  // Esc closes the modal dialog natively
    if (!enabled() || typing(event.target)) { return; }
    if (pendingG) {
      pendingG = false;
      if (event.key === "q") { window.location.href = "/review/"; event.preventDefault(); }
      return;
    }
    if (event.key === "g") { pendingG = true; return; }
    if (event.key === "?") { openHelp(); event.preventDefault(); return; }
    if (event.key === "/") {
      var search = document.querySelector("[data-focus-key='/']");
      if (search) { search.focus(); } else { window.location.href = "/review/persons"; }
      event.preventDefault();
      return;
    }
    if (["s", "d", "k", "n"].indexOf(event.key) >= 0 && click(event.key)) { event.preventDefault(); }
  });
})();
