// The agent's workspace: the ticket page refreshing by itself without losing what the agent
// types, a reply box filled from a draft taking the cursor, and the keyboard shortcuts (listed
// by "?"). No inline script anywhere: the page's CSP forbids it.
(function () {
  "use strict";

  var INBOX_ORDER = "desk.inbox-order"; // the ticket ids of the inbox as the agent last saw it

  function replyBox() {
    return document.querySelector("form.reply textarea");
  }

  // Focus the reply box and bring it into view; after "Use", select the first slot still to
  // fill ("[order number]") so typing replaces it.
  function focusReply(form) {
    if (form) form.removeAttribute("data-focus"); // once: later swaps must not move the cursor
    var box = form ? form.querySelector("textarea") : replyBox();
    if (!box) return;
    box.scrollIntoView({ block: "nearest" });
    box.focus({ preventScroll: true });
    var marker = /\[(?:customer first name|agent name|person name|order number|card number|amount|email|phone|url)\]/.exec(box.value);
    if (marker) {
      box.setSelectionRange(marker.index, marker.index + marker[0].length);
    } else {
      box.setSelectionRange(box.value.length, box.value.length);
    }
  }

  // --- live refresh ------------------------------------------------------------------------

  // A fragment is in use while the agent has the cursor in one of its fields or has changed
  // one (typed a reason, picked a status): a refresh must not throw that away.
  function inUse(el) {
    var active = document.activeElement;
    if (active && active !== document.body && el.contains(active) && typing(active)) return true;
    var fields = el.querySelectorAll("input, textarea, select");
    for (var i = 0; i < fields.length; i++) {
      var f = fields[i];
      if (f.type === "hidden" || f.type === "submit" || f.type === "button") continue;
      if (f.type === "checkbox" || f.type === "radio") {
        if (f.checked !== f.defaultChecked) return true;
      } else if (f.tagName.toLowerCase() === "select") {
        for (var j = 0; j < f.options.length; j++) {
          if (f.options[j].selected !== f.options[j].defaultSelected) return true;
        }
      } else if (f.value !== f.defaultValue) {
        return true;
      }
    }
    return false;
  }

  function background(elt) {
    // The live poll, and the panels that poll themselves while a worker is busy.
    if (!elt || !elt.getAttribute) return false;
    return elt.hasAttribute("data-live-poll") || /\bevery\b/.test(elt.getAttribute("hx-trigger") || "");
  }

  // Out-of-band fragments (the live poll's, and those a decision sends along): a fragment in
  // use stays as it is. It keeps its old stamp, so the next poll offers it again.
  document.addEventListener("htmx:oobBeforeSwap", function (event) {
    var target = event.detail.target;
    if (target && inUse(target)) event.detail.shouldSwap = false;
    if (target && target.classList && target.classList.contains("transcript")) {
      var scroller = target.closest(".transcript-scroll");
      if (scroller) scroller.dataset.atBottom = atBottom(scroller) ? "1" : "";
    }
  });

  // A self-polling panel likewise never replaces itself under the agent's cursor.
  document.addEventListener("htmx:beforeSwap", function (event) {
    var detail = event.detail;
    if (background(detail.requestConfig && detail.requestConfig.elt) && detail.target && inUse(detail.target)) {
      detail.shouldSwap = false;
    }
  });

  // The poll sends the stamp of every live fragment on the page: the server answers 204 when
  // none moved, else the ones that did.
  document.addEventListener("htmx:configRequest", function (event) {
    if (!event.detail.elt.hasAttribute("data-live-poll")) return;
    var fragments = document.querySelectorAll("[data-live]");
    for (var i = 0; i < fragments.length; i++) {
      event.detail.parameters[fragments[i].dataset.live] = fragments[i].dataset.liveVersion || "";
    }
  });

  // A hidden tab does not ask; it asks at once when shown again.
  document.addEventListener("htmx:beforeRequest", function (event) {
    if (event.detail.elt.hasAttribute("data-live-poll") && document.hidden) event.preventDefault();
  });

  function atBottom(scroller) {
    return scroller.scrollHeight - scroller.scrollTop - scroller.clientHeight < 40;
  }

  function toBottom() {
    var scroller = document.querySelector(".transcript-scroll");
    if (scroller) scroller.scrollTop = scroller.scrollHeight;
  }

  // New messages: follow them if the agent was reading the end, else leave the scroll alone.
  document.addEventListener("htmx:oobAfterSwap", function (event) {
    var target = event.detail.target;
    var scroller = document.querySelector(".transcript-scroll");
    if (!scroller || !target || !target.classList || !target.classList.contains("transcript")) return;
    if (scroller.dataset.atBottom) toBottom();
  });

  // --- keyboard shortcuts ------------------------------------------------------------------

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

  function inboxRows() {
    return Array.prototype.slice.call(document.querySelectorAll("#inbox-results tbody tr[id^='ticket-row-']"));
  }

  function rowTicketId(row) {
    return row.id.replace(/^ticket-row-/, "");
  }

  // The inbox remembers its order (the page as shown, filters and sort included) for "j"/"k"
  // on a ticket page.
  function rememberInboxOrder() {
    var rows = inboxRows();
    if (!rows.length) return;
    try {
      sessionStorage.setItem(INBOX_ORDER, JSON.stringify(rows.map(rowTicketId)));
    } catch (e) { /* storage off: j/k on a ticket then do nothing */ }
  }

  function selectRow(step) {
    var rows = inboxRows();
    if (!rows.length) return false;
    var current = rows.findIndex(function (r) { return r.classList.contains("is-selected"); });
    var next = current < 0 ? 0 : Math.min(rows.length - 1, Math.max(0, current + step));
    if (current >= 0) {
      rows[current].classList.remove("is-selected");
      rows[current].removeAttribute("aria-selected");
    }
    rows[next].classList.add("is-selected");
    rows[next].setAttribute("aria-selected", "true");
    rows[next].scrollIntoView({ block: "nearest" });
    return true;
  }

  function openSelectedRow() {
    var row = document.querySelector("#inbox-results tbody tr.is-selected");
    var link = row && row.querySelector("a[href]");
    if (link) window.location.href = link.href;
    return !!link;
  }

  function ticketPage() {
    return document.querySelector(".ticket-page[data-ticket]");
  }

  // Next ("j", "]") or previous ("k", "[") ticket of the inbox as the agent last saw it.
  function neighbourTicket(step) {
    var page = ticketPage();
    if (!page) return false;
    var order;
    try {
      order = JSON.parse(sessionStorage.getItem(INBOX_ORDER) || "[]");
    } catch (e) {
      order = [];
    }
    var at = order.indexOf(page.dataset.ticket);
    var id = at < 0 ? null : order[at + step];
    if (!id) return false;
    window.location.href = "/tickets/" + id + "/";
    return true;
  }

  // "a": the first open proposal's Approve button takes the focus, scrolled into view; Enter
  // (or a click) approves it with its proposed amount. Money moves only on that second,
  // deliberate keystroke: a stray "a" must never pay anyone.
  function focusApprove() {
    var button = document.querySelector(".recovery form.decide button[value='approve']");
    if (!button) return false;
    button.scrollIntoView({ block: "nearest" });
    button.focus();
    return true;
  }

  // "s": the status controls open with Solved chosen and the cursor in the resolution, which
  // solving needs; nothing is sent until the agent presses Update status.
  function startSolving() {
    var header = document.querySelector(".ticket-header");
    var select = header && header.querySelector("select[name='status']");
    if (!select) return false;
    var controls = header.querySelector("details.ticket-controls");
    if (controls) controls.open = true;
    select.value = "solved";
    var resolution = header.querySelector("[name='resolution']");
    if (resolution) {
      resolution.scrollIntoView({ block: "nearest" });
      resolution.focus();
    }
    return true;
  }

  // n: the suggestion after the one in the reply box (the first when none is), round.
  function nextSuggestion() {
    var buttons = document.querySelectorAll("[data-suggestion-use]");
    if (!buttons.length) return false;
    var box = replyBox();
    var field = box && box.closest("form") && box.closest("form").querySelector("input[name='suggestion']");
    var current = field && field.value !== "" ? parseInt(field.value, 10) : -1;
    buttons[(current + 1) % buttons.length].click();
    return true;
  }

  function clickShortcut(name) {
    var el = document.querySelector("[data-shortcut='" + name + "']");
    if (el) el.click();
    return !!el;
  }

  document.addEventListener("keydown", function (event) {
    var el = overlay();
    if (event.key === "Escape" && el && !el.hidden) {
      toggleOverlay(false);
      event.preventDefault();
      return;
    }
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    if (typing(event.target)) {
      // Esc leaves the field (its text stays) so that the shortcuts work again.
      if (event.key === "Escape") event.target.blur();
      return;
    }
    if (event.key === "?") {
      toggleOverlay(el ? el.hidden : false);
      event.preventDefault();
      return;
    }
    if (el && !el.hidden) return;
    var done = false;
    switch (event.key) {
      case "r":
        if (replyBox()) { focusReply(null); done = true; }
        break;
      case "u":
        done = clickShortcut("use");
        break;
      case "n":
        done = nextSuggestion();
        break;
      case "a":
        done = focusApprove();
        break;
      case "s":
        done = startSolving();
        break;
      case "j":
      case "]":
        done = selectRow(1) || neighbourTicket(1);
        break;
      case "k":
      case "[":
        done = selectRow(-1) || neighbourTicket(-1);
        break;
      case "o":
        done = openSelectedRow();
        break;
      case "Enter":
        // On the inbox only, and only when a row was picked with j/k: a focused link or
        // button keeps its own Enter.
        if (event.target === document.body) done = openSelectedRow();
        break;
    }
    if (done) event.preventDefault();
  });

  document.addEventListener("click", function (event) {
    var target = event.target;
    if (target && target.closest && target.closest("[data-close-shortcuts]")) toggleOverlay(false);
  });

  // A reply box swapped in filled with a draft (Use, Edit) takes the cursor.
  document.addEventListener("htmx:afterSwap", function () {
    var form = document.querySelector("form.reply[data-focus]");
    if (form) focusReply(form);
    rememberInboxOrder();
  });

  // Without htmx the page arrives with the filled box (?draft=): the same focus on load. The
  // transcript opens on its latest messages.
  document.addEventListener("DOMContentLoaded", function () {
    toBottom();
    rememberInboxOrder();
    var form = document.querySelector("form.reply[data-focus]");
    if (form) focusReply(form);
  });
})();
