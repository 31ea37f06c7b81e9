package alipaytest

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
)

// Kind says how a Message travels.
type Kind int

const (
	// NotifyKind is an asynchronous notification: POST to notify_url with
	// an application/x-www-form-urlencoded body.
	NotifyKind Kind = iota
	// ReturnKind is a synchronous return: the buyer's browser GETs
	// return_url with the parameters in the query.
	ReturnKind
)

// Message is one signed callback.
type Message struct {
	// Kind decides what Request builds. Signer.Sign returns NotifyKind.
	Kind Kind
	// Params are the parameters in wire order, sign and sign_type
	// included. Changing them after signing (see Tampered) keeps the old
	// signature.
	Params *WireParams
	// Charset is the canonical charset ("utf-8", "gbk", "gb2312") of the
	// signed bytes and of the encoding's escapes.
	Charset string
	// SignType is the algorithm that produced sign.
	SignType SignType
	// SignedContent is the string-to-sign, as text.
	SignedContent string
	// ContentTypeCharset adds "; charset=..." to a notify request's
	// Content-Type.
	ContentTypeCharset bool

	charsetLabel string // charset as the Signer wrote it, for Content-Type
}

// Get returns the value of a parameter.
func (m *Message) Get(key string) string { return m.Params.Get(key) }

// Sign returns the sign parameter.
func (m *Message) Sign() string { return m.Params.Get("sign") }

// Encode returns the parameters as an application/x-www-form-urlencoded
// body (for a notify) or raw query (for a return), escapes being bytes in
// Charset. It panics if Params were changed after signing to hold text the
// charset cannot represent.
func (m *Message) Encode() []byte {
	b, err := Encode(m.Params, m.Charset)
	if err != nil {
		panic(err)
	}
	return b
}

// String returns Encode as a string.
func (m *Message) String() string { return string(m.Encode()) }

// Clone returns a deep copy.
func (m *Message) Clone() *Message {
	c := *m
	c.Params = m.Params.Clone()
	return &c
}

// Tampered returns a copy with key set to value and the signature left as
// it was: what an attacker who edits a callback in flight produces.
func (m *Message) Tampered(key, value string) *Message {
	c := m.Clone()
	c.Params.Set(key, value)
	return c
}

// Request returns an incoming server request for a handler test, like
// httptest.NewRequest: NewNotifyRequest for NotifyKind, NewReturnRequest for
// ReturnKind.
func (m *Message) Request(target string) *http.Request {
	if m.Kind == ReturnKind {
		return NewReturnRequest(target, m)
	}
	return NewNotifyRequest(target, m)
}

// ClientRequest returns an outgoing request to url for an http.Client, for
// tests against a running server: a form POST for NotifyKind, a GET with the
// query appended for ReturnKind.
func (m *Message) ClientRequest(ctx context.Context, url string) (*http.Request, error) {
	if m.Kind == ReturnKind {
		return http.NewRequestWithContext(ctx, http.MethodGet, withQuery(url, m.Encode()), nil)
	}
	r, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(m.Encode()))
	if err != nil {
		return nil, err
	}
	r.Header.Set("Content-Type", m.contentType())
	return r, nil
}

func (m *Message) contentType() string {
	if m.ContentTypeCharset {
		return "application/x-www-form-urlencoded; charset=" + or(m.charsetLabel, m.Charset)
	}
	return "application/x-www-form-urlencoded"
}

// NewNotifyRequest returns an incoming POST of m to target (a path or an
// absolute URL, as for httptest.NewRequest), with Content-Type
// application/x-www-form-urlencoded (plus "; charset=..." if
// m.ContentTypeCharset), whatever m.Kind says.
func NewNotifyRequest(target string, m *Message) *http.Request {
	r := httptest.NewRequest(http.MethodPost, target, bytes.NewReader(m.Encode()))
	r.Header.Set("Content-Type", m.contentType())
	return r
}

// NewReturnRequest returns an incoming GET of target with m's encoded
// parameters as the raw query (appended with '&' if target already has a
// query), whatever m.Kind says.
func NewReturnRequest(target string, m *Message) *http.Request {
	return httptest.NewRequest(http.MethodGet, withQuery(target, m.Encode()), nil)
}

func withQuery(target string, q []byte) string {
	if strings.Contains(target, "?") {
		return target + "&" + string(q)
	}
	return target + "?" + string(q)
}
