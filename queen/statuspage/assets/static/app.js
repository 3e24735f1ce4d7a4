// Live updates of the status page: polls /ui/updates about every 750 ms
// and swaps in the rows the queen rendered; shows ages and uptimes.
(function () {
  'use strict';
  var body = document.body;
  var seq = body.dataset.seq;
  var skew = Number(body.dataset.now) * 1000 - Date.now();
  var live = document.getElementById('live');

  function now() { return (Date.now() + skew) / 1000; }

  function human(s) {
    s = Math.max(0, Math.floor(s));
    if (s < 60) return s + ' s';
    if (s < 3600) return Math.floor(s / 60) + 'm ' + (s % 60) + 's';
    if (s < 86400) return Math.floor(s / 3600) + 'h ' + Math.floor((s % 3600) / 60) + 'm';
    return Math.floor(s / 86400) + 'd ' + Math.floor((s % 86400) / 3600) + 'h';
  }

  function ages() {
    var t = now();
    document.querySelectorAll('[data-hb]').forEach(function (el) {
      var at = Number(el.dataset.hb);
      el.textContent = at ? human(t - at) + ' ago' : 'never';
    });
    document.querySelectorAll('[data-since]').forEach(function (el) {
      var at = Number(el.dataset.since);
      if (at) el.textContent = human(t - at);
    });
    document.querySelectorAll('[data-ago]').forEach(function (el) {
      var at = Number(el.dataset.ago);
      if (at) el.textContent = human(t - at) + ' ago';
    });
  }

  function parse(html) {
    var tpl = document.createElement('template');
    tpl.innerHTML = html;
    return tpl.content.firstElementChild;
  }

  // place puts a new row where its data-sort puts it.
  function place(kind, el) {
    var tbody = document.getElementById('tb-' + kind);
    if (!tbody) return;
    var key = el.dataset.sort;
    var rows = tbody.children;
    for (var i = 0; i < rows.length; i++) {
      if (rows[i].dataset.sort > key) { tbody.insertBefore(el, rows[i]); return; }
    }
    tbody.appendChild(el);
  }

  function apply(u) {
    (u.rows || []).forEach(function (r) {
      var el = parse(r.h);
      var old = document.getElementById(r.t + '-' + r.k);
      if (old) old.replaceWith(el); else place(r.t, el);
    });
    (u.gone || []).forEach(function (r) {
      var old = document.getElementById(r.t + '-' + r.k);
      if (old) old.remove();
    });
    Object.keys(u.beats || {}).forEach(function (name) {
      var row = document.getElementById('n-' + name);
      var cell = row && row.querySelector('[data-hb]');
      if (cell) cell.dataset.hb = u.beats[name];
    });
    seq = u.seq;
    body.dataset.seq = seq;
    skew = u.now * 1000 - Date.now();
    live.className = u.error ? 'lost' : '';
    live.textContent = u.error ? 'registry error: ' + u.error : 'live · updated ' + new Date().toLocaleTimeString();
    ages();
  }

  function poll() {
    fetch('/ui/updates?since=' + seq, { credentials: 'same-origin', cache: 'no-store' })
      .then(function (r) {
        if (r.status === 401) { location.href = '/ui/login'; return null; }
        return r.json();
      })
      .then(function (u) {
        if (!u) return;
        if (u.reload) { location.reload(); return; }
        apply(u);
      })
      .catch(function () { live.className = 'lost'; live.textContent = 'connection to the queen lost; retrying'; })
      .finally(function () { setTimeout(poll, 750); });
  }

  ages();
  setInterval(ages, 1000);
  setTimeout(poll, 750);
})();
