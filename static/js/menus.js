// Menus are <details>: Escape or a click elsewhere closes the open one; opening one closes the others.
(function () {
  "use strict";
  var menus = function () { return document.querySelectorAll("details.more[open]"); };
  document.addEventListener("keydown", function (event) {
    if (event.key !== "Escape") return;
    menus().forEach(function (menu) {
      menu.removeAttribute("open");
      var summary = menu.querySelector("summary");
      if (summary && menu.contains(document.activeElement)) summary.focus();
    });
  });
  document.addEventListener("click", function (event) {
    menus().forEach(function (menu) { if (!menu.contains(event.target)) menu.removeAttribute("open"); });
  });
  document.addEventListener("toggle", function (event) {
    if (!event.target.matches || !event.target.matches("details.more[open]")) return;
    menus().forEach(function (menu) { if (menu !== event.target) menu.removeAttribute("open"); });
  }, true);
})();
