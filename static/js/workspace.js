// The agent's workspace: a reply box filled from a draft takes the cursor, and a few keyboard
// shortcuts (listed by "?"). No inline script anywhere: the page's CSP forbids it.
(function () {
  "use strict";

  function replyBox() {
    return document.querySelector("form.reply textarea");
  }

  // Focus the reply box and bring it into view; after "Use", select the first slot still to
  // fill ("[order number]") so typing replaces it.
  function focusReply(form) {
    if (form) form.removeAttribute("data-focus"); // once: later swaps must not move the cursor
    var box = form ? form.querySelector("textarea") : replyBox();
    if (!box) return;
    box.scrollIntoView({ block: "center" });
    box.focus({ preventScroll: true });
    var marker = /\[(?:customer first name|agent name|person name|order number|card number|amount|email|phone|url)\]/.exec(box.value);
    if (marker) {
      box.setSelectionRange(marker.index, marker.index + marker[0].length);
    } else {
      box.setSelectionRange(box.value.length, box.value.length);
    }
  }

  function overlay() {
    return document.getElementById("shortcuts");
  }

  function toggleOverlay(show) {
    var el = overlay();
    if (!el) return;
    el.hidden = !show;
    if (show) {
      var close = el.querySelector("[data-close-shortcuts]");
      if (close) close.focus();
    }
  }

  function typing(target) {
    if (!target || !target.tagName) return false;
    var tag = target.tagName.toLowerCase();
    return tag === "input" || tag === "textarea" || tag === "select" || target.isContentEditable;
  }

  document.addEventListener("keydown", function (event) {
    var el = overlay();
    if (event.key === "Escape" && el && !el.hidden) {
      toggleOverlay(false);
      event.preventDefault();
      return;
    }
    if (event.ctrlKey || event.metaKey || event.altKey || typing(event.target)) return;
    if (event.key === "?") {
      toggleOverlay(el ? el.hidden : false);
      event.preventDefault();
    } else if (el && !el.hidden) {
      return;
    } else if (event.key === "r") {
      if (replyBox()) {
        focusReply(null);
        event.preventDefault();
      }
    } else if (event.key === "u") {
      var use = document.querySelector("[data-shortcut='use']");
      if (use) {
        use.click();
        event.preventDefault();
      }
    }
  });

  document.addEventListener("click", function (event) {
    var target = event.target;
    if (target && target.closest && target.closest("[data-close-shortcuts]")) toggleOverlay(false);
  });

  // A reply box swapped in filled with a draft (Use, Edit) takes the cursor.
  document.addEventListener("htmx:afterSwap", function (event) {
    var form = document.querySelector("form.reply[data-focus]");
    if (form) focusReply(form);
  });

  // Without htmx the page arrives with the filled box (?draft=): the same focus on load.
  document.addEventListener("DOMContentLoaded", function () {
    var form = document.querySelector("form.reply[data-focus]");
    if (form) focusReply(form);
  });
})();
