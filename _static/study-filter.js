/* The Studies page's filter and pages of results (evidencebook; no library, works offline).

   Progressive enhancement: without JavaScript the page shows every study and the filter form stays hidden.
   With it, the form (rendered by evidencebook.study_entries, with its labels and options) filters the entries
   by outcome domain, design, US state and words, and shows them PAGE_SIZE at a time. A link to a study's
   anchor (studies.html#study-<key>, or a finding inside it) opens the page of results that holds it, even
   when a filter hid it, and unfolds its details. Every other page loads this file too: it does nothing there. */
(function () {
  "use strict";
  var PAGE_SIZE = 50;

  function fold(text) {
    // Lower case without accents, so that "Lopez" finds "López".
    return text.normalize("NFD").replace(/[\u0300-\u036f]/g, "").toLowerCase();
  }

  function has(list, value) {
    // data-domains="recovery|hope": one value of a "|"-separated list (values are compared whole).
    return value === "" || ("|" + list + "|").indexOf("|" + value + "|") !== -1;
  }

  function start() {
    var form = document.querySelector("form.eb-study-filter");
    var list = document.querySelector(".eb-study-list");
    if (!form || !list) return;
    var entries = Array.prototype.slice.call(list.querySelectorAll("section.eb-study"));
    var texts = entries.map(function (entry) { return fold(entry.textContent); });
    var status = form.querySelector(".eb-filter-count");
    var pager = document.querySelector("nav.eb-study-pages");
    var previous = pager.querySelector("[data-step='-1']");
    var next = pager.querySelector("[data-step='1']");
    var where = pager.querySelector(".eb-page-number");
    var matched = entries.map(function (_, i) { return i; });
    var page = 0;
    var shown = entries.map(function () { return true; });

    function filters() {
      return {
        words: fold(form.elements.q.value).split(/\s+/).filter(Boolean),
        domain: form.elements.domain.value,
        design: form.elements.design.value,
        state: form.elements.state.value
      };
    }

    function matches(i, f) {
      var entry = entries[i];
      if (!has(entry.getAttribute("data-domains"), f.domain)) return false;
      if (f.design !== "" && entry.getAttribute("data-design") !== f.design) return false;
      if (!has(entry.getAttribute("data-states"), f.state)) return false;
      for (var w = 0; w < f.words.length; w++) {
        if (texts[i].indexOf(f.words[w]) === -1) return false;
      }
      return true;
    }

    function pages() { return Math.max(1, Math.ceil(matched.length / PAGE_SIZE)); }

    function show() {
      // Touch only the entries whose visibility changes: at 10,000 studies a page turn stays cheap.
      var first = page * PAGE_SIZE, wanted = entries.map(function () { return false; });
      matched.slice(first, first + PAGE_SIZE).forEach(function (i) { wanted[i] = true; });
      for (var i = 0; i < entries.length; i++) {
        if (wanted[i] !== shown[i]) {
          entries[i].hidden = !wanted[i];
          shown[i] = wanted[i];
        }
      }
      var total = entries.length, count = matched.length;
      var range = count === 0 ? "No study matches" :
        "Showing " + (first + 1) + "\u2013" + Math.min(first + PAGE_SIZE, count) + " of " + count.toLocaleString("en-US") +
        (count === 1 ? " study" : " studies");
      status.textContent = range + (count === total ? "" : " (of " + total.toLocaleString("en-US") + ")") +
        (pages() > 1 ? ", page " + (page + 1) + " of " + pages() : "") + ".";
      where.textContent = "Page " + (page + 1) + " of " + pages();
      previous.disabled = page === 0;
      next.disabled = page >= pages() - 1;
      pager.hidden = pages() === 1;
    }

    var applied = 0;

    function apply() {
      var f = filters();
      matched = [];
      for (var i = 0; i < entries.length; i++) if (matches(i, f)) matched.push(i);
      page = 0;
      show();
      form.setAttribute("data-applied", String(++applied));  // for tests: this filter's results are shown
    }

    function turn(step) {
      page = Math.min(Math.max(page + step, 0), pages() - 1);
      show();
      list.scrollIntoView({block: "start"});
    }

    function reveal() {
      // The study (or finding) the address names: its page of results, its details open, scrolled to.
      var id = decodeURIComponent(window.location.hash.slice(1));
      var target = id && document.getElementById(id);
      var entry = target && target.closest && target.closest("section.eb-study");
      if (!entry || !list.contains(entry)) return;
      var index = entries.indexOf(entry);
      if (matched.indexOf(index) === -1) {  // a filter hides it: show every study again
        ["q", "domain", "design", "state"].forEach(function (name) { form.elements[name].value = ""; });
        apply();
      }
      page = Math.floor(matched.indexOf(index) / PAGE_SIZE);
      show();
      var details = target.closest("details") || entry.querySelector("details");
      if (details) details.open = true;  // the reader came for its coding and quotes
      target.scrollIntoView({block: "start"});
    }

    var typing = null;
    form.addEventListener("input", function (event) {
      window.clearTimeout(typing);
      // Words: wait for a pause in typing, so that the count is not announced at every key.
      typing = window.setTimeout(apply, event.target.name === "q" ? 200 : 0);
    });
    form.addEventListener("reset", function () { window.setTimeout(apply, 0); });
    form.addEventListener("submit", function (event) { event.preventDefault(); apply(); });
    previous.addEventListener("click", function () { turn(-1); });
    next.addEventListener("click", function () { turn(1); });
    window.addEventListener("hashchange", reveal);

    form.hidden = false;
    apply();
    reveal();
    document.documentElement.setAttribute("data-eb-studies", "ready");  // for tests: the filter has started
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
