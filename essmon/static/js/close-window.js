/* 「この画面を閉じる」 on a page that opened in a tab of its own ([data-close-window]). */
(function () {
  "use strict";
  document.querySelectorAll("[data-close-window]").forEach((link) => {
    link.addEventListener("click", (event) => {
      event.preventDefault();
      window.close();
    });
  });
})();
