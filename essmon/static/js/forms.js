/* Forms on every page (templates/_field.html, _error_summary.html):
 *  - a 「表示」/「非表示」 button beside each password field (shown only when this script runs,
 *    so without JavaScript there is no button that does nothing); the admin's pages, which
 *    render their own fields, get one made here;
 *  - after a refused submit, the focus on the error summary, whose links move it to the
 *    field in question.
 */
(function () {
  "use strict";

  function labelOf(input) {
    const label = input.id && document.querySelector(`label[for="${CSS.escape(input.id)}"]`);
    // the label's own text, without its 必須/任意 badge
    const text = label ? label.firstChild && label.firstChild.textContent : "";
    return (text || "パスワード").trim().replace(/[:：]$/, "");
  }

  function setShown(input, button, status, shown) {
    input.type = shown ? "text" : "password";
    const name = labelOf(input);
    // the name is the visible word and, for a screen reader, the field's label after it
    // ("表示(パスワード)"): no aria-label, which would pass itself off as the field's label
    button.querySelector(".toggle-word").textContent = shown ? "非表示" : "表示";
    button.dataset.shown = shown ? "true" : "false";
    if (status) {
      status.textContent = shown ? `${name}を表示しています。` : `${name}を隠しました。`;
    }
  }

  function enhancePassword(input) {
    if (!input.id || input.dataset.toggle === "ready") return;
    input.dataset.toggle = "ready";
    // shown as text, a phone must not capitalise or correct what is typed
    input.setAttribute("autocapitalize", "none");
    input.setAttribute("autocorrect", "off");
    input.setAttribute("spellcheck", "false");
    let button = document.querySelector(
      `button.password-toggle[aria-controls="${CSS.escape(input.id)}"]`
    );
    if (!button) {
      button = document.createElement("button");
      button.type = "button";
      button.className = "password-toggle button"; // the admin's own button look
      button.setAttribute("aria-controls", input.id);
      const word = document.createElement("span");
      word.className = "toggle-word";
      const name = document.createElement("span");
      name.className = "visually-hidden";
      name.textContent = `(${labelOf(input)})`;
      button.append(word, name);
      input.insertAdjacentElement("afterend", button);
    }
    const status = document.createElement("span");
    status.className = "visually-hidden";
    status.setAttribute("aria-live", "polite");
    button.insertAdjacentElement("afterend", status);
    setShown(input, button, null, false);
    button.hidden = false;
    button.addEventListener("click", () => {
      setShown(input, button, status, input.type === "password");
    });
    if (input.form) {
      // hidden again before it is sent: the browser keeps no copy of it as plain text
      input.form.addEventListener("submit", () => setShown(input, button, null, false));
    }
  }

  function enhance(root) {
    root.querySelectorAll('input[type="password"]').forEach(enhancePassword);
  }

  function focusErrorSummary() {
    const summary = document.getElementById("error-summary");
    if (!summary) return;
    summary.focus();
    summary.querySelectorAll('a[href^="#"]').forEach((link) => {
      link.addEventListener("click", (event) => {
        const target = document.getElementById(link.getAttribute("href").slice(1));
        if (!target) return;
        event.preventDefault();
        // the label above the field in view too, then the cursor in the field
        const label = target.id && document.querySelector(`label[for="${CSS.escape(target.id)}"]`);
        (label || target).scrollIntoView({ block: "start" });
        target.focus({ preventScroll: true });
      });
    });
  }

  function start() {
    enhance(document);
    focusErrorSummary();
    document.body.addEventListener("htmx:load", (event) => enhance(event.detail.elt));
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
