/* 「住所検索」 of an address block (templates/_postal_field.html).

   The postal code is looked up when it reaches seven digits, when the person leaves the
   field, and when they press 「住所検索」 (without JavaScript that button submits the form
   and the server fills the block instead). The answer arrives while the person goes on
   typing, so it fills a field only if the person has not touched it since the request left:

   - an answer to an older request, or to a code changed since, is dropped;
   - 都道府県 and 市町村区 are set only if unchanged since the request;
   - それ以降の住所 takes the town only if it is empty, or still holds exactly what the
     previous look-up put there; text the person typed is never replaced nor prefixed.
*/
(function () {
  "use strict";
  if (window.essmonPostalLookup) return; // the template includes this once per block
  window.essmonPostalLookup = true;

  const FAILED =
    "住所を検索できませんでした。通信状況をご確認のうえ、もう一度「住所検索」を押してください。";

  // As the server reads a code: full-width digits, hyphens of every shape, 〒 and spaces.
  function normalized(value) {
    return value
      .replace(/[０-９]/g, (digit) => String.fromCharCode(digit.charCodeAt(0) - 0xfee0))
      .replace(/[-‐‑‒–—―−－ーｰ〒\s]/g, "");
  }

  function setUp(input) {
    const form = input.form;
    if (!form) return;
    const target = input.dataset.postalTarget;
    const named = (name) => form.elements.namedItem(name);
    const prefecture = named(input.dataset.prefecture);
    const city = named(input.dataset.city);
    const rest = named(input.dataset.rest);
    const note = document.getElementById("postal-note-" + target);
    const error = document.getElementById("postal-error-" + target);
    const button = form.querySelector('[data-postal-button="' + target + '"]');
    const block = input.closest(".field");
    if (!prefecture || !city || !rest || !note || !error) return; // 住所検索 then submits
    let latest = 0; // the number of the latest request: answers to older ones are dropped
    let requested = ""; // the code of the latest request
    let filledRest = null; // what the last answer put in それ以降の住所

    function say(message, isError) {
      // one alert at a time on the page: the empty error line is no live region
      if (isError) error.setAttribute("role", "alert");
      else error.removeAttribute("role");
      error.textContent = isError ? message : "";
      note.textContent = isError ? "" : message;
      block.classList.toggle("has-error", isError);
    }

    function apply(number, code, before, answer) {
      if (number !== latest || normalized(input.value) !== code) return; // stale
      if (answer.error) {
        say(answer.error, true);
        return;
      }
      if (input.value === before.postal) input.value = answer.postal_code;
      if (prefecture.value === before.prefecture) prefecture.value = answer.prefecture;
      if (answer.city && city.value === before.city) city.value = answer.city;
      const untouched = rest.value === before.rest;
      if (untouched && (rest.value.trim() === "" || rest.value === filledRest)) {
        rest.value = answer.town;
        filledRest = answer.town;
        say(answer.note_filled, false);
      } else {
        const hasTown = answer.town && rest.value.trim().startsWith(answer.town);
        say(hasTown ? answer.note_filled : answer.note_kept, false);
      }
    }

    function lookUp(asked) {
      const code = normalized(input.value);
      if (!asked && (!/^\d{7}$/.test(code) || code === requested)) return;
      requested = code;
      const number = ++latest;
      const before = {
        postal: input.value,
        prefecture: prefecture.value,
        city: city.value,
        rest: rest.value,
      };
      const url = input.dataset.postalUrl + "?code=" + encodeURIComponent(input.value);
      fetch(url, { headers: { Accept: "application/json" }, credentials: "same-origin" })
        .then((response) => response.json())
        .catch(() => ({ error: FAILED }))
        .then((answer) => apply(number, code, before, answer));
    }

    input.addEventListener("input", (event) => {
      if (!event.isComposing) lookUp(false); // not in the middle of an IME conversion
    });
    input.addEventListener("compositionend", () => lookUp(false));
    input.addEventListener("change", () => lookUp(false));
    input.addEventListener("keydown", (event) => {
      if (event.key === "Enter" && !event.isComposing) {
        event.preventDefault(); // Enter here means 住所検索 of this block, not another's
        lookUp(true);
      }
    });
    if (button) {
      button.addEventListener("click", (event) => {
        event.preventDefault();
        lookUp(true);
      });
    }
  }

  document.querySelectorAll("input[data-postal-target]").forEach(setUp);
})();
