// Package statuspage is the queen's status page (README: Status page and metrics),
// served on the queen's own listener: one server-rendered HTML page at `/`
// with the nodes (status, connection, installed and running commit, last
// heartbeat, devices), the workers (model, node, device, state, slots in
// use, uptime) and the last install of each node with its phases.
//
// [New] is the one entry point; it reads the queen's state through the
// small interfaces of [Config] and writes nothing.
//
// # Login
//
// The page needs a session: POST /ui/login exchanges the admin token (or
// any token [Config.CheckToken] accepts) for a random session id in an
// HttpOnly, SameSite=Strict cookie. The session keeps the token it was made
// with and checks it again on every request, so a rotated admin token ends
// the sessions made with the old one. Every state-changing request (login,
// logout) must pass net/http's cross-origin protection (Sec-Fetch-Site,
// Origin), and logout must carry the session's CSRF token as well.
//
// # Live updates
//
// The page polls GET /ui/updates?since=SEQ about every 750 ms. All open
// pages share one view of the fleet, refreshed at most once a second and
// only while someone asks: the refresh re-reads the node registry only
// after it was written (when the registry says so with Changed, and at
// least every 30 s), re-lists the workers only when the worker registry
// changed, takes heartbeat times and devices from memory, and renders again
// only the rows whose content changed, each with a sequence number. A poll
// answers the rows changed since the page's sequence number (and the
// fresh heartbeat times apart from the rows), so what one page costs the
// queen grows with the changes, not with the fleet. A page too far behind
// is told to reload.
//
// All text is escaped as html/template escapes it, so a model ref or an
// error message full of markup shows as text: node and worker rows (the
// most by far; html/template costs about 35 µs a row) are written by small
// writers that escape every field and that tests hold byte for byte to the
// rows.html templates, the rest by html/template; the page loads no script or style
// from elsewhere (the assets are embedded) and its Content-Security-Policy
// forbids inline scripts.
package statuspage
