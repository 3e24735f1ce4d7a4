package statuspage

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"net/http"
	"sync"
	"time"
)

// cookieName is the session cookie.
const cookieName = "rbee_session"

// maxSessions bounds the sessions kept; the oldest goes first.
const maxSessions = 256

// session is one logged-in browser.
type session struct {
	token   string // checked again on every request, so a rotated token ends the session
	csrf    string // must come with every state-changing request of the session
	expires time.Time
}

// sessions holds the sessions by the SHA-256 of their cookie value.
type sessions struct {
	mu  sync.Mutex
	m   map[string]session
	now func() time.Time
	ttl time.Duration
}

func newSessions(now func() time.Time, ttl time.Duration) *sessions {
	return &sessions{m: map[string]session{}, now: now, ttl: ttl}
}

// create starts a session for token and returns its cookie value.
func (s *sessions) create(token string) (cookie string, sess session) {
	cookie, sess = randomString(), session{token: token, csrf: randomString(), expires: s.now().Add(s.ttl)}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.prune()
	s.m[hashOf(cookie)] = sess
	return cookie, sess
}

// prune drops expired sessions and, past maxSessions, the one that expires
// first. The caller holds mu.
func (s *sessions) prune() {
	now := s.now()
	var oldest string
	for k, v := range s.m {
		if now.After(v.expires) {
			delete(s.m, k)
		} else if oldest == "" || v.expires.Before(s.m[oldest].expires) {
			oldest = k
		}
	}
	if len(s.m) >= maxSessions {
		delete(s.m, oldest)
	}
}

// get returns the unexpired session of cookie.
func (s *sessions) get(cookie string) (session, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sess, ok := s.m[hashOf(cookie)]
	if !ok || s.now().After(sess.expires) {
		return session{}, false
	}
	return sess, true
}

func (s *sessions) remove(cookie string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.m, hashOf(cookie))
}

func randomString() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b) // crypto/rand.Read never fails
	return base64.RawURLEncoding.EncodeToString(b)
}

func hashOf(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

// session returns the request's session when its cookie names one whose
// token is still accepted.
func (p *page) session(r *http.Request) (session, string, bool) {
	c, err := r.Cookie(cookieName)
	if err != nil || c.Value == "" {
		return session{}, "", false
	}
	sess, ok := p.sessions.get(c.Value)
	if !ok || !p.cfg.CheckToken(sess.token) {
		return session{}, "", false
	}
	return sess, c.Value, true
}

// loginData is what the login form shows.
type loginData struct{ Error string }

func (p *page) loginForm(w http.ResponseWriter, r *http.Request) {
	if _, _, ok := p.session(r); ok {
		http.Redirect(w, r, "/", http.StatusSeeOther)
		return
	}
	p.render(w, http.StatusOK, "login.html", loginData{})
}

// login exchanges a token for a session cookie.
func (p *page) login(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 4096)
	token := r.PostFormValue("token")
	if token == "" || !p.cfg.CheckToken(token) {
		p.cfg.Logger.Info("status page login refused", "remote", r.RemoteAddr)
		p.render(w, http.StatusUnauthorized, "login.html", loginData{Error: "wrong token: use the queen's admin token (its data dir's admin.token)"})
		return
	}
	cookie, _ := p.sessions.create(token)
	http.SetCookie(w, &http.Cookie{Name: cookieName, Value: cookie, Path: "/", HttpOnly: true,
		SameSite: http.SameSiteStrictMode, Secure: r.TLS != nil, MaxAge: int(p.cfg.SessionTTL.Seconds())})
	http.Redirect(w, r, "/", http.StatusSeeOther)
}

// logout ends the session; it needs the session's CSRF token.
func (p *page) logout(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 4096)
	sess, cookie, ok := p.session(r)
	if !ok {
		http.Error(w, "not logged in", http.StatusUnauthorized)
		return
	}
	if subtle.ConstantTimeCompare([]byte(r.PostFormValue("csrf")), []byte(sess.csrf)) != 1 {
		http.Error(w, "missing or wrong CSRF token", http.StatusForbidden)
		return
	}
	p.sessions.remove(cookie)
	http.SetCookie(w, &http.Cookie{Name: cookieName, Value: "", Path: "/", HttpOnly: true,
		SameSite: http.SameSiteStrictMode, Secure: r.TLS != nil, MaxAge: -1})
	http.Redirect(w, r, "/ui/login", http.StatusSeeOther)
}
