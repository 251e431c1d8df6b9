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
  // The delta against a base session, as the console's compare view links it:
  // #delta:base=<task id>&new=12-14,20&lost=9&line=12. It lives in the fragment, so it never
  // reaches the server and the report's bytes stay the same; line numbers are only looked up.
  function ranges(s) {
    var out = [];
    (s || "").split(",").forEach(function (r) {
      var m = /^(\d{1,9})(?:-(\d{1,9}))?$/.exec(r);
      if (!m) return;
      for (var n = +m[1], b = m[2] ? +m[2] : n; n <= b && out.length < 20000; n++) out.push(n);
    });
    return out;
  }
  function plural(n, one) { return n + " " + one + (n === 1 ? "" : "s"); }
  if (location.hash.indexOf("#delta:") === 0) {
    var q = new URLSearchParams(location.hash.slice(7)), base = q.get("base") || "";
    var src = document.querySelector(".src");
    if (/^[0-9A-Z]{26}$/.test(base) && src) {
      var marked = { dn: 0, dl: 0 };
      [["new", "dn", "newly covered against the base"], ["lost", "dl", "lost against the base"]].forEach(function (k) {
        ranges(q.get(k[0])).forEach(function (n) {
          var row = document.getElementById("L" + n);
          if (!row || row.classList.contains(k[1])) return;
          row.classList.add(k[1]);
          row.title = k[2];
          marked[k[1]]++;
        });
      });
      var p = document.createElement("p");
      p.className = "delta";
      p.setAttribute("role", "status");
      p.textContent = "Against base task " + base + ": " + plural(marked.dn, "line") + " newly covered (+), " +
        plural(marked.dl, "line") + " lost (\u2212) on this page. ";
      var hide = document.createElement("a");
      hide.href = "#source";
      hide.textContent = "Hide the delta";
      hide.addEventListener("click", function () {
        document.querySelectorAll(".dn,.dl").forEach(function (r) { r.classList.remove("dn", "dl"); r.removeAttribute("title"); });
        p.remove();
      });
      p.appendChild(hide);
      src.parentNode.insertBefore(p, src);
      var at = document.getElementById("L" + (q.get("line") || ""));
      if (at) at.scrollIntoView({ block: "center" });
    }
  }
  document.addEventListener("keydown", function (e) {
    if (e.ctrlKey || e.metaKey || e.altKey || /INPUT|TEXTAREA|SELECT/.test(e.target.tagName)) return;
    if (e.key === "n") jump(1); else if (e.key === "p") jump(-1);
  });
})();
