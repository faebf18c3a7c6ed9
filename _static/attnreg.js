// Site fixes for the course book (loaded on every page).
"use strict";

// 1. Sidebar buttons. The themes attach their handlers to the first `.primary-toggle` and
//    `.secondary-toggle` of the page only, which is the navbar's (hidden on most layouts); the
//    visible buttons in the article header then open nothing. Forward their clicks to the first.
function forwardSidebarToggles() {
  for (const selector of [".primary-toggle", ".secondary-toggle"]) {
    const [wired, ...others] = document.querySelectorAll(selector);
    for (const button of others) {
      button.addEventListener("click", (event) => {
        event.preventDefault();
        event.stopImmediatePropagation();
        wired.click();
      }, true);
    }
  }
}

// 2. Wide display equations. MathJax does not break display math into lines; an equation wider
//    than the column is scaled down to fit it (on screen and in print) instead of being cut off.
function fitDisplayMath() {
  for (const eq of document.querySelectorAll("mjx-container[display='true']")) {
    eq.style.fontSize = "";
    const available = eq.parentElement.clientWidth;
    const needed = eq.scrollWidth;
    if (available > 0 && needed > available) {
      eq.style.fontSize = `${Math.max(0.5, available / needed) * 100}%`;
    }
  }
}

function whenMathIsTypeset(callback) {
  const mj = window.MathJax;
  if (mj && mj.startup && mj.startup.promise) {
    mj.startup.promise.then(callback);
  } else {
    setTimeout(() => whenMathIsTypeset(callback), 100);
  }
}

document.addEventListener("DOMContentLoaded", () => {
  forwardSidebarToggles();
  whenMathIsTypeset(fitDisplayMath);
  window.addEventListener("resize", fitDisplayMath);
  window.addEventListener("beforeprint", fitDisplayMath);
});

// 3. Tables on narrow screens. Each cell is labelled with its column's header, so that the CSS can
//    stack a row's cells under each other (see attnreg.css) instead of cutting the table off.
function labelTableCells() {
  for (const table of document.querySelectorAll("article table")) {
    const headers = [...table.querySelectorAll("thead th")].map((th) => th.textContent.trim());
    if (headers.length === 0) continue;
    table.classList.add("attnreg-stackable");
    for (const row of table.querySelectorAll("tbody tr")) {
      [...row.children].forEach((cell, i) => cell.setAttribute("data-label", headers[i] || ""));
    }
  }
}

document.addEventListener("DOMContentLoaded", labelTableCells);
