// ccaas coverage report: sortable tables and jump to the next/previous uncovered block.
(function () {
  "use strict";
  function key(row, col, num) {
    var c = row.cells[col];
    var v = c ? (c.getAttribute("data-v") || c.textContent) : "";
    return num ? parseFloat(v) || 0 : v.toLowerCase();
  }
  document.querySelectorAll("table.sortable th button").forEach(function (b) {
    b.addEventListener("click", function () {
      var th = b.parentNode, table = th.closest("table"), body = table.tBodies[0];
      var col = Array.prototype.indexOf.call(th.parentNode.children, th);
      var num = b.getAttribute("data-num") === "1";
      var asc = th.getAttribute("aria-sort") !== "ascending";
      th.parentNode.querySelectorAll("th").forEach(function (o) { o.removeAttribute("aria-sort"); });
      th.setAttribute("aria-sort", asc ? "ascending" : "descending");
      var rows = Array.prototype.slice.call(body.rows);
      rows.forEach(function (r, i) { r._i = i; });
      rows.sort(function (x, y) {
        var a = key(x, col, num), c = key(y, col, num);
        var d = a < c ? -1 : a > c ? 1 : x._i - y._i;
        return asc ? d : -d;
      });
      rows.forEach(function (r) { body.appendChild(r); });
    });
  });
  var starts = document.querySelectorAll(".blk>.s");
  function jump(dir) {
    var bar = document.querySelector(".tools");
    var top = bar ? bar.getBoundingClientRect().bottom + 2 : 2;
    var i, y;
    if (dir > 0) {
      for (i = 0; i < starts.length; i++) {
        y = starts[i].getBoundingClientRect().top;
        if (y > top + 1) { go(starts[i]); return; }
      }
      var next = document.body.getAttribute("data-next");
      if (next) location.href = next;
    } else {
      for (i = starts.length - 1; i >= 0; i--) {
        y = starts[i].getBoundingClientRect().top;
        if (y < top - 1) { go(starts[i]); return; }
      }
      var prev = document.body.getAttribute("data-prev");
      if (prev) location.href = prev;
    }
  }
  function go(el) { history.replaceState(null, "", "#" + el.id); el.scrollIntoView({ block: "start" }); window.scrollBy(0, -40); }
  document.querySelectorAll("button[data-jump]").forEach(function (b) {
    b.addEventListener("click", function () { jump(parseInt(b.getAttribute("data-jump"), 10)); });
  });
  document.addEventListener("keydown", function (e) {
    if (e.ctrlKey || e.metaKey || e.altKey || /INPUT|TEXTAREA|SELECT/.test(e.target.tagName)) return;
    if (e.key === "n") jump(1); else if (e.key === "p") jump(-1);
  });
})();
