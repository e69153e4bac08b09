/* The monitoring pages' self-refreshing panels (#live, #progress), for when a refresh
   fails: htmx then keeps the old panel, which must not go on looking current. */
(function () {
  "use strict";
  const PANELS = ["live", "progress"];
  const panelOf = (event) => {
    const el = event.detail && event.detail.elt;
    return el && PANELS.includes(el.id) ? el : null;
  };

  function note(panel, kind, text) {
    let el = panel.querySelector(".client-note." + kind);
    if (!el) {
      el = document.createElement("p");
      el.className = "note client-note " + kind;
      el.setAttribute("role", "status");
      panel.insertBefore(el, panel.children[1] || null);
    }
    el.textContent = text;
  }

  function failed(event, status) {
    const panel = panelOf(event);
    if (!panel) return;
    if (status === 404) {
      // no longer visible to this user (a dealer unlinked, say): stop asking
      const gone = document.createElement("p");
      gone.className = "note";
      gone.setAttribute("role", "alert");
      gone.textContent = "このゲートウェイは表示できなくなりました。ゲートウェイ一覧からお選びください。";
      panel.replaceWith(gone);
      return;
    }
    note(panel, "connection", "サーバーと通信できないため、表示が最新でない可能性があります。自動で再接続します。");
    panel.classList.add("is-stale");
  }

  // No refreshes while the tab is hidden. (Not an hx-trigger filter: htmx evaluates those
  // with eval, which the Content-Security-Policy refuses.)
  document.addEventListener("htmx:confirm", (e) => {
    if (document.visibilityState !== "visible" && panelOf(e)) e.preventDefault();
  });

  document.addEventListener("htmx:responseError", (e) => failed(e, e.detail.xhr.status));
  document.addEventListener("htmx:sendError", (e) => failed(e, 0));

  // Staleness also while refreshes fail: the sample's age by the server's clock when the
  // panel was drawn, plus the time since, so a wrong clock on the PC does not matter.
  const drawnAt = new WeakMap();
  function checkStale() {
    const panel = document.getElementById("live");
    if (!panel || !panel.dataset.sampleAge) return;
    if (!drawnAt.has(panel)) drawnAt.set(panel, performance.now());
    const age = Number(panel.dataset.sampleAge) + (performance.now() - drawnAt.get(panel)) / 1000;
    if (age > Number(panel.dataset.staleAfter) && !panel.querySelector(".stale")) {
      note(panel, "stale", "表示中のデータは" + Math.floor(age / 60) + "分以上前のものです。ゲートウェイから新しいデータが届いていません。");
      panel.classList.add("is-stale");
    }
  }
  setInterval(checkStale, 5000);
  document.addEventListener("htmx:afterSwap", checkStale);
})();
