package alipayops

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"net/http"
)

// The page's protection against cross-site request forgery, in two layers
// that each suffice on their own:
//
//  1. Every POST must come from the page itself: http.CrossOriginProtection
//     refuses a request whose Sec-Fetch-Site or Origin header says it comes
//     from another site.
//  2. Every form carries a token that is an HMAC, under a key drawn when the
//     Handler is made, of a random session value the browser holds in a
//     SameSite=Strict, HttpOnly cookie. Another site can neither read the
//     cookie nor compute the token; a restart of the process invalidates
//     every token (the operator reloads the page).
const (
	// sessionCookie holds the browser's random session value.
	sessionCookie = "alipayops_session"
	// tokenField is the form field holding the token.
	tokenField = "csrf"
	// sessionBytes is the size of a session value before encoding.
	sessionBytes = 32
)

// csrf issues and checks the tokens of one Handler.
type csrf struct {
	key    []byte
	origin *http.CrossOriginProtection
}

func newCSRF() *csrf {
	return &csrf{key: randomBytes(32), origin: http.NewCrossOriginProtection()}
}

// randomBytes returns n bytes from crypto/rand (which never fails on the
// platforms Go supports).
func randomBytes(n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}

// session returns the browser's session value, setting a new cookie when it
// has none (or a malformed one).
func (c *csrf) session(w http.ResponseWriter, r *http.Request) string {
	if ck, err := r.Cookie(sessionCookie); err == nil && validSession(ck.Value) {
		return ck.Value
	}
	v := base64.RawURLEncoding.EncodeToString(randomBytes(sessionBytes))
	http.SetCookie(w, &http.Cookie{
		Name:     sessionCookie,
		Value:    v,
		Path:     "/",
		HttpOnly: true,
		Secure:   r.TLS != nil,
		SameSite: http.SameSiteStrictMode,
	})
	return v
}

// validSession reports whether v has the form of a session value.
func validSession(v string) bool {
	b, err := base64.RawURLEncoding.DecodeString(v)
	return err == nil && len(b) == sessionBytes
}

// token returns the form token bound to session.
func (c *csrf) token(session string) string {
	m := hmac.New(sha256.New, c.key)
	m.Write([]byte("alipayops csrf v1\x00"))
	m.Write([]byte(session))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// check reports whether the POST r comes from the page: same origin, and
// a token that matches the session cookie. Call it after r.ParseForm.
func (c *csrf) check(r *http.Request) bool {
	if c.origin.Check(r) != nil {
		return false
	}
	ck, err := r.Cookie(sessionCookie)
	if err != nil || !validSession(ck.Value) {
		return false
	}
	got := r.PostForm.Get(tokenField)
	return got != "" && hmac.Equal([]byte(got), []byte(c.token(ck.Value)))
}
