/* Accessibility repairs to the theme's markup, on every page of the book (Jupyter Book loads every script in
   _static). tests/test_browser.py runs axe-core (WCAG 2.0/2.1 A and AA) on every page and fails on a serious or
   critical violation: each repair below names the rule it answers. The theme's own script does the same kind of
   repair for code cells (a tab stop on each one that scrolls). */
(() => {
  "use strict";

  /* summary-name: pydata-sphinx-theme's sidebar toggles are a <summary> holding only a chevron icon, so a screen
     reader announces an unnamed button. Each is named after the page whose sub-pages it shows. */
  const nameToggles = () => {
    for (const summary of document.querySelectorAll("details > summary")) {
      if (summary.textContent.trim() || summary.hasAttribute("aria-label")) continue;
      const item = summary.parentElement.parentElement;
      const link = item && item.querySelector(":scope > a");
      const title = link ? link.textContent.trim().replace(/\s+/g, " ") : "";
      summary.setAttribute("aria-label", title ? `Pages under ${title}` : "Pages in this section");
    }
  };

  /* aria-required-children (and aria-deprecated-role): Sphinx writes the reference list as role="list" whose
     entries have the deprecated role "doc-biblioentry", which is no list item. */
  const listReferences = () => {
    for (const entry of document.querySelectorAll('[role="list"] > [role="doc-biblioentry"]')) {
      entry.setAttribute("role", "listitem");
    }
  };

  /* scrollable-region-focusable: a table wider than its column scrolls sideways inside its wrapper (.eb-table),
     which a keyboard user can scroll only if it takes focus. Only a wrapper that does scroll becomes a tab stop
     (a named region, so that the stop says what it is); one that fits again gives the stop back. */
  const regionName = (wrapper) => {
    const caption = wrapper.querySelector("caption");
    if (caption && caption.textContent.trim()) return caption.textContent.trim().replace(/\s+/g, " ");
    const headers = Array.from(wrapper.querySelectorAll("thead th"), (th) => th.textContent.trim()).filter(Boolean);
    return headers.length ? `Table of ${headers.slice(0, 3).join(", ")}` : "Table";
  };
  const markScrollers = () => {
    for (const wrapper of document.querySelectorAll(".eb-table")) {
      const scrolls = wrapper.scrollWidth > wrapper.clientWidth + 1;
      if (scrolls && !wrapper.hasAttribute("data-eb-scroller")) {
        wrapper.setAttribute("data-eb-scroller", "");
        wrapper.tabIndex = 0;
        wrapper.setAttribute("role", "region");
        wrapper.setAttribute("aria-label", `${regionName(wrapper)} (scrolls sideways)`);
      } else if (!scrolls && wrapper.hasAttribute("data-eb-scroller")) {
        wrapper.removeAttribute("data-eb-scroller");
        wrapper.removeAttribute("tabindex");
        wrapper.removeAttribute("role");
        wrapper.removeAttribute("aria-label");
      }
    }
  };

  /* The theme's "Skip to main content" link points at <main id="main-content">, which cannot take focus: the
     page scrolled, but focus stayed on the link. Focusable by script only (tabindex -1), main now receives it. */
  const skipTarget = () => {
    const main = document.getElementById("main-content");
    if (main && !main.hasAttribute("tabindex")) main.setAttribute("tabindex", "-1");
  };

  const ready = () => { nameToggles(); listReferences(); skipTarget(); };
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", ready);
  else ready();
  // Whether a table scrolls depends on the style sheets and images: measured once everything is in, and on resize.
  let pending = 0;
  const later = () => { clearTimeout(pending); pending = setTimeout(markScrollers, 200); };
  if (document.readyState === "complete") markScrollers();
  else window.addEventListener("load", markScrollers);
  window.addEventListener("resize", later);
})();
